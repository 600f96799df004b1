//! The simulated cluster state: typed objects, one global resourceVersion counter, an event log
//! for watches and consistent pagination, and the simulated kubelets/controllers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerState, ContainerStateRunning, ContainerStatus, Namespace, NamespaceStatus,
    Node, NodeCondition, Pod, PodCondition, PodStatus,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};
use k8s_openapi::{Metadata, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::budget;
use crate::selectors::LabelSel;
use crate::status::ApiError;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub(crate) type Key = (String, String);

/// The kinds of object the server stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Node,
    Pod,
    Pdb,
    Namespace,
    ConfigMap,
}

/// A stored object of any kind (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) enum Obj {
    Node(Arc<Node>),
    Pod(Arc<Pod>),
    Pdb(Arc<PodDisruptionBudget>),
    Namespace(Arc<Namespace>),
    ConfigMap(Arc<ConfigMap>),
}

impl Serialize for Obj {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Obj::Node(o) => o.serialize(s),
            Obj::Pod(o) => o.serialize(s),
            Obj::Pdb(o) => o.serialize(s),
            Obj::Namespace(o) => o.serialize(s),
            Obj::ConfigMap(o) => o.serialize(s),
        }
    }
}

impl Obj {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Obj::Node(_) => Kind::Node,
            Obj::Pod(_) => Kind::Pod,
            Obj::Pdb(_) => Kind::Pdb,
            Obj::Namespace(_) => Kind::Namespace,
            Obj::ConfigMap(_) => Kind::ConfigMap,
        }
    }

    pub(crate) fn meta(&self) -> &ObjectMeta {
        match self {
            Obj::Node(o) => &o.metadata,
            Obj::Pod(o) => &o.metadata,
            Obj::Pdb(o) => &o.metadata,
            Obj::Namespace(o) => &o.metadata,
            Obj::ConfigMap(o) => &o.metadata,
        }
    }

    /// Field value for field selectors; `None` when the field is not supported.
    pub(crate) fn field(&self, f: &str) -> Option<String> {
        match self {
            Obj::Node(o) => o.field(f),
            Obj::Pod(o) => o.field(f),
            Obj::Pdb(o) => o.field(f),
            Obj::Namespace(o) => o.field(f),
            Obj::ConfigMap(o) => o.field(f),
        }
    }
}

/// Watch event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, in resourceVersion order. `prev` is the object before the change, which
/// lets list pages and watches reconstruct the state at an older resourceVersion.
#[derive(Debug)]
pub(crate) struct LogEvent {
    pub rv: u64,
    pub key: Key,
    pub typ: EventType,
    pub obj: Obj,
    pub prev: Option<Obj>,
}

/// Implemented by the stored k8s-openapi types.
pub(crate) trait Object:
    Resource + Metadata<Ty = ObjectMeta> + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Which store holds it.
    const SIM_KIND: Kind;
    /// Namespaced or cluster-scoped.
    const NAMESPACED: bool;
    /// Wraps into [`Obj`].
    fn wrap(a: Arc<Self>) -> Obj;
    /// Unwraps from [`Obj`].
    fn unwrap(o: &Obj) -> Option<&Arc<Self>>;
    /// The store for this kind.
    fn store(c: &Cluster) -> &BTreeMap<Key, Arc<Self>>;
    /// The store for this kind, mutable.
    fn store_mut(c: &mut Cluster) -> &mut BTreeMap<Key, Arc<Self>>;
    /// Field selector support (`metadata.name`, `metadata.namespace` for all kinds).
    fn field(&self, f: &str) -> Option<String> {
        meta_field(self.metadata(), f)
    }
}

fn meta_field(m: &ObjectMeta, f: &str) -> Option<String> {
    match f {
        "metadata.name" => Some(m.name.clone().unwrap_or_default()),
        "metadata.namespace" => Some(m.namespace.clone().unwrap_or_default()),
        _ => None,
    }
}

macro_rules! object_impl {
    ($t:ty, $kind:ident, $ns:expr, $field:ident) => {
        impl Object for $t {
            const SIM_KIND: Kind = Kind::$kind;
            const NAMESPACED: bool = $ns;
            fn wrap(a: Arc<Self>) -> Obj {
                Obj::$kind(a)
            }
            fn unwrap(o: &Obj) -> Option<&Arc<Self>> {
                match o {
                    Obj::$kind(a) => Some(a),
                    _ => None,
                }
            }
            fn store(c: &Cluster) -> &BTreeMap<Key, Arc<Self>> {
                &c.$field
            }
            fn store_mut(c: &mut Cluster) -> &mut BTreeMap<Key, Arc<Self>> {
                &mut c.$field
            }
            object_impl!(@field $kind);
        }
    };
    (@field Pod) => {
        fn field(&self, f: &str) -> Option<String> {
            let spec = self.spec.as_ref();
            let status = self.status.as_ref();
            Some(match f {
                "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
                "spec.restartPolicy" => spec.and_then(|s| s.restart_policy.clone()).unwrap_or_default(),
                "spec.schedulerName" => spec.and_then(|s| s.scheduler_name.clone()).unwrap_or_default(),
                "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
                "spec.hostNetwork" => spec.and_then(|s| s.host_network).unwrap_or(false).to_string(),
                "status.phase" => status.and_then(|s| s.phase.clone()).unwrap_or_default(),
                "status.podIP" => status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
                "status.nominatedNodeName" => status.and_then(|s| s.nominated_node_name.clone()).unwrap_or_default(),
                _ => return meta_field(&self.metadata, f),
            })
        }
    };
    (@field Node) => {
        fn field(&self, f: &str) -> Option<String> {
            match f {
                "spec.unschedulable" => Some(is_unschedulable(self).to_string()),
                _ => meta_field(&self.metadata, f),
            }
        }
    };
    (@field Namespace) => {
        fn field(&self, f: &str) -> Option<String> {
            match f {
                "status.phase" => Some(self.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()),
                _ => meta_field(&self.metadata, f),
            }
        }
    };
    (@field $other:ident) => {};
}

object_impl!(Node, Node, false, nodes);
object_impl!(Pod, Pod, true, pods);
object_impl!(PodDisruptionBudget, Pdb, true, pdbs);
object_impl!(Namespace, Namespace, false, namespaces);
object_impl!(ConfigMap, ConfigMap, true, configmaps);

/// Behaviour knobs of the simulated kubelets and controllers.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    pub grace_cap: Duration,
    pub ready_delay: Duration,
    pub recreate: bool,
}

impl Default for Sim {
    fn default() -> Self {
        Sim {
            grace_cap: Duration::from_millis(200),
            ready_delay: Duration::from_millis(300),
            recreate: true,
        }
    }
}

/// Options of a delete or an eviction, parsed from `DeleteOptions`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DeleteOpts {
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

/// How many events the log keeps for watches and continue tokens.
const LOG_CAP: usize = 100_000;

/// The state of the simulated cluster: nodes, pods, PodDisruptionBudgets, namespaces and
/// ConfigMaps as typed k8s-openapi objects, with resourceVersions, uids and timestamps.
pub struct Cluster {
    pub(crate) rv: u64,
    pub(crate) nodes: BTreeMap<Key, Arc<Node>>,
    pub(crate) pods: BTreeMap<Key, Arc<Pod>>,
    pub(crate) pdbs: BTreeMap<Key, Arc<PodDisruptionBudget>>,
    pub(crate) namespaces: BTreeMap<Key, Arc<Namespace>>,
    pub(crate) configmaps: BTreeMap<Key, Arc<ConfigMap>>,
    pub(crate) pods_by_node: HashMap<String, BTreeSet<Key>>,
    pub(crate) log: VecDeque<Arc<LogEvent>>,
    /// Events with rv <= this were dropped from the log.
    pub(crate) log_floor: u64,
    dirty_pdb_ns: BTreeSet<String>,
    /// PDBs the simulated disruption controller leaves alone ([`Cluster::hold_pdb_status`]).
    held_pdbs: BTreeSet<Key>,
    terminating: BTreeMap<Key, Instant>,
    becoming_ready: BTreeMap<Key, (Instant, String)>,
    unscheduled: BTreeSet<Key>,
    pub(crate) pdb_violations: u64,
    /// Simulated controller scale: the most pods each (namespace, kind, name) ever had.
    owner_scale: HashMap<(String, String, String), i32>,
    /// Controllers whose pods a PDB has matched.
    pdb_owners: HashMap<Key, BTreeSet<(String, String)>>,
    pub(crate) sim: Sim,
    seq: u64,
    seed: u64,
    /// Every other kind, stored as JSON (see `generic`).
    pub(crate) generic: crate::generic::Store,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("resource_version", &self.rv)
            .field("nodes", &self.nodes.len())
            .field("pods", &self.pods.len())
            .field("pdbs", &self.pdbs.len())
            .finish()
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key range of one namespace (or everything with `None`).
pub(crate) fn ns_range(ns: Option<&str>) -> (Bound<Key>, Bound<Key>) {
    match ns {
        Some(ns) => (
            Bound::Included((ns.to_string(), String::new())),
            // "\0" sorts right after ns and before any longer namespace name.
            Bound::Excluded((format!("{ns}\0"), String::new())),
        ),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}

/// `spec.unschedulable == true`.
pub(crate) fn is_unschedulable(n: &Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

/// The node's Ready condition is True.
pub(crate) fn node_is_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// `podutil.IsPodReady`: the Ready condition is True.
pub(crate) fn pod_is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn pod_phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn pod_node(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Counted in `currentHealthy` by the disruption controller: Ready and not terminating.
pub(crate) fn pod_is_healthy(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && pod_is_ready(p)
}

fn controller_ref(p: &Pod) -> Option<&OwnerReference> {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

fn now_time() -> Time {
    Time(jiff::Timestamp::now())
}

/// Sets the phase, the pod conditions and the container statuses of a pod.
pub(crate) fn set_pod_status(p: &mut Pod, phase: &str, ready: bool) {
    let now = now_time();
    let scheduled = pod_node(p).is_some();
    let running = phase == "Running";
    let ready = ready && running;
    let cond = |t: &str, ok: bool| PodCondition {
        type_: t.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        last_transition_time: Some(now.clone()),
        ..Default::default()
    };
    let containers: Vec<ContainerStatus> = p
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: String::new(),
            ready,
            restart_count: 0,
            started: Some(running),
            state: running.then(|| ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(now.clone()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let old = p.status.take().unwrap_or_default();
    p.status = Some(PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(vec![
            cond("PodScheduled", scheduled),
            cond("Initialized", scheduled),
            cond("ContainersReady", ready),
            cond("Ready", ready),
        ]),
        container_statuses: Some(containers),
        host_ip: old.host_ip,
        pod_ip: old.pod_ip,
        start_time: old.start_time.or_else(|| scheduled.then(now_time)),
        qos_class: old.qos_class,
        ..Default::default()
    });
}

impl Cluster {
    /// An empty cluster (namespaces `default` and `kube-system` exist).
    pub fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42);
        let mut c = Cluster {
            rv: 0,
            nodes: BTreeMap::new(),
            pods: BTreeMap::new(),
            pdbs: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            configmaps: BTreeMap::new(),
            pods_by_node: HashMap::new(),
            log: VecDeque::new(),
            log_floor: 0,
            dirty_pdb_ns: BTreeSet::new(),
            held_pdbs: BTreeSet::new(),
            terminating: BTreeMap::new(),
            becoming_ready: BTreeMap::new(),
            unscheduled: BTreeSet::new(),
            pdb_violations: 0,
            owner_scale: HashMap::new(),
            pdb_owners: HashMap::new(),
            sim: Sim::default(),
            seq: 0,
            seed,
            generic: crate::generic::Store::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            c.add_namespace(ns);
        }
        c
    }

    // ----- public API -------------------------------------------------------------------

    /// Adds or replaces an object of any other kind (an Ingress, a FlowSchema, a CRD, a
    /// Secret, a Deployment...), served read-only under `resource` (the plural) at the
    /// version of `api_version` and at every version [`Cluster::serve_version`] adds. Its
    /// kind is `obj.kind`; it is namespaced when `metadata.namespace` is set.
    pub fn add_object(&mut self, api_version: &str, resource: &str, obj: serde_json::Value) {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let s = |p: &str| {
            obj.pointer(p)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let ns = s("/metadata/namespace");
        let name = s("/metadata/name").unwrap_or_default();
        self.rv += 1;
        let rv = self.rv;
        let r = self
            .generic
            .entry((group.to_string(), resource.to_string()))
            .or_default();
        r.kind = s("/kind").unwrap_or_else(|| r.kind.clone());
        r.namespaced |= ns.is_some();
        r.versions.entry(version.to_string()).or_insert(None);
        let mut obj = obj;
        obj["metadata"]["resourceVersion"] = serde_json::json!(rv.to_string());
        if obj.pointer("/metadata/uid").is_none() {
            obj["metadata"]["uid"] = serde_json::json!(format!("generic-{rv}"));
        }
        r.objects.insert((ns.unwrap_or_default(), name), obj);
    }

    /// Also serves `resource` of `group` at `version`; with `removed_in` (e.g. `1.32`) that
    /// version is deprecated: reads answer `Warning: 299` and count in
    /// `apiserver_requested_deprecated_apis`.
    pub fn serve_version(
        &mut self,
        group: &str,
        resource: &str,
        version: &str,
        removed_in: Option<&str>,
    ) {
        self.generic
            .entry((group.to_string(), resource.to_string()))
            .or_default()
            .versions
            .insert(version.to_string(), removed_in.map(str::to_string));
    }

    /// Adds or replaces a node.
    pub fn add_node(&mut self, n: Node) {
        self.put(n);
    }

    /// Adds or replaces a pod (namespace defaults to `default`; the namespace is created).
    pub fn add_pod(&mut self, p: Pod) {
        self.put(p);
    }

    /// Adds or replaces a PodDisruptionBudget; its status is computed like the disruption controller.
    pub fn add_pdb(&mut self, p: PodDisruptionBudget) {
        self.put(p);
    }

    /// Adds or replaces a ConfigMap.
    pub fn add_configmap(&mut self, c: ConfigMap) {
        self.put(c);
    }

    /// Creates a namespace if it does not exist.
    pub fn add_namespace(&mut self, name: &str) {
        if self
            .namespaces
            .contains_key(&(String::new(), name.to_string()))
        {
            return;
        }
        self.put(Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    name.to_string(),
                )])),
                ..Default::default()
            },
            spec: None,
            status: Some(NamespaceStatus {
                phase: Some("Active".into()),
                ..Default::default()
            }),
        });
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes
            .get(&(String::new(), name.to_string()))
            .map(|a| a.as_ref())
    }

    /// All nodes, sorted by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values().map(|a| a.as_ref())
    }

    /// The pod `ns/name`.
    pub fn pod(&self, ns: &str, name: &str) -> Option<&Pod> {
        self.pods
            .get(&(ns.to_string(), name.to_string()))
            .map(|a| a.as_ref())
    }

    /// All pods, sorted by namespace and name.
    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values().map(|a| a.as_ref())
    }

    /// Pods bound to `node` (through the per-node index), sorted by namespace and name.
    pub fn pods_on_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods_by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k).map(|a| a.as_ref()))
    }

    /// The PodDisruptionBudget `ns/name`.
    pub fn pdb(&self, ns: &str, name: &str) -> Option<&PodDisruptionBudget> {
        self.pdbs
            .get(&(ns.to_string(), name.to_string()))
            .map(|a| a.as_ref())
    }

    /// All PodDisruptionBudgets.
    pub fn pdbs(&self) -> impl Iterator<Item = &PodDisruptionBudget> {
        self.pdbs.values().map(|a| a.as_ref())
    }

    /// The ConfigMap `ns/name`.
    pub fn configmap(&self, ns: &str, name: &str) -> Option<&ConfigMap> {
        self.configmaps
            .get(&(ns.to_string(), name.to_string()))
            .map(|a| a.as_ref())
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// PDB violations counted so far (see `TestServer::pdb_violations`).
    pub fn pdb_violations(&self) -> u64 {
        self.pdb_violations
    }

    /// Simulates "node upgraded": sets `status.nodeInfo.kubeletVersion`.
    pub fn set_node_kubelet_version(&mut self, node: &str, v: &str) {
        self.update_node(node, |n| {
            let info = n
                .status
                .get_or_insert_with(Default::default)
                .node_info
                .get_or_insert_with(Default::default);
            info.kubelet_version = v.to_string();
        });
    }

    /// Sets the node's Ready condition.
    pub fn set_node_ready(&mut self, node: &str, ready: bool) {
        self.update_node(node, |n| {
            let conds = n
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            let status = if ready { "True" } else { "Unknown" }.to_string();
            match conds.iter_mut().find(|c| c.type_ == "Ready") {
                Some(c) => {
                    c.status = status;
                    c.last_transition_time = Some(now_time());
                }
                None => conds.push(NodeCondition {
                    type_: "Ready".into(),
                    status,
                    last_transition_time: Some(now_time()),
                    ..Default::default()
                }),
            }
        });
    }

    /// Sets `spec.unschedulable` (cordon/uncordon without HTTP).
    pub fn set_node_unschedulable(&mut self, node: &str, unschedulable: bool) {
        self.update_node(node, |n| {
            n.spec.get_or_insert_with(Default::default).unschedulable =
                unschedulable.then_some(true);
        });
    }

    /// Sets a pod's Ready condition (phase Running).
    pub fn set_pod_ready(&mut self, ns: &str, name: &str, ready: bool) {
        let key = (ns.to_string(), name.to_string());
        if let Some(p) = self.pods.get(&key) {
            let mut p = (**p).clone();
            set_pod_status(&mut p, "Running", ready);
            self.put(p);
        }
    }

    /// Sets a pod's phase (Ready only when Running).
    pub fn set_pod_phase(&mut self, ns: &str, name: &str, phase: &str) {
        let key = (ns.to_string(), name.to_string());
        if let Some(p) = self.pods.get(&key) {
            let mut p = (**p).clone();
            let ready = phase == "Running" && pod_is_ready(&p);
            set_pod_status(&mut p, phase, ready);
            self.put(p);
        }
    }

    /// Removes a pod at once, like `kubectl delete --force --grace-period=0` (counts a PDB
    /// violation when it was healthy and its budget had no disruptions left; the owning
    /// controller recreates it if configured). Returns whether it existed.
    pub fn delete_pod(&mut self, ns: &str, name: &str) -> bool {
        let opts = DeleteOpts {
            grace: Some(0),
            ..Default::default()
        };
        self.delete_pod_with(ns, name, &opts, Instant::now(), true)
            .is_ok()
    }

    /// Removes a node object (its pods stay, like on a real cluster until garbage collection).
    pub fn remove_node(&mut self, name: &str) -> bool {
        self.remove::<Node>(&(String::new(), name.to_string()))
            .is_some()
    }

    /// Pauses (`hold = true`) or resumes the disruption controller for one PDB, like a
    /// controller that has not synced it yet: while held, its status is left as it is (a PDB
    /// added without a status stays unobserved, and evictions under it answer 429 "still being
    /// processed"). Resuming recomputes the status at the next change (or `with_state` call).
    pub fn hold_pdb_status(&mut self, ns: &str, name: &str, hold: bool) {
        let key = (ns.to_string(), name.to_string());
        if hold {
            self.held_pdbs.insert(key);
        } else if self.held_pdbs.remove(&key) {
            self.dirty_pdb_ns.insert(key.0);
        }
    }

    /// Removes a PodDisruptionBudget.
    pub fn remove_pdb(&mut self, ns: &str, name: &str) -> bool {
        self.remove::<PodDisruptionBudget>(&(ns.to_string(), name.to_string()))
            .is_some()
    }

    // ----- storage ----------------------------------------------------------------------

    fn update_node(&mut self, node: &str, f: impl FnOnce(&mut Node)) {
        if let Some(n) = self.nodes.get(&(String::new(), node.to_string())) {
            let mut n = (**n).clone();
            f(&mut n);
            self.put(n);
        }
    }

    fn next_random(&mut self) -> u64 {
        self.seq += 1;
        splitmix64(self.seed ^ self.seq.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    /// A random RFC 4122 version-4 style uid.
    pub(crate) fn new_uid(&mut self) -> String {
        let a = self.next_random();
        let b = self.next_random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// A 5-character suffix like the ones generateName produces.
    pub(crate) fn name_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut r = self.next_random();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
                r /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    fn push_log(&mut self, ev: LogEvent) {
        self.log.push_back(Arc::new(ev));
        while self.log.len() > LOG_CAP {
            if let Some(e) = self.log.pop_front() {
                self.log_floor = e.rv;
            }
        }
    }

    /// Events after `rv`, or `None` when some were already dropped from the log.
    pub(crate) fn events_since(&self, rv: u64) -> Option<impl Iterator<Item = &Arc<LogEvent>>> {
        if rv < self.log_floor {
            return None;
        }
        let start = self.log.partition_point(|e| e.rv <= rv);
        Some(self.log.range(start..))
    }

    /// For every key of kind `T` changed after `rv`: its state at `rv` (`None` = absent).
    pub(crate) fn state_at<T: Object>(&self, rv: u64) -> Option<BTreeMap<Key, Option<Arc<T>>>> {
        let mut out = BTreeMap::new();
        for e in self.events_since(rv)? {
            if e.obj.kind() != T::SIM_KIND {
                continue;
            }
            out.entry(e.key.clone())
                .or_insert_with(|| e.prev.as_ref().and_then(|p| T::unwrap(p).cloned()));
        }
        Some(out)
    }

    fn key_of<T: Object>(obj: &T) -> Key {
        let m = obj.metadata();
        let ns = if T::NAMESPACED {
            m.namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        (ns, m.name.clone().unwrap_or_default())
    }

    /// Stores an object: assigns the next resourceVersion, fills uid, creationTimestamp and
    /// (for PDBs) generation, updates indexes and logs an ADDED/MODIFIED event.
    pub(crate) fn put<T: Object>(&mut self, mut obj: T) -> Arc<T> {
        if T::NAMESPACED {
            let ns = obj
                .metadata()
                .namespace
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "default".to_string());
            self.add_namespace(&ns);
            obj.metadata_mut().namespace = Some(ns);
        }
        let key = Self::key_of(&obj);
        self.rv += 1;
        let rv = self.rv;
        if obj.metadata().uid.is_none() {
            let uid = self.new_uid();
            obj.metadata_mut().uid = Some(uid);
        }
        {
            let m = obj.metadata_mut();
            m.resource_version = Some(rv.to_string());
            if m.creation_timestamp.is_none() {
                m.creation_timestamp = Some(now_time());
            }
            if T::SIM_KIND == Kind::Pdb && m.generation.is_none() {
                m.generation = Some(1);
            }
        }
        let arc = Arc::new(obj);
        let prev = T::store_mut(self).insert(key.clone(), arc.clone());
        let new = T::wrap(arc.clone());
        let prev = prev.map(T::wrap);
        self.index(&key, prev.as_ref(), Some(&new));
        self.push_log(LogEvent {
            rv,
            key,
            typ: if prev.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            obj: new,
            prev,
        });
        arc
    }

    /// Removes an object, logging a DELETED event whose object carries the new resourceVersion.
    pub(crate) fn remove<T: Object>(&mut self, key: &Key) -> Option<Arc<T>> {
        let old = T::store_mut(self).remove(key)?;
        self.rv += 1;
        let mut last = (*old).clone();
        last.metadata_mut().resource_version = Some(self.rv.to_string());
        let prev = T::wrap(old.clone());
        self.index(key, Some(&prev), None);
        self.push_log(LogEvent {
            rv: self.rv,
            key: key.clone(),
            typ: EventType::Deleted,
            obj: T::wrap(Arc::new(last)),
            prev: Some(prev),
        });
        Some(old)
    }

    fn index(&mut self, key: &Key, old: Option<&Obj>, new: Option<&Obj>) {
        let kind = old.or(new).map(Obj::kind);
        match kind {
            Some(Kind::Pod) => {
                let old_node = old.and_then(|o| match o {
                    Obj::Pod(p) => pod_node(p).map(str::to_string),
                    _ => None,
                });
                let new_node = new.and_then(|o| match o {
                    Obj::Pod(p) => pod_node(p).map(str::to_string),
                    _ => None,
                });
                if old_node != new_node {
                    if let Some(n) = old_node {
                        if let Some(set) = self.pods_by_node.get_mut(&n) {
                            set.remove(key);
                            if set.is_empty() {
                                self.pods_by_node.remove(&n);
                            }
                        }
                    }
                    if let Some(n) = new_node {
                        self.pods_by_node.entry(n).or_default().insert(key.clone());
                    }
                }
                self.dirty_pdb_ns.insert(key.0.clone());
            }
            Some(Kind::Pdb) => {
                self.dirty_pdb_ns.insert(key.0.clone());
            }
            _ => {}
        }
    }

    // ----- disruption controller --------------------------------------------------------

    /// PDBs in the pod's namespace whose selector matches it.
    pub(crate) fn matching_pdbs(&self, pod: &Pod) -> Vec<Arc<PodDisruptionBudget>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        self.pdbs
            .range(ns_range(Some(ns)))
            .filter(|(_, pdb)| {
                LabelSel::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
                    .is_some_and(|sel| sel.matches(pod.metadata.labels.as_ref()))
            })
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Recomputes the status of PDBs in namespaces whose pods or PDBs changed.
    pub(crate) fn recompute_pdbs(&mut self) {
        let dirty = std::mem::take(&mut self.dirty_pdb_ns);
        // (pdb key, controllers of matched pods with their pod counts, uncontrolled, matched, healthy)
        type Seen = (Key, BTreeMap<(String, String), i32>, i32, i32, i32);
        let mut seen: Vec<Seen> = Vec::new();
        for ns in &dirty {
            if self.pdbs.range(ns_range(Some(ns))).next().is_none() {
                continue;
            }
            let pods: Vec<&Arc<Pod>> = self
                .pods
                .range(ns_range(Some(ns)))
                .map(|(_, p)| p)
                .collect();
            let mut by_label: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
            for (i, p) in pods.iter().enumerate() {
                for (k, v) in p.metadata.labels.iter().flatten() {
                    by_label
                        .entry((k.as_str(), v.as_str()))
                        .or_default()
                        .push(i);
                }
            }
            for (key, pdb) in self.pdbs.range(ns_range(Some(ns))) {
                if self.held_pdbs.contains(key) {
                    continue;
                }
                let sel = LabelSel::from_label_selector(
                    pdb.spec.as_ref().and_then(|s| s.selector.as_ref()),
                );
                let matched: Vec<&Arc<Pod>> = match &sel {
                    None => Vec::new(),
                    Some(sel) => {
                        let candidates: Box<dyn Iterator<Item = &Arc<Pod>>> = match sel.first_eq() {
                            Some(kv) => {
                                Box::new(by_label.get(&kv).into_iter().flatten().map(|i| pods[*i]))
                            }
                            None => Box::new(pods.iter().copied()),
                        };
                        candidates
                            .filter(|p| sel.matches(p.metadata.labels.as_ref()))
                            .collect()
                    }
                };
                let mut owners: BTreeMap<(String, String), i32> = BTreeMap::new();
                let mut loose = 0;
                for p in &matched {
                    match controller_ref(p) {
                        Some(o) => {
                            *owners.entry((o.kind.clone(), o.name.clone())).or_insert(0) += 1
                        }
                        None => loose += 1,
                    }
                }
                let healthy = matched.iter().filter(|p| pod_is_healthy(p)).count() as i32;
                seen.push((key.clone(), owners, loose, matched.len() as i32, healthy));
            }
        }
        let mut updates = Vec::new();
        for (key, owners, loose, matched, healthy) in seen {
            // The controllers' scale, simulated as the most pods each controller ever had.
            let known = self.pdb_owners.entry(key.clone()).or_default();
            for (owner, n) in owners {
                let s = self
                    .owner_scale
                    .entry((key.0.clone(), owner.0.clone(), owner.1.clone()))
                    .or_insert(0);
                *s = (*s).max(n);
                known.insert(owner);
            }
            let scale: i32 = known
                .iter()
                .map(|(k, n)| {
                    self.owner_scale
                        .get(&(key.0.clone(), k.clone(), n.clone()))
                        .copied()
                        .unwrap_or(0)
                })
                .sum::<i32>()
                + loose;
            let Some(pdb) = self.pdbs.get(&key) else {
                continue;
            };
            let spec = pdb.spec.clone().unwrap_or_default();
            let Ok(b) = budget::compute(
                spec.min_available.as_ref(),
                spec.max_unavailable.as_ref(),
                matched,
                scale,
                healthy,
            ) else {
                // Like a failed controller sync: the status stays unobserved.
                continue;
            };
            let old = pdb.status.clone().unwrap_or_default();
            let generation = pdb.metadata.generation.unwrap_or(1);
            let same = old.expected_pods == Some(b.expected)
                && old.desired_healthy == Some(b.desired)
                && old.current_healthy == Some(b.healthy)
                && old.disruptions_allowed == Some(b.allowed)
                && old.observed_generation == Some(generation)
                && old.disrupted_pods.is_none();
            if same {
                continue;
            }
            let mut new = (**pdb).clone();
            new.status = Some(pdb_status(&old, b, generation));
            updates.push(new);
        }
        for pdb in updates {
            self.put(pdb);
        }
        // Our own status writes marked the namespaces dirty again; they are up to date.
        for ns in dirty {
            self.dirty_pdb_ns.remove(&ns);
        }
    }

    /// True when a healthy pod is covered by a PDB that has no disruptions left.
    fn budget_exhausted(&self, pod: &Pod) -> bool {
        self.matching_pdbs(pod).iter().any(|pdb| {
            pdb.status
                .as_ref()
                .and_then(|s| s.disruptions_allowed)
                .unwrap_or(0)
                <= 0
        })
    }

    // ----- pods: delete and evict -------------------------------------------------------

    fn check_preconditions(pod: &Pod, opts: &DeleteOpts) -> Result<(), ApiError> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        if let Some(uid) = &opts.uid {
            let actual = pod.metadata.uid.as_deref().unwrap_or_default();
            if uid != actual {
                return Err(ApiError::conflict(
                    "",
                    "pods",
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            let actual = pod.metadata.resource_version.as_deref().unwrap_or_default();
            if rv != actual {
                return Err(ApiError::conflict(
                    "",
                    "pods",
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
                ));
            }
        }
        Ok(())
    }

    /// DELETE of a pod with `DeleteOptions` semantics: preconditions (409), dryRun, grace
    /// period (immediate for unscheduled or finished pods), terminating state.
    pub(crate) fn delete_pod_with(
        &mut self,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
        now: Instant,
        count_violation: bool,
    ) -> Result<Arc<Pod>, ApiError> {
        let key = (ns.to_string(), name.to_string());
        let pod = self
            .pods
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        Self::check_preconditions(&pod, opts)?;
        if opts.dry_run {
            return Ok(pod);
        }
        let default_grace = pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        let mut grace = opts.grace.unwrap_or(default_grace);
        if grace < 0 {
            grace = 1;
        }
        let phase = pod_phase(&pod);
        if pod_node(&pod).is_none() || phase == "Succeeded" || phase == "Failed" {
            grace = 0;
        }
        let cap = self.sim.grace_cap;
        let deadline = now + Duration::from_secs(grace as u64).min(cap);
        if pod.metadata.deletion_timestamp.is_some() {
            // Already terminating: a shorter grace period shortens the wait.
            let current = pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(default_grace);
            if grace < current {
                if grace == 0 {
                    return Ok(self.remove_pod_now(&key, now).unwrap_or(pod));
                }
                let mut p = (*pod).clone();
                p.metadata.deletion_grace_period_seconds = Some(grace);
                let p = self.put(p);
                let d = self.terminating.entry(key).or_insert(deadline);
                *d = (*d).min(deadline);
                return Ok(p);
            }
            return Ok(pod);
        }
        if count_violation && pod_is_healthy(&pod) && self.budget_exhausted(&pod) {
            self.pdb_violations += 1;
        }
        if grace == 0 {
            return Ok(self.remove_pod_now(&key, now).unwrap_or(pod));
        }
        let mut p = (*pod).clone();
        let ts = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(grace))
            .unwrap_or_else(|_| jiff::Timestamp::now());
        p.metadata.deletion_timestamp = Some(Time(ts));
        p.metadata.deletion_grace_period_seconds = Some(grace);
        let p = self.put(p);
        self.terminating.insert(key, deadline);
        Ok(p)
    }

    fn remove_pod_now(&mut self, key: &Key, now: Instant) -> Option<Arc<Pod>> {
        self.terminating.remove(key);
        self.becoming_ready.remove(key);
        self.unscheduled.remove(key);
        let old = self.remove::<Pod>(key)?;
        self.recreate(&old, now);
        Some(old)
    }

    /// The eviction subresource, like `pkg/registry/core/pod/storage/eviction.go`.
    pub(crate) fn evict(
        &mut self,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
        now: Instant,
    ) -> Result<(), ApiError> {
        let key = (ns.to_string(), name.to_string());
        let pod = self
            .pods
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        let phase = pod_phase(&pod);
        let can_ignore_pdb = matches!(phase, "Succeeded" | "Failed" | "Pending")
            || pod.metadata.deletion_timestamp.is_some();
        if !can_ignore_pdb {
            let pdbs = self.matching_pdbs(&pod);
            if pdbs.len() > 1 {
                return Err(ApiError::multiple_pdbs());
            }
            if let Some(pdb) = pdbs.first() {
                let pdb_name = pdb.metadata.name.clone().unwrap_or_default();
                let st = pdb.status.clone().unwrap_or_default();
                let (current, desired, allowed) = (
                    st.current_healthy.unwrap_or(0),
                    st.desired_healthy.unwrap_or(0),
                    st.disruptions_allowed.unwrap_or(0),
                );
                // An unready pod does not count as healthy: with `AlwaysAllow` it goes
                // whatever the budget; with the default `IfHealthyBudget` while the budget
                // is met.
                let always = pdb
                    .spec
                    .as_ref()
                    .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
                    == Some("AlwaysAllow");
                let unready_admitted =
                    !pod_is_ready(&pod) && (always || (current >= desired && desired > 0));
                if !unready_admitted {
                    if st.observed_generation.unwrap_or(0) < pdb.metadata.generation.unwrap_or(0) {
                        return Err(ApiError::too_many_requests_pdb(
                            format!("The disruption budget {pdb_name} is still being processed by the server."),
                            10,
                        ));
                    }
                    if allowed < 0 {
                        return Err(ApiError::forbidden(
                            "policy",
                            "poddisruptionbudget",
                            &pdb_name,
                            "pdb disruptions allowed is negative",
                        ));
                    }
                    if allowed == 0 {
                        return Err(ApiError::too_many_requests_pdb(
                            format!(
                                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                                desired, current
                            ),
                            0,
                        ));
                    }
                    Self::check_preconditions(&pod, opts)?;
                    if !opts.dry_run {
                        let mut new = (**pdb).clone();
                        let s = new.status.get_or_insert_with(Default::default);
                        s.disruptions_allowed = Some(allowed - 1);
                        s.disrupted_pods
                            .get_or_insert_with(BTreeMap::new)
                            .insert(name.to_string(), now_time());
                        self.put(new);
                    }
                }
            }
        }
        self.delete_pod_with(ns, name, opts, now, false)?;
        Ok(())
    }

    // ----- simulated kubelets and controllers -------------------------------------------

    fn pick_node(&self, exclude: Option<&str>) -> Option<String> {
        self.nodes
            .values()
            .filter(|n| {
                let name = n.metadata.name.as_deref().unwrap_or_default();
                Some(name) != exclude
                    && !is_unschedulable(n)
                    && node_is_ready(n)
                    && !n
                        .spec
                        .iter()
                        .flat_map(|s| s.taints.iter().flatten())
                        .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            })
            .filter_map(|n| n.metadata.name.clone())
            .min_by_key(|name| {
                (
                    self.pods_by_node.get(name).map_or(0, |s| s.len()),
                    name.clone(),
                )
            })
    }

    /// The ReplicaSet/StatefulSet controller: a replacement for a pod that went away.
    fn recreate(&mut self, old: &Pod, now: Instant) {
        if !self.sim.recreate {
            return;
        }
        let Some(owner) = controller_ref(old).cloned() else {
            return;
        };
        let ns = old.metadata.namespace.clone().unwrap_or_default();
        let name = match owner.kind.as_str() {
            "StatefulSet" => old.metadata.name.clone().unwrap_or_default(),
            "ReplicaSet" => loop {
                let n = format!("{}-{}", owner.name, self.name_suffix());
                if !self.pods.contains_key(&(ns.clone(), n.clone())) {
                    break n;
                }
            },
            _ => return,
        };
        let mut spec = old.spec.clone().unwrap_or_default();
        let node = self.pick_node(pod_node(old));
        spec.node_name = node.clone();
        let mut p = Pod {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: old.metadata.labels.clone(),
                annotations: old.metadata.annotations.clone(),
                owner_references: old.metadata.owner_references.clone(),
                generate_name: (owner.kind == "ReplicaSet").then(|| format!("{}-", owner.name)),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        };
        let key = (ns, name);
        match node {
            Some(_) => {
                set_pod_status(&mut p, "Running", false);
                let p = self.put(p);
                let uid = p.metadata.uid.clone().unwrap_or_default();
                self.becoming_ready
                    .insert(key, (now + self.sim.ready_delay, uid));
            }
            None => {
                set_pod_status(&mut p, "Pending", false);
                self.put(p);
                self.unscheduled.insert(key);
            }
        }
    }

    /// Advances the simulation to `now`: terminating pods past their deadline vanish (and are
    /// recreated by their controller), new pods become Ready, pending pods get scheduled.
    pub(crate) fn tick(&mut self, now: Instant) {
        let due: Vec<Key> = self
            .terminating
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.terminating.remove(&key);
            if self
                .pods
                .get(&key)
                .is_some_and(|p| p.metadata.deletion_timestamp.is_some())
            {
                self.remove_pod_now(&key, now);
            }
        }
        let ready: Vec<(Key, String)> = self
            .becoming_ready
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(k, (_, uid))| (k.clone(), uid.clone()))
            .collect();
        for (key, uid) in ready {
            self.becoming_ready.remove(&key);
            if let Some(p) = self.pods.get(&key) {
                if p.metadata.uid.as_deref() == Some(uid.as_str())
                    && p.metadata.deletion_timestamp.is_none()
                {
                    let mut p = (**p).clone();
                    set_pod_status(&mut p, "Running", true);
                    self.put(p);
                }
            }
        }
        if !self.unscheduled.is_empty() {
            let pending: Vec<Key> = self.unscheduled.iter().cloned().collect();
            for key in pending {
                let Some(node) = self.pick_node(None) else {
                    break;
                };
                self.unscheduled.remove(&key);
                if let Some(p) = self.pods.get(&key) {
                    if p.metadata.deletion_timestamp.is_some() || pod_node(p).is_some() {
                        continue;
                    }
                    let mut p = (**p).clone();
                    p.spec.get_or_insert_with(Default::default).node_name = Some(node);
                    set_pod_status(&mut p, "Running", false);
                    let p = self.put(p);
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    self.becoming_ready
                        .insert(key, (now + self.sim.ready_delay, uid));
                }
            }
        }
        self.recompute_pdbs();
    }

    /// True when the simulation has timers pending.
    pub(crate) fn busy(&self) -> bool {
        !self.terminating.is_empty()
            || !self.becoming_ready.is_empty()
            || !self.unscheduled.is_empty()
    }
}

fn pdb_status(
    old: &PodDisruptionBudgetStatus,
    b: budget::Budget,
    generation: i64,
) -> PodDisruptionBudgetStatus {
    let allowed = b.allowed > 0;
    let status = if allowed { "True" } else { "False" };
    let prev = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionAllowed");
    let last_transition_time = match prev {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now_time(),
    };
    PodDisruptionBudgetStatus {
        conditions: Some(vec![Condition {
            type_: "DisruptionAllowed".into(),
            status: status.into(),
            reason: if allowed {
                "SufficientPods"
            } else {
                "InsufficientPods"
            }
            .into(),
            message: String::new(),
            last_transition_time,
            observed_generation: Some(generation),
        }]),
        current_healthy: Some(b.healthy),
        desired_healthy: Some(b.desired),
        disrupted_pods: None,
        disruptions_allowed: Some(b.allowed),
        expected_pods: Some(b.expected),
        observed_generation: Some(generation),
    }
}
