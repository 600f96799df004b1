//! The drain engine (I/O): read the node's pods and the PDBs, decide with `filters` and `pdb`,
//! stop before cordoning when something blocks, then cordon, evict with bounded concurrency,
//! and wait (watch-based, by uid) until every pod that had to go is gone.
//!
//! Faults: transport errors and 502/503/504 are retried with backoff until the API server
//! returns or the time limit ends (an eviction whose answer was lost is checked with a GET
//! before it is sent again: no duplicates); 429 waits for the PDB to change or a backoff;
//! Ctrl-C stops new evictions. Every failure leaves the node cordoned and says so.

use crate::client::connect::{api_error, Connection};
use crate::client::error::ClientError;
use crate::client::nodes;
pub use crate::drain::model::*;
use crate::drain::ui::Ui;
use crate::drain::{api, outcome, removal};
use crate::facts::dry_run::DryRun;
use crate::facts::pdb::{PdbFacts, PdbVersion};
use crate::facts::pod::PodFacts;
use crate::facts::progress::{schedulable_patch, Annotation, Progress, ProgressState};
use crate::facts::selector::Requirement;
use crate::findings::bounded;
use crate::policy::filters::{self, SkipReason};
use crate::policy::preflight::{self, Verdict};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::VolumeAttachment;
use kube::api::{Api, ListParams, Patch, PatchParams};
use std::collections::BTreeMap;
use std::time::Instant;
use tokio::sync::watch;

/// Print the plan (what will be removed, skipped, blocked) on stderr.
fn print_plan(ui: &Ui, node: &str, pods: &[LivePod], plan: &filters::PodPlan, opts: &DrainOptions) {
    let names = |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| pods[i].key()).collect() };
    let verb = if opts.disable_eviction {
        "delete (eviction disabled)"
    } else {
        "evict"
    };
    ui.say(format!(
        "{node}: plan: {verb} {} running and {} completed, wait for {} terminating; skip {} DaemonSet, {} mirror, {} long-terminating",
        plan.evict.len(),
        plan.completed.len(),
        plan.wait_only.len(),
        plan.skipped_count(SkipReason::DaemonSet),
        plan.skipped_count(SkipReason::Mirror),
        plan.skipped_count(SkipReason::DeletingTooLong),
    ));
    if !opts.dry_run.is_dry() || !opts.list_plan {
        return;
    }
    for name in names(&plan.evict) {
        ui.say(format!("  {verb} {name}"));
    }
    for name in names(&plan.completed) {
        ui.say(format!("  {verb} (completed) {name}"));
    }
    for name in names(&plan.wait_only) {
        ui.say(format!("  wait (terminating) {name}"));
    }
    for (i, r) in &plan.skipped {
        ui.say(format!("  skip {} ({})", pods[*i].key(), r.describe()));
    }
}

/// Drain one node. `Err` only when nothing was changed (node not found, cannot list pods);
/// every later failure is an [`Outcome`] in the summary, with the node left cordoned.
///
/// The sequence: fetch (node, pods, PDBs), decide (the one preflight), stop before touching the
/// node when something blocks, check access, cordon, remove the pods, conclude.
pub async fn drain_node(
    conn: &Connection,
    node: &str,
    opts: &DrainOptions,
    cancel: watch::Receiver<bool>,
) -> Result<DrainSummary, ClientError> {
    let (client, cluster) = (&conn.client, conn.description.as_str());
    let run = Run::new(client, cluster, node, opts);
    let mut summary = DrainSummary::new(node, opts.dry_run);
    let seen = fetch(&run).await?;
    summary.cordoned = seen.was_cordoned;
    let plan = decide(&seen, opts, &mut summary);
    if let Some(message) = preflight_stop(&summary, opts, node, seen.was_cordoned) {
        summary.outcome = Outcome::Blocked;
        summary.message = message;
        return Ok(run.done(summary));
    }
    warn_going_ahead(&run, &summary, &plan);
    let namespaces = plan
        .evict
        .iter()
        .map(|&i| seen.pods[i].facts.namespace.as_str())
        .collect();
    api::check_access(client, node, namespaces, opts, &run.ui).await?;
    print_plan(&run.ui, node, &seen.pods, &plan, opts);
    if opts.dry_run == DryRun::Client {
        client_dry_run(&mut summary, &seen.pods, &plan, opts);
        return Ok(run.done(summary));
    }
    cordon(&run, seen.was_cordoned, &mut summary).await?;
    let work = removal::work_list(&plan, &seen.pods, opts);
    if work.is_empty() {
        nothing_to_remove(&run, &mut summary, cancel).await;
        return Ok(run.done(summary));
    }
    let touched = touched_pdbs(&seen.pods, &plan);
    if opts.dry_run == DryRun::None {
        // Best effort, like every progress write: the drain itself does not depend on it.
        let record = run
            .progress(ProgressState::Draining)
            .with_pdbs(touched.clone());
        let _ = api::write_progress(client, node, &record, run.record_limit()).await;
    }
    let removed = removal::remove_all(
        removal::RemovalRun {
            client,
            watch_client: &conn.watch_client,
            cluster,
            node,
            opts,
            deadline: run.deadline,
        },
        &seen.pods,
        work,
        cancel.clone(),
    )
    .await;
    let mut summary = outcome::conclude(summary, removed, opts, run.started, *cancel.borrow());
    let mut lost = false;
    if matches!(summary.outcome, Outcome::TimedOut | Outcome::Failed) {
        // Pods that could not be removed because nobody answered are not the PDBs' doing.
        if let Some(why) = api::unreachable(client).await {
            outcome::lost_contact(&mut summary, &why, cluster, opts);
            lost = true;
        }
    }
    if summary.outcome == Outcome::TimedOut && !lost {
        // The first rung of the blocked-drain ladder: why each budget still said no.
        let held = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            held_budgets(client, &seen.pods, &summary.remaining),
        )
        .await
        .unwrap_or_default();
        outcome::explain_held(&mut summary, held);
    }
    if summary.outcome == Outcome::Drained && !seen.outside_scope.is_empty() {
        outcome::partial(&mut summary, seen.outside_scope, opts);
    }
    if summary.outcome == Outcome::Drained && !lost {
        volumes_released(&run, &mut summary, cancel.clone()).await;
    }
    // Interrupted: the record stays "draining", which is what it is (resumable); the server
    // lost: nothing can be recorded (the record says "draining", status says "stopped").
    if opts.dry_run == DryRun::None && summary.outcome != Outcome::Interrupted && !lost {
        let state = match summary.outcome {
            Outcome::Drained => ProgressState::Drained,
            Outcome::Partial => ProgressState::Partial,
            _ => ProgressState::Failed,
        };
        let record = run
            .progress(state)
            .with_pdbs(touched)
            .with_deleted_blocking(&summary.deleted_blocking);
        let _ = api::write_progress(client, node, &record, run.record_limit()).await;
    }
    Ok(summary)
}

/// Before a node counts as drained: its VolumeAttachments released (Cluster API's rule: a
/// node is not deleted under a mounted disk), polled every second up to
/// `--volume-detach-timeout`. Still attached then: the drain is not finished (the summary
/// says which). A server that does not serve them, or a user who may not list them, gets a
/// note and is not waited for. A signal ends the wait: interrupted, resumable.
async fn volumes_released(
    run: &Run<'_>,
    summary: &mut DrainSummary,
    mut cancel: watch::Receiver<bool>,
) {
    let Some(limit) = run.opts.volume_detach_timeout else {
        return;
    };
    let node = run.node;
    let api: Api<VolumeAttachment> = Api::all(run.client.clone());
    let until = Instant::now() + limit;
    let mut said = false;
    loop {
        let attached: Vec<String> = match api.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter(|va| va.spec.node_name == node)
                .filter_map(|va| va.metadata.name.clone())
                .collect(),
            // Not served: no volumes to wait for.
            Err(kube::Error::Api(s)) if s.code == 404 => return,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                run.ui.say(format!(
                    "{node}: note: VolumeAttachments cannot be listed ({}); not waiting for volumes to detach",
                    s.message
                ));
                return;
            }
            // Unreadable for now: try again within the limit.
            Err(_) => vec!["(unreadable)".to_string()],
        };
        if attached.is_empty() {
            return;
        }
        if Instant::now() >= until {
            outcome::volumes_still_attached(summary, attached, limit);
            return;
        }
        if !said {
            run.ui.say(format!(
                "{node}: waiting up to {} for {} VolumeAttachment(s) to be released: {}",
                crate::findings::duration_text(limit),
                attached.len(),
                bounded(&attached, crate::findings::NAMES_SHOWN)
            ));
            said = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = cancel.wait_for(|c| *c) => {
                outcome::interrupted_waiting_for_volumes(summary, &attached, run.opts);
                return;
            }
        }
    }
}

/// At a timeout: each budget the pods still on the node wait on (the first five), read again
/// with the pods it selects, and why it still allows no eviction. One that cannot be read is
/// left out: the timeout message already names it.
async fn held_budgets(
    client: &kube::Client,
    pods: &[LivePod],
    remaining: &[String],
) -> Vec<HeldBudget> {
    // Budget -> whether a pod still on the node waiting on it is itself not Ready.
    let mut budgets: BTreeMap<&String, bool> = BTreeMap::new();
    for p in pods.iter().filter(|p| remaining.contains(&p.key())) {
        for name in p.pdb_names.iter() {
            *budgets.entry(name).or_default() |= !p.facts.ready;
        }
    }
    let mut held = Vec::new();
    for (name, stuck_not_ready) in budgets.into_iter().take(5) {
        let Some((ns, n)) = name.split_once('/') else {
            continue;
        };
        let Ok(pdb) = Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
            .get(n)
            .await
        else {
            continue;
        };
        let facts = PdbFacts::from_pdb(&pdb, PdbVersion::V1);
        let sel = &facts.selector;
        let understood = !sel
            .requirements
            .iter()
            .any(|r| matches!(r, Requirement::Invalid(_)));
        let selects_any = sel.everything || !sel.requirements.is_empty();
        let selected = if understood && selects_any {
            let lp = ListParams::default().labels(&sel.to_string());
            match Api::<Pod>::namespaced(client.clone(), ns).list(&lp).await {
                Ok(list) => list.items.iter().map(PodFacts::from_pod).collect(),
                Err(_) => vec![],
            }
        } else {
            vec![]
        };
        held.push(outcome::held_budget(&facts, &selected, stuck_not_ready));
    }
    held
}

/// The budgets (`ns/name`) selecting the pods this drain evicts, once each: what the
/// validation before the next node waits for.
fn touched_pdbs(pods: &[LivePod], plan: &filters::PodPlan) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = plan
        .evict
        .iter()
        .flat_map(|&i| pods[i].pdb_names.iter())
        .collect();
    names.into_iter().cloned().collect()
}

/// What one drain call works with: the client, names, options, clock and deadline.
struct Run<'a> {
    client: &'a kube::Client,
    cluster: &'a str,
    node: &'a str,
    opts: &'a DrainOptions,
    started: Instant,
    /// The same, on the wall clock (the progress record's `started`).
    began: jiff::Timestamp,
    deadline: Option<Instant>,
    ui: Ui,
}

impl<'a> Run<'a> {
    fn new(
        client: &'a kube::Client,
        cluster: &'a str,
        node: &'a str,
        opts: &'a DrainOptions,
    ) -> Run<'a> {
        let started = Instant::now();
        Run {
            client,
            cluster,
            node,
            opts,
            began: jiff::Timestamp::now(),
            started,
            deadline: opts.timeout.filter(|t| !t.is_zero()).map(|t| started + t),
            ui: Ui::plain(node),
        }
    }

    /// Until when an API outage is ridden out.
    fn outage_limit(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + OUTAGE_LIMIT)
    }

    /// Until when a progress record is retried: 30 s, but never much past `--timeout` (a
    /// lost server must not keep the drain beyond its limit).
    fn record_limit(&self) -> Instant {
        let usual = Instant::now() + RECORD_LIMIT;
        match self.deadline {
            Some(d) => usual.min(d.max(Instant::now() + RECORD_GRACE)),
            None => usual,
        }
    }

    fn progress(&self, state: ProgressState) -> Progress {
        nodes::stamped(state, self.opts.target.clone(), self.opts.command).started_at(self.began)
    }

    /// The summary, timed.
    fn done(&self, mut summary: DrainSummary) -> DrainSummary {
        summary.elapsed_seconds = self.started.elapsed().as_secs_f64();
        summary
    }
}

/// How long a progress record is retried during an outage.
const RECORD_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
/// ... and at most this long once `--timeout` has passed.
const RECORD_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the API showed before anything changed.
struct Seen {
    /// drain-next with `-n`/`--pod-selector`: the pods outside that scope that a full drain
    /// would remove (they stay; the node is then only partly drained).
    outside_scope: Vec<String>,
    was_cordoned: bool,
    /// The node's pods (namespace-filtered, sorted), each with the PDBs selecting it.
    pods: Vec<LivePod>,
    pdbs: Vec<PdbFacts>,
    /// Admission webhooks that can stop a drain, and their endpoints.
    admission: crate::facts::webhook::Admission,
}

/// Step 1: the node, its pods and the PDBs. First contact fails fast (exit 3) when the
/// server cannot be reached; later reads ride out outages until the drain's limit.
async fn fetch(run: &Run<'_>) -> Result<Seen, ClientError> {
    let (client, node, opts) = (run.client, run.node, run.opts);
    let nodes_api: Api<Node> = Api::all(client.clone());
    let node_obj = api::with_retry(&run.ui, "reading the node", Instant::now(), || {
        nodes_api.get_opt(node)
    })
    .await
    .map_err(|e| api_error(e, "get", "nodes", Some(node), run.cluster))?
    .ok_or_else(|| nodes::not_found(node))?;
    let was_cordoned = node_obj
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let selector = opts.scope.pod_selector.as_ref().map(|s| s.to_string());
    let (raw_pods, _) = api::with_retry(&run.ui, "listing pods", run.outage_limit(), || {
        api::list_node_pods(client, node, selector.as_deref())
    })
    .await
    .map_err(|e| api_error(e, "list", "pods", None, run.cluster))?;
    let now = jiff::Timestamp::now();
    let mut pods: Vec<LivePod> = raw_pods
        .iter()
        .map(|p| live_pod(p, now))
        .filter(|p| opts.scope.contains(&p.facts.namespace, &p.labels))
        .collect();
    pods.sort_by_key(|p| p.key());
    let pdbs = if opts.disable_eviction {
        vec![]
    } else {
        let listed = api::with_retry(
            &run.ui,
            "listing PodDisruptionBudgets",
            run.outage_limit(),
            || api::list_pdbs(client),
        )
        .await;
        match listed {
            Ok((items, _)) => items
                .iter()
                .map(|b| PdbFacts::from_pdb(b, PdbVersion::V1))
                .collect(),
            Err(e) if crate::client::connect::is_forbidden(&e) => {
                run.ui.say(format!(
                    "{node}: warning: cannot list poddisruptionbudgets (forbidden); PDB preflight skipped, evictions still respect PDBs"
                ));
                vec![]
            }
            Err(e) => {
                return Err(api_error(e, "list", "poddisruptionbudgets", None, run.cluster).into())
            }
        }
    };
    for p in &mut pods {
        p.facts.pdbs = PdbFacts::covering(&pdbs, &p.facts.namespace, &p.labels);
        p.pdb_names = p.facts.pdbs.iter().map(|&i| pdbs[i].key()).collect();
    }
    let outside_scope = outside_scope(run, &pods).await?;
    let admission = crate::client::admission::read(client, run.cluster).await?;
    for n in &admission.notes {
        run.ui.say(format!("{node}: warning: {n}"));
    }
    let admission = admission.admission();
    Ok(Seen {
        admission,
        outside_scope,
        was_cordoned,
        pods,
        pdbs,
    })
}

/// drain-next with `-n`/`--pod-selector`: the node's pods outside that scope that a full
/// drain would remove (running and moving on a drain). Empty for `drain` (a scoped plain
/// drain is what kubectl's `--pod-selector` is) and for an unscoped drain.
async fn outside_scope(run: &Run<'_>, in_scope: &[LivePod]) -> Result<Vec<String>, ClientError> {
    let opts = run.opts;
    if !opts.scope.is_limited() || !opts.command.is_rollout() {
        return Ok(vec![]);
    }
    let (all, _) = api::with_retry(&run.ui, "listing pods", run.outage_limit(), || {
        api::list_node_pods(run.client, run.node, None)
    })
    .await
    .map_err(|e| api_error(e, "list", "pods", None, run.cluster))?;
    let inside: std::collections::HashSet<String> = in_scope.iter().map(|p| p.key()).collect();
    let mut out: Vec<String> = all
        .iter()
        .map(crate::facts::pod::PodFacts::from_pod)
        .filter(|f| f.moves_on_drain() && !f.is_finished() && !inside.contains(&f.key()))
        .map(|f| f.key())
        .collect();
    out.sort();
    Ok(out)
}

/// Step 2, pure: the filter plan, and per pod the one preflight's verdict; fills the
/// summary's skipped, blocked and PDB blockers.
fn decide(seen: &Seen, opts: &DrainOptions, summary: &mut DrainSummary) -> filters::PodPlan {
    let (pods, pdbs) = (&seen.pods, &seen.pdbs);
    let plan = filters::plan(
        pods.iter().map(|p| (&p.facts, p.deleting_for)),
        &opts.filter,
    );
    summary.skipped = plan
        .skipped
        .iter()
        .map(|(i, r)| SkippedPod {
            pod: pods[*i].key(),
            reason: *r,
        })
        .collect();
    summary.blocked = plan
        .blocked
        .iter()
        .map(|(i, rs)| BlockedPod {
            pod: pods[*i].key(),
            reasons: rs.iter().map(|r| r.describe().to_string()).collect(),
        })
        .collect();
    let mut blockers: BTreeMap<String, PdbBlocker> = BTreeMap::new();
    for p in pods {
        let verdict = preflight::verdict(
            &p.facts,
            p.deleting_for,
            &opts.filter,
            pdbs,
            !opts.disable_eviction,
        );
        let (key, reason) = match verdict {
            Verdict::Refused(_) => (
                p.pdb_names.to_string(),
                "several PDBs select these pods: the Eviction API answers 500 (make the selectors disjoint, or use --disable-eviction)".to_string(),
            ),
            Verdict::WaitsOn(j) => match preflight::never(&pdbs[j]) {
                Some(why) => (
                    pdbs[j].key(),
                    format!("can never allow an eviction: {why} ({})", pdbs[j].numbers()),
                ),
                None => continue,
            },
            _ => continue,
        };
        blockers
            .entry(key.clone())
            .or_insert_with(|| PdbBlocker {
                pdb: key,
                reason,
                pods: vec![],
            })
            .pods
            .push(p.key());
    }
    summary.pdb_blockers = blockers.into_values().collect();
    summary.webhooks = webhook_risks(seen, &plan, &summary.node);
    plan
}

/// The webhooks draining this node meets, judged on the pods the plan removes.
fn webhook_risks(
    seen: &Seen,
    plan: &filters::PodPlan,
    node: &str,
) -> Vec<crate::policy::webhooks::WebhookRisk> {
    use crate::policy::webhooks::{risks, Exposure};
    let adm = &seen.admission;
    if adm.webhooks.is_empty() {
        return vec![];
    }
    let mut exposure = Exposure::new(adm);
    for &i in plan.evict.iter().chain(&plan.completed) {
        let p = &seen.pods[i];
        exposure.add(
            adm,
            &p.key(),
            &p.facts.namespace,
            &p.labels,
            p.facts.controller_kind.is_some(),
        );
    }
    risks(adm, &std::collections::BTreeSet::from([node]), &exposure)
}

/// Step 3: the message that stops the drain before the node is touched, if anything blocks it.
fn preflight_stop(
    summary: &DrainSummary,
    opts: &DrainOptions,
    node: &str,
    was_cordoned: bool,
) -> Option<String> {
    let pdb_blocks = !summary.pdb_blockers.is_empty() && !opts.ignore_blockers;
    let webhooks: Vec<&crate::policy::webhooks::WebhookRisk> = summary
        .webhooks
        .iter()
        .filter(|w| w.blocks && !opts.ignore_blockers)
        .collect();
    if summary.blocked.is_empty() && !pdb_blocks && webhooks.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = summary
        .blocked
        .iter()
        .map(|b| format!("  {}: {}", b.pod, b.reasons.join("; ")))
        .collect();
    if pdb_blocks {
        lines.extend(summary.pdb_blockers.iter().map(|b| {
            format!(
                "  PDB {}: {} (pods: {})",
                b.pdb,
                b.reason,
                bounded(&b.pods, crate::findings::NAMES_SHOWN)
            )
        }));
    }
    lines.extend(webhooks.iter().map(|w| format!("  {}", w.message)));
    let hint = if pdb_blocks {
        "; --ignore-blockers goes ahead anyway (evictions under those PDBs wait until --timeout)"
    } else if !webhooks.is_empty() {
        "; --ignore-blockers goes ahead anyway (the API server then refuses what the webhook intercepts)"
    } else {
        ""
    };
    let state = if was_cordoned {
        "node was already cordoned and is left as it was"
    } else {
        "node not cordoned, nothing changed"
    };
    Some(format!(
        "drain of {node} blocked before it started ({state}): {} pod(s) blocked, {} PDB blocker(s), {} webhook(s):\n{}{hint}",
        summary.blocked.len(),
        if pdb_blocks { summary.pdb_blockers.len() } else { 0 },
        webhooks.len(),
        lines.join("\n")
    ))
}

/// Say what going ahead despite blockers, or without evictions, means.
fn warn_going_ahead(run: &Run<'_>, summary: &DrainSummary, plan: &filters::PodPlan) {
    let node = run.node;
    for w in &summary.webhooks {
        run.ui.say(format!("{node}: warning: {}", w.message));
    }
    if !summary.pdb_blockers.is_empty() {
        let names: Vec<&str> = summary
            .pdb_blockers
            .iter()
            .map(|b| b.pdb.as_str())
            .collect();
        run.ui.say(format!(
            "{node}: warning: --ignore-blockers: going ahead despite {} PDB blocker(s): {}",
            names.len(),
            names.join(", ")
        ));
    }
    if run.opts.disable_eviction && !plan.evict.is_empty() {
        run.ui.say(format!(
            "{node}: WARNING: --disable-eviction deletes pods directly, bypassing every PodDisruptionBudget"
        ));
    }
}

/// `--dry-run=client`: what would be removed, nothing sent.
fn client_dry_run(
    summary: &mut DrainSummary,
    pods: &[LivePod],
    plan: &filters::PodPlan,
    opts: &DrainOptions,
) {
    summary.outcome = Outcome::DryRun;
    let removed: Vec<String> = plan
        .evict
        .iter()
        .chain(&plan.completed)
        .map(|&i| pods[i].key())
        .collect();
    if opts.disable_eviction {
        summary.deleted = removed;
    } else {
        summary.evicted = removed;
    }
    summary.waited = plan.wait_only.iter().map(|&i| pods[i].key()).collect();
    summary.message = format!(
        "dry run (client): would cordon {} and remove {} pod(s); nothing was changed",
        summary.node,
        plan.to_remove()
    );
}

/// Step 4: cordon, recording progress (cordoned, nothing removed yet) in the same patch.
async fn cordon(
    run: &Run<'_>,
    was_cordoned: bool,
    summary: &mut DrainSummary,
) -> Result<(), ClientError> {
    let node = run.node;
    let nodes_api: Api<Node> = Api::all(run.client.clone());
    let patch = schedulable_patch(
        true,
        Annotation::Set(&run.progress(ProgressState::Cordoned)),
    );
    let pp = PatchParams {
        dry_run: run.opts.dry_run == DryRun::Server,
        ..PatchParams::default()
    };
    let merge = Patch::Merge(&patch);
    api::with_retry(&run.ui, "cordoning", run.outage_limit(), || {
        nodes_api.patch(node, &pp, &merge)
    })
    .await
    .map_err(|e| api_error(e, "patch", "nodes", Some(node), run.cluster))?;
    if run.opts.dry_run == DryRun::None {
        summary.cordoned = true;
        if !was_cordoned {
            run.ui.say(format!("{node}: cordoned"));
        }
    }
    Ok(())
}

/// Cordoned and nothing to remove: done (or, in a server dry run, accepted).
async fn nothing_to_remove(
    run: &Run<'_>,
    summary: &mut DrainSummary,
    cancel: watch::Receiver<bool>,
) {
    let node = run.node;
    if run.opts.dry_run.is_dry() {
        summary.outcome = Outcome::DryRun;
        summary.message = format!("dry run (server): cordon of {node} accepted; no pods to remove");
    } else {
        summary.outcome = Outcome::NothingToDo;
        summary.message = format!(
            "{node} cordoned; no pods to remove ({} skipped)",
            summary.skipped.len()
        );
        volumes_released(run, summary, cancel).await;
        // Nothing removed, no budget touched; interrupted: the record stays as it is.
        let state = match summary.outcome {
            Outcome::NothingToDo => Some(ProgressState::Drained),
            Outcome::Interrupted => None,
            _ => Some(ProgressState::Failed),
        };
        if let Some(state) = state {
            let record = run.progress(state).with_pdbs(vec![]);
            let _ = api::write_progress(run.client, node, &record, run.record_limit()).await;
        }
    }
}
