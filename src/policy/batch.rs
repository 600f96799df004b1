//! Several nodes at once: `drain-next --max-unavailable N|N%` batches and
//! `--strategy all-at-once`. Pure: how large a batch is, which nodes fill it, and which
//! PodDisruptionBudgets the batch shares.
//!
//! The API server still enforces every budget, whatever the batch: a budget whose pods run on
//! several nodes of one batch and that allows fewer disruptions than the batch evicts makes
//! those drains take turns (each eviction waits until a replacement is Ready). The preview says
//! so before anything is touched, so that nobody expects the batch to finish at once.
//!
//! Sizes follow kops' rolling update (`maxUnavailable`: a count or a percentage of the nodes
//! considered, rounded down, at least one) and system-upgrade-controller's `concurrency`.
//! Control-plane nodes are never batched: one at a time and never beside workers (etcd quorum
//! and API availability), as kubeadm's upgrade order has it.

use crate::facts::pdb::{Budget, IntOrPercent, PdbFacts};
use crate::facts::pod::PodFacts;
use crate::policy::filters::FilterOptions;
use crate::policy::preflight::{self, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;

/// Reads `--max-unavailable`: a positive count (`3`) or percentage (`25%`).
pub fn parse_max_unavailable(s: &str) -> Result<IntOrPercent, String> {
    let bad = || {
        format!("--max-unavailable takes a positive count or percentage (e.g. 3 or 25%), not '{s}'")
    };
    let v = s.trim();
    match v.strip_suffix('%') {
        Some(p) => match p.trim().parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(IntOrPercent::Percent(n)),
            _ => Err(bad()),
        },
        None => match v.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(IntOrPercent::Int(n)),
            _ => Err(bad()),
        },
    }
}

/// Nodes per batch: the count, or the percentage of `considered` nodes rounded down; at least
/// one (a percentage of a small pool still moves).
pub fn size(spec: IntOrPercent, considered: usize) -> usize {
    let n = match spec {
        IntOrPercent::Int(n) => usize::try_from(n).unwrap_or(1),
        IntOrPercent::Percent(p) => considered.saturating_mul(p as usize) / 100,
    };
    n.max(1)
}

/// Does a batch of `size` take every one of the `considered` workers at once? Then nothing is
/// left to run their workloads: the all-at-once strategy, downtime. A pool of one worker is
/// not a batch (one at a time is all it can do).
pub fn takes_every_worker(size: usize, considered: usize) -> bool {
    considered > 1 && size >= considered
}

/// The new nodes of a batch, from drain-next's order (`(name, control plane)`, control plane
/// first): at most `room` of them; a control-plane node only alone, in an otherwise empty
/// batch (`busy` says the batch already holds resumed nodes, `busy_control_plane` that one
/// of them is a control-plane node, which then goes alone).
pub fn fill(
    order: &[(String, bool)],
    room: usize,
    busy: bool,
    busy_control_plane: bool,
) -> Vec<String> {
    if busy_control_plane || room == 0 {
        return vec![];
    }
    match order.first() {
        None => vec![],
        Some((name, true)) => {
            if busy {
                vec![]
            } else {
                vec![name.clone()]
            }
        }
        Some(_) => order
            .iter()
            .take_while(|(_, cp)| !cp)
            .take(room)
            .map(|(n, _)| n.clone())
            .collect(),
    }
}

/// A budget shared across the batch: its pods on several of the batch's nodes wait on it,
/// and it allows fewer disruptions than they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shared {
    /// `namespace/name`
    pub pdb: String,
    /// Disruptions it allows now (0 while it allows none).
    pub allows: i32,
    /// Its pods the batch evicts, per node.
    pub pods_per_node: BTreeMap<String, usize>,
    pub numbers: String,
}

impl Shared {
    /// Pods of the budget the batch evicts.
    pub fn evicted(&self) -> usize {
        self.pods_per_node.values().sum()
    }

    /// One line for the preview.
    pub fn describe(&self) -> String {
        let per: Vec<String> = self
            .pods_per_node
            .iter()
            .map(|(n, c)| format!("{n}: {c}"))
            .collect();
        format!(
            "PDB {} allows {} disruption(s) now and the batch evicts {} of its pods on {} nodes ({}): those drains take turns, each eviction waiting for a replacement to become Ready elsewhere, so the batch will not finish at once ({})",
            self.pdb,
            self.allows,
            self.evicted(),
            self.pods_per_node.len(),
            per.join(", "),
            self.numbers
        )
    }
}

/// The budgets the batch shares (see [`Shared`]), from each batch node's pods (their `pdbs`
/// indices into `pdbs`) through the one preflight: only pods whose eviction waits on a budget
/// count. Budgets that can never allow an eviction are left out: each node's own preflight
/// blocks on them before anything is touched.
pub fn shared_budgets(
    batch: &[(String, Vec<PodFacts>)],
    pdbs: &[PdbFacts],
    opts: &FilterOptions,
) -> Vec<Shared> {
    let mut waiting: BTreeMap<usize, BTreeMap<String, usize>> = BTreeMap::new();
    for (node, pods) in batch {
        for pod in pods {
            if let Verdict::WaitsOn(i) = preflight::verdict(pod, None, opts, pdbs, true) {
                *waiting
                    .entry(i)
                    .or_default()
                    .entry(node.clone())
                    .or_default() += 1;
            }
        }
    }
    waiting
        .into_iter()
        .filter(|(_, per)| per.len() > 1)
        .filter_map(|(i, per)| {
            let pdb = &pdbs[i];
            let allows = match pdb.budget() {
                Budget::Never(_) => return None,
                Budget::ZeroNow => 0,
                Budget::Allows(n) => n,
            };
            let evicted: usize = per.values().sum();
            (usize::try_from(allows).unwrap_or(0) < evicted).then(|| Shared {
                pdb: pdb.key(),
                allows,
                pods_per_node: per,
                numbers: pdb.numbers(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::selector::Selector;

    #[test]
    fn max_unavailable_reads_counts_and_percentages() {
        assert_eq!(parse_max_unavailable("3"), Ok(IntOrPercent::Int(3)));
        assert_eq!(parse_max_unavailable("25%"), Ok(IntOrPercent::Percent(25)));
        for bad in ["0", "-1", "0%", "101%", "x", "", "3.5"] {
            assert!(parse_max_unavailable(bad).is_err(), "{bad}");
        }
        // kops rounds a percentage down, but a batch is never empty.
        assert_eq!(size(IntOrPercent::Percent(25), 20), 5);
        assert_eq!(size(IntOrPercent::Percent(25), 7), 1);
        assert_eq!(size(IntOrPercent::Percent(10), 3), 1);
        assert_eq!(size(IntOrPercent::Int(3), 2), 3);
    }

    #[test]
    fn control_plane_nodes_are_never_batched() {
        let order = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
        };
        let cp_first = order(&[("cp-1", true), ("cp-2", true), ("w-1", false)]);
        assert_eq!(fill(&cp_first, 3, false, false), vec!["cp-1"]);
        assert!(
            fill(&cp_first, 3, true, false).is_empty(),
            "not beside a resumed node"
        );
        let workers = order(&[("w-1", false), ("w-2", false), ("w-3", false)]);
        assert_eq!(fill(&workers, 2, false, false), vec!["w-1", "w-2"]);
        assert_eq!(fill(&workers, 5, true, false).len(), 3);
        assert!(
            fill(&workers, 2, true, true).is_empty(),
            "a resumed control plane goes alone"
        );
        assert!(fill(&workers, 0, false, false).is_empty());
    }

    fn pdb(name: &str, allowed: i32, healthy: i32, desired: i32, expected: i32) -> PdbFacts {
        PdbFacts {
            namespace: "app".into(),
            name: name.into(),
            selector: Selector::default(),
            observed: true,
            disruptions_allowed: allowed,
            current_healthy: healthy,
            desired_healthy: desired,
            expected_pods: expected,
            ..PdbFacts::default()
        }
    }

    fn pod(name: &str, pdbs: Vec<usize>) -> PodFacts {
        PodFacts {
            namespace: "app".into(),
            name: name.into(),
            phase: "Running".into(),
            ready: true,
            controller_kind: Some("ReplicaSet".into()),
            pdbs,
            ..PodFacts::default()
        }
    }

    #[test]
    fn budgets_shared_across_the_batch_are_named() {
        // web allows 1 and has pods on both nodes; api allows 2 and the batch evicts 2;
        // db has pods on one node only (that node's drain waits, nobody else's).
        let pdbs = vec![
            pdb("web", 1, 4, 3, 4),
            pdb("api", 2, 4, 2, 4),
            pdb("db", 0, 2, 2, 3),
        ];
        let batch = vec![
            (
                "a".to_string(),
                vec![
                    pod("web-1", vec![0]),
                    pod("api-1", vec![1]),
                    pod("db-1", vec![2]),
                ],
            ),
            (
                "b".to_string(),
                vec![pod("web-2", vec![0]), pod("api-2", vec![1])],
            ),
        ];
        let shared = shared_budgets(&batch, &pdbs, &FilterOptions::default());
        assert_eq!(shared.len(), 1, "{shared:?}");
        assert_eq!(shared[0].pdb, "app/web");
        assert_eq!(shared[0].allows, 1);
        assert_eq!(shared[0].evicted(), 2);
        assert!(shared[0].describe().contains("a: 1, b: 1"));
        // Pending pods are admitted without a budget check: they do not count.
        let mut pending = pod("web-3", vec![0]);
        pending.phase = "Pending".into();
        let batch = vec![
            ("a".to_string(), vec![pod("web-1", vec![0])]),
            ("b".to_string(), vec![pending]),
        ];
        assert!(shared_budgets(&batch, &pdbs, &FilterOptions::default()).is_empty());
    }

    /// `--max-unavailable 100%` (or any N at or above the workers considered) is downtime.
    #[test]
    fn a_batch_of_every_worker_is_downtime() {
        let every =
            |spec: IntOrPercent, considered| takes_every_worker(size(spec, considered), considered);
        assert!(every(IntOrPercent::Percent(100), 4));
        assert!(every(IntOrPercent::Int(4), 4));
        assert!(every(IntOrPercent::Int(9), 4));
        assert!(!every(IntOrPercent::Int(3), 4));
        assert!(!every(IntOrPercent::Percent(99), 4));
        assert!(
            !every(IntOrPercent::Int(1), 1),
            "one worker is one at a time"
        );
        assert!(!every(IntOrPercent::Int(1), 0));
    }
}
