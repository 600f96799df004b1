//! The reducer: takes Kubernetes objects one at a time (from API pages or a snapshot
//! stream) and keeps only the facts `check` needs. Shared by the live and snapshot readers so
//! both produce the same `Inventory` from the same objects. Every reduction is a `facts`
//! constructor and every drain verdict is [`preflight::verdict`]: this file only decides what
//! to keep.

use crate::facts::inventory::{CoveredPods, Inventory, KubeadmFacts};
use crate::facts::node::NodeFacts;
use crate::facts::pdb::{PdbFacts, PdbIndex, PdbVersion};
use crate::facts::pod::{component_of, PodFacts};
use crate::policy::filters::FilterOptions;
use crate::policy::preflight::{self, Verdict};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, HashMap};

/// Whether a node label is kept: roles, and what setup detection reads.
pub(crate) fn keep_node_label(key: &str) -> bool {
    key.starts_with("node-role.kubernetes.io/")
        || key == "kubernetes.io/role"
        || crate::policy::setup::reads_label(key)
}

#[derive(Default)]
pub struct Reducer {
    inv: Inventory,
    /// The PDBs, indexed by namespace and label.
    pdb_index: PdbIndex,
    /// When PDBs arrive after pods (snapshots), pods and their labels wait here for matching
    /// at `finish`.
    pending: Vec<(PodFacts, BTreeMap<String, String>)>,
    pdbs_complete: bool,
    /// Node -> PDB index -> pods whose eviction waits on that PDB alone (becomes
    /// `Inventory::covered`).
    covered: BTreeMap<String, BTreeMap<usize, usize>>,
    /// Objects fed so far, by a hash of kind/namespace/name, with a hash of their uid and
    /// resourceVersion: the same object given twice (`--snapshot a --snapshot a`, two copies
    /// in one directory) counts once.
    seen: HashMap<u64, u64>,
    /// Copies dropped: (identical, disagreeing examples `Kind ns/name`, disagreeing count).
    duplicates: (usize, Vec<String>, usize),
    /// `simulate`: every node with all its labels and every running pod with what decides
    /// where it may go (`None` for `check`, which keeps far less).
    world: Option<crate::rollout::simulate::World>,
    /// Helm release Secrets given in a dump or with `--file`, decoded; the revision that
    /// counts is picked at `finish`, as the live scan picks it.
    helm_releases: Vec<(crate::facts::helm::ReleaseRef, serde_json::Value)>,
    /// `simulate`: PersistentVolumeClaims and PersistentVolumes given in a dump.
    volumes: crate::policy::capacity::Volumes,
    /// A pod arrived before the webhook configurations (per-node exposure unknown).
    webhooks_after_pods: bool,
    /// `simulate`: what many pods carry alike (strings, labels, rules), kept once.
    strings: crate::rollout::simulate::Interner,
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

    /// A reducer that also keeps what `simulate` needs ([`Reducer::finish_world`]).
    pub fn for_simulation(source: impl Into<String>) -> Self {
        Reducer {
            world: Some(Default::default()),
            ..Reducer::new(source)
        }
    }

    /// Finish, with `simulate`'s world: its pods' budgets matched, its notes said.
    pub fn finish_world(mut self) -> (Inventory, crate::rollout::simulate::World) {
        let mut world = self.world.take().unwrap_or_default();
        let index = std::mem::take(&mut self.pdb_index);
        let volumes = std::mem::take(&mut self.volumes);
        let inv = self.finish();
        for p in &mut world.pods {
            p.pdbs = index
                .covering(&inv.pdbs, &p.moving.namespace, &p.moving.labels)
                .into();
        }
        world.pdbs = inv.pdbs.clone();
        world.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        world.notes = inv.notes.clone();
        world.admission = inv.admission.clone();
        world.apply_volumes(&volumes);
        (inv, world)
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

    /// The names of the nodes fed so far.
    pub fn node_names(&self) -> Vec<String> {
        self.inv.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Nodes fed so far.
    pub fn node_count(&self) -> usize {
        self.inv.nodes.len()
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.inv.notes.push(note.into());
    }

    /// Is this the first copy of the object? A later copy is dropped and counted; one whose
    /// uid or resourceVersion differs from the first is said to disagree (the first is kept).
    fn first_copy(&mut self, kind: &str, meta: &ObjectMeta) -> bool {
        use std::hash::{Hash, Hasher};
        let hash = |parts: &[&str]| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            parts.hash(&mut h);
            h.finish()
        };
        let (ns, name) = (
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
        if name.is_empty() {
            return true; // nameless objects cannot be told apart: keep each
        }
        let key = hash(&[kind, ns, name]);
        let content = hash(&[
            meta.uid.as_deref().unwrap_or_default(),
            meta.resource_version.as_deref().unwrap_or_default(),
        ]);
        match self.seen.insert(key, content) {
            None => true,
            Some(first) => {
                self.seen.insert(key, first);
                if first == content {
                    self.duplicates.0 += 1;
                } else {
                    self.duplicates.2 += 1;
                    if self.duplicates.1.len() < 5 {
                        let shown = if ns.is_empty() {
                            format!("{kind} {name}")
                        } else {
                            format!("{kind} {ns}/{name}")
                        };
                        self.duplicates.1.push(shown);
                    }
                }
                false
            }
        }
    }

    pub fn node(&mut self, node: Node) {
        if !self.first_copy("Node", &node.metadata) {
            return;
        }
        if let Some(w) = self.world.as_mut() {
            w.nodes.push(NodeFacts::from_node(node.clone(), |_| true));
        }
        let facts = NodeFacts::from_node(node, keep_node_label);
        self.inv.nodes.push(facts);
    }

    /// A policy/v1 PDB.
    pub fn pdb(&mut self, pdb: PodDisruptionBudget) {
        self.pdb_as(&pdb, PdbVersion::V1);
    }

    /// A PDB read as `version` (v1beta1 gives `{}` the opposite meaning).
    pub fn pdb_as(&mut self, pdb: &PodDisruptionBudget, version: PdbVersion) {
        if !self.first_copy("PodDisruptionBudget", &pdb.metadata) {
            return;
        }
        let served = match version {
            PdbVersion::V1 => "policy/v1",
            PdbVersion::V1beta1 => "policy/v1beta1",
        };
        self.api_object("PodDisruptionBudget", served, &pdb.metadata);
        let facts = PdbFacts::from_pdb(pdb, version);
        self.pdb_index.add(self.inv.pdbs.len(), &facts);
        self.inv.pdbs.push(facts);
    }

    /// An object of a kind the API scan reads, as `served` (the version it was read with).
    pub fn api_object(
        &mut self,
        kind: &str,
        served: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) {
        self.inv
            .api_usages
            .extend(crate::facts::apiusage::from_server_object(
                kind, served, meta,
            ));
    }

    /// A usage found elsewhere (a manifest, a Helm release, the API server's metric).
    pub fn api_usage(&mut self, usage: crate::facts::apiusage::Usage) {
        self.inv.api_usages.push(usage);
    }

    pub fn crd(&mut self, crd: crate::facts::apiusage::CrdFacts) {
        self.inv.crds.push(crd);
    }

    /// A component's configuration; one identical to one already kept (every kube-proxy pod
    /// of a DaemonSet) is not kept again.
    pub fn component_config(&mut self, c: crate::facts::config::ComponentConfig) {
        let same = |k: &crate::facts::config::ComponentConfig| {
            k.component == c.component && k.flags == c.flags && k.gates == c.gates
        };
        if c.source.starts_with("pod ") && self.inv.component_configs.iter().any(same) {
            return;
        }
        self.inv.component_configs.push(c);
    }

    pub fn configmap(&mut self, cm: ConfigMap) {
        if !self.first_copy("ConfigMap", &cm.metadata) {
            return;
        }
        for c in crate::facts::config::of_configmap(&cm) {
            self.component_config(c);
        }
        let meta = cm.metadata;
        if meta.namespace.as_deref() == Some("kube-system")
            && meta.name.as_deref() == Some("kube-proxy")
        {
            let mode = cm
                .data
                .as_ref()
                .and_then(|d| d.get("config.conf"))
                .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(text).ok())
                .and_then(|v| v.get("mode").and_then(|m| m.as_str()).map(str::to_string));
            self.inv.kube_proxy_mode = Some(mode.unwrap_or_default());
            return;
        }
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

    /// A Helm release Secret from a file (`data.release` as the Secret holds it).
    pub fn helm_release_secret(
        &mut self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        data: &[u8],
    ) {
        let Some(r) = crate::facts::helm::ReleaseRef::of(namespace, labels) else {
            return;
        };
        match crate::facts::helm::decode_release(data) {
            Ok(v) => self.helm_releases.push((r, v)),
            Err(e) => self.note(format!(
                "Helm release {namespace}/{} revision {} not read: {e}",
                r.release, r.revision
            )),
        }
    }

    /// The Helm releases given as Secrets: the revision of each that counts, its manifest's
    /// API usages and its chart.
    fn finish_helm(&mut self) {
        let releases = std::mem::take(&mut self.helm_releases);
        let refs: Vec<crate::facts::helm::ReleaseRef> =
            releases.iter().map(|(r, _)| r.clone()).collect();
        for c in crate::facts::helm::current(&refs) {
            let Some((r, v)) = releases.iter().find(|(r, _)| r == c) else {
                continue;
            };
            let (usages, _) = crate::facts::helm::manifest_usages(v, &r.namespace, &r.release);
            for u in usages {
                self.api_usage(u);
            }
            self.helm_chart(crate::facts::helm::chart_of(v, &r.namespace, &r.release));
        }
    }

    /// A deployed Helm release's chart.
    pub fn helm_chart(&mut self, c: crate::facts::helm::ChartFacts) {
        self.inv.helm_charts.push(c);
    }

    /// The connection's certificates (live only).
    pub fn certificates(&mut self, certs: Vec<crate::facts::cert::CertFacts>) {
        self.inv.certificates = certs;
    }

    /// A PersistentVolumeClaim (`simulate`: where its pod's volume is bound).
    pub fn volume_claim(&mut self, c: &k8s_openapi::api::core::v1::PersistentVolumeClaim) {
        if self.world.is_some() {
            self.volumes.add_claim(c);
        }
    }

    /// A PersistentVolume (`simulate`: its node affinity).
    pub fn volume(&mut self, v: &k8s_openapi::api::core::v1::PersistentVolume) {
        if self.world.is_some() {
            self.volumes.add_volume(v);
        }
    }

    /// A webhook configuration, EndpointSlice or Namespace.
    pub fn admission(&mut self, o: crate::facts::webhook::AdmissionObject) {
        use crate::facts::webhook::AdmissionObject as A;
        let webhooks = matches!(o, A::Validating(_) | A::Mutating(_));
        if webhooks && self.inv.pods_seen > 0 {
            self.webhooks_after_pods = true;
        }
        self.inv.admission.add(&o);
    }

    pub fn pod(&mut self, pod: Pod) {
        if !self.first_copy("Pod", &pod.metadata) {
            return;
        }
        self.inv.pods_seen += 1;
        if let Some((kind, component)) = component_of(&pod) {
            if crate::facts::config::COMPONENTS.contains(&kind.name()) {
                let source = format!("pod kube-system/{}", component.pod);
                if let Some(c) = serde_json::to_value(&pod)
                    .ok()
                    .and_then(|v| crate::facts::config::of_pod(&v, source))
                {
                    self.component_config(c);
                }
            }
            self.inv.components_mut(kind).push(component);
        }
        let mut facts = PodFacts::from_pod(&pod);
        if let Some(w) = self.world.as_mut() {
            if facts.node.is_some() && !facts.is_finished() && !facts.deleting {
                let sim = crate::rollout::simulate::SimPod::from_pod(
                    &pod,
                    &facts,
                    &[],
                    &mut self.strings,
                );
                // Grown in steps, not doubled: a doubled Vec of 150,000 pods would leave
                // MB unused.
                if w.pods.len() == w.pods.capacity() {
                    w.pods.reserve_exact(8192);
                }
                w.pods.push(sim);
            }
            // The simulation keeps its own pods; what `check`'s drain preview and load
            // figures keep of them is not read.
            return;
        }
        if let Some(node) = facts.node.as_deref() {
            if !facts.is_finished() {
                let r = crate::facts::resources::Resources::requested_by(&pod);
                let load = match self.inv.load.get_mut(node) {
                    Some(l) => l,
                    None => self.inv.load.entry(node.to_string()).or_default(),
                };
                load.requested.add(r);
                if facts.moves_on_drain() {
                    load.movable.add(r);
                }
            }
        }
        let labels = pod.metadata.labels.unwrap_or_default();
        if !self.inv.admission.webhooks.is_empty() && facts.moves_on_drain() && !facts.is_finished()
        {
            if let Some(node) = facts.node.as_deref() {
                let adm = &self.inv.admission;
                let exposure = self
                    .inv
                    .webhook_exposure
                    .get_or_insert_with(Default::default)
                    .entry(node.to_string())
                    .or_insert_with(|| crate::policy::webhooks::Exposure::new(adm));
                exposure.add(
                    adm,
                    &facts.key(),
                    &facts.namespace,
                    &labels,
                    facts.controller_kind.is_some(),
                );
            }
        }
        if self.pdbs_complete {
            facts.pdbs = self.matching_pdbs(&facts.namespace, &labels);
            self.keep(facts);
        } else {
            // PDBs still to come: keep the pod until `finish` can match it.
            self.pending.push((facts, labels));
        }
    }

    /// Keep what the drain preview needs of a pod whose PDBs are known: the pod itself when
    /// the preview names it, a count when its eviction waits on one PDB's budget, nothing
    /// when it would simply go.
    fn keep(&mut self, pod: PodFacts) {
        let Some(node) = pod.node.as_deref() else {
            return; // not scheduled: nothing to drain
        };
        let opts = FilterOptions::default();
        match preflight::verdict(&pod, None, &opts, &self.inv.pdbs, true) {
            Verdict::Skip(_) | Verdict::Block(_) | Verdict::Refused(_) => self.inv.pods.push(pod),
            Verdict::WaitsOn(pdb) => {
                let per_pdb = match self.covered.get_mut(node) {
                    Some(m) => m,
                    None => self.covered.entry(node.to_string()).or_default(),
                };
                *per_pdb.entry(pdb).or_default() += 1;
            }
            Verdict::Removed(_) => {}
        }
    }

    fn matching_pdbs(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Vec<usize> {
        self.pdb_index.covering(&self.inv.pdbs, namespace, labels)
    }

    pub fn finish(mut self) -> Inventory {
        self.finish_helm();
        let (same, examples, differing) = std::mem::take(&mut self.duplicates);
        if same > 0 {
            self.note(format!(
                "{same} object(s) were given more than once (the same file twice, or copies in one directory) and are counted once"
            ));
        }
        if differing > 0 {
            self.note(format!(
                "{differing} object(s) appear twice with different contents (another uid or resourceVersion: copies from different times?); the first copy read is used: {}",
                crate::findings::bounded(&examples, crate::findings::NAMES_SHOWN)
            ));
        }
        self.seen = HashMap::new();
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
        if self.webhooks_after_pods {
            self.inv.webhook_exposure = None;
            self.note(
                "admission webhook configurations came after the pods in the input: each webhook is taken to apply to every node's pods (give them before the pods for a per-node verdict)",
            );
        } else if self.inv.webhook_exposure.is_none() {
            self.inv.webhook_exposure = Some(Default::default());
        }
        self.inv
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, LabelSelectorRequirement, ObjectMeta,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

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
            let preview = crate::policy::preview::preview(&inv);
            assert!(
                preview.iter().any(|f| f.message.contains("n1")),
                "the covered pods' budget must show: {preview:?}"
            );
            let mut full = inv.clone();
            full.covered.clear();
            full.pods.push(facts("covered-1", vec![0]));
            full.pods.push(facts("covered-2", vec![0]));
            full.pods.push(facts("plain", vec![]));
            assert_eq!(crate::policy::preview::preview(&full), preview);
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

    /// The reducer keeps only the node labels its rules read; the reduction itself (roles,
    /// taints, progress) is `NodeFacts::from_node`'s, tested there.
    #[test]
    fn reducer_keeps_only_the_labels_check_reads() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "eks.amazonaws.com/nodegroup": "ng-1",
                "team": "a"
            }}
        }))
        .unwrap();
        let all = NodeFacts::from_node(node.clone(), |_| true);
        let mut r = Reducer::new("t");
        r.node(node);
        let kept = r.finish().nodes.remove(0);
        assert_eq!(kept.roles, all.roles);
        assert!(kept.labels.contains_key("eks.amazonaws.com/nodegroup"));
        assert!(all.labels.contains_key("team") && !kept.labels.contains_key("team"));
    }
}
