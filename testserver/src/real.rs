//! The real control plane for the live tests and benchmarks: kube-apiserver, kube-controller-manager,
//! kube-scheduler, etcd and kwok built from Go modules by `scripts/real-control-plane.sh`,
//! started once per test binary (`up --owner-pid`: it stops when the binary ends) and shared
//! by its scenarios one at a time ([`Session`]): each scenario's objects are made, then
//! removed, through the API like any client would.

use crate::Cluster;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, ReplicaSet, ReplicaSetSpec, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Node, Pod, PodSpec, PodTemplateSpec,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Label tying a pod made as an orphan to the controller that adopts it.
const OWNER_LABEL: &str = "kubectl-upgrade.test/owner";

fn owner_value(kind: &str, name: &str) -> String {
    format!("{}-{name}", kind.to_ascii_lowercase())
}

/// Annotation kwok manages nodes by (`up` starts it with this selector).
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// Label on every object a scenario made, so that the reset finds them.
pub const MADE_BY: &str = "kubectl-upgrade.test/scenario";
/// Namespaces every cluster has: never deleted by the reset.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A running real control plane.
pub struct Plane {
    /// Its directory: state, logs (with the API server's audit log), kubeconfigs.
    pub dir: PathBuf,
    /// The admin kubeconfig (a `system:masters` client certificate).
    pub kubeconfig: PathBuf,
    /// Token users without any permission (`alice`, `bob`, ...): user -> token.
    pub tokens: BTreeMap<String, String>,
    /// The bin directory it runs from.
    pub bin: PathBuf,
    /// The Kubernetes release it runs.
    pub version: String,
    /// A runtime for the admin client's calls.
    pub rt: tokio::runtime::Runtime,
    /// The admin client.
    pub client: Client,
    /// The temporary directory holding `dir` (removed when the binary ends).
    _tmp: tempfile::TempDir,
}

static PLANE: OnceLock<Plane> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

/// The rollout lock's Lease (kubectl-upgrade's contract, kept literal here).
const ROLLOUT_LOCK: &str = "kubectl-upgrade-rollout";

/// The repository (this crate lives in `testserver/`).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The bin directory: `KUBECTL_UPGRADE_REAL_BIN`, else what `real-control-plane.sh build`
/// builds or reuses (the first build takes about 15 minutes on 2 cores).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUBECTL_UPGRADE_REAL_BIN") {
        return PathBuf::from(dir);
    }
    let out = Command::new(repo().join("scripts/real-control-plane.sh"))
        .arg("build")
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("scripts/real-control-plane.sh runs");
    assert!(
        out.status.success(),
        "the real control plane could not be built (see the line above); the tests need it"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("the bin directory").trim())
}

/// The shared control plane, started on first use. A plane that cannot start fails the
/// test: the real backend is never skipped.
pub fn plane() -> &'static Plane {
    PLANE.get_or_init(|| start(None))
}

/// Start a control plane of `version` (default: the newest built) in a new directory.
pub fn start(version: Option<&str>) -> Plane {
    start_with(version, &[])
}

/// [`start`] with more kube-apiserver flags (`--runtime-config=...`).
pub fn start_with(version: Option<&str>, apiserver_args: &[&str]) -> Plane {
    start_custom(version, apiserver_args, None)
}

/// [`start_with`] running only the named kube-controller-manager controllers (`None`: all).
pub fn start_custom(
    version: Option<&str>,
    apiserver_args: &[&str],
    controllers: Option<&str>,
) -> Plane {
    let bin = bin_dir();
    let tmp = tempfile::Builder::new()
        .prefix("real-cp-")
        .tempdir()
        .expect("tmp");
    let dir = tmp.path().to_path_buf();
    let mut cmd = Command::new(repo().join("scripts/real-control-plane.sh"));
    cmd.arg("up").arg(&dir).arg("--bin").arg(&bin);
    cmd.arg("--owner-pid").arg(std::process::id().to_string());
    if let Some(v) = version {
        cmd.arg("--version").arg(v);
    }
    for a in apiserver_args {
        cmd.arg("--apiserver-arg").arg(a);
    }
    if let Some(c) = controllers {
        cmd.arg("--controllers").arg(c);
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "the real control plane did not start (see the line above; logs in {})",
        dir.join("logs").display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let kubeconfig = PathBuf::from(text.lines().last().expect("a kubeconfig").trim());
    let tokens = std::fs::read_to_string(dir.join("tokens"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(u, t)| (u.to_string(), t.to_string()))
        .collect();
    let version = std::fs::read_to_string(dir.join("version"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(client_for(&kubeconfig));
    Plane {
        dir,
        kubeconfig,
        tokens,
        bin,
        version,
        rt,
        client,
        _tmp: tmp,
    }
}

/// A client of the cluster a kubeconfig names.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

impl Plane {
    /// Run a future on the plane's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The script, for `apiserver`, `stop` and `down`.
    pub fn script(&self, args: &[&str]) -> String {
        let out = Command::new(repo().join("scripts/real-control-plane.sh"))
            .args(args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "real-control-plane.sh {args:?} failed"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// A kubeconfig for a token user (`alice`, ...), written into the plane's directory.
    pub fn user_kubeconfig(&self, user: &str) -> PathBuf {
        let token = self.tokens.get(user).expect("a token user");
        let admin = std::fs::read_to_string(&self.kubeconfig).expect("admin kubeconfig");
        let server = admin
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("server");
        let ca = self.dir.join("pki/ca.crt");
        let path = self.dir.join(format!("{user}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n    server: {server}\n    certificate-authority: {}\ncontexts:\n- name: {user}\n  context:\n    cluster: real\n    user: {user}\ncurrent-context: {user}\nusers:\n- name: {user}\n  user:\n    token: {token}\n",
                ca.display()
            ),
        )
        .expect("write");
        path
    }
}

/// One scenario's use of the shared plane: it holds the plane alone until dropped, then
/// removes everything the scenario made.
pub struct Session {
    /// The shared plane.
    pub plane: &'static Plane,
    _turn: MutexGuard<'static, ()>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// PDB violations seen from the server's view while the scenario ran.
    pub violations: std::sync::Arc<std::sync::atomic::AtomicU64>,
    watchers: Vec<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Wait for the plane, make `cluster`'s objects in it, and watch PDBs for violations.
    pub fn begin(cluster: &Cluster, upgrade: Option<(String, Duration)>) -> Session {
        let plane = plane();
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        plane.block_on(reset(&plane.client));
        plane.block_on(materialize(&plane.client, cluster));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let violations = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut watchers = vec![{
            let (stop, violations, client) =
                (stop.clone(), violations.clone(), plane.client.clone());
            let handle = plane.rt.handle().clone();
            std::thread::spawn(move || handle.block_on(count_violations(client, stop, violations)))
        }];
        if let Some((to, downtime)) = upgrade {
            let (stop, client) = (stop.clone(), plane.client.clone());
            let handle = plane.rt.handle().clone();
            watchers.push(std::thread::spawn(move || {
                handle.block_on(simulate_upgrades(client, stop, to, downtime))
            }));
        }
        Session {
            plane,
            _turn: turn,
            stop,
            violations,
            watchers,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in self.watchers.drain(..) {
            let _ = w.join();
        }
    }
}

fn made() -> BTreeMap<String, String> {
    [(MADE_BY.to_string(), "true".to_string())].into()
}

fn clean_meta(m: &ObjectMeta) -> ObjectMeta {
    let mut labels = m.labels.clone().unwrap_or_default();
    labels.extend(made());
    ObjectMeta {
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        labels: Some(labels),
        annotations: m.annotations.clone(),
        ..ObjectMeta::default()
    }
}

async fn create<K>(api: &Api<K>, obj: &K) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    // A fresh namespace's first pods can be refused for a moment: retry briefly.
    let started = Instant::now();
    loop {
        match api.create(&PostParams::default(), obj).await {
            Ok(o) => return o,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                if matches!(&e, kube::Error::Api(s) if s.code == 409) {
                    panic!("already exists: {e}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("creating {obj:?}: {e}"),
        }
    }
}

/// Make the simulated cluster's objects in the real one: namespaces, nodes (Ready ones
/// handed to kwok), the controllers its pods name as owners (real ReplicaSets, StatefulSets,
/// DaemonSets and suspended Jobs, so that the garbage collector keeps the pods and the
/// controllers replace evicted ones), the pods bound to their nodes with the owners' uids,
/// their status where it is not plain Running and Ready, the PDBs (waited for until the
/// disruption controller observed them), ConfigMaps and Leases.
pub async fn materialize(client: &Client, c: &Cluster) {
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for p in c.pods() {
        namespaces.insert(
            p.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
    }
    for p in c.pdbs() {
        namespaces.insert(p.metadata.namespace.clone().unwrap_or_default());
    }
    for m in c.configmaps() {
        namespaces.insert(m.metadata.namespace.clone().unwrap_or_default());
    }
    for o in c.objects("v1", "persistentvolumeclaims") {
        if let Some(ns) = o.pointer("/metadata/namespace").and_then(|v| v.as_str()) {
            namespaces.insert(ns.to_string());
        }
    }
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces
        .iter()
        .filter(|n| !SYSTEM_NAMESPACES.contains(&n.as_str()))
    {
        let made_ns = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(made()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        // Kept from an earlier scenario (the reset empties namespaces, not deletes them).
        match ns_api.create(&PostParams::default(), &made_ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("namespace {ns}: {e}"),
        }
    }
    volumes(client, c).await;
    // DaemonSets run where the scenario put their pods: those nodes carry a label the
    // DaemonSet selects.
    let mut ds_nodes: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for p in c.pods() {
        if let Some(o) = controller(p).filter(|o| o.kind == "DaemonSet") {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.clone()) {
                ds_nodes
                    .entry((
                        p.metadata.namespace.clone().unwrap_or_default(),
                        o.name.clone(),
                    ))
                    .or_default()
                    .insert(n);
            }
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let mut node_uids: BTreeMap<String, String> = BTreeMap::new();
    for n in c.nodes() {
        let name = n.metadata.name.clone().unwrap_or_default();
        let mut meta = clean_meta(&n.metadata);
        let ready = node_ready(n);
        if ready {
            meta.annotations
                .get_or_insert_with(Default::default)
                .insert(KWOK_ANNOTATION.into(), "fake".into());
        }
        for ((_, ds), on) in &ds_nodes {
            if on.contains(&name) {
                meta.labels
                    .get_or_insert_with(Default::default)
                    .insert(format!("ds.kubectl-upgrade.test/{ds}"), "true".into());
            }
        }
        let made_node = create(
            &nodes,
            &Node {
                metadata: meta,
                // What check and the drains read; a capture's podCIDRs may be redacted
                // ("***HIDDEN***/25"), which the API server refuses.
                spec: n
                    .spec
                    .clone()
                    .map(|s| k8s_openapi::api::core::v1::NodeSpec {
                        unschedulable: s.unschedulable,
                        taints: s.taints,
                        provider_id: s.provider_id,
                        ..Default::default()
                    }),
                status: n.status.clone(),
            },
        )
        .await;
        node_uids.insert(name.clone(), made_node.metadata.uid.unwrap_or_default());
        // The status as given (create keeps a Node's status, as a kubelet registering does;
        // patched again so that a NotReady node stays so: kwok only manages Ready ones).
        let status = serde_json::json!({"status": n.status});
        nodes
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("node status");
    }
    // Owners: one real controller per (namespace, kind, name) the pods name.
    let mut owners: BTreeMap<(String, String, String), Vec<&Pod>> = BTreeMap::new();
    for p in c.pods() {
        if let Some(o) = controller(p) {
            owners
                .entry((
                    p.metadata
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                    o.kind.clone(),
                    o.name.clone(),
                ))
                .or_default()
                .push(p);
        }
    }
    // The pods first, as orphans carrying their owner's selector label; then the owners,
    // which adopt them (a controller made first would make or remove pods of its own).
    for p in c.pods() {
        let ns = p
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let mut meta = clean_meta(&p.metadata);
        meta.namespace = Some(ns.clone());
        meta.owner_references = None;
        if let Some(o) = controller(p) {
            if o.kind == "Node" {
                let node = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default();
                meta.owner_references = Some(vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.clone(),
                    uid: node_uids.get(&node).cloned().unwrap_or_default(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]);
            } else {
                meta.labels
                    .get_or_insert_with(Default::default)
                    .insert(OWNER_LABEL.into(), owner_value(&o.kind, &o.name));
            }
        }
        let on_kwok_node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .and_then(|n| c.node(n))
            .is_some_and(node_ready);
        let plain = is_running_ready(p) && on_kwok_node;
        if !plain {
            meta.annotations
                .get_or_insert_with(Default::default)
                .insert("kubectl-upgrade.test/status".into(), "kept".into());
        }
        let made_pod = create(
            &api,
            &Pod {
                metadata: meta,
                spec: p.spec.clone().map(admissible),
                status: None,
            },
        )
        .await;
        let name = made_pod.metadata.name.clone().unwrap_or_default();
        if !plain {
            let status = serde_json::json!({"status": p.status});
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .expect("pod status");
        }
    }
    for ((ns, kind, name), pods) in &owners {
        if kind != "Node" {
            make_owner(client, ns, kind, name, pods).await;
        }
    }
    for pdb in c.pdbs() {
        let ns = pdb.metadata.namespace.clone().unwrap_or_default();
        let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
        create(
            &api,
            &PodDisruptionBudget {
                metadata: clean_meta(&pdb.metadata),
                spec: pdb.spec.clone(),
                status: None,
            },
        )
        .await;
    }
    for cm in c.configmaps() {
        let ns = cm.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        create(
            &api,
            &ConfigMap {
                metadata: clean_meta(&cm.metadata),
                data: cm.data.clone(),
                ..ConfigMap::default()
            },
        )
        .await;
    }
    for l in c.leases() {
        let ns = l.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Lease> = Api::namespaced(client.clone(), &ns);
        create(
            &api,
            &Lease {
                metadata: clean_meta(&l.metadata),
                spec: l.spec.clone(),
            },
        )
        .await;
    }
    settle(client, c).await;
    admission(client, c).await;
}

/// The scenario's PersistentVolumes and their claims (bound by name: the PV controller
/// binds them; waited for), before the pods that mount them.
async fn volumes(client: &Client, c: &Cluster) {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    let labelled = |o: &serde_json::Value| {
        let mut o = o.clone();
        if let Some(m) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("resourceVersion");
            m.remove("uid");
            let labels = m.entry("labels").or_insert_with(|| serde_json::json!({}));
            for (k, v) in made() {
                labels[k] = serde_json::Value::String(v);
            }
        }
        o
    };
    for pv in c.objects("v1", "persistentvolumes") {
        let pv: PersistentVolume =
            serde_json::from_value(labelled(&pv)).expect("a PersistentVolume");
        create(&Api::all(client.clone()), &pv).await;
    }
    let claims = c.objects("v1", "persistentvolumeclaims");
    for pvc in &claims {
        let pvc: PersistentVolumeClaim =
            serde_json::from_value(labelled(pvc)).expect("a PersistentVolumeClaim");
        let ns = pvc.metadata.namespace.clone().unwrap_or_default();
        create(&Api::namespaced(client.clone(), &ns), &pvc).await;
    }
    let started = Instant::now();
    for pvc in &claims {
        let ns = pvc
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let name = pvc
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        loop {
            let phase = api
                .get(name)
                .await
                .ok()
                .and_then(|p| p.status.and_then(|s| s.phase));
            if phase.as_deref() == Some("Bound") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "PersistentVolumeClaim {ns}/{name} not Bound in 30s ({phase:?})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The scenario's Services (the real EndpointSlice controller fills their slices: waited
/// for) and, last, its webhook configurations (a webhook that fails closed on pod creation
/// would refuse the scenario's own pods, were it made first).
async fn admission(client: &Client, c: &Cluster) {
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let with_made = |o: &serde_json::Value| {
        let mut o = o.clone();
        if let Some(m) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for k in ["resourceVersion", "uid", "creationTimestamp"] {
                m.remove(k);
            }
            let labels = m.entry("labels").or_insert_with(|| serde_json::json!({}));
            for (k, v) in made() {
                labels[k] = serde_json::Value::String(v);
            }
        }
        o
    };
    for svc in c.objects("v1", "services") {
        let svc: Service = serde_json::from_value(with_made(&svc)).expect("a Service");
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        create(&Api::<Service>::namespaced(client.clone(), &ns), &svc).await;
        // Its endpoints: the scenario's pods it selects that run on a node.
        let sel = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let want = c
            .pods()
            .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .filter(|p| {
                let l = p.metadata.labels.clone().unwrap_or_default();
                !sel.is_empty() && sel.iter().all(|(k, v)| l.get(k) == Some(v))
            })
            .count();
        let slices = Api::<EndpointSlice>::namespaced(client.clone(), &ns);
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
        let started = Instant::now();
        loop {
            let got: usize = slices
                .list(&lp)
                .await
                .map(|l| {
                    l.items
                        .iter()
                        .map(|s| s.endpoints.as_ref().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0);
            if got >= want && (want > 0 || started.elapsed() > Duration::from_secs(1)) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Service {ns}/{name}: {got} of {want} endpoints in 30s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for w in c.objects(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
    ) {
        let w: ValidatingWebhookConfiguration =
            serde_json::from_value(with_made(&w)).expect("a ValidatingWebhookConfiguration");
        create(&Api::all(client.clone()), &w).await;
    }
    for w in c.objects(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
    ) {
        let w: MutatingWebhookConfiguration =
            serde_json::from_value(with_made(&w)).expect("a MutatingWebhookConfiguration");
        create(&Api::all(client.clone()), &w).await;
    }
}

/// A pod spec the real API server admits whatever cluster it was captured from: what
/// `check` reads (containers' names, images and requests, emptyDir volumes, the node,
/// tolerations) and nothing that names objects this cluster lacks (priority classes, service
/// accounts, secrets, config maps, volumes of other kinds).
fn admissible(s: PodSpec) -> PodSpec {
    PodSpec {
        node_name: s.node_name,
        containers: s
            .containers
            .into_iter()
            .map(|c| Container {
                name: c.name,
                // A component's command line (what the flag and gate check reads).
                command: c.command,
                args: c.args,
                image: c
                    .image
                    .or_else(|| Some("registry.k8s.io/pause:3.10".into())),
                resources: c
                    .resources
                    .map(|r| k8s_openapi::api::core::v1::ResourceRequirements {
                        requests: r.requests,
                        ..Default::default()
                    }),
                ..Container::default()
            })
            .collect(),
        volumes: s.volumes.map(|vs| {
            vs.into_iter()
                .filter(|v| v.empty_dir.is_some() || v.persistent_volume_claim.is_some())
                .map(|v| k8s_openapi::api::core::v1::Volume {
                    name: v.name,
                    empty_dir: v.empty_dir,
                    // The scenario's own claims (made before the pods).
                    persistent_volume_claim: v.persistent_volume_claim,
                    ..Default::default()
                })
                .collect()
        }),
        tolerations: s.tolerations,
        node_selector: s.node_selector,
        affinity: s.affinity,
        topology_spread_constraints: s.topology_spread_constraints,
        termination_grace_period_seconds: s.termination_grace_period_seconds,
        ..PodSpec::default()
    }
}

fn controller(p: &Pod) -> Option<&OwnerReference> {
    p.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Running and Ready (what kwok makes of every pod on its nodes).
fn is_running_ready(p: &Pod) -> bool {
    let s = p.status.as_ref();
    s.and_then(|s| s.phase.as_deref()) == Some("Running")
        && s.and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        && p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
}

/// The labels every pod of an owner carries: its selector.
fn common_labels(pods: &[&Pod]) -> BTreeMap<String, String> {
    let mut common: Option<BTreeMap<String, String>> = None;
    for p in pods {
        let l = p.metadata.labels.clone().unwrap_or_default();
        common = Some(match common {
            None => l,
            Some(c) => c.into_iter().filter(|(k, v)| l.get(k) == Some(v)).collect(),
        });
    }
    let mut c = common.unwrap_or_default();
    c.remove(MADE_BY);
    c
}

fn template(labels: &BTreeMap<String, String>, extra: Option<PodSpec>) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(extra.unwrap_or(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("registry.k8s.io/pause:3.10".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        })),
    }
}

/// A real controller for `pods`, made after them with as many replicas, so that it adopts
/// them (by its selector, which includes [`OWNER_LABEL`]) and makes none: its uid.
async fn make_owner(client: &Client, ns: &str, kind: &str, name: &str, pods: &[&Pod]) -> String {
    let mut labels = common_labels(pods);
    labels.insert(OWNER_LABEL.into(), owner_value(kind, name));
    let replicas = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let selector = LabelSelector {
        match_labels: Some(labels.clone()),
        ..LabelSelector::default()
    };
    // The template of the first pod without its node: replacements go where the scheduler
    // puts them.
    let mut spec = pods
        .first()
        .and_then(|p| p.spec.clone())
        .unwrap_or_default();
    spec.node_name = None;
    let meta = ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(made()),
        ..ObjectMeta::default()
    };
    let uid = match kind {
        "StatefulSet" => {
            create(
                &Api::<StatefulSet>::namespaced(client.clone(), ns),
                &StatefulSet {
                    metadata: meta,
                    spec: Some(StatefulSetSpec {
                        replicas: Some(replicas),
                        selector,
                        service_name: Some(name.into()),
                        template: template(&labels, Some(spec)),
                        // The pods were made by hand: a rolling update would replace them.
                        update_strategy: Some(
                            serde_json::from_value(serde_json::json!({"type": "OnDelete"}))
                                .expect("strategy"),
                        ),
                        ..StatefulSetSpec::default()
                    }),
                    status: None,
                },
            )
            .await
            .metadata
            .uid
        }
        "DaemonSet" => {
            spec.node_selector =
                Some([(format!("ds.kubectl-upgrade.test/{name}"), "true".into())].into());
            spec.tolerations = Some(vec![serde_json::from_value(
                serde_json::json!({"operator": "Exists"}),
            )
            .expect("toleration")]);
            create(
                &Api::<DaemonSet>::namespaced(client.clone(), ns),
                &DaemonSet {
                    metadata: meta,
                    spec: Some(DaemonSetSpec {
                        selector,
                        template: template(&labels, Some(spec)),
                        // The pods were made by hand: a rolling update would replace them.
                        update_strategy: Some(
                            serde_json::from_value(serde_json::json!({"type": "OnDelete"}))
                                .expect("strategy"),
                        ),
                        ..DaemonSetSpec::default()
                    }),
                    status: None,
                },
            )
            .await
            .metadata
            .uid
        }
        "Job" => {
            spec.restart_policy = Some("Never".into());
            create(
                &Api::<Job>::namespaced(client.clone(), ns),
                &Job {
                    metadata: meta,
                    spec: Some(JobSpec {
                        suspend: Some(true),
                        manual_selector: Some(true),
                        selector: Some(selector),
                        template: template(&labels, Some(spec)),
                        ..JobSpec::default()
                    }),
                    status: None,
                },
            )
            .await
            .metadata
            .uid
        }
        _ => {
            create(
                &Api::<ReplicaSet>::namespaced(client.clone(), ns),
                &ReplicaSet {
                    metadata: meta,
                    spec: Some(ReplicaSetSpec {
                        replicas: Some(replicas),
                        selector,
                        template: Some(template(&labels, Some(spec))),
                        ..ReplicaSetSpec::default()
                    }),
                    status: None,
                },
            )
            .await
            .metadata
            .uid
        }
    };
    uid.unwrap_or_default()
}

/// Wait until the cluster looks like the simulation's at rest: every PDB observed by the
/// disruption controller, every pod on a Ready node Running (kwok), no extra pod made by a
/// controller.
async fn settle(client: &Client, c: &Cluster) {
    let started = Instant::now();
    let want_pods = c.pods().count();
    loop {
        let pdbs = Api::<PodDisruptionBudget>::all(client.clone())
            .list(&ListParams::default().labels(MADE_BY))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let observed = pdbs.iter().all(|p| {
            p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation
                && p.metadata.generation.is_some()
        });
        let pods = Api::<Pod>::all(client.clone())
            .list(&ListParams::default().labels(MADE_BY))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let all_up = pods.iter().all(|p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Pending")
                || p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none()
        });
        // Every orphan adopted by its controller.
        let adopted = pods.iter().all(|p| {
            !p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(OWNER_LABEL))
                || controller(p).is_some()
        });
        let all_up = all_up && adopted;
        if observed && all_up && pods.len() >= want_pods {
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            panic!(
                "the real cluster did not settle in 60s: PDBs observed {observed}, pods up {all_up}, {} of {want_pods} pods",
                pods.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Remove what the last scenario made: the controllers, pods, PDBs and ConfigMaps of its
/// namespaces (kept for the next scenario: deleting a namespace takes the namespace
/// controller seconds), what it made in system namespaces, nodes, and the rollout lock.
pub async fn reset(client: &Client) {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let lp = ListParams::default().labels(MADE_BY);
    let all = ListParams::default();
    // Webhooks first: one that fails closed would refuse what comes next.
    let _ =
        Api::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>::all(
            client.clone(),
        )
        .delete_collection(&dp, &lp)
        .await;
    let _ = Api::<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration>::all(
        client.clone(),
    )
    .delete_collection(&dp, &lp)
    .await;
    let ns_api: Api<Namespace> = Api::all(client.clone());
    let made_ns: Vec<String> = ns_api
        .list(&lp)
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect()
        })
        .unwrap_or_default();
    let scopes: Vec<(String, &ListParams)> = made_ns
        .iter()
        .map(|n| (n.clone(), &all))
        .chain(SYSTEM_NAMESPACES.iter().map(|n| (n.to_string(), &lp)))
        .collect();
    // VolumeAttachments a scenario made (cluster-scoped; only scenarios make them here).
    let _ = Api::<k8s_openapi::api::storage::v1::VolumeAttachment>::all(client.clone())
        .delete_collection(&dp, &all)
        .await;
    for (ns, sel) in &scopes {
        let c = client.clone();
        let _ = Api::<ReplicaSet>::namespaced(c.clone(), ns)
            .delete_collection(&dp, sel)
            .await;
        let _ = Api::<DaemonSet>::namespaced(c.clone(), ns)
            .delete_collection(&dp, sel)
            .await;
        let _ = Api::<StatefulSet>::namespaced(c.clone(), ns)
            .delete_collection(&dp, sel)
            .await;
        let _ = Api::<Job>::namespaced(c.clone(), ns)
            .delete_collection(&dp, sel)
            .await;
        let _ = Api::<PodDisruptionBudget>::namespaced(c.clone(), ns)
            .delete_collection(&dp, sel)
            .await;
        let _ = Api::<ConfigMap>::namespaced(c.clone(), ns)
            .delete_collection(&dp, &lp)
            .await;
        let _ = Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(c.clone(), ns)
            .delete_collection(&dp, &lp)
            .await;
        let services = Api::<k8s_openapi::api::core::v1::Service>::namespaced(c.clone(), ns);
        for s in services
            .list(&lp)
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            if let Some(n) = s.metadata.name {
                let _ = services.delete(&n, &dp).await;
            }
        }
    }
    for (ns, sel) in &scopes {
        let _ = Api::<Pod>::namespaced(client.clone(), ns)
            .delete_collection(&dp, sel)
            .await;
    }
    let _ = Api::<Lease>::namespaced(client.clone(), "kube-system")
        .delete(ROLLOUT_LOCK, &dp)
        .await;
    let _ = Api::<Node>::all(client.clone())
        .delete_collection(&dp, &all)
        .await;
    let _ = Api::<k8s_openapi::api::core::v1::PersistentVolume>::all(client.clone())
        .delete_collection(&dp, &lp)
        .await;
    let started = Instant::now();
    loop {
        let mut left = 0;
        for (ns, sel) in &scopes {
            left += Api::<Pod>::namespaced(client.clone(), ns)
                .list(sel)
                .await
                .map(|l| l.items.len())
                .unwrap_or(0);
        }
        if left == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the last scenario's pods were not removed in 60s"
        );
        // A controller that was still running may have made another pod: delete again.
        for (ns, sel) in &scopes {
            let _ = Api::<Pod>::namespaced(client.clone(), ns)
                .delete_collection(&dp, sel)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Count PDB violations from the real server's view: a budget whose healthy pods fell below
/// its desired count (a disruption it did not allow) while the scenario ran.
async fn count_violations(
    client: Client,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    violations: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let api: Api<PodDisruptionBudget> = Api::all(client);
    // The healthy count last seen per budget: a fall that leaves it below the desired count
    // is a disruption the budget did not allow (a budget that starts below is not one).
    let mut last: BTreeMap<String, i32> = BTreeMap::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if let Ok(list) = api.list(&ListParams::default().labels(MADE_BY)).await {
            for p in list.items {
                let key = format!(
                    "{}/{}",
                    p.metadata.namespace.unwrap_or_default(),
                    p.metadata.name.unwrap_or_default()
                );
                let Some(s) = p.status else { continue };
                if s.observed_generation.is_none() {
                    continue;
                }
                let (healthy, desired) = (
                    s.current_healthy.unwrap_or(0),
                    s.desired_healthy.unwrap_or(0),
                );
                if let Some(before) = last.insert(key, healthy) {
                    if healthy < before && healthy < desired {
                        violations.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The node automation of an in-place upgrade, as the test server's
/// `Options::kubelet_upgrade`: a cordoned node holding no pod but DaemonSet and mirror pods
/// goes NotReady (taken from kwok), then after `downtime` comes back Ready with kubelet `to`
/// (handed back to kwok), still cordoned.
async fn simulate_upgrades(
    client: Client,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    to: String,
    downtime: Duration,
) {
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let mut away: BTreeMap<String, Instant> = BTreeMap::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let Ok(list) = nodes.list(&ListParams::default()).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for n in list.items {
            let name = n.metadata.name.clone().unwrap_or_default();
            let cordoned = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
            let kubelet = n
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.kubelet_version.clone())
                .unwrap_or_default();
            if let Some(since) = away.get(&name) {
                if since.elapsed() >= downtime {
                    let status = serde_json::json!({"status": {
                        "nodeInfo": {"kubeletVersion": to},
                        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    }});
                    let _ = nodes
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await;
                    let back =
                        serde_json::json!({"metadata": {"annotations": {KWOK_ANNOTATION: "fake"}}});
                    let _ = nodes
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&back))
                        .await;
                    away.remove(&name);
                }
                continue;
            }
            if !cordoned || kubelet == to {
                continue;
            }
            let on = pods
                .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            let empty = on.iter().all(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
                    || controller(p).is_some_and(|o| o.kind == "DaemonSet")
            });
            if empty {
                let off = serde_json::json!({"metadata": {"annotations": {KWOK_ANNOTATION: null}}});
                let _ = nodes
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&off))
                    .await;
                let status = serde_json::json!({"status": {"conditions": [
                    {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "upgrading"}
                ]}});
                let _ = nodes
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
                away.insert(name, Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
