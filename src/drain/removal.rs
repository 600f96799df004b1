//! One pod's removal (I/O): send the eviction (or delete) until the server accepts it or
//! answers for good, queueing pods of one PDB behind each other and waiting on the watched
//! budget after a 429, then wait (by uid) until the pod is gone.

use crate::client::connect::api_error;
use crate::client::error::ClientError;
use crate::drain::api::{backoff, delete, err_text, evict, is_outage, with_retry, PdbMap, PodSet};
use crate::drain::model::{DrainOptions, LivePod, BACKOFF_CAP, BACKOFF_START, OUTAGE_LIMIT};
use crate::drain::ui::{Event, Ui};
use crate::facts::dry_run::DryRun;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
    /// Through the Eviction API, waiting for PDB budget (429) when needed.
    Evict,
    /// A Succeeded/Failed pod through the Eviction API: the server deletes it without a PDB
    /// check, so nothing waits for budget (and `delete pods` is not needed).
    EvictCompleted,
    /// DELETE (`--disable-eviction`).
    Delete,
    WaitOnly,
}

impl Removal {
    pub(super) fn evicts(self) -> bool {
        matches!(self, Removal::Evict | Removal::EvictCompleted)
    }
}

#[derive(Debug)]
pub(super) enum PodEnd {
    /// Gone.
    Gone,
    /// Server dry run answered (no waiting).
    DryRun(Result<(), String>),
    Failed(String),
    TimedOut,
    Interrupted,
    /// `--delete-blocking-after`: a budget still refuses its eviction past that time.
    StillBlocking,
}

pub(super) struct Ctx {
    pub(super) client: kube::Client,
    pub(super) opts: DrainOptions,
    pub(super) ui: Ui,
    pub(super) sem: Semaphore,
    pub(super) pods: watch::Receiver<PodSet>,
    pub(super) pdbs: watch::Receiver<PdbMap>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) stop_tx: watch::Sender<bool>,
    pub(super) deadline: Option<Instant>,
    /// `--delete-blocking-after`: from this instant a budget's refusal deletes the pod.
    pub(super) delete_blocking_at: Option<Instant>,
    /// The pods deleted so (`ns/name`).
    pub(super) deleted_blocking: Mutex<Vec<String>>,
    /// The last admission webhook refusal of each pod still refused (`ns/name` -> text).
    pub(super) webhook_refusals: Mutex<BTreeMap<String, String>>,
    pub(super) fatal: Mutex<Option<ClientError>>,
    pub(super) requests: AtomicU64,
    pub(super) too_many: AtomicU64,
    pub(super) cluster: String,
    /// Per-PDB queue: pods under one PDB send their evictions one at a time, each once the
    /// watched status is newer than the answer to the previous one (holds that PDB's
    /// resourceVersion at our last accepted or refused eviction). Avoids a herd of 429s.
    pub(super) gates: BTreeMap<String, tokio::sync::Mutex<Option<String>>>,
}

impl Ctx {
    fn outage_limit(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + OUTAGE_LIMIT)
    }
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
    fn set_fatal(&self, e: ClientError) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(e);
        }
        self.stop_tx.send_replace(true);
    }
}

/// Sleep up to `d`, waking early on stop or deadline. Returns false when stopped.
pub(super) async fn nap(ctx: &Ctx, d: Duration) -> bool {
    let d = match ctx.deadline {
        Some(dl) => d.min(dl.saturating_duration_since(Instant::now())),
        None => d,
    };
    let mut stop = ctx.stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// Is the pod (this uid) gone, according to a GET? `Some(true)` gone, `Some(false)` terminating,
/// `None` still there and not terminating.
pub(super) async fn check_pod(ctx: &Ctx, pod: &LivePod) -> Result<Option<bool>, kube::Error> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.facts.namespace);
    let got = with_retry(&ctx.ui, "reading pod", ctx.outage_limit(), || {
        api.get_opt(&pod.facts.name)
    })
    .await?;
    Ok(match got {
        None => Some(true),
        Some(p) if p.metadata.uid.as_deref() != Some(pod.uid.as_str()) => Some(true),
        Some(p) if p.metadata.deletion_timestamp.is_some() => Some(false),
        Some(_) => None,
    })
}

pub(super) fn stop_end(ctx: &Ctx) -> PodEnd {
    if ctx.past_deadline() {
        PodEnd::TimedOut
    } else {
        PodEnd::Interrupted
    }
}

pub(super) async fn until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending::<()>().await,
    }
}

/// Take this PDB's queue slot; `None` when stopped or past the deadline while queued.
pub(super) async fn lock_gate<'a>(
    ctx: &'a Ctx,
    pdb: &str,
) -> Option<tokio::sync::MutexGuard<'a, Option<String>>> {
    let gate = ctx.gates.get(pdb)?;
    let mut stop = ctx.stop.clone();
    tokio::select! {
        g = gate.lock() => Some(g),
        _ = stop.wait_for(|s| *s) => None,
        _ = until_deadline(ctx.deadline) => None,
    }
}

pub(super) enum Ready {
    /// The watched status allows a disruption and is newer than our last answer.
    Yes,
    /// Waited a backoff without news: send anyway, the server decides.
    Probe,
    Gone,
    Stopped,
}

/// Wait until the PDB (as watched) allows a disruption in a state newer than `last_rv`, or
/// a backoff passes, or the pod goes away.
pub(super) async fn budget_ready(
    ctx: &Ctx,
    pod: &LivePod,
    pdb: &str,
    last_rv: Option<&str>,
    probe: u32,
) -> Ready {
    // Not watched (yet): only the very first request goes without news.
    let ready = |m: &PdbMap| match m.get(pdb) {
        None => last_rv.is_none(),
        Some((rv, allowed)) => Some(rv.as_str()) != last_rv && *allowed > 0,
    };
    if ready(&ctx.pdbs.borrow()) {
        return Ready::Yes;
    }
    let mut pdbs = ctx.pdbs.clone();
    let mut pods = ctx.pods.clone();
    let uid = pod.uid.clone();
    tokio::select! {
        _ = pdbs.wait_for(ready) => Ready::Yes,
        _ = pods.wait_for(|s| !s.contains(&uid)) => Ready::Gone,
        ok = nap(ctx, backoff(probe, BACKOFF_START, BACKOFF_CAP)) => {
            if ok && !ctx.past_deadline() { Ready::Probe } else { Ready::Stopped }
        }
    }
}

/// The PDB's watched resourceVersion now (empty when not watched).
pub(super) fn pdb_rv(ctx: &Ctx, pdb: &str) -> Option<String> {
    Some(
        ctx.pdbs
            .borrow()
            .get(pdb)
            .map(|(rv, _)| rv.clone())
            .unwrap_or_default(),
    )
}

/// How the server answered one eviction or delete, read from the Status's code, `reason`,
/// `details.kind` and `details.causes` (and what we know of the pod's PDBs), not from its
/// message text.
#[derive(Debug)]
enum Answer {
    Accepted,
    /// 404, or 409 (the uid precondition failed): the pod we meant is gone.
    Gone,
    /// 429 with a `DisruptionBudget` cause, or 403 for a PDB whose disruptionsAllowed is
    /// negative: wait for the budget.
    Budget(String),
    /// 429 from API Priority and Fairness: pause and send again.
    Throttled,
    /// 500 for a pod several PDBs select: the Eviction API refuses it.
    SeveralPdbs,
    /// An admission webhook refused it: it could not be called (500 InternalError "failed
    /// calling webhook") or it denied the request (`admission webhook "x" denied the
    /// request`, e.g. a drain helper that denies an eviction until its operator has moved
    /// the pod). Sent again with backoff until the drain's --timeout, as kubectl drain does
    /// only for 429s (kured#1269).
    Webhook(String),
    /// 401 or 403: this user may not; fatal for the whole drain.
    Denied,
    /// Unreachable or 502/503/504: the request may have been applied.
    Outage(String),
    Other(String),
}

fn classify(result: Result<(), kube::Error>, pod: &LivePod) -> (Answer, Option<kube::Error>) {
    let err = match result {
        Ok(()) => return (Answer::Accepted, None),
        Err(e) => e,
    };
    if is_outage(&err) {
        return (Answer::Outage(err_text(&err)), Some(err));
    }
    let kube::Error::Api(status) = &err else {
        return (Answer::Other(err_text(&err)), Some(err));
    };
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or(&[]);
    let kind = status
        .details
        .as_ref()
        .map(|d| d.kind.as_str())
        .unwrap_or("");
    // The admission chain gives a webhook's refusal no reason or cause of its own: its
    // message is the one mark (apiserver's webhook errors package).
    let webhook = status.message.contains("failed calling webhook")
        || (status.message.contains("admission webhook")
            && status.message.contains("denied the request"));
    let answer = match status.code {
        _ if webhook => Answer::Webhook(err_text(&err)),
        404 | 409 => Answer::Gone,
        429 if causes.iter().any(|c| c.reason == "DisruptionBudget") => {
            Answer::Budget(status_detail(status))
        }
        // A 429 without the budget cause is the server's own throttling, unless the pod is
        // under a PDB (older servers sent the budget refusal without causes).
        429 if pod.pdb_names.is_empty() => Answer::Throttled,
        429 => Answer::Budget(status_detail(status)),
        403 if kind == "poddisruptionbudget" => Answer::Budget(status_detail(status)),
        401 | 403 => Answer::Denied,
        // The handler's 500 carries no reason; we know the pod's PDBs (when we could list
        // them), the message is the fallback when we could not.
        500 if pod.pdb_names.single().is_none() && !pod.pdb_names.is_empty() => Answer::SeveralPdbs,
        500 if status.message.contains("more than one PodDisruptionBudget") => Answer::SeveralPdbs,
        _ => Answer::Other(err_text(&err)),
    };
    (answer, Some(err))
}

/// Where a pod's requests stand between attempts.
#[derive(Default)]
struct Attempts {
    /// Backoffs waited in the PDB queue without news.
    probe: u32,
    budget: u32,
    webhook: u32,
    outage: u32,
    outage_since: Option<Instant>,
    /// The last request's answer was lost: look before sending it again.
    uncertain: bool,
}

/// This pod's slot in its PDB's queue (only single-PDB evictions queue).
type Gate<'a> = Option<(&'a str, tokio::sync::MutexGuard<'a, Option<String>>)>;

async fn join_queue<'a>(ctx: &'a Ctx, pod: &'a LivePod, how: Removal) -> Result<Gate<'a>, PodEnd> {
    let dry = ctx.opts.dry_run == DryRun::Server;
    // A pod that is not Ready does not wait for the budget to allow a disruption: the
    // Eviction API admits it without spending one under `unhealthyPodEvictionPolicy:
    // AlwaysAllow`, or while the budget is otherwise met (IfHealthyBudget); when it does
    // not, the 429 is waited on like any other.
    if !pod.facts.ready {
        return Ok(None);
    }
    let key = match pod.pdb_names.single() {
        Some(k) if how == Removal::Evict && !dry && ctx.gates.contains_key(k) => k,
        _ => return Ok(None),
    };
    if ctx.gates.get(key).is_some_and(|g| g.try_lock().is_err()) {
        ctx.ui.event(Event::WaitingOnPdb {
            pod: pod.key(),
            pdb: key.to_string(),
            detail: "queued behind other pods of the same PDB".into(),
        });
    }
    match lock_gate(ctx, key).await {
        Some(g) => Ok(Some((key, g))),
        None => Err(stop_end(ctx)),
    }
}

/// Before each request: stopped, past the deadline, gone, budget not back yet, or an
/// uncertain last answer. `Some` ends the removal with that result.
async fn before_request(
    ctx: &Ctx,
    pod: &LivePod,
    gate: &mut Gate<'_>,
    at: &mut Attempts,
) -> Option<Result<bool, PodEnd>> {
    let dry = ctx.opts.dry_run == DryRun::Server;
    if ctx.stopped() {
        return Some(Err(PodEnd::Interrupted));
    }
    if ctx.past_deadline() {
        return Some(Err(PodEnd::TimedOut));
    }
    if !ctx.pods.borrow().contains(&pod.uid) && !dry {
        return Some(Ok(false));
    }
    if let Some((k, g)) = gate.as_mut() {
        match budget_ready(ctx, pod, k, g.as_deref(), at.probe).await {
            Ready::Yes => at.probe = 0,
            Ready::Probe => at.probe += 1,
            Ready::Gone => return Some(Ok(false)),
            Ready::Stopped => return Some(Err(stop_end(ctx))),
        }
    }
    if at.uncertain {
        match check_pod(ctx, pod).await {
            Ok(Some(true)) => return Some(Ok(false)),
            Ok(Some(false)) => return Some(Ok(true)),
            Ok(None) => at.uncertain = false,
            Err(e) => {
                return Some(Err(PodEnd::Failed(format!(
                    "cannot read the pod: {}",
                    err_text(&e)
                ))))
            }
        }
    }
    None
}

/// One eviction or delete, counted, within the concurrency limit.
async fn send(ctx: &Ctx, pod: &LivePod, how: Removal) -> Result<(), kube::Error> {
    let dry = ctx.opts.dry_run == DryRun::Server;
    let _permit = ctx.sem.acquire().await;
    ctx.requests.fetch_add(1, Ordering::Relaxed);
    if how.evicts() {
        evict(&ctx.client, pod, ctx.opts.grace_period, dry).await
    } else {
        delete(&ctx.client, pod, ctx.opts.grace_period, dry).await
    }
}

/// Send the eviction/delete until accepted (`Ok(true)`), the pod is gone (`Ok(false)`), the
/// server answers for good, or the drain stops.
pub(super) async fn request_removal(
    ctx: &Ctx,
    pod: &LivePod,
    how: Removal,
) -> Result<bool, PodEnd> {
    let mut gate = join_queue(ctx, pod, how).await?;
    let mut at = Attempts::default();
    loop {
        if let Some(end) = before_request(ctx, pod, &mut gate, &mut at).await {
            return end;
        }
        let (answer, err) = classify(send(ctx, pod, how).await, pod);
        if !matches!(answer, Answer::Outage(_)) {
            at.outage_since = None;
            at.outage = 0;
        }
        if let Some(end) = answered(ctx, pod, how, answer, err, &mut gate, &mut at).await {
            return end;
        }
    }
}

/// Act on one answer. `Some` ends the removal; `None` sends again.
async fn answered(
    ctx: &Ctx,
    pod: &LivePod,
    how: Removal,
    answer: Answer,
    err: Option<kube::Error>,
    gate: &mut Gate<'_>,
    at: &mut Attempts,
) -> Option<Result<bool, PodEnd>> {
    let dry = ctx.opts.dry_run == DryRun::Server;
    let key = pod.key();
    match answer {
        Answer::Accepted if dry => Some(Err(PodEnd::DryRun(Ok(())))),
        Answer::Accepted => {
            if let Ok(mut m) = ctx.webhook_refusals.lock() {
                m.remove(&key);
            }
            if let Some((k, g)) = gate.as_mut() {
                **g = pdb_rv(ctx, k);
            }
            Some(Ok(true))
        }
        Answer::Gone => Some(Ok(false)),
        Answer::Outage(text) => {
            let since = *at.outage_since.get_or_insert_with(Instant::now);
            if Instant::now() >= ctx.deadline.unwrap_or(since + OUTAGE_LIMIT) {
                return Some(Err(PodEnd::Failed(format!(
                    "API server unreachable: {text}"
                ))));
            }
            if at.outage == 0 {
                ctx.ui.event(Event::Retrying {
                    what: key,
                    error: text,
                });
            }
            at.uncertain = true;
            let pause = backoff(at.outage, Duration::from_millis(250), BACKOFF_CAP);
            at.outage += 1;
            (!nap(ctx, pause).await).then_some(Err(PodEnd::Interrupted))
        }
        Answer::Budget(detail) => budget_refused(ctx, pod, detail, gate, at).await,
        Answer::Webhook(text) => {
            if let Ok(mut m) = ctx.webhook_refusals.lock() {
                m.insert(key.clone(), text.clone());
            }
            let refused = || {
                PodEnd::Failed(format!(
                    "refused by an admission webhook until --timeout: {text}"
                ))
            };
            if ctx.past_deadline() {
                return Some(Err(refused()));
            }
            if at.webhook == 0 {
                ctx.ui.event(Event::Retrying {
                    what: key,
                    error: format!(
                        "refused by an admission webhook (sent again until --timeout): {text}"
                    ),
                });
            }
            let pause = backoff(at.webhook, BACKOFF_START, BACKOFF_CAP);
            at.webhook += 1;
            if nap(ctx, pause).await {
                return None;
            }
            // Stopped: at the deadline the webhook's refusal is why.
            Some(Err(if ctx.past_deadline() {
                refused()
            } else {
                stop_end(ctx)
            }))
        }
        Answer::Throttled => {
            ctx.too_many.fetch_add(1, Ordering::Relaxed);
            let pause = backoff(at.budget, BACKOFF_START, BACKOFF_CAP);
            at.budget += 1;
            (!nap(ctx, pause).await).then(|| Err(stop_end(ctx)))
        }
        Answer::SeveralPdbs => {
            let msg = format!(
                "selected by more than one PodDisruptionBudget ({}); the Eviction API refuses such pods (500). Make the PDBs' selectors disjoint, or remove it with --disable-eviction",
                if pod.pdb_names.is_empty() { "several".to_string() } else { pod.pdb_names.to_string() }
            );
            Some(Err(if dry {
                PodEnd::DryRun(Err(msg))
            } else {
                PodEnd::Failed(msg)
            }))
        }
        Answer::Denied => {
            let (verb, resource) = if how.evicts() {
                ("create", "pods/eviction")
            } else {
                ("delete", "pods")
            };
            let e = err.map_or_else(
                || ClientError::Denied(format!("{verb} {resource} ({key}) denied")),
                |e| api_error(e, verb, resource, Some(&key), &ctx.cluster).into(),
            );
            let msg = e.to_string();
            ctx.set_fatal(e);
            Some(Err(PodEnd::Failed(msg)))
        }
        Answer::Other(text) => Some(Err(PodEnd::Failed(text))),
    }
}

/// The PDB allows no disruption now: say so, then wait for the budget (queued: for a status
/// newer than this refusal; otherwise the watch or a backoff).
async fn budget_refused(
    ctx: &Ctx,
    pod: &LivePod,
    detail: String,
    gate: &mut Gate<'_>,
    at: &mut Attempts,
) -> Option<Result<bool, PodEnd>> {
    ctx.too_many.fetch_add(1, Ordering::Relaxed);
    let pdb = if pod.pdb_names.is_empty() {
        "(unknown)".to_string()
    } else {
        pod.pdb_names.to_string()
    };
    if ctx.opts.dry_run == DryRun::None
        && ctx.delete_blocking_at.is_some_and(|t| Instant::now() >= t)
    {
        return Some(Err(PodEnd::StillBlocking));
    }
    if ctx.opts.dry_run == DryRun::Server {
        return Some(Err(PodEnd::DryRun(Err(format!(
            "would wait: PDB {pdb} allows no disruption now ({detail})"
        )))));
    }
    ctx.ui.event(Event::WaitingOnPdb {
        pod: pod.key(),
        pdb,
        detail: format!("no disruption allowed now ({detail})"),
    });
    if let Some((k, g)) = gate.as_mut() {
        **g = pdb_rv(ctx, k);
        return None;
    }
    let waited = wait_for_budget(ctx, pod, at.budget).await;
    at.budget += 1;
    (!waited).then(|| Err(stop_end(ctx)))
}

/// The status message plus its causes (the real API server puts the PDB's numbers there).
pub(super) fn status_detail(s: &kube::core::Status) -> String {
    let causes: Vec<&str> = s
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| c.message.as_str())
                .filter(|m| !m.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if causes.is_empty() {
        s.message.clone()
    } else {
        format!("{} {}", s.message, causes.join("; "))
    }
}

/// After a 429: wait until the PDB's status changes to allow a disruption (watch), or the
/// backoff passes, or the pod goes away by itself. False when stopped or past the deadline.
pub(super) async fn wait_for_budget(ctx: &Ctx, pod: &LivePod, attempt: u32) -> bool {
    let wait = backoff(attempt, BACKOFF_START, BACKOFF_CAP);
    let single = pod.pdb_names.single().map(str::to_string);
    let seen_rv = single
        .as_ref()
        .and_then(|k| ctx.pdbs.borrow().get(k).map(|(rv, _)| rv.clone()));
    let mut pdbs = ctx.pdbs.clone();
    let mut pods = ctx.pods.clone();
    let uid = pod.uid.clone();
    let budget_back = async move {
        match single {
            Some(k) => {
                let _ = pdbs
                    .wait_for(|m| {
                        m.get(&k).is_some_and(|(rv, allowed)| {
                            Some(rv) != seen_rv.as_ref() && *allowed > 0
                        })
                    })
                    .await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let gone = async move {
        let _ = pods.wait_for(|s| !s.contains(&uid)).await;
    };
    tokio::select! {
        ok = nap(ctx, wait) => ok && !ctx.past_deadline(),
        _ = budget_back => !ctx.stopped(),
        _ = gone => !ctx.stopped(),
    }
}

/// Wait until the pod (uid) is gone.
pub(super) async fn wait_gone(ctx: &Ctx, pod: &LivePod) -> PodEnd {
    let mut pods = ctx.pods.clone();
    let mut stop = ctx.stop.clone();
    let uid = pod.uid.clone();
    let deadline = async {
        match ctx.deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = pods.wait_for(|s| !s.contains(&uid)) => match r {
            Ok(_) => PodEnd::Gone,
            Err(_) => PodEnd::Failed("pod watch ended".into()),
        },
        _ = stop.wait_for(|s| *s) => PodEnd::Interrupted,
        _ = deadline => PodEnd::TimedOut,
    }
}

/// How one pod's removal ended: the pod, how it was removed, whether our eviction/delete
/// was accepted (it may still be terminating when the drain stopped), and the end.
pub(super) type PodResult = (LivePod, Removal, bool, PodEnd);

pub(super) async fn remove_pod(ctx: Arc<Ctx>, pod: LivePod, how: Removal) -> PodResult {
    let mut accepted = false;
    if how != Removal::WaitOnly {
        match request_removal(&ctx, &pod, how).await {
            Ok(true) => {
                accepted = true;
                ctx.ui.event(Event::Accepted {
                    pod: pod.key(),
                    how: if how.evicts() { "evicted" } else { "deleted" },
                });
            }
            Ok(false) => {
                ctx.ui.event(Event::Gone { pod: pod.key() });
                return (pod, how, false, PodEnd::Gone);
            }
            Err(PodEnd::StillBlocking) => return delete_blocking(&ctx, pod).await,
            Err(end) => {
                if let PodEnd::Failed(e) = &end {
                    ctx.ui.event(Event::Failed {
                        pod: pod.key(),
                        error: e.clone(),
                    });
                }
                return (pod, how, false, end);
            }
        }
    }
    let end = wait_gone(&ctx, &pod).await;
    if matches!(end, PodEnd::Gone) {
        ctx.ui.event(Event::Gone { pod: pod.key() });
    }
    (pod, how, accepted, end)
}

/// `--delete-blocking-after`: DELETE a pod whose eviction a budget still refuses past that
/// time (this pod only), say so, then wait for it like any other.
async fn delete_blocking(ctx: &Ctx, pod: LivePod) -> PodResult {
    let key = pod.key();
    let (answer, _) = classify(send(ctx, &pod, Removal::Delete).await, &pod);
    match answer {
        Answer::Accepted => {
            if let Ok(mut d) = ctx.deleted_blocking.lock() {
                d.push(key.clone());
            }
            ctx.ui.event(Event::Accepted {
                pod: key,
                how: "deleted (its budget still refused it: --delete-blocking-after)",
            });
        }
        Answer::Gone => {
            ctx.ui.event(Event::Gone { pod: key });
            return (pod, Removal::Delete, false, PodEnd::Gone);
        }
        other => {
            let error = format!("--delete-blocking-after could not delete it: {other:?}");
            ctx.ui.event(Event::Failed {
                pod: key,
                error: error.clone(),
            });
            return (pod, Removal::Delete, false, PodEnd::Failed(error));
        }
    }
    let end = wait_gone(ctx, &pod).await;
    if matches!(end, PodEnd::Gone) {
        ctx.ui.event(Event::Gone { pod: pod.key() });
    }
    (pod, Removal::Delete, true, end)
}

/// What to do with each pod that has to go. Completed pods are evicted too, like kubectl
/// does: the Eviction API deletes them without a PDB check, and the least-privilege role has
/// no `delete pods`. Terminating pods are only waited for (not in a dry run).
pub(super) fn work_list(
    plan: &crate::policy::filters::PodPlan,
    pods: &[LivePod],
    opts: &DrainOptions,
) -> Vec<(LivePod, Removal)> {
    let (running, completed) = if opts.disable_eviction {
        (Removal::Delete, Removal::Delete)
    } else {
        (Removal::Evict, Removal::EvictCompleted)
    };
    let mut work: Vec<(LivePod, Removal)> = plan
        .evict
        .iter()
        .map(|&i| (pods[i].clone(), running))
        .chain(plan.completed.iter().map(|&i| (pods[i].clone(), completed)))
        .collect();
    if opts.dry_run == DryRun::None {
        work.extend(
            plan.wait_only
                .iter()
                .map(|&i| (pods[i].clone(), Removal::WaitOnly)),
        );
    }
    work
}

/// Who and what a removal run is for.
pub(super) struct RemovalRun<'a> {
    pub(super) client: &'a kube::Client,
    /// For the watches: no read timeout (see [`crate::client::connect::Connection`]).
    pub(super) watch_client: &'a kube::Client,
    pub(super) cluster: &'a str,
    pub(super) node: &'a str,
    pub(super) opts: &'a DrainOptions,
    pub(super) deadline: Option<Instant>,
}

/// How the removals went: one result per pod (in the order of the work list), the request
/// counters, and the error that stopped the drain, if one did.
pub(super) struct Removed {
    /// `None` where a task died (a bug): said as a failure, never dropped.
    pub(super) results: Vec<Option<PodResult>>,
    pub(super) requests: u64,
    pub(super) too_many: u64,
    pub(super) fatal: Option<ClientError>,
    /// `--delete-blocking-after`: the pods deleted because a budget still refused them.
    pub(super) deleted_blocking: Vec<String>,
    /// Pods an admission webhook still refused when the removal ended, with its answer.
    pub(super) webhook_refusals: BTreeMap<String, String>,
}

/// Remove every pod of `work` with bounded concurrency, the pods (and, when a PDB can hold
/// an eviction up, the PDBs) watched meanwhile. All tasks live in `JoinSet`s: when this future
/// is dropped (Ctrl-C twice, a caller's timeout), every request and watch stops with it.
pub(super) async fn remove_all(
    setup: RemovalRun<'_>,
    pods: &[LivePod],
    work: Vec<(LivePod, Removal)>,
    mut cancel: watch::Receiver<bool>,
) -> Removed {
    let opts = setup.opts;
    let live = opts.dry_run == DryRun::None;
    let initial: PodSet = pods.iter().map(|p| p.uid.clone()).collect();
    let (pods_tx, pods_rx) = watch::channel(initial);
    let (pdbs_tx, pdbs_rx) = watch::channel(PdbMap::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = tokio::task::JoinSet::new();
    let watch_budgets = live
        && work
            .iter()
            .any(|(p, h)| *h == Removal::Evict && !p.pdb_names.is_empty());
    if live {
        let (client, node) = (setup.watch_client.clone(), setup.node.to_string());
        background.spawn(crate::drain::api::watch_pods(client, node, pods_tx));
    }
    if watch_budgets {
        background.spawn(crate::drain::api::watch_pdbs(
            setup.watch_client.clone(),
            pdbs_tx,
        ));
    }
    let stopper = stop_tx.clone();
    background.spawn(async move {
        if cancel.wait_for(|c| *c).await.is_ok() {
            stopper.send_replace(true);
        }
    });
    let gates = if watch_budgets {
        work.iter()
            .filter(|(_, how)| *how == Removal::Evict)
            .filter_map(|(p, _)| p.pdb_names.single())
            .map(|k| (k.to_string(), tokio::sync::Mutex::new(None)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let ctx = Arc::new(Ctx {
        client: setup.client.clone(),
        opts: opts.clone(),
        ui: Ui::new(setup.node, work.len(), opts.live && live),
        sem: Semaphore::new(opts.concurrency.max(1)),
        pods: pods_rx,
        pdbs: pdbs_rx,
        stop: stop_rx,
        stop_tx,
        deadline: setup.deadline,
        delete_blocking_at: opts.delete_blocking_after.map(|d| Instant::now() + d),
        deleted_blocking: Mutex::new(Vec::new()),
        webhook_refusals: Mutex::new(BTreeMap::new()),
        fatal: Mutex::new(None),
        requests: AtomicU64::new(0),
        too_many: AtomicU64::new(0),
        cluster: setup.cluster.to_string(),
        gates,
    });
    let mut tasks = tokio::task::JoinSet::new();
    let n = work.len();
    for (i, (p, how)) in work.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(async move { (i, remove_pod(ctx, p, how).await) });
    }
    let mut slots: Vec<Option<PodResult>> = (0..n).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, r)) = done {
            slots[i] = Some(r);
        }
    }
    ctx.ui.finish();
    background.shutdown().await;
    let fatal = ctx.fatal.lock().ok().and_then(|mut f| f.take());
    let deleted_blocking = ctx
        .deleted_blocking
        .lock()
        .map(|mut d| std::mem::take(&mut *d))
        .unwrap_or_default();
    let webhook_refusals = ctx
        .webhook_refusals
        .lock()
        .map(|mut d| std::mem::take(&mut *d))
        .unwrap_or_default();
    Removed {
        deleted_blocking,
        webhook_refusals,
        results: slots,
        requests: ctx.requests.load(Ordering::Relaxed),
        too_many: ctx.too_many.load(Ordering::Relaxed),
        fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Status::default()
        }))
    }

    fn pod() -> LivePod {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "shop", "name": "web-0", "uid": "u"},
            "spec": {"containers": [{"name": "c"}], "nodeName": "w-1"},
        }))
        .expect("pod");
        crate::drain::model::live_pod(&p, jiff::Timestamp::now())
    }

    #[test]
    fn webhook_refusals_are_told_from_rbac_and_other_failures() {
        let p = pod();
        // The real kube-apiserver 1.37's answer when the webhook cannot be called
        // (tests/live_simulate.rs::a_webhook_without_endpoints prints it).
        let unreachable = status(
            500,
            "InternalError",
            "Internal error occurred: failed calling webhook \"guard.kubectl-upgrade.test\": failed to call webhook: Post \"https://guard.guard.svc:443/check?timeout=2s\": no endpoints available for service \"guard\"",
        );
        assert!(matches!(
            classify(Err(unreachable), &p).0,
            Answer::Webhook(_)
        ));
        // A webhook's denial carries the webhook's own code, 403 included: not RBAC.
        let denied = status(
            403,
            "",
            "admission webhook \"drain-helper.example.com\" denied the request: eviction deferred until the operator moved the pod",
        );
        assert!(matches!(classify(Err(denied), &p).0, Answer::Webhook(_)));
        let rbac = status(
            403,
            "Forbidden",
            "pods \"web-0\" is forbidden: User \"bob\" cannot create resource \"pods/eviction\"",
        );
        assert!(matches!(classify(Err(rbac), &p).0, Answer::Denied));
        let other = status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
        );
        assert!(matches!(classify(Err(other), &p).0, Answer::Other(_)));
    }
}
