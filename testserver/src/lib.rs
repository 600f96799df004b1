//! A stateful, in-process simulation of kube-apiserver for kubectl-upgrade's tests and
//! benchmarks. See `testserver/README.md` for what it simulates and what it does not.
//!
//! ```no_run
//! use kube_testserver::{builders, Cluster, TestServer};
//! let mut c = Cluster::new();
//! c.add_node(builders::node("n1", "v1.33.2"));
//! c.add_pod(builders::pod("default", "web-1", "n1").owner("ReplicaSet", "web-abc").build());
//! let server = TestServer::start(c);
//! // point the product at server.kubeconfig(), then inspect:
//! assert_eq!(server.pdb_violations(), 0);
//! ```

#![warn(missing_docs)]

mod admission;
mod api;
mod budget;
pub mod builders;
mod cluster;
mod generic;
pub mod load;
mod patch;
pub mod real;
mod selectors;
mod server;
mod status;
mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use k8s_openapi;
pub use tls::{IssuedCert, Validity};

/// Server options; `Default::default()` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// `/version` gitVersion, default `v1.33.2` (kubectl's dispatcher picks kubectl.1.33).
    pub git_version: String,
    /// A terminating pod disappears after min(its grace period, grace_cap); default 200 ms.
    pub grace_cap: Duration,
    /// Recreated controller pods become Ready after this; default 300 ms.
    pub ready_delay: Duration,
    /// Recreate ReplicaSet/StatefulSet pods on another schedulable Ready node; default true.
    pub recreate: bool,
    /// Added to every request; default 0.
    pub latency: Duration,
    /// Watches with `allowWatchBookmarks=true` get a BOOKMARK this often; default 60 s, like a
    /// real kube-apiserver.
    pub bookmark_interval: Duration,
    /// The user of the default kubeconfig (certificate CN, token and exec user); default `test`.
    pub user: String,
    /// Serve HTTPS (default) or plain HTTP (`KUBE_TESTSERVER_TLS=0` flips the default, for
    /// benchmarks that want no handshake cost).
    pub tls: bool,
    /// How the default kubeconfig authenticates; default [`Credential::ClientCert`]
    /// (`KUBE_TESTSERVER_CREDENTIAL=client-cert|token|exec|insecure` changes the default, so
    /// the whole suite can run with each kind).
    pub credential: Credential,
    /// Validity of the serving certificate; default current.
    pub serving_cert: Validity,
    /// The server ends every watch after this (or its `timeoutSeconds`, if shorter), as
    /// kube-apiserver does after `--min-request-timeout` (1800 s, randomised up to 2x);
    /// default 20 s, so that long tests see watches end and clients must re-establish them.
    pub watch_limit: Option<Duration>,
    /// Simulate the node automation of an in-place upgrade; default none.
    pub kubelet_upgrade: Option<KubeletUpgrade>,
}

/// The in-place upgrade a rollout waits for between drain and uncordon: once a node is
/// cordoned and holds no pod but DaemonSet and mirror pods, it goes NotReady, and after
/// `downtime` comes back Ready with kubelet `to` (still cordoned).
#[derive(Debug, Clone)]
pub struct KubeletUpgrade {
    /// The kubelet version the node comes back with, e.g. `v1.33.2`.
    pub to: String,
    /// How long the node is NotReady.
    pub downtime: Duration,
}

/// How the default kubeconfig authenticates, as real tools write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Credential {
    /// `client-certificate-data` and `client-key-data` with CN = user, O = `system:masters`,
    /// and `certificate-authority-data` (kubeadm's admin.conf).
    #[default]
    ClientCert,
    /// A bearer token (a service account's kubeconfig).
    Token,
    /// An `exec` user whose command prints an `ExecCredential` with a token (EKS
    /// `aws eks get-token`, GKE `gke-gcloud-auth-plugin`, kubelogin).
    Exec,
    /// A bearer token and `insecure-skip-tls-verify: true` (throwaway clusters).
    Insecure,
}

impl Credential {
    /// The default from `KUBE_TESTSERVER_CREDENTIAL`, else client certificates.
    pub fn from_env() -> Credential {
        match std::env::var("KUBE_TESTSERVER_CREDENTIAL").as_deref() {
            Ok("token") => Credential::Token,
            Ok("exec") => Credential::Exec,
            Ok("insecure") => Credential::Insecure,
            _ => Credential::ClientCert,
        }
    }
}

/// The user of a kubeconfig written by [`TestServer::write_kubeconfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeUser {
    /// A client certificate issued by the server's CA for `name` (O `system:masters`).
    ClientCert {
        /// The certificate's CN, which is the user name.
        name: String,
        /// When it is valid.
        validity: Validity,
    },
    /// A bearer token; the server accepts tokens registered with [`TestServer::add_token`]
    /// and `test-token`.
    Token(String),
    /// An `exec` user running `command` with `args` (interactiveMode Never).
    Exec {
        /// The command (a path or a name looked up in PATH).
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// No credentials (the server treats the request as `system:anonymous`).
    Anonymous,
}

/// What a written kubeconfig trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `certificate-authority-data` of this server's CA.
    ServerCa,
    /// `certificate-authority-data` of another CA (a kubeconfig from a rebuilt cluster).
    OtherCa,
    /// `insecure-skip-tls-verify: true`.
    InsecureSkipVerify,
}

/// A kubeconfig to write: one cluster, one user, one context.
#[derive(Debug, Clone)]
pub struct KubeconfigSpec {
    /// Context name (also the cluster entry's, unless `cluster_name`); default `test`.
    pub context: String,
    /// Name of the cluster entry; default the context's.
    pub cluster_name: Option<String>,
    /// Name of the user entry; default the server's user.
    pub user_name: Option<String>,
    /// The user's credentials.
    pub user: KubeUser,
    /// What the cluster entry trusts.
    pub trust: Trust,
    /// Force the URL's scheme (`https` against a plain server, say); default the server's.
    pub scheme: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            git_version: "v1.33.2".into(),
            grace_cap: Duration::from_millis(200),
            ready_delay: Duration::from_millis(300),
            recreate: true,
            latency: Duration::ZERO,
            // A real kube-apiserver sends a watch bookmark about once a minute.
            bookmark_interval: Duration::from_secs(60),
            user: "test".into(),
            tls: std::env::var("KUBE_TESTSERVER_TLS").as_deref() != Ok("0"),
            credential: Credential::from_env(),
            serving_cert: Validity::Current,
            watch_limit: Some(Duration::from_secs(20)),
            kubelet_upgrade: None,
        }
    }
}

/// How an outage looks to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageMode {
    /// Stop listening (connection refused; open connections and watches are cut), then
    /// re-bind the same port.
    Refuse,
    /// Answer every request with 503 ServiceUnavailable.
    ServiceUnavailable,
}

/// One eviction request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEviction {
    /// Pod namespace (from the URL).
    pub namespace: String,
    /// Pod name (from the URL).
    pub name: String,
    /// The body's `apiVersion` (`policy/v1` or `policy/v1beta1`).
    pub api_version: String,
    /// `deleteOptions.gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `deleteOptions.preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `deleteOptions.preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
    /// `deleteOptions.dryRun` (or the `dryRun` query parameter) contained `All`.
    pub dry_run: bool,
    /// The raw `deleteOptions` object, if any.
    pub delete_options: Option<serde_json::Value>,
    /// The HTTP status answered (201, 429, 500, 404, 409, 403, ...).
    pub status: u16,
}

pub(crate) struct Shared {
    pub state: Mutex<Cluster>,
    pub rv_tx: tokio::sync::watch::Sender<u64>,
    pub git_version: String,
    pub credentials: Mutex<tls::Credentials>,
    pub user_rbac: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    pub throttle_reads: Mutex<(usize, u64)>,
    /// (group, version, resource, removed_release) -> requests, for `/metrics`.
    pub deprecated_requests: Mutex<BTreeMap<(String, String, String, String), u64>>,
    pub bookmark_interval: Duration,
    pub watch_limit: Option<Duration>,
    pub port: AtomicU16,
    pub counters: Mutex<BTreeMap<(String, String), u64>>,
    pub total: AtomicU64,
    pub latency_ns: AtomicU64,
    pub unavailable_until: Mutex<Option<Instant>>,
    pub forbidden: Mutex<BTreeSet<(String, String)>>,
    pub rbac: Mutex<Option<Vec<(String, String)>>>,
    pub fail_evictions: Mutex<(usize, u16)>,
    pub evictions: Mutex<Vec<RecordedEviction>>,
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// After a change: recompute PDB statuses and wake watchers.
    pub(crate) fn commit(&self, c: &mut Cluster) {
        c.recompute_pdbs();
        c.sync_endpoint_slices();
        let rv = c.rv;
        self.rv_tx.send_if_modified(|old| {
            let changed = *old != rv;
            *old = rv;
            changed
        });
    }

    pub(crate) fn count(&self, verb: &str, resource: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *lock(&self.counters)
            .entry((verb.to_string(), resource.to_string()))
            .or_insert(0) += 1;
    }

    /// Whether the RBAC simulation allows `user` to `verb` `resource` (`pods/eviction` form):
    /// `forbid` entries first, then the user's own rules, then the global RBAC mode.
    pub(crate) fn allowed(&self, user: &str, verb: &str, resource: &str) -> bool {
        let m = |(v, r): &(String, String)| (v == "*" || v == verb) && (r == "*" || r == resource);
        if user == tls::ANONYMOUS || lock(&self.forbidden).iter().any(m) {
            return false;
        }
        if let Some(rules) = lock(&self.user_rbac).get(user) {
            return rules.iter().any(m);
        }
        match &*lock(&self.rbac) {
            Some(rules) => rules.iter().any(m),
            None => true,
        }
    }
}

/// A running test API server (plain HTTP on 127.0.0.1, own thread and tokio runtime, so it
/// works from `#[test]` and `#[tokio::test]` alike). Shuts down on drop.
pub struct TestServer {
    shared: Arc<Shared>,
    port: u16,
    tls: bool,
    user: String,
    ca: Option<Arc<tls::Authority>>,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    shutdown: tokio::sync::watch::Sender<bool>,
    ctl: tokio::sync::mpsc::UnboundedSender<server::Ctl>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url())
            .finish()
    }
}

impl TestServer {
    /// Starts a server for `cluster` with default [`Options`].
    pub fn start(cluster: Cluster) -> TestServer {
        Self::start_with(cluster, Options::default())
    }

    /// Starts a server for `cluster`. Panics if it cannot bind or write the kubeconfig
    /// (test support: a failed start is a failed test).
    pub fn start_with(mut cluster: Cluster, opts: Options) -> TestServer {
        cluster.sim = cluster::Sim {
            grace_cap: opts.grace_cap,
            ready_delay: opts.ready_delay,
            recreate: opts.recreate,
            kubelet_upgrade: opts.kubelet_upgrade.clone(),
        };
        cluster.recompute_pdbs();
        cluster.sync_endpoint_slices();
        let (rv_tx, _) = tokio::sync::watch::channel(cluster.rv);
        let mut credentials = tls::Credentials::default();
        credentials
            .tokens
            .insert("test-token".into(), opts.user.clone());
        credentials
            .tokens
            .insert(tls::EXEC_TOKEN.into(), opts.user.clone());
        let (ca, tls_config) = if opts.tls {
            let ca = tls::Authority::new("kubernetes").unwrap_or_else(|e| panic!("{e}"));
            let (chain, key) = ca
                .serving(opts.serving_cert)
                .unwrap_or_else(|e| panic!("{e}"));
            let cfg = tls::server_config(chain, key).unwrap_or_else(|e| panic!("{e}"));
            (Some(Arc::new(ca)), Some(Arc::new(cfg)))
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(cluster),
            rv_tx,
            git_version: opts.git_version.clone(),
            credentials: Mutex::new(credentials),
            user_rbac: Mutex::new(BTreeMap::new()),
            throttle_reads: Mutex::new((0, 1)),
            deprecated_requests: Mutex::new(BTreeMap::new()),
            bookmark_interval: opts.bookmark_interval,
            watch_limit: opts.watch_limit,
            port: AtomicU16::new(0),
            counters: Mutex::new(BTreeMap::new()),
            total: AtomicU64::new(0),
            latency_ns: AtomicU64::new(opts.latency.as_nanos() as u64),
            unavailable_until: Mutex::new(None),
            forbidden: Mutex::new(BTreeSet::new()),
            rbac: Mutex::new(None),
            fail_evictions: Mutex::new((0, 429)),
            evictions: Mutex::new(Vec::new()),
        });
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let (ctl, ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kube-testserver".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = port_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(server::run(sh, tls_config, port_tx, shutdown_rx, ctl_rx));
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("kube-testserver: spawning the server thread");
        let port = port_rx
            .recv()
            .expect("kube-testserver: server thread died")
            .expect("kube-testserver: binding 127.0.0.1:0");
        let dir = tempfile::tempdir().expect("kube-testserver: creating a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        let server = TestServer {
            shared,
            port,
            tls: opts.tls,
            user: opts.user.clone(),
            ca,
            _dir: dir,
            kubeconfig: kubeconfig.clone(),
            shutdown,
            ctl,
            thread: Some(thread),
        };
        let (user, trust) = match opts.credential {
            Credential::ClientCert if opts.tls => (
                KubeUser::ClientCert {
                    name: opts.user.clone(),
                    validity: Validity::Current,
                },
                Trust::ServerCa,
            ),
            Credential::Exec => (server.exec_user(), Trust::ServerCa),
            Credential::Insecure => (
                KubeUser::Token("test-token".into()),
                Trust::InsecureSkipVerify,
            ),
            _ => (KubeUser::Token("test-token".into()), Trust::ServerCa),
        };
        let spec = KubeconfigSpec {
            user,
            trust,
            ..server.spec()
        };
        std::fs::write(&kubeconfig, server.kubeconfig_text(&spec))
            .expect("kube-testserver: writing the kubeconfig");
        server
    }

    /// `https://127.0.0.1:PORT` (or `http://` for a plain server).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The CA certificate (PEM) the serving certificate chains to; `None` for a plain server.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca.as_ref().map(|c| c.pem.clone())
    }

    /// Issues a client certificate for `user` (O `system:masters`) that the server accepts
    /// while `validity` is current; panics on a plain server.
    pub fn issue_client_cert(&self, user: &str, validity: Validity) -> IssuedCert {
        let ca = self
            .ca
            .as_ref()
            .expect("kube-testserver: client certificates need a TLS server");
        let (issued, der) = ca
            .client(user, &["system:masters"], validity)
            .unwrap_or_else(|e| panic!("{e}"));
        lock(&self.shared.credentials)
            .certs
            .insert(der, (user.to_string(), validity));
        issued
    }

    /// Accept `token` as `user` from now on.
    pub fn add_token(&self, token: &str, user: &str) {
        lock(&self.shared.credentials)
            .tokens
            .insert(token.to_string(), user.to_string());
    }

    /// An `exec` user whose command (a script in the server's temp dir) prints a v1
    /// `ExecCredential` with a token the server accepts for its user.
    pub fn exec_user(&self) -> KubeUser {
        let path = self._dir.path().join("exec-credential");
        if !path.exists() {
            let script = format!(
                "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'\n",
                tls::EXEC_TOKEN
            );
            write_executable(&path, &script);
        }
        KubeUser::Exec {
            command: path.display().to_string(),
            args: Vec::new(),
        }
    }

    /// A spec for this server's default context, user and trust (change what the test needs).
    pub fn spec(&self) -> KubeconfigSpec {
        KubeconfigSpec {
            context: "test".into(),
            cluster_name: None,
            user_name: None,
            user: KubeUser::Token("test-token".into()),
            trust: Trust::ServerCa,
            scheme: None,
        }
    }

    /// Writes a kubeconfig for `spec` into the server's temp dir as `file_name`.
    pub fn write_kubeconfig(&self, file_name: &str, spec: &KubeconfigSpec) -> PathBuf {
        let path = self._dir.path().join(file_name);
        std::fs::write(&path, self.kubeconfig_text(spec))
            .expect("kube-testserver: writing a kubeconfig");
        path
    }

    /// The kubeconfig YAML for `spec` (for merging several servers into one file).
    pub fn kubeconfig_text(&self, spec: &KubeconfigSpec) -> String {
        let scheme = spec.scheme.as_deref().unwrap_or(self.scheme());
        let user_name = spec.user_name.clone().unwrap_or_else(|| self.user.clone());
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        };
        let trust = match spec.trust {
            _ if scheme == "http" => String::new(),
            Trust::InsecureSkipVerify => "    insecure-skip-tls-verify: true\n".to_string(),
            Trust::ServerCa => match &self.ca {
                Some(ca) => format!("    certificate-authority-data: {}\n", b64(&ca.pem)),
                None => String::new(),
            },
            Trust::OtherCa => {
                let other =
                    tls::Authority::new("other-cluster-ca").unwrap_or_else(|e| panic!("{e}"));
                format!("    certificate-authority-data: {}\n", b64(&other.pem))
            }
        };
        let user = match &spec.user {
            KubeUser::ClientCert { name, validity } => {
                let c = self.issue_client_cert(name, *validity);
                format!(
                    "    client-certificate-data: {}\n    client-key-data: {}\n",
                    b64(&c.cert_pem),
                    b64(&c.key_pem)
                )
            }
            KubeUser::Token(t) => format!("    token: {t}\n"),
            KubeUser::Exec { command, args } => {
                let mut s = format!(
                    "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
                    serde_json::Value::from(command.as_str())
                );
                if !args.is_empty() {
                    s.push_str("      args:\n");
                    for a in args {
                        s.push_str(&format!(
                            "      - {}\n",
                            serde_json::Value::from(a.as_str())
                        ));
                    }
                }
                s
            }
            KubeUser::Anonymous => "    {}\n".to_string(),
        };
        let user = if matches!(spec.user, KubeUser::Anonymous) {
            "  user: {}\n".to_string()
        } else {
            format!("  user:\n{user}")
        };
        let ctx = &spec.context;
        let cluster = spec.cluster_name.as_deref().unwrap_or(ctx);
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: {cluster}\n  cluster:\n    server: {scheme}://127.0.0.1:{port}\n{trust}\
             contexts:\n\
             - name: {ctx}\n  context:\n    cluster: {cluster}\n    user: {user_name}\n    namespace: default\n\
             current-context: {ctx}\n\
             preferences: {{}}\n\
             users:\n\
             - name: {user_name}\n{user}",
            port = self.port
        )
    }

    /// RBAC for one user: only the listed (verb, resource) rules (`*` wildcards ok), whatever
    /// the global mode says; `forbid` entries still apply.
    pub fn rbac_for_user(&self, user: &str, rules: Vec<(String, String)>) {
        lock(&self.shared.user_rbac).insert(user.to_string(), rules);
    }

    /// The next `n` read requests (get, list; not watches) answer 429 TooManyRequests with
    /// `Retry-After: retry_after_secs`, as API Priority and Fairness rejects when a priority
    /// level's queues are full.
    pub fn throttle_next_reads(&self, n: usize, retry_after_secs: u64) {
        *lock(&self.shared.throttle_reads) = (n, retry_after_secs);
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A kubeconfig (in a temp dir owned by the server) whose current context `test` points
    /// at this server as its user (default `test`), namespace `default`, with the
    /// credentials of [`Options::credential`].
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Inspects or mutates the live state; PDB statuses are recomputed and watchers notified
    /// afterwards.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        let mut c = lock(&self.shared.state);
        let r = f(&mut c);
        self.shared.commit(&mut c);
        r
    }

    /// Request counts per (verb, resource), e.g. `("list", "pods")`, `("create", "pods/eviction")`;
    /// non-resource requests count as `("get", "/version")` etc.
    pub fn counters(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.shared.counters).clone()
    }

    /// The count for one (verb, resource).
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        lock(&self.shared.counters)
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// All requests received (including rejected ones).
    pub fn total_requests(&self) -> u64 {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// Pods removed (DELETE, or `Cluster::delete_pod`) while Ready, not terminating, and
    /// covered by a PDB with `disruptionsAllowed` 0. Evictions never count: the server only
    /// grants them with budget. Tests assert 0.
    pub fn pdb_violations(&self) -> u64 {
        lock(&self.shared.state).pdb_violations
    }

    /// Every eviction request received, in order.
    pub fn evictions(&self) -> Vec<RecordedEviction> {
        lock(&self.shared.evictions).clone()
    }

    /// Starts an outage of `dur` now. With [`OutageMode::Refuse`] the listener is closed
    /// (and open connections cut) before this returns; the same port is bound again after `dur`.
    pub fn outage(&self, dur: Duration, mode: OutageMode) {
        match mode {
            OutageMode::ServiceUnavailable => {
                *lock(&self.shared.unavailable_until) = Some(Instant::now() + dur);
            }
            OutageMode::Refuse => {
                let (ack_tx, ack_rx) = std::sync::mpsc::channel();
                if self.ctl.send(server::Ctl::Refuse(dur, ack_tx)).is_ok() {
                    let _ = ack_rx.recv_timeout(Duration::from_secs(5));
                }
            }
        }
    }

    /// Sets the latency added to every request.
    pub fn set_latency(&self, d: Duration) {
        self.shared
            .latency_ns
            .store(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Answers 403 (with the RBAC authorizer's message) for `verb` on `resource`
    /// (`pods/eviction` form; `*` wildcards allowed).
    pub fn forbid(&self, verb: &str, resource: &str) {
        lock(&self.shared.forbidden).insert((verb.to_string(), resource.to_string()));
    }

    /// RBAC mode: only the listed (verb, resource) rules are allowed (`*` wildcards ok).
    /// Discovery and `/version` stay open, as for `system:discovery`.
    pub fn rbac_allow_only(&self, rules: Vec<(String, String)>) {
        *lock(&self.shared.rbac) = Some(rules);
    }

    /// Removes all `forbid` entries and the RBAC mode.
    pub fn allow_all(&self) {
        lock(&self.shared.forbidden).clear();
        *lock(&self.shared.rbac) = None;
    }

    /// The next `n` eviction requests fail with `code` (recorded, no state change).
    pub fn fail_next_evictions(&self, n: usize, code: u16) {
        *lock(&self.shared.fail_evictions) = (n, code);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("kube-testserver: writing a script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
    }
}
