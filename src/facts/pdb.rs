//! A PodDisruptionBudget reduced to its selector, its spec numbers and its status, with the
//! budget arithmetic of the disruption controller (`GetScaledValueFromIntOrPercent`) and the
//! verdicts the drain and the preview share: can it never allow an eviction, does it allow
//! none right now, or how many.
//!
//! Both served versions are read: `policy/v1` (1.21+) and `policy/v1beta1` (up to 1.24),
//! whose fields are the same except that an empty selector `{}` selects *every* pod of the
//! namespace in v1 and *none* in v1beta1.

use crate::facts::selector::{Requirement, Selector};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, HashMap};

/// PDBs indexed by namespace so a pod is tested only against the budgets that can select it:
/// a budget whose selector has an equality requirement is filed under the first one, which
/// every pod it selects must carry; the rest (expressions only, or `{}`) are always tested.
/// [`PdbFacts::covering`] gives the same answer by testing every budget.
#[derive(Debug, Default)]
pub struct PdbIndex {
    by_ns: HashMap<String, NamespacePdbs>,
}

#[derive(Debug, Default)]
struct NamespacePdbs {
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    always: Vec<usize>,
}

impl PdbIndex {
    /// The index of `pdbs`.
    pub fn of(pdbs: &[PdbFacts]) -> PdbIndex {
        let mut index = PdbIndex::default();
        for (i, b) in pdbs.iter().enumerate() {
            index.add(i, b);
        }
        index
    }

    /// File budget `idx` (its position in the list later given to [`PdbIndex::covering`]).
    pub fn add(&mut self, idx: usize, pdb: &PdbFacts) {
        let selector = &pdb.selector;
        if !selector.everything && selector.requirements.is_empty() {
            return; // selects nothing
        }
        let ns = self.by_ns.entry(pdb.namespace.clone()).or_default();
        let first_equality = selector.requirements.iter().find_map(|r| match r {
            Requirement::Equals(k, v) => Some((k, v)),
            _ => None,
        });
        match first_equality {
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

    /// Indices of the budgets in `pdbs` (the indexed list) that select a pod in `namespace`
    /// with these labels, ascending.
    pub fn covering(
        &self,
        pdbs: &[PdbFacts],
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<usize> {
        let Some(ns) = self.by_ns.get(namespace) else {
            return Vec::new();
        };
        let indexed = labels
            .iter()
            .filter_map(|(k, v)| ns.by_label.get(k).and_then(|vals| vals.get(v)))
            .flatten();
        let mut found: Vec<usize> = indexed
            .chain(&ns.always)
            .copied()
            .filter(|&i| pdbs[i].selects(namespace, labels))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// `minAvailable` / `maxUnavailable` of a PDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(u32),
}

impl IntOrPercent {
    /// Reads `3`, `"3"` or `"20%"`; `None` for anything else (the controller leaves such a
    /// PDB unobserved).
    pub fn parse(v: &IntOrString) -> Option<IntOrPercent> {
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

    /// Scale against `total` like the disruption controller: percentages round up.
    pub fn scaled(self, total: i32) -> i32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let total = i64::from(total.max(0));
                i32::try_from((i64::from(p) * total + 99) / 100).unwrap_or(i32::MAX)
            }
        }
    }
}

impl std::fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `spec.unhealthyPodEvictionPolicy` (KEP-3017).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnhealthyPolicy {
    /// Default: a not-ready pod may be evicted while the budget is otherwise met.
    #[default]
    IfHealthyBudget,
    /// Not-ready pods may always be evicted.
    AlwaysAllow,
}

/// Which served version a PDB was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdbVersion {
    V1,
    V1beta1,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PdbFacts {
    pub namespace: String,
    pub name: String,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
    /// With the version's semantics already applied (v1 `{}` = all, v1beta1 `{}` = none).
    pub selector: Selector,
    pub unhealthy_policy: UnhealthyPolicy,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    pub disruptions_allowed: i32,
    /// `status.observedGeneration >= metadata.generation`.
    pub observed: bool,
}

impl PdbFacts {
    /// Reduce a PDB read as `version`.
    pub fn from_pdb(pdb: &PodDisruptionBudget, version: PdbVersion) -> PdbFacts {
        let meta = &pdb.metadata;
        let spec = pdb.spec.as_ref();
        let status = pdb.status.as_ref();
        let generation = meta.generation.unwrap_or(0);
        let raw_selector = spec.and_then(|s| s.selector.as_ref());
        let mut selector = Selector::from_label_selector(raw_selector);
        if version == PdbVersion::V1beta1 && selector.requirements.is_empty() {
            selector = Selector::default(); // v1beta1: `{}` selects no pod
        }
        PdbFacts {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            min_available: spec
                .and_then(|s| s.min_available.as_ref())
                .and_then(IntOrPercent::parse),
            max_unavailable: spec
                .and_then(|s| s.max_unavailable.as_ref())
                .and_then(IntOrPercent::parse),
            selector,
            unhealthy_policy: match spec.and_then(|s| s.unhealthy_pod_eviction_policy.as_deref()) {
                Some("AlwaysAllow") => UnhealthyPolicy::AlwaysAllow,
                _ => UnhealthyPolicy::IfHealthyBudget,
            },
            current_healthy: status.and_then(|s| s.current_healthy).unwrap_or(0),
            desired_healthy: status.and_then(|s| s.desired_healthy).unwrap_or(0),
            expected_pods: status.and_then(|s| s.expected_pods).unwrap_or(0),
            disruptions_allowed: status.and_then(|s| s.disruptions_allowed).unwrap_or(0),
            observed: status
                .and_then(|s| s.observed_generation)
                .is_some_and(|g| g >= generation),
        }
    }

    /// `ns/name`
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Does the budget select a pod in `namespace` with these labels?
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace == namespace && self.selector.matches(labels)
    }

    /// Indices of the budgets in `pdbs` that select a pod in `namespace` with these labels.
    pub fn covering(
        pdbs: &[PdbFacts],
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<usize> {
        pdbs.iter()
            .enumerate()
            .filter(|(_, b)| b.selects(namespace, labels))
            .map(|(i, _)| i)
            .collect()
    }

    /// Why the budget can never allow a voluntary eviction, whatever happens to its pods (with
    /// the numbers), or `None`. Only what is provable is said:
    /// - from the spec alone: `minAvailable` 100% or more, `maxUnavailable` 0 or 0%;
    /// - from a status the disruption controller has observed: `minAvailable` (or its
    ///   rounded-up percentage) at or above `expectedPods`, or `desiredHealthy >= expectedPods`.
    ///
    /// An unobserved status proves nothing: the pods we happen to see are not the
    /// controller's count. Such a budget allows nothing *yet* ([`Budget::ZeroNow`]).
    pub fn never_allows(&self) -> Option<String> {
        if let Some(IntOrPercent::Percent(pct)) = self.min_available {
            if pct >= 100 {
                return Some(format!("minAvailable {pct}%: every pod must stay up"));
            }
        }
        match self.max_unavailable {
            Some(IntOrPercent::Int(n)) if n <= 0 => {
                return Some(format!("maxUnavailable {n}: no pod may be down"))
            }
            Some(IntOrPercent::Percent(0)) => {
                return Some("maxUnavailable 0%: no pod may be down".into())
            }
            _ => {}
        }
        if !self.observed || self.expected_pods <= 0 {
            return None;
        }
        let expected = self.expected_pods;
        let pods = crate::findings::count(expected as usize, "expected pod");
        match self.min_available {
            Some(IntOrPercent::Int(n)) if n >= expected => {
                return Some(format!(
                    "minAvailable {n} with {pods}: evicting any would go below it"
                ))
            }
            Some(v @ IntOrPercent::Percent(_)) if v.scaled(expected) >= expected => {
                return Some(format!(
                    "minAvailable {v} of {expected} pods rounds up to {}: evicting any would go below it",
                    v.scaled(expected)
                ))
            }
            _ => {}
        }
        if self.desired_healthy >= expected {
            return Some(format!(
                "needs {} healthy of {expected} expected pods",
                self.desired_healthy
            ));
        }
        None
    }

    /// Where the budget stands for evictions now.
    pub fn budget(&self) -> Budget {
        if let Some(why) = self.never_allows() {
            return Budget::Never(why);
        }
        if !self.observed || self.disruptions_allowed <= 0 {
            return Budget::ZeroNow;
        }
        Budget::Allows(self.disruptions_allowed)
    }

    /// One line with the budget's numbers, e.g.
    /// `maxUnavailable 20%; healthy 4/5, desired 4, disruptionsAllowed 0`.
    pub fn numbers(&self) -> String {
        let spec = match (self.min_available, self.max_unavailable) {
            (Some(m), _) => format!("minAvailable {m}"),
            (None, Some(m)) => format!("maxUnavailable {m}"),
            (None, None) => "no minAvailable/maxUnavailable".to_string(),
        };
        if !self.observed {
            return format!("{spec}; status not yet observed by the disruption controller");
        }
        format!(
            "{spec}; healthy {}/{}, desired {}, disruptionsAllowed {}",
            self.current_healthy,
            self.expected_pods,
            self.desired_healthy,
            self.disruptions_allowed
        )
    }

    /// `currentHealthy >= desiredHealthy` on an observed status: the budget is met.
    pub fn healthy(&self) -> bool {
        self.observed && self.current_healthy >= self.desired_healthy
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use IntOrPercent::{Int, Percent};

    /// A budget whose status is what the disruption controller would compute with `allowed`.
    pub(crate) fn pdb(
        min: Option<IntOrPercent>,
        max: Option<IntOrPercent>,
        expected: i32,
        allowed: i32,
    ) -> PdbFacts {
        let desired = match (min, max) {
            (Some(m), _) => m.scaled(expected),
            (None, Some(m)) => (expected - m.scaled(expected)).max(0),
            _ => 0,
        };
        PdbFacts {
            namespace: "app".into(),
            name: "web".into(),
            min_available: min,
            max_unavailable: max,
            selector: Selector::everything(),
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
            assert_eq!(v.scaled(total), want, "{v:?} of {total}");
        }
        let s = |t: &str| IntOrPercent::parse(&IntOrString::String(t.into()));
        assert_eq!(IntOrPercent::parse(&IntOrString::Int(2)), Some(Int(2)));
        assert_eq!(s("20%"), Some(Percent(20)));
        assert_eq!(s(" 3 "), Some(Int(3)));
        assert_eq!(s("x%"), None);
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
                "stale numbers from an older generation count as unobserved",
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
                p.never_allows().is_some(),
                want,
                "{name}: {:?}",
                p.never_allows()
            );
        }
        let why = pdb(Some(Int(1)), None, 1, 0).never_allows().unwrap();
        assert!(
            why.contains("minAvailable 1") && why.contains("1 expected pod"),
            "{why}"
        );
    }

    #[test]
    fn budget_and_numbers() {
        assert_eq!(
            pdb(None, Some(Percent(20)), 5, 1).budget(),
            Budget::Allows(1)
        );
        assert_eq!(pdb(None, Some(Percent(20)), 5, 0).budget(), Budget::ZeroNow);
        assert!(matches!(
            pdb(None, Some(Int(0)), 5, 0).budget(),
            Budget::Never(_)
        ));
        let unobserved = PdbFacts {
            observed: false,
            ..pdb(Some(Int(1)), None, 3, 2)
        };
        assert_eq!(unobserved.budget(), Budget::ZeroNow);
        assert_eq!(
            pdb(None, Some(Percent(20)), 5, 0).numbers(),
            "maxUnavailable 20%; healthy 4/5, desired 4, disruptionsAllowed 0"
        );
        assert!(unobserved.numbers().contains("not yet observed"));
    }

    #[test]
    fn both_served_versions_are_read() {
        let obj = |selector: serde_json::Value| -> PodDisruptionBudget {
            serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": "app", "name": "web", "generation": 2},
                "spec": {"maxUnavailable": "20%", "selector": selector,
                         "unhealthyPodEvictionPolicy": "AlwaysAllow"},
                "status": {"currentHealthy": 5, "desiredHealthy": 4, "expectedPods": 5,
                           "disruptionsAllowed": 1, "observedGeneration": 2}
            }))
            .unwrap()
        };
        let web: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let f = PdbFacts::from_pdb(
            &obj(serde_json::json!({"matchLabels": {"app": "web"}})),
            PdbVersion::V1,
        );
        assert_eq!(f.max_unavailable, Some(Percent(20)));
        assert_eq!(f.unhealthy_policy, UnhealthyPolicy::AlwaysAllow);
        assert!(f.observed && f.healthy() && f.selects("app", &web) && !f.selects("other", &web));
        let empty = obj(serde_json::json!({}));
        assert!(PdbFacts::from_pdb(&empty, PdbVersion::V1).selects("app", &web));
        assert!(!PdbFacts::from_pdb(&empty, PdbVersion::V1beta1).selects("app", &web));
        let stale: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "app", "name": "all", "generation": 3},
            "spec": {"minAvailable": 1},
            "status": {"currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
                       "disruptionsAllowed": 0, "observedGeneration": 2}
        }))
        .unwrap();
        let f = PdbFacts::from_pdb(&stale, PdbVersion::V1);
        assert!(!f.observed && !f.selects("app", &web));
        assert_eq!(f.min_available, Some(Int(1)));
    }
}
