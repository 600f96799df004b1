//! PodDisruptionBudget arithmetic: which budgets can never allow an eviction, which allow none
//! right now, pods covered by several budgets (the Eviction API answers 500), and the drain
//! preview that `check` shows.

use crate::drain::filters::{self, BlockReason, Decision, SkipReason};
use crate::inventory::{IntOrPercent, Inventory, PdbFacts};
use crate::report::{Finding, Section, Severity};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// Rule text cited by eviction findings.
pub const RULE_EVICTION: &str =
    "policy/v1 Eviction answers 429 while the PDB's disruptionsAllowed is 0, and 500 when several PDBs select the pod";
/// Rule text cited by filter findings.
pub const RULE_FILTERS: &str = "kubectl drain filters: unmanaged pods need --force, emptyDir pods need --delete-emptydir-data; DaemonSet and mirror pods are skipped";

/// Scale an int-or-percent against `total` like the disruption controller
/// (`GetScaledValueFromIntOrPercent`): percentages round up.
pub fn scaled(v: IntOrPercent, total: i32) -> i32 {
    match v {
        IntOrPercent::Int(n) => n,
        IntOrPercent::Percent(p) => {
            let total = i64::from(total.max(0));
            let num = i64::from(p) * total;
            i32::try_from((num + 99) / 100).unwrap_or(i32::MAX)
        }
    }
}

fn show(v: IntOrPercent) -> String {
    match v {
        IntOrPercent::Int(n) => n.to_string(),
        IntOrPercent::Percent(p) => format!("{p}%"),
    }
}

/// Why the budget can never allow a voluntary eviction, whatever happens to its pods (with
/// the numbers), or `None`. Only what is provable is said:
/// - from the spec alone: `minAvailable` 100% or more, `maxUnavailable` 0 or 0%;
/// - from a status the disruption controller has observed: `minAvailable` (or its rounded-up
///   percentage) at or above `expectedPods`, or `desiredHealthy >= expectedPods`.
///
/// An unobserved status proves nothing: the pods we happen to see (say, on the node being
/// drained) are not the controller's count. Such a budget allows nothing *yet* (the Eviction API
/// answers 429 until the status is observed), which [`assess`] reports as [`Budget::ZeroNow`].
pub fn never_allows(p: &PdbFacts) -> Option<String> {
    if let Some(IntOrPercent::Percent(pct)) = p.min_available {
        if pct >= 100 {
            return Some(format!("minAvailable {pct}%: every pod must stay up"));
        }
    }
    match p.max_unavailable {
        Some(IntOrPercent::Int(n)) if n <= 0 => {
            return Some(format!("maxUnavailable {n}: no pod may be down"))
        }
        Some(IntOrPercent::Percent(0)) => {
            return Some("maxUnavailable 0%: no pod may be down".into())
        }
        _ => {}
    }
    if !p.observed || p.expected_pods <= 0 {
        return None;
    }
    let expected = p.expected_pods;
    match p.min_available {
        Some(IntOrPercent::Int(n)) if n >= expected => {
            return Some(format!(
                "minAvailable {n} with {expected} expected pod{}: evicting any would go below it",
                if expected == 1 { "" } else { "s" }
            ))
        }
        Some(v @ IntOrPercent::Percent(_)) if scaled(v, expected) >= expected => {
            return Some(format!(
                "minAvailable {} of {expected} pods rounds up to {}: evicting any would go below it",
                show(v),
                scaled(v, expected)
            ))
        }
        _ => {}
    }
    if p.desired_healthy >= expected {
        return Some(format!(
            "needs {} healthy of {expected} expected pods",
            p.desired_healthy
        ));
    }
    None
}

/// One line with the budget's numbers, e.g. `maxUnavailable 20%; healthy 4/5, desired 4, allowed 0`.
pub fn numbers(p: &PdbFacts) -> String {
    let spec = match (p.min_available, p.max_unavailable) {
        (Some(m), _) => format!("minAvailable {}", show(m)),
        (None, Some(m)) => format!("maxUnavailable {}", show(m)),
        (None, None) => "no minAvailable/maxUnavailable".to_string(),
    };
    if !p.observed {
        return format!("{spec}; status not yet observed by the disruption controller");
    }
    format!(
        "{spec}; healthy {}/{}, desired {}, disruptionsAllowed {}",
        p.current_healthy, p.expected_pods, p.desired_healthy, p.disruptions_allowed
    )
}

/// Where a budget stands for evictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// Can never allow one (reason with numbers).
    Never(String),
    /// Allows none right now (unhealthy pods or not yet observed); may recover.
    ZeroNow,
    /// Allows this many evictions now.
    Allows(i32),
}

/// Classify a budget (see [`never_allows`] for what counts as never).
pub fn assess(p: &PdbFacts) -> Budget {
    if let Some(why) = never_allows(p) {
        return Budget::Never(why);
    }
    if !p.observed || p.disruptions_allowed <= 0 {
        return Budget::ZeroNow;
    }
    Budget::Allows(p.disruptions_allowed)
}

/// `ns/name`
pub fn key(p: &PdbFacts) -> String {
    format!("{}/{}", p.namespace, p.name)
}

/// Does the budget select a pod in `namespace` with these labels (policy/v1 semantics: an
/// empty selector selects every pod in the namespace, a missing one selects none)?
pub fn selects(p: &PdbFacts, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
    if p.namespace != namespace {
        return false;
    }
    if p.selects_all {
        return true;
    }
    if p.match_labels.is_empty() && p.match_expressions.is_empty() {
        return false;
    }
    p.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && p.match_expressions.iter().all(|(k, op, vals)| {
            let have = labels.get(k);
            match op.as_str() {
                "In" => have.is_some_and(|v| vals.contains(v)),
                "NotIn" => have.is_none_or(|v| !vals.contains(v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

fn int_or_percent(v: &IntOrString) -> Option<IntOrPercent> {
    match v {
        IntOrString::Int(n) => Some(IntOrPercent::Int(*n)),
        IntOrString::String(s) => {
            let s = s.trim();
            match s.strip_suffix('%') {
                Some(p) => p.trim().parse().ok().map(IntOrPercent::Percent),
                None => s.parse().ok().map(IntOrPercent::Int),
            }
        }
    }
}

/// Reduce a live PDB to [`PdbFacts`].
pub fn facts(pdb: &PodDisruptionBudget) -> PdbFacts {
    let meta = &pdb.metadata;
    let spec = pdb.spec.as_ref();
    let selector = spec.and_then(|s| s.selector.as_ref());
    let status = pdb.status.as_ref();
    let generation = meta.generation.unwrap_or(0);
    PdbFacts {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        min_available: spec
            .and_then(|s| s.min_available.as_ref())
            .and_then(int_or_percent),
        max_unavailable: spec
            .and_then(|s| s.max_unavailable.as_ref())
            .and_then(int_or_percent),
        selects_all: selector.is_some_and(|s| {
            s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(|m| m.is_empty())
        }),
        match_labels: selector
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_default(),
        match_expressions: selector
            .and_then(|s| s.match_expressions.as_ref())
            .map(|es| {
                es.iter()
                    .map(|e| {
                        (
                            e.key.clone(),
                            e.operator.clone(),
                            e.values.clone().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        current_healthy: status.and_then(|s| s.current_healthy).unwrap_or(0),
        desired_healthy: status.and_then(|s| s.desired_healthy).unwrap_or(0),
        expected_pods: status.and_then(|s| s.expected_pods).unwrap_or(0),
        disruptions_allowed: status.and_then(|s| s.disruptions_allowed).unwrap_or(0),
        observed: status
            .and_then(|s| s.observed_generation)
            .is_some_and(|g| g >= generation),
    }
}

/// List at most `n` names, then `+K more`.
pub fn some_names<S: AsRef<str>>(names: &[S], n: usize) -> String {
    let shown: Vec<&str> = names.iter().take(n).map(|s| s.as_ref()).collect();
    let mut out = shown.join(", ");
    if names.len() > n {
        out.push_str(&format!(" (+{} more)", names.len() - n));
    }
    out
}

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
    let budgets: Vec<Budget> = inv.pdbs.iter().map(assess).collect();
    let mut per_node: BTreeMap<&str, NodeBlockers> = BTreeMap::new();
    for n in &inv.nodes {
        per_node.entry(n.name.as_str()).or_default();
    }
    let mut pdb_nodes: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    let opts = filters::FilterOptions::default();
    for pod in &inv.pods {
        let Some(node) = pod.node.as_deref() else {
            continue;
        };
        let b = per_node.entry(node).or_default();
        let name = format!("{}/{}", pod.namespace, pod.name);
        match filters::decide(pod, None, &opts) {
            Decision::Skip(SkipReason::DaemonSet) => b.daemonset += 1,
            Decision::Skip(_) => b.mirror += 1,
            Decision::Completed | Decision::WaitOnly => {}
            Decision::Block(reasons) => {
                for r in reasons {
                    match r {
                        BlockReason::Unmanaged => b.unmanaged.push(name.clone()),
                        BlockReason::EmptyDir => b.empty_dir.push(name.clone()),
                    }
                }
            }
            Decision::Evict => {
                let valid: Vec<usize> = pod
                    .pdbs
                    .iter()
                    .copied()
                    .filter(|&i| i < inv.pdbs.len())
                    .collect();
                if valid.len() > 1 {
                    let names: Vec<String> = valid.iter().map(|&i| key(&inv.pdbs[i])).collect();
                    b.multi.push(format!("{name} ({})", names.join(" + ")));
                } else if let Some(&i) = valid.first() {
                    tally(&budgets[i], i, 1, node, b, &mut pdb_nodes);
                }
            }
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
            format!("pdb {}", key(p)),
            format!(
                "{what}: {}; blocks draining {}",
                numbers(p),
                some_names(&nodes, SHOW)
            ),
            RULE_EVICTION,
        ));
    }

    let mut clean = 0usize;
    let mut skipped_total = (0usize, 0usize);
    for (node, b) in &per_node {
        skipped_total.0 += b.daemonset;
        skipped_total.1 += b.mirror;
        if !b.is_blocked() {
            clean += 1;
            continue;
        }
        let mut parts = Vec::new();
        let mut severity = Severity::Warn;
        if !b.never.is_empty() {
            severity = Severity::Violation;
            let pods: usize = b.never.values().sum();
            let names: Vec<String> = b.never.keys().map(|&i| key(&inv.pdbs[i])).collect();
            parts.push(format!(
                "{pods} pod(s) under PDBs that never allow eviction ({})",
                some_names(&names, SHOW)
            ));
        }
        if !b.multi.is_empty() {
            severity = Severity::Violation;
            parts.push(format!(
                "{} pod(s) covered by several PDBs, eviction answers 500: {}",
                b.multi.len(),
                some_names(&b.multi, SHOW)
            ));
        }
        if !b.zero_now.is_empty() {
            let pods: usize = b.zero_now.values().sum();
            let names: Vec<String> = b.zero_now.keys().map(|&i| key(&inv.pdbs[i])).collect();
            parts.push(format!(
                "{pods} pod(s) under PDBs allowing 0 disruptions now ({})",
                some_names(&names, SHOW)
            ));
        }
        if !b.unmanaged.is_empty() {
            parts.push(format!(
                "{} unmanaged pod(s) need --force: {}",
                b.unmanaged.len(),
                some_names(&b.unmanaged, SHOW)
            ));
        }
        if !b.empty_dir.is_empty() {
            parts.push(format!(
                "{} pod(s) with emptyDir need --delete-emptydir-data: {}",
                b.empty_dir.len(),
                some_names(&b.empty_dir, SHOW)
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
        findings.push(Finding::new(
            Section::Drain,
            severity,
            format!("node {node}"),
            format!("drain blocked: {}{skipped}", parts.join("; ")),
            if b.never.is_empty() && b.multi.is_empty() {
                RULE_FILTERS
            } else {
                RULE_EVICTION
            },
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{NodeFacts, PodFacts};
    use IntOrPercent::{Int, Percent};

    /// A budget whose status is what the disruption controller would compute with `allowed`.
    fn pdb(
        min: Option<IntOrPercent>,
        max: Option<IntOrPercent>,
        expected: i32,
        allowed: i32,
    ) -> PdbFacts {
        let desired = match (min, max) {
            (Some(m), _) => scaled(m, expected),
            (None, Some(m)) => (expected - scaled(m, expected)).max(0),
            _ => 0,
        };
        PdbFacts {
            namespace: "app".into(),
            name: "web".into(),
            min_available: min,
            max_unavailable: max,
            current_healthy: desired + allowed,
            desired_healthy: desired,
            expected_pods: expected,
            disruptions_allowed: allowed,
            observed: true,
            ..PdbFacts::default()
        }
    }

    #[test]
    fn scaling_rounds_up() {
        let cases = [
            (Percent(20), 5, 1),
            (Percent(20), 6, 2),
            (Percent(10), 1, 1),
            (Percent(0), 10, 0),
            (Percent(100), 3, 3),
            (Percent(50), 0, 0),
            (Int(2), 10, 2),
        ];
        for (v, total, want) in cases {
            assert_eq!(scaled(v, total), want, "{v:?} of {total}");
        }
    }

    #[test]
    fn never_allows_table() {
        let unobserved = |p: PdbFacts| PdbFacts {
            observed: false,
            expected_pods: 0,
            desired_healthy: 0,
            current_healthy: 0,
            disruptions_allowed: 0,
            ..p
        };
        let cases: Vec<(&str, PdbFacts, bool)> = vec![
            (
                "minAvailable == expected",
                pdb(Some(Int(3)), None, 3, 0),
                true,
            ),
            (
                "minAvailable > expected",
                pdb(Some(Int(5)), None, 3, 0),
                true,
            ),
            (
                "minAvailable < expected",
                pdb(Some(Int(2)), None, 3, 1),
                false,
            ),
            (
                "single replica minAvailable 1",
                pdb(Some(Int(1)), None, 1, 0),
                true,
            ),
            (
                "minAvailable 100%",
                pdb(Some(Percent(100)), None, 4, 0),
                true,
            ),
            (
                "minAvailable 50% of 1 rounds up",
                pdb(Some(Percent(50)), None, 1, 0),
                true,
            ),
            (
                "minAvailable 50% of 4",
                pdb(Some(Percent(50)), None, 4, 2),
                false,
            ),
            ("maxUnavailable 0", pdb(None, Some(Int(0)), 3, 0), true),
            ("maxUnavailable 0%", pdb(None, Some(Percent(0)), 3, 0), true),
            (
                "maxUnavailable 20%",
                pdb(None, Some(Percent(20)), 5, 1),
                false,
            ),
            (
                "maxUnavailable 1 of 1",
                pdb(None, Some(Int(1)), 1, 1),
                false,
            ),
            ("minAvailable 0", pdb(Some(Int(0)), None, 2, 2), false),
            // Not observed yet: only the spec proves anything.
            (
                "unobserved minAvailable 1: unknown, not never",
                unobserved(pdb(Some(Int(1)), None, 0, 0)),
                false,
            ),
            (
                "unobserved minAvailable 2 (maybe 2 pods on this node, more elsewhere)",
                unobserved(pdb(Some(Int(2)), None, 2, 0)),
                false,
            ),
            (
                "unobserved minAvailable 50%",
                unobserved(pdb(Some(Percent(50)), None, 1, 0)),
                false,
            ),
            (
                "unobserved maxUnavailable 0",
                unobserved(pdb(None, Some(Int(0)), 0, 0)),
                true,
            ),
            (
                "unobserved maxUnavailable 0%",
                unobserved(pdb(None, Some(Percent(0)), 0, 0)),
                true,
            ),
            (
                "unobserved minAvailable 100%",
                unobserved(pdb(Some(Percent(100)), None, 0, 0)),
                true,
            ),
            (
                "observed but stale numbers from an older generation count as unobserved",
                PdbFacts {
                    observed: false,
                    ..pdb(Some(Int(3)), None, 3, 0)
                },
                false,
            ),
            (
                "observed desiredHealthy >= expectedPods",
                PdbFacts {
                    desired_healthy: 4,
                    ..pdb(None, Some(Int(1)), 4, 0)
                },
                true,
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(
                never_allows(&p).is_some(),
                want,
                "{name}: {:?}",
                never_allows(&p)
            );
        }
        let why = never_allows(&pdb(Some(Int(1)), None, 1, 0)).unwrap();
        assert!(
            why.contains("minAvailable 1") && why.contains("1 expected pod"),
            "{why}"
        );
    }

    #[test]
    fn assess_and_numbers() {
        assert_eq!(
            assess(&pdb(None, Some(Percent(20)), 5, 1)),
            Budget::Allows(1)
        );
        assert_eq!(assess(&pdb(None, Some(Percent(20)), 5, 0)), Budget::ZeroNow);
        assert!(matches!(
            assess(&pdb(None, Some(Int(0)), 5, 0)),
            Budget::Never(_)
        ));
        let unobserved = PdbFacts {
            observed: false,
            ..pdb(Some(Int(1)), None, 3, 2)
        };
        assert_eq!(assess(&unobserved), Budget::ZeroNow);
        assert_eq!(
            numbers(&pdb(None, Some(Percent(20)), 5, 0)),
            "maxUnavailable 20%; healthy 4/5, desired 4, disruptionsAllowed 0"
        );
        assert!(numbers(&unobserved).contains("not yet observed"));
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "fe".to_string()),
        ]
        .into();
        let base = PdbFacts {
            namespace: "app".into(),
            ..PdbFacts::default()
        };
        let with = |ml: &[(&str, &str)], me: Vec<(&str, &str, Vec<&str>)>| PdbFacts {
            match_labels: ml
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            match_expressions: me
                .into_iter()
                .map(|(k, o, v)| {
                    (
                        k.to_string(),
                        o.to_string(),
                        v.into_iter().map(str::to_string).collect(),
                    )
                })
                .collect(),
            ..base.clone()
        };
        let cases = vec![
            ("nil selector selects none", base.clone(), "app", false),
            (
                "empty selector selects all",
                PdbFacts {
                    selects_all: true,
                    ..base.clone()
                },
                "app",
                true,
            ),
            (
                "other namespace",
                with(&[("app", "web")], vec![]),
                "other",
                false,
            ),
            ("labels match", with(&[("app", "web")], vec![]), "app", true),
            (
                "labels differ",
                with(&[("app", "db")], vec![]),
                "app",
                false,
            ),
            (
                "In",
                with(&[], vec![("tier", "In", vec!["fe", "be"])]),
                "app",
                true,
            ),
            (
                "NotIn",
                with(&[], vec![("tier", "NotIn", vec!["fe"])]),
                "app",
                false,
            ),
            (
                "NotIn absent key",
                with(&[], vec![("zone", "NotIn", vec!["a"])]),
                "app",
                true,
            ),
            (
                "Exists",
                with(&[], vec![("tier", "Exists", vec![])]),
                "app",
                true,
            ),
            (
                "DoesNotExist",
                with(&[], vec![("tier", "DoesNotExist", vec![])]),
                "app",
                false,
            ),
            (
                "labels and expression",
                with(&[("app", "web")], vec![("tier", "In", vec!["be"])]),
                "app",
                false,
            ),
        ];
        for (name, p, ns, want) in cases {
            assert_eq!(selects(&p, ns, &labels), want, "{name}");
        }
    }

    #[test]
    fn facts_from_k8s() {
        let pdb: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "app", "name": "web", "generation": 2},
            "spec": {"maxUnavailable": "20%", "selector": {"matchLabels": {"app": "web"}}},
            "status": {"currentHealthy": 5, "desiredHealthy": 4, "expectedPods": 5, "disruptionsAllowed": 1, "observedGeneration": 2}
        }))
        .unwrap();
        let f = facts(&pdb);
        assert_eq!(f.max_unavailable, Some(Percent(20)));
        assert_eq!(f.min_available, None);
        assert!(f.observed && !f.selects_all);
        assert_eq!(f.disruptions_allowed, 1);
        assert_eq!(f.match_labels.get("app").map(String::as_str), Some("web"));
        let all: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "app", "name": "all", "generation": 3},
            "spec": {"minAvailable": 1, "selector": {}},
            "status": {"currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0, "disruptionsAllowed": 0, "observedGeneration": 2}
        }))
        .unwrap();
        let f = facts(&all);
        assert!(f.selects_all && !f.observed);
        assert_eq!(f.min_available, Some(Int(1)));
    }

    fn pod(ns: &str, name: &str, node: &str, kind: Option<&str>, pdbs: Vec<usize>) -> PodFacts {
        PodFacts {
            namespace: ns.into(),
            name: name.into(),
            node: Some(node.into()),
            phase: "Running".into(),
            controller_kind: kind.map(str::to_string),
            pdbs,
            ..PodFacts::default()
        }
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
