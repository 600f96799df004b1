//! drain-next's planner: given the nodes, their progress records, the pods and budgets, the
//! strategy and the options, the next step (which nodes, why) or the reason to stop, as typed
//! values. Pure: no I/O, no exit codes (`crate::exit` maps a [`StopReason`] to one), no CLI
//! types. [`crate::rollout::run`] reads the cluster and acts on what this decides.

use crate::drain::model::{DrainOptions, DrainScope, DrainSummary, Outcome};
use crate::facts::node::NodeFacts;
use crate::facts::pdb::{IntOrPercent, PdbFacts};
use crate::facts::pod::PodFacts;
use crate::facts::progress::{Progress, Writer};
use crate::facts::resources::Resources;
use crate::facts::selector::Selector;
use crate::facts::version::Version;
use crate::findings::{bounded, NAMES_SHOWN};
use crate::policy::batch::{self, Shared};
use crate::policy::capacity::{self, Destination, Moving};
use crate::policy::order::{self, Standing};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// How the workers move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Drain, upgrade in place, uncordon; one node (or `--max-unavailable`) at a time.
    OneAtATime,
    /// Drain old nodes onto nodes already at the target, for removal.
    Replace,
    /// Every selected worker cordoned and drained together (downtime).
    AllAtOnce,
}

impl Strategy {
    /// Who the progress record names: replace drains for removal; the others upgrade in place.
    pub fn writer(self) -> Writer {
        match self {
            Strategy::OneAtATime | Strategy::AllAtOnce => Writer::DrainNext,
            Strategy::Replace => Writer::DrainNextReplace,
        }
    }
}

/// drain-next's options, typed (the CLI parses its flags into these).
#[derive(Debug, Clone)]
pub struct Options {
    /// Drain this node next (even NotReady or cordoned by someone else).
    pub node: Option<String>,
    /// Only nodes matching this label selector are considered.
    pub selector: Option<Selector>,
    /// `--to`; `None`: the oldest kube-apiserver's version.
    pub to: Option<Version>,
    pub allow_another: bool,
    pub uncordon_upgraded: bool,
    pub strategy: Strategy,
    pub max_unavailable: Option<IntOrPercent>,
    pub accept_downtime: bool,
    pub delete_node: bool,
    /// The validation between nodes and how long it waits; `None` with `--no-validate`.
    pub validate: Option<Duration>,
    pub ignore_capacity: bool,
    pub allow_newer_than_apiserver: bool,
    pub wait_for_lock: Option<Duration>,
    /// What a drain that times out does to the rollout (`--on-blocked`).
    pub on_blocked: OnBlocked,
    /// Each node's drain; its `target` is set once the target is known.
    pub drain: DrainOptions,
}

/// drain-next's defaults (as with no flag): one at a time, validation up to 5 minutes, stop
/// when blocked; the drain's own defaults.
impl Default for Options {
    fn default() -> Self {
        Options {
            node: None,
            selector: None,
            to: None,
            allow_another: false,
            uncordon_upgraded: false,
            strategy: Strategy::OneAtATime,
            max_unavailable: None,
            accept_downtime: false,
            delete_node: false,
            validate: Some(Duration::from_secs(300)),
            ignore_capacity: false,
            allow_newer_than_apiserver: false,
            wait_for_lock: None,
            on_blocked: OnBlocked::Stop,
            drain: DrainOptions::default(),
        }
    }
}

/// `--on-blocked`: what a node whose drain times out does to the rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnBlocked {
    /// Stop there (exit 2); the node stays cordoned and the next run resumes it.
    #[default]
    Stop,
    /// Leave it cordoned and recorded `blocked` with the reason, go on with the next node,
    /// and come back to blocked nodes once no other node is left.
    Skip,
}

impl Options {
    /// Combinations that make no sense, refused before anything is read (a usage error).
    pub fn check(&self) -> Result<(), String> {
        self.drain.check()?;
        if self.on_blocked == OnBlocked::Skip && self.drain.timeout.is_none() {
            return Err("--on-blocked=skip passes a node over when its drain times out: give --timeout (how long to try each node, e.g. --timeout 15m)".into());
        }
        if self.on_blocked == OnBlocked::Skip && self.strategy == Strategy::AllAtOnce {
            return Err("--on-blocked=skip goes on with the next node; --strategy all-at-once has no next node (drop one of them)".into());
        }
        let all_at_once = self.strategy == Strategy::AllAtOnce;
        if self.delete_node && self.strategy != Strategy::Replace {
            return Err(
                "--delete-node is for --strategy replace (a node upgraded in place comes back)"
                    .into(),
            );
        }
        if all_at_once && !self.accept_downtime {
            return Err("--strategy all-at-once cordons and drains every selected worker together: workloads with no room on other nodes are down until the nodes come back; pass --accept-downtime to confirm, or use --max-unavailable N for a rolling batch".into());
        }
        if self.accept_downtime && !all_at_once && self.max_unavailable.is_none() {
            return Err("--accept-downtime confirms --strategy all-at-once (or a --max-unavailable that takes every worker); the other strategies keep workloads up".into());
        }
        if all_at_once && self.max_unavailable.is_some() {
            return Err("--max-unavailable sizes rolling batches; --strategy all-at-once takes every selected worker (drop one of them)".into());
        }
        if all_at_once && self.node.is_some() {
            return Err("--strategy all-at-once takes every selected worker: select them with -l/--selector instead of naming one".into());
        }
        Ok(())
    }
}

/// Why drain-next stops without draining (`crate::exit` gives each its exit code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Every node considered (or the one named) is at the target.
    NothingToDo(String),
    /// Nodes below the target remain, but every one was skipped (NotReady, cordoned by
    /// someone else): name one to drain it anyway.
    OnlySkipped(String),
    /// A node drained earlier is not back at the target (or its record cannot be read).
    InProgress(String),
    /// `--strategy replace` with no Ready, schedulable worker at the target.
    NoDestination(String),
    /// `--strategy replace`: the capacity preview says pods would stay Pending.
    NoCapacity(String),
    /// `--strategy all-at-once`: a node's drain would be blocked, so none was cordoned.
    WouldBlock(String),
    /// The cluster did not settle after the last node within `--validate-timeout`.
    Unsettled(String),
    /// A signal (or the lost lock) stopped the run before anything was touched.
    Interrupted(String),
    /// `--on-blocked=skip`: every node left was passed over as blocked in this run.
    AllBlocked(String),
}

impl StopReason {
    /// The one line said to the user (and the report's `reason`).
    pub fn message(&self) -> &str {
        match self {
            StopReason::NothingToDo(m)
            | StopReason::OnlySkipped(m)
            | StopReason::InProgress(m)
            | StopReason::NoDestination(m)
            | StopReason::NoCapacity(m)
            | StopReason::WouldBlock(m)
            | StopReason::Unsettled(m)
            | StopReason::Interrupted(m)
            | StopReason::AllBlocked(m) => m,
        }
    }
}

/// A node drained in this run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub name: String,
    /// One sentence: why this node now.
    pub reason: String,
    /// It resumes a drain begun earlier (no validation, no capacity preview for it).
    pub resumed: bool,
}

/// A node passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedNode {
    pub node: String,
    pub reason: String,
}

/// Drain these nodes, or stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Drain(Vec<Chosen>),
    Stop(StopReason),
}

/// The planner's answer: the decision, the nodes passed over and those left for later runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub decision: Decision,
    pub skipped: Vec<SkippedNode>,
    pub queue: Vec<String>,
}

impl Pick {
    fn decided(decision: Decision) -> Pick {
        Pick {
            decision,
            skipped: vec![],
            queue: vec![],
        }
    }
}

/// What the planner knows about the cluster (read once per run).
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub nodes: &'a [NodeFacts],
    /// Nodes drain-next drained earlier and where each stands ([`order::in_progress`]).
    pub standing: &'a [(String, Standing, Progress)],
    /// The names `-l` selects, `None` without one.
    pub selected: Option<&'a BTreeSet<String>>,
    pub target: &'a Version,
    /// Nodes passed over as blocked earlier in this run (`--on-blocked=skip`): not tried
    /// again before the next run.
    pub passed_over: &'a BTreeSet<String>,
}

impl View<'_> {
    fn is_control_plane(&self, name: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.name == name && n.is_control_plane())
    }

    /// The workers a `--strategy replace` moves pods onto: Ready, schedulable, at the
    /// target, not leaving.
    fn destinations<'n>(&'n self, leaving: &'n [String]) -> impl Iterator<Item = &'n NodeFacts> {
        self.nodes
            .iter()
            .filter(move |n| !leaving.contains(&n.name))
            .filter(|n| !n.is_control_plane() && n.can_take_pods())
            .filter(|n| order::at_target(&n.kubelet_version, self.target) == Some(true))
    }
}

/// Nodes per run: every selected worker (all-at-once), `--max-unavailable` of the workers
/// considered, else one. A `--max-unavailable` that takes every worker considered at once is
/// the all-at-once strategy (downtime): refused unless `--accept-downtime` confirms it.
pub fn batch_size(opts: &Options, view: &View) -> Result<usize, String> {
    if opts.strategy == Strategy::AllAtOnce {
        return Ok(usize::MAX);
    }
    let Some(spec) = opts.max_unavailable else {
        return Ok(1);
    };
    let considered = view
        .nodes
        .iter()
        .filter(|n| !n.is_control_plane())
        .filter(|n| view.selected.is_none_or(|s| s.contains(&n.name)))
        .count();
    let size = batch::size(spec, considered);
    if batch::takes_every_worker(size, considered) && !opts.accept_downtime {
        return Err(format!(
            "--max-unavailable {spec} takes all {considered} workers considered at once: that is the all-at-once strategy, and workloads with no room elsewhere are down; pass --accept-downtime to confirm, or a smaller N"
        ));
    }
    Ok(size)
}

/// `--strategy replace` needs somewhere to move the workloads: a Ready, schedulable worker at
/// the target.
pub fn without_destination(opts: &Options, view: &View) -> Option<StopReason> {
    if opts.strategy != Strategy::Replace || view.destinations(&[]).next().is_some() {
        return None;
    }
    let target = view.target;
    Some(StopReason::NoDestination(format!(
        "--strategy replace moves workloads onto nodes already at {target}, and no worker at {target} is Ready and schedulable: add the new nodes first"
    )))
}

/// The nodes to drain. In progress: drained (or being drained) by drain-next, still cordoned,
/// not back at the target. A named node that is in progress is resumed; an unnamed run resumes
/// unfinished drains first. Nodes in progress count against the batch size (one, or
/// `--max-unavailable`): when they fill it, or a record cannot be read, no new node is taken
/// (stop: in progress, when nothing is resumed) unless `--allow-another`. Control-plane nodes
/// go alone. `Err`: a named node that does not exist.
pub fn next(opts: &Options, view: &View, size: usize) -> Result<Pick, String> {
    let target = view.target;
    let skip = opts.on_blocked == OnBlocked::Skip;
    let open: Vec<&(String, Standing, Progress)> = view
        .standing
        .iter()
        .filter(|(_, st, _)| !matches!(st, Standing::Upgraded | Standing::ForRemoval))
        .collect();
    // With --on-blocked=skip a blocked node does not hold the next one.
    let in_progress: Vec<&(String, Standing, Progress)> = open
        .iter()
        .copied()
        .filter(|(_, st, _)| !(skip && *st == Standing::Blocked))
        .collect();
    let resume = |(name, st, p): &(String, Standing, Progress)| Chosen {
        name: name.clone(),
        reason: resume_reason(st, p, target),
        resumed: true,
    };
    if let Some(named) = opts.node.as_deref() {
        if let Some(r) = open.iter().find(|(n, _, _)| n == named) {
            return Ok(Pick::decided(Decision::Drain(vec![resume(r)])));
        }
    }
    let unfinished: Vec<&(String, Standing, Progress)> = in_progress
        .iter()
        .copied()
        .filter(|(_, st, _)| {
            opts.node.is_none()
                && (*st == Standing::Unfinished || (!skip && *st == Standing::Blocked))
        })
        .collect();
    let resumed: Vec<Chosen> = match unfinished.first() {
        None => vec![],
        Some(first) if size == 1 || view.is_control_plane(&first.0) => vec![resume(first)],
        Some(_) => unfinished
            .iter()
            .filter(|u| !view.is_control_plane(&u.0))
            .take(size)
            .map(|u| resume(u))
            .collect(),
    };
    let mut room = if opts.allow_another {
        size.saturating_sub(resumed.len())
    } else {
        size.saturating_sub(in_progress.len())
    };
    if !opts.allow_another && room > 0 {
        let unreadable: Vec<(String, String)> = order::unreadable_records(view.nodes)
            .into_iter()
            .filter(|(n, _)| opts.node.as_deref() != Some(n.as_str()))
            .collect();
        if let Some((_, why)) = unreadable.first() {
            if resumed.is_empty() {
                return Ok(Pick::decided(Decision::Stop(StopReason::InProgress(format!(
                    "{} cordoned node(s) carry a progress record that cannot be read, so they count as in progress: {why} (or pass --allow-another)",
                    unreadable.len()
                )))));
            }
            room = 0;
        }
    }
    if room == 0 {
        if !resumed.is_empty() {
            return Ok(Pick::decided(Decision::Drain(resumed)));
        }
        let msg = another_in_progress(&in_progress, target, opts.node.as_deref());
        return Ok(Pick::decided(Decision::Stop(StopReason::InProgress(msg))));
    }
    let exclude: BTreeSet<String> = view.standing.iter().map(|(n, _, _)| n.clone()).collect();
    let sel = order::select(
        view.nodes,
        target,
        view.selected,
        opts.node.as_deref(),
        &exclude,
    )?;
    let skipped: Vec<SkippedNode> = sel
        .skipped
        .iter()
        .map(|(n, r)| SkippedNode {
            node: n.clone(),
            reason: r.clone(),
        })
        .collect();
    let ranked: Vec<(String, bool)> = sel
        .next
        .iter()
        .map(|c| c.name.clone())
        .chain(sel.queue.iter().cloned())
        .map(|n| {
            let cp = view.is_control_plane(&n);
            (n, cp)
        })
        .collect();
    let busy_cp = resumed.iter().any(|c| view.is_control_plane(&c.name));
    let fresh = batch::fill(&ranked, room, !resumed.is_empty(), busy_cp);
    let queue = ranked
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !fresh.contains(n))
        .collect();
    let mut chosen = resumed;
    for (i, name) in fresh.into_iter().enumerate() {
        let reason = match &sel.next {
            Some(c) if i == 0 && c.name == name => c.reason.clone(),
            _ => batch_reason(opts, view, &name),
        };
        chosen.push(Chosen {
            name,
            reason,
            resumed: false,
        });
    }
    let blocked: Vec<&(String, Standing, Progress)> = open
        .iter()
        .copied()
        .filter(|(_, st, _)| skip && opts.node.is_none() && *st == Standing::Blocked)
        // Only nodes the user selected are come back to.
        .filter(|(n, _, _)| view.selected.is_none_or(|s| s.contains(n)))
        .collect();
    let decision = if chosen.is_empty() && !blocked.is_empty() {
        // No other node left: come back to the blocked ones (not those passed over in this
        // run: they were just tried).
        match blocked
            .iter()
            .find(|(n, _, _)| !view.passed_over.contains(n))
        {
            Some(b) => Decision::Drain(vec![resume(b)]),
            None => {
                let names: Vec<String> = blocked.iter().map(|(n, _, _)| n.clone()).collect();
                Decision::Stop(StopReason::AllBlocked(format!(
                    "every node left is blocked ({}): they stay cordoned with the reason in their progress record (`kubectl upgrade status`); clear what blocks them, then rerun drain-next",
                    bounded(&names, crate::findings::NAMES_SHOWN)
                )))
            }
        }
    } else if chosen.is_empty() {
        Decision::Stop(nothing_to_drain(opts.node.as_deref(), &sel, target))
    } else {
        Decision::Drain(chosen)
    };
    Ok(Pick {
        decision,
        skipped,
        queue,
    })
}

/// No node to drain: nothing to do, or only skipped nodes left.
fn nothing_to_drain(named: Option<&str>, sel: &order::Selection, target: &Version) -> StopReason {
    if let Some(named) = named {
        // A named node is only passed over when it is already at the target.
        let why = sel.skipped.first().map(|(_, r)| r.as_str()).unwrap_or("");
        return StopReason::NothingToDo(format!("nothing to do: {named}: {why}"));
    }
    match sel.skipped.len() {
        0 => StopReason::NothingToDo(format!(
            "nothing to do: all {} considered node(s) run kubelet at or above {target}",
            sel.at_target
        )),
        behind => StopReason::OnlySkipped(format!(
            "no node can be drained now: {behind} node(s) below {target} were skipped (listed above); name one to drain it anyway"
        )),
    }
}

/// Why a further node of a batch is taken with the first.
fn batch_reason(opts: &Options, view: &View, name: &str) -> String {
    let kubelet = view
        .nodes
        .iter()
        .find(|n| n.name == name)
        .map_or("?", |n| n.kubelet_version.as_str());
    let how = match (opts.strategy, opts.max_unavailable) {
        (Strategy::AllAtOnce, _) => "all at once (--accept-downtime)".to_string(),
        (_, Some(m)) => format!("in the same batch (--max-unavailable {m})"),
        (_, None) => "in the same batch".to_string(),
    };
    format!(
        "worker with kubelet {kubelet} < target {}, {how}",
        view.target
    )
}

/// Why drain-next picks a node it drained before.
fn resume_reason(st: &Standing, p: &Progress, target: &Version) -> String {
    match st {
        Standing::Blocked => format!(
            "coming back to it: {} passed it over as blocked at {} ({})",
            p.by(),
            p.time,
            p.reason.as_deref().unwrap_or("no reason recorded")
        ),
        Standing::Unfinished => format!(
            "resuming: its drain by {} stopped in state '{}' at {}",
            p.by(),
            p.state.as_str(),
            p.time
        ),
        _ => format!(
            "resuming: drained by {} at {} for {}, not back at the target yet; draining it again",
            p.by(),
            p.time,
            p.target.as_ref().unwrap_or(target)
        ),
    }
}

/// The in-progress message: which nodes are still in progress and how to finish each.
fn another_in_progress(
    others: &[&(String, Standing, Progress)],
    target: &Version,
    named: Option<&str>,
) -> String {
    let list: Vec<String> = others
        .iter()
        .map(|(n, st, p)| {
            let goal = p.target.as_ref().unwrap_or(target);
            match st {
                Standing::Blocked => format!(
                    "{n} (passed over as blocked at {}: {}; retry it with `kubectl upgrade drain-next {n}`, or pass --on-blocked=skip to go on without it)",
                    p.time,
                    p.reason.as_deref().unwrap_or("no reason recorded")
                ),
                Standing::Unfinished => format!(
                    "{n} (its drain stopped in state '{}' at {}: finish it with `kubectl upgrade drain-next {n}`, upgrade it to {goal}, then `kubectl upgrade uncordon {n}`)",
                    p.state.as_str(),
                    p.time
                ),
                _ => format!(
                    "{n} (drained {} for {goal}: once it is upgraded and Ready, `kubectl upgrade uncordon {n}` or rerun with --uncordon-upgraded)",
                    p.time
                ),
            }
        })
        .collect();
    let (prefix, which) = match named {
        Some(n) => (format!("{n} not drained: "), n.to_string()),
        None => (String::new(), "a further node".to_string()),
    };
    format!(
        "{prefix}another node is still in progress: {}; finish it first, or pass --allow-another to drain {which} anyway",
        list.join(", ")
    )
}

/// The pods a drain of `node` removes that must find room elsewhere: on the node, running,
/// not already deleting, moving on a drain (not mirror, not DaemonSet), in the drain's scope.
fn moving_off<'p>(
    pods: &'p [Pod],
    node: &'p str,
    scope: &'p DrainScope,
) -> impl Iterator<Item = (&'p Pod, PodFacts)> + 'p {
    pods.iter()
        .filter(move |p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .map(|p| (p, PodFacts::from_pod(p)))
        .filter(|(_, f)| !f.is_finished() && !f.deleting && f.moves_on_drain())
        .filter(|(p, f)| {
            let empty = Default::default();
            scope.contains(&f.namespace, p.metadata.labels.as_ref().unwrap_or(&empty))
        })
}

/// The capacity preview of `--strategy replace`: do the pods that must leave the batch fit
/// on the Ready, schedulable workers at the target ([`capacity::place`])?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityCheck {
    pub moving: usize,
    pub destinations: usize,
    /// `ns/name` and why, for each pod that would stay Pending.
    pub pending: Vec<(String, String)>,
}

/// Does a pod leaving `batch` claim a volume (then where volumes reach is worth reading)?
pub fn batch_claims_volumes(pods: &[Pod], batch: &[String], scope: &DrainScope) -> bool {
    batch
        .iter()
        .flat_map(|n| moving_off(pods, n, scope))
        .any(|(p, _)| {
            p.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .any(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some())
        })
}

/// [`CapacityCheck`] for `batch` from every pod of the cluster and where bound volumes
/// reach.
pub fn replace_capacity(
    view: &View,
    pods: &[Pod],
    batch: &[String],
    scope: &DrainScope,
    volumes: &capacity::Volumes,
) -> CapacityCheck {
    let moving: Vec<Moving> = batch
        .iter()
        .flat_map(|n| moving_off(pods, n, scope))
        .map(|(p, _)| {
            let mut m = Moving::from_pod(p);
            volumes.apply(&mut m);
            m
        })
        .collect();
    let unknown_room = Resources {
        cpu_millis: u64::MAX / 4,
        memory_bytes: u64::MAX / 4,
        pods: u64::MAX / 4,
    };
    fn running_on<'p>(pods: &'p [Pod], name: &'p str) -> impl Iterator<Item = &'p Pod> + 'p {
        pods.iter()
            .filter(move |p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name))
            .filter(|p| {
                let f = PodFacts::from_pod(p);
                !f.is_finished() && !f.deleting
            })
    }
    let mut occupants = Vec::new();
    let open: Vec<&NodeFacts> = view.destinations(batch).collect();
    // Topology spread counts every node with its pods (cordoned and old ones too): then the
    // other nodes join, closed; the pods leaving the batch are not among their occupants.
    let spread = moving.iter().any(|m| !m.rules.spread.is_empty());
    let leaving: std::collections::HashSet<&str> = moving.iter().map(|m| &*m.key).collect();
    let closed: Vec<&NodeFacts> = if spread {
        view.nodes
            .iter()
            .filter(|n| !open.iter().any(|o| o.name == n.name))
            .collect()
    } else {
        vec![]
    };
    let destinations: Vec<Destination> = open
        .iter()
        .map(|n| (n, false))
        .chain(closed.iter().map(|n| (n, true)))
        .enumerate()
        .map(|(i, (n, closed))| {
            let mut used = Resources::default();
            for p in running_on(pods, &n.name) {
                let m = Moving::from_pod(p);
                if leaving.contains(&*m.key) {
                    continue;
                }
                used.add(Resources::requested_by(p));
                occupants.push((i, m));
            }
            Destination {
                name: n.name.clone(),
                labels: std::sync::Arc::new(n.labels.clone()),
                taints: std::sync::Arc::new(n.taints.clone()),
                free: n.allocatable.unwrap_or(unknown_room).minus(used),
                closed,
            }
        })
        .collect();
    CapacityCheck {
        moving: moving.len(),
        destinations: open.len(),
        pending: capacity::place(&moving, &destinations, occupants),
    }
}

impl CapacityCheck {
    /// The line said when the pods fit; the stop when some would stay Pending.
    pub fn verdict(&self, batch: &[String], target: &Version) -> Result<String, StopReason> {
        let node = batch.join(", ");
        if self.pending.is_empty() {
            return Ok(format!(
                "capacity: the {} pod(s) to move off {node} fit on the {} node(s) at {target} (by requests, selectors, node and pod anti-affinity, and taints)",
                self.moving, self.destinations
            ));
        }
        let named: Vec<String> = self
            .pending
            .iter()
            .map(|(k, why)| format!("{k} ({why})"))
            .collect();
        Err(StopReason::NoCapacity(format!(
            "capacity preview: {} of the {} pod(s) to move off {node} would stay Pending on the {} node(s) at {target}: {}; add nodes at the target, or pass --ignore-capacity; nothing was touched",
            self.pending.len(),
            self.moving,
            self.destinations,
            bounded(&named, NAMES_SHOWN)
        )))
    }
}

/// The budgets shared across the batch ([`batch::shared_budgets`]) from every pod and PDB:
/// each batch node's pods in the drain's scope, with the budgets covering them.
pub fn shared_budgets(
    pods: &[Pod],
    pdbs: &[PdbFacts],
    batch: &[String],
    drain: &DrainOptions,
) -> Vec<Shared> {
    let per_node: Vec<(String, Vec<PodFacts>)> = batch
        .iter()
        .map(|name| {
            let facts = pods
                .iter()
                .filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                })
                .filter_map(|p| {
                    let mut f = PodFacts::from_pod(p);
                    let empty = Default::default();
                    let labels = p.metadata.labels.as_ref().unwrap_or(&empty);
                    drain.scope.contains(&f.namespace, labels).then(|| {
                        f.pdbs = PdbFacts::covering(pdbs, &f.namespace, labels);
                        f
                    })
                })
                .collect();
            (name.clone(), facts)
        })
        .collect();
    batch::shared_budgets(&per_node, pdbs, &drain.filter)
}

/// How the run ended.
pub enum Verdict {
    /// Nothing was drained, for this reason.
    Stopped(StopReason),
    /// Each node of the batch, in order.
    Drains(Vec<NodeEnd>),
}

/// One node's end in a run.
pub enum NodeEnd {
    /// Its drain ran (the summary is also in the report), and what follows it.
    Ran {
        summary: Box<DrainSummary>,
        next: Option<String>,
        /// `--delete-node` could not delete the Node (the drain itself finished).
        delete_failed: bool,
    },
    /// A batch node whose drain could not start; the others went on.
    NotStarted {
        node: String,
        error: crate::client::error::ClientError,
    },
}

/// What follows a node's drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterDrain {
    /// The drain did not finish: its own summary says why.
    Nothing,
    /// Say the next step.
    Next(String),
    /// `--delete-node`: delete the Node object now.
    DeleteNode,
}

/// The next step for the strategy once `summary`'s drain finished.
pub fn after_drain(opts: &Options, summary: &DrainSummary, target: &Version) -> AfterDrain {
    let name = summary.node.as_str();
    let finished = matches!(
        summary.outcome,
        Outcome::Drained | Outcome::NothingToDo | Outcome::DryRun
    );
    if !finished {
        return AfterDrain::Nothing;
    }
    if opts.strategy != Strategy::Replace {
        return AfterDrain::Next(format!(
            "next: upgrade {name} to {target}, then run `kubectl upgrade uncordon {name}` (or `kubectl upgrade drain-next --uncordon-upgraded`)"
        ));
    }
    let dry = opts.drain.dry_run;
    if opts.delete_node && dry.is_dry() {
        return AfterDrain::Next(format!(
            "would delete Node {name} once its drain succeeded (--delete-node){}; `kubectl upgrade drain-next --strategy replace --delete-node` takes the next",
            dry.suffix()
        ));
    }
    if !opts.delete_node {
        return AfterDrain::Next(format!(
            "{name} is drained for removal and stays cordoned: remove its instance, then `kubectl delete node {name}` (or rerun with --delete-node); `kubectl upgrade drain-next --strategy replace` takes the next"
        ));
    }
    AfterDrain::DeleteNode
}

/// drain-next's JSON/YAML output (`-o json|yaml`); the text output is its `reason` and the
/// drains' summaries.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub target: String,
    pub strategy: Strategy,
    /// The drained node's Node object was deleted (`--delete-node`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted_node: bool,
    /// The node drained, when one was (`nodes`/`drains` list every node of a batch).
    pub node: Option<String>,
    pub reason: String,
    pub uncordoned: Vec<String>,
    pub skipped: Vec<SkippedNode>,
    pub queue: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainSummary>,
    /// Every node drained by this run (one, or a batch).
    pub nodes: Vec<String>,
    pub drains: Vec<DrainSummary>,
    /// Budgets shared across the batch ([`batch::shared_budgets`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_budgets: Vec<Shared>,
    /// Nodes whose Node object was deleted (`--delete-node`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_nodes: Vec<String>,
    /// `--strategy replace`: the old nodes of the pool tainted `PreferNoSchedule` so that the
    /// evicted pods do not land on nodes drained next.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tainted: Vec<String>,
    /// The rollout lock was taken over from a run that stopped renewing it (who, since when).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_over_lock: Option<String>,
    /// Why the run stopped early: a signal (`interrupted (SIGTERM)`) or the lock lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// `--on-blocked=skip`: nodes whose drain timed out in this run, left cordoned and
    /// recorded `blocked` with the reason, before the run went on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed_over: Vec<SkippedNode>,
}

impl StepReport {
    pub fn new(target: &Version, strategy: Strategy) -> StepReport {
        StepReport {
            target: target.to_string(),
            strategy,
            deleted_node: false,
            node: None,
            reason: String::new(),
            uncordoned: vec![],
            skipped: vec![],
            queue: vec![],
            drain: None,
            nodes: vec![],
            drains: vec![],
            shared_budgets: vec![],
            deleted_nodes: vec![],
            tainted: vec![],
            took_over_lock: None,
            stopped: None,
            passed_over: vec![],
        }
    }
}

/// `--on-blocked=skip`: the nodes of a run's batch whose drain timed out, each with the
/// one-line reason its record keeps (the first budget that held it, else the drain's own
/// line). Empty without the flag, in a dry run, or when nothing timed out.
pub fn blocked_to_skip(opts: &Options, ends: &[NodeEnd]) -> Vec<SkippedNode> {
    if opts.on_blocked != OnBlocked::Skip || opts.drain.dry_run.is_dry() {
        return vec![];
    }
    ends.iter()
        .filter_map(|end| match end {
            NodeEnd::Ran { summary, .. } if summary.outcome == Outcome::TimedOut => {
                let reason = match summary.held_by.first() {
                    Some(h) => format!(
                        "timed out: PDB {} allows no eviction ({})",
                        h.pdb, h.numbers
                    ),
                    None => summary
                        .message
                        .lines()
                        .next()
                        .unwrap_or("timed out")
                        .to_string(),
                };
                Some(SkippedNode {
                    node: summary.node.clone(),
                    reason,
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::progress::ProgressState;

    use crate::facts::node::fixture::{control_plane as cp, worker as node};
    use crate::facts::version::v;

    fn opts() -> Options {
        Options::default()
    }

    fn progress(state: ProgressState, target: &str) -> Progress {
        Progress {
            state,
            target: Some(v(target)),
            time: "2026-12-01T10:00:00Z".into(),
            command: Writer::DrainNext,
            user: "ops".into(),
            pdbs: None,
            started: None,
            reason: None,
            deleted_blocking: None,
        }
    }

    fn names(p: &Pick) -> Vec<(&str, bool)> {
        match &p.decision {
            Decision::Drain(c) => c.iter().map(|c| (c.name.as_str(), c.resumed)).collect(),
            Decision::Stop(_) => vec![],
        }
    }

    /// The planner's table: the cluster and the options in, the nodes (resumed or not) or the
    /// kind of stop out.
    #[test]
    fn next_decides_by_the_table() {
        let t = v("v1.33.2");
        let pool = vec![
            cp("cp", "v1.32.5"),
            node("w-b", "v1.32.5"),
            node("w-a", "v1.32.5"),
            node("w-old", "v1.31.9"),
            node("w-done", "v1.33.2"),
        ];
        let unfinished = vec![(
            "w-b".to_string(),
            Standing::Unfinished,
            progress(ProgressState::Draining, "v1.33.2"),
        )];
        let awaiting = vec![(
            "w-b".to_string(),
            Standing::AwaitingUpgrade,
            progress(ProgressState::Drained, "v1.33.2"),
        )];
        let none = vec![];
        type Row<'a> = (
            &'a str,
            &'a [(String, Standing, Progress)],
            Options,
            usize,
            Vec<(&'a str, bool)>,
        );
        let named = |n: &str| Options {
            node: Some(n.into()),
            ..opts()
        };
        let another = Options {
            allow_another: true,
            ..opts()
        };
        let rows: Vec<Row> = vec![
            ("control plane first", &none, opts(), 1, vec![("cp", false)]),
            (
                "an unfinished drain is resumed first",
                &unfinished,
                opts(),
                1,
                vec![("w-b", true)],
            ),
            (
                "a batch: resumed plus fresh, control plane alone",
                &unfinished,
                opts(),
                3,
                vec![("w-b", true)],
            ),
            ("named", &none, named("w-a"), 1, vec![("w-a", false)]),
            (
                "named and in progress: resumed",
                &awaiting,
                named("w-b"),
                1,
                vec![("w-b", true)],
            ),
            (
                "--allow-another takes a further node",
                &awaiting,
                another,
                1,
                vec![("cp", false)],
            ),
        ];
        for (what, standing, o, size, want) in rows {
            let view = View {
                nodes: &pool,
                standing,
                selected: None,
                target: &t,
                passed_over: &BTreeSet::new(),
            };
            let got = next(&o, &view, size).unwrap();
            assert_eq!(names(&got), want, "{what}");
        }
        // Workers only (-l): oldest kubelet first, then by name; the queue holds the rest.
        let workers: BTreeSet<String> = ["w-a", "w-b", "w-old", "w-done"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let view = View {
            nodes: &pool,
            standing: &none,
            selected: Some(&workers),
            target: &t,
            passed_over: &BTreeSet::new(),
        };
        let got = next(&opts(), &view, 2).unwrap();
        assert_eq!(names(&got), vec![("w-old", false), ("w-a", false)]);
        assert_eq!(got.queue, vec!["w-b".to_string()]);
    }

    #[test]
    fn next_stops_with_a_typed_reason() {
        let t = v("v1.33.2");
        let none = vec![];
        let stop = |nodes: &[NodeFacts], standing: &[(String, Standing, Progress)], o: &Options| {
            let view = View {
                nodes,
                standing,
                selected: None,
                target: &t,
                passed_over: &BTreeSet::new(),
            };
            match next(o, &view, 1).unwrap().decision {
                Decision::Stop(r) => r,
                Decision::Drain(c) => panic!("drained {c:?}"),
            }
        };
        let done = [node("a", "v1.33.2"), node("b", "v1.34.0")];
        assert!(matches!(
            stop(&done, &none, &opts()),
            StopReason::NothingToDo(m) if m.contains("all 2 considered node(s)")
        ));
        let down = [NodeFacts {
            ready: false,
            ..node("a", "v1.32.0")
        }];
        assert!(matches!(
            stop(&down, &none, &opts()),
            StopReason::OnlySkipped(m) if m.contains("1 node(s) below v1.33.2 were skipped")
        ));
        let awaiting = vec![(
            "a".to_string(),
            Standing::AwaitingUpgrade,
            progress(ProgressState::Drained, "v1.33.2"),
        )];
        let pool = [
            NodeFacts {
                unschedulable: true,
                ..node("a", "v1.32.0")
            },
            node("b", "v1.32.0"),
        ];
        assert!(matches!(
            stop(&pool, &awaiting, &opts()),
            StopReason::InProgress(m) if m.contains("--allow-another")
        ));
        let unreadable = [
            NodeFacts {
                unschedulable: true,
                progress: Some("{not json".into()),
                ..node("a", "v1.32.0")
            },
            node("b", "v1.32.0"),
        ];
        assert!(matches!(
            stop(&unreadable, &none, &opts()),
            StopReason::InProgress(m) if m.contains("cannot be read")
        ));
        let view = View {
            nodes: &pool,
            standing: &none,
            selected: None,
            target: &t,
            passed_over: &BTreeSet::new(),
        };
        let ghost = Options {
            node: Some("ghost".into()),
            ..opts()
        };
        assert!(next(&ghost, &view, 1).is_err());
    }

    #[test]
    fn batch_size_and_downtime() {
        let t = v("v1.33.2");
        let pool = [
            cp("cp", "v1.32.0"),
            node("a", "v1.32.0"),
            node("b", "v1.32.0"),
            node("c", "v1.32.0"),
        ];
        let view = View {
            nodes: &pool,
            standing: &[],
            selected: None,
            target: &t,
            passed_over: &BTreeSet::new(),
        };
        assert_eq!(batch_size(&opts(), &view), Ok(1));
        let half = Options {
            max_unavailable: Some(IntOrPercent::Percent(50)),
            ..opts()
        };
        assert_eq!(batch_size(&half, &view), Ok(1));
        let every = Options {
            max_unavailable: Some(IntOrPercent::Int(3)),
            ..opts()
        };
        assert!(batch_size(&every, &view)
            .unwrap_err()
            .contains("takes all 3 workers"));
        let accepted = Options {
            accept_downtime: true,
            ..every
        };
        assert_eq!(batch_size(&accepted, &view), Ok(3));
        let all = Options {
            strategy: Strategy::AllAtOnce,
            accept_downtime: true,
            ..opts()
        };
        assert_eq!(batch_size(&all, &view), Ok(usize::MAX));
    }

    #[test]
    fn option_combinations() {
        let bad = [
            Options {
                delete_node: true,
                ..opts()
            },
            Options {
                strategy: Strategy::AllAtOnce,
                ..opts()
            },
            Options {
                accept_downtime: true,
                ..opts()
            },
            Options {
                strategy: Strategy::AllAtOnce,
                accept_downtime: true,
                node: Some("a".into()),
                ..opts()
            },
        ];
        for o in bad {
            assert!(o.check().is_err(), "{o:?}");
        }
        let good = Options {
            strategy: Strategy::Replace,
            delete_node: true,
            ..opts()
        };
        assert_eq!(good.check(), Ok(()));
    }

    #[test]
    fn replace_needs_a_destination_at_the_target() {
        let t = v("v1.33.2");
        let replace = Options {
            strategy: Strategy::Replace,
            ..opts()
        };
        let old_only = [node("a", "v1.32.0")];
        let cordoned_new = [
            node("a", "v1.32.0"),
            NodeFacts {
                unschedulable: true,
                ..node("n", "v1.33.2")
            },
        ];
        let with_new = [node("a", "v1.32.0"), node("n", "v1.33.2-eks-1")];
        for (nodes, stops) in [
            (&old_only[..], true),
            (&cordoned_new[..], true),
            (&with_new[..], false),
        ] {
            let view = View {
                nodes,
                standing: &[],
                selected: None,
                target: &t,
                passed_over: &BTreeSet::new(),
            };
            assert_eq!(without_destination(&replace, &view).is_some(), stops);
            assert!(without_destination(&opts(), &view).is_none());
        }
    }
}

#[cfg(test)]
mod on_blocked {
    use super::*;
    use crate::facts::node::fixture::worker as node;
    use crate::facts::progress::ProgressState;
    use crate::facts::version::v;

    fn skip() -> Options {
        let drain = DrainOptions {
            timeout: Some(Duration::from_secs(60)),
            ..DrainOptions::default()
        };
        Options {
            validate: None,
            on_blocked: OnBlocked::Skip,
            drain,
            ..Options::default()
        }
    }

    fn blocked(name: &str) -> (String, Standing, Progress) {
        (
            name.to_string(),
            Standing::Blocked,
            Progress {
                state: ProgressState::Blocked,
                target: Some(v("v1.33.2")),
                time: "2026-12-01T10:00:00Z".into(),
                command: Writer::DrainNext,
                user: "ops".into(),
                pdbs: Some(vec!["shop/db".into()]),
                started: None,
                reason: Some("timed out: PDB shop/db allows no eviction".into()),
                deleted_blocking: None,
            },
        )
    }

    fn pick(
        o: &Options,
        nodes: &[NodeFacts],
        standing: &[(String, Standing, Progress)],
        passed: &[&str],
    ) -> Decision {
        pick_in(o, nodes, standing, passed, None)
    }

    fn pick_in(
        o: &Options,
        nodes: &[NodeFacts],
        standing: &[(String, Standing, Progress)],
        passed: &[&str],
        selected: Option<&BTreeSet<String>>,
    ) -> Decision {
        let t = v("v1.33.2");
        let passed: BTreeSet<String> = passed.iter().map(|s| s.to_string()).collect();
        let view = View {
            nodes,
            standing,
            selected,
            target: &t,
            passed_over: &passed,
        };
        next(o, &view, 1).unwrap().decision
    }

    fn cordoned(name: &str, kubelet: &str) -> NodeFacts {
        NodeFacts {
            unschedulable: true,
            ..node(name, kubelet)
        }
    }

    #[test]
    fn skip_needs_a_timeout_and_a_next_node() {
        let mut o = skip();
        assert!(o.check().is_ok());
        o.drain.timeout = None;
        assert!(o.check().unwrap_err().contains("--timeout"));
        let mut o = skip();
        o.strategy = Strategy::AllAtOnce;
        o.accept_downtime = true;
        assert!(o.check().unwrap_err().contains("all-at-once"));
    }

    #[test]
    fn a_blocked_node_does_not_hold_the_next_and_is_come_back_to_at_the_end() {
        let nodes = [cordoned("w-1", "v1.32.5"), node("w-2", "v1.32.5")];
        let standing = [blocked("w-1")];
        // With skip: the next node, not the blocked one.
        match pick(&skip(), &nodes, &standing, &[]) {
            Decision::Drain(c) => assert_eq!((c[0].name.as_str(), c[0].resumed), ("w-2", false)),
            d => panic!("{d:?}"),
        }
        // Without it: the blocked node is resumed like an unfinished drain.
        let stop = Options {
            on_blocked: OnBlocked::Stop,
            ..skip()
        };
        match pick(&stop, &nodes, &standing, &[]) {
            Decision::Drain(c) => assert_eq!((c[0].name.as_str(), c[0].resumed), ("w-1", true)),
            d => panic!("{d:?}"),
        }
        // No other node left: come back to it, saying why.
        let rest = [cordoned("w-1", "v1.32.5"), node("w-2", "v1.33.2")];
        match pick(&skip(), &rest, &standing, &[]) {
            Decision::Drain(c) => {
                assert_eq!((c[0].name.as_str(), c[0].resumed), ("w-1", true));
                assert!(c[0].reason.contains("coming back to it"), "{}", c[0].reason);
                assert!(c[0].reason.contains("PDB shop/db"), "{}", c[0].reason);
            }
            d => panic!("{d:?}"),
        }
        // A blocked node outside -l is never come back to.
        let other_pool: BTreeSet<String> = ["w-2".to_string()].into();
        let d = pick_in(&skip(), &rest, &standing, &[], Some(&other_pool));
        assert!(
            matches!(d, Decision::Stop(StopReason::NothingToDo(_))),
            "{d:?}"
        );
        // Passed over in this very run: not tried again; every node left is blocked.
        match pick(&skip(), &rest, &standing, &["w-1"]) {
            Decision::Stop(StopReason::AllBlocked(m)) => assert!(m.contains("w-1"), "{m}"),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn only_timed_out_drains_are_passed_over() {
        let summary = |node: &str, outcome: Outcome| {
            let mut s = DrainSummary::new(node, crate::facts::dry_run::DryRun::None);
            s.outcome = outcome;
            s.message = format!("{node}: first line\nsecond");
            NodeEnd::Ran {
                summary: Box::new(s),
                next: None,
                delete_failed: false,
            }
        };
        let ends = [
            summary("w-1", Outcome::TimedOut),
            summary("w-2", Outcome::Drained),
            summary("w-3", Outcome::Failed),
        ];
        let got = blocked_to_skip(&skip(), &ends);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].node, "w-1");
        assert_eq!(got[0].reason, "w-1: first line");
        let stop = Options {
            on_blocked: OnBlocked::Stop,
            ..skip()
        };
        assert!(blocked_to_skip(&stop, &ends).is_empty());
    }
}
