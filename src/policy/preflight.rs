//! The one preflight: what happens to one pod when its node is drained. Called by `check`'s
//! drain preview (through the inventory reducer) and by `drain` before it touches a node, so
//! the two cannot disagree. Two steps, in the order the real system applies them:
//!
//! 1. kubectl's drain filters ([`filters::decide`]): skip (DaemonSet, mirror), block
//!    (unmanaged, emptyDir) or remove;
//! 2. the Eviction API's admission ([`eviction`]) for pods that are removed: pods that are
//!    Pending, Succeeded or Failed, or already deleting, are deleted without a budget check;
//!    a pod under several PDBs is refused with 500; a not-ready pod is admitted when its
//!    budget is otherwise met (or its PDB says `AlwaysAllow`); the rest wait on the budget.
//!
//! Sources: kubectl `pkg/drain/filters.go`; kube-apiserver
//! `pkg/registry/core/pod/storage/eviction.go` (`canIgnorePDB`, the more-than-one-PDB 500,
//! the unhealthy-pod branch). See `../shared/reference/upgrade-facts.md`.

use crate::facts::pdb::{Budget, PdbFacts, UnhealthyPolicy};
use crate::facts::pod::PodFacts;
use crate::policy::filters::{self, BlockReason, Decision, FilterOptions, SkipReason};
use std::time::Duration;

/// Rule text cited by eviction findings.
pub const RULE_EVICTION: &str = "policy/v1 Eviction: Pending, Succeeded, Failed and deleting pods are admitted without a budget check; a not-ready pod is admitted while its budget is met; otherwise 429 while disruptionsAllowed is 0, and 500 when several PDBs select the pod";
/// Rule text cited by filter findings.
pub const RULE_FILTERS: &str = "kubectl drain filters: unmanaged pods need --force, emptyDir pods need --delete-emptydir-data; DaemonSet and mirror pods are skipped (finished DaemonSet pods are removed)";

/// Why the Eviction API deletes a pod without consulting any budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// No PDB selects the pod.
    NoBudget,
    /// Phase Pending: not running, so not counted by any budget.
    Pending,
    /// Phase Succeeded or Failed.
    Finished,
    /// Already has a deletion timestamp.
    Deleting,
    /// Not ready, and its budget is met (or says `AlwaysAllow`): it does not count as healthy.
    Unhealthy,
}

/// What the Eviction API does with one pod's eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// Deleted at once, no budget consulted.
    Admitted(Admitted),
    /// Decided by the budget of PDB `pdbs[i]` (429 while it allows none).
    Budget(usize),
    /// Several PDBs select it: the API answers 500 every time.
    Refused(Vec<usize>),
}

/// Step 2: the Eviction API's admission for a pod that the filters remove. `pod.pdbs` are
/// indices into `pdbs`; indices out of range are ignored.
pub fn eviction(pod: &PodFacts, pdbs: &[PdbFacts]) -> Eviction {
    if pod.deleting {
        return Eviction::Admitted(Admitted::Deleting);
    }
    if pod.phase == "Pending" {
        return Eviction::Admitted(Admitted::Pending);
    }
    if pod.is_finished() {
        return Eviction::Admitted(Admitted::Finished);
    }
    let mine: Vec<usize> = pod
        .pdbs
        .iter()
        .copied()
        .filter(|&i| i < pdbs.len())
        .collect();
    match mine.as_slice() {
        [] => Eviction::Admitted(Admitted::NoBudget),
        [i] => {
            let pdb = &pdbs[*i];
            if !pod.ready && unhealthy_admitted(pdb) {
                Eviction::Admitted(Admitted::Unhealthy)
            } else {
                Eviction::Budget(*i)
            }
        }
        _ => Eviction::Refused(mine),
    }
}

/// A not-ready pod under `pdb` is deleted without using up a disruption: always with
/// `AlwaysAllow`; with the default `IfHealthyBudget` while `currentHealthy >= desiredHealthy`
/// and `desiredHealthy > 0` (the apiserver's exact condition).
fn unhealthy_admitted(pdb: &PdbFacts) -> bool {
    match pdb.unhealthy_policy {
        UnhealthyPolicy::AlwaysAllow => true,
        UnhealthyPolicy::IfHealthyBudget => {
            pdb.current_healthy >= pdb.desired_healthy && pdb.desired_healthy > 0
        }
    }
}

/// Both steps for one pod: the whole verdict of a drain on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Left on the node.
    Skip(SkipReason),
    /// Stops the drain before it starts (every reason).
    Block(Vec<BlockReason>),
    /// Removed without a budget check (or with `--disable-eviction`, deleted).
    Removed(Admitted),
    /// Removed once PDB `i`'s budget allows.
    WaitsOn(usize),
    /// Eviction refused with 500 (several PDBs).
    Refused(Vec<usize>),
}

/// The verdict for one pod. `eviction_api` is false with `--disable-eviction` (pods are
/// deleted, budgets are not consulted).
pub fn verdict(
    pod: &PodFacts,
    deleting_for: Option<Duration>,
    opts: &FilterOptions,
    pdbs: &[PdbFacts],
    eviction_api: bool,
) -> Verdict {
    match filters::decide(pod, deleting_for, opts) {
        Decision::Skip(r) => Verdict::Skip(r),
        Decision::Block(rs) => Verdict::Block(rs),
        Decision::WaitOnly => Verdict::Removed(Admitted::Deleting),
        Decision::Evict | Decision::Completed if !eviction_api => {
            Verdict::Removed(Admitted::NoBudget)
        }
        Decision::Evict | Decision::Completed => match eviction(pod, pdbs) {
            Eviction::Admitted(a) => Verdict::Removed(a),
            Eviction::Budget(i) => Verdict::WaitsOn(i),
            Eviction::Refused(is) => Verdict::Refused(is),
        },
    }
}

/// Does a pod waiting on `pdb` stop a drain before it starts? Only a budget that can never
/// allow an eviction does: one that allows none *now* makes the drain wait, not fail.
pub fn never(pdb: &PdbFacts) -> Option<String> {
    match pdb.budget() {
        Budget::Never(why) => Some(why),
        Budget::ZeroNow | Budget::Allows(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::pdb::tests::pdb;
    use crate::facts::pdb::IntOrPercent::Int;

    fn pod(phase: &str, ready: bool, pdbs: Vec<usize>) -> PodFacts {
        PodFacts {
            namespace: "app".into(),
            name: "p".into(),
            node: Some("n1".into()),
            phase: phase.into(),
            ready,
            controller_kind: Some("ReplicaSet".into()),
            pdbs,
            ..PodFacts::default()
        }
    }

    #[test]
    fn eviction_api_admission() {
        // minAvailable 1 of 1: never allows a disruption of a healthy pod.
        let strict = pdb(Some(Int(1)), None, 1, 0);
        let pdbs = vec![strict.clone(), pdb(None, Some(Int(1)), 3, 1)];
        use Admitted::*;
        let cases: Vec<(&str, PodFacts, Eviction)> = vec![
            (
                "pending",
                pod("Pending", false, vec![0]),
                Eviction::Admitted(Pending),
            ),
            (
                "succeeded",
                pod("Succeeded", false, vec![0]),
                Eviction::Admitted(Finished),
            ),
            (
                "failed",
                pod("Failed", false, vec![0, 1]),
                Eviction::Admitted(Finished),
            ),
            (
                "deleting",
                PodFacts {
                    deleting: true,
                    ..pod("Running", true, vec![0, 1])
                },
                Eviction::Admitted(Deleting),
            ),
            (
                "no pdb",
                pod("Running", true, vec![]),
                Eviction::Admitted(NoBudget),
            ),
            (
                "ready under strict",
                pod("Running", true, vec![0]),
                Eviction::Budget(0),
            ),
            // strict: currentHealthy 1 >= desiredHealthy 1 > 0, so a not-ready pod goes.
            (
                "not ready, budget met",
                pod("Running", false, vec![0]),
                Eviction::Admitted(Unhealthy),
            ),
            (
                "two pdbs",
                pod("Running", true, vec![0, 1]),
                Eviction::Refused(vec![0, 1]),
            ),
            (
                "stale index ignored",
                pod("Running", true, vec![0, 7]),
                Eviction::Budget(0),
            ),
        ];
        for (what, p, want) in cases {
            assert_eq!(eviction(&p, &pdbs), want, "{what}");
        }
        // Budget not met (currentHealthy < desiredHealthy): a not-ready pod waits ...
        let unmet = PdbFacts {
            current_healthy: 0,
            ..strict.clone()
        };
        assert_eq!(
            eviction(
                &pod("Running", false, vec![0]),
                std::slice::from_ref(&unmet)
            ),
            Eviction::Budget(0)
        );
        // ... unless the PDB says AlwaysAllow.
        let always = PdbFacts {
            unhealthy_policy: UnhealthyPolicy::AlwaysAllow,
            ..unmet
        };
        assert_eq!(
            eviction(&pod("Running", false, vec![0]), &[always]),
            Eviction::Admitted(Unhealthy)
        );
        // desiredHealthy 0 (e.g. maxUnavailable 100%): the apiserver's `> 0` guard applies.
        let zero = PdbFacts {
            current_healthy: 0,
            desired_healthy: 0,
            ..strict
        };
        assert_eq!(
            eviction(&pod("Running", false, vec![0]), &[zero]),
            Eviction::Budget(0)
        );
    }

    #[test]
    fn verdict_combines_filters_and_admission() {
        let pdbs = vec![pdb(Some(Int(1)), None, 1, 0)];
        let opts = FilterOptions::default();
        let ds = PodFacts {
            controller_kind: Some("DaemonSet".into()),
            ..pod("Running", true, vec![])
        };
        assert_eq!(
            verdict(&ds, None, &opts, &pdbs, true),
            Verdict::Skip(SkipReason::DaemonSet)
        );
        let bare = PodFacts {
            controller_kind: None,
            ..pod("Running", true, vec![0])
        };
        assert_eq!(
            verdict(&bare, None, &opts, &pdbs, true),
            Verdict::Block(vec![BlockReason::Unmanaged])
        );
        let ready = pod("Running", true, vec![0]);
        assert_eq!(
            verdict(&ready, None, &opts, &pdbs, true),
            Verdict::WaitsOn(0)
        );
        assert_eq!(
            verdict(&ready, None, &opts, &pdbs, false),
            Verdict::Removed(Admitted::NoBudget)
        );
        assert_eq!(
            verdict(&pod("Pending", false, vec![0]), None, &opts, &pdbs, true),
            Verdict::Removed(Admitted::Pending)
        );
    }
}
