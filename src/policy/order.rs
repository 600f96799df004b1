//! drain-next's choice of node: candidates are nodes whose kubelet is older than the target;
//! control-plane nodes first, then workers, oldest kubelet first, then by name. NotReady nodes
//! and nodes cordoned by someone else are reported and skipped unless named. Also the
//! one-node-at-a-time bookkeeping read from the progress annotation, and uncordon's check.
//! The rollout planner ([`crate::rollout::plan`]) and the status view
//! ([`crate::rollout::status`]) decide with these; targets are typed [`Version`]s.

use crate::facts::node::NodeFacts;
use crate::facts::progress::{Progress, ProgressState, Record};
use crate::facts::version::{self, Version};
use std::collections::BTreeSet;

/// `major.minor.patch` of a Kubernetes version string (`v1.33.2`, `v1.30.2-eks-1`,
/// `1.29.0+k3s1`), read by the one version parser ([`version::parse`]).
pub fn triple(v: &str) -> Option<(u64, u64, u64)> {
    version::parse(v).ok().map(|v| (v.major, v.minor, v.patch))
}

/// Is the node's kubelet at (or past) `target`? `None` when the kubelet's version is
/// unreadable. Distribution suffixes are ignored (`v1.33.2-eks-1` is at `v1.33.2`).
pub fn at_target(kubelet: &str, target: &Version) -> Option<bool> {
    Some(triple(kubelet)? >= (target.major, target.minor, target.patch))
}

/// The node drain-next picked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub control_plane: bool,
    pub kubelet: String,
    /// One sentence: why this node now.
    pub reason: String,
}

/// The outcome of [`select`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub next: Option<Candidate>,
    /// The other candidates, in order.
    pub queue: Vec<String>,
    /// Nodes passed over, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Nodes already at the target (within the selection).
    pub at_target: usize,
}

/// Choose the next node. `selected` (from `--selector`, applied server-side) limits the nodes
/// considered; `named` forces one node (even NotReady or cordoned); `exclude` are nodes already
/// in progress by drain-next (skipped with `--allow-another`).
pub fn select(
    nodes: &[NodeFacts],
    target: &Version,
    selected: Option<&BTreeSet<String>>,
    named: Option<&str>,
    exclude: &BTreeSet<String>,
) -> Result<Selection, String> {
    let target_v = (target.major, target.minor, target.patch);
    let mut sel = Selection::default();
    if let Some(name) = named {
        let node = nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| format!("node {name} not found"))?;
        match triple(&node.kubelet_version) {
            Some(v) if v >= target_v => {
                sel.at_target = 1;
                sel.skipped.push((
                    name.to_string(),
                    format!(
                        "kubelet {} is already at target {target}",
                        node.kubelet_version
                    ),
                ));
            }
            _ => {
                sel.next = Some(Candidate {
                    name: name.to_string(),
                    control_plane: node.is_control_plane(),
                    kubelet: node.kubelet_version.clone(),
                    reason: format!(
                        "named on the command line; kubelet {} < target {target}",
                        node.kubelet_version
                    ),
                });
            }
        }
        return Ok(sel);
    }
    let mut candidates: Vec<(&NodeFacts, (u64, u64, u64))> = Vec::new();
    for n in nodes {
        if selected.is_some_and(|s| !s.contains(&n.name)) || exclude.contains(&n.name) {
            continue;
        }
        let Some(v) = triple(&n.kubelet_version) else {
            sel.skipped.push((
                n.name.clone(),
                format!("unreadable kubelet version '{}'", n.kubelet_version),
            ));
            continue;
        };
        if v >= target_v {
            sel.at_target += 1;
            continue;
        }
        if !n.ready {
            sel.skipped
                .push((n.name.clone(), "NotReady (name it to drain anyway)".into()));
            continue;
        }
        if n.unschedulable {
            let by_drain =
                Progress::parse(n.progress.as_deref()).is_some_and(|p| !p.by_drain_next());
            sel.skipped.push((
                n.name.clone(),
                if by_drain {
                    "cordoned by `kubectl upgrade drain` (name it to drain anyway)".into()
                } else {
                    "cordoned by someone else (name it to drain anyway)".into()
                },
            ));
            continue;
        }
        candidates.push((n, v));
    }
    candidates.sort_by(|(a, av), (b, bv)| {
        b.is_control_plane()
            .cmp(&a.is_control_plane())
            .then(av.cmp(bv))
            .then(a.name.cmp(&b.name))
    });
    let total = candidates.len();
    let mut iter = candidates.into_iter();
    if let Some((n, _)) = iter.next() {
        let role = if n.is_control_plane() {
            "control-plane node"
        } else {
            "worker"
        };
        sel.next = Some(Candidate {
            name: n.name.clone(),
            control_plane: n.is_control_plane(),
            kubelet: n.kubelet_version.clone(),
            reason: format!(
                "{role} with kubelet {} < target {target} (order: control plane first, then oldest kubelet, then name; {total} node(s) left including this one)",
                n.kubelet_version
            ),
        });
    }
    sel.queue = iter.map(|(n, _)| n.name.clone()).collect();
    Ok(sel)
}

/// `--strategy replace`: the old nodes of the pool that the evicted pods should avoid: the
/// workers considered (`selected`, else every worker) below the target, other than the batch
/// being drained now and nodes already drained for removal. By name.
pub fn old_nodes(
    all: &[NodeFacts],
    selected: Option<&BTreeSet<String>>,
    batch: &[String],
    target: &Version,
) -> Vec<String> {
    let mut out: Vec<String> = all
        .iter()
        .filter(|n| !n.is_control_plane())
        .filter(|n| selected.is_none_or(|s| s.contains(&n.name)))
        .filter(|n| !batch.contains(&n.name))
        .filter(|n| at_target(&n.kubelet_version, target) == Some(false))
        .filter(|n| !Progress::parse(n.progress.as_deref()).is_some_and(|p| p.for_removal()))
        .map(|n| n.name.clone())
        .collect();
    out.sort();
    out
}

/// Where a node drained by us stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Drain started but did not finish (interrupted or failed): drain-next resumes it.
    Unfinished,
    /// Passed over as blocked (`--on-blocked=skip`): still cordoned; with that flag it does
    /// not hold the next node and is come back to once no other node is left, without it
    /// drain-next resumes it like an unfinished drain.
    Blocked,
    /// Drained, still cordoned, not yet back Ready at the target: the upgrade is in progress.
    AwaitingUpgrade,
    /// Drained, Ready and at the target but still cordoned: ready to uncordon.
    Upgraded,
    /// Drained for removal (`--strategy replace`): finished; delete the node when its
    /// instance is gone. Never blocks the next node.
    ForRemoval,
}

impl Standing {
    /// Its drain finished (drained, awaiting or past its upgrade, or for removal): what the
    /// validation between nodes counts from.
    pub fn drain_finished(&self) -> bool {
        !matches!(self, Standing::Unfinished | Standing::Blocked)
    }
}

/// Where one node stands by its progress record, or `None` when the record does not count
/// for drain-next's one-node-at-a-time rule: not written by drain-next (a plain `drain` records
/// no target, so there is no "back at the target" to wait for), or the node is schedulable
/// again (a stale record left by a plain `kubectl uncordon`). `fallback_target` stands in
/// when the record names none.
pub fn standing(
    n: &NodeFacts,
    p: &Progress,
    fallback_target: Option<&Version>,
) -> Option<Standing> {
    if !p.by_drain_next() || !n.unschedulable {
        return None;
    }
    if p.for_removal() {
        return Some(Standing::ForRemoval);
    }
    let goal = p.target.as_ref().or(fallback_target);
    Some(match p.state {
        ProgressState::Cordoned
        | ProgressState::Draining
        | ProgressState::Failed
        | ProgressState::Partial => Standing::Unfinished,
        ProgressState::Blocked => Standing::Blocked,
        ProgressState::Drained => {
            if n.ready && goal.and_then(|g| at_target(&n.kubelet_version, g)) == Some(true) {
                Standing::Upgraded
            } else {
                Standing::AwaitingUpgrade
            }
        }
    })
}

/// Classify every node carrying our progress annotation (written by drain-next) that is still
/// cordoned (see [`standing`]).
pub fn in_progress(nodes: &[NodeFacts], target: &Version) -> Vec<(String, Standing, Progress)> {
    let mut out = Vec::new();
    for n in nodes {
        let Some(p) = Progress::parse(n.progress.as_deref()) else {
            continue;
        };
        if let Some(st) = standing(n, &p, Some(target)) {
            out.push((n.name.clone(), st, p));
        }
    }
    out
}

/// One line for a progress record that is not ours to read: never treated as absent.
pub fn unreadable(node: &str, raw: &str, why: &str) -> String {
    format!(
        "the drain progress record on node {node} is unreadable ({why}; starts {raw:?}): inspect it with `kubectl get node {node} -o yaml`, remove it with `kubectl annotate node {node} {}-`, or use --force",
        crate::facts::progress::ANNOTATION
    )
}

/// Cordoned nodes whose progress record cannot be read: drain-next counts them as in
/// progress (someone drained them; we cannot tell for what), with the reason.
pub fn unreadable_records(nodes: &[NodeFacts]) -> Vec<(String, String)> {
    nodes
        .iter()
        .filter(|n| n.unschedulable)
        .filter_map(|n| match Record::read(n.progress.as_deref()) {
            Record::Unreadable { raw, why } => {
                Some((n.name.clone(), unreadable(&n.name, &raw, &why)))
            }
            _ => None,
        })
        .collect()
}

/// May this node be uncordoned? Nodes drained by drain-next must be Ready and at the recorded
/// target; others (no target recorded) always may. `Err` says why not.
/// A kubelet (or a drain target) at `version` next to kube-apiserver `apiserver`: the skew
/// policy forbids a kubelet newer than the apiserver (compared by minor). `Err` says why and
/// what to do.
pub fn not_above_apiserver(version: &str, apiserver: &str, what: &str) -> Result<(), String> {
    let (Ok(v), Ok(api)) = (version::parse(version), version::parse(apiserver)) else {
        return Ok(()); // unreadable versions are judged elsewhere
    };
    if v.minor() > api.minor() {
        return Err(format!(
            "{what} {version} is newer than kube-apiserver {apiserver}: the skew policy forbids a kubelet newer than the API server; upgrade the control plane to {} first",
            v.minor()
        ));
    }
    Ok(())
}

/// Would `uncordon` (without `--force`) hand this node back, next to the oldest
/// kube-apiserver `apiserver`? The record's rules ([`uncordon_check`]) and the skew bound
/// ([`not_above_apiserver`]): what `uncordon` refuses and `status` must not advise.
pub fn uncordon_verdict(node: &NodeFacts, apiserver: &str) -> Result<(), String> {
    uncordon_check(node).and_then(|()| {
        not_above_apiserver(
            &node.kubelet_version,
            apiserver,
            &format!("node {}'s kubelet", node.name),
        )
        .map_err(|why| format!("{why} (use --force to uncordon anyway)"))
    })
}

pub fn uncordon_check(node: &NodeFacts) -> Result<(), String> {
    let p = match Record::read(node.progress.as_deref()) {
        Record::Absent => return Ok(()),
        Record::Valid(p) => p,
        Record::Unreadable { raw, why } => {
            return Err(unreadable(&node.name, &raw, &why));
        }
    };
    let Some(target) = p.target.as_ref() else {
        return Ok(());
    };
    if !node.ready {
        return Err(format!(
            "node {} is NotReady; it was drained by {} for an upgrade to {target} (use --force to uncordon anyway)",
            node.name, p.by()
        ));
    }
    match at_target(&node.kubelet_version, target) {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "node {} still runs kubelet {}, not the target {target} it was drained for; upgrade it first (use --force to uncordon anyway)",
            node.name, node.kubelet_version
        )),
        None => Err(format!(
            "cannot compare kubelet '{}' of node {} with target {target} (use --force to uncordon anyway)",
            node.kubelet_version, node.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::facts::version::v;

    fn node(name: &str, kubelet: &str, cp: bool) -> NodeFacts {
        use crate::facts::node::fixture::{control_plane, worker};
        if cp {
            control_plane(name, kubelet)
        } else {
            worker(name, kubelet)
        }
    }

    use crate::facts::progress::{record as progress, Writer};

    #[test]
    fn triples() {
        let cases = [
            ("v1.33.2", Some((1, 33, 2))),
            ("1.29.0", Some((1, 29, 0))),
            ("v1.30.2-eks-adc7111", Some((1, 30, 2))),
            ("v1.28.5+k3s1", Some((1, 28, 5))),
            ("v1.31", Some((1, 31, 0))),
            ("garbage", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(triple(s), want, "{s}");
        }
        let t = v("v1.33.2");
        assert_eq!(at_target("v1.33.2", &t), Some(true));
        assert_eq!(at_target("v1.33.2-eks-1", &t), Some(true));
        assert_eq!(at_target("v1.33.1", &t), Some(false));
        assert_eq!(at_target("v1.34.0", &t), Some(true));
        assert_eq!(at_target("x", &t), None);
    }

    #[test]
    fn order_control_plane_first_then_oldest_then_name() {
        let nodes = vec![
            node("w-b", "v1.31.0", false),
            node("w-a", "v1.31.0", false),
            node("w-old", "v1.30.5", false),
            node("cp-2", "v1.32.0", true),
            node("cp-1", "v1.32.0", true),
            node("done", "v1.33.2", false),
            NodeFacts {
                ready: false,
                ..node("w-down", "v1.29.0", false)
            },
            NodeFacts {
                unschedulable: true,
                ..node("w-cordoned", "v1.29.0", false)
            },
        ];
        let none = BTreeSet::new();
        let s = select(&nodes, &v("v1.33.2"), None, None, &none).unwrap();
        let next = s.next.as_ref().unwrap();
        assert_eq!(next.name, "cp-1");
        assert!(next.control_plane && next.reason.contains("control-plane"));
        assert_eq!(s.queue, vec!["cp-2", "w-old", "w-a", "w-b"]);
        assert_eq!(s.at_target, 1);
        let skipped: Vec<&str> = s.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(skipped, vec!["w-down", "w-cordoned"]);
        assert!(s.skipped[0].1.contains("NotReady") && s.skipped[1].1.contains("cordoned"));

        // --selector restricts the set
        let workers: BTreeSet<String> = ["w-a", "w-b", "w-old"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = select(&nodes, &v("v1.33.2"), Some(&workers), None, &none).unwrap();
        assert_eq!(s.next.unwrap().name, "w-old");
        assert_eq!(s.queue, vec!["w-a", "w-b"]);

        // exclusions (nodes in progress with --allow-another)
        let ex: BTreeSet<String> = ["cp-1".to_string()].into();
        assert_eq!(
            select(&nodes, &v("v1.33.2"), None, None, &ex)
                .unwrap()
                .next
                .unwrap()
                .name,
            "cp-2"
        );

        // named: forced even when cordoned or NotReady
        let s = select(&nodes, &v("v1.33.2"), None, Some("w-cordoned"), &none).unwrap();
        assert_eq!(s.next.unwrap().name, "w-cordoned");
        let s = select(&nodes, &v("v1.33.2"), None, Some("w-down"), &none).unwrap();
        assert_eq!(s.next.unwrap().name, "w-down");
        let s = select(&nodes, &v("v1.33.2"), None, Some("done"), &none).unwrap();
        assert!(s.next.is_none() && s.at_target == 1);
        assert!(select(&nodes, &v("v1.33.2"), None, Some("nope"), &none).is_err());

        // everything at target: nothing next
        let s = select(&nodes, &v("v1.29.0"), None, None, &none).unwrap();
        assert!(s.next.is_none());
        assert_eq!(s.at_target, nodes.len());
    }

    #[test]
    fn progress_standing() {
        let t = Some("v1.33.2");
        let nodes = vec![
            NodeFacts {
                unschedulable: true,
                progress: progress(ProgressState::Draining, t, Writer::DrainNext),
                ..node("resume", "v1.32.0", false)
            },
            NodeFacts {
                unschedulable: true,
                progress: progress(ProgressState::Failed, t, Writer::DrainNext),
                ..node("failed", "v1.32.0", false)
            },
            NodeFacts {
                unschedulable: true,
                progress: progress(ProgressState::Drained, t, Writer::DrainNext),
                ..node("waiting", "v1.32.0", false)
            },
            NodeFacts {
                unschedulable: true,
                ready: false,
                progress: progress(ProgressState::Drained, t, Writer::DrainNext),
                ..node("rebooting", "v1.33.2", false)
            },
            NodeFacts {
                unschedulable: true,
                progress: progress(ProgressState::Drained, t, Writer::DrainNext),
                ..node("upgraded", "v1.33.2", false)
            },
            NodeFacts {
                unschedulable: false,
                progress: progress(ProgressState::Drained, t, Writer::DrainNext),
                ..node("stale", "v1.32.0", false)
            },
            NodeFacts {
                unschedulable: true,
                progress: progress(ProgressState::Drained, None, Writer::Drain),
                ..node("plain", "v1.32.0", false)
            },
            NodeFacts {
                unschedulable: true,
                ..node("manual", "v1.32.0", false)
            },
        ];
        let got: Vec<(String, Standing)> = in_progress(&nodes, &v("v1.33.2"))
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect();
        let want = vec![
            ("resume".to_string(), Standing::Unfinished),
            ("failed".to_string(), Standing::Unfinished),
            ("waiting".to_string(), Standing::AwaitingUpgrade),
            ("rebooting".to_string(), Standing::AwaitingUpgrade),
            ("upgraded".to_string(), Standing::Upgraded),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn uncordon_checks() {
        let t = Some("v1.33.2");
        let drained = |kubelet: &str, ready: bool| NodeFacts {
            unschedulable: true,
            ready,
            progress: progress(ProgressState::Drained, t, Writer::DrainNext),
            ..node("n", kubelet, false)
        };
        assert!(uncordon_check(&drained("v1.33.2", true)).is_ok());
        assert!(uncordon_check(&drained("v1.34.0", true)).is_ok());
        let old = uncordon_check(&drained("v1.32.9", true)).unwrap_err();
        assert!(
            old.contains("v1.32.9") && old.contains("v1.33.2") && old.contains("--force"),
            "{old}"
        );
        assert!(uncordon_check(&drained("v1.33.2", false))
            .unwrap_err()
            .contains("NotReady"));
        // no annotation or no target: always allowed
        assert!(uncordon_check(&node("n", "v1.20.0", false)).is_ok());
        let plain = NodeFacts {
            progress: progress(ProgressState::Drained, None, Writer::Drain),
            ..node("n", "v1.2.0", false)
        };
        assert!(uncordon_check(&plain).is_ok());
    }

    #[test]
    fn unreadable_records_are_never_absent() {
        let node = NodeFacts {
            name: "w1".into(),
            ready: true,
            unschedulable: true,
            kubelet_version: "v1.33.2".into(),
            progress: Some("{not json".into()),
            ..NodeFacts::default()
        };
        let why = uncordon_check(&node).unwrap_err();
        assert!(
            why.contains("unreadable") && why.contains("--force"),
            "{why}"
        );
        let found = unreadable_records(std::slice::from_ref(&node));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "w1");
        let schedulable = NodeFacts {
            unschedulable: false,
            ..node
        };
        assert!(unreadable_records(&[schedulable]).is_empty());
    }
}
