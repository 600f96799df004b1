//! How the cluster was set up (kubeadm, kind, minikube, MicroK8s, k3s, k3d, RKE2, EKS, GKE, AKS, DOKS,
//! OpenShift/OKD, Talos or unknown), with the evidence shown to the user. Pure: reads only
//! the [`Inventory`].
//!
//! Strong evidence: the `kube-system/kubeadm-config` ConfigMap, the node annotation kubeadm
//! writes (`kubeadm.alpha.kubernetes.io/cri-socket`), distribution suffixes in
//! versions (`-eks-`, `-gke.`, `+k3s`, `+rke2`), well-known node labels, node `providerID`
//! schemes that only one tool writes (`kind://`, `k3s://k3d-`), the node OS image (Talos,
//! Red Hat CoreOS, minikube's Buildroot). When several kinds have strong evidence, the most
//! specific wins: kind and minikube run kubeadm, k3d runs k3s, OpenShift runs on every cloud
//! ([`SPECIFICITY`]).
//! Weak evidence, used only when there is no strong one: control-plane static pods
//! (kubeadm). A cloud `providerID` (`aws://`, `gce://`, `azure://`) alone proves only the
//! cloud, not the managed service (kops, kubeadm and OpenShift run there too): it is shown as
//! evidence of an unknown setup, never as EKS, GKE or AKS.

use crate::facts::inventory::Inventory;
use crate::facts::version::{self, Distro};
use serde::Serialize;
use std::collections::BTreeMap;

/// The kind of setup, which decides the upgrade steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetupKind {
    Kubeadm,
    Kind,
    Minikube,
    Microk8s,
    K3s,
    K3d,
    Rke2,
    Eks,
    Gke,
    Aks,
    Doks,
    Openshift,
    Talos,
    Unknown,
}

impl SetupKind {
    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            SetupKind::Kubeadm => "kubeadm",
            SetupKind::Kind => "kind",
            SetupKind::Minikube => "minikube",
            SetupKind::Microk8s => "MicroK8s",
            SetupKind::K3s => "k3s",
            SetupKind::K3d => "k3d",
            SetupKind::Rke2 => "RKE2",
            SetupKind::Eks => "EKS",
            SetupKind::Gke => "GKE",
            SetupKind::Aks => "AKS",
            SetupKind::Doks => "DOKS",
            SetupKind::Openshift => "OpenShift/OKD",
            SetupKind::Talos => "Talos",
            SetupKind::Unknown => "unknown / by hand",
        }
    }

    /// Managed control plane (the provider upgrades it; apiserver pods are hidden).
    pub fn is_managed(self) -> bool {
        matches!(
            self,
            SetupKind::Eks | SetupKind::Gke | SetupKind::Aks | SetupKind::Doks
        )
    }
}

/// The detected setup and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setup {
    pub kind: SetupKind,
    /// Human strings, e.g. `ConfigMap kube-system/kubeadm-config`,
    /// `server version v1.29.3-eks-adc7111`, `node label eks.amazonaws.com/nodegroup (3 nodes)`.
    pub evidence: Vec<String>,
}

/// Node label prefixes (or exact keys) that identify a distribution.
const LABEL_RULES: &[(&str, SetupKind)] = &[
    ("eks.amazonaws.com/", SetupKind::Eks),
    ("alpha.eksctl.io/", SetupKind::Eks),
    ("cloud.google.com/gke-", SetupKind::Gke),
    ("kubernetes.azure.com/", SetupKind::Aks),
    ("doks.digitalocean.com/", SetupKind::Doks),
    ("node.openshift.io/", SetupKind::Openshift),
    ("minikube.k8s.io/", SetupKind::Minikube),
    ("microk8s.io/", SetupKind::Microk8s),
    ("k3s.io/", SetupKind::K3s),
    ("rke2.io/", SetupKind::Rke2),
];

/// Node labels whose value `detect` reads (besides the prefixes of [`LABEL_RULES`]).
const VALUE_LABELS: &[&str] = &[
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
];

/// Whether `detect` reads this node label: the inventory reducer keeps these (and the role
/// labels) and drops the rest.
pub fn reads_label(key: &str) -> bool {
    LABEL_RULES.iter().any(|(p, _)| key.starts_with(p)) || VALUE_LABELS.contains(&key)
}

/// When several kinds have strong evidence, the first here wins: a tool built on another
/// (kind and minikube on kubeadm, k3d on k3s) or running on a cloud (OpenShift, Talos, k3s
/// on EC2) is more specific than the signals it inherits.
const SPECIFICITY: &[SetupKind] = &[
    SetupKind::Openshift,
    SetupKind::Talos,
    SetupKind::Kind,
    SetupKind::Minikube,
    SetupKind::Microk8s,
    SetupKind::K3d,
    SetupKind::K3s,
    SetupKind::Rke2,
    SetupKind::Eks,
    SetupKind::Gke,
    SetupKind::Aks,
    SetupKind::Doks,
    SetupKind::Kubeadm,
];

/// Detects the setup kind from the inventory.
pub fn detect(inv: &Inventory) -> Setup {
    let strong = strong_evidence(inv);
    if let Some(kind) = SPECIFICITY.iter().find(|k| strong.contains_key(k)) {
        let mut evidence = strong.get(kind).cloned().unwrap_or_default();
        for (other, lines) in &strong {
            if other != kind {
                evidence.push(format!(
                    "also seen, read as part of {}: {}",
                    kind.label(),
                    lines.join("; ")
                ));
            }
        }
        return Setup {
            kind: *kind,
            evidence,
        };
    }
    let static_pods = static_pod_evidence(inv);
    if !static_pods.is_empty() {
        return Setup {
            kind: SetupKind::Kubeadm,
            evidence: static_pods,
        };
    }
    let mut evidence = vec![
        "no kubeadm-config, distribution suffix, provider label or control-plane pod seen".into(),
    ];
    let mut clouds: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &inv.nodes {
        if let Some((scheme, _)) = node.provider_id.split_once("://") {
            if !scheme.is_empty() {
                *clouds.entry(scheme).or_default() += 1;
            }
        }
    }
    for (scheme, n) in clouds {
        evidence.push(format!(
            "node providerID {scheme}:// ({}): the cloud, not who runs the control plane",
            nodes(n)
        ));
    }
    Setup {
        kind: SetupKind::Unknown,
        evidence,
    }
}

/// Every kind with strong evidence, each with its evidence lines.
fn strong_evidence(inv: &Inventory) -> BTreeMap<SetupKind, Vec<String>> {
    let mut strong: BTreeMap<SetupKind, Vec<String>> = BTreeMap::new();
    let mut add = |k: SetupKind, e: String| strong.entry(k).or_default().push(e);

    if let Some(k) = &inv.kubeadm {
        let mut e = "ConfigMap kube-system/kubeadm-config".to_string();
        if let Some(v) = &k.kubernetes_version {
            e.push_str(&format!(" (kubernetesVersion {v})"));
        }
        add(SetupKind::Kubeadm, e);
    }
    if let Some(sv) = &inv.server_version {
        if let Some(kind) = kind_of_version(sv) {
            add(kind, format!("server version {sv}"));
        }
    }
    // One evidence line per (kind, what), with a node count.
    let mut hits: BTreeMap<(SetupKind, String), usize> = BTreeMap::new();
    for node in &inv.nodes {
        if let Some(kind) = kind_of_version(&node.kubelet_version) {
            *hits
                .entry((kind, format!("kubelet version {}", node.kubelet_version)))
                .or_default() += 1;
        }
        for (key, value) in &node.labels {
            if let Some((_, kind)) = LABEL_RULES.iter().find(|(p, _)| key.starts_with(p)) {
                *hits
                    .entry((*kind, format!("node label {key}")))
                    .or_default() += 1;
            }
            let is_instance_type = VALUE_LABELS.contains(&key.as_str());
            let kind = match value.as_str() {
                "k3s" => Some(SetupKind::K3s),
                "rke2" => Some(SetupKind::Rke2),
                _ => None,
            };
            if let Some(kind) = kind.filter(|_| is_instance_type) {
                *hits
                    .entry((kind, format!("node label {key}={value}")))
                    .or_default() += 1;
            }
        }
        if node.kubeadm_annotated {
            *hits
                .entry((
                    SetupKind::Kubeadm,
                    format!("node annotation {}", crate::facts::node::KUBEADM_ANNOTATION),
                ))
                .or_default() += 1;
        }
        let pid = node.provider_id.as_str();
        let by_provider = if pid.starts_with("kind://") {
            Some((SetupKind::Kind, "node providerID kind://"))
        } else if pid.starts_with("k3s://k3d-") {
            Some((SetupKind::K3d, "node providerID k3s://k3d-"))
        } else if pid.starts_with("digitalocean://") {
            Some((SetupKind::Doks, "node providerID digitalocean://"))
        } else {
            None
        };
        if let Some((kind, what)) = by_provider {
            *hits.entry((kind, what.to_string())).or_default() += 1;
        }
        let os = node.os_image.as_str();
        // Fedora CoreOS alone is not OpenShift (Typhoon and others use it too).
        // minikube's VM image is built with Buildroot (its docker driver nodes carry the
        // minikube.k8s.io labels instead).
        let by_os = if os.starts_with("Talos") {
            Some(SetupKind::Talos)
        } else if os.starts_with("Buildroot") {
            Some(SetupKind::Minikube)
        } else if os.starts_with("Red Hat Enterprise Linux CoreOS")
            || os.starts_with("CentOS Stream CoreOS")
        {
            Some(SetupKind::Openshift)
        } else {
            None
        };
        if let Some(kind) = by_os {
            *hits
                .entry((kind, format!("node OS image {os}")))
                .or_default() += 1;
        }
    }
    for ((kind, what), n) in hits {
        add(kind, format!("{what} ({})", nodes(n)));
    }
    strong
}

/// kube-system control-plane pods (kubeadm's static pods), as evidence lines.
fn static_pod_evidence(inv: &Inventory) -> Vec<String> {
    [
        (&inv.apiservers, "kube-apiserver"),
        (&inv.controller_managers, "kube-controller-manager"),
        (&inv.schedulers, "kube-scheduler"),
        (&inv.etcd, "etcd"),
    ]
    .iter()
    .filter(|(pods, _)| !pods.is_empty())
    .map(|(pods, name)| {
        let mirror = pods.iter().any(|c| {
            inv.pods
                .iter()
                .any(|p| p.mirror && p.namespace == c.namespace && p.name == c.pod)
        });
        format!(
            "{} {name} pod{} in kube-system (component={name}{})",
            pods.len(),
            if pods.len() == 1 { "" } else { "s" },
            if mirror { ", static/mirror" } else { "" }
        )
    })
    .collect()
}

fn kind_of_version(s: &str) -> Option<SetupKind> {
    match version::parse(s).ok()?.distro {
        Distro::Eks => Some(SetupKind::Eks),
        Distro::Gke => Some(SetupKind::Gke),
        Distro::Aks => Some(SetupKind::Aks),
        Distro::K3s => Some(SetupKind::K3s),
        Distro::Rke2 => Some(SetupKind::Rke2),
        Distro::Upstream | Distro::Other => None,
    }
}

fn nodes(n: usize) -> String {
    crate::findings::count(n, "node")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::inventory::KubeadmFacts;
    use crate::facts::node::NodeFacts;
    use crate::facts::pod::Component;
    use crate::facts::pod::PodFacts;

    fn node(name: &str, kubelet: &str, labels: &[(&str, &str)], provider: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            kubelet_version: kubelet.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            provider_id: provider.into(),
            ..Default::default()
        }
    }

    fn comp(pod: &str, image: &str) -> Component {
        Component {
            namespace: "kube-system".into(),
            pod: pod.into(),
            node: Some("cp1".into()),
            image: image.into(),
        }
    }

    #[test]
    fn kubeadm_annotation_and_microk8s_label_are_evidence() {
        let inv = |n: NodeFacts| Inventory {
            nodes: vec![n],
            ..Default::default()
        };
        let annotated = NodeFacts {
            kubeadm_annotated: true,
            ..node("n1", "v1.23.5", &[], "")
        };
        let s = detect(&inv(annotated.clone()));
        assert_eq!(s.kind, SetupKind::Kubeadm);
        assert!(s.evidence[0].contains("kubeadm.alpha.kubernetes.io/cri-socket"));
        // minikube runs kubeadm: its nodes carry both, minikube is the more specific.
        let minikube = NodeFacts {
            labels: [("minikube.k8s.io/version".to_string(), "v1.25.1".to_string())].into(),
            ..annotated
        };
        assert_eq!(detect(&inv(minikube)).kind, SetupKind::Minikube);
        let micro = node("m", "v1.16.2", &[("microk8s.io/cluster", "true")], "");
        assert_eq!(detect(&inv(micro)).kind, SetupKind::Microk8s);
        // Without either, a node with nothing else is unknown, never kubeadm.
        assert_eq!(
            detect(&inv(node("x", "v1.23.5", &[], ""))).kind,
            SetupKind::Unknown
        );
    }

    #[test]
    fn detects_each_kind() {
        let kubeadm_cm = Inventory {
            kubeadm: Some(KubeadmFacts {
                kubernetes_version: Some("v1.30.2".into()),
                ..Default::default()
            }),
            server_version: Some("v1.30.2".into()),
            nodes: vec![node("cp1", "v1.30.2", &[], "")],
            ..Default::default()
        };
        let static_only = Inventory {
            apiservers: vec![comp(
                "kube-apiserver-cp1",
                "registry.k8s.io/kube-apiserver:v1.30.2",
            )],
            pods: vec![PodFacts {
                namespace: "kube-system".into(),
                name: "kube-apiserver-cp1".into(),
                mirror: true,
                ..Default::default()
            }],
            nodes: vec![node("cp1", "v1.30.2", &[], "")],
            ..Default::default()
        };
        let eks = Inventory {
            server_version: Some("v1.29.3-eks-adc7111".into()),
            nodes: vec![
                node(
                    "ip-1",
                    "v1.29.0-eks-5e0fdde",
                    &[("eks.amazonaws.com/nodegroup", "ng1")],
                    "aws:///us-west-2a/i-1",
                ),
                node(
                    "ip-2",
                    "v1.29.0-eks-5e0fdde",
                    &[
                        ("eks.amazonaws.com/nodegroup", "ng1"),
                        ("alpha.eksctl.io/nodegroup-name", "ng1"),
                    ],
                    "aws:///us-west-2a/i-2",
                ),
            ],
            ..Default::default()
        };
        let gke = Inventory {
            server_version: Some("v1.30.2-gke.1587003".into()),
            nodes: vec![node(
                "gke-1",
                "v1.30.2-gke.1587003",
                &[("cloud.google.com/gke-nodepool", "default-pool")],
                "gce://p/z/gke-1",
            )],
            ..Default::default()
        };
        let aks = Inventory {
            server_version: Some("v1.29.4".into()),
            nodes: vec![node(
                "aks-1",
                "v1.29.4",
                &[
                    ("kubernetes.azure.com/cluster", "MC_rg"),
                    ("kubernetes.azure.com/agentpool", "nodepool1"),
                ],
                "azure:///subscriptions/x",
            )],
            ..Default::default()
        };
        let k3s = Inventory {
            server_version: Some("v1.28.5+k3s1".into()),
            nodes: vec![node(
                "k1",
                "v1.28.5+k3s1",
                &[("node.kubernetes.io/instance-type", "k3s")],
                "k3s://k1",
            )],
            ..Default::default()
        };
        // RKE2 runs kube-apiserver as static pods too: the +rke2 suffix must win.
        let rke2 = Inventory {
            server_version: Some("v1.27.9+rke2r1".into()),
            apiservers: vec![comp(
                "kube-apiserver-r1",
                "index.docker.io/rancher/hardened-kubernetes:v1.27.9-rke2r1-build20240110",
            )],
            nodes: vec![node("r1", "v1.27.9+rke2r1", &[], "")],
            ..Default::default()
        };
        let aws_kubeadm = Inventory {
            kubeadm: Some(KubeadmFacts::default()),
            server_version: Some("v1.30.2".into()),
            nodes: vec![node("n1", "v1.30.2", &[], "aws:///eu-west-1a/i-1")],
            ..Default::default()
        };
        let aws_only = Inventory {
            nodes: vec![node("n1", "v1.30.2", &[], "aws:///eu-west-1a/i-1")],
            ..Default::default()
        };
        let nothing = Inventory {
            server_version: Some("v1.30.2".into()),
            nodes: vec![node("n1", "v1.30.2", &[], "")],
            ..Default::default()
        };
        let table: Vec<(&str, Inventory, SetupKind, &[&str])> = vec![
            (
                "kubeadm cm",
                kubeadm_cm,
                SetupKind::Kubeadm,
                &["ConfigMap kube-system/kubeadm-config (kubernetesVersion v1.30.2)"],
            ),
            (
                "static pods",
                static_only,
                SetupKind::Kubeadm,
                &["1 kube-apiserver pod in kube-system (component=kube-apiserver, static/mirror)"],
            ),
            (
                "eks",
                eks,
                SetupKind::Eks,
                &[
                    "server version v1.29.3-eks-adc7111",
                    "node label eks.amazonaws.com/nodegroup (2 nodes)",
                    "kubelet version v1.29.0-eks-5e0fdde (2 nodes)",
                    "node label alpha.eksctl.io/nodegroup-name (1 node)",
                ],
            ),
            (
                "gke",
                gke,
                SetupKind::Gke,
                &[
                    "server version v1.30.2-gke.1587003",
                    "node label cloud.google.com/gke-nodepool (1 node)",
                ],
            ),
            (
                "aks",
                aks,
                SetupKind::Aks,
                &[
                    "node label kubernetes.azure.com/agentpool (1 node)",
                    "node label kubernetes.azure.com/cluster (1 node)",
                ],
            ),
            (
                "k3s",
                k3s,
                SetupKind::K3s,
                &[
                    "server version v1.28.5+k3s1",
                    "node label node.kubernetes.io/instance-type=k3s (1 node)",
                ],
            ),
            (
                "rke2",
                rke2,
                SetupKind::Rke2,
                &["server version v1.27.9+rke2r1"],
            ),
            (
                "kubeadm on aws",
                aws_kubeadm,
                SetupKind::Kubeadm,
                &["ConfigMap kube-system/kubeadm-config"],
            ),
            (
                "aws providerID only",
                aws_only,
                SetupKind::Unknown,
                &["node providerID aws:// (1 node): the cloud, not who runs the control plane"],
            ),
            ("nothing", nothing, SetupKind::Unknown, &[]),
        ];
        for (name, inv, kind, evidence) in table {
            let s = detect(&inv);
            assert_eq!(s.kind, kind, "{name}: {:?}", s.evidence);
            assert!(!s.evidence.is_empty(), "{name}");
            for e in evidence {
                assert!(
                    s.evidence.iter().any(|x| x == e),
                    "{name}: want {e:?} in {:?}",
                    s.evidence
                );
            }
        }
    }

    #[test]
    fn serializes_lowercase() {
        let s = Setup {
            kind: SetupKind::Rke2,
            evidence: vec!["x".into()],
        };
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["kind"], "rke2");
        assert_eq!(SetupKind::Unknown.label(), "unknown / by hand");
        assert!(SetupKind::Eks.is_managed() && !SetupKind::K3s.is_managed());
    }
}
