//! drain-next's I/O: resolve the target, take the rollout lock, read the nodes once, let the
//! planner ([`super::plan`]) decide, wait for the cluster to settle (a watch condition on the
//! budgets and the Pending pods, not a poll), then cordon, taint and drain through the one
//! engine ([`crate::drain::engine`]). What it says while working goes through `say`; what it
//! decided comes back as a [`Ran`] for the CLI to render and map to an exit code.

use super::plan::{
    self, AfterDrain, Decision, NodeEnd, Options, StepReport, StopReason, Strategy, Verdict, View,
};
use super::status::{self, PendingPod};
use crate::client::connect::{api_error, is_forbidden, Connection};
use crate::client::error::ClientError;
use crate::client::lock::{self, RolloutLock};
use crate::client::nodes;
use crate::drain::engine;
use crate::drain::model::{DrainOptions, DrainSummary, Outcome};
use crate::facts::dry_run::DryRun;
use crate::facts::node::NodeFacts;
use crate::facts::pdb::{PdbFacts, PdbVersion};
use crate::facts::progress::{Annotation, Progress, ProgressState, Writer, REPLACE_TAINT};
use crate::facts::version::Version;
use crate::findings::{bounded, duration_text, NAMES_SHOWN};
use crate::policy::order::{self, Standing};
use crate::signals::Stop;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use std::collections::BTreeSet;
use std::time::Duration;

/// What stopping means for drain-next, said when the first signal arrives.
pub const STOPPING: &str = "stopping: no new node or eviction is started, evictions in flight finish; nodes being drained stay cordoned (rerun the same command to resume)";

/// Where a run works and how it talks.
pub struct Env<'a> {
    pub conn: &'a Connection,
    pub stop: &'a Stop,
    /// Who takes the lock (user, host, the command to resume).
    pub me: lock::Me,
    /// Progress lines (stderr in the CLI).
    pub say: &'a dyn Fn(&str),
}

/// One run's result: the report and the verdict (`crate::exit` maps it to the exit code).
pub struct Ran {
    pub report: StepReport,
    pub verdict: Verdict,
}

/// The whole run: target, lock, one step, lock released.
pub async fn drain_next(opts: &Options, env: &Env<'_>) -> Result<Ran, ClientError> {
    let target = target(opts, env.conn).await?;
    let dry = opts.drain.dry_run;
    let lock = lock::take(
        env.conn,
        dry,
        opts.wait_for_lock,
        env.stop,
        env.me.clone(),
        env.say,
    )
    .await?;
    // `--on-blocked=skip`: a step whose nodes all timed out is recorded and the run goes on
    // with the next node (at most once per node).
    let mut passed_over: Vec<plan::SkippedNode> = Vec::new();
    let (mut report, verdict) = loop {
        let mut report = StepReport::new(&target, opts.strategy);
        report.took_over_lock = lock.as_ref().and_then(|l| l.took_over.clone());
        let skipped: BTreeSet<String> = passed_over.iter().map(|s| s.node.clone()).collect();
        let verdict = step(opts, env, &target, lock.as_ref(), &mut report, &skipped).await;
        let Ok(Verdict::Drains(ends)) = verdict else {
            break (report, verdict);
        };
        let blocked = plan::blocked_to_skip(opts, &ends);
        if blocked.is_empty() || env.stop.reason().is_some() {
            break (report, Ok(Verdict::Drains(ends)));
        }
        for b in &blocked {
            record_blocked(env, b, &ends, &target, opts.strategy).await;
        }
        let all_blocked = blocked.len() == ends.len();
        let names: BTreeSet<&String> = blocked.iter().map(|b| &b.node).collect();
        passed_over.extend(blocked.iter().cloned());
        if !all_blocked {
            // The others of the batch drained: this run ends with them.
            let ends = ends
                .into_iter()
                .filter(
                    |e| !matches!(e, NodeEnd::Ran { summary, .. } if names.contains(&summary.node)),
                )
                .collect();
            break (report, Ok(Verdict::Drains(ends)));
        }
    };
    if let Some(lock) = lock {
        lock.release().await;
    }
    report.passed_over = passed_over;
    let verdict = verdict?;
    if let Verdict::Stopped(r) = &verdict {
        report.reason = r.message().to_string();
    }
    Ok(Ran { report, verdict })
}

/// The target (`--to`, else the oldest kube-apiserver's version: an HA control plane
/// mid-upgrade answers `/version` from any instance); refused when its minor is above the
/// oldest kube-apiserver's, unless `--allow-newer-than-apiserver`.
async fn target(opts: &Options, conn: &Connection) -> Result<Version, ClientError> {
    let oldest = crate::client::apiservers::oldest_version(conn).await?;
    let target = match &opts.to {
        Some(v) => v.clone(),
        None => crate::facts::version::parse(&oldest).map_err(|e| {
            ClientError::Flags(format!(
                "cannot read the API server's version '{oldest}' ({e}); pass --to, e.g. --to v1.33.2"
            ))
        })?,
    };
    if !opts.allow_newer_than_apiserver {
        order::not_above_apiserver(&target.raw, &oldest, "--to").map_err(|why| {
            ClientError::Flags(format!("{why} (or pass --allow-newer-than-apiserver)"))
        })?;
    }
    Ok(target)
}

/// The cluster as `simulate` reads it, through the one live reader (nodes, pods page by page,
/// PDBs) into a reducer that keeps every node's labels and each pod's scheduling facts; and
/// the default target (the oldest kube-apiserver's version).
pub async fn world(conn: &Connection) -> Result<(super::simulate::World, String), ClientError> {
    let mut reducer = crate::inventory::Reducer::for_simulation(conn.description.clone());
    crate::inventory::live::read(conn, &mut reducer).await?;
    let oldest = crate::client::apiservers::oldest_version(conn).await?;
    let mut world = reducer.finish_world().1;
    if world.claims_volumes() {
        let (volumes, notes) =
            crate::client::volumes::read(&conn.client, &conn.description).await?;
        world.apply_volumes(&volumes);
        world.notes.extend(notes);
    }
    Ok((world, oldest))
}

/// Every pod of the cluster, listed once per run when a preview needs them.
struct Pods<'a> {
    conn: &'a Connection,
    listed: Option<Vec<Pod>>,
}

impl Pods<'_> {
    async fn all(&mut self) -> Result<&[Pod], ClientError> {
        if self.listed.is_none() {
            let api = Api::<Pod>::all(self.conn.client.clone());
            let (pods, _) = crate::client::paging::list_all(&api, ListParams::default())
                .await
                .map_err(|e| api_error(e, "list", "pods", None, &self.conn.description))?;
            self.listed = Some(pods);
        }
        Ok(self.listed.as_deref().unwrap_or_default())
    }

    /// The replace capacity preview for `batch`, reading where volumes reach when the pods
    /// leaving claim some; and what could not be read.
    async fn capacity(
        &mut self,
        view: &plan::View<'_>,
        batch: &[String],
        scope: &crate::drain::model::DrainScope,
    ) -> Result<(plan::CapacityCheck, Vec<String>), ClientError> {
        let conn = self.conn;
        let listed = self.all().await?;
        let (volumes, notes) = if plan::batch_claims_volumes(listed, batch, scope) {
            crate::client::volumes::read(&conn.client, &conn.description).await?
        } else {
            Default::default()
        };
        let check = plan::replace_capacity(view, listed, batch, scope, &volumes);
        Ok((check, notes))
    }
}

/// Pick, check and drain the next node(s); the report says what happened.
/// Record a node passed over as blocked: still cordoned, its progress record `blocked` with
/// the reason (and the budgets that held it, which then do not hold the validation), the
/// blocked label on. Best effort, like every progress write.
async fn record_blocked(
    env: &Env<'_>,
    blocked: &plan::SkippedNode,
    ends: &[NodeEnd],
    target: &Version,
    strategy: Strategy,
) {
    let held: Vec<String> = ends
        .iter()
        .filter_map(|e| match e {
            NodeEnd::Ran { summary, .. } if summary.node == blocked.node => {
                Some(summary.held_by.iter().map(|h| h.pdb.clone()))
            }
            _ => None,
        })
        .flatten()
        .collect();
    let mut record = nodes::stamped(
        ProgressState::Blocked,
        Some(target.clone()),
        strategy.writer(),
    )
    .with_pdbs(held);
    record.reason = Some(blocked.reason.clone());
    let client = &env.conn.client;
    let _ = nodes::write_progress(client, &blocked.node, Some(&record), DryRun::None).await;
    (env.say)(&format!(
        "passed over {} (--on-blocked=skip): {}; it stays cordoned, labelled {}=true, and is come back to once no other node is left",
        blocked.node,
        blocked.reason,
        crate::facts::progress::BLOCKED_LABEL
    ));
}

async fn step(
    opts: &Options,
    env: &Env<'_>,
    target: &Version,
    lock: Option<&RolloutLock>,
    report: &mut StepReport,
    passed_over: &BTreeSet<String>,
) -> Result<Verdict, ClientError> {
    let (conn, say) = (env.conn, env.say);
    let mut all: Vec<NodeFacts> = nodes::list(conn, None)
        .await?
        .into_iter()
        .map(|n| NodeFacts::from_node(n, |_| true))
        .collect();
    if let Some(named) = opts.node.as_deref() {
        if !all.iter().any(|n| n.name == named) {
            return Err(nodes::not_found(named));
        }
    }
    let selected: Option<BTreeSet<String>> = match &opts.selector {
        Some(sel) => Some(
            nodes::list(conn, Some(sel))
                .await?
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect(),
        ),
        None => None,
    };
    let before = order::in_progress(&all, target);
    let last = LastDrain {
        at: status::last_drain(&before),
        touched: status::last_touched(&before),
    };
    let standing = uncordon_upgraded(opts, env, target, &mut all, report).await?;
    let view = View {
        nodes: &all,
        standing: &standing,
        selected: selected.as_ref(),
        target,
        passed_over,
    };
    if let Some(r) = plan::without_destination(opts, &view) {
        return Ok(Verdict::Stopped(r));
    }
    let size = plan::batch_size(opts, &view).map_err(ClientError::Flags)?;
    let pick = plan::next(opts, &view, size).map_err(ClientError::Flags)?;
    for s in &pick.skipped {
        say(&format!("skipped {}: {}", s.node, s.reason));
    }
    report.skipped = pick.skipped;
    report.queue = pick.queue;
    let chosen = match pick.decision {
        Decision::Drain(chosen) => chosen,
        Decision::Stop(r) => return Ok(Verdict::Stopped(r)),
    };
    let fresh: Vec<String> = chosen
        .iter()
        .filter(|c| !c.resumed)
        .map(|c| c.name.clone())
        .collect();
    let names: Vec<String> = chosen.iter().map(|c| c.name.clone()).collect();
    if let Some(lock) = lock {
        lock.working_on(&names).await;
    }
    if let (false, Some(limit)) = (fresh.is_empty(), opts.validate) {
        match settle(env, &standing, &last, limit).await? {
            Settled::Yes => {}
            Settled::No(msg) => return Ok(Verdict::Stopped(StopReason::Unsettled(msg))),
            Settled::Stopped => {
                let why = env.stop.reason().unwrap_or_else(|| "interrupted".into());
                report.stopped = Some(why.clone());
                return Ok(Verdict::Stopped(StopReason::Interrupted(format!(
                    "{why} while validating before the next node; nothing was touched"
                ))));
            }
        }
    }
    let mut drain = opts.drain.clone();
    drain.command = opts.strategy.writer();
    drain.target = Some(target.clone());
    let mut pods = Pods { conn, listed: None };
    let replacing = !fresh.is_empty() && opts.strategy == Strategy::Replace;
    if replacing && !opts.ignore_capacity {
        let (check, notes) = pods.capacity(&view, &names, &drain.scope).await?;
        for n in &notes {
            say(n);
        }
        match check.verdict(&names, target) {
            Ok(line) => say(&line),
            Err(r) => return Ok(Verdict::Stopped(r)),
        }
    }
    if replacing {
        let old = order::old_nodes(&all, selected.as_ref(), &names, target);
        report.tainted = keep_off_old_nodes(env, &old, target, drain.dry_run).await?;
    }
    for c in &chosen {
        say(&format!("next: {}: {}", c.name, c.reason));
    }
    if names.len() > 1 {
        let pdbs = list_pdbs(conn).await?;
        report.shared_budgets = plan::shared_budgets(pods.all().await?, &pdbs, &names, &drain);
        for s in &report.shared_budgets {
            say(&format!("batch: {}", s.describe()));
        }
    }
    drop(pods);
    report.reason = chosen
        .iter()
        .map(|c| c.reason.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    report.nodes = names.clone();
    if opts.strategy == Strategy::AllAtOnce && !drain.dry_run.is_dry() && !fresh.is_empty() {
        if let Some(r) = all_at_once_preflight(env, &fresh, &drain).await? {
            return Ok(Verdict::Stopped(r));
        }
        cordon_first(env, &fresh, drain.dry_run, target).await?;
    }
    let drained = drain_all(conn, &names, drain, env.stop).await?;
    report.stopped = env.stop.reason();
    let mut ends = Vec::new();
    for result in drained {
        match result {
            Ok(summary) => {
                let (next, delete_failed) = after_drain(opts, env, &summary, target, report).await;
                report.drains.push(summary.clone());
                ends.push(NodeEnd::Ran {
                    summary: Box::new(summary),
                    next,
                    delete_failed,
                });
            }
            Err((node, error)) => ends.push(NodeEnd::NotStarted { node, error }),
        }
    }
    if let [one] = report.drains.as_slice() {
        report.node = Some(one.node.clone());
        report.drain = Some(one.clone());
        report.deleted_node = !report.deleted_nodes.is_empty();
    }
    Ok(Verdict::Drains(ends))
}

/// The nodes drain-next drained earlier and where each stands; with `--uncordon-upgraded`,
/// those back Ready at the target are uncordoned first (and left out of the list).
async fn uncordon_upgraded(
    opts: &Options,
    env: &Env<'_>,
    target: &Version,
    all: &mut [NodeFacts],
    report: &mut StepReport,
) -> Result<Vec<(String, Standing, Progress)>, ClientError> {
    let (conn, dry) = (env.conn, opts.drain.dry_run);
    let standing = order::in_progress(all, target);
    if opts.uncordon_upgraded {
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
                (env.say)(&format!(
                    "uncordoned {name}: Ready at the target {target}{}",
                    dry.suffix()
                ));
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
            (env.say)(&format!(
                "note: {name} is back Ready at the target but still cordoned: `kubectl upgrade uncordon {name}` or rerun with --uncordon-upgraded"
            ));
        }
    }
    Ok(standing)
}

/// What the finished drains left to check: when the last one began, and the budgets they
/// touched (`None`: every budget).
struct LastDrain {
    at: Option<jiff::Timestamp>,
    touched: Option<BTreeSet<String>>,
}

/// What the validation between nodes found.
enum Settled {
    Yes,
    No(String),
    /// A signal (or the lost lock) stopped the wait.
    Stopped,
}

/// Validation between nodes: wait up to `limit` for the cluster to settle after the last
/// node ([`status::unsettled`]). A watch condition: the PDBs and the Pending pods are
/// mirrored by kube-runtime's reflectors and the condition is judged again on each change,
/// so the wait ends the moment the last replacement is Ready. Reads only.
async fn settle(
    env: &Env<'_>,
    standing: &[(String, Standing, Progress)],
    last: &LastDrain,
    limit: Duration,
) -> Result<Settled, ClientError> {
    use kube::runtime::watcher::{self, Event};
    use kube::runtime::{reflector, WatchStreamExt};
    // Only an uncordon fixes these: say so at once rather than wait for them.
    let yours = status::awaiting_uncordon(standing);
    if !yours.is_empty() {
        return Ok(Settled::No(format!(
            "not taking a new node: {}; or pass --no-validate",
            yours.join("; ")
        )));
    }
    let conn = env.conn;
    let client = conn.watch_client.clone();
    let (pdb_store, pdb_writer) = reflector::store::<PodDisruptionBudget>();
    let (pod_store, pod_writer) = reflector::store::<Pod>();
    let config = watcher::Config::default().timeout(290);
    let pdbs = reflector(
        pdb_writer,
        watcher::watcher(Api::all(client.clone()), config.clone()),
    )
    .default_backoff()
    .map(|e| (0usize, e.map(|e| matches!(e, Event::InitDone))));
    let pending = reflector(
        pod_writer,
        watcher::watcher(Api::all(client), config.fields("status.phase=Pending")),
    )
    .default_backoff()
    .map(|e| (1usize, e.map(|e| matches!(e, Event::InitDone))));
    let mut events = std::pin::pin!(futures::stream::select(pdbs, pending));
    let limit_text = duration_text(limit);
    let deadline = tokio::time::Instant::now() + limit;
    let (mut listed, mut said) = ([false, false], false);
    let mut problems: Vec<String> =
        vec!["the budgets and Pending pods could not be read yet".into()];
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some((i, Ok(done))) => listed[i] |= done,
                Some((i, Err(watcher::Error::InitialListFailed(e)))) if is_forbidden(&e) => {
                    let what = ["poddisruptionbudgets", "pods"][i];
                    return Err(api_error(e, "list", what, None, &conn.description).into());
                }
                // The watcher relists after errors, paced by its backoff.
                Some((_, Err(_))) => continue,
                None => return Ok(Settled::Stopped),
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Ok(Settled::No(format!(
                    "not taking a new node: the cluster has not settled after the last one (waited {limit_text}): {}; fix it and rerun, raise --validate-timeout, or pass --no-validate",
                    problems.join("; ")
                )));
            }
            _ = env.stop.stopped() => return Ok(Settled::Stopped),
        }
        if listed != [true, true] {
            continue;
        }
        let budgets: Vec<PdbFacts> = pdb_store
            .state()
            .iter()
            .map(|b| PdbFacts::from_pdb(b, PdbVersion::V1))
            .collect();
        let waiting: Vec<PendingPod> = pod_store
            .state()
            .iter()
            .filter_map(|p| PendingPod::from_pod(p))
            .collect();
        problems = status::unsettled(standing, &budgets, &waiting, last.at, last.touched.as_ref());
        if problems.is_empty() {
            return Ok(Settled::Yes);
        }
        if !said {
            (env.say)(&format!(
                "validating before the next node (up to {limit_text}): {}",
                problems.join("; ")
            ));
            said = true;
        }
    }
}

async fn list_pdbs(conn: &Connection) -> Result<Vec<PdbFacts>, ClientError> {
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

/// `--strategy replace`, before the first eviction: taint the old nodes of the pool
/// `PreferNoSchedule` ([`REPLACE_TAINT`]) so that evicted pods prefer the nodes at the target
/// and do not move twice. The nodes newly tainted (or that would be, in a dry run).
async fn keep_off_old_nodes(
    env: &Env<'_>,
    old: &[String],
    target: &Version,
    dry: DryRun,
) -> Result<Vec<String>, ClientError> {
    let conn = env.conn;
    let mut tainted = Vec::new();
    for name in old {
        let added = nodes::prefer_no_schedule(
            &conn.client,
            name,
            REPLACE_TAINT,
            &target.raw,
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
        (env.say)(&format!(
            "replace: {verb} the {} other old node(s) of the pool {REPLACE_TAINT}={target}:PreferNoSchedule so that evicted pods prefer the nodes at {target} (a preference: with no room there they may still land on old nodes){}: {}",
            tainted.len(),
            dry.suffix(),
            bounded(&tainted, NAMES_SHOWN)
        ));
    }
    Ok(tainted)
}

/// all-at-once, before any node is cordoned: every new node's drain as a client dry run
/// (the engine's preflight and access check, nothing changed). The stop when one of them
/// would be blocked: then nothing is touched.
async fn all_at_once_preflight(
    env: &Env<'_>,
    fresh: &[String],
    opts: &DrainOptions,
) -> Result<Option<StopReason>, ClientError> {
    let mut dry = opts.clone();
    dry.dry_run = DryRun::Client;
    dry.list_plan = false;
    (env.say)(&format!(
        "all at once: checking the drains of {} node(s) before cordoning any",
        fresh.len()
    ));
    let mut blocked = Vec::new();
    for run in drain_all(env.conn, fresh, dry, &Stop::new()).await? {
        match run {
            Ok(s) if s.outcome == Outcome::Blocked => blocked.push(s.message),
            Ok(_) => {}
            Err((_, e)) => return Err(e),
        }
    }
    Ok((!blocked.is_empty()).then(|| {
        StopReason::WouldBlock(format!(
            "all at once: {} of the {} node(s) would be blocked, so none was cordoned:\n{}",
            blocked.len(),
            fresh.len(),
            blocked.join("\n")
        ))
    }))
}

/// all-at-once: cordon every new node of the batch (recorded as cordoned by drain-next for
/// the target) before any is drained, so that no evicted pod lands on a node about to go.
async fn cordon_first(
    env: &Env<'_>,
    fresh: &[String],
    dry: DryRun,
    target: &Version,
) -> Result<(), ClientError> {
    let conn = env.conn;
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
            if i == 0 {
                return Err(e);
            }
            return Err(ClientError::Request(format!(
                "{e}; already cordoned for this rollout: {} (they stay cordoned; rerun the same command to resume)",
                fresh[..i].join(", ")
            )));
        }
        (env.say)(&format!("cordoned {name} (all at once){}", dry.suffix()));
    }
    Ok(())
}

/// A drain per node, concurrently through the one engine. One node: its error is the run's
/// error; in a batch, a node whose drain could not start is reported beside the others.
type Drained = Vec<Result<DrainSummary, (String, ClientError)>>;

async fn drain_all(
    conn: &Connection,
    names: &[String],
    mut opts: DrainOptions,
    stop: &Stop,
) -> Result<Drained, ClientError> {
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
                .map_err(|e| (name.clone(), e))
        }
    });
    Ok(futures::future::join_all(runs).await)
}

/// After a drain: the next step for the strategy ([`plan::after_drain`]); with
/// `--delete-node`, the Node object is deleted once its drain succeeded. The line to add to
/// the drain's text, and whether the delete failed.
async fn after_drain(
    opts: &Options,
    env: &Env<'_>,
    summary: &DrainSummary,
    target: &Version,
    report: &mut StepReport,
) -> (Option<String>, bool) {
    let name = summary.node.as_str();
    match plan::after_drain(opts, summary, target) {
        AfterDrain::Nothing => (None, false),
        AfterDrain::Next(line) => (Some(line), false),
        AfterDrain::DeleteNode => match nodes::delete(env.conn, name).await {
            Ok(()) => {
                report.deleted_nodes.push(name.to_string());
                (
                    Some(format!(
                        "deleted Node {name} (its workloads run on nodes at {target})"
                    )),
                    false,
                )
            }
            Err(e) => (
                Some(format!(
                    "{name} is drained and stays cordoned, but deleting its Node failed: {e}"
                )),
                true,
            ),
        },
    }
}
