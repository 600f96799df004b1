//! Where a node rollout stands (`kubectl upgrade status`): every node at the target, in
//! progress (which step, since when, by whom, from the progress annotation), waiting or
//! blocked, grouped by node pool with the control plane first, and the node drain-next would
//! take next and why. Pure: node facts in, the view out. drain-next's own choice
//! ([`order::select`]) and bookkeeping ([`order::standing`]) decide; this only shows them.

use crate::facts::lock::LockState;
use crate::facts::node::NodeFacts;
use crate::facts::progress::{ProgressState, Record};
use crate::facts::version::Version;
use crate::policy::order::{self, Standing};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Labels naming a node pool, by provider; the first one present wins.
pub const POOL_LABELS: &[&str] = &[
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "doks.digitalocean.com/node-pool",
];

/// One node's state in the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// Blocked: NotReady below the target, a failed drain, a foreign cordon, an unreadable record.
    Blocked,
    /// Cordoned by drain-next and somewhere between cordon and uncordon.
    InProgress,
    /// Its drain started and stopped (Ctrl-C, SIGTERM, a crash, a lost server): nobody holds
    /// the rollout lock for it now; a rerun of drain-next resumes it.
    Stopped,
    /// Below the target, Ready, schedulable: its turn will come.
    Waiting,
    /// Kubelet at (or past) the target and schedulable.
    AtTarget,
    /// Drained for removal (`--strategy replace`): finished; its workloads run elsewhere.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub name: String,
    pub control_plane: bool,
    pub kubelet: String,
    pub state: State,
    /// What is happening or what is in the way, one sentence.
    pub detail: String,
    /// The progress record's step (`cordoned`, `draining`, `drained`, `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// `control-plane`, a provider pool name, or `workers`.
    pub name: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub nodes: Vec<NodeStatus>,
}

/// How many nodes are in each state (a pool's, or the whole rollout's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub at_target: usize,
    pub in_progress: usize,
    pub waiting: usize,
    pub blocked: usize,
    /// Drained for removal by the replace strategy.
    pub replaced: usize,
    /// Drains that started and stopped, nobody working on them now.
    pub stopped: usize,
}

impl Counts {
    fn of<'a>(nodes: impl IntoIterator<Item = &'a NodeStatus>) -> Counts {
        let mut c = Counts::default();
        for n in nodes {
            *match n.state {
                State::AtTarget => &mut c.at_target,
                State::InProgress => &mut c.in_progress,
                State::Waiting => &mut c.waiting,
                State::Blocked => &mut c.blocked,
                State::Replaced => &mut c.replaced,
                State::Stopped => &mut c.stopped,
            } += 1;
        }
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Next {
    pub node: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub target: String,
    pub nodes: usize,
    #[serde(flatten)]
    pub counts: Counts,
    /// Every node at the target and schedulable, or drained for removal.
    pub done: bool,
    /// The rollout lock: who holds it, if anyone.
    pub lock: LockView,
    /// Control plane first, then pools by name.
    pub pools: Vec<Pool>,
    pub next: Next,
}

/// The rollout lock as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockView {
    /// `free`, `held`, `expired` (its holder stopped renewing it) or `unknown` (not readable).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<crate::facts::lock::Holder>,
    /// One sentence.
    pub detail: String,
}

/// What `status` knows besides the nodes: the rollout lock (`None`: it could not be read)
/// and the oldest kube-apiserver (what `uncordon` compares kubelets with).
#[derive(Debug, Clone)]
pub struct Context {
    pub lock: Option<LockState>,
    pub apiserver: String,
    pub now: jiff::Timestamp,
}

impl Context {
    /// Is a live holder of the lock working on `node` now? `None`: the lock is unreadable.
    fn worked_on(&self, node: &str) -> Option<bool> {
        Some(self.lock.as_ref()?.held().is_some_and(|h| h.works_on(node)))
    }

    fn lock_view(&self) -> LockView {
        match &self.lock {
            None => LockView {
                state: "unknown",
                holder: None,
                detail:
                    "the rollout lock cannot be read (no permission to get leases in kube-system)"
                        .into(),
            },
            Some(LockState::Free) => LockView {
                state: "free",
                holder: None,
                detail: "no rollout is running".into(),
            },
            Some(LockState::Held(h)) => LockView {
                state: "held",
                holder: Some(h.clone()),
                detail: format!("held by {}", h.describe(self.now)),
            },
            Some(LockState::Expired(h)) => LockView {
                state: "expired",
                holder: Some(h.clone()),
                detail: format!(
                    "expired: its holder stopped renewing it ({}); the next run takes it over",
                    h.describe(self.now)
                ),
            },
        }
    }
}

fn pool_of(n: &NodeFacts) -> String {
    if n.is_control_plane() {
        return "control-plane".into();
    }
    POOL_LABELS
        .iter()
        .find_map(|l| n.labels.get(*l).cloned())
        .unwrap_or_else(|| "workers".into())
}

fn node_status(n: &NodeFacts, target: &Version, ctx: &Context) -> NodeStatus {
    let at = order::at_target(&n.kubelet_version, target);
    let mut s = NodeStatus {
        name: n.name.clone(),
        control_plane: n.is_control_plane(),
        kubelet: n.kubelet_version.clone(),
        state: State::Waiting,
        detail: String::new(),
        step: None,
        since: None,
        by: None,
    };
    let record = Record::read(n.progress.as_deref());
    if let Record::Valid(p) = &record {
        if n.unschedulable {
            s.step = Some(p.state.as_str().to_string());
            s.since = Some(p.time.clone());
            s.by = Some(p.by());
        }
        if let Some(st) = order::standing(n, p, Some(target)) {
            (s.state, s.detail) = match (st, p.state) {
                (Standing::Blocked, _) => (
                    State::Blocked,
                    format!(
                        "blocked: {}; passed over (--on-blocked=skip) and left cordoned: drain-next comes back to it once no other node is left, or name it",
                        p.reason.as_deref().unwrap_or("no reason recorded")
                    ),
                ),
                (_, ProgressState::Failed) => (
                    State::Blocked,
                    "its drain failed and it stays cordoned: see why, then rerun drain-next (it resumes)".into(),
                ),
                (Standing::Unfinished, ProgressState::Partial) => (
                    State::Stopped,
                    "partly drained (-n/--pod-selector): pods outside that scope still run there; rerun drain-next without the scope to finish it".into(),
                ),
                (Standing::Unfinished, _) => match ctx.worked_on(&n.name) {
                    Some(true) => (
                        State::InProgress,
                        format!("being drained ({}), the rollout lock's holder works on it", p.state.as_str()),
                    ),
                    Some(false) => (
                        State::Stopped,
                        format!(
                            "its drain stopped in state '{}' (nobody holds the rollout lock for it): rerun drain-next to resume it",
                            p.state.as_str()
                        ),
                    ),
                    None => (
                        State::InProgress,
                        format!(
                            "being drained or stopped in state '{}' (the rollout lock cannot be read to tell); a rerun of drain-next resumes a stopped drain",
                            p.state.as_str()
                        ),
                    ),
                },
                (Standing::AwaitingUpgrade, _) => (
                    State::InProgress,
                    format!(
                        "drained; waiting for its kubelet to come back Ready at {target} (now {}{})",
                        n.kubelet_version,
                        if n.ready { "" } else { ", NotReady" }
                    ),
                ),
                (Standing::Upgraded, _) => match order::uncordon_verdict(n, &ctx.apiserver) {
                    Ok(()) => (
                        State::InProgress,
                        format!(
                            "upgraded to {}; uncordon it (`kubectl upgrade uncordon {}`, or drain-next --uncordon-upgraded)",
                            n.kubelet_version, n.name
                        ),
                    ),
                    Err(why) => (State::Blocked, format!("upgraded, but uncordon refuses: {why}")),
                },
                (Standing::ForRemoval, _) => (
                    State::Replaced,
                    "drained for removal (replace): remove its instance and the Node object".into(),
                ),
            };
            return s;
        }
    }
    if let Record::Unreadable { why, .. } = &record {
        if n.unschedulable {
            s.state = State::Blocked;
            s.detail = format!("cordoned with an unreadable progress record ({why})");
            return s;
        }
    }
    (s.state, s.detail) = match at {
        Some(true) if !n.unschedulable => (State::AtTarget, "at the target".into()),
        Some(true) => (
            State::Blocked,
            "at the target but cordoned (not by drain-next): uncordon it when it is ready".into(),
        ),
        None => (
            State::Blocked,
            format!("kubelet version '{}' is unreadable", n.kubelet_version),
        ),
        Some(false) if !n.ready => (
            State::Blocked,
            "NotReady: drain-next skips it until it is Ready (or named)".into(),
        ),
        Some(false) if n.unschedulable => (
            State::Blocked,
            "cordoned by someone else: drain-next skips it".into(),
        ),
        Some(false) => (
            State::Waiting,
            format!("kubelet {} < {target}", n.kubelet_version),
        ),
    };
    s
}

/// The rollout towards `target`.
pub fn rollout(nodes: &[NodeFacts], target: &Version, ctx: &Context) -> Result<Rollout, String> {
    let mut pools: BTreeMap<(bool, String), Vec<NodeStatus>> = BTreeMap::new();
    for n in nodes {
        let st = node_status(n, target, ctx);
        // Control plane first: its key sorts before every pool.
        pools
            .entry((!n.is_control_plane(), pool_of(n)))
            .or_default()
            .push(st);
    }
    let mut out_pools = Vec::new();
    for ((_, name), mut ns) in pools {
        ns.sort_by(|a, b| a.state.cmp(&b.state).then_with(|| a.name.cmp(&b.name)));
        out_pools.push(Pool {
            name,
            counts: Counts::of(&ns),
            nodes: ns,
        });
    }
    let counts = Counts::of(out_pools.iter().flat_map(|p| &p.nodes));
    let (at_target, replaced) = (counts.at_target, counts.replaced);
    let halted: Vec<String> = out_pools
        .iter()
        .flat_map(|p| &p.nodes)
        .filter(|n| n.state == State::Stopped)
        .map(|n| n.name.clone())
        .collect();
    let busy: Vec<String> = out_pools
        .iter()
        .flat_map(|p| &p.nodes)
        .filter(|n| n.state == State::InProgress)
        .map(|n| n.name.clone())
        .collect();
    let next = if let Some(first) = halted.first() {
        Next {
            node: Some(first.clone()),
            reason: format!(
                "{first}'s drain stopped: drain-next resumes it before taking a new node"
            ),
        }
    } else if let Some(first) = busy.first() {
        Next {
            node: None,
            reason: format!(
                "{first} is in progress: drain-next takes the next node once it is back at {target} and uncordoned (one node at a time)"
            ),
        }
    } else {
        let exclude: BTreeSet<String> = out_pools
            .iter()
            .flat_map(|p| &p.nodes)
            .filter(|n| n.state == State::Replaced)
            .map(|n| n.name.clone())
            .collect();
        let sel = order::select(nodes, target, None, None, &exclude)?;
        match sel.next {
            Some(c) => Next {
                node: Some(c.name),
                reason: c.reason,
            },
            None if at_target + replaced == nodes.len() => Next {
                node: None,
                reason: format!("every node is at {target}: the rollout is done"),
            },
            None => Next {
                node: None,
                reason: "no node can be taken: the rest are blocked (see each node)".into(),
            },
        }
    };
    Ok(Rollout {
        target: target.to_string(),
        nodes: nodes.len(),
        counts,
        done: at_target + replaced == nodes.len(),
        lock: ctx.lock_view(),
        pools: out_pools,
        next,
    })
}

/// When the newest finished drain-next drain began (its cordon; the record's time for records
/// that do not say), from the records: what "created since the last drain" counts from, so
/// that the replacements of the pods it evicted count.
pub fn last_drain(
    standing: &[(String, Standing, crate::facts::progress::Progress)],
) -> Option<jiff::Timestamp> {
    standing
        .iter()
        .filter(|(_, st, _)| st.drain_finished())
        .filter_map(|(_, _, p)| p.began().parse::<jiff::Timestamp>().ok())
        .max()
}

/// The budgets the finished drains touched (their records' `pdbs`, joined), for validation;
/// `None` when there is no finished drain yet or a record does not say (written before the
/// field existed): then every budget counts.
pub fn last_touched(
    standing: &[(String, Standing, crate::facts::progress::Progress)],
) -> Option<std::collections::BTreeSet<String>> {
    let finished: Vec<&crate::facts::progress::Progress> = standing
        .iter()
        .filter(|(_, st, _)| st.drain_finished())
        .map(|(_, _, p)| p)
        .collect();
    if finished.is_empty() {
        return None;
    }
    let mut all = std::collections::BTreeSet::new();
    for p in finished {
        all.extend(p.pdbs.as_ref()?.iter().cloned());
    }
    Some(all)
}

/// A pod that has not started, as validation sees it: controller-owned, created when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPod {
    /// `ns/name`.
    pub key: String,
    /// RFC 3339 creation time.
    pub created: String,
}

impl PendingPod {
    /// A Pending pod as validation counts it: controller-owned (a replacement the rollout
    /// waits for); `None` for others.
    pub fn from_pod(p: &k8s_openapi::api::core::v1::Pod) -> Option<PendingPod> {
        let owned = p
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|o| o.iter().any(|r| r.controller == Some(true)));
        owned.then(|| PendingPod {
            key: format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            ),
            created: p
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
        })
    }
}

/// Validation between nodes (before drain-next takes a new one), like kops' cluster
/// validation: what says the cluster has not settled after the last node. Empty: go on.
/// - a node drained by drain-next that is back at the target but still cordoned;
/// - a PDB whose healthy pods are below its desired count (the last drain's pods have not
///   come back, or something else is wrong: either way not the time to take more); with
///   `touched` ([`last_touched`]) only the budgets the finished drains touched count, so an
///   application that was unhealthy before does not hold the rollout;
/// - a controller-owned pod still Pending that was created after the last finished drain
///   (`since`: [`last_drain`]), i.e. a replacement that cannot start.
///
/// Pure: the records, the PDBs and the Pending pods in, the problems out.
pub fn unsettled(
    standing: &[(String, Standing, crate::facts::progress::Progress)],
    pdbs: &[crate::facts::pdb::PdbFacts],
    pending: &[PendingPod],
    since: Option<jiff::Timestamp>,
    touched: Option<&std::collections::BTreeSet<String>>,
) -> Vec<String> {
    let mut out = awaiting_uncordon(standing);
    // A budget that held a node passed over as blocked was unhealthy already: that is why
    // the node was passed over; it does not hold the next one.
    let held: std::collections::BTreeSet<&String> = standing
        .iter()
        .filter(|(_, st, _)| *st == Standing::Blocked)
        .flat_map(|(_, _, p)| p.pdbs.iter().flatten())
        .collect();
    for p in pdbs
        .iter()
        .filter(|p| p.observed && p.current_healthy < p.desired_healthy)
        .filter(|p| touched.is_none_or(|t| t.contains(&p.key())))
        .filter(|p| !held.contains(&p.key()))
    {
        out.push(format!(
            "PDB {} has {} healthy pod(s) of {} desired: its pods have not come back yet",
            p.key(),
            p.current_healthy,
            p.desired_healthy
        ));
    }
    if let Some(since) = since {
        // creationTimestamp has whole seconds: a pod made in the drain's first second counts.
        let since = jiff::Timestamp::from_second(since.as_second()).unwrap_or(since);
        let late: Vec<&str> = pending
            .iter()
            .filter(|p| {
                p.created
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|c| c >= since)
            })
            .map(|p| p.key.as_str())
            .collect();
        if !late.is_empty() {
            out.push(format!(
                "{} pod(s) created since the last drain ({since}) are still Pending: {}",
                late.len(),
                crate::findings::bounded(&late, crate::findings::NAMES_SHOWN)
            ));
        }
    }
    out
}

/// The part of [`unsettled`] that waiting cannot fix: nodes drained by drain-next that are
/// back at the target but still cordoned (only an uncordon brings them back).
pub fn awaiting_uncordon(
    standing: &[(String, Standing, crate::facts::progress::Progress)],
) -> Vec<String> {
    standing
        .iter()
        .filter(|(_, st, _)| *st == Standing::Upgraded)
        .map(|(name, _, _)| format!(
            "node {name} is back at the target but still cordoned: `kubectl upgrade uncordon {name}` (or rerun with --uncordon-upgraded)"
        ))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::progress::record;

    use crate::facts::node::fixture::worker as node;
    use crate::facts::progress::Writer;
    use crate::facts::version::v;

    /// A context with the lock free and a v1.33.2 control plane.
    fn free() -> Context {
        Context {
            lock: Some(LockState::Free),
            apiserver: "v1.33.2".into(),
            now: "2026-12-06T10:00:00Z".parse().unwrap(),
        }
    }

    /// A context whose lock holder works on `nodes`.
    fn held(nodes: &[&str]) -> Context {
        let now: jiff::Timestamp = "2026-12-06T10:00:00Z".parse().unwrap();
        Context {
            lock: Some(LockState::Held(crate::facts::lock::Holder {
                identity: "alice@host/1/1".into(),
                user: "alice".into(),
                host: "host (pid 1)".into(),
                command: "kubectl upgrade drain-next".into(),
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                since: Some(now),
                renewed: Some(now),
                lease_seconds: 60,
            })),
            ..free()
        }
    }

    #[test]
    fn every_state_and_the_next_node() {
        let mut cp = node("cp-1", "v1.33.2");
        cp.roles = vec!["control-plane".into()];
        let ng = |name: &str, kubelet: &str, pool: &str| {
            let mut n = node(name, kubelet);
            n.labels
                .insert("eks.amazonaws.com/nodegroup".into(), pool.into());
            n
        };
        let done = ng("a-done", "v1.33.2", "blue");
        let wait = ng("b-wait", "v1.32.5", "blue");
        let mut sick = ng("c-sick", "v1.32.5", "green");
        sick.ready = false;
        let mut foreign = ng("d-foreign", "v1.32.5", "green");
        foreign.unschedulable = true;
        let nodes = vec![
            cp.clone(),
            done.clone(),
            wait.clone(),
            sick.clone(),
            foreign.clone(),
        ];
        let r = rollout(&nodes, &v("v1.33.2"), &free()).unwrap();
        assert_eq!(r.pools[0].name, "control-plane");
        assert_eq!(
            r.pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["control-plane", "blue", "green"]
        );
        assert_eq!(
            (
                r.counts.at_target,
                r.counts.waiting,
                r.counts.blocked,
                r.counts.in_progress
            ),
            (2, 1, 2, 0)
        );
        assert_eq!(r.next.node.as_deref(), Some("b-wait"));
        assert!(!r.done);

        // b-wait being drained: in progress, and nothing else starts.
        let mut draining = wait.clone();
        draining.unschedulable = true;
        draining.progress = record(ProgressState::Draining, Some("v1.33.2"), Writer::DrainNext);
        let three = [cp.clone(), done.clone(), draining.clone()];
        let r = rollout(&three, &v("v1.33.2"), &held(&["b-wait"])).unwrap();
        let b = &r.pools[1]
            .nodes
            .iter()
            .find(|n| n.name == "b-wait")
            .unwrap()
            .clone();
        assert_eq!(b.state, State::InProgress);
        assert_eq!(b.step.as_deref(), Some("draining"));
        assert!(b.by.as_deref().unwrap().starts_with("drain-next by"));
        assert!(r.next.node.is_none() && r.next.reason.contains("b-wait is in progress"));
        assert_eq!(r.lock.state, "held");

        // The same record with nobody holding the lock for it: a stopped drain, resumed next.
        for ctx in [free(), held(&["other"])] {
            let r = rollout(&three, &v("v1.33.2"), &ctx).unwrap();
            let b = r.pools[1]
                .nodes
                .iter()
                .find(|n| n.name == "b-wait")
                .unwrap();
            assert_eq!(b.state, State::Stopped, "{}", b.detail);
            assert!(
                b.detail.contains("stopped in state 'draining'"),
                "{}",
                b.detail
            );
            assert_eq!((r.counts.stopped, r.counts.in_progress), (1, 0));
            assert_eq!(r.next.node.as_deref(), Some("b-wait"));
        }
        // The lock unreadable: say it cannot tell.
        let unknown = Context {
            lock: None,
            ..free()
        };
        let r = rollout(&three, &v("v1.33.2"), &unknown).unwrap();
        assert_eq!(r.lock.state, "unknown");
        assert!(r.pools[1]
            .nodes
            .iter()
            .any(|n| n.detail.contains("cannot be read")));

        // Drained and back at the target: uncordon pending; failed: blocked.
        let mut upgraded = draining.clone();
        upgraded.kubelet_version = "v1.33.2".into();
        upgraded.progress = record(ProgressState::Drained, Some("v1.33.2"), Writer::DrainNext);
        let r = rollout(&[upgraded.clone()], &v("v1.33.2"), &free()).unwrap();
        assert!(r.pools[0].nodes[0]
            .detail
            .contains("kubectl upgrade uncordon b-wait"));
        // ... unless uncordon would refuse it: a kubelet newer than the oldest apiserver.
        let behind = Context {
            apiserver: "v1.32.9".into(),
            ..free()
        };
        let r = rollout(&[upgraded.clone()], &v("v1.33.2"), &behind).unwrap();
        let n = &r.pools[0].nodes[0];
        assert_eq!(n.state, State::Blocked);
        assert!(
            n.detail.contains("uncordon refuses")
                && n.detail.contains("newer than kube-apiserver v1.32.9"),
            "{}",
            n.detail
        );
        let mut failed = draining.clone();
        failed.progress = record(ProgressState::Failed, Some("v1.33.2"), Writer::DrainNext);
        let r = rollout(&[failed], &v("v1.33.2"), &free()).unwrap();
        assert_eq!(r.pools[0].nodes[0].state, State::Blocked);

        // All at the target and schedulable: done.
        let r = rollout(&[cp, done], &v("v1.33.2"), &free()).unwrap();
        assert!(r.done);
        assert!(r.next.reason.contains("done"));
    }

    #[test]
    fn validation_names_what_has_not_settled() {
        use crate::facts::pdb::PdbFacts;
        use crate::facts::progress::{Progress, ProgressState, Writer};
        let record = |time: &str| Progress {
            state: ProgressState::Drained,
            target: None,
            time: time.into(),
            command: Writer::DrainNext,
            user: "alice".into(),
            pdbs: None,
            started: None,
            reason: None,
            deleted_blocking: None,
        };
        let standing = vec![
            (
                "w-1".to_string(),
                Standing::Upgraded,
                record("2026-12-04T10:00:00Z"),
            ),
            (
                "w-0".to_string(),
                Standing::ForRemoval,
                record("2026-12-04T09:00:00Z"),
            ),
        ];
        let pdb = |name: &str, current: i32, desired: i32| PdbFacts {
            namespace: "app".into(),
            name: name.into(),
            observed: true,
            current_healthy: current,
            desired_healthy: desired,
            ..PdbFacts::default()
        };
        let pending = vec![
            PendingPod {
                key: "app/web-new".into(),
                created: "2026-12-04T10:00:05Z".into(),
            },
            PendingPod {
                key: "app/old-stuck".into(),
                created: "2026-11-01T00:00:00Z".into(),
            },
        ];
        let since = last_drain(&standing);
        assert_eq!(since, "2026-12-04T10:00:00Z".parse().ok());
        let p = unsettled(
            &standing,
            &[pdb("web", 1, 2), pdb("db", 3, 2)],
            &pending,
            since,
            None,
        );
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].contains("w-1") && p[0].contains("still cordoned"));
        assert!(p[1].contains("PDB app/web has 1 healthy pod(s) of 2 desired"));
        assert!(p[2].contains("app/web-new") && !p[2].contains("old-stuck"));
        // Settled: nothing cordoned at the target, budgets met, no new Pending pod.
        let done = vec![(
            "w-0".to_string(),
            Standing::ForRemoval,
            record("2026-12-04T09:00:00Z"),
        )];
        assert!(unsettled(
            &done,
            &[pdb("db", 3, 2)],
            &pending[1..],
            last_drain(&done),
            None
        )
        .is_empty());
        // Records naming the budgets they touched: an unhealthy budget nobody drained does
        // not hold the rollout; a touched one does.
        assert_eq!(
            last_touched(&standing),
            None,
            "records without pdbs: every budget"
        );
        assert_eq!(last_touched(&[]), None, "no finished drain: every budget");
        let named = vec![
            (
                "w-1".to_string(),
                Standing::Upgraded,
                record("2026-12-04T10:00:00Z").with_pdbs(vec!["app/api".into()]),
            ),
            (
                "w-0".to_string(),
                Standing::ForRemoval,
                record("2026-12-04T09:00:00Z").with_pdbs(vec![]),
            ),
        ];
        let touched = last_touched(&named).expect("every record says");
        assert_eq!(touched, ["app/api".to_string()].into());
        let budgets = [pdb("web", 1, 2), pdb("api", 1, 2)];
        let p = unsettled(&named[1..], &budgets, &[], None, Some(&touched));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("app/api") && !p[0].contains("app/web"));
        // A node passed over as blocked (--on-blocked=skip): the budgets that held it were
        // unhealthy already and do not hold the next node; the others still do.
        let with_blocked = vec![(
            "w-3".to_string(),
            Standing::Blocked,
            record("2026-12-04T11:00:00Z").with_pdbs(vec!["app/web".into()]),
        )];
        let p = unsettled(&with_blocked, &budgets, &[], None, None);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("app/api"), "{p:#?}");
        assert_eq!(
            last_touched(&with_blocked),
            None,
            "a blocked drain is not finished"
        );
        // A drain awaiting its node's upgrade has finished too; its replacements were made
        // after it began (its `started`), in whole seconds like creationTimestamp.
        let awaiting = vec![(
            "w-2".to_string(),
            Standing::AwaitingUpgrade,
            Progress {
                time: "2026-12-04T11:00:09.900Z".into(),
                ..record("2026-12-04T11:00:09.900Z")
            }
            .started_at("2026-12-04T11:00:05.700Z".parse().unwrap()),
        )];
        let since = last_drain(&awaiting);
        assert_eq!(since, "2026-12-04T11:00:05.700Z".parse().ok());
        let replacement = [PendingPod {
            key: "app/web-x".into(),
            created: "2026-12-04T11:00:05Z".into(),
        }];
        let p = unsettled(&awaiting, &[], &replacement, since, None);
        assert!(p.iter().any(|m| m.contains("app/web-x")), "{p:#?}");
    }
}
