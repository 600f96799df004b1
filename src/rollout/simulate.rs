//! `simulate`: the whole worker rollout predicted step by step from the cluster as read,
//! nothing changed. Each step takes the nodes drain-next would take (its order and batch
//! rules, [`crate::policy::order`], [`crate::policy::batch`]), runs each pod through the one
//! drain preflight ([`crate::policy::preflight`]), counts what every budget must let through,
//! and places each pod that moves with the [`Placer`] (requests, selectors, node and pod
//! anti-affinity, taints, topology spread, where bound volumes reach) on the nodes still
//! open, and judges the admission webhooks each drain meets ([`crate::policy::webhooks`]).
//! Drained nodes come back at the target (in place) or stay cordoned for removal, or are
//! gone with `--delete-node` (replace). The rollout completes, or stops at the first step that
//! cannot finish, naming the node, the pod, the budget or the constraint. Pure.

use super::plan::{Options, SkippedNode, Strategy};
use crate::facts::node::NodeFacts;
use crate::facts::pdb::{Budget, PdbFacts};
use crate::facts::pod::PodFacts;
use crate::facts::resources::Resources;
use crate::facts::version::Version;
use crate::policy::batch;
use crate::policy::capacity::{self, Destination, Moving, Placer, Rules};
use crate::policy::order;
use crate::policy::preflight::{self, Verdict};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// A pod as the simulation needs it, kept small: a large cluster holds 150,000 of them.
/// Its drain facts are kept as flags and shared strings ([`Interner`]);
/// [`SimPod::facts`] gives them back as the [`PodFacts`] the drain's filters read.
#[derive(Debug, Clone)]
pub struct SimPod {
    pub moving: Moving,
    /// Its node's name.
    pub node: Option<Arc<str>>,
    pub phase: Arc<str>,
    /// Its controller owner: kind and name.
    pub controller: Option<Arc<Controller>>,
    pub ready: bool,
    pub mirror: bool,
    pub has_empty_dir: bool,
    pub deleting: bool,
    /// Its budgets (indices into [`World::pdbs`]), matched by the reader.
    pub pdbs: Budgets,
    /// Seconds from creation to Ready, when the pod says (for the duration estimate).
    pub ready_after: Option<u32>,
}

/// A pod's controller owner.
#[derive(Debug)]
pub struct Controller {
    pub kind: Arc<str>,
    pub name: Arc<str>,
}

/// A pod's budgets: none or one (most pods) without an allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Budgets {
    #[default]
    None,
    One(usize),
    Many(Box<[usize]>),
}

impl Budgets {
    pub fn as_slice(&self) -> &[usize] {
        match self {
            Budgets::None => &[],
            Budgets::One(b) => std::slice::from_ref(b),
            Budgets::Many(bs) => bs,
        }
    }
}

impl From<Vec<usize>> for Budgets {
    fn from(v: Vec<usize>) -> Budgets {
        match v.as_slice() {
            [] => Budgets::None,
            [b] => Budgets::One(*b),
            _ => Budgets::Many(v.into_boxed_slice()),
        }
    }
}

/// What many pods carry alike (namespaces, node names, phases, controllers, the labels and
/// scheduling rules of one workload's replicas), kept once.
#[derive(Debug, Default)]
pub struct Interner {
    strings: std::collections::HashSet<Arc<str>>,
    labels: std::collections::HashSet<Arc<BTreeMap<String, String>>>,
    rules: std::collections::HashMap<String, Arc<Rules>>,
    controllers: std::collections::HashMap<(Arc<str>, Arc<str>), Arc<Controller>>,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }

    fn labels(&mut self, l: Arc<BTreeMap<String, String>>) -> Arc<BTreeMap<String, String>> {
        match self.labels.get(&l) {
            Some(shared) => shared.clone(),
            None => {
                self.labels.insert(l.clone());
                l
            }
        }
    }

    fn controller(&mut self, kind: &str, name: &str) -> Arc<Controller> {
        let key = (self.get(kind), self.get(name));
        self.controllers
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Controller {
                    kind: key.0,
                    name: key.1,
                })
            })
            .clone()
    }

    fn rules(&mut self, r: Arc<Rules>) -> Arc<Rules> {
        self.rules.entry(r.text()).or_insert(r).clone()
    }
}

impl SimPod {
    /// From a pod and its facts ([`PodFacts::from_pod`]), its budgets matched against
    /// `pdbs`.
    pub fn from_pod(
        p: &k8s_openapi::api::core::v1::Pod,
        facts: &PodFacts,
        pdbs: &[PdbFacts],
        strings: &mut Interner,
    ) -> SimPod {
        let mut moving = Moving::from_pod(p);
        moving.namespace = strings.get(&facts.namespace);
        moving.labels = strings.labels(moving.labels);
        moving.rules = strings.rules(moving.rules);
        let pdbs = PdbFacts::covering(pdbs, &facts.namespace, &moving.labels).into();
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let ready_at = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0);
        let ready_after = match (created, ready_at) {
            (Some(c), Some(r)) => u32::try_from(r.as_second() - c.as_second()).ok(),
            _ => None,
        };
        SimPod {
            node: facts.node.as_deref().map(|n| strings.get(n)),
            phase: strings.get(&facts.phase),
            controller: facts.controller_kind.as_deref().map(|k| {
                strings.controller(k, facts.controller_name.as_deref().unwrap_or_default())
            }),
            ready: facts.ready,
            mirror: facts.mirror,
            has_empty_dir: facts.has_empty_dir,
            deleting: facts.deleting,
            pdbs,
            moving,
            ready_after,
        }
    }

    /// Its facts as the drain's filters read them.
    pub fn facts(&self) -> PodFacts {
        let ns = &*self.moving.namespace;
        let name = self
            .moving
            .key
            .strip_prefix(ns)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(&self.moving.key);
        PodFacts {
            namespace: ns.to_string(),
            name: name.to_string(),
            node: self.node.as_deref().map(str::to_string),
            phase: self.phase.to_string(),
            ready: self.ready,
            controller_kind: self.controller.as_ref().map(|c| c.kind.to_string()),
            controller_name: self.controller.as_ref().map(|c| c.name.to_string()),
            mirror: self.mirror,
            has_empty_dir: self.has_empty_dir,
            deleting: self.deleting,
            pdbs: self.pdbs.as_slice().to_vec(),
        }
    }

    fn is_finished(&self) -> bool {
        crate::facts::pod::finished_phase(&self.phase)
    }

    fn is_daemonset(&self) -> bool {
        self.controller
            .as_ref()
            .is_some_and(|c| crate::facts::pod::daemonset_kind(&c.kind))
    }
}

/// The cluster as read: nodes (with all their labels), pods, budgets.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub nodes: Vec<NodeFacts>,
    pub pods: Vec<SimPod>,
    pub pdbs: Vec<PdbFacts>,
    /// What the input could not tell (e.g. a snapshot without pod constraints).
    pub notes: Vec<String>,
    /// Admission webhooks that can stop a drain.
    pub admission: crate::facts::webhook::Admission,
}

impl World {
    /// Do any of its pods claim a volume (then where volumes reach is worth reading)?
    pub fn claims_volumes(&self) -> bool {
        self.pods.iter().any(|p| !p.moving.claims.is_empty())
    }

    /// Resolve each pod's claims into where its volumes may be used.
    pub fn apply_volumes(&mut self, v: &crate::policy::capacity::Volumes) {
        if v.is_empty() {
            return;
        }
        for p in &mut self.pods {
            if !p.moving.claims.is_empty() {
                v.apply(&mut p.moving);
            }
        }
    }
}

/// Where the simulation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    /// `preflight` (a pod the drain refuses before it starts), `budget` (a budget that can
    /// never, or not now, allow an eviction), `noRoom` (a pod with nowhere to go),
    /// `webhook` (an admission webhook that fails closed and would refuse the drain's
    /// evictions or its pods' replacements).
    pub kind: &'static str,
    pub node: String,
    /// The pod or budget (`ns/name`).
    pub subject: String,
    pub reason: String,
    /// When drain-next would stop: `beforeDrain` (exit 2, nothing touched), `duringDrain`
    /// (the drain cannot finish: it times out, exit 2) or `afterDrain` (the drain finishes,
    /// the validation before the next node does not pass: exit 5).
    pub stops: &'static str,
}

/// A pod that moves, and where it could go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Move {
    /// Names shared with the pods and nodes read (a rollout records every pod's move).
    pub pod: Arc<str>,
    pub from: Arc<str>,
    /// `None`: nowhere (it would stay Pending; `why` says why).
    pub to: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A move as a run records it, by index: a few bytes where a named [`Move`] takes tens,
/// while the search for the largest safe batch runs beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Moved {
    pod: u32,
    from: u32,
    to: Option<u32>,
    why: Option<String>,
}

/// A budget the step's evictions take turns on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Turns {
    pub pdb: String,
    /// Its pods the step evicts.
    pub evicted: usize,
    /// Disruptions it allows at once.
    pub allows: i32,
    /// Rounds of evictions, each waiting for replacements to become Ready.
    pub rounds: usize,
}

/// One step: the nodes drained together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub step: usize,
    pub nodes: Vec<String>,
    pub moves: Vec<Move>,
    /// The moves as a run records them (named into `moves` once the search is done).
    #[serde(skip)]
    moved: Vec<Moved>,
    /// Budgets that make the step's evictions take turns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<Turns>,
    /// Estimated drain time of the step (rounds of replacements becoming Ready).
    pub seconds: u64,
    /// In place: pods with no other node, Pending (down) until their node is back at the
    /// target; the validation before the next node waits for them (`--validate-timeout`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub down_until_back: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
}

/// The duration estimate's basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// The whole rollout's drains, in seconds (node upgrade or replacement time not included).
    pub seconds: u64,
    /// How long a replacement takes to become Ready.
    pub pod_ready_seconds: u64,
    /// `flag` (`--pod-ready-time`), `observed` (median over the cluster's controller-owned
    /// pods, creation to Ready) or `default`.
    pub source: &'static str,
}

/// The prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    pub schema: &'static str,
    pub target: String,
    pub strategy: Strategy,
    /// Nodes drained together (`--max-unavailable`, all for all-at-once).
    pub batch_size: usize,
    /// Every selected worker at once: workloads with no room elsewhere are down.
    pub downtime: bool,
    pub completes: bool,
    /// The step it stops at (1-based), when it does not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_at: Option<usize>,
    /// Completes, but these pods are left with no node after the last step (drain-next
    /// validates only before a new node, so nothing stops it): `ns/name (why)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_at_end: Vec<String>,
    pub steps: Vec<Step>,
    /// Nodes passed over (NotReady, cordoned by someone else, unreadable version).
    pub skipped: Vec<SkippedNode>,
    /// Nodes already at the target.
    pub at_target: usize,
    /// The largest `--max-unavailable` below every worker whose rollout completes: every pod
    /// placed, no budget blocking (budgets may still make evictions take turns, as `turns`
    /// says per step); `None` when not even one node at a time completes.
    pub largest_safe_max_unavailable: Option<usize>,
    pub estimate: Estimate,
    /// What this prediction does not model.
    pub not_modelled: Vec<&'static str>,
    pub notes: Vec<String>,
}

/// Version of the `-o json|yaml` schema.
pub const SCHEMA: &str = "kubectl-upgrade.io/simulation/v1";

/// What the Placer does not see (said in every prediction).
pub const NOT_MODELLED: &[&str] = &[
    "volumes from a `kubectl upgrade snapshot` (it keeps no claims; a live cluster or a dump with pv,pvc does)",
    "preferred (soft) affinity, ScheduleAnyway spread and scheduling scores",
    "priorities and preemption",
    "admission webhooks called at a URL",
    "webhook backends moved by earlier steps (endpoints are where the cluster was read)",
    "node upgrade or replacement time",
];

/// When nothing says how long a replacement takes to become Ready.
pub const DEFAULT_READY: Duration = Duration::from_secs(30);

/// The whole rollout, predicted. `ready` overrides the observed readiness time.
pub fn simulate(
    world: &World,
    opts: &Options,
    target: &Version,
    selected: Option<&BTreeSet<String>>,
    ready: Option<Duration>,
) -> Simulation {
    let considered = world
        .nodes
        .iter()
        .filter(|n| !n.is_control_plane())
        .filter(|n| selected.is_none_or(|s| s.contains(&n.name)))
        .count();
    let size = match (opts.strategy, opts.max_unavailable) {
        (Strategy::AllAtOnce, _) => considered.max(1),
        (_, Some(spec)) => batch::size(spec, considered),
        (_, None) => 1,
    };
    let (source, ready) = readiness(world, ready);
    let sel =
        order::select(&world.nodes, target, selected, None, &BTreeSet::new()).unwrap_or_default();
    let control_plane: BTreeSet<&str> = world
        .nodes
        .iter()
        .filter(|x| x.is_control_plane())
        .map(|x| x.name.as_str())
        .collect();
    // The order in which a step places its leaving pods: largest first (then by name).
    let mut by_size: Vec<u32> = (0..world.pods.len() as u32).collect();
    by_size.sort_by(|&a, &b| {
        let (a, b) = (
            &world.pods[a as usize].moving,
            &world.pods[b as usize].moving,
        );
        (b.requests.cpu_millis, b.requests.memory_bytes, &a.key).cmp(&(
            a.requests.cpu_millis,
            a.requests.memory_bytes,
            &b.key,
        ))
    });
    let mut rank = vec![0u32; by_size.len()];
    for (r, &k) in by_size.iter().enumerate() {
        rank[k as usize] = r as u32;
    }
    let shapes = capacity::shapes(&world.pods);
    let sim = Sim {
        world,
        opts,
        rank,
        order: sel
            .next
            .iter()
            .map(|c| c.name.clone())
            .chain(sel.queue.iter().cloned())
            .map(|n| {
                let cp = control_plane.contains(n.as_str());
                (n, cp)
            })
            .collect(),
        ready,
        verdicts: world
            .pods
            .iter()
            .map(|p| verdict(p, opts, &world.pdbs))
            .collect(),
        names: world
            .nodes
            .iter()
            .map(|n| Arc::from(n.name.as_str()))
            .collect(),
        start: Sim::start(world, opts, target, &shapes),
    };
    let run = sim.run(size, true);
    let safe = if opts.strategy == Strategy::AllAtOnce {
        None
    } else {
        let known = (
            size,
            run.blocked_at.is_none() && run.pending_at_end.is_empty(),
        );
        sim.largest_safe(considered, known)
    };
    let mut run = run;
    for step in &mut run.steps {
        sim.name_moves(step);
    }
    let seconds = run.steps.iter().map(|s| s.seconds).sum();
    Simulation {
        schema: SCHEMA,
        target: target.to_string(),
        strategy: opts.strategy,
        batch_size: size.min(considered.max(1)),
        downtime: opts.strategy == Strategy::AllAtOnce
            || batch::takes_every_worker(size, considered),
        completes: run.blocked_at.is_none(),
        blocked_at: run.blocked_at,
        pending_at_end: run.pending_at_end,
        steps: run.steps,
        skipped: sel
            .skipped
            .iter()
            .map(|(n, r)| SkippedNode {
                node: n.clone(),
                reason: r.clone(),
            })
            .collect(),
        at_target: sel.at_target,
        largest_safe_max_unavailable: safe,
        estimate: Estimate {
            seconds,
            pod_ready_seconds: ready,
            source,
        },
        not_modelled: NOT_MODELLED.to_vec(),
        notes: world.notes.clone(),
    }
}

/// The drain's verdict for a pod, or `None` when a drain leaves it where it is (it does not
/// move on drains, is outside the drain's scope, or the filters skip it).
fn verdict(p: &SimPod, opts: &Options, pdbs: &[PdbFacts]) -> Option<Verdict> {
    let opts = &opts.drain;
    let f = p.facts();
    if !f.moves_on_drain() || !opts.scope.contains(&f.namespace, &p.moving.labels) {
        return None;
    }
    match preflight::verdict(&f, None, &opts.filter, pdbs, !opts.disable_eviction) {
        Verdict::Skip(_) => None,
        v => Some(v),
    }
}

/// How long a replacement takes to become Ready, and where that figure comes from.
fn readiness(world: &World, flag: Option<Duration>) -> (&'static str, u64) {
    if let Some(d) = flag {
        return ("flag", d.as_secs());
    }
    let mut seen: Vec<u64> = world
        .pods
        .iter()
        .filter(|p| p.controller.is_some() && !p.is_daemonset())
        .filter_map(|p| p.ready_after.map(u64::from))
        // A pod Ready long after it was made flapped or waited: not a start-up time.
        .filter(|&s| s <= 600)
        .collect();
    if seen.is_empty() {
        return ("default", DEFAULT_READY.as_secs());
    }
    seen.sort_unstable();
    ("observed", seen[seen.len() / 2].max(1))
}

/// The largest `k` in `lo..=hi` for which `safe` holds, `lo` known to hold and `safe`
/// monotone (true up to the answer, false above). `pair(a, b)` tests two sizes at once.
/// The first round tests `guess` and the size above it; then the search gallops (steps
/// doubling) in the direction the answer lies until it brackets it, then splits the
/// bracket in thirds. A good guess answers in one or two rounds; a bad one costs about
/// twice the rounds of plain thirds.
fn search_largest(
    mut lo: usize,
    mut hi: usize,
    guess: usize,
    pair: impl Fn(usize, usize) -> (bool, bool),
) -> usize {
    // Direction of the last round: 1 up (both held), -1 down (neither), 0 bracketed.
    let mut dir = 0i8;
    let mut step = 1usize;
    let mut first = true;
    while lo < hi {
        let (a, b) = if hi - lo == 1 {
            (hi, hi)
        } else if first {
            let g = guess.clamp(lo + 1, hi);
            if g < hi {
                (g, g + 1)
            } else {
                (hi - 1, hi)
            }
        } else if dir > 0 {
            // Just above what held: lo + step, lo + 2 step.
            let b = (lo + 2 * step).min(hi);
            ((lo + step).min(b), b)
        } else if dir < 0 {
            // Just below what failed: hi - (2 step - 1), hi - (step - 1).
            let a = hi.saturating_sub(2 * step - 1).max(lo + 1);
            (a, hi.saturating_sub(step - 1).max(a))
        } else {
            let third = (hi - lo).div_ceil(3);
            (lo + third, (lo + 2 * third).min(hi))
        };
        let (safe_a, safe_b) = pair(a, b);
        let was = dir;
        if safe_b {
            lo = b;
            dir = if first || was > 0 { 1 } else { 0 };
        } else if safe_a {
            (lo, hi) = (a, b - 1);
            dir = 0;
        } else {
            hi = a - 1;
            dir = if first || was < 0 { -1 } else { 0 };
        }
        if !first && dir == was && dir != 0 {
            step *= 2;
        }
        first = false;
    }
    lo
}

impl AsRef<Moving> for SimPod {
    fn as_ref(&self) -> &Moving {
        &self.moving
    }
}

/// One simulation's fixed inputs: the world, the options, the node order, each pod's shape.
struct Sim<'a> {
    world: &'a World,
    opts: &'a Options,
    /// Each pod's place in the order a step places leaving pods (largest first).
    rank: Vec<u32>,
    /// drain-next's order (name, control plane?), from [`order::select`].
    order: Vec<(String, bool)>,
    /// Seconds for a replacement to become Ready.
    ready: u64,
    /// Each pod's drain verdict ([`verdict`]).
    verdicts: Vec<Option<Verdict>>,
    /// The nodes' names, in the placer's order (shared by the moves recorded).
    names: Vec<Arc<str>>,
    /// Every node as a destination, every running pod on its node: where each run starts.
    start: Placer<'a, SimPod>,
}

struct Run {
    steps: Vec<Step>,
    blocked_at: Option<usize>,
    /// After the last step: pods with no node (drain-next finishes; they stay Pending).
    pending_at_end: Vec<String>,
}

/// A pod leaving a node in a step: the node, the pod's index in the world.
/// A pod leaving a node: the node's index (in [`World::nodes`], the placer's order), the
/// pod's.
type Leaving = (u32, u32);

/// Budget index -> how many of its pods a step evicts.
type Evicted = BTreeMap<usize, usize>;

impl<'a> Sim<'a> {
    fn pod(&self, i: u32) -> &SimPod {
        &self.world.pods[i as usize]
    }

    /// The largest batch below every worker whose rollout completes with every pod placed.
    /// A larger batch only takes more room and more of each budget at once, so the answer is
    /// searched ([`search_largest`]): `known` is the shown run's (batch size, safe?); each
    /// round tries two sizes at once, one per thread, first around [`Sim::room_bound`].
    fn largest_safe(&self, considered: usize, known: (usize, bool)) -> Option<usize> {
        let safe = |k: usize| {
            let r = self.run(k, false);
            r.blocked_at.is_none() && r.pending_at_end.is_empty()
        };
        // Every worker at once is downtime, never "safe".
        let top = considered.saturating_sub(1).max(1);
        let (lo, hi) = match known {
            (k, true) if k <= top => (k, top),
            (k, false) if k <= 1 => return None,
            (k, false) => (1, (k - 1).min(top)),
            (_, true) => (1, top),
        };
        if lo == 1 && known != (1, true) && !safe(1) {
            return None;
        }
        let pair = |a: usize, b: usize| {
            if a == b {
                let one = safe(a);
                return (one, one);
            }
            std::thread::scope(|s| {
                let other = s.spawn(|| safe(b));
                let here = safe(a);
                (here, other.join().unwrap_or(false))
            })
        };
        Some(search_largest(lo, hi, self.room_bound(), pair))
    }

    /// How many of the first workers in the order could be drained at once with their
    /// moving pods' requests still within the free room of the open nodes left, summed
    /// (fragmentation, selectors, taints and anti-affinity ignored): the guess the search
    /// tests first, never an answer on its own.
    fn room_bound(&self) -> usize {
        // The cluster as read: the start every run copies, read here, not copied.
        let placer = &self.start;
        let dests = placer.destinations();
        let open: Vec<bool> = self.world.nodes.iter().map(|n| n.can_take_pods()).collect();
        // Saturating: a node that does not say its allocatable has unbounded room.
        let sum = |a: Resources, b: Resources| Resources {
            cpu_millis: a.cpu_millis.saturating_add(b.cpu_millis),
            memory_bytes: a.memory_bytes.saturating_add(b.memory_bytes),
            pods: a.pods.saturating_add(b.pods),
        };
        let mut free = dests
            .iter()
            .zip(&open)
            .filter(|(_, o)| **o)
            .fold(Resources::default(), |f, (d, _)| sum(f, d.free));
        let mut leaving = Resources::default();
        let mut k = 0;
        // Control-plane nodes go one at a time, outside the batches.
        for (name, _) in self.order.iter().filter(|(_, cp)| !cp) {
            let Some(i) = placer.index_of(name) else {
                continue;
            };
            if open[i] {
                free = free.minus(dests[i].free);
            }
            for &p in placer.pods_on(i) {
                if self.verdicts[p as usize].is_some() {
                    leaving.add(self.pod(p).moving.requests);
                }
            }
            if !free.holds(leaving) {
                break;
            }
            k += 1;
        }
        k
    }

    /// One rollout with batches of `size`; `record`: keep every move (the prediction shown),
    /// else only those with no node (the searches for the largest safe batch).
    fn run(&self, size: usize, record: bool) -> Run {
        let mut placer = self.placer();
        let mut steps = Vec::new();
        // `fill` takes a prefix of the order: the rest starts at `at`.
        let mut at = 0;
        while at < self.order.len() {
            let fresh = batch::fill(&self.order[at..], size, false, false);
            if fresh.is_empty() {
                break;
            }
            at += fresh.len();
            let (mut step, stranded) =
                self.drain_step(&mut placer, &fresh, steps.len() + 1, record);
            if step.blocked.is_none() {
                for n in &fresh {
                    if let Some(i) = placer.index_of(n) {
                        // In place: back at the target and schedulable. Replace: cordoned
                        // for removal (still a spread domain), or deleted (--delete-node).
                        match self.opts.strategy {
                            Strategy::Replace if self.opts.delete_node => placer.set_gone(i),
                            Strategy::Replace => placer.set_open(i, false),
                            _ => placer.set_open(i, true),
                        }
                    }
                }
                // In place, the pods with nowhere else to go wait for their node to come back.
                for (node, k) in stranded {
                    let node = &self.names[node as usize];
                    let key = self.pod(k).moving.key.to_string();
                    match placer.place(k) {
                        Ok(_) => step.down_until_back.push(key),
                        Err(why) => {
                            step.blocked.get_or_insert(Blocked {
                                kind: "noRoom",
                                node: node.to_string(),
                                subject: key,
                                reason: format!(
                                    "would find no node even with the step's nodes back ({why}): its replacement stays Pending and the validation before the next node stops the rollout"
                                ),
                                stops: "afterDrain",
                            });
                        }
                    }
                }
            }
            // After the last step no validation runs: drain-next finishes, the pods stay
            // Pending.
            let after = step
                .blocked
                .as_ref()
                .is_some_and(|b| b.stops == "afterDrain");
            if at >= self.order.len() && after {
                let mut pending: Vec<String> = step
                    .moved
                    .iter()
                    .filter(|m| m.to.is_none())
                    .map(|m| {
                        let pod = &self.pod(m.pod).moving.key;
                        format!("{pod} ({})", m.why.as_deref().unwrap_or_default())
                    })
                    .collect();
                if pending.is_empty() {
                    pending = step
                        .blocked
                        .iter()
                        .map(|b| format!("{} ({})", b.subject, b.reason))
                        .collect();
                }
                step.blocked = None;
                steps.push(step);
                return Run {
                    steps,
                    blocked_at: None,
                    pending_at_end: pending,
                };
            }
            let blocked = step.blocked.is_some();
            steps.push(step);
            if blocked {
                let at = steps.len();
                return Run {
                    steps,
                    blocked_at: Some(at),
                    pending_at_end: vec![],
                };
            }
        }
        Run {
            steps,
            blocked_at: None,
            pending_at_end: vec![],
        }
    }

    /// The cluster as read, placed: [`Sim::start`], copied.
    fn placer(&self) -> Placer<'a, SimPod> {
        self.start.clone()
    }

    /// Every node as a destination (closed unless it can take pods; for replace, the nodes
    /// at the target preferred), every running pod on its node.
    fn start(
        world: &'a World,
        opts: &Options,
        target: &Version,
        shapes: &'a [u32],
    ) -> Placer<'a, SimPod> {
        let unknown_room = Resources {
            cpu_millis: u64::MAX / 4,
            memory_bytes: u64::MAX / 4,
            pods: u64::MAX / 4,
        };
        let dests: Vec<Destination> = world
            .nodes
            .iter()
            .map(|n| Destination {
                name: n.name.clone(),
                labels: Arc::new(n.labels.clone()),
                taints: Arc::new(n.taints.clone()),
                free: n.allocatable.unwrap_or(unknown_room),
                closed: false,
            })
            .collect();
        let mut placer = Placer::new(dests, &world.pods, shapes);
        for (i, n) in world.nodes.iter().enumerate() {
            placer.set_open(i, n.can_take_pods());
            // Replace taints the old nodes PreferNoSchedule: pods prefer the nodes at the
            // target and land on old ones only when those have no room (to move again).
            let at_target = order::at_target(&n.kubelet_version, target) == Some(true);
            placer.set_preferred(i, opts.strategy != Strategy::Replace || at_target);
        }
        for (k, p) in world.pods.iter().enumerate() {
            if p.is_finished() || p.deleting {
                continue;
            }
            if let Some(i) = p.node.as_deref().and_then(|n| placer.index_of(n)) {
                placer.occupy(i, k as u32, false);
            }
        }
        placer
    }

    /// The step's recorded moves, named (by pod).
    fn name_moves(&self, step: &mut Step) {
        let name = |i: u32| self.names[i as usize].clone();
        step.moves = std::mem::take(&mut step.moved)
            .into_iter()
            .map(|m| Move {
                pod: self.pod(m.pod).moving.key.clone(),
                from: name(m.from),
                to: m.to.map(name),
                why: m.why,
            })
            .collect();
        step.moves.sort_by(|a, b| a.pod.cmp(&b.pod));
    }

    /// The drain's verdict for pod `k` ([`verdict`]), worked out once per simulation.
    fn verdict(&self, k: u32) -> Option<&Verdict> {
        self.verdicts[k as usize].as_ref()
    }

    /// Drain the step's nodes: preflight, budgets, placement. The step, and the pods that
    /// found no node.
    fn drain_step(
        &self,
        placer: &mut Placer<'_, SimPod>,
        nodes: &[String],
        number: usize,
        record: bool,
    ) -> (Step, Vec<Leaving>) {
        let mut step = Step {
            step: number,
            nodes: nodes.to_vec(),
            moves: vec![],
            moved: vec![],
            turns: vec![],
            seconds: 0,
            down_until_back: vec![],
            blocked: None,
        };
        let (leaving, evicted) = match self.leaving(placer, nodes) {
            Ok(found) => found,
            Err(blocked) => {
                step.blocked = Some(*blocked);
                return (step, vec![]);
            }
        };
        let rounds = match self.rounds(&leaving, &evicted, nodes) {
            Ok((rounds, turns)) => {
                step.turns = turns;
                rounds
            }
            Err(blocked) => {
                step.blocked = Some(*blocked);
                return (step, vec![]);
            }
        };
        self.place_leaving(placer, nodes, leaving, step, rounds, record)
    }

    /// Which pods leave the step's nodes (closing them), and how many each budget sees
    /// evicted, before anything moves; or what refuses the drain before it starts.
    fn leaving(
        &self,
        placer: &mut Placer<'_, SimPod>,
        nodes: &[String],
    ) -> Result<(Vec<Leaving>, Evicted), Box<Blocked>> {
        let (world, opts) = (self.world, self.opts);
        let mut leaving: Vec<Leaving> = Vec::new();
        let mut evicted: BTreeMap<usize, usize> = BTreeMap::new();
        for node in nodes {
            let Some(i) = placer.index_of(node) else {
                continue;
            };
            placer.set_open(i, false);
            for &k in placer.pods_on(i) {
                let Some(verdict) = self.verdict(k) else {
                    continue;
                };
                let p = self.pod(k);
                let block = |kind: &'static str, subject: String, reason: String| Blocked {
                    kind,
                    node: node.clone(),
                    subject,
                    reason,
                    stops: "beforeDrain",
                };
                match verdict {
                    Verdict::Block(reasons) if !opts.drain.ignore_blockers => {
                        let why: Vec<&str> = reasons.iter().map(|r| r.describe()).collect();
                        return Err(Box::new(block(
                            "preflight",
                            p.moving.key.to_string(),
                            why.join("; "),
                        )));
                    }
                    Verdict::Refused(pdbs) if !opts.drain.ignore_blockers => {
                        let names: Vec<String> =
                            pdbs.iter().map(|&b| world.pdbs[b].key()).collect();
                        return Err(Box::new(block(
                            "preflight",
                            p.moving.key.to_string(),
                            format!(
                                "covered by several PodDisruptionBudgets ({}): the Eviction API refuses it (500)",
                                names.join(", ")
                            ),
                        )));
                    }
                    &Verdict::WaitsOn(b) => {
                        if let Budget::Never(why) = world.pdbs[b].budget() {
                            if !opts.drain.ignore_blockers {
                                return Err(Box::new(block(
                                    "budget",
                                    world.pdbs[b].key(),
                                    format!(
                                        "never allows an eviction: {why} (pod {})",
                                        p.moving.key
                                    ),
                                )));
                            }
                        }
                        *evicted.entry(b).or_default() += 1;
                    }
                    _ => {}
                }
                leaving.push((i as u32, k));
            }
            if let Some(b) = self.webhook_stop(i, &leaving) {
                return Err(Box::new(b));
            }
        }
        Ok((leaving, evicted))
    }

    /// The drain's webhook preflight for `node` (the one judgement, on the pods leaving it):
    /// a webhook that blocks stops the drain before it starts.
    fn webhook_stop(&self, i: usize, leaving: &[Leaving]) -> Option<Blocked> {
        let node = &*self.names[i];
        use crate::policy::webhooks::{risks, Exposure};
        let adm = &self.world.admission;
        if adm.webhooks.is_empty() || self.opts.drain.ignore_blockers {
            return None;
        }
        let mut exposure = Exposure::new(adm);
        for &(_, k) in leaving.iter().filter(|(n, _)| *n as usize == i) {
            let p = self.pod(k);
            exposure.add(
                adm,
                &p.moving.key,
                &p.moving.namespace,
                &p.moving.labels,
                p.controller.is_some(),
            );
        }
        let r = risks(adm, &BTreeSet::from([node]), &exposure)
            .into_iter()
            .find(|r| r.blocks)?;
        Some(Blocked {
            kind: "webhook",
            node: node.to_string(),
            subject: r.webhook,
            reason: r.message,
            stops: "beforeDrain",
        })
    }

    /// Budgets: how many rounds of evictions the step needs (the budgets that need more
    /// than one), or the budget that allows none now and stops the drain.
    fn rounds(
        &self,
        leaving: &[Leaving],
        evicted: &Evicted,
        nodes: &[String],
    ) -> Result<(usize, Vec<Turns>), Box<Blocked>> {
        let world = self.world;
        let mut turns = Vec::new();
        let mut rounds = usize::from(!leaving.is_empty());
        for (&b, &count) in evicted {
            let pdb = &world.pdbs[b];
            match pdb.budget() {
                Budget::Allows(n) => {
                    let r = count.div_ceil(usize::try_from(n).unwrap_or(1).max(1));
                    rounds = rounds.max(r);
                    if r > 1 {
                        turns.push(Turns {
                            pdb: pdb.key(),
                            evicted: count,
                            allows: n,
                            rounds: r,
                        });
                    }
                }
                Budget::ZeroNow | Budget::Never(_) => {
                    let node = leaving
                        .iter()
                        .find(|(_, k)| self.pod(*k).pdbs.as_slice() == [b])
                        .map_or_else(
                            || nodes.join(", "),
                            |(n, _)| self.names[*n as usize].to_string(),
                        );
                    // What a drain's timeout would say of it: the same explanation.
                    let selected: Vec<crate::facts::pod::PodFacts> = world
                        .pods
                        .iter()
                        .filter(|p| p.pdbs.as_slice().contains(&b))
                        .map(SimPod::facts)
                        .collect();
                    let stuck_not_ready = leaving.iter().any(|(_, k)| {
                        let p = self.pod(*k);
                        p.pdbs.as_slice().contains(&b) && !p.ready
                    });
                    let held = crate::drain::outcome::held_budget(pdb, &selected, stuck_not_ready);
                    return Err(Box::new(Blocked {
                        kind: "budget",
                        node,
                        subject: pdb.key(),
                        reason: format!(
                            "allows no disruption now ({}){}: the drain waits at most --timeout; {}",
                            held.numbers,
                            held.not_ready_text(),
                            held.advice
                        ),
                        stops: "duringDrain",
                    }));
                }
            }
        }
        Ok((rounds, turns))
    }

    /// Take the leaving pods off the step's nodes and place them, largest first: the
    /// moves, the time, and what stops the rollout when some find no node.
    fn place_leaving(
        &self,
        placer: &mut Placer<'_, SimPod>,
        nodes: &[String],
        mut leaving: Vec<Leaving>,
        mut step: Step,
        rounds: usize,
        record: bool,
    ) -> (Step, Vec<Leaving>) {
        let opts = self.opts;
        // Placement: the leaving pods taken off, then placed, largest first.
        // What leaves is every pod of the step's nodes the drain moves (`leaving`).
        for node in nodes {
            if let Some(i) = placer.index_of(node) {
                placer.vacate(i, |k| self.verdicts[k as usize].is_some());
            }
        }
        leaving.sort_by_key(|(_, k)| self.rank[*k as usize]);
        let mut stranded: Vec<Leaving> = Vec::new();
        // drain-next's capacity preview (replace) counts only the nodes at the target.
        let previewed = opts.strategy == Strategy::Replace && !opts.ignore_capacity;
        let mut off_target: Vec<Leaving> = Vec::new();
        if record {
            step.moved.reserve_exact(leaving.len());
        }
        for (node, k) in leaving {
            match placer.place(k) {
                Ok((i, preferred)) => {
                    if previewed && !preferred {
                        off_target.push((node, k));
                    }
                    if record {
                        step.moved.push(Moved {
                            pod: k,
                            from: node,
                            to: Some(i as u32),
                            why: None,
                        })
                    }
                }
                Err(why) => {
                    // A search needs only to know that one has no node (and why).
                    if record || stranded.is_empty() {
                        step.moved.push(Moved {
                            pod: k,
                            from: node,
                            to: None,
                            why: Some(why),
                        });
                    }
                    stranded.push((node, k));
                }
            }
        }
        step.seconds = rounds as u64 * self.ready;
        if let Some((node, k)) = off_target.first().filter(|_| stranded.is_empty()) {
            step.blocked = Some(Blocked {
                kind: "noRoom",
                node: self.names[*node as usize].to_string(),
                subject: self.pod(*k).moving.key.to_string(),
                reason: format!(
                    "{} pod(s) would find no node at the target (they would land on old nodes and move again): drain-next's capacity preview refuses the step, nothing touched (add nodes at the target, or pass --ignore-capacity)",
                    off_target.len()
                ),
                stops: "beforeDrain",
            });
        }
        if !stranded.is_empty() {
            step.blocked = self.stranded_stop(&step, &stranded);
        }
        (step, stranded)
    }

    /// Pods with no node after a step's drain: what drain-next would do.
    /// - `--strategy replace` (unless `--ignore-capacity`): its capacity preview refuses the
    ///   step, nothing touched.
    /// - A budget whose stranded pods outnumber what it allows never recovers while their
    ///   replacements are Pending: the drain cannot finish (deadlock: the node cannot be
    ///   upgraded until it is drained).
    /// - Otherwise the drain finishes; in place, the replacements wait for the node to come
    ///   back (decided by the caller, once the node is open again); replaced nodes never
    ///   come back, so the validation before the next node stops the rollout.
    fn stranded_stop(&self, step: &Step, stranded: &[Leaving]) -> Option<Blocked> {
        let (world, opts) = (self.world, self.opts);
        let (node, first) = &stranded[0];
        let node = &self.names[*node as usize];
        let why = step
            .moved
            .iter()
            .find(|m| m.pod == *first)
            .and_then(|m| m.why.clone())
            .unwrap_or_default();
        let first = &self.pod(*first).moving.key;
        let total = stranded.len();
        let stop = |reason: String, stops: &'static str| Blocked {
            kind: "noRoom",
            node: node.to_string(),
            subject: first.to_string(),
            reason,
            stops,
        };
        if opts.strategy == Strategy::Replace && !opts.ignore_capacity {
            return Some(stop(
                format!("{total} pod(s) would find no node at the target ({why}): drain-next's capacity preview refuses the step, nothing touched (add nodes at the target)"),
                "beforeDrain",
            ));
        }
        let mut per_pdb: BTreeMap<usize, usize> = BTreeMap::new();
        for (_, k) in stranded {
            if let [b] = self.pod(*k).pdbs.as_slice() {
                *per_pdb.entry(*b).or_default() += 1;
            }
        }
        let stuck = per_pdb.iter().find_map(|(&b, &n)| {
            let allows = match world.pdbs[b].budget() {
                Budget::Allows(a) => usize::try_from(a).unwrap_or(0),
                _ => 0,
            };
            (n > allows).then(|| (world.pdbs[b].key(), n, allows))
        });
        if let Some((pdb, n, allows)) = stuck {
            return Some(stop(
                format!("{total} pod(s) would find no node ({why}); {n} of them are under PDB {pdb}, which allows {allows} at a time, so its budget never recovers and the drain cannot finish"),
                "duringDrain",
            ));
        }
        (opts.strategy == Strategy::Replace).then(|| stop(
            format!("{total} pod(s) would find no node ({why}): the drain finishes, their replacements stay Pending, and the validation before the next node stops the rollout"),
            "afterDrain",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::node::fixture::{control_plane, worker};
    use crate::facts::pdb::IntOrPercent;
    use crate::facts::version::v;

    fn opts() -> Options {
        Options {
            validate: None,
            ..Options::default()
        }
    }

    fn room(n: NodeFacts, cpu: u64) -> NodeFacts {
        NodeFacts {
            allocatable: Some(Resources {
                cpu_millis: cpu,
                memory_bytes: 64 << 30,
                pods: 110,
            }),
            ..n
        }
    }

    fn pod(name: &str, node: &str, app: &str, cpu: u64) -> SimPod {
        let labels: std::sync::Arc<BTreeMap<String, String>> =
            std::sync::Arc::new([("app".to_string(), app.to_string())].into());
        SimPod {
            node: Some(node.into()),
            phase: "Running".into(),
            controller: Some(Arc::new(Controller {
                kind: "ReplicaSet".into(),
                name: format!("{app}-rs").into(),
            })),
            ready: true,
            mirror: false,
            has_empty_dir: false,
            deleting: false,
            pdbs: Budgets::default(),
            moving: Moving {
                key: format!("shop/{name}").into(),
                namespace: "shop".into(),
                labels,
                requests: Resources {
                    cpu_millis: cpu,
                    memory_bytes: 0,
                    pods: 1,
                },
                ..Moving::default()
            },
            ready_after: Some(12),
        }
    }

    fn pdb(app: &str, allowed: i32, max_unavailable: i32) -> PdbFacts {
        PdbFacts {
            namespace: "shop".into(),
            name: app.into(),
            selector: crate::facts::selector::parse(&format!("app={app}")).unwrap(),
            max_unavailable: Some(IntOrPercent::Int(max_unavailable)),
            expected_pods: 3,
            current_healthy: 3,
            desired_healthy: 3 - max_unavailable,
            disruptions_allowed: allowed,
            observed: true,
            ..PdbFacts::default()
        }
    }

    fn world(nodes: Vec<NodeFacts>, mut pods: Vec<SimPod>, pdbs: Vec<PdbFacts>) -> World {
        for p in &mut pods {
            p.pdbs = PdbFacts::covering(&pdbs, &p.moving.namespace, &p.moving.labels).into();
        }
        World {
            nodes,
            pods,
            pdbs,
            notes: vec![],
            admission: Default::default(),
        }
    }

    /// The compact pod gives back the facts the drain's filters would read from the pod,
    /// its strings shared between pods.
    #[test]
    fn a_sim_pod_keeps_the_drain_facts_of_its_pod() {
        let pod = |name: &str, phase: &str| -> k8s_openapi::api::core::v1::Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": "shop", "name": name, "labels": {"app": "web"},
                    "annotations": {"kubernetes.io/config.mirror": "x"},
                    "deletionTimestamp": "2026-01-01T00:00:00Z",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "web-1", "uid": "u", "controller": true}]},
                "spec": {"nodeName": "w-1", "containers": [{"name": "c"}],
                    "volumes": [{"name": "v", "emptyDir": {}}]},
                "status": {"phase": phase,
                    "conditions": [{"type": "Ready", "status": "True"}]}
            }))
            .unwrap()
        };
        let pdbs = vec![pdb("web", 1, 1)];
        let mut strings = Interner::default();
        let (a, b) = (pod("web-a", "Running"), pod("web-b", "Succeeded"));
        let (sa, sb) = (
            SimPod::from_pod(&a, &PodFacts::from_pod(&a), &pdbs, &mut strings),
            SimPod::from_pod(&b, &PodFacts::from_pod(&b), &pdbs, &mut strings),
        );
        for (sim, pod) in [(&sa, &a), (&sb, &b)] {
            let mut want = PodFacts::from_pod(pod);
            want.pdbs = vec![0];
            assert_eq!(sim.facts(), want);
        }
        assert!(sb.is_finished() && !sa.is_finished());
        assert!(Arc::ptr_eq(
            sa.node.as_ref().unwrap(),
            sb.node.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(&sa.moving.namespace, &sb.moving.namespace));
        assert!(Arc::ptr_eq(&sa.moving.labels, &sb.moving.labels));
        assert!(Arc::ptr_eq(&sa.moving.rules, &sb.moving.rules));
    }

    /// The search finds the exact answer of any monotone predicate, whatever the guess, and
    /// a good guess takes at most two rounds.
    #[test]
    fn the_search_finds_the_largest_safe_size_from_any_guess() {
        for (lo, hi) in [(1, 2), (1, 3), (1, 10), (3, 97), (1, 4999)] {
            for answer in (lo..=hi).step_by(((hi - lo) / 40).max(1)).chain([hi]) {
                for guess in [
                    0,
                    lo,
                    answer.saturating_sub(3),
                    answer,
                    answer + 1,
                    answer + 50,
                    hi,
                    100_000,
                ] {
                    let rounds = std::cell::Cell::new(0);
                    let pair = |a: usize, b: usize| {
                        assert!(
                            lo < a && a <= b && b <= hi,
                            "probes {a},{b} outside ({lo},{hi}]"
                        );
                        rounds.set(rounds.get() + 1);
                        (a <= answer, b <= answer)
                    };
                    let found = search_largest(lo, hi, guess, pair);
                    assert_eq!(found, answer, "lo {lo} hi {hi} guess {guess}");
                    if guess == answer && hi - lo > 1 {
                        assert!(
                            rounds.get() <= 2,
                            "{} rounds for a right guess",
                            rounds.get()
                        );
                    }
                    // Never much worse than thirds with galloping's extra rounds.
                    let thirds = ((hi - lo + 1) as f64).log(3.0).ceil() as usize + 1;
                    assert!(
                        rounds.get() <= 2 * thirds + 2,
                        "{} rounds ({lo},{hi}) answer {answer} guess {guess}",
                        rounds.get()
                    );
                }
            }
        }
    }

    fn three_workers(cpu: u64) -> Vec<NodeFacts> {
        let cp = NodeFacts {
            taints: vec!["node-role.kubernetes.io/control-plane:NoSchedule".into()],
            ..control_plane("cp", "v1.36.3")
        };
        vec![
            room(cp, 4000),
            room(worker("w-1", "v1.36.3"), cpu),
            room(worker("w-2", "v1.36.3"), cpu),
            room(worker("w-3", "v1.36.3"), cpu),
        ]
    }

    #[test]
    fn a_roomy_pool_completes_in_drain_next_order() {
        let pods = vec![
            pod("web-0", "w-1", "web", 500),
            pod("web-1", "w-2", "web", 500),
            pod("web-2", "w-3", "web", 500),
        ];
        let w = world(three_workers(4000), pods, vec![pdb("web", 1, 1)]);
        let s = simulate(&w, &opts(), &v("v1.37.2"), None, None);
        assert!(s.completes, "{s:?}");
        let order: Vec<&str> = s.steps.iter().map(|s| s.nodes[0].as_str()).collect();
        assert_eq!(order, ["cp", "w-1", "w-2", "w-3"]);
        // w-1's pod moves to an open node, never to w-1 itself.
        let m = &s.steps[1].moves[0];
        assert_eq!((&*m.pod, &*m.from), ("shop/web-0", "w-1"));
        assert!(m.to.as_deref().is_some_and(|t| t != "w-1"), "{m:?}");
        assert_eq!(s.estimate.pod_ready_seconds, 12);
        assert_eq!(s.estimate.source, "observed");
        assert_eq!(
            s.largest_safe_max_unavailable,
            Some(2),
            "two workers at once: their pods fit on the third"
        );
        assert!(!s.downtime);
    }

    #[test]
    fn a_webhook_that_fails_closed_stops_the_step_that_needs_it() {
        use crate::facts::webhook::{Admission, Endpoint, Webhook};
        let hook = |evictions: bool, creation: bool, endpoints: Vec<Endpoint>| Admission {
            read: true,
            webhooks: vec![Webhook {
                config: "ValidatingWebhookConfiguration guard".into(),
                name: "guard.example.com".into(),
                evictions,
                pod_creation: creation,
                service: Some("shop/guard".into()),
                namespace_selector: crate::facts::selector::Selector::everything(),
                object_selector: crate::facts::selector::Selector::everything(),
                conditions: false,
            }],
            endpoints: [("shop/guard".to_string(), endpoints)].into(),
            namespaces: None,
        };
        let pods = vec![
            pod("web-0", "w-1", "web", 500),
            pod("guard-0", "w-2", "guard", 100),
        ];
        // No ready endpoint: the first drain with a pod to evict (w-1; the control plane
        // moves nothing) is refused before it starts.
        let mut w = world(three_workers(4000), pods.clone(), vec![]);
        w.admission = hook(true, false, vec![]);
        let s = simulate(&w, &opts(), &v("v1.37.2"), None, None);
        let b = s
            .steps
            .last()
            .and_then(|st| st.blocked.clone())
            .expect("blocked");
        assert_eq!(s.blocked_at, Some(2), "{s:?}");
        assert_eq!(
            (b.kind, b.node.as_str(), b.stops),
            ("webhook", "w-1", "beforeDrain")
        );
        assert!(b.reason.contains("has no ready endpoint"), "{}", b.reason);
        // Its only endpoint on w-2 and it admits its own pods: w-1 drains, w-2 deadlocks.
        let on_w2 = Endpoint {
            node: Some("w-2".into()),
            ready: true,
            pod: Some("shop/guard-0".into()),
        };
        w.admission = hook(false, true, vec![on_w2.clone()]);
        let s = simulate(&w, &opts(), &v("v1.37.2"), None, None);
        let b = s
            .steps
            .last()
            .and_then(|st| st.blocked.clone())
            .expect("blocked");
        assert_eq!((b.kind, b.node.as_str()), ("webhook", "w-2"), "{s:?}");
        // Evictions only: a warning for the drain, not a stop.
        w.admission = hook(true, false, vec![on_w2]);
        assert!(simulate(&w, &opts(), &v("v1.37.2"), None, None).completes);
        // --ignore-blockers goes ahead.
        w.admission = hook(true, false, vec![]);
        let mut o = opts();
        o.drain.ignore_blockers = true;
        assert!(simulate(&w, &o, &v("v1.37.2"), None, None).completes);
    }

    #[test]
    fn a_budget_that_never_allows_blocks_before_the_drain() {
        let pods = vec![pod("db-0", "w-2", "db", 100)];
        let mut strict = pdb("db", 0, 0);
        strict.max_unavailable = Some(IntOrPercent::Int(0));
        let w = world(three_workers(4000), pods, vec![strict]);
        let s = simulate(&w, &opts(), &v("v1.37.2"), None, None);
        assert!(!s.completes);
        assert_eq!(s.blocked_at, Some(3), "cp, w-1, then w-2 blocks");
        let b = s.steps[2].blocked.as_ref().unwrap();
        assert_eq!(
            (b.kind, b.node.as_str(), b.subject.as_str(), b.stops),
            ("budget", "w-2", "shop/db", "beforeDrain")
        );
        assert_eq!(s.largest_safe_max_unavailable, None);
    }

    /// A budget held at zero by its not-Ready pods: the drain would wait out --timeout; the
    /// prediction says so during the drain, with the explanation a timed-out drain gives.
    #[test]
    fn a_budget_held_at_zero_stops_during_the_drain_and_says_why() {
        let mut pods = vec![
            pod("db-0", "w-2", "db", 100),
            pod("db-1", "w-3", "db", 100),
            pod("db-2", "w-3", "db", 100),
        ];
        pods[0].ready = false;
        // maxUnavailable 1 of 4 expected: 3 desired, 2 healthy (one not Ready, one missing).
        let mut held = pdb("db", 0, 1);
        (
            held.expected_pods,
            held.desired_healthy,
            held.current_healthy,
        ) = (4, 3, 2);
        let w = world(three_workers(4000), pods, vec![held]);
        let s = simulate(&w, &opts(), &v("v1.37.2"), None, None);
        assert!(!s.completes);
        let b = s.steps[2].blocked.as_ref().unwrap();
        assert_eq!(
            (b.kind, b.node.as_str(), b.subject.as_str(), b.stops),
            ("budget", "w-2", "shop/db", "duringDrain")
        );
        assert!(
            b.reason.contains("not Ready: shop/db-0 (on w-2)"),
            "{}",
            b.reason
        );
        assert!(b.reason.contains("AlwaysAllow"), "{}", b.reason);
    }

    #[test]
    fn pods_with_nowhere_to_go() {
        // Each worker has room for one 3-CPU pod: w-1's pod has no other node.
        let pods = vec![
            pod("big-0", "w-1", "big", 3000),
            pod("big-1", "w-2", "big", 3000),
            pod("big-2", "w-3", "big", 3000),
        ];
        let w = world(three_workers(4000), pods.clone(), vec![]);
        // In place: it waits, down, for its node to come back; the rollout completes.
        let s = simulate(&w, &opts(), &v("v1.37.2"), None, None);
        assert!(s.completes, "{s:?}");
        assert_eq!(s.steps[1].down_until_back, ["shop/big-0"]);
        // Replace: drain-next's capacity preview refuses the step.
        let mut nodes = three_workers(4000);
        nodes.push(room(worker("new-1", "v1.37.2"), 4000));
        let w = world(nodes, pods, vec![]);
        let replace = Options {
            strategy: Strategy::Replace,
            ..opts()
        };
        let s = simulate(&w, &replace, &v("v1.37.2"), None, None);
        assert_eq!(
            s.blocked_at,
            Some(3),
            "w-1 onto new-1, then w-2 has nowhere"
        );
        let b = s.steps[2].blocked.as_ref().unwrap();
        assert_eq!(
            (b.kind, b.node.as_str(), b.stops),
            ("noRoom", "w-2", "beforeDrain")
        );
        // Two pods of a budget that allows one, both stranded: the drain cannot finish.
        let pods = vec![
            pod("pair-0", "w-1", "pair", 1500),
            pod("pair-1", "w-1", "pair", 1500),
            pod("fill-2", "w-2", "fill", 3000),
            pod("fill-3", "w-3", "fill", 3000),
        ];
        let w = world(three_workers(4000), pods, vec![pdb("pair", 1, 1)]);
        let s = simulate(
            &w,
            &opts(),
            &v("v1.37.2"),
            None,
            Some(Duration::from_secs(5)),
        );
        assert_eq!(s.blocked_at, Some(2));
        let b = s.steps[1].blocked.as_ref().unwrap();
        assert_eq!((b.kind, b.stops), ("noRoom", "duringDrain"), "{}", b.reason);
        assert!(b.reason.contains("never recovers"), "{}", b.reason);
        assert_eq!(s.estimate.source, "flag");
    }

    #[test]
    fn batches_take_turns_on_shared_budgets_and_all_at_once_is_downtime() {
        let pods = vec![
            pod("web-0", "w-1", "web", 100),
            pod("web-1", "w-2", "web", 100),
            pod("web-2", "w-3", "web", 100),
        ];
        let mut nodes = three_workers(4000);
        nodes.push(room(worker("w-4", "v1.37.2"), 4000));
        let w = world(nodes, pods, vec![pdb("web", 1, 1)]);
        let two = Options {
            max_unavailable: Some(IntOrPercent::Int(2)),
            ..opts()
        };
        let s = simulate(&w, &two, &v("v1.37.2"), None, Some(Duration::from_secs(10)));
        assert!(s.completes);
        assert_eq!(s.steps[1].nodes, ["w-1", "w-2"]);
        assert_eq!(s.steps[1].turns.len(), 1, "{:?}", s.steps[1]);
        assert_eq!(s.steps[1].seconds, 20, "two rounds of 10 s");
        let all = Options {
            strategy: Strategy::AllAtOnce,
            accept_downtime: true,
            ..opts()
        };
        assert!(simulate(&w, &all, &v("v1.37.2"), None, None).downtime);
    }

    #[test]
    fn replace_moves_pods_only_onto_nodes_at_the_target() {
        let pods = vec![pod("web-0", "w-1", "web", 100)];
        let mut nodes = three_workers(4000);
        nodes.push(room(worker("new-1", "v1.37.2"), 4000));
        let w = world(nodes, pods, vec![]);
        let replace = Options {
            strategy: Strategy::Replace,
            ..opts()
        };
        let s = simulate(&w, &replace, &v("v1.37.2"), None, None);
        assert!(s.completes);
        let moved: Vec<&Move> = s.steps.iter().flat_map(|s| &s.moves).collect();
        assert_eq!(
            moved.len(),
            1,
            "replaced nodes are gone: the pod moves once"
        );
        assert_eq!(moved[0].to.as_deref(), Some("new-1"));
    }
}
