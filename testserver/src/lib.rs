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

mod api;
mod budget;
pub mod builders;
mod cluster;
mod patch;
mod selectors;
mod server;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use k8s_openapi;

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
    /// Watches with `allowWatchBookmarks=true` get a BOOKMARK this often; default 1 s.
    pub bookmark_interval: Duration,
    /// The user named in 403 messages (the kubeconfig's token user); default `test`.
    pub user: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            git_version: "v1.33.2".into(),
            grace_cap: Duration::from_millis(200),
            ready_delay: Duration::from_millis(300),
            recreate: true,
            latency: Duration::ZERO,
            bookmark_interval: Duration::from_secs(1),
            user: "test".into(),
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
    pub user: String,
    pub bookmark_interval: Duration,
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

    /// Whether the RBAC simulation allows `verb` on `resource` (`pods/eviction` form).
    pub(crate) fn allowed(&self, verb: &str, resource: &str) -> bool {
        let m = |(v, r): &(String, String)| (v == "*" || v == verb) && (r == "*" || r == resource);
        if lock(&self.forbidden).iter().any(m) {
            return false;
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
        };
        cluster.recompute_pdbs();
        let (rv_tx, _) = tokio::sync::watch::channel(cluster.rv);
        let shared = Arc::new(Shared {
            state: Mutex::new(cluster),
            rv_tx,
            git_version: opts.git_version.clone(),
            user: opts.user.clone(),
            bookmark_interval: opts.bookmark_interval,
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
                rt.block_on(server::run(sh, port_tx, shutdown_rx, ctl_rx));
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("kube-testserver: spawning the server thread");
        let port = port_rx
            .recv()
            .expect("kube-testserver: server thread died")
            .expect("kube-testserver: binding 127.0.0.1:0");
        let dir = tempfile::tempdir().expect("kube-testserver: creating a temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(port))
            .expect("kube-testserver: writing the kubeconfig");
        TestServer {
            shared,
            port,
            _dir: dir,
            kubeconfig,
            shutdown,
            ctl,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A kubeconfig (in a temp dir owned by the server) whose current context `test` points
    /// at this server with a token user `test`, namespace `default`.
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

fn kubeconfig_yaml(port: u16) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: test\n  cluster:\n    server: http://127.0.0.1:{port}\n\
         contexts:\n\
         - name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\n\
         current-context: test\n\
         preferences: {{}}\n\
         users:\n\
         - name: test\n  user:\n    token: test-token\n"
    )
}
