//! Everything `check` knows about one cluster, as plain facts. Built by
//! `crate::inventory::Reducer` from live API pages or a snapshot stream.

use crate::facts::node::NodeFacts;
use crate::facts::pdb::PdbFacts;
use crate::facts::pod::{Component, ComponentKind, PodFacts};

#[derive(Debug, Clone, Default, PartialEq)]
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
    /// kube-proxy DaemonSet pods (`k8s-app=kube-proxy` in kube-system), one per node.
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
    /// blocking (unmanaged, emptyDir) or refused by the Eviction API (several PDBs). Pods
    /// whose eviction is decided by one PDB's budget are only counted in `covered`; the rest
    /// are only counted in `pods_seen`.
    pub pods: Vec<PodFacts>,
    /// Pods whose eviction is decided by one PDB's budget, counted per node and PDB: all the
    /// drain preview needs of them, and on a big cluster most pods are of this kind.
    pub covered: Vec<CoveredPods>,
    /// Every pod read, kept or not.
    pub pods_seen: usize,
    /// Per node: what its running pods request, and the part a drain would move (not
    /// DaemonSet or mirror pods).
    pub load: std::collections::BTreeMap<String, NodeLoad>,
    /// Things the reader could not see, said plainly (e.g. "apiserver pods hidden: managed").
    pub notes: Vec<String>,
    /// API versions objects, manifests, Helm releases or clients use (only those other than
    /// the version an object was read with; judged against data/apis.yaml in the report).
    pub api_usages: Vec<crate::facts::apiusage::Usage>,
    /// CustomResourceDefinitions, reduced to their versions and stored versions.
    pub crds: Vec<crate::facts::apiusage::CrdFacts>,
    /// `mode` from kube-system/kube-proxy's `config.conf` (empty means iptables).
    pub kube_proxy_mode: Option<String>,
    /// Deployed Helm releases' charts (`--helm`).
    pub helm_charts: Vec<crate::facts::helm::ChartFacts>,
    /// The connection's certificates (the apiserver's serving one, the kubeconfig's client
    /// one), live only.
    pub certificates: Vec<crate::facts::cert::CertFacts>,
    /// Components' flags and feature gates, from each place they are visible.
    pub component_configs: Vec<crate::facts::config::ComponentConfig>,
    /// Admission webhooks that can stop a drain, and their Services' endpoints.
    pub admission: crate::facts::webhook::Admission,
    /// Per node: what the pods a drain of it moves expose to each webhook. `None` when the
    /// webhooks were read after the pods (a dump in another order): every webhook is then
    /// taken to intercept them.
    pub webhook_exposure:
        Option<std::collections::BTreeMap<String, crate::policy::webhooks::Exposure>>,
}

impl Inventory {
    /// The instances of one component.
    pub fn components_mut(&mut self, kind: ComponentKind) -> &mut Vec<Component> {
        match kind {
            ComponentKind::KubeApiserver => &mut self.apiservers,
            ComponentKind::KubeControllerManager => &mut self.controller_managers,
            ComponentKind::KubeScheduler => &mut self.schedulers,
            ComponentKind::CloudControllerManager => &mut self.cloud_controller_managers,
            ComponentKind::Etcd => &mut self.etcd,
            ComponentKind::KubeProxy => &mut self.kube_proxies,
            ComponentKind::Coredns => &mut self.coredns,
        }
    }
}

/// `pods` pods on `node` whose eviction is decided by `inventory.pdbs[pdb]`'s budget alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoveredPods {
    pub node: String,
    pub pdb: usize,
    pub pods: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeadmFacts {
    /// `kubernetesVersion` from ClusterConfiguration.
    pub kubernetes_version: Option<String>,
    pub control_plane_endpoint: Option<String>,
    pub image_repository: Option<String>,
}

/// What runs on one node, by the scheduler's accounting (requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeLoad {
    /// Every pod not finished.
    pub requested: crate::facts::resources::Resources,
    /// The pods a drain moves elsewhere.
    pub movable: crate::facts::resources::Resources,
}
