//! A Pod reduced to what the drain decisions and the component inventory need.

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

/// Mirror-pod annotation set by the kubelet on static pods.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// A pod, reduced. `pdbs` holds indices into the PDB list the pod was matched against
/// (`Inventory::pdbs`, or the drain's own list), so that labels need not be kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    /// `Running`, `Pending`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// The `Ready` condition is True (what the Eviction API calls healthy).
    #[serde(default)]
    pub ready: bool,
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

impl PodFacts {
    /// Reduce a pod (its `pdbs` are matched later, against a PDB list).
    pub fn from_pod(p: &Pod) -> PodFacts {
        let meta = &p.metadata;
        let owner = meta
            .owner_references
            .as_ref()
            .and_then(|os| os.iter().find(|o| o.controller == Some(true)));
        let status = p.status.as_ref();
        PodFacts {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            node: p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into()),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            controller_kind: owner.map(|o| o.kind.clone()),
            controller_name: owner.map(|o| o.name.clone()),
            mirror: meta
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION)),
            has_empty_dir: p
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .is_some_and(|vs| vs.iter().any(|v| v.empty_dir.is_some())),
            deleting: meta.deletion_timestamp.is_some(),
            pdbs: Vec::new(),
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Finished: Succeeded or Failed (it runs nothing; the Eviction API removes it without a
    /// budget check, kubectl's filters let it go even from a DaemonSet).
    pub fn is_finished(&self) -> bool {
        finished_phase(&self.phase)
    }

    /// Owned by a DaemonSet (its controller puts it back on the node).
    pub fn is_daemonset(&self) -> bool {
        self.controller_kind.as_deref().is_some_and(daemonset_kind)
    }

    /// Does a drain move it off the node? Mirror (static) pods and DaemonSet pods stay: the
    /// kubelet and the DaemonSet controller keep them there.
    pub fn moves_on_drain(&self) -> bool {
        !self.mirror && !self.is_daemonset()
    }
}

/// A phase in which the pod runs nothing any more: Succeeded or Failed.
pub fn finished_phase(phase: &str) -> bool {
    phase == "Succeeded" || phase == "Failed"
}

/// A controller kind whose controller puts its pod back on the same node.
pub fn daemonset_kind(kind: &str) -> bool {
    kind == "DaemonSet"
}

/// The cluster components the inventory reads from pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    KubeApiserver,
    KubeControllerManager,
    KubeScheduler,
    CloudControllerManager,
    Etcd,
    KubeProxy,
    Coredns,
}

impl ComponentKind {
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::KubeApiserver => "kube-apiserver",
            ComponentKind::KubeControllerManager => "kube-controller-manager",
            ComponentKind::KubeScheduler => "kube-scheduler",
            ComponentKind::CloudControllerManager => "cloud-controller-manager",
            ComponentKind::Etcd => "etcd",
            ComponentKind::KubeProxy => "kube-proxy",
            ComponentKind::Coredns => "coredns",
        }
    }

    /// Control-plane static pods carry `component=<name>` in kube-system; the add-ons
    /// `k8s-app=kube-proxy` / `k8s-app=kube-dns`.
    fn of_labels(labels: &std::collections::BTreeMap<String, String>) -> Option<ComponentKind> {
        use ComponentKind::*;
        if let Some(c) = labels.get("component") {
            return [
                KubeApiserver,
                KubeControllerManager,
                KubeScheduler,
                CloudControllerManager,
                Etcd,
            ]
            .into_iter()
            .find(|k| k.name() == c);
        }
        match labels.get("k8s-app").map(String::as_str) {
            Some("kube-proxy") => Some(KubeProxy),
            Some("kube-dns") => Some(Coredns),
            _ => None,
        }
    }

    /// Does this container (name, image) run the component? A pod labelled as kube-proxy may
    /// also run a pause container or be a CNI's replacement (Cilium); only the container named
    /// for the component, or whose image repository ends in its name, carries its version.
    fn runs_in(self, container: &str, image: &str) -> bool {
        let want = match self {
            ComponentKind::Coredns => "coredns",
            other => other.name(),
        };
        let repo = image.split_once('@').map_or(image, |(r, _)| r);
        let last = repo.rsplit('/').next().unwrap_or(repo);
        let name = last.split(':').next().unwrap_or(last);
        container == want || name == want
    }
}

/// One running instance of a cluster component (a pod), with the image that carries its
/// version (`None` when no container of the pod runs the component itself).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub namespace: String,
    pub pod: String,
    pub node: Option<String>,
    /// The component's container image, e.g. `registry.k8s.io/kube-apiserver:v1.30.2`;
    /// empty when no container runs the component (its version is then unknown).
    pub image: String,
}

/// The component a pod runs, if any (kube-system pods only).
pub fn component_of(p: &Pod) -> Option<(ComponentKind, Component)> {
    let meta = &p.metadata;
    if meta.namespace.as_deref() != Some("kube-system") {
        return None;
    }
    let kind = ComponentKind::of_labels(meta.labels.as_ref()?)?;
    let image = p
        .spec
        .as_ref()
        .and_then(|s| {
            s.containers
                .iter()
                .find(|c| kind.runs_in(&c.name, c.image.as_deref().unwrap_or_default()))
        })
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    Some((
        kind,
        Component {
            namespace: "kube-system".into(),
            pod: meta.name.clone().unwrap_or_default(),
            node: p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            image,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn facts_of_a_pod() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop",
                "annotations": {MIRROR_ANNOTATION: "x"},
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "u1"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-x", "uid": "u2", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [],
                "volumes": [{"name": "tmp", "emptyDir": {}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        let f = PodFacts::from_pod(&p);
        assert_eq!(f.key(), "shop/web-1");
        assert_eq!(f.node.as_deref(), Some("n1"));
        assert_eq!(f.controller_kind.as_deref(), Some("ReplicaSet"));
        assert!(f.ready && f.mirror && f.has_empty_dir && f.deleting && !f.is_finished());
        let bare = PodFacts::from_pod(&pod(serde_json::json!({"metadata": {"name": "x"}})));
        assert_eq!(bare.phase, "Unknown");
        assert!(!bare.ready && bare.node.is_none() && bare.controller_kind.is_none());
    }

    #[test]
    fn component_versions_come_only_from_the_component_container() {
        let proxy = |containers: serde_json::Value| {
            pod(serde_json::json!({
                "metadata": {"name": "kube-proxy-x", "namespace": "kube-system",
                    "labels": {"k8s-app": "kube-proxy"}},
                "spec": {"nodeName": "n1", "containers": containers}
            }))
        };
        let cases = [
            (
                serde_json::json!([{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.33.2"}]),
                "registry.k8s.io/kube-proxy:v1.33.2",
            ),
            (
                serde_json::json!([{"name": "pause", "image": "registry.k8s.io/pause:3.10"},
                                   {"name": "proxy", "image": "eu.gcr.io/x/kube-proxy:v1.31.4-gke.100@sha256:ab"}]),
                "eu.gcr.io/x/kube-proxy:v1.31.4-gke.100@sha256:ab",
            ),
            (
                serde_json::json!([{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]),
                "",
            ),
            (
                serde_json::json!([{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.17.0"}]),
                "",
            ),
        ];
        for (containers, want) in cases {
            let (kind, c) = component_of(&proxy(containers.clone())).expect("a component");
            assert_eq!(kind, ComponentKind::KubeProxy);
            assert_eq!(c.image, want, "{containers}");
            assert_eq!(c.node.as_deref(), Some("n1"));
        }
        let elsewhere = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"k8s-app": "kube-proxy"}}
        }));
        assert!(component_of(&elsewhere).is_none());
        let apiserver = pod(serde_json::json!({
            "metadata": {"name": "kube-apiserver-cp", "namespace": "kube-system",
                "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
            "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.2"}]}
        }));
        let (kind, c) = component_of(&apiserver).unwrap();
        assert_eq!(kind, ComponentKind::KubeApiserver);
        assert!(c.node.is_none());
        assert_eq!(c.image, "registry.k8s.io/kube-apiserver:v1.30.2");
    }
}
