//! Command-line layer of `drain-next`: pick the next node(s) by drain-next's order and
//! bookkeeping ([`order`]), validate between nodes ([`rollout::unsettled`]), preview capacity
//! (replace) and shared budgets (batches), then drain through the one engine.

use crate::cli::drain::{
    dry_suffix, human_summary, parse_selector, summary_code, take_lock, DrainFlags, DryRunArg,
};
use crate::cli::{Global, OutputFormat};
use crate::client::connect::{api_error, Connection};
use crate::client::lock::RolloutLock;
use crate::client::nodes::{self, DryRun};
use crate::drain::engine::{self, Outcome, Summary};
use crate::exit::{CliError, Code};
use crate::facts::node::NodeFacts;
use crate::facts::pdb::{IntOrPercent, PdbFacts, PdbVersion};
use crate::facts::progress::{Annotation, Progress, ProgressState, Writer, REPLACE_TAINT};
use crate::facts::selector::Selector;
use crate::policy::batch::{self, Shared};
use crate::policy::order::{self, Standing};
use crate::policy::rollout::{self, PendingPod};
use crate::policy::version::Version;
use crate::signals::Stop;
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

const DRAIN_NEXT_EXAMPLES: &str = "\
Examples:
  # Drain the next node to upgrade to the API server's version
  kubectl upgrade drain-next

  # Upgrade nodes to v1.33.2, workers of one pool only, showing the choice first
  kubectl upgrade drain-next --to v1.33.2 -l pool=blue --dry-run

  # Uncordon nodes that came back Ready at the target, then drain the next one
  kubectl upgrade drain-next --uncordon-upgraded

  # Drain a specific node even though it is NotReady or cordoned by someone else
  kubectl upgrade drain-next node-7

  # Surge: new nodes at v1.33.2 were added; move the workloads off the old ones, one at a
  # time, and remove each drained Node object
  kubectl upgrade drain-next --to v1.33.2 --strategy replace --delete-node

  # A large pool: three workers at a time (budgets shared across the three are named first)
  kubectl upgrade drain-next --to v1.33.2 -l pool=blue --max-unavailable 3

  # Downtime accepted: cordon every selected worker, then drain them all
  kubectl upgrade drain-next --to v1.33.2 -l pool=batch --strategy all-at-once --accept-downtime

Strategies: one-at-a-time (default) drains a node, waits for it to come back upgraded and
uncordoned, then takes the next; replace drains old nodes onto nodes already at the target
(at least one must be Ready and schedulable), first tainting the pool's other old nodes
kubectl-upgrade.io/scheduled-for-replacement=TARGET:PreferNoSchedule so evicted pods prefer
the new nodes, leaves each drained node cordoned and recorded as drained for removal (it never
blocks the next one), and with --delete-node deletes its Node object after a successful drain; all-at-once (only with --accept-downtime) cordons every
selected worker below the target first, then drains them together: workloads with no room on
other nodes are down until the nodes come back, and budgets still hold evictions back.
--max-unavailable N or N% (of the workers considered, rounded down, at least 1) drains up to N
workers at a time with one-at-a-time or replace; an N that takes every worker considered is
all at once and needs --accept-downtime. Control-plane nodes always go one at a time.

Validation between nodes (default; --no-validate skips it): before a new node is taken, the
nodes drained earlier are back and uncordoned (one-at-a-time), every PDB is healthy again
(currentHealthy >= desiredHealthy) and no controller-owned pod created since the last drain is
Pending; it waits up to --validate-timeout, then stops with exit code 5, changing nothing.

Order: control-plane nodes first, then workers; oldest kubelet first, then by name. One node at a
time: while a node drained by drain-next is cordoned and not yet back at the target version,
drain-next stops with exit code 4 naming it (finish it: upgrade it, then `kubectl upgrade uncordon
NODE`; or use --allow-another), also when another node is named; naming the node in progress
resumes it. An interrupted drain is resumed by the next run (progress is recorded in the node
annotation kubectl-upgrade.io/drain-progress; nodes drained by plain `drain` carry it too, without
a target, and do not count as in progress).

The rollout lock: every run that changes nodes first takes the Lease
kube-system/kubectl-upgrade-rollout (renewed every 15 s, released at the end, on Ctrl-C and on
SIGTERM); a second run is refused with exit code 6 naming who holds it, on which node, running
what, since when (--wait-for-lock DURATION waits for it). A lock not renewed for 60 s is taken
over, and that is said. --dry-run takes no lock.

Scope: with -n NS or --pod-selector, only those pods are evicted; if others that a full drain
removes still run on the node, it is recorded as partly drained (exit 2) and not ready for its
upgrade: drain-next without the scope finishes it.

Exit codes: 0 drained or nothing to do; 2 blocked, timed out, partly drained, only skipped nodes
left, or pods with no room (replace); 3 API/auth/RBAC error or the server lost; 4 another node
still in progress; 5 the cluster did not settle after the last node; 6 another rollout holds
the lock; 64 usage (incl. unknown node, a selector matching nothing, --max-unavailable taking
every worker without --accept-downtime); 130 interrupted (SIGINT, SIGTERM, SIGHUP). With a
batch, the most serious result of its drains.";

/// `kubectl upgrade drain-next`
#[derive(Debug, Clone, Args)]
#[command(after_help = DRAIN_NEXT_EXAMPLES)]
pub struct DrainNextArgs {
    /// Drain this node next (even NotReady or cordoned by someone else).
    #[arg(conflicts_with = "selector")]
    pub node: Option<String>,
    /// Target version (default: the API server's version).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Only consider nodes matching this label selector (an empty or malformed one is refused).
    #[arg(short = 'l', long, value_parser = parse_selector)]
    pub selector: Option<Selector>,
    /// Drain another node although one drained earlier is not back at the target yet.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_another: bool,
    /// First uncordon nodes drained earlier that came back Ready at the target.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub uncordon_upgraded: bool,
    /// How the workers move: one-at-a-time (drain, upgrade in place, uncordon), replace
    /// (drain old nodes onto nodes already at the target, for removal) or all-at-once (every
    /// selected worker cordoned and drained together; needs --accept-downtime).
    #[arg(long, value_enum, default_value_t = Strategy::OneAtATime)]
    pub strategy: Strategy,
    /// Drain up to N workers at a time (N or N% of the workers considered, rounded down, at
    /// least 1); budgets shared across the batch are named before anything is touched.
    #[arg(long, value_name = "N|N%", value_parser = batch::parse_max_unavailable, conflicts_with = "node")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Confirms --strategy all-at-once: every selected worker is cordoned and drained together,
    /// and workloads with no room elsewhere are down until the nodes come back.
    #[arg(long)]
    pub accept_downtime: bool,
    /// With --strategy replace: delete the Node object after its drain succeeded.
    #[arg(long)]
    pub delete_node: bool,
    /// Skip the validation between nodes (PDBs healthy again, no replacement pod Pending, the
    /// last upgraded node uncordoned) before a new node is taken.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub no_validate: bool,
    /// How long to wait for the cluster to settle before a new node (then exit 5).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::client::connect::parse_duration)]
    pub validate_timeout: Duration,
    /// With --strategy replace: drain even when the capacity preview says some pods would
    /// find no room on the nodes at the target (they would stay Pending).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub ignore_capacity: bool,
    /// Drain for a --to newer than the API server's minor anyway (the skew policy forbids a
    /// kubelet newer than kube-apiserver: upgrade the control plane first).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_newer_than_apiserver: bool,
    #[command(flatten)]
    pub flags: DrainFlags,
}

/// drain-next's rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    OneAtATime,
    Replace,
    AllAtOnce,
}

/// drain-next's JSON/YAML output.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NextReport {
    target: String,
    strategy: Strategy,
    /// The drained node's Node object was deleted (`--delete-node`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted_node: bool,
    /// The node drained, when one was (`nodes`/`drains` list every node of a batch).
    node: Option<String>,
    reason: String,
    uncordoned: Vec<String>,
    skipped: Vec<SkippedNode>,
    queue: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drain: Option<Summary>,
    /// Every node drained by this run (one, or a batch).
    nodes: Vec<String>,
    drains: Vec<Summary>,
    /// Budgets shared across the batch ([`batch::shared_budgets`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    shared_budgets: Vec<Shared>,
    /// Nodes whose Node object was deleted (`--delete-node`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deleted_nodes: Vec<String>,
    /// `--strategy replace`: the old nodes of the pool tainted `PreferNoSchedule` so that the
    /// evicted pods do not land on nodes drained next ([`REPLACE_TAINT`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tainted: Vec<String>,
    /// The rollout lock was taken over from a run that stopped renewing it (who, since when).
    #[serde(skip_serializing_if = "Option::is_none")]
    took_over_lock: Option<String>,
    /// Why the run stopped early: a signal (`interrupted (SIGTERM)`) or the lock lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
}

impl NextReport {
    fn new(target: &str, strategy: Strategy) -> NextReport {
        NextReport {
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
        }
    }
}

/// The names `-l/--selector` selects (server-side), or `None` without one.
async fn selected_names(
    args: &DrainNextArgs,
    api: &Api<Node>,
    conn: &Connection,
) -> Result<Option<BTreeSet<String>>, CliError> {
    let Some(sel) = &args.selector else {
        return Ok(None);
    };
    let names: BTreeSet<String> =
        list_node_objects(api, ListParams::default().labels(&sel.to_string()), conn)
            .await?
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
    if names.is_empty() {
        // A typo must not read as "the rollout is done" to a script looping on exit 0.
        return Err(CliError::usage(format!(
            "no node matches -l {sel}; check the labels with `kubectl get nodes --show-labels`"
        )));
    }
    Ok(Some(names))
}

#[derive(Serialize)]
struct SkippedNode {
    node: String,
    reason: String,
}

/// Flag combinations that make no sense, refused before anything is read (exit 64).
fn check_flags(args: &DrainNextArgs) -> Result<(), CliError> {
    if args.delete_node && args.strategy != Strategy::Replace {
        return Err(CliError::usage(
            "--delete-node is for --strategy replace (a node upgraded in place comes back)",
        ));
    }
    let all_at_once = args.strategy == Strategy::AllAtOnce;
    if all_at_once && !args.accept_downtime {
        return Err(CliError::usage(
            "--strategy all-at-once cordons and drains every selected worker together: workloads with no room on other nodes are down until the nodes come back; pass --accept-downtime to confirm, or use --max-unavailable N for a rolling batch",
        ));
    }
    if args.accept_downtime && !all_at_once && args.max_unavailable.is_none() {
        return Err(CliError::usage(
            "--accept-downtime confirms --strategy all-at-once (or a --max-unavailable that takes every worker); the other strategies keep workloads up",
        ));
    }
    if all_at_once && args.max_unavailable.is_some() {
        return Err(CliError::usage(
            "--max-unavailable sizes rolling batches; --strategy all-at-once takes every selected worker (drop one of them)",
        ));
    }
    if all_at_once && args.node.is_some() {
        return Err(CliError::usage(
            "--strategy all-at-once takes every selected worker: select them with -l/--selector instead of naming one",
        ));
    }
    Ok(())
}

pub async fn run_drain_next(args: &DrainNextArgs, global: &Global) -> Result<Code, CliError> {
    check_flags(args)?;
    let conn = global.connect.connect_no_retry().await?;
    let stop = Stop::on_signals(STOPPING);
    let (target, target_version) = next_target(args, &conn).await?;
    let dry = DryRunArg::mode(args.flags.dry_run);
    let lock = take_lock(&conn, dry, args.flags.wait_for_lock, &stop).await?;
    let mut report = NextReport::new(&target, args.strategy);
    report.took_over_lock = lock.as_ref().and_then(|l| l.took_over.clone());
    let run = Step {
        args,
        global,
        conn: &conn,
        dry,
        target: &target,
        target_version: &target_version,
        lock: lock.as_ref(),
        stop: &stop,
    };
    let result = step(&run, &mut report).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

/// What stopping means for drain-next, said when the first signal arrives.
const STOPPING: &str = "stopping: no new node or eviction is started, evictions in flight finish; nodes being drained stay cordoned (rerun the same command to resume)";

/// One run of drain-next, with the lock held (or a dry run).
struct Step<'a> {
    args: &'a DrainNextArgs,
    global: &'a Global,
    conn: &'a Connection,
    dry: DryRun,
    target: &'a str,
    target_version: &'a Version,
    lock: Option<&'a RolloutLock>,
    stop: &'a Stop,
}

/// Pick, check and drain the next node(s); the report says what happened.
async fn step(run: &Step<'_>, report: &mut NextReport) -> Result<Code, CliError> {
    let (args, global, conn, dry) = (run.args, run.global, run.conn, run.dry);
    let (target, target_version) = (run.target, run.target_version);
    let conn = conn.clone();
    let target = target.to_string();
    let report = &mut *report;
    let api: Api<Node> = Api::all(conn.client.clone());
    let mut all: Vec<NodeFacts> = list_node_objects(&api, ListParams::default(), &conn)
        .await?
        .into_iter()
        .map(|n| NodeFacts::from_node(n, |_| true))
        .collect();
    if let Some(named) = args.node.as_deref() {
        if !all.iter().any(|n| n.name == named) {
            return Err(nodes::not_found(named).into());
        }
    }
    let selected = selected_names(args, &api, &conn).await?;
    let before = order::in_progress(&all, &target);
    let (last_drain, touched) = (rollout::last_drain(&before), rollout::last_touched(&before));
    let standing = uncordon_upgraded(args, &conn, dry, &target, &mut all, report).await?;
    if let Some(msg) = replace_without_destination(args, &all, &target) {
        return stop(report, global, Code::Violations, msg);
    }
    let size = batch_size(args, &all, selected.as_ref())?;
    let chosen = match pick_next(
        args,
        &all,
        &standing,
        selected.as_ref(),
        &target,
        size,
        report,
    )? {
        Pick::Nodes(chosen) => chosen,
        Pick::Stop(code, msg) => return stop(report, global, code, msg),
    };
    let fresh: Vec<String> = chosen
        .iter()
        .filter(|c| !c.resumed)
        .map(|c| c.name.clone())
        .collect();
    let names: Vec<String> = chosen.iter().map(|c| c.name.clone()).collect();
    if let Some(lock) = run.lock {
        lock.working_on(&names).await;
    }
    if !fresh.is_empty() && !args.no_validate {
        let last = LastDrain {
            at: last_drain,
            touched: touched.as_ref(),
        };
        match validate_between_nodes(args, &conn, &standing, &last, run.stop).await? {
            Settled::Yes => {}
            Settled::No(msg) => return stop(report, global, Code::Unsettled, msg),
            Settled::Stopped => {
                let why = run.stop.reason().unwrap_or_else(|| "interrupted".into());
                report.stopped = Some(why.clone());
                let msg =
                    format!("{why} while validating before the next node; nothing was touched");
                return stop(report, global, Code::Interrupted, msg);
            }
        }
    }
    let opts = args
        .flags
        .options(global, writer(args.strategy), Some(target_version.clone()));
    let pod_selector = args.flags.pod_selector.as_ref();
    if !fresh.is_empty() && args.strategy == Strategy::Replace && !args.ignore_capacity {
        let moving = Scope {
            nodes: &names,
            opts: &opts,
            pod_selector,
        };
        if let Some(msg) = replace_capacity(&conn, &all, &moving, &target).await? {
            return stop(report, global, Code::Violations, msg);
        }
    }
    if !fresh.is_empty() && args.strategy == Strategy::Replace {
        let old = order::old_nodes(&all, selected.as_ref(), &names, &target);
        report.tainted = keep_off_old_nodes(&conn, &old, &target, dry).await?;
    }
    for c in &chosen {
        eprintln!("next: {}: {}", c.name, c.reason);
    }
    if names.len() > 1 {
        let scope = Scope {
            nodes: &names,
            opts: &opts,
            pod_selector,
        };
        report.shared_budgets = shared_budgets(&conn, &scope).await?;
        for s in &report.shared_budgets {
            eprintln!("batch: {}", s.describe());
        }
    }
    report.reason = chosen
        .iter()
        .map(|c| c.reason.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    report.nodes = names.clone();
    if args.strategy == Strategy::AllAtOnce && !dry.is_dry() && !fresh.is_empty() {
        if let Some(msg) = all_at_once_preflight(&conn, &fresh, &opts).await? {
            return stop(report, global, Code::Violations, msg);
        }
        cordon_first(&conn, &fresh, dry, target_version).await?;
    }
    let summaries = drain_all(&conn, &names, opts, run.stop).await?;
    report.stopped = run.stop.reason();
    let (mut code, mut texts) = (Code::Ok, Vec::new());
    for summary in summaries {
        match summary {
            Ok(summary) => {
                let (c, text) =
                    after_drain(args, &api, &conn, dry, &summary, &target, report).await;
                code = code.worse(c);
                texts.push(text);
                report.drains.push(summary);
            }
            Err((node, e)) => {
                code = code.worse(e.code);
                texts.push(format!("{node}: not drained: {}", e.message));
            }
        }
    }
    if let [one] = report.drains.as_slice() {
        report.node = Some(one.node.clone());
        report.drain = Some(one.clone());
        report.deleted_node = !report.deleted_nodes.is_empty();
    }
    emit_next(report, global, &texts.join("\n"))?;
    Ok(code)
}

/// Print the report with `msg` as its reason and stop with `code`.
fn stop(
    report: &mut NextReport,
    global: &Global,
    code: Code,
    msg: String,
) -> Result<Code, CliError> {
    report.reason = msg.clone();
    emit_next(report, global, &msg)?;
    Ok(code)
}

/// Who the progress record names: replace drains for removal; the others upgrade in place.
fn writer(strategy: Strategy) -> Writer {
    match strategy {
        Strategy::OneAtATime | Strategy::AllAtOnce => Writer::DrainNext,
        Strategy::Replace => Writer::DrainNextReplace,
    }
}

/// Nodes per run: every selected worker (all-at-once), `--max-unavailable` of the workers
/// considered, else one.
/// A `--max-unavailable` that takes every worker considered at once is the all-at-once
/// strategy (downtime): refused (64) unless `--accept-downtime` confirms it.
fn batch_size(
    args: &DrainNextArgs,
    all: &[NodeFacts],
    selected: Option<&BTreeSet<String>>,
) -> Result<usize, CliError> {
    if args.strategy == Strategy::AllAtOnce {
        return Ok(usize::MAX);
    }
    let considered = all
        .iter()
        .filter(|n| !n.is_control_plane())
        .filter(|n| selected.is_none_or(|s| s.contains(&n.name)))
        .count();
    let Some(spec) = args.max_unavailable else {
        return Ok(1);
    };
    let size = batch::size(spec, considered);
    if batch::takes_every_worker(size, considered) && !args.accept_downtime {
        return Err(CliError::usage(format!(
            "--max-unavailable {spec} takes all {considered} workers considered at once: that is the all-at-once strategy, and workloads with no room elsewhere are down; pass --accept-downtime to confirm, or a smaller N"
        )));
    }
    Ok(size)
}

/// all-at-once: cordon every new node of the batch (recorded as cordoned by drain-next for
/// the target) before any is drained, so that no evicted pod lands on a node about to go.
async fn cordon_first(
    conn: &Connection,
    fresh: &[String],
    dry: DryRun,
    target: &Version,
) -> Result<(), CliError> {
    let record = nodes::stamped(
        ProgressState::Cordoned,
        Some(target.clone()),
        Writer::DrainNext,
    );
    for (i, name) in fresh.iter().enumerate() {
        let cordoned = nodes::set_unschedulable(
            &conn.client,
            name,
            true,
            Annotation::Set(&record),
            dry,
            &conn.description,
        )
        .await;
        if let Err(e) = cordoned {
            let mut e = CliError::from(e);
            if i > 0 {
                e.message = format!(
                    "{}; already cordoned for this rollout: {} (they stay cordoned; rerun the same command to resume)",
                    e.message,
                    fresh[..i].join(", ")
                );
            }
            return Err(e);
        }
        eprintln!("cordoned {name} (all at once){}", dry_suffix(dry));
    }
    Ok(())
}

/// all-at-once, before any node is cordoned: every new node's drain as a client dry run
/// (the engine's preflight and access check, nothing changed). The message when one of them
/// would be blocked: then nothing is touched.
async fn all_at_once_preflight(
    conn: &Connection,
    fresh: &[String],
    opts: &engine::DrainOptions,
) -> Result<Option<String>, CliError> {
    let mut dry = opts.clone();
    dry.dry_run = DryRun::Client;
    dry.list_plan = false;
    eprintln!(
        "all at once: checking the drains of {} node(s) before cordoning any",
        fresh.len()
    );
    let mut blocked = Vec::new();
    for run in drain_all(conn, fresh, dry, &Stop::new()).await? {
        match run {
            Ok(s) if s.outcome == Outcome::Blocked => blocked.push(s.message),
            Ok(_) => {}
            Err((_, e)) => return Err(e),
        }
    }
    Ok((!blocked.is_empty()).then(|| {
        format!(
            "all at once: {} of the {} node(s) would be blocked, so none was cordoned:\n{}",
            blocked.len(),
            fresh.len(),
            blocked.join("\n")
        )
    }))
}

/// Drain every node concurrently through the one engine. One node: its error stops the
/// command as before; in a batch, a node that could not be started is reported beside the
/// others' summaries.
async fn drain_all(
    conn: &Connection,
    names: &[String],
    mut opts: engine::DrainOptions,
    stop: &Stop,
) -> Result<Vec<Result<Summary, (String, CliError)>>, CliError> {
    let cancel = stop.receiver();
    if let [name] = names {
        return Ok(vec![Ok(
            engine::drain_node(conn, name, &opts, cancel).await?
        )]);
    }
    // Several live bars would fight over the terminal: plain lines, each naming its node.
    opts.live = false;
    let runs = names.iter().map(|name| {
        let (opts, cancel) = (&opts, cancel.clone());
        async move {
            engine::drain_node(conn, name, opts, cancel)
                .await
                .map_err(|e| (name.clone(), CliError::from(e)))
        }
    });
    Ok(futures::future::join_all(runs).await)
}

/// The budgets shared across the batch: the batch nodes' pods and every PDB, listed, then
/// [`batch::shared_budgets`].
async fn shared_budgets(conn: &Connection, scope: &Scope<'_>) -> Result<Vec<Shared>, CliError> {
    let (names, opts, pod_selector) = (scope.nodes, scope.opts, scope.pod_selector);
    let (pods, _) = crate::client::paging::list_all(
        &Api::<Pod>::all(conn.client.clone()),
        ListParams::default(),
    )
    .await
    .map_err(|e| api_error(e, "list", "pods", None, &conn.description))?;
    let pdbs = settle_pdbs(conn).await?;
    let batch: Vec<(String, Vec<crate::facts::pod::PodFacts>)> = names
        .iter()
        .map(|name| {
            let facts = pods
                .iter()
                .filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                })
                .filter(|p| in_drain_scope(p, opts, pod_selector))
                .map(|p| {
                    let mut f = crate::facts::pod::PodFacts::from_pod(p);
                    let labels = p.metadata.labels.clone().unwrap_or_default();
                    f.pdbs = PdbFacts::covering(&pdbs, &f.namespace, &labels);
                    f
                })
                .collect();
            (name.clone(), facts)
        })
        .collect();
    Ok(batch::shared_budgets(&batch, &pdbs, &opts.filter))
}

/// `--strategy replace`, before the first eviction: taint the old nodes of the pool
/// `PreferNoSchedule` ([`REPLACE_TAINT`]) so that evicted pods prefer the nodes at the target
/// and do not move twice. The nodes newly tainted (or that would be, in a dry run).
async fn keep_off_old_nodes(
    conn: &Connection,
    old: &[String],
    target: &str,
    dry: DryRun,
) -> Result<Vec<String>, CliError> {
    let mut tainted = Vec::new();
    for name in old {
        let added = nodes::prefer_no_schedule(
            &conn.client,
            name,
            REPLACE_TAINT,
            target,
            dry,
            &conn.description,
        )
        .await?;
        if added {
            tainted.push(name.clone());
        }
    }
    if !tainted.is_empty() {
        let verb = if dry.is_dry() {
            "would taint"
        } else {
            "tainted"
        };
        eprintln!(
            "replace: {verb} the {} other old node(s) of the pool {REPLACE_TAINT}={target}:PreferNoSchedule so that evicted pods prefer the nodes at {target} (a preference: with no room there they may still land on old nodes){}: {}",
            tainted.len(),
            dry_suffix(dry),
            crate::findings::bounded(&tainted, 5)
        );
    }
    Ok(tainted)
}

/// The batch's nodes and what its drains remove from them (`-n`, `--pod-selector`).
struct Scope<'a> {
    nodes: &'a [String],
    opts: &'a engine::DrainOptions,
    pod_selector: Option<&'a Selector>,
}

/// Is the pod one the drain removes: in `-n`'s namespace and matching `--pod-selector`?
fn in_drain_scope(p: &Pod, opts: &engine::DrainOptions, pod_selector: Option<&Selector>) -> bool {
    let empty = Default::default();
    let labels = p.metadata.labels.as_ref().unwrap_or(&empty);
    opts.namespace
        .as_ref()
        .is_none_or(|ns| p.metadata.namespace.as_ref() == Some(ns))
        && pod_selector.is_none_or(|sel| sel.matches(labels))
}

/// What the finished drains left to check: when the last one ended, and the budgets they
/// touched (`None`: every budget).
struct LastDrain<'a> {
    at: Option<jiff::Timestamp>,
    touched: Option<&'a BTreeSet<String>>,
}

/// Validation between nodes: wait up to `--validate-timeout` for the cluster to settle after
/// the last node ([`rollout::unsettled`]); the message when it did not. Reads only.
async fn validate_between_nodes(
    args: &DrainNextArgs,
    conn: &Connection,
    standing: &[(String, Standing, Progress)],
    last: &LastDrain<'_>,
    stop: &Stop,
) -> Result<Settled, CliError> {
    // Only an uncordon fixes these: say so at once rather than wait for them.
    let yours = rollout::awaiting_uncordon(standing);
    if !yours.is_empty() {
        return Ok(Settled::No(format!(
            "not taking a new node: {}; or pass --no-validate",
            yours.join("; ")
        )));
    }
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let (pdbs, pending) = (settle_pdbs(conn).await?, pending_pods(conn).await?);
        let problems = rollout::unsettled(standing, &pdbs, &pending, last.at, last.touched);
        if problems.is_empty() {
            return Ok(Settled::Yes);
        }
        let limit = crate::findings::duration_text(args.validate_timeout);
        if started.elapsed() >= args.validate_timeout {
            return Ok(Settled::No(format!(
                "not taking a new node: the cluster has not settled after the last one (waited {limit}): {}; fix it and rerun, raise --validate-timeout, or pass --no-validate",
                problems.join("; ")
            )));
        }
        if !said {
            eprintln!(
                "validating before the next node (up to {limit}): {}",
                problems.join("; ")
            );
            said = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2).min(args.validate_timeout)) => {}
            _ = stop.stopped() => return Ok(Settled::Stopped),
        }
    }
}

/// What the validation between nodes found.
enum Settled {
    Yes,
    No(String),
    /// A signal (or the lost lock) stopped the wait.
    Stopped,
}

/// The capacity preview of `--strategy replace`: do the pods that must leave the batch's nodes fit on
/// the Ready, schedulable workers at the target ([`capacity::place`])? The message naming
/// the pods that would stay Pending when they do not; a line on stderr when they do.
async fn replace_capacity(
    conn: &Connection,
    all: &[NodeFacts],
    scope: &Scope<'_>,
    target: &str,
) -> Result<Option<String>, CliError> {
    let batch = scope.nodes;
    let node = batch.join(", ");
    let node = node.as_str();
    let leaving = |n: &str| batch.iter().any(|b| b == n);
    use crate::facts::resources::Resources;
    use crate::policy::capacity::{self, Destination, Moving};
    let (pods, _) = crate::client::paging::list_all(
        &Api::<Pod>::all(conn.client.clone()),
        ListParams::default(),
    )
    .await
    .map_err(|e| api_error(e, "list", "pods", None, &conn.description))?;
    let running = |p: &&Pod| {
        let f = crate::facts::pod::PodFacts::from_pod(p);
        !matches!(f.phase.as_str(), "Succeeded" | "Failed") && !f.deleting
    };
    let on = |p: &Pod, n: &str| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(n);
    let moving: Vec<Moving> = pods
        .iter()
        .filter(running)
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(leaving)
        })
        .filter(|p| {
            let f = crate::facts::pod::PodFacts::from_pod(p);
            !f.mirror && f.controller_kind.as_deref() != Some("DaemonSet")
        })
        .filter(|p| in_drain_scope(p, scope.opts, scope.pod_selector))
        .map(Moving::from_pod)
        .collect();
    let unknown_room = Resources {
        cpu_millis: u64::MAX / 4,
        memory_bytes: u64::MAX / 4,
        pods: u64::MAX / 4,
    };
    let destinations: Vec<Destination> = all
        .iter()
        .filter(|n| !leaving(&n.name) && !n.is_control_plane() && n.ready && !n.unschedulable)
        .filter(|n| order::at_target(&n.kubelet_version, target) == Some(true))
        .map(|n| {
            let mut used = Resources::default();
            for p in pods.iter().filter(running).filter(|p| on(p, &n.name)) {
                used.add(Resources::requested_by(p));
            }
            Destination {
                name: n.name.clone(),
                labels: n.labels.clone(),
                taints: n.taints.clone(),
                free: n.allocatable.unwrap_or(unknown_room).minus(used),
            }
        })
        .collect();
    let pending = capacity::place(&moving, &destinations);
    if pending.is_empty() {
        eprintln!(
            "capacity: the {} pod(s) to move off {node} fit on the {} node(s) at {target} (by requests, selectors, affinity and taints)",
            moving.len(),
            destinations.len()
        );
        return Ok(None);
    }
    let named: Vec<String> = pending
        .iter()
        .map(|(k, why)| format!("{k} ({why})"))
        .collect();
    Ok(Some(format!(
        "capacity preview: {} of the {} pod(s) to move off {node} would stay Pending on the {} node(s) at {target}: {}; add nodes at the target, or pass --ignore-capacity; nothing was touched",
        pending.len(),
        moving.len(),
        destinations.len(),
        crate::findings::bounded(&named, 5)
    )))
}

async fn settle_pdbs(conn: &Connection) -> Result<Vec<PdbFacts>, CliError> {
    let (pdbs, _) = crate::client::paging::list_all(
        &Api::<PodDisruptionBudget>::all(conn.client.clone()),
        ListParams::default(),
    )
    .await
    .map_err(|e| api_error(e, "list", "poddisruptionbudgets", None, &conn.description))?;
    Ok(pdbs
        .iter()
        .map(|b| PdbFacts::from_pdb(b, PdbVersion::V1))
        .collect())
}

/// Controller-owned pods that are Pending, with their creation time.
async fn pending_pods(conn: &Connection) -> Result<Vec<PendingPod>, CliError> {
    let (pods, _) = crate::client::paging::list_all(
        &Api::<Pod>::all(conn.client.clone()),
        ListParams::default().fields("status.phase=Pending"),
    )
    .await
    .map_err(|e| api_error(e, "list", "pods", None, &conn.description))?;
    Ok(pods
        .iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|r| r.controller == Some(true)))
        })
        .map(|p| PendingPod {
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
        .collect())
}

/// The target (`--to`, else the API server's version), parsed; refused (64) when its minor is
/// above the API server's, unless `--allow-newer-than-apiserver`.
/// The target (`--to`, else the oldest kube-apiserver's version), parsed; refused (64) when its
/// minor is above the oldest kube-apiserver's (an HA control plane mid-upgrade answers
/// `/version` from any instance), unless `--allow-newer-than-apiserver`.
async fn next_target(
    args: &DrainNextArgs,
    conn: &Connection,
) -> Result<(String, Version), CliError> {
    let oldest = crate::client::apiservers::read(conn)
        .await?
        .map_or_else(|| conn.server_version.clone(), |a| a.oldest.raw);
    let target = args.to.clone().unwrap_or_else(|| oldest.clone());
    let version = crate::policy::version::parse(&target).map_err(|e| {
        CliError::usage(format!(
            "cannot read target version '{target}' ({e}); use e.g. --to v1.33.2"
        ))
    })?;
    if !args.allow_newer_than_apiserver {
        order::not_above_apiserver(&target, &oldest, "--to").map_err(|why| {
            CliError::usage(format!("{why} (or pass --allow-newer-than-apiserver)"))
        })?;
    }
    Ok((target, version))
}

async fn list_node_objects(
    api: &Api<Node>,
    lp: ListParams,
    conn: &Connection,
) -> Result<Vec<Node>, CliError> {
    api.list(&lp)
        .await
        .map(|l| l.items)
        .map_err(|e| api_error(e, "list", "nodes", None, &conn.description).into())
}

/// The nodes drain-next drained earlier and where each stands; with --uncordon-upgraded,
/// those back Ready at the target are uncordoned first (and left out of the list).
async fn uncordon_upgraded(
    args: &DrainNextArgs,
    conn: &Connection,
    dry: DryRun,
    target: &str,
    all: &mut [NodeFacts],
    report: &mut NextReport,
) -> Result<Vec<(String, Standing, Progress)>, CliError> {
    let standing = order::in_progress(all, target);
    if args.uncordon_upgraded {
        for (name, st, _) in &standing {
            if *st == Standing::Upgraded {
                nodes::set_unschedulable(
                    &conn.client,
                    name,
                    false,
                    Annotation::Clear,
                    dry,
                    &conn.description,
                )
                .await?;
                eprintln!(
                    "uncordoned {name}: Ready at the target {target}{}",
                    dry_suffix(dry)
                );
                report.uncordoned.push(name.clone());
            }
        }
        for n in all.iter_mut() {
            if report.uncordoned.contains(&n.name) && !dry.is_dry() {
                n.unschedulable = false;
                n.progress = None;
            }
        }
    }
    let standing: Vec<_> = standing
        .into_iter()
        .filter(|(n, _, _)| !report.uncordoned.contains(n))
        .collect();
    for (name, st, _) in &standing {
        if *st == Standing::Upgraded {
            eprintln!(
                "note: {name} is back Ready at the target but still cordoned: `kubectl upgrade uncordon {name}` or rerun with --uncordon-upgraded"
            );
        }
    }
    Ok(standing)
}

/// `--strategy replace` needs somewhere to move the workloads: a Ready, schedulable worker at
/// the target. The message when there is none.
fn replace_without_destination(
    args: &DrainNextArgs,
    all: &[NodeFacts],
    target: &str,
) -> Option<String> {
    if args.strategy != Strategy::Replace {
        return None;
    }
    let destinations = all
        .iter()
        .filter(|n| !n.is_control_plane() && n.ready && !n.unschedulable)
        .filter(|n| order::at_target(&n.kubelet_version, target) == Some(true))
        .count();
    (destinations == 0).then(|| format!(
        "--strategy replace moves workloads onto nodes already at {target}, and no worker at {target} is Ready and schedulable: add the new nodes first"
    ))
}

/// What drain-next does: drain these nodes, or stop with this exit code and message.
enum Pick {
    Nodes(Vec<Chosen>),
    Stop(Code, String),
}

/// A node drain-next drains in this run.
struct Chosen {
    name: String,
    /// One sentence: why this node now.
    reason: String,
    /// It resumes a drain begun earlier (no validation, no capacity preview for it).
    resumed: bool,
}

/// The nodes to drain. In progress: drained (or being drained) by drain-next, still cordoned,
/// not back at the target. A named node that is in progress is resumed; an unnamed run resumes
/// unfinished drains first. Nodes in progress count against the batch size (one, or
/// `--max-unavailable`): when they fill it, or a record cannot be read, no new node is taken
/// (exit 4 when nothing is resumed) unless --allow-another. Control-plane nodes go alone.
fn pick_next(
    args: &DrainNextArgs,
    all: &[NodeFacts],
    standing: &[(String, Standing, Progress)],
    selected: Option<&BTreeSet<String>>,
    target: &str,
    size: usize,
    report: &mut NextReport,
) -> Result<Pick, CliError> {
    let in_progress: Vec<&(String, Standing, Progress)> = standing
        .iter()
        .filter(|(_, st, _)| !matches!(st, Standing::Upgraded | Standing::ForRemoval))
        .collect();
    let is_cp = |name: &str| all.iter().any(|n| n.name == name && n.is_control_plane());
    let resume = |(name, st, p): &(String, Standing, Progress)| Chosen {
        name: name.clone(),
        reason: resume_reason(st, p, target),
        resumed: true,
    };
    if let Some(named) = args.node.as_deref() {
        if let Some(r) = in_progress.iter().find(|(n, _, _)| n == named) {
            return Ok(Pick::Nodes(vec![resume(r)]));
        }
    }
    let unfinished: Vec<&(String, Standing, Progress)> = in_progress
        .iter()
        .copied()
        .filter(|(_, st, _)| args.node.is_none() && *st == Standing::Unfinished)
        .collect();
    let resumed: Vec<Chosen> = match unfinished.first() {
        None => vec![],
        Some(first) if size == 1 || is_cp(&first.0) => vec![resume(first)],
        Some(_) => unfinished
            .iter()
            .filter(|u| !is_cp(&u.0))
            .take(size)
            .map(|u| resume(u))
            .collect(),
    };
    let mut room = if args.allow_another {
        size.saturating_sub(resumed.len())
    } else {
        size.saturating_sub(in_progress.len())
    };
    if !args.allow_another && room > 0 {
        let unreadable: Vec<(String, String)> = order::unreadable_records(all)
            .into_iter()
            .filter(|(n, _)| args.node.as_deref() != Some(n.as_str()))
            .collect();
        if let Some((_, why)) = unreadable.first() {
            if resumed.is_empty() {
                return Ok(Pick::Stop(Code::InProgress, format!(
                    "{} cordoned node(s) carry a progress record that cannot be read, so they count as in progress: {why} (or pass --allow-another)",
                    unreadable.len()
                )));
            }
            room = 0;
        }
    }
    if room == 0 {
        if !resumed.is_empty() {
            return Ok(Pick::Nodes(resumed));
        }
        let msg = another_in_progress(&in_progress, target, args.node.as_deref());
        return Ok(Pick::Stop(Code::InProgress, msg));
    }
    let exclude: BTreeSet<String> = standing.iter().map(|(n, _, _)| n.clone()).collect();
    let sel = order::select(all, target, selected, args.node.as_deref(), &exclude)
        .map_err(CliError::usage)?;
    report.skipped = skipped(&sel);
    let ranked: Vec<(String, bool)> = sel
        .next
        .iter()
        .map(|c| c.name.clone())
        .chain(sel.queue.iter().cloned())
        .map(|n| {
            let cp = is_cp(&n);
            (n, cp)
        })
        .collect();
    let busy_cp = resumed.iter().any(|c| is_cp(&c.name));
    let fresh = batch::fill(&ranked, room, !resumed.is_empty(), busy_cp);
    report.queue = ranked
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !fresh.contains(n))
        .collect();
    let mut chosen = resumed;
    for (i, name) in fresh.into_iter().enumerate() {
        let reason = match &sel.next {
            Some(c) if i == 0 && c.name == name => c.reason.clone(),
            _ => batch_reason(args, all, &name, target),
        };
        chosen.push(Chosen {
            name,
            reason,
            resumed: false,
        });
    }
    if !chosen.is_empty() {
        return Ok(Pick::Nodes(chosen));
    }
    Ok(nothing_to_drain(args.node.as_deref(), &sel, target))
}

/// The nodes passed over, for the report (and said on stderr).
fn skipped(sel: &order::Selection) -> Vec<SkippedNode> {
    sel.skipped
        .iter()
        .map(|(n, r)| {
            eprintln!("skipped {n}: {r}");
            SkippedNode {
                node: n.clone(),
                reason: r.clone(),
            }
        })
        .collect()
}

/// No node to drain: nothing to do (0), or only skipped nodes left (2).
fn nothing_to_drain(named: Option<&str>, sel: &order::Selection, target: &str) -> Pick {
    let behind = sel.skipped.len();
    if let Some(named) = named {
        // A named node is only passed over when it is already at the target.
        let why = sel.skipped.first().map(|(_, r)| r.as_str()).unwrap_or("");
        return Pick::Stop(Code::Ok, format!("nothing to do: {named}: {why}"));
    }
    if behind == 0 {
        Pick::Stop(
            Code::Ok,
            format!(
                "nothing to do: all {} considered node(s) run kubelet at or above {target}",
                sel.at_target
            ),
        )
    } else {
        Pick::Stop(
            Code::Violations,
            format!(
                "no node can be drained now: {behind} node(s) below {target} were skipped (listed above); name one to drain it anyway"
            ),
        )
    }
}

/// Why a further node of a batch is taken with the first.
fn batch_reason(args: &DrainNextArgs, all: &[NodeFacts], name: &str, target: &str) -> String {
    let kubelet = all
        .iter()
        .find(|n| n.name == name)
        .map_or("?", |n| n.kubelet_version.as_str());
    let how = match (args.strategy, args.max_unavailable) {
        (Strategy::AllAtOnce, _) => "all at once (--accept-downtime)".to_string(),
        (_, Some(m)) => format!("in the same batch (--max-unavailable {m})"),
        (_, None) => "in the same batch".to_string(),
    };
    format!("worker with kubelet {kubelet} < target {target}, {how}")
}

/// After the drain: the exit code and text, with the next step for the strategy; with
/// --delete-node, the Node object is deleted once its drain succeeded.
async fn after_drain(
    args: &DrainNextArgs,
    api: &Api<Node>,
    conn: &Connection,
    dry: DryRun,
    summary: &Summary,
    target: &str,
    report: &mut NextReport,
) -> (Code, String) {
    let name = summary.node.as_str();
    let mut code = summary_code(summary);
    let mut text = human_summary(summary);
    let finished = matches!(
        summary.outcome,
        Outcome::Drained | Outcome::NothingToDo | Outcome::DryRun
    );
    if !finished {
        return (code, text);
    }
    if args.strategy != Strategy::Replace {
        text.push_str(&format!(
            "\nnext: upgrade {name} to {target}, then run `kubectl upgrade uncordon {name}` (or `kubectl upgrade drain-next --uncordon-upgraded`)"
        ));
        return (code, text);
    }
    if args.delete_node && dry.is_dry() {
        text.push_str(&format!(
            "\nwould delete Node {name} once its drain succeeded (--delete-node){}; `kubectl upgrade drain-next --strategy replace --delete-node` takes the next",
            dry_suffix(dry)
        ));
        return (code, text);
    }
    if !args.delete_node {
        text.push_str(&format!(
            "\n{name} is drained for removal and stays cordoned: remove its instance, then `kubectl delete node {name}` (or rerun with --delete-node); `kubectl upgrade drain-next --strategy replace` takes the next"
        ));
        return (code, text);
    }
    match api.delete(name, &Default::default()).await {
        Ok(_) => {
            report.deleted_nodes.push(name.to_string());
            text.push_str(&format!(
                "\ndeleted Node {name} (its workloads run on nodes at {target})"
            ));
        }
        Err(e) => {
            let err = api_error(e, "delete", "nodes", Some(name), &conn.description);
            text.push_str(&format!(
                "\n{name} is drained and stays cordoned, but deleting its Node failed: {}",
                err.message
            ));
            code = Code::Api;
        }
    }
    (code, text)
}

/// Why drain-next picks a node it drained before.
fn resume_reason(st: &Standing, p: &Progress, target: &str) -> String {
    match st {
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
            p.target_text().unwrap_or(target)
        ),
    }
}

/// The exit-4 message: which nodes are still in progress and how to finish each.
fn another_in_progress(
    others: &[&(String, Standing, Progress)],
    target: &str,
    named: Option<&str>,
) -> String {
    let list: Vec<String> = others
        .iter()
        .map(|(n, st, p)| {
            let goal = p.target_text().unwrap_or(target);
            match st {
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

fn emit_next(report: &NextReport, global: &Global, text: &str) -> Result<(), CliError> {
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print!(
                "{}",
                crate::render::machine(report, global.output.machine())?
            )
        }
        _ => println!("{text}"),
    }
    Ok(())
}
