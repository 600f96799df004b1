//! The reducer: takes Kubernetes objects one at a time (from API pages or a snapshot
//! stream) and keeps only the facts `check` needs. Shared by the live and snapshot readers so
//! both produce the same `Inventory` from the same objects.

use super::{
    Component, CoveredPods, IntOrPercent, Inventory, KubeadmFacts, NodeFacts, PdbFacts, PodFacts,
};
use crate::drain::filters::{self, Decision, FilterOptions};
use crate::nodes::PROGRESS_ANNOTATION;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, HashMap};

/// Label prefixes kept on nodes (setup detection, roles); everything else is dropped.
const KEPT_NODE_LABELS: &[&str] = &[
    "node-role.kubernetes.io/",
    "kubernetes.io/role",
    "eks.amazonaws.com/",
    "alpha.eksctl.io/",
    "cloud.google.com/gke",
    "kubernetes.azure.com/",
    "k3s.io/",
    "node.k3s.io/",
    "rke2.io/",
    "node.kubernetes.io/instance-type",
];

/// Control-plane static pods, by their `component` label.
const COMPONENT_LABELS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
    "cloud-controller-manager",
];

/// Mirror-pod annotation set by the kubelet on static pods.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Reduce a Node to [`NodeFacts`], keeping only the labels `keep_label` accepts (roles are read
/// from all of them first). The one reduction of nodes: `check`'s reducer keeps
/// [`KEPT_NODE_LABELS`], the drain commands keep every label (`crate::nodes::node_facts`), and
/// both read roles (sorted, `node-role.kubernetes.io/<role>` plus `kubernetes.io/role`) and
/// taints (`key=value:Effect`, or `key:Effect` without a value, as kubectl prints them) alike.
pub fn node_facts(node: Node, keep_label: impl Fn(&str) -> bool) -> NodeFacts {
    let meta = node.metadata;
    let labels = meta.labels.unwrap_or_default();
    let mut roles: Vec<String> = labels
        .keys()
        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(role) = labels.get("kubernetes.io/role") {
        if !roles.contains(role) {
            roles.push(role.clone());
        }
    }
    roles.sort();
    let kept: BTreeMap<String, String> =
        labels.into_iter().filter(|(k, _)| keep_label(k)).collect();
    let spec = node.spec.unwrap_or_default();
    let status = node.status.unwrap_or_default();
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
    let progress = meta
        .annotations
        .and_then(|mut a| a.remove(PROGRESS_ANNOTATION));
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
        ready,
        unschedulable: spec.unschedulable.unwrap_or(false),
        taints,
        labels: kept,
        provider_id: spec.provider_id.unwrap_or_default(),
        progress,
    }
}

/// The PDBs of one namespace, indexed so a pod is tested only against PDBs that can match
/// it: a PDB with `matchLabels` is filed under its first (key, value) pair, which every pod
/// it selects must carry; the rest (expressions only, or `{}`) are always tested.
#[derive(Default)]
struct NamespacePdbs {
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    always: Vec<usize>,
}

#[derive(Default)]
pub struct Reducer {
    inv: Inventory,
    /// Namespace -> its PDBs, indexed.
    pdbs_by_ns: HashMap<String, NamespacePdbs>,
    /// When PDBs arrive after pods (snapshots), pods and their labels wait here for matching
    /// at `finish`.
    pending: Vec<(PodFacts, BTreeMap<String, String>)>,
    pdbs_complete: bool,
    /// Node -> PDB index -> evictable pods under only that PDB (becomes `Inventory::covered`).
    covered: BTreeMap<String, BTreeMap<usize, usize>>,
}

impl Reducer {
    pub fn new(source: impl Into<String>) -> Self {
        Reducer {
            inv: Inventory {
                source: source.into(),
                ..Inventory::default()
            },
            ..Reducer::default()
        }
    }

    /// Declare that every PDB has been fed: pods are then matched immediately and their labels dropped.
    pub fn pdbs_done(&mut self) {
        self.pdbs_complete = true;
    }

    pub fn set_server_version(&mut self, git_version: impl Into<String>) {
        self.inv.server_version = Some(git_version.into());
    }

    pub fn set_kubectl_version(&mut self, v: Option<String>) {
        self.inv.kubectl_version = v;
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.inv.notes.push(note.into());
    }

    pub fn node(&mut self, node: Node) {
        let facts = node_facts(node, |k| KEPT_NODE_LABELS.iter().any(|p| k.starts_with(p)));
        self.inv.nodes.push(facts);
    }

    pub fn pdb(&mut self, pdb: PodDisruptionBudget) {
        let meta = pdb.metadata;
        let spec = pdb.spec.unwrap_or_default();
        let status = pdb.status.unwrap_or_default();
        let (selects_all, match_labels, match_expressions, selects_none) = match spec.selector {
            None => (false, BTreeMap::new(), Vec::new(), true),
            Some(sel) => {
                let labels = sel.match_labels.unwrap_or_default();
                let exprs: Vec<(String, String, Vec<String>)> = sel
                    .match_expressions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| (e.key, e.operator, e.values.unwrap_or_default()))
                    .collect();
                let all = labels.is_empty() && exprs.is_empty();
                (all, labels, exprs, false)
            }
        };
        let generation = meta.generation.unwrap_or(0);
        let observed = status.observed_generation.is_some_and(|g| g >= generation);
        let facts = PdbFacts {
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            min_available: spec.min_available.as_ref().and_then(int_or_percent),
            max_unavailable: spec.max_unavailable.as_ref().and_then(int_or_percent),
            selects_all,
            match_labels,
            match_expressions,
            current_healthy: status.current_healthy.unwrap_or(0),
            desired_healthy: status.desired_healthy.unwrap_or(0),
            expected_pods: status.expected_pods.unwrap_or(0),
            disruptions_allowed: status.disruptions_allowed.unwrap_or(0),
            observed,
        };
        let idx = self.inv.pdbs.len();
        if !selects_none {
            let ns = self.pdbs_by_ns.entry(facts.namespace.clone()).or_default();
            match facts.match_labels.iter().next() {
                Some((k, v)) => ns
                    .by_label
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .push(idx),
                None => ns.always.push(idx),
            }
        }
        self.inv.pdbs.push(facts);
    }

    pub fn configmap(&mut self, cm: ConfigMap) {
        let meta = cm.metadata;
        if meta.namespace.as_deref() != Some("kube-system")
            || meta.name.as_deref() != Some("kubeadm-config")
        {
            return;
        }
        let cluster_config = cm
            .data
            .as_ref()
            .and_then(|d| d.get("ClusterConfiguration"))
            .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(text).ok());
        let field = |name: &str| {
            cluster_config
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        self.inv.kubeadm = Some(KubeadmFacts {
            kubernetes_version: field("kubernetesVersion"),
            control_plane_endpoint: field("controlPlaneEndpoint"),
            image_repository: field("imageRepository"),
        });
    }

    pub fn pod(&mut self, pod: Pod) {
        let meta = pod.metadata;
        let namespace = meta.namespace.unwrap_or_default();
        let name = meta.name.unwrap_or_default();
        let labels = meta.labels.unwrap_or_default();
        let spec = pod.spec.unwrap_or_default();
        let node = spec.node_name.clone();
        let image_of = |wanted: &str| -> String {
            spec.containers
                .iter()
                .find(|c| c.name == wanted)
                .or_else(|| spec.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default()
        };
        let component = |image: String| Component {
            namespace: namespace.clone(),
            pod: name.clone(),
            node: node.clone(),
            image,
        };
        if namespace == "kube-system" {
            if let Some(c) = labels
                .get("component")
                .map(String::as_str)
                .filter(|c| COMPONENT_LABELS.contains(c))
            {
                let entry = component(image_of(c));
                match c {
                    "kube-apiserver" => self.inv.apiservers.push(entry),
                    "kube-controller-manager" => self.inv.controller_managers.push(entry),
                    "kube-scheduler" => self.inv.schedulers.push(entry),
                    "etcd" => self.inv.etcd.push(entry),
                    _ => self.inv.cloud_controller_managers.push(entry),
                }
            }
        }
        match labels.get("k8s-app").map(String::as_str) {
            Some("kube-proxy") => self
                .inv
                .kube_proxies
                .push(component(image_of("kube-proxy"))),
            Some("kube-dns") => self.inv.coredns.push(component(image_of("coredns"))),
            _ => {}
        }
        let controller = meta
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.controller == Some(true));
        let mirror = meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
        let has_empty_dir = spec
            .volumes
            .unwrap_or_default()
            .iter()
            .any(|v| v.empty_dir.is_some());
        let phase = pod
            .status
            .and_then(|s| s.phase)
            .unwrap_or_else(|| "Unknown".to_string());
        self.inv.pods_seen += 1;
        let (pdbs, labels) = if self.pdbs_complete {
            (self.matching_pdbs(&namespace, &labels), None)
        } else {
            (Vec::new(), Some(labels))
        };
        let facts = PodFacts {
            namespace,
            name,
            node,
            phase,
            controller_kind: controller.as_ref().map(|o| o.kind.clone()),
            controller_name: controller.map(|o| o.name),
            mirror,
            has_empty_dir,
            deleting: meta.deletion_timestamp.is_some(),
            pdbs,
        };
        match labels {
            // PDBs still to come: keep the pod until `finish` can match it.
            Some(labels) => self.pending.push((facts, labels)),
            None => self.keep(facts),
        }
    }

    /// Keep what the drain preview needs of a pod whose PDBs are known: the pod itself when
    /// the preview names it, a count when it is one of many evictable pods under one PDB,
    /// nothing when it would simply be evicted (or is already going).
    fn keep(&mut self, pod: PodFacts) {
        let Some(node) = pod.node.as_deref() else {
            return; // not scheduled: nothing to drain
        };
        match filters::decide(&pod, None, &FilterOptions::default()) {
            Decision::Skip(_) | Decision::Block(_) => self.inv.pods.push(pod),
            Decision::Evict => match pod.pdbs.as_slice() {
                [] => {}
                [pdb] => {
                    let per_pdb = match self.covered.get_mut(node) {
                        Some(m) => m,
                        None => self.covered.entry(node.to_string()).or_default(),
                    };
                    *per_pdb.entry(*pdb).or_default() += 1;
                }
                _ => self.inv.pods.push(pod),
            },
            Decision::Completed | Decision::WaitOnly => {}
        }
    }

    fn matching_pdbs(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let Some(ns) = self.pdbs_by_ns.get(namespace) else {
            return Vec::new();
        };
        let indexed = labels
            .iter()
            .filter_map(|(k, v)| ns.by_label.get(k).and_then(|vals| vals.get(v)))
            .flatten();
        let mut found: Vec<usize> = indexed
            .chain(&ns.always)
            .copied()
            .filter(|&i| self.inv.pdbs[i].selects(labels))
            .collect();
        found.sort_unstable();
        found
    }

    pub fn finish(mut self) -> Inventory {
        for (mut pod, labels) in std::mem::take(&mut self.pending) {
            pod.pdbs = self.matching_pdbs(&pod.namespace, &labels);
            self.keep(pod);
        }
        self.inv.covered = std::mem::take(&mut self.covered)
            .into_iter()
            .flat_map(|(node, per_pdb)| {
                per_pdb.into_iter().map(move |(pdb, pods)| CoveredPods {
                    node: node.clone(),
                    pdb,
                    pods,
                })
            })
            .collect();
        self.inv.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.inv
    }
}

fn int_or_percent(v: &IntOrString) -> Option<IntOrPercent> {
    match v {
        IntOrString::Int(i) => Some(IntOrPercent::Int(*i)),
        IntOrString::String(s) => match s.trim().strip_suffix('%') {
            Some(p) => p.trim().parse().ok().map(IntOrPercent::Percent),
            None => s.trim().parse().ok().map(IntOrPercent::Int),
        },
    }
}

impl PdbFacts {
    /// Does this PDB's selector select a pod with these labels (same namespace assumed)?
    /// Implements `matchLabels` AND every `matchExpressions` (In, NotIn, Exists, DoesNotExist).
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.selects_all {
            return true;
        }
        if self.match_labels.is_empty() && self.match_expressions.is_empty() {
            return false;
        }
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .match_expressions
                .iter()
                .all(|(key, op, values)| match op.as_str() {
                    "In" => labels.get(key).is_some_and(|v| values.contains(v)),
                    "NotIn" => labels.get(key).is_none_or(|v| !values.contains(v)),
                    "Exists" => labels.contains_key(key),
                    "DoesNotExist" => !labels.contains_key(key),
                    _ => false,
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_matching() {
        let pdb = |ml: &[(&str, &str)], ex: Vec<(&str, &str, Vec<&str>)>, all: bool| PdbFacts {
            selects_all: all,
            match_labels: labels(ml),
            match_expressions: ex
                .into_iter()
                .map(|(k, o, v)| {
                    (
                        k.into(),
                        o.into(),
                        v.into_iter().map(String::from).collect(),
                    )
                })
                .collect(),
            ..PdbFacts::default()
        };
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (pdb(&[("app", "web")], vec![], false), true),
            (pdb(&[("app", "db")], vec![], false), false),
            (pdb(&[], vec![], true), true),
            (pdb(&[], vec![], false), false),
            (
                pdb(&[], vec![("tier", "In", vec!["front", "back"])], false),
                true,
            ),
            (
                pdb(&[], vec![("tier", "NotIn", vec!["front"])], false),
                false,
            ),
            (pdb(&[], vec![("zone", "NotIn", vec!["a"])], false), true),
            (pdb(&[], vec![("app", "Exists", vec![])], false), true),
            (
                pdb(&[], vec![("app", "DoesNotExist", vec![])], false),
                false,
            ),
            (
                pdb(&[("app", "web")], vec![("tier", "In", vec!["back"])], false),
                false,
            ),
        ];
        for (i, (p, want)) in cases.iter().enumerate() {
            assert_eq!(p.selects(&web), *want, "case {i}");
        }
    }

    #[test]
    fn int_or_percent_parsing() {
        assert_eq!(
            int_or_percent(&IntOrString::Int(2)),
            Some(IntOrPercent::Int(2))
        );
        assert_eq!(
            int_or_percent(&IntOrString::String("20%".into())),
            Some(IntOrPercent::Percent(20))
        );
        assert_eq!(
            int_or_percent(&IntOrString::String("3".into())),
            Some(IntOrPercent::Int(3))
        );
        assert_eq!(int_or_percent(&IntOrString::String("x%".into())), None);
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, LabelSelectorRequirement, ObjectMeta,
    };

    fn pdb(
        name: &str,
        labels: &[(&str, &str)],
        exprs: Vec<LabelSelectorRequirement>,
    ) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(LabelSelector {
                    match_labels: Some(
                        labels
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    ),
                    match_expressions: Some(exprs),
                }),
                ..PodDisruptionBudgetSpec::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, ns: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            // On a node and unmanaged, so every test pod matters to the preview and is kept.
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                node_name: Some("n1".into()),
                ..Default::default()
            }),
            ..Pod::default()
        }
    }

    /// Feed PDBs before the pods (as the live reader does) or after them (as a snapshot may).
    fn reduce(pdbs: &[PodDisruptionBudget], pods: &[Pod], pdbs_first: bool) -> Inventory {
        let mut r = Reducer::new("t");
        if pdbs_first {
            pdbs.iter().cloned().for_each(|p| r.pdb(p));
            r.pdbs_done();
        }
        pods.iter().cloned().for_each(|p| r.pod(p));
        if !pdbs_first {
            pdbs.iter().cloned().for_each(|p| r.pdb(p));
        }
        r.finish()
    }

    fn owned(mut p: Pod, kind: &str) -> Pod {
        p.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                kind: kind.into(),
                name: "owner".into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        p
    }

    /// Pods are reduced to what the drain preview needs, whatever the feeding order: named
    /// pods kept, evictable pods under one PDB counted per node, plain ones only counted.
    /// Putting every pod back in full does not change a single preview finding.
    #[test]
    fn pods_are_reduced_to_what_the_preview_needs() {
        let mut budget = pdb("web", &[("app", "web")], vec![]);
        if let Some(spec) = budget.spec.as_mut() {
            spec.max_unavailable = Some(IntOrString::Int(0)); // never allows: the preview says so
        }
        let pdbs = [
            budget,
            pdb("any-web", &[("app", "web"), ("tier", "x")], vec![]),
        ];
        let mut unscheduled = owned(pod("pending", "ns", &[]), "ReplicaSet");
        unscheduled.spec = None;
        let pods = [
            owned(pod("covered-1", "ns", &[("app", "web")]), "ReplicaSet"),
            owned(pod("covered-2", "ns", &[("app", "web")]), "ReplicaSet"),
            owned(
                pod("twice", "ns", &[("app", "web"), ("tier", "x")]),
                "ReplicaSet",
            ),
            owned(pod("plain", "ns", &[("app", "other")]), "ReplicaSet"),
            owned(pod("proxy", "kube-system", &[]), "DaemonSet"),
            pod("bare", "ns", &[]),
            unscheduled,
        ];
        let facts = |name: &str, pdbs: Vec<usize>| PodFacts {
            namespace: "ns".into(),
            name: name.into(),
            node: Some("n1".into()),
            phase: "Running".into(),
            controller_kind: Some("ReplicaSet".into()),
            controller_name: Some("owner".into()),
            pdbs,
            ..PodFacts::default()
        };
        let mut previews = Vec::new();
        for pdbs_first in [true, false] {
            let inv = reduce(&pdbs, &pods, pdbs_first);
            let kept: Vec<&str> = inv.pods.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(kept, ["twice", "proxy", "bare"], "pdbs_first={pdbs_first}");
            assert_eq!(
                inv.covered,
                [CoveredPods {
                    node: "n1".into(),
                    pdb: 0,
                    pods: 2
                }]
            );
            assert_eq!(inv.pods_seen, 7);
            let preview = crate::drain::pdb::preview(&inv);
            assert!(
                preview.iter().any(|f| f.message.contains("n1")),
                "the covered pods' budget must show: {preview:?}"
            );
            let mut full = inv.clone();
            full.covered.clear();
            full.pods.push(facts("covered-1", vec![0]));
            full.pods.push(facts("covered-2", vec![0]));
            full.pods.push(facts("plain", vec![]));
            assert_eq!(crate::drain::pdb::preview(&full), preview);
            previews.push(preview);
        }
        assert_eq!(previews[0], previews[1]);
    }

    /// The index must give exactly what testing every PDB would, in either feeding order.
    #[test]
    fn indexed_matching_equals_brute_force() {
        let pdbs = [
            pdb("web", &[("app", "web")], vec![]),
            pdb("web-front", &[("app", "web"), ("tier", "front")], vec![]),
            pdb("all", &[], vec![]),
            pdb(
                "expr",
                &[],
                vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["front".into()]),
                }],
            ),
            pdb("db", &[("app", "db")], vec![]),
        ];
        let pods = [
            pod("a", "ns", &[("app", "web"), ("tier", "front")]),
            pod("b", "ns", &[("app", "web")]),
            pod("c", "ns", &[("app", "db"), ("tier", "back")]),
            pod("d", "other", &[("app", "web")]),
            pod("e", "ns", &[]),
        ];
        for pdbs_first in [true, false] {
            let inv = reduce(&pdbs, &pods, pdbs_first);
            let got: Vec<Vec<usize>> = inv.pods.iter().map(|p| p.pdbs.clone()).collect();
            // web=0, web-front=1, all=2, expr=3, db=4
            assert_eq!(
                got,
                vec![vec![0, 1, 2, 3], vec![0, 2], vec![2, 4], vec![], vec![2]],
                "pdbs_first={pdbs_first}"
            );
        }
    }
}
