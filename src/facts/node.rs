//! A Node reduced to what the tool reasons about: versions, runtime, readiness, cordon,
//! roles, taints, a few labels and the drain-progress annotation.

use crate::facts::progress::ANNOTATION;
use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacts {
    pub name: String,
    /// From `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, sorted;
    /// `control-plane` / `master` mean control plane.
    pub roles: Vec<String>,
    pub kubelet_version: String,
    /// `nodeInfo.kubeProxyVersion` (deprecated, empty since 1.33).
    pub kube_proxy_version: String,
    pub container_runtime: String,
    pub os_image: String,
    pub kernel_version: String,
    pub architecture: String,
    #[serde(default)]
    pub operating_system: String,
    pub ready: bool,
    pub unschedulable: bool,
    /// `key=value:Effect` strings (`key:Effect` without a value, as kubectl prints them).
    pub taints: Vec<String>,
    /// The labels the reader chose to keep (see [`NodeFacts::from_node`]).
    pub labels: BTreeMap<String, String>,
    pub provider_id: String,
    /// The drain-progress annotation ([`ANNOTATION`]), raw; read with
    /// [`crate::facts::progress::Record::read`].
    pub progress: Option<String>,
    /// `status.allocatable` (cpu, memory, pods), when the node says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<crate::facts::resources::Resources>,
    /// The node carries [`KUBEADM_ANNOTATION`], which `kubeadm init` / `join` write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kubeadm_annotated: bool,
}

/// Written on every node by `kubeadm init` and `kubeadm join` (kubeadm before 1.27 writes it
/// as the node's CRI socket): evidence that kubeadm set the node up.
pub const KUBEADM_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

impl NodeFacts {
    /// Reduce a Node, keeping only the labels `keep_label` accepts (roles are read from all of
    /// them first). The one reduction of nodes: `check` keeps the labels its rules read, the
    /// node commands keep every label.
    pub fn from_node(node: Node, keep_label: impl Fn(&str) -> bool) -> NodeFacts {
        let meta = node.metadata;
        let labels = meta.labels.unwrap_or_default();
        let mut roles: Vec<String> = labels
            .keys()
            .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(role) = labels.get("kubernetes.io/role") {
            if !role.is_empty() && !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        roles.sort();
        let kept: BTreeMap<String, String> =
            labels.into_iter().filter(|(k, _)| keep_label(k)).collect();
        let spec = node.spec.unwrap_or_default();
        let status = node.status.unwrap_or_default();
        let allocatable = status
            .allocatable
            .as_ref()
            .and_then(crate::facts::resources::Resources::from_list);
        let info = status.node_info.unwrap_or_default();
        let ready = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let taints = spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .map(|t| match t.value {
                Some(v) if !v.is_empty() => format!("{}={}:{}", t.key, v, t.effect),
                _ => format!("{}:{}", t.key, t.effect),
            })
            .collect();
        let mut annotations = meta.annotations.unwrap_or_default();
        let kubeadm_annotated = annotations.contains_key(KUBEADM_ANNOTATION);
        let progress = annotations.remove(ANNOTATION);
        #[allow(deprecated)]
        let kube_proxy_version = info.kube_proxy_version.clone();
        NodeFacts {
            name: meta.name.unwrap_or_default(),
            roles,
            kubelet_version: info.kubelet_version,
            kube_proxy_version,
            container_runtime: info.container_runtime_version,
            os_image: info.os_image,
            kernel_version: info.kernel_version,
            architecture: info.architecture,
            operating_system: info.operating_system,
            ready,
            unschedulable: spec.unschedulable.unwrap_or(false),
            taints,
            labels: kept,
            provider_id: spec.provider_id.unwrap_or_default(),
            progress,
            allocatable,
            kubeadm_annotated,
        }
    }

    pub fn is_control_plane(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == "control-plane" || r == "master")
    }

    /// Can the scheduler put pods here now: Ready and not cordoned. Taints are each pod's
    /// tolerations' business ([`crate::policy::capacity`]).
    pub fn can_take_pods(&self) -> bool {
        self.ready && !self.unschedulable
    }

    /// Is the node tainted so that pods without a matching toleration stay off
    /// (`NoSchedule`, `NoExecute`)?
    pub fn keeps_pods_off(&self) -> bool {
        self.taints
            .iter()
            .any(|t| t.ends_with(":NoSchedule") || t.ends_with(":NoExecute"))
    }
}

/// Test fixtures shared by the policy and rollout tests.
#[cfg(test)]
pub mod fixture {
    use super::NodeFacts;

    /// A Ready, schedulable worker with this kubelet.
    pub fn worker(name: &str, kubelet: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            kubelet_version: kubelet.into(),
            ready: true,
            ..NodeFacts::default()
        }
    }

    /// A Ready control-plane node with this kubelet.
    pub fn control_plane(name: &str, kubelet: &str) -> NodeFacts {
        NodeFacts {
            roles: vec!["control-plane".into()],
            ..worker(name, kubelet)
        }
    }
}

/// `("containerd", "1.7.27")` from `containerRuntimeVersion` `containerd://1.7.27`.
pub fn runtime_name_version(runtime: &str) -> Option<(&str, &str)> {
    let (name, rest) = runtime.split_once(':')?;
    Some((name, rest.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_taints_labels_and_progress() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "n1",
                "labels": {
                    "node-role.kubernetes.io/worker": "",
                    "node-role.kubernetes.io/control-plane": "",
                    "kubernetes.io/role": "infra",
                    "team": "a"
                },
                "annotations": {ANNOTATION: "{}"}
            },
            "spec": {
                "unschedulable": true,
                "taints": [
                    {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                    {"key": "x", "value": "", "effect": "NoExecute"}
                ]
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let all = NodeFacts::from_node(node.clone(), |_| true);
        let few = NodeFacts::from_node(node, |k| k != "team");
        assert_eq!(all.roles, ["control-plane", "infra", "worker"]);
        assert!(all.is_control_plane() && all.ready && all.unschedulable);
        assert_eq!(
            all.taints,
            [
                "dedicated=gpu:NoSchedule",
                "node-role.kubernetes.io/control-plane:NoSchedule",
                "x:NoExecute"
            ]
        );
        assert_eq!(all.progress.as_deref(), Some("{}"));
        assert!(all.labels.contains_key("team") && !few.labels.contains_key("team"));
        assert_eq!(few.roles, all.roles);
    }
}
