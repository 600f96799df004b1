//! Inventory: the plain facts `check` reasons about, read either from the live API
//! (`live`) or from a snapshot file (`snapshot`). Everything here is plain data; no I/O.
//!
//! Both readers feed objects one at a time into [`Reducer`], which keeps only what the
//! report needs (never the whole cluster's JSON).

pub mod live;
pub mod reduce;
pub mod snapshot;

pub use reduce::Reducer;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything `check` knows about one cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Where the facts came from, e.g. `context kind-prod` or `snapshot examples/kubeadm.json`.
    pub source: String,
    /// `gitVersion` from `/version` of the apiserver we talked to (None for a plain list).
    pub server_version: Option<String>,
    /// kube-system pods `component=kube-apiserver` (empty on managed clusters).
    pub apiservers: Vec<Component>,
    pub controller_managers: Vec<Component>,
    pub schedulers: Vec<Component>,
    pub cloud_controller_managers: Vec<Component>,
    pub etcd: Vec<Component>,
    /// kube-proxy DaemonSet pods (`k8s-app=kube-proxy`), one per node.
    pub kube_proxies: Vec<Component>,
    /// CoreDNS pods (`k8s-app=kube-dns`).
    pub coredns: Vec<Component>,
    /// `kubectl version --client` of the caller, when kubectl is on PATH.
    pub kubectl_version: Option<String>,
    pub nodes: Vec<NodeFacts>,
    /// `kube-system/kubeadm-config` ConfigMap, reduced.
    pub kubeadm: Option<KubeadmFacts>,
    pub pdbs: Vec<PdbFacts>,
    /// The pods the drain preview names, reduced: on a node and skipped (DaemonSet, mirror),
    /// blocking (unmanaged, emptyDir) or covered by several PDBs. Evictable pods under exactly
    /// one PDB are only counted in `covered`; the rest are only counted in `pods_seen`.
    pub pods: Vec<PodFacts>,
    /// Evictable pods under exactly one PDB, counted per node and PDB: all the drain preview
    /// needs of them, and on a big cluster most pods are of this kind.
    pub covered: Vec<CoveredPods>,
    /// Every pod read, kept or not.
    pub pods_seen: usize,
    /// Things the reader could not see, said plainly (e.g. "apiserver pods hidden: managed").
    pub notes: Vec<String>,
}

/// `pods` evictable pods on `node` whose only PDB is `inventory.pdbs[pdb]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CoveredPods {
    pub node: String,
    pub pdb: usize,
    pub pods: usize,
}

/// One running instance of a cluster component (a pod), with its version as reported.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub namespace: String,
    pub pod: String,
    pub node: Option<String>,
    /// The container image, e.g. `registry.k8s.io/kube-apiserver:v1.30.2`.
    pub image: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacts {
    pub name: String,
    /// From `node-role.kubernetes.io/<role>` labels; `control-plane` / `master` mean control plane.
    pub roles: Vec<String>,
    pub kubelet_version: String,
    /// `nodeInfo.kubeProxyVersion` (deprecated, empty since 1.33).
    pub kube_proxy_version: String,
    pub container_runtime: String,
    pub os_image: String,
    pub kernel_version: String,
    pub architecture: String,
    pub ready: bool,
    pub unschedulable: bool,
    /// `key=value:Effect` strings.
    pub taints: Vec<String>,
    /// Only the labels used for setup detection and node selection.
    pub labels: BTreeMap<String, String>,
    pub provider_id: String,
    /// Progress annotation written by drain-next (`nodes::PROGRESS_ANNOTATION` = `kubectl-upgrade.io/drain-progress`), raw JSON.
    pub progress: Option<String>,
}

impl NodeFacts {
    pub fn is_control_plane(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == "control-plane" || r == "master")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubeadmFacts {
    /// `kubernetesVersion` from ClusterConfiguration.
    pub kubernetes_version: Option<String>,
    pub control_plane_endpoint: Option<String>,
    pub image_repository: Option<String>,
}

/// `minAvailable` / `maxUnavailable` of a PDB.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum IntOrPercent {
    Int(i32),
    Percent(u32),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PdbFacts {
    pub namespace: String,
    pub name: String,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
    /// `true` when the selector is empty (`{}`), which matches every pod in the namespace.
    pub selects_all: bool,
    pub match_labels: BTreeMap<String, String>,
    /// `key op values` expressions, kept as (key, operator, values).
    pub match_expressions: Vec<(String, String, Vec<String>)>,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    pub disruptions_allowed: i32,
    /// `status.observedGeneration >= metadata.generation`.
    pub observed: bool,
}

/// A pod, reduced. `pdbs` holds indices into `Inventory::pdbs` of the PDBs that select it,
/// computed while reading so that labels need not be kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    /// `Running`, `Pending`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// Kind of the controller owner reference (`ReplicaSet`, `DaemonSet`, ...), if any.
    pub controller_kind: Option<String>,
    pub controller_name: Option<String>,
    /// Has the `kubernetes.io/config.mirror` annotation (static pod).
    pub mirror: bool,
    pub has_empty_dir: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub pdbs: Vec<usize>,
}
