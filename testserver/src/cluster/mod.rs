//! The simulated cluster state: typed objects, one global resourceVersion counter, an event log
//! for watches and consistent pagination (this file: the store and its public API); the
//! simulated kubelets and controllers are in `controllers`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerState, ContainerStateRunning, ContainerStatus, Namespace, NamespaceStatus,
    Node, NodeCondition, Pod, PodCondition, PodSpec, PodStatus, Taint, Toleration,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};
use k8s_openapi::{Metadata, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::budget;
use crate::selectors::LabelSel;
use crate::status::ApiError;

mod controllers;
mod scheduling;

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
    Lease,
}

/// A stored object of any kind (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) enum Obj {
    Node(Arc<Node>),
    Pod(Arc<Pod>),
    Pdb(Arc<PodDisruptionBudget>),
    Namespace(Arc<Namespace>),
    ConfigMap(Arc<ConfigMap>),
    Lease(Arc<Lease>),
}

impl Serialize for Obj {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Obj::Node(o) => o.serialize(s),
            Obj::Pod(o) => o.serialize(s),
            Obj::Pdb(o) => o.serialize(s),
            Obj::Namespace(o) => o.serialize(s),
            Obj::ConfigMap(o) => o.serialize(s),
            Obj::Lease(o) => o.serialize(s),
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
            Obj::Lease(_) => Kind::Lease,
        }
    }

    pub(crate) fn meta(&self) -> &ObjectMeta {
        match self {
            Obj::Node(o) => &o.metadata,
            Obj::Pod(o) => &o.metadata,
            Obj::Pdb(o) => &o.metadata,
            Obj::Namespace(o) => &o.metadata,
            Obj::ConfigMap(o) => &o.metadata,
            Obj::Lease(o) => &o.metadata,
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
            Obj::Lease(o) => o.field(f),
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
object_impl!(Lease, Lease, true, leases);

/// Behaviour knobs of the simulated kubelets and controllers.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    pub grace_cap: Duration,
    pub ready_delay: Duration,
    pub recreate: bool,
    pub kubelet_upgrade: Option<crate::KubeletUpgrade>,
}

impl Default for Sim {
    fn default() -> Self {
        Sim {
            grace_cap: Duration::from_millis(200),
            ready_delay: Duration::from_millis(300),
            recreate: true,
            kubelet_upgrade: None,
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
    /// coordination.k8s.io/v1 Leases (the rollout lock; node heartbeats are not simulated).
    pub(crate) leases: BTreeMap<Key, Arc<Lease>>,
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
    /// Nodes being upgraded in place ([`crate::KubeletUpgrade`]): when they come back.
    upgrading: BTreeMap<String, Instant>,
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
    /// What `nodes/NAME/proxy/configz` answers per node (a KubeletConfiguration).
    kubelet_configs: BTreeMap<String, serde_json::Value>,
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

pub(crate) fn now_time() -> Time {
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
            leases: BTreeMap::new(),
            pods_by_node: HashMap::new(),
            log: VecDeque::new(),
            log_floor: 0,
            dirty_pdb_ns: BTreeSet::new(),
            held_pdbs: BTreeSet::new(),
            terminating: BTreeMap::new(),
            becoming_ready: BTreeMap::new(),
            unscheduled: BTreeSet::new(),
            upgrading: BTreeMap::new(),
            pdb_violations: 0,
            owner_scale: HashMap::new(),
            pdb_owners: HashMap::new(),
            sim: Sim::default(),
            seq: 0,
            seed,
            generic: crate::generic::Store::new(),
            kubelet_configs: BTreeMap::new(),
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

    /// Removes an object [`Cluster::add_object`] added (`ns` empty: cluster-scoped); whether
    /// it was there.
    pub fn remove_object(
        &mut self,
        api_version: &str,
        resource: &str,
        ns: &str,
        name: &str,
    ) -> bool {
        let (group, _) = api_version.split_once('/').unwrap_or(("", api_version));
        self.rv += 1;
        self.generic
            .get_mut(&(group.to_string(), resource.to_string()))
            .is_some_and(|r| {
                r.objects
                    .remove(&(ns.to_string(), name.to_string()))
                    .is_some()
            })
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

    /// [`Cluster::serve_version`] for a deprecated version whose type declares no
    /// replacement: its warning names none (as kube-apiserver 1.37 warns of
    /// resource.k8s.io/v1beta1 DeviceClass: "... unavailable in v1.38+", nothing more).
    pub fn serve_deprecated_without_replacement(
        &mut self,
        group: &str,
        resource: &str,
        version: &str,
        removed_in: &str,
    ) {
        self.serve_version(group, resource, version, Some(removed_in));
        if let Some(r) = self
            .generic
            .get_mut(&(group.to_string(), resource.to_string()))
        {
            r.no_replacement.insert(version.to_string());
        }
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

    /// Adds or replaces a Lease (e.g. a rollout lock held by another operator).
    pub fn add_lease(&mut self, l: Lease) {
        self.put(l);
    }

    /// The Lease `ns/name`.
    pub fn lease(&self, ns: &str, name: &str) -> Option<&Lease> {
        self.leases
            .get(&(ns.to_string(), name.to_string()))
            .map(|a| a.as_ref())
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

    /// The KubeletConfiguration node `name`'s kubelet reports at `/configz`.
    pub fn set_kubelet_config(&mut self, name: &str, config: serde_json::Value) {
        self.kubelet_configs.insert(name.to_string(), config);
    }

    /// What `/configz` of node `name` answers (`{}` unless set).
    pub fn kubelet_config(&self, name: &str) -> serde_json::Value {
        self.kubelet_configs
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}))
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

    /// The objects stored with [`Cluster::add_object`] for `resource` of `api_version`'s group.
    pub fn objects(&self, api_version: &str, resource: &str) -> Vec<serde_json::Value> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        self.generic
            .get(&(group.to_string(), resource.to_string()))
            .map(|r| r.objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// All ConfigMaps, sorted by namespace and name.
    pub fn configmaps(&self) -> impl Iterator<Item = &ConfigMap> {
        self.configmaps.values().map(|a| a.as_ref())
    }

    /// All Leases, sorted by namespace and name.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values().map(|a| a.as_ref())
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
