//! How the cluster was set up (kubeadm, EKS, GKE, AKS, k3s, RKE2 or unknown), with the
//! evidence shown to the user. Pure: reads only the [`Inventory`].
//!
//! Strong evidence: the `kube-system/kubeadm-config` ConfigMap, distribution suffixes in
//! versions (`-eks-`, `-gke.`, `+k3s`, `+rke2`), well-known node labels. Weak evidence, used
//! only when there is no strong one: control-plane static pods (kubeadm) and node
//! `providerID` schemes (`aws://`, `gce://`, `azure://`).

use crate::facts::inventory::Inventory;
use crate::policy::version::{self, Distro};
use serde::Serialize;
use std::collections::BTreeMap;

/// The kind of setup, which decides the upgrade steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetupKind {
    Kubeadm,
    Eks,
    Gke,
    Aks,
    K3s,
    Rke2,
    Unknown,
}

impl SetupKind {
    /// Human name: `kubeadm`, `EKS`, `GKE`, `AKS`, `k3s`, `RKE2`, `unknown / by hand`.
    pub fn label(self) -> &'static str {
        match self {
            SetupKind::Kubeadm => "kubeadm",
            SetupKind::Eks => "EKS",
            SetupKind::Gke => "GKE",
            SetupKind::Aks => "AKS",
            SetupKind::K3s => "k3s",
            SetupKind::Rke2 => "RKE2",
            SetupKind::Unknown => "unknown / by hand",
        }
    }

    /// Managed control plane (the provider upgrades it; apiserver pods are hidden).
    pub fn is_managed(self) -> bool {
        matches!(self, SetupKind::Eks | SetupKind::Gke | SetupKind::Aks)
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

/// Node label prefixes (or exact keys) that identify a distribution. The inventory readers
/// should keep labels matching these (see [`LABEL_PREFIXES`]).
const LABEL_RULES: &[(&str, SetupKind)] = &[
    ("eks.amazonaws.com/", SetupKind::Eks),
    ("alpha.eksctl.io/", SetupKind::Eks),
    ("cloud.google.com/gke-", SetupKind::Gke),
    ("kubernetes.azure.com/", SetupKind::Aks),
    ("k3s.io/", SetupKind::K3s),
    ("rke2.io/", SetupKind::Rke2),
];

/// Label key prefixes `detect` looks at; inventory readers keep these labels.
pub const LABEL_PREFIXES: &[&str] = &[
    "eks.amazonaws.com/",
    "alpha.eksctl.io/",
    "cloud.google.com/gke-",
    "kubernetes.azure.com/",
    "k3s.io/",
    "rke2.io/",
    "node.kubernetes.io/instance-type",
];

/// Detects the setup kind from the inventory.
pub fn detect(inv: &Inventory) -> Setup {
    // Strong evidence per kind, in the order found.
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

    // Kubelet versions: one evidence line per (kind, version), with a node count.
    let mut kubelet_hits: BTreeMap<(SetupKind, &str), usize> = BTreeMap::new();
    // Labels: one line per (kind, key) with a node count.
    let mut label_hits: BTreeMap<(SetupKind, String), usize> = BTreeMap::new();
    let mut provider_hits: BTreeMap<(SetupKind, &'static str), usize> = BTreeMap::new();
    for node in &inv.nodes {
        if let Some(kind) = kind_of_version(&node.kubelet_version) {
            *kubelet_hits
                .entry((kind, node.kubelet_version.as_str()))
                .or_default() += 1;
        }
        for (key, value) in &node.labels {
            if let Some((_, kind)) = LABEL_RULES.iter().find(|(p, _)| key.starts_with(p)) {
                *label_hits.entry((*kind, key.clone())).or_default() += 1;
            }
            let is_instance_type = key == "node.kubernetes.io/instance-type"
                || key == "beta.kubernetes.io/instance-type";
            if is_instance_type && (value == "k3s" || value == "rke2") {
                let kind = if value == "k3s" {
                    SetupKind::K3s
                } else {
                    SetupKind::Rke2
                };
                *label_hits
                    .entry((kind, format!("{key}={value}")))
                    .or_default() += 1;
            }
        }
        let pid = node.provider_id.as_str();
        for (scheme, kind) in [
            ("aws://", SetupKind::Eks),
            ("gce://", SetupKind::Gke),
            ("azure://", SetupKind::Aks),
        ] {
            if pid.starts_with(scheme) {
                *provider_hits.entry((kind, scheme)).or_default() += 1;
            }
        }
    }
    for ((kind, v), n) in &kubelet_hits {
        add(*kind, format!("kubelet version {v} ({})", nodes(*n)));
    }
    for ((kind, key), n) in &label_hits {
        add(*kind, format!("node label {key} ({})", nodes(*n)));
    }

    if let Some((kind, evidence)) = strong.into_iter().max_by(|(ka, ea), (kb, eb)| {
        ea.len()
            .cmp(&eb.len())
            .then(priority(*kb).cmp(&priority(*ka)))
    }) {
        return Setup { kind, evidence };
    }

    // Weak evidence.
    let static_pods: Vec<String> = [
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
    .collect();
    if !static_pods.is_empty() {
        return Setup {
            kind: SetupKind::Kubeadm,
            evidence: static_pods,
        };
    }
    if let Some(((kind, scheme), n)) = provider_hits.iter().max_by_key(|(_, n)| **n) {
        return Setup {
            kind: *kind,
            evidence: vec![format!("node providerID {scheme}… ({})", nodes(*n))],
        };
    }
    Setup {
        kind: SetupKind::Unknown,
        evidence: vec![
            "no kubeadm-config, distribution suffix, provider label or control-plane pod seen"
                .into(),
        ],
    }
}

/// Tie-break between kinds with equally many evidence lines: distributions that embed
/// kubeadm-like static pods (RKE2) or run on clouds win over the generic signals.
fn priority(k: SetupKind) -> u8 {
    match k {
        SetupKind::K3s => 6,
        SetupKind::Rke2 => 5,
        SetupKind::Eks => 4,
        SetupKind::Gke => 3,
        SetupKind::Aks => 2,
        SetupKind::Kubeadm => 1,
        SetupKind::Unknown => 0,
    }
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
    if n == 1 {
        "1 node".into()
    } else {
        format!("{n} nodes")
    }
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
                SetupKind::Eks,
                &["node providerID aws://… (1 node)"],
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
