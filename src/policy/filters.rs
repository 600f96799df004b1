//! Per-pod drain decisions, like kubectl's `drain/filters.go`, but every blocked pod is
//! collected (all reasons at once) instead of failing on the first.

use crate::facts::pod::PodFacts;
use serde::Serialize;
use std::time::Duration;

/// The flags that change decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterOptions {
    /// Evict pods without a controller (they will not come back).
    pub force: bool,
    /// Evict pods using emptyDir (their local data is lost).
    pub delete_emptydir_data: bool,
    /// Skip pods deleted longer ago than this (kubectl `--skip-wait-for-delete-timeout`).
    pub skip_wait_for_delete_timeout: Option<Duration>,
}

/// Why a pod is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// Managed by a DaemonSet: it would be recreated on the same node at once.
    DaemonSet,
    /// A static pod's mirror: the kubelet owns it.
    Mirror,
    /// Deleted longer ago than `--skip-wait-for-delete-timeout`.
    DeletingTooLong,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::DaemonSet => "DaemonSet-managed",
            SkipReason::Mirror => "mirror (static) pod",
            SkipReason::DeletingTooLong => "terminating longer than --skip-wait-for-delete-timeout",
        }
    }
}

/// Why a pod stops the drain (before anything is touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockReason {
    /// No controller: evicting deletes it for good. Needs `--force`.
    Unmanaged,
    /// Uses emptyDir: its data is lost. Needs `--delete-emptydir-data`.
    EmptyDir,
}

impl BlockReason {
    /// What it is and the flag that allows it.
    pub fn describe(self) -> &'static str {
        match self {
            BlockReason::Unmanaged => "not managed by a controller (use --force)",
            BlockReason::EmptyDir => "uses emptyDir local data (use --delete-emptydir-data)",
        }
    }
}

/// What to do with one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Evict through the Eviction API (or delete with `--disable-eviction`).
    Evict,
    /// Succeeded/Failed: passes every filter and is evicted too (or deleted with
    /// `--disable-eviction`); the Eviction API deletes such pods without a PDB check.
    Completed,
    /// Already terminating: nothing to send, wait for it to go.
    WaitOnly,
    Skip(SkipReason),
    Block(Vec<BlockReason>),
}

/// Decide one pod. `deleting_for` is how long ago its deletion started, when known.
///
/// Order: mirror, DaemonSet (unless finished), already terminating, completed, then the blocking checks
/// (emptyDir, unmanaged) which are all reported together.
pub fn decide(pod: &PodFacts, deleting_for: Option<Duration>, opts: &FilterOptions) -> Decision {
    if pod.mirror {
        return Decision::Skip(SkipReason::Mirror);
    }
    // kubectl's daemonSetFilter: "Any finished pod can be removed."
    if pod.is_daemonset() && !pod.is_finished() {
        return Decision::Skip(SkipReason::DaemonSet);
    }
    if pod.deleting {
        return match (deleting_for, opts.skip_wait_for_delete_timeout) {
            (Some(age), Some(limit)) if !limit.is_zero() && age > limit => {
                Decision::Skip(SkipReason::DeletingTooLong)
            }
            _ => Decision::WaitOnly,
        };
    }
    if pod.is_finished() {
        return Decision::Completed;
    }
    let mut reasons = Vec::new();
    if pod.has_empty_dir && !opts.delete_emptydir_data {
        reasons.push(BlockReason::EmptyDir);
    }
    if pod.controller_kind.is_none() && !opts.force {
        reasons.push(BlockReason::Unmanaged);
    }
    if reasons.is_empty() {
        Decision::Evict
    } else {
        Decision::Block(reasons)
    }
}

/// The decisions for one node, as indices into the pod list given to [`plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodPlan {
    pub evict: Vec<usize>,
    /// Succeeded/Failed pods: evicted without waiting for PDB budget.
    pub completed: Vec<usize>,
    pub wait_only: Vec<usize>,
    pub skipped: Vec<(usize, SkipReason)>,
    /// Every blocked pod, with all its reasons.
    pub blocked: Vec<(usize, Vec<BlockReason>)>,
}

impl PodPlan {
    /// Pods that must disappear before the node counts as drained.
    pub fn to_remove(&self) -> usize {
        self.evict.len() + self.completed.len() + self.wait_only.len()
    }
    pub fn skipped_count(&self, reason: SkipReason) -> usize {
        self.skipped.iter().filter(|(_, r)| *r == reason).count()
    }
}

/// Decide every pod of a node at once. `pods` yields each pod with its deletion age.
pub fn plan<'a>(
    pods: impl IntoIterator<Item = (&'a PodFacts, Option<Duration>)>,
    opts: &FilterOptions,
) -> PodPlan {
    let mut plan = PodPlan::default();
    for (i, (pod, age)) in pods.into_iter().enumerate() {
        match decide(pod, age, opts) {
            Decision::Evict => plan.evict.push(i),
            Decision::Completed => plan.completed.push(i),
            Decision::WaitOnly => plan.wait_only.push(i),
            Decision::Skip(r) => plan.skipped.push((i, r)),
            Decision::Block(rs) => plan.blocked.push((i, rs)),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(kind: Option<&str>) -> PodFacts {
        PodFacts {
            namespace: "default".into(),
            name: "p".into(),
            node: Some("n1".into()),
            phase: "Running".into(),
            controller_kind: kind.map(str::to_string),
            controller_name: kind.map(|_| "owner".to_string()),
            ..PodFacts::default()
        }
    }

    #[test]
    fn decisions() {
        use BlockReason::*;
        use Decision::*;
        let none = FilterOptions::default();
        let force = FilterOptions {
            force: true,
            ..none
        };
        let emptydir = FilterOptions {
            delete_emptydir_data: true,
            ..none
        };
        let both = FilterOptions {
            force: true,
            delete_emptydir_data: true,
            ..none
        };
        let skip10 = FilterOptions {
            skip_wait_for_delete_timeout: Some(Duration::from_secs(10)),
            ..none
        };
        let rs = pod(Some("ReplicaSet"));
        let bare = pod(None);
        let sts = pod(Some("StatefulSet"));
        let ds = pod(Some("DaemonSet"));
        let mirror = PodFacts {
            mirror: true,
            ..pod(Some("Node"))
        };
        let ed = PodFacts {
            has_empty_dir: true,
            ..rs.clone()
        };
        let bare_ed = PodFacts {
            has_empty_dir: true,
            ..bare.clone()
        };
        let done = PodFacts {
            phase: "Succeeded".into(),
            ..bare_ed.clone()
        };
        let failed = PodFacts {
            phase: "Failed".into(),
            ..rs.clone()
        };
        let deleting = PodFacts {
            deleting: true,
            ..bare.clone()
        };
        let ds_deleting = PodFacts {
            deleting: true,
            ..ds.clone()
        };
        let ds_done = PodFacts {
            phase: "Succeeded".into(),
            ..ds.clone()
        };
        let secs = |s| Some(Duration::from_secs(s));
        let cases: Vec<(&str, &PodFacts, Option<Duration>, FilterOptions, Decision)> = vec![
            ("replicaset evicted", &rs, None, none, Evict),
            ("statefulset evicted", &sts, None, none, Evict),
            (
                "unmanaged blocks",
                &bare,
                None,
                none,
                Block(vec![Unmanaged]),
            ),
            ("unmanaged with --force", &bare, None, force, Evict),
            (
                "daemonset skipped",
                &ds,
                None,
                both,
                Skip(SkipReason::DaemonSet),
            ),
            (
                "finished daemonset pod removed (kubectl: any finished pod can be removed)",
                &ds_done,
                None,
                none,
                Completed,
            ),
            (
                "mirror skipped",
                &mirror,
                None,
                none,
                Skip(SkipReason::Mirror),
            ),
            ("emptydir blocks", &ed, None, none, Block(vec![EmptyDir])),
            ("emptydir allowed", &ed, None, emptydir, Evict),
            (
                "both reasons listed",
                &bare_ed,
                None,
                none,
                Block(vec![EmptyDir, Unmanaged]),
            ),
            (
                "force alone leaves emptydir",
                &bare_ed,
                None,
                force,
                Block(vec![EmptyDir]),
            ),
            ("both flags", &bare_ed, None, both, Evict),
            (
                "succeeded passes every filter (even unmanaged with emptyDir)",
                &done,
                None,
                none,
                Completed,
            ),
            ("failed passes every filter", &failed, None, none, Completed),
            ("terminating waited on", &deleting, secs(60), none, WaitOnly),
            (
                "terminating, within skip timeout",
                &deleting,
                secs(5),
                skip10,
                WaitOnly,
            ),
            (
                "terminating past skip timeout",
                &deleting,
                secs(11),
                skip10,
                Skip(SkipReason::DeletingTooLong),
            ),
            (
                "terminating, unknown age",
                &deleting,
                None,
                skip10,
                WaitOnly,
            ),
            (
                "terminating daemonset still skipped as daemonset",
                &ds_deleting,
                secs(60),
                skip10,
                Skip(SkipReason::DaemonSet),
            ),
        ];
        for (name, p, age, opts, want) in cases {
            assert_eq!(decide(p, age, &opts), want, "{name}");
        }
    }

    #[test]
    fn plan_lists_every_blocked_pod() {
        let pods = [
            pod(Some("ReplicaSet")),
            pod(None),
            PodFacts {
                has_empty_dir: true,
                ..pod(Some("ReplicaSet"))
            },
            pod(Some("DaemonSet")),
            PodFacts {
                mirror: true,
                ..pod(None)
            },
            PodFacts {
                phase: "Failed".into(),
                ..pod(None)
            },
            PodFacts {
                deleting: true,
                ..pod(Some("ReplicaSet"))
            },
            pod(None),
        ];
        let p = plan(pods.iter().map(|p| (p, None)), &FilterOptions::default());
        assert_eq!(p.evict, vec![0]);
        assert_eq!(
            p.blocked.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![1, 2, 7]
        );
        assert_eq!(p.skipped_count(SkipReason::DaemonSet), 1);
        assert_eq!(p.skipped_count(SkipReason::Mirror), 1);
        assert_eq!(p.completed, vec![5]);
        assert_eq!(p.wait_only, vec![6]);
        assert_eq!(p.to_remove(), 3);
        let forced = plan(
            pods.iter().map(|p| (p, None)),
            &FilterOptions {
                force: true,
                delete_emptydir_data: true,
                ..Default::default()
            },
        );
        assert!(forced.blocked.is_empty());
        assert_eq!(forced.evict, vec![0, 1, 2, 7]);
    }
}
