//! The drain preview that `check` shows: per node, what would stop or hold up its drain, from
//! the one preflight ([`preflight::verdict`]) that `drain` itself runs.

use crate::facts::inventory::Inventory;
use crate::facts::pdb::Budget;
use crate::findings::{bounded, Finding, Section, Severity};
use crate::policy::filters::{BlockReason, FilterOptions, SkipReason};
use crate::policy::preflight::{self, Verdict, RULE_EVICTION, RULE_FILTERS};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
struct NodeBlockers {
    never: BTreeMap<usize, usize>,
    zero_now: BTreeMap<usize, usize>,
    multi: Vec<String>,
    unmanaged: Vec<String>,
    empty_dir: Vec<String>,
    daemonset: usize,
    mirror: usize,
}

impl NodeBlockers {
    fn is_blocked(&self) -> bool {
        !(self.never.is_empty()
            && self.zero_now.is_empty()
            && self.multi.is_empty()
            && self.unmanaged.is_empty()
            && self.empty_dir.is_empty())
    }
}

/// Count `pods` evictable pods on `node` under PDB `i` alone, when that budget holds them up.
fn tally<'a>(
    budget: &Budget,
    i: usize,
    pods: usize,
    node: &'a str,
    b: &mut NodeBlockers,
    pdb_nodes: &mut BTreeMap<usize, BTreeSet<&'a str>>,
) {
    let held = match budget {
        Budget::Never(_) => &mut b.never,
        Budget::ZeroNow => &mut b.zero_now,
        Budget::Allows(_) => return,
    };
    *held.entry(i).or_default() += pods;
    pdb_nodes.entry(i).or_default().insert(node);
}

/// The drain preview for `check` (Section::Drain): one finding per node with blockers, one per
/// budget that allows no eviction (now or ever), and one summary for the nodes that drain cleanly.
/// Output stays bounded on big clusters: names are listed a few at a time with `+N more`.
pub fn preview(inv: &Inventory) -> Vec<Finding> {
    const SHOW: usize = 3;
    let budgets: Vec<Budget> = inv.pdbs.iter().map(|p| p.budget()).collect();
    let mut per_node: BTreeMap<&str, NodeBlockers> = BTreeMap::new();
    for n in &inv.nodes {
        per_node.entry(n.name.as_str()).or_default();
    }
    let mut pdb_nodes: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    let opts = FilterOptions::default();
    for pod in &inv.pods {
        let Some(node) = pod.node.as_deref() else {
            continue;
        };
        let b = per_node.entry(node).or_default();
        let name = pod.key();
        match preflight::verdict(pod, None, &opts, &inv.pdbs, true) {
            Verdict::Skip(SkipReason::DaemonSet) => b.daemonset += 1,
            Verdict::Skip(_) => b.mirror += 1,
            Verdict::Removed(_) => {}
            Verdict::Block(reasons) => {
                for r in reasons {
                    match r {
                        BlockReason::Unmanaged => b.unmanaged.push(name.clone()),
                        BlockReason::EmptyDir => b.empty_dir.push(name.clone()),
                    }
                }
            }
            Verdict::Refused(pdbs) => {
                let names: Vec<String> = pdbs.iter().map(|&i| inv.pdbs[i].key()).collect();
                b.multi.push(format!("{name} ({})", names.join(" + ")));
            }
            Verdict::WaitsOn(i) => tally(&budgets[i], i, 1, node, b, &mut pdb_nodes),
        }
    }
    for c in inv.covered.iter().filter(|c| c.pdb < inv.pdbs.len()) {
        let b = per_node.entry(c.node.as_str()).or_default();
        tally(&budgets[c.pdb], c.pdb, c.pods, &c.node, b, &mut pdb_nodes);
    }

    let mut findings = Vec::new();
    for (&i, nodes) in &pdb_nodes {
        let p = &inv.pdbs[i];
        let nodes: Vec<&str> = nodes.iter().copied().collect();
        let (severity, what) = match &budgets[i] {
            Budget::Never(why) => (
                Severity::Violation,
                format!("can never allow an eviction ({why})"),
            ),
            _ => (
                Severity::Warn,
                "allows no eviction right now; drains of its pods wait until it recovers"
                    .to_string(),
            ),
        };
        findings.push(Finding::new(
            Section::Drain,
            severity,
            format!("pdb {}", p.key()),
            format!(
                "{what}: {}; blocks draining {}",
                p.numbers(),
                bounded(&nodes, SHOW)
            ),
            RULE_EVICTION,
        ));
    }

    if inv.pods_seen == 0 && inv.pods.is_empty() && inv.covered.is_empty() {
        findings.extend(without_pods(inv, &budgets));
        return findings;
    }
    let (webhook_findings, webhook_blocked) = webhooks(inv);
    findings.extend(webhook_findings);
    let mut clean = 0usize;
    let mut skipped_total = (0usize, 0usize);
    for (node, b) in &per_node {
        skipped_total.0 += b.daemonset;
        skipped_total.1 += b.mirror;
        if webhook_blocked.contains(*node) && !b.is_blocked() {
            continue;
        }
        if !b.is_blocked() {
            clean += 1;
            continue;
        }
        findings.push(node_finding(inv, node, b));
    }
    findings.extend(spare_capacity(inv));
    if clean > 0 {
        findings.push(Finding::new(
            Section::Drain,
            Severity::Ok,
            "nodes",
            format!(
                "{clean} node(s) can be drained without blockers ({} DaemonSet and {} mirror pods in total are skipped)",
                skipped_total.0, skipped_total.1
            ),
            RULE_FILTERS,
        ));
    }
    findings
}

/// Admission webhooks that would stop drains: one finding per webhook and what it does
/// (the nodes whose drain meets it), and the nodes a blocking one stops.
fn webhooks(inv: &Inventory) -> (Vec<Finding>, BTreeSet<String>) {
    use crate::policy::webhooks::{risks, unseen, Exposure, RULE};
    let adm = &inv.admission;
    let mut findings = Vec::new();
    let mut blocked = BTreeSet::new();
    if adm.webhooks.is_empty() {
        return (findings, blocked);
    }
    let all = Exposure::all(adm);
    // (webhook, message) -> (blocks, nodes): a webhook that is down says so once.
    let mut grouped: BTreeMap<(String, String), (bool, Vec<&str>)> = BTreeMap::new();
    for n in &inv.nodes {
        let exposure = match &inv.webhook_exposure {
            Some(m) => match m.get(&n.name) {
                Some(e) => e,
                None => continue, // nothing on it moves
            },
            None => &all,
        };
        for r in risks(adm, &BTreeSet::from([n.name.as_str()]), exposure) {
            if r.blocks {
                blocked.insert(n.name.clone());
            }
            let g = grouped.entry((r.webhook, r.message)).or_default();
            g.0 |= r.blocks;
            g.1.push(n.name.as_str());
        }
    }
    for ((webhook, message), (blocks, nodes)) in grouped {
        let severity = if blocks {
            Severity::Violation
        } else {
            Severity::Warn
        };
        let verb = if blocks { "blocks" } else { "holds up" };
        findings.push(Finding::new(
            Section::Drain,
            severity,
            format!("webhook {webhook}"),
            format!("{message}; {verb} draining {}", bounded(&nodes, 3)),
            RULE,
        ));
    }
    let at_url = unseen(adm);
    if !at_url.is_empty() {
        findings.push(Finding::new(
            Section::Drain,
            Severity::Info,
            "webhooks",
            format!(
                "{} webhook(s) that fail closed on evictions or pod creation are called at a URL, whose reachability is not visible from the API: {}",
                at_url.len(),
                bounded(&at_url, 3)
            ),
            RULE,
        ));
    }
    (findings, blocked)
}

/// A dump of nodes (and maybe PDBs) without pods: what blocks a drain is unknown, except
/// budgets whose own numbers say they never allow an eviction.
fn without_pods(inv: &Inventory, budgets: &[Budget]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, p) in inv.pdbs.iter().enumerate() {
        if let Budget::Never(why) = &budgets[i] {
            findings.push(Finding::new(
                Section::Drain,
                Severity::Violation,
                format!("pdb {}", p.key()),
                format!(
                    "can never allow an eviction ({why}): {}; its pods are not in the input, so which node's drain it blocks is unknown",
                    p.numbers()
                ),
                RULE_EVICTION,
            ));
        }
    }
    findings.push(Finding::new(
        Section::Drain,
        Severity::Info,
        "nodes",
        format!(
            "no pods in the input: what would block draining the {} node(s) is not known; add the pods (kubectl get pods -A -o json) to the dump",
            inv.nodes.len()
        ),
        RULE_FILTERS,
    ));
    findings
}

/// Whether one-at-a-time has room: the pods a drain moves off each worker (by their
/// requests) must fit in what the other Ready, schedulable, untainted nodes have free
/// (allocatable minus requests). Summed over nodes, so before bin-packing, nodeSelectors and
/// affinity: a warning here is certain, its absence is not a promise. `None` when the nodes
/// do not say their allocatable, or every node fits.
pub fn spare_capacity(inv: &Inventory) -> Option<Finding> {
    use crate::facts::resources::Resources;
    if inv.nodes.iter().any(|n| n.allocatable.is_none()) {
        return None;
    }
    let free_on = |n: &crate::facts::node::NodeFacts| {
        let load = inv.load.get(&n.name).copied().unwrap_or_default();
        n.allocatable.unwrap_or_default().minus(load.requested)
    };
    // Without each pod's tolerations, a tainted node is no room for them.
    let takes_pods = |n: &&crate::facts::node::NodeFacts| n.can_take_pods() && !n.keeps_pods_off();
    // Free room over every destination once; each node's own share is taken out again.
    let mut total_free = Resources::default();
    for d in inv.nodes.iter().filter(takes_pods) {
        total_free.add(free_on(d));
    }
    let mut short: Vec<(&str, Resources, Resources)> = Vec::new();
    for n in inv.nodes.iter().filter(|n| !n.is_control_plane()) {
        let moving = inv.load.get(&n.name).map(|l| l.movable).unwrap_or_default();
        if moving.pods == 0 {
            continue;
        }
        let free = if takes_pods(&n) {
            total_free.minus(free_on(n))
        } else {
            total_free
        };
        if !free.holds(moving) {
            short.push((n.name.as_str(), moving, free));
        }
    }
    let (node, moving, free) = *short.iter().max_by_key(|(_, m, _)| m.cpu_millis)?;
    let names: Vec<&str> = short.iter().map(|(n, _, _)| *n).collect();
    Some(Finding::new(
        Section::Drain,
        Severity::Warn,
        "spare capacity",
        format!(
            "one node at a time has no room: draining {node} moves {}, more than the other schedulable nodes have free ({}); pods would stay Pending ({} node(s) like this: {}). Add a node first, or add nodes at the target and use `kubectl upgrade drain-next --strategy replace`",
            moving.text(),
            free.text(),
            names.len(),
            bounded(&names, 3)
        ),
        "scheduler: a pod fits a node when its requests fit the node's allocatable minus what is requested there (kubernetes.io/docs/concepts/scheduling-eviction/kube-scheduler)",
    ))
}

/// The finding for one node with blockers: worst first, names bounded.
fn node_finding(inv: &Inventory, node: &str, b: &NodeBlockers) -> Finding {
    const SHOW: usize = 3;
    let mut parts = Vec::new();
    let mut severity = Severity::Warn;
    if !b.never.is_empty() {
        severity = Severity::Violation;
        let pods: usize = b.never.values().sum();
        let names: Vec<String> = b.never.keys().map(|&i| inv.pdbs[i].key()).collect();
        parts.push(format!(
            "{pods} pod(s) under PDBs that never allow eviction ({})",
            bounded(&names, SHOW)
        ));
    }
    if !b.multi.is_empty() {
        severity = Severity::Violation;
        parts.push(format!(
            "{} pod(s) covered by several PDBs, eviction answers 500: {}",
            b.multi.len(),
            bounded(&b.multi, SHOW)
        ));
    }
    if !b.zero_now.is_empty() {
        let pods: usize = b.zero_now.values().sum();
        let names: Vec<String> = b.zero_now.keys().map(|&i| inv.pdbs[i].key()).collect();
        parts.push(format!(
            "{pods} pod(s) under PDBs allowing 0 disruptions now ({})",
            bounded(&names, SHOW)
        ));
    }
    if !b.unmanaged.is_empty() {
        parts.push(format!(
            "{} unmanaged pod(s) need --force: {}",
            b.unmanaged.len(),
            bounded(&b.unmanaged, SHOW)
        ));
    }
    if !b.empty_dir.is_empty() {
        parts.push(format!(
            "{} pod(s) with emptyDir need --delete-emptydir-data: {}",
            b.empty_dir.len(),
            bounded(&b.empty_dir, SHOW)
        ));
    }
    let skipped = if b.daemonset + b.mirror > 0 {
        format!(
            " ({} DaemonSet and {} mirror pods will be skipped)",
            b.daemonset, b.mirror
        )
    } else {
        String::new()
    };
    Finding::new(
        Section::Drain,
        severity,
        format!("node {node}"),
        format!("drain blocked: {}{skipped}", parts.join("; ")),
        if b.never.is_empty() && b.multi.is_empty() {
            RULE_FILTERS
        } else {
            RULE_EVICTION
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::node::NodeFacts;
    use crate::facts::pdb::tests::pdb;
    use crate::facts::pdb::IntOrPercent::{Int, Percent};
    use crate::facts::pdb::PdbFacts;
    use crate::facts::pod::PodFacts;

    fn pod(ns: &str, name: &str, node: &str, kind: Option<&str>, pdbs: Vec<usize>) -> PodFacts {
        PodFacts {
            namespace: ns.into(),
            name: name.into(),
            node: Some(node.into()),
            phase: "Running".into(),
            ready: true,
            controller_kind: kind.map(str::to_string),
            pdbs,
            ..PodFacts::default()
        }
    }

    #[test]
    fn spare_capacity_warns_when_a_drained_node_cannot_fit_elsewhere() {
        use crate::facts::inventory::NodeLoad;
        use crate::facts::resources::Resources;
        let r = |cpu: u64, gib: u64, pods: u64| Resources {
            cpu_millis: cpu,
            memory_bytes: gib << 30,
            pods,
        };
        let node = |n: &str, alloc: Resources| NodeFacts {
            name: n.into(),
            ready: true,
            allocatable: Some(alloc),
            ..NodeFacts::default()
        };
        let load = |requested: Resources, movable: Resources| NodeLoad { requested, movable };
        let mut inv = Inventory {
            nodes: vec![
                node("big", r(4000, 16, 110)),
                node("small", r(2000, 8, 110)),
            ],
            ..Inventory::default()
        };
        inv.load
            .insert("big".into(), load(r(3000, 10, 20), r(3000, 10, 20)));
        inv.load
            .insert("small".into(), load(r(1000, 2, 5), r(1000, 2, 5)));
        let f = spare_capacity(&inv).expect("big does not fit on small");
        assert_eq!(f.severity, Severity::Warn);
        assert!(
            f.message.contains("draining big moves cpu 3000m"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("(1 node(s) like this: big)"),
            "{}",
            f.message
        );
        // Room enough: nothing said.
        inv.nodes[1].allocatable = Some(r(8000, 32, 110));
        assert!(spare_capacity(&inv).is_none());
        // A cordoned or tainted destination does not count.
        inv.nodes[1].taints = vec!["dedicated=gpu:NoSchedule".into()];
        assert!(spare_capacity(&inv).is_some());
        // Nodes that do not say their allocatable: nothing judged.
        inv.nodes[1].allocatable = None;
        assert!(spare_capacity(&inv).is_none());
    }

    #[test]
    fn without_pods_the_preview_says_it_cannot_judge() {
        let inv = Inventory {
            nodes: vec![NodeFacts {
                name: "n1".into(),
                ready: true,
                ..NodeFacts::default()
            }],
            pdbs: vec![
                PdbFacts {
                    name: "never".into(),
                    ..pdb(Some(Int(1)), None, 1, 0)
                },
                PdbFacts {
                    name: "fine".into(),
                    ..pdb(None, Some(Int(1)), 3, 1)
                },
            ],
            ..Inventory::default()
        };
        let f = preview(&inv);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].subject, "pdb app/never");
        assert_eq!(f[0].severity, Severity::Violation);
        assert!(f[0].message.contains("its pods are not in the input"));
        assert_eq!(f[1].severity, Severity::Info);
        assert!(f[1].message.contains("no pods in the input"));
        assert!(f.iter().all(|x| !x.message.contains("without blockers")));
    }

    #[test]
    fn preview_groups_per_node_and_pdb() {
        let node = |n: &str| NodeFacts {
            name: n.into(),
            ready: true,
            ..NodeFacts::default()
        };
        let never = PdbFacts {
            name: "db".into(),
            ..pdb(Some(Int(1)), None, 1, 0)
        };
        let zero = PdbFacts {
            name: "web".into(),
            ..pdb(None, Some(Percent(20)), 5, 0)
        };
        let fine = PdbFacts {
            name: "api".into(),
            ..pdb(None, Some(Int(1)), 3, 1)
        };
        let mut pods = vec![
            pod("app", "db-0", "n1", Some("StatefulSet"), vec![0]),
            pod("app", "web-1", "n2", Some("ReplicaSet"), vec![1]),
            pod("app", "api-1", "n3", Some("ReplicaSet"), vec![2]),
            pod("app", "both", "n3", Some("ReplicaSet"), vec![1, 2]),
            pod("default", "bare", "n3", None, vec![]),
            PodFacts {
                has_empty_dir: true,
                ..pod("default", "cache", "n3", Some("ReplicaSet"), vec![])
            },
            pod("kube-system", "proxy-a", "n4", Some("DaemonSet"), vec![]),
            PodFacts {
                mirror: true,
                ..pod("kube-system", "etcd-n4", "n4", Some("Node"), vec![])
            },
        ];
        for i in 0..10 {
            pods.push(pod("default", &format!("bare{i}"), "n5", None, vec![]));
        }
        let inv = Inventory {
            nodes: ["n1", "n2", "n3", "n4", "n5"]
                .into_iter()
                .map(node)
                .collect(),
            pdbs: vec![never, zero, fine],
            pods,
            ..Inventory::default()
        };
        let f = preview(&inv);
        let find = |s: &str| {
            f.iter()
                .find(|x| x.subject == s)
                .unwrap_or_else(|| panic!("{s} in {f:#?}"))
        };
        assert_eq!(find("pdb app/db").severity, Severity::Violation);
        assert!(
            find("pdb app/db").message.contains("minAvailable 1"),
            "{}",
            find("pdb app/db").message
        );
        assert!(find("pdb app/db").message.contains("n1"));
        assert_eq!(find("pdb app/web").severity, Severity::Warn);
        assert!(f.iter().all(|x| x.subject != "pdb app/api"));
        assert_eq!(find("node n1").severity, Severity::Violation);
        assert_eq!(find("node n2").severity, Severity::Warn);
        let n3 = &find("node n3").message;
        assert_eq!(find("node n3").severity, Severity::Violation, "{n3}");
        assert!(
            n3.contains("several PDBs") && n3.contains("app/web + app/api"),
            "{n3}"
        );
        assert!(
            n3.contains("--force") && n3.contains("default/bare"),
            "{n3}"
        );
        assert!(
            n3.contains("--delete-emptydir-data") && n3.contains("default/cache"),
            "{n3}"
        );
        let n5 = &find("node n5").message;
        assert!(
            n5.contains("10 unmanaged") && n5.contains("(+7 more)"),
            "{n5}"
        );
        let ok = find("nodes");
        assert_eq!(ok.severity, Severity::Ok);
        assert!(
            ok.message.starts_with("1 node(s)") && ok.message.contains("1 DaemonSet and 1 mirror"),
            "{}",
            ok.message
        );
        assert!(f.iter().all(|x| x.section == Section::Drain));
        // bounded: 5 nodes, 3 PDBs -> at most nodes + PDBs + 1 findings
        assert!(f.len() <= 5 + 3 + 1);
    }
}
