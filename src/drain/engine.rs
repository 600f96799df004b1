//! The drain engine (I/O): read the node's pods and the PDBs, decide with `filters` and `pdb`,
//! stop before cordoning when something blocks, then cordon, evict with bounded concurrency,
//! and wait (watch-based, by uid) until every pod that had to go is gone.
//!
//! Faults: transport errors and 502/503/504 are retried with backoff until the API server
//! returns or the time limit ends (an eviction whose answer was lost is checked with a GET
//! before it is sent again: no duplicates); 429 waits for the PDB to change or a backoff;
//! Ctrl-C stops new evictions. Every failure leaves the node cordoned and says so.

use crate::client::access::{self, Permission};
use crate::client::connect::{api_error, one_line};
use crate::client::nodes::{self, DryRun};
use crate::drain::ui::{Event, Ui};
use crate::exit::{CliError, Code};
use crate::facts::pdb::{PdbFacts, PdbVersion};
use crate::facts::pod::PodFacts;
use crate::facts::progress::{schedulable_patch, Annotation, Progress, ProgressState, Writer};
use crate::findings::bounded;
use crate::policy::filters::{self, FilterOptions, SkipReason};
use crate::policy::preflight::{self, Verdict};
use crate::policy::version::Version;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, WatchEvent,
    WatchParams,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// How long API outages are retried when no `--timeout` is set.
pub const OUTAGE_LIMIT: Duration = Duration::from_secs(600);
/// 429 backoff: first wait and cap (the PDB watch usually wakes us first).
pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Everything that shapes one drain.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    pub filter: FilterOptions,
    /// Only pods matching this label selector are removed.
    pub pod_selector: Option<String>,
    /// Only pods in this namespace are removed (global `-n`).
    pub namespace: Option<String>,
    /// Grace period for evictions/deletes; `None` = each pod's own.
    pub grace_period: Option<u32>,
    /// Whole-drain time limit; `None` = no limit (like kubectl).
    pub timeout: Option<Duration>,
    /// Delete instead of evicting (bypasses PDBs).
    pub disable_eviction: bool,
    /// Go ahead despite PDBs that never allow eviction / pods under several PDBs.
    pub ignore_blockers: bool,
    /// Eviction/delete requests in flight at once.
    pub concurrency: usize,
    pub dry_run: DryRun,
    /// Target version recorded in the progress annotation (drain-next).
    pub target: Option<Version>,
    /// `drain` or `drain-next`, recorded in the annotation.
    pub command: Writer,
    /// The exact command to rerun to resume.
    pub resume_command: String,
    /// Live progress bar allowed (off with `-o json`).
    pub live: bool,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            filter: FilterOptions::default(),
            pod_selector: None,
            namespace: None,
            grace_period: None,
            timeout: None,
            disable_eviction: false,
            ignore_blockers: false,
            concurrency: 8,
            dry_run: DryRun::None,
            target: None,
            command: Writer::Drain,
            resume_command: String::new(),
            live: true,
        }
    }
}

/// How a drain ended. Maps to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Drained,
    NothingToDo,
    /// Dry run finished (nothing blocked).
    DryRun,
    /// Stopped before cordoning: pods or PDBs block.
    Blocked,
    TimedOut,
    /// Some pods could not be removed.
    Failed,
    /// Permission or API error mid-drain.
    ApiError,
    Interrupted,
}

impl Outcome {
    pub fn code(self) -> Code {
        match self {
            Outcome::Drained | Outcome::NothingToDo | Outcome::DryRun => Code::Ok,
            Outcome::Blocked | Outcome::TimedOut | Outcome::Failed => Code::Violations,
            Outcome::ApiError => Code::Api,
            Outcome::Interrupted => Code::Interrupted,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedPod {
    pub pod: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockedPod {
    pub pod: String,
    pub reasons: Vec<String>,
}

/// A PDB (or several, for the 500 case) that stops evictions.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PdbBlocker {
    pub pdb: String,
    pub reason: String,
    pub pods: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailedPod {
    pub pod: String,
    pub error: String,
}

/// The result of one drain (`-o json` prints it).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub node: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<&'static str>,
    /// Whether the node is (left) cordoned.
    pub cordoned: bool,
    /// Pods whose eviction the API server accepted (completed pods included). When the drain
    /// stopped before one was gone, it is also in `remaining`.
    pub evicted: Vec<String>,
    /// Pods deleted directly (`--disable-eviction`), accepted by the API server.
    pub deleted: Vec<String>,
    /// Pods already terminating that we waited for.
    pub waited: Vec<String>,
    pub skipped: Vec<SkippedPod>,
    pub blocked: Vec<BlockedPod>,
    pub pdb_blockers: Vec<PdbBlocker>,
    pub failed: Vec<FailedPod>,
    /// Pods still on the node that had to go (interrupt / timeout).
    pub remaining: Vec<String>,
    pub eviction_requests: u64,
    pub too_many_requests: u64,
    pub elapsed_seconds: f64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

impl Summary {
    fn new(node: &str, dry: DryRun) -> Summary {
        Summary {
            node: node.to_string(),
            outcome: Outcome::NothingToDo,
            dry_run: match dry {
                DryRun::None => None,
                DryRun::Client => Some("client"),
                DryRun::Server => Some("server"),
            },
            cordoned: false,
            evicted: vec![],
            deleted: vec![],
            waited: vec![],
            skipped: vec![],
            blocked: vec![],
            pdb_blockers: vec![],
            failed: vec![],
            remaining: vec![],
            eviction_requests: 0,
            too_many_requests: 0,
            elapsed_seconds: 0.0,
            message: String::new(),
            resume: None,
        }
    }
}

/// A pod on the node, reduced, plus what the engine needs beyond [`PodFacts`].
#[derive(Debug, Clone)]
pub struct LivePod {
    pub facts: PodFacts,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// How long ago its deletion started, if terminating.
    pub deleting_for: Option<Duration>,
    /// `ns/name` of the PDBs selecting it, joined with ` + ` (empty: none known).
    pub pdb_names: String,
}

impl LivePod {
    pub fn key(&self) -> String {
        format!("{}/{}", self.facts.namespace, self.facts.name)
    }
}

/// Reduce a Pod (the `pdbs` indices are filled in later against the PDB list).
pub fn live_pod(p: &Pod, now: jiff::Timestamp) -> LivePod {
    let meta = &p.metadata;
    let deletion = meta.deletion_timestamp.as_ref().map(|t| t.0);
    LivePod {
        facts: PodFacts::from_pod(p),
        uid: meta.uid.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        deleting_for: deletion.and_then(|d| {
            let secs = now.as_second() - d.as_second();
            u64::try_from(secs).ok().map(Duration::from_secs)
        }),
        pdb_names: String::new(),
    }
}

/// Errors worth retrying: the server unreachable or overloaded.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

/// Like [`is_transient`] but for mutations whose 429/500 mean something (evictions).
fn is_outage(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 502..=504),
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

fn err_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.message),
        other => one_line(&other.to_string()),
    }
}

fn backoff(attempt: u32, start: Duration, cap: Duration) -> Duration {
    let factor = 1u32 << attempt.min(8);
    (start * factor).min(cap)
}

/// Run `f` until it succeeds, fails with a non-transient error, or `limit` passes.
async fn with_retry<T, F, Fut>(
    ui: &Ui,
    what: &str,
    limit: Instant,
    mut f: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && Instant::now() < limit => {
                if attempt == 0 {
                    ui.event(Event::Retrying {
                        what: what.to_string(),
                        error: err_text(&e),
                    });
                }
                let wait = backoff(attempt, Duration::from_millis(250), BACKOFF_CAP);
                tokio::time::sleep(wait.min(limit.saturating_duration_since(Instant::now()))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// List every pod on the node (paginated).
async fn list_node_pods(
    client: &kube::Client,
    node: &str,
    label_selector: Option<&str>,
) -> Result<(Vec<Pod>, String), kube::Error> {
    let api: Api<Pod> = Api::all(client.clone());
    let mut lp = ListParams::default()
        .fields(&format!("spec.nodeName={node}"))
        .limit(500);
    if let Some(sel) = label_selector {
        lp = lp.labels(sel);
    }
    let mut out = Vec::new();
    let mut rv = String::new();
    loop {
        let page = api.list(&lp).await?;
        rv = page.metadata.resource_version.clone().unwrap_or(rv);
        out.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp.continue_token = Some(c),
            None => break,
        }
    }
    Ok((out, rv))
}

async fn list_pdbs(
    client: &kube::Client,
) -> Result<(Vec<PodDisruptionBudget>, String), kube::Error> {
    let api: Api<PodDisruptionBudget> = Api::all(client.clone());
    let mut lp = ListParams::default().limit(500);
    let mut out = Vec::new();
    let mut rv = String::new();
    loop {
        let page = api.list(&lp).await?;
        rv = page.metadata.resource_version.clone().unwrap_or(rv);
        out.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp.continue_token = Some(c),
            None => break,
        }
    }
    Ok((out, rv))
}

/// The policy/v1 Eviction request, built by hand: kube 4.2's `EvictParams` serializes its
/// options as `delete_options`, which the API server ignores, dropping the grace period and the
/// uid precondition. The field is `deleteOptions`.
pub fn eviction_body(
    namespace: &str,
    name: &str,
    uid: &str,
    grace: Option<u32>,
    dry_run: bool,
) -> serde_json::Value {
    let mut opts = serde_json::json!({ "preconditions": { "uid": uid } });
    if let Some(g) = grace {
        opts["gracePeriodSeconds"] = serde_json::json!(g);
    }
    if dry_run {
        opts["dryRun"] = serde_json::json!(["All"]);
    }
    serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": { "name": name, "namespace": namespace },
        "deleteOptions": opts,
    })
}

async fn evict(
    client: &kube::Client,
    pod: &LivePod,
    grace: Option<u32>,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let f = &pod.facts;
    let body = eviction_body(&f.namespace, &f.name, &pod.uid, grace, dry_run);
    let data = serde_json::to_vec(&body).map_err(kube::Error::SerdeError)?;
    let pp = PostParams {
        dry_run,
        ..PostParams::default()
    };
    let req = kube::core::Request::new(format!("/api/v1/namespaces/{}/pods", f.namespace))
        .create_subresource("eviction", &f.name, &pp, data)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(req).await.map(|_| ())
}

async fn delete(
    client: &kube::Client,
    pod: &LivePod,
    grace: Option<u32>,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.facts.namespace);
    let dp = DeleteParams {
        dry_run,
        grace_period_seconds: grace,
        preconditions: Some(Preconditions {
            uid: Some(pod.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    api.delete(&pod.facts.name, &dp).await.map(|_| ())
}

/// Live uids of the pods on the node, kept current by a watch (relists after errors).
type PodSet = HashSet<String>;
/// PDB key -> (resourceVersion, disruptionsAllowed), kept current by a watch.
type PdbMap = BTreeMap<String, (String, i32)>;

fn pdb_entry(p: &PodDisruptionBudget) -> (String, (String, i32)) {
    let key = format!(
        "{}/{}",
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default()
    );
    let rv = p.metadata.resource_version.clone().unwrap_or_default();
    let allowed = p
        .status
        .as_ref()
        .and_then(|s| s.disruptions_allowed)
        .unwrap_or(0);
    (key, (rv, allowed))
}

async fn watch_pods(client: kube::Client, node: String, tx: watch::Sender<PodSet>) {
    let api: Api<Pod> = Api::all(client.clone());
    let mut attempt = 0u32;
    loop {
        let (pods, rv) = match list_node_pods(&client, &node, None).await {
            Ok(v) => v,
            Err(_) => {
                tokio::time::sleep(backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                ))
                .await;
                attempt += 1;
                continue;
            }
        };
        let set: PodSet = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        tx.send_replace(set);
        let wp = WatchParams::default()
            .fields(&format!("spec.nodeName={node}"))
            .timeout(290);
        let stream = match api.watch(&wp, &rv).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                // No watch permission: poll instead.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => {
                tokio::time::sleep(backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                ))
                .await;
                attempt += 1;
                continue;
            }
        };
        attempt = 0;
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => {
                    if let Some(uid) = p.metadata.uid {
                        tx.send_modify(|s| {
                            s.insert(uid);
                        });
                    }
                }
                Ok(WatchEvent::Deleted(p)) => {
                    if let Some(uid) = p.metadata.uid {
                        tx.send_modify(|s| {
                            s.remove(&uid);
                        });
                    }
                }
                Ok(WatchEvent::Bookmark(_)) => {}
                Ok(WatchEvent::Error(_)) | Err(_) => break,
            }
        }
    }
}

async fn watch_pdbs(client: kube::Client, tx: watch::Sender<PdbMap>) {
    let api: Api<PodDisruptionBudget> = Api::all(client.clone());
    let mut attempt = 0u32;
    loop {
        let (pdbs, rv) = match list_pdbs(&client).await {
            Ok(v) => v,
            Err(kube::Error::Api(s)) if s.code == 403 => return,
            Err(_) => {
                tokio::time::sleep(backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                ))
                .await;
                attempt += 1;
                continue;
            }
        };
        tx.send_replace(pdbs.iter().map(pdb_entry).collect());
        let stream = match api.watch(&WatchParams::default().timeout(290), &rv).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 403 => return,
            Err(_) => {
                tokio::time::sleep(backoff(
                    attempt,
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                ))
                .await;
                attempt += 1;
                continue;
            }
        };
        attempt = 0;
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(WatchEvent::Added(p)) | Ok(WatchEvent::Modified(p)) => {
                    let (k, v) = pdb_entry(&p);
                    tx.send_modify(|m| {
                        m.insert(k, v);
                    });
                }
                Ok(WatchEvent::Deleted(p)) => {
                    let (k, _) = pdb_entry(&p);
                    tx.send_modify(|m| {
                        m.remove(&k);
                    });
                }
                Ok(WatchEvent::Bookmark(_)) => {}
                Ok(WatchEvent::Error(_)) | Err(_) => break,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
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
    fn evicts(self) -> bool {
        matches!(self, Removal::Evict | Removal::EvictCompleted)
    }
}

#[derive(Debug)]
enum PodEnd {
    /// Gone.
    Gone,
    /// Server dry run answered (no waiting).
    DryRun(Result<(), String>),
    Failed(String),
    TimedOut,
    Interrupted,
}

struct Ctx {
    client: kube::Client,
    opts: DrainOptions,
    ui: Ui,
    sem: Semaphore,
    pods: watch::Receiver<PodSet>,
    pdbs: watch::Receiver<PdbMap>,
    stop: watch::Receiver<bool>,
    stop_tx: watch::Sender<bool>,
    deadline: Option<Instant>,
    fatal: Mutex<Option<CliError>>,
    requests: AtomicU64,
    too_many: AtomicU64,
    target: String,
    /// Per-PDB queue: pods under one PDB send their evictions one at a time, each once the
    /// watched status is newer than the answer to the previous one (holds that PDB's
    /// resourceVersion at our last accepted or refused eviction). Avoids a herd of 429s.
    gates: BTreeMap<String, tokio::sync::Mutex<Option<String>>>,
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
    fn set_fatal(&self, e: CliError) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(e);
        }
        self.stop_tx.send_replace(true);
    }
}

/// Sleep up to `d`, waking early on stop or deadline. Returns false when stopped.
async fn nap(ctx: &Ctx, d: Duration) -> bool {
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
async fn check_pod(ctx: &Ctx, pod: &LivePod) -> Result<Option<bool>, kube::Error> {
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

fn stop_end(ctx: &Ctx) -> PodEnd {
    if ctx.past_deadline() {
        PodEnd::TimedOut
    } else {
        PodEnd::Interrupted
    }
}

async fn until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending::<()>().await,
    }
}

/// Take this PDB's queue slot; `None` when stopped or past the deadline while queued.
async fn lock_gate<'a>(
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

enum Ready {
    /// The watched status allows a disruption and is newer than our last answer.
    Yes,
    /// Waited a backoff without news: send anyway, the server decides.
    Probe,
    Gone,
    Stopped,
}

/// Wait until the PDB (as watched) allows a disruption in a state newer than `last_rv`, or
/// a backoff passes, or the pod goes away.
async fn budget_ready(
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
fn pdb_rv(ctx: &Ctx, pdb: &str) -> Option<String> {
    Some(
        ctx.pdbs
            .borrow()
            .get(pdb)
            .map(|(rv, _)| rv.clone())
            .unwrap_or_default(),
    )
}

/// Send the eviction/delete until accepted, answered for good, or stopped.
async fn request_removal(ctx: &Ctx, pod: &LivePod, how: Removal) -> Result<bool, PodEnd> {
    let key = pod.key();
    let dry = ctx.opts.dry_run == DryRun::Server;
    let gate_key: Option<&str> = (how == Removal::Evict && !dry)
        .then_some(pod.pdb_names.as_str())
        .filter(|k| ctx.gates.contains_key(*k));
    let mut gate = match gate_key {
        Some(k) => {
            if ctx.gates.get(k).is_some_and(|g| g.try_lock().is_err()) {
                ctx.ui.event(Event::WaitingOnPdb {
                    pod: key.clone(),
                    pdb: k.to_string(),
                    detail: "queued behind other pods of the same PDB".into(),
                });
            }
            match lock_gate(ctx, k).await {
                Some(g) => Some(g),
                None => return Err(stop_end(ctx)),
            }
        }
        None => None,
    };
    let mut probe = 0u32;
    let mut attempt_429 = 0u32;
    let mut attempt_outage = 0u32;
    let mut uncertain = false;
    let mut outage_since: Option<Instant> = None;
    loop {
        if ctx.stopped() {
            return Err(PodEnd::Interrupted);
        }
        if ctx.past_deadline() {
            return Err(PodEnd::TimedOut);
        }
        if !ctx.pods.borrow().contains(&pod.uid) && !dry {
            return Ok(false);
        }
        if let (Some(k), Some(g)) = (gate_key, gate.as_mut()) {
            match budget_ready(ctx, pod, k, g.as_deref(), probe).await {
                Ready::Yes => probe = 0,
                Ready::Probe => probe += 1,
                Ready::Gone => return Ok(false),
                Ready::Stopped => return Err(stop_end(ctx)),
            }
        }
        if uncertain {
            // The last request may have been applied: look before sending it again.
            match check_pod(ctx, pod).await {
                Ok(Some(true)) => return Ok(false),
                Ok(Some(false)) => return Ok(true),
                Ok(None) => uncertain = false,
                Err(e) => {
                    return Err(PodEnd::Failed(format!(
                        "cannot read the pod: {}",
                        err_text(&e)
                    )))
                }
            }
        }
        let result = {
            let _permit = ctx.sem.acquire().await;
            ctx.requests.fetch_add(1, Ordering::Relaxed);
            if how.evicts() {
                evict(&ctx.client, pod, ctx.opts.grace_period, dry).await
            } else {
                delete(&ctx.client, pod, ctx.opts.grace_period, dry).await
            }
        };
        let err = match result {
            Ok(()) => {
                if dry {
                    return Err(PodEnd::DryRun(Ok(())));
                }
                if let (Some(k), Some(g)) = (gate_key, gate.as_mut()) {
                    **g = pdb_rv(ctx, k);
                }
                return Ok(true);
            }
            Err(e) => e,
        };
        if is_outage(&err) {
            let since = *outage_since.get_or_insert_with(Instant::now);
            if Instant::now() >= ctx.deadline.unwrap_or(since + OUTAGE_LIMIT) {
                return Err(PodEnd::Failed(format!(
                    "API server unreachable: {}",
                    err_text(&err)
                )));
            }
            if attempt_outage == 0 {
                ctx.ui.event(Event::Retrying {
                    what: key.clone(),
                    error: err_text(&err),
                });
            }
            uncertain = true;
            if !nap(
                ctx,
                backoff(attempt_outage, Duration::from_millis(250), BACKOFF_CAP),
            )
            .await
            {
                return Err(PodEnd::Interrupted);
            }
            attempt_outage += 1;
            continue;
        }
        outage_since = None;
        attempt_outage = 0;
        let kube::Error::Api(status) = &err else {
            return Err(PodEnd::Failed(err_text(&err)));
        };
        match status.code {
            404 => return Ok(false),
            409 => return Ok(false), // uid precondition failed: the pod we meant is gone
            429 => {
                ctx.too_many.fetch_add(1, Ordering::Relaxed);
                let pdb = pod_pdb_names(pod);
                if dry {
                    return Err(PodEnd::DryRun(Err(format!(
                        "would wait: PDB {} allows no disruption now ({})",
                        pdb.as_deref().unwrap_or("?"),
                        status.message
                    ))));
                }
                ctx.ui.event(Event::WaitingOnPdb {
                    pod: key.clone(),
                    pdb: pdb.clone().unwrap_or_else(|| "(unknown)".into()),
                    detail: format!("no disruption allowed now ({})", status_detail(status)),
                });
                if let (Some(k), Some(g)) = (gate_key, gate.as_mut()) {
                    // Queued mode: wait (above) for a status newer than this refusal.
                    **g = pdb_rv(ctx, k);
                    continue;
                }
                if !wait_for_budget(ctx, pod, pdb.as_deref(), attempt_429).await {
                    return Err(if ctx.past_deadline() {
                        PodEnd::TimedOut
                    } else {
                        PodEnd::Interrupted
                    });
                }
                attempt_429 += 1;
            }
            500 if status.message.contains("more than one")
                || status.message.contains("PodDisruptionBudget") =>
            {
                let names = pod_pdb_names(pod).unwrap_or_else(|| "several".into());
                let msg = format!(
                    "selected by more than one PodDisruptionBudget ({names}); the Eviction API refuses such pods (500). Make the PDBs' selectors disjoint, or remove it with --disable-eviction"
                );
                if dry {
                    return Err(PodEnd::DryRun(Err(msg)));
                }
                return Err(PodEnd::Failed(msg));
            }
            403 if status.message.to_lowercase().contains("disruption budget") => {
                // The PDB itself refuses (disruptionsAllowed < 0): treat like 429.
                if !wait_for_budget(ctx, pod, pod_pdb_names(pod).as_deref(), attempt_429).await {
                    return Err(if ctx.past_deadline() {
                        PodEnd::TimedOut
                    } else {
                        PodEnd::Interrupted
                    });
                }
                attempt_429 += 1;
            }
            401 | 403 => {
                let (verb, resource) = if how.evicts() {
                    ("create", "pods/eviction")
                } else {
                    ("delete", "pods")
                };
                let e = api_error(&err, verb, resource, Some(&key), &ctx.target);
                let msg = e.message.clone();
                ctx.set_fatal(e);
                return Err(PodEnd::Failed(msg));
            }
            _ => return Err(PodEnd::Failed(err_text(&err))),
        }
    }
}

/// The status message plus its causes (the real API server puts the PDB's numbers there).
fn status_detail(s: &kube::core::Status) -> String {
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

/// `ns/name` of the PDBs selecting the pod, joined with ` + `.
fn pod_pdb_names(pod: &LivePod) -> Option<String> {
    (!pod.pdb_names.is_empty()).then(|| pod.pdb_names.clone())
}

/// After a 429: wait until the PDB's status changes to allow a disruption (watch), or the
/// backoff passes, or the pod goes away by itself. False when stopped or past the deadline.
async fn wait_for_budget(ctx: &Ctx, pod: &LivePod, pdb: Option<&str>, attempt: u32) -> bool {
    let wait = backoff(attempt, BACKOFF_START, BACKOFF_CAP);
    let single = pdb.filter(|p| !p.contains(" + ")).map(str::to_string);
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
async fn wait_gone(ctx: &Ctx, pod: &LivePod) -> PodEnd {
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
type PodResult = (LivePod, Removal, bool, PodEnd);

async fn remove_pod(ctx: Arc<Ctx>, pod: LivePod, how: Removal) -> PodResult {
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

/// Print the plan (what will be removed, skipped, blocked) on stderr.
fn print_plan(ui: &Ui, node: &str, pods: &[LivePod], plan: &filters::Plan, opts: &DrainOptions) {
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
    if !opts.dry_run.is_dry() {
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

/// Permissions, before the node is touched: cordon (patch nodes) and remove each
/// namespace's pods (create pods/eviction, or delete pods with --disable-eviction). A denial
/// is the drain's error; a server that cannot answer gets a note and the drain goes ahead.
async fn check_access(
    client: &kube::Client,
    node: &str,
    namespaces: std::collections::BTreeSet<&str>,
    disable_eviction: bool,
    ui: &Ui,
) -> Result<(), CliError> {
    let mut wanted = vec![Permission {
        verb: "patch",
        resource: "nodes",
        subresource: None,
        namespace: None,
        name: Some(node.to_string()),
    }];
    for ns in namespaces {
        wanted.push(Permission {
            verb: if disable_eviction { "delete" } else { "create" },
            resource: "pods",
            subresource: (!disable_eviction).then_some("eviction"),
            namespace: Some(ns.to_string()),
            name: None,
        });
    }
    match access::first_denied(client, &wanted).await {
        Ok(None) => Ok(()),
        Ok(Some((p, why))) => Err(access::refusal(node, &p, &why)),
        Err(e) => {
            ui.say(format!(
                "{node}: note: could not ask the server what this user may do ({e}); going ahead, a refused request will say"
            ));
            Ok(())
        }
    }
}

/// Drain one node. `Err` only when nothing was changed (node not found, cannot list pods);
/// every later failure is an [`Outcome`] in the summary, with the node left cordoned.
pub async fn drain_node(
    client: &kube::Client,
    target: &str,
    node: &str,
    opts: &DrainOptions,
    cancel: watch::Receiver<bool>,
) -> Result<Summary, CliError> {
    let started = Instant::now();
    let deadline = opts.timeout.filter(|t| !t.is_zero()).map(|t| started + t);
    let outage_limit = || deadline.unwrap_or_else(|| Instant::now() + OUTAGE_LIMIT);
    let pre_ui = Ui::plain(node);
    let mut summary = Summary::new(node, opts.dry_run);

    // 1. The node, its pods and the PDBs.
    let nodes_api: Api<Node> = Api::all(client.clone());
    // First contact: fail fast (exit 3) when the server cannot be reached; outages are
    // ridden out only once the drain has started and there is something to finish.
    let node_obj = with_retry(&pre_ui, "reading the node", Instant::now(), || {
        nodes_api.get_opt(node)
    })
    .await
    .map_err(|e| api_error(&e, "get", "nodes", Some(node), target))?
    .ok_or_else(|| nodes::not_found(node))?;
    let was_cordoned = node_obj
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    summary.cordoned = was_cordoned;
    let (raw_pods, _) = with_retry(&pre_ui, "listing pods", outage_limit(), || {
        list_node_pods(client, node, opts.pod_selector.as_deref())
    })
    .await
    .map_err(|e| api_error(&e, "list", "pods", None, target))?;
    let now = jiff::Timestamp::now();
    let mut pods: Vec<LivePod> = raw_pods
        .iter()
        .map(|p| live_pod(p, now))
        .filter(|p| {
            opts.namespace
                .as_ref()
                .is_none_or(|ns| &p.facts.namespace == ns)
        })
        .collect();
    pods.sort_by_key(|p| p.key());
    let pdbs: Vec<PdbFacts> = if opts.disable_eviction {
        vec![]
    } else {
        match with_retry(
            &pre_ui,
            "listing PodDisruptionBudgets",
            outage_limit(),
            || list_pdbs(client),
        )
        .await
        {
            Ok((items, _)) => items
                .iter()
                .map(|b| PdbFacts::from_pdb(b, PdbVersion::V1))
                .collect(),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                pre_ui.say(format!(
                    "{node}: warning: cannot list poddisruptionbudgets (forbidden); PDB preflight skipped, evictions still respect PDBs"
                ));
                vec![]
            }
            Err(e) => return Err(api_error(&e, "list", "poddisruptionbudgets", None, target)),
        }
    };
    for p in &mut pods {
        p.facts.pdbs = pdbs
            .iter()
            .enumerate()
            .filter(|(_, b)| b.selects(&p.facts.namespace, &p.labels))
            .map(|(i, _)| i)
            .collect();
        if !p.facts.pdbs.is_empty() {
            let names: Vec<String> = p.facts.pdbs.iter().map(|&i| pdbs[i].key()).collect();
            p.pdb_names = names.join(" + ");
        }
    }

    // 2. Decide.
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
    for p in &pods {
        let verdict = preflight::verdict(
            &p.facts,
            p.deleting_for,
            &opts.filter,
            &pdbs,
            !opts.disable_eviction,
        );
        let (key, reason) = match verdict {
            Verdict::Refused(idx) => {
                let names: Vec<String> = idx.iter().map(|&j| pdbs[j].key()).collect();
                (
                    names.join(" + "),
                    "several PDBs select these pods: the Eviction API answers 500 (make the selectors disjoint, or use --disable-eviction)".to_string(),
                )
            }
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

    // 3. Preflight: stop before touching the node.
    let pdb_blocks = !summary.pdb_blockers.is_empty() && !opts.ignore_blockers;
    if !summary.blocked.is_empty() || pdb_blocks {
        let mut lines = Vec::new();
        for b in &summary.blocked {
            lines.push(format!("  {}: {}", b.pod, b.reasons.join("; ")));
        }
        if pdb_blocks {
            for b in &summary.pdb_blockers {
                lines.push(format!(
                    "  PDB {}: {} (pods: {})",
                    b.pdb,
                    b.reason,
                    bounded(&b.pods, 5)
                ));
            }
        }
        let hint = if pdb_blocks {
            "; --ignore-blockers goes ahead anyway (evictions under those PDBs wait until --timeout)"
        } else {
            ""
        };
        let state = if was_cordoned {
            "node was already cordoned and is left as it was"
        } else {
            "node not cordoned, nothing changed"
        };
        summary.outcome = Outcome::Blocked;
        summary.message = format!(
            "drain of {node} blocked before it started ({state}): {} pod(s) blocked, {} PDB blocker(s):\n{}{hint}",
            summary.blocked.len(),
            if pdb_blocks { summary.pdb_blockers.len() } else { 0 },
            lines.join("\n")
        );
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    if !summary.pdb_blockers.is_empty() {
        pre_ui.say(format!(
            "{node}: warning: --ignore-blockers: going ahead despite {} PDB blocker(s): {}",
            summary.pdb_blockers.len(),
            summary
                .pdb_blockers
                .iter()
                .map(|b| b.pdb.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if opts.disable_eviction && !plan.evict.is_empty() {
        pre_ui.say(format!(
            "{node}: WARNING: --disable-eviction deletes pods directly, bypassing every PodDisruptionBudget"
        ));
    }
    let namespaces = plan
        .evict
        .iter()
        .map(|&i| pods[i].facts.namespace.as_str())
        .collect();
    check_access(client, node, namespaces, opts.disable_eviction, &pre_ui).await?;
    print_plan(&pre_ui, node, &pods, &plan, opts);
    if opts.dry_run == DryRun::Client {
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
            "dry run (client): would cordon {node} and remove {} pod(s); nothing was changed",
            plan.to_remove()
        );
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    // 4. Cordon (and record progress: cordoned, nothing removed yet).
    let progress = |state| nodes::stamped(state, opts.target.clone(), opts.command);
    let patch = schedulable_patch(true, Annotation::Set(&progress(ProgressState::Cordoned)));
    let pp = PatchParams {
        dry_run: opts.dry_run == DryRun::Server,
        ..PatchParams::default()
    };
    let merge = Patch::Merge(&patch);
    with_retry(&pre_ui, "cordoning", outage_limit(), || {
        nodes_api.patch(node, &pp, &merge)
    })
    .await
    .map_err(|e| api_error(&e, "patch", "nodes", Some(node), target))?;
    if opts.dry_run == DryRun::None {
        summary.cordoned = true;
        if !was_cordoned {
            pre_ui.say(format!("{node}: cordoned"));
        }
    }

    // 5. Remove pods. Completed pods are evicted too, like kubectl does: the Eviction API
    // deletes them without a PDB check, and the least-privilege role has no `delete pods`.
    let mut work: Vec<(LivePod, Removal)> = Vec::new();
    for &i in &plan.evict {
        let how = if opts.disable_eviction {
            Removal::Delete
        } else {
            Removal::Evict
        };
        work.push((pods[i].clone(), how));
    }
    for &i in &plan.completed {
        let how = if opts.disable_eviction {
            Removal::Delete
        } else {
            Removal::EvictCompleted
        };
        work.push((pods[i].clone(), how));
    }
    if opts.dry_run == DryRun::None {
        for &i in &plan.wait_only {
            work.push((pods[i].clone(), Removal::WaitOnly));
        }
    }
    if work.is_empty() {
        summary.outcome = if opts.dry_run.is_dry() {
            Outcome::DryRun
        } else {
            Outcome::NothingToDo
        };
        summary.message = format!(
            "{node} cordoned; no pods to remove ({} skipped)",
            summary.skipped.len()
        );
        if opts.dry_run.is_dry() {
            summary.message =
                format!("dry run (server): cordon of {node} accepted; no pods to remove");
        } else {
            let _ = write_progress(client, node, &progress(ProgressState::Drained)).await;
        }
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }

    if opts.dry_run == DryRun::None {
        // Best effort, like every progress write: the drain itself does not depend on it.
        let _ = write_progress(client, node, &progress(ProgressState::Draining)).await;
    }
    let initial: PodSet = pods.iter().map(|p| p.uid.clone()).collect();
    let (pods_tx, pods_rx) = watch::channel(initial);
    let (pdbs_tx, pdbs_rx) = watch::channel(PdbMap::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut background = Vec::new();
    let mut watching_pdbs = false;
    if opts.dry_run == DryRun::None {
        background.push(tokio::spawn(watch_pods(
            client.clone(),
            node.to_string(),
            pods_tx,
        )));
        if work
            .iter()
            .any(|(p, h)| *h == Removal::Evict && !p.facts.pdbs.is_empty())
        {
            watching_pdbs = true;
            background.push(tokio::spawn(watch_pdbs(client.clone(), pdbs_tx)));
        }
    }
    {
        let stop_tx = stop_tx.clone();
        let mut cancel = cancel.clone();
        background.push(tokio::spawn(async move {
            if cancel.wait_for(|c| *c).await.is_ok() {
                stop_tx.send_replace(true);
            }
        }));
    }
    let mut gates = BTreeMap::new();
    if watching_pdbs {
        for (p, how) in &work {
            if *how == Removal::Evict && p.facts.pdbs.len() == 1 {
                gates
                    .entry(p.pdb_names.clone())
                    .or_insert_with(|| tokio::sync::Mutex::new(None));
            }
        }
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        opts: opts.clone(),
        ui: Ui::new(node, work.len(), opts.live && opts.dry_run == DryRun::None),
        sem: Semaphore::new(opts.concurrency.max(1)),
        pods: pods_rx,
        pdbs: pdbs_rx,
        stop: stop_rx,
        stop_tx,
        deadline,
        fatal: Mutex::new(None),
        requests: AtomicU64::new(0),
        too_many: AtomicU64::new(0),
        target: target.to_string(),
        gates,
    });
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(p, how)| tokio::spawn(remove_pod(ctx.clone(), p, how)))
        .collect();
    let results = futures::future::join_all(tasks).await;
    ctx.ui.finish();
    for b in background {
        b.abort();
    }

    // 6. Outcome.
    let mut timed_out = false;
    let mut interrupted = false;
    let mut dry_notes = Vec::new();
    let mut stuck: Vec<String> = Vec::new();
    for r in results {
        let Ok((pod, how, accepted, end)) = r else {
            summary.failed.push(FailedPod {
                pod: "?".into(),
                error: "internal task failed".into(),
            });
            continue;
        };
        let key = pod.key();
        // An accepted eviction/delete counts even when the drain stopped before the pod was
        // gone (it is then also listed as remaining).
        // Accepted by the server (or by its dry run): counted as evicted or deleted, whatever
        // happened while waiting for the pod to go.
        if accepted || matches!(end, PodEnd::DryRun(Ok(()))) {
            if how.evicts() {
                summary.evicted.push(key.clone());
            } else {
                summary.deleted.push(key.clone());
            }
        }
        match end {
            PodEnd::Gone => {
                if !accepted {
                    summary.waited.push(key);
                }
            }
            PodEnd::DryRun(Ok(())) => {}
            PodEnd::DryRun(Err(e)) => {
                dry_notes.push(format!("  {key}: {e}"));
                summary.failed.push(FailedPod { pod: key, error: e });
            }
            PodEnd::Failed(e) => summary.failed.push(FailedPod { pod: key, error: e }),
            PodEnd::TimedOut => {
                timed_out = true;
                // Say what it waited on: the PDB that held it up, when there is one.
                stuck.push(if pod.pdb_names.is_empty() {
                    key.clone()
                } else {
                    format!("{key} (held up by PDB {})", pod.pdb_names)
                });
                summary.remaining.push(key);
            }
            PodEnd::Interrupted => {
                interrupted = true;
                summary.remaining.push(key);
            }
        }
    }
    summary.eviction_requests = ctx.requests.load(Ordering::Relaxed);
    summary.too_many_requests = ctx.too_many.load(Ordering::Relaxed);
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    let fatal = ctx.fatal.lock().ok().and_then(|mut f| f.take());
    let left = "node left cordoned";
    if opts.dry_run == DryRun::Server {
        summary.outcome = if summary.failed.is_empty() {
            Outcome::DryRun
        } else {
            Outcome::Blocked
        };
        summary.message = format!(
            "dry run (server): {} eviction(s)/delete(s) accepted, {} refused; nothing was changed{}{}",
            summary.evicted.len() + summary.deleted.len(),
            summary.failed.len(),
            if dry_notes.is_empty() { "" } else { ":\n" },
            dry_notes.join("\n")
        );
        return Ok(summary);
    }
    // Evictions/deletes the server accepted (some pods may still be terminating).
    let accepted = summary.evicted.len() + summary.deleted.len();
    if let Some(e) = fatal {
        summary.outcome = Outcome::ApiError;
        summary.message = format!(
            "{}; {left} ({accepted} pod(s) evicted or deleted before the error)",
            e.message
        );
    } else if interrupted && cancel_set(&cancel) {
        summary.outcome = Outcome::Interrupted;
        summary.resume = Some(opts.resume_command.clone());
        summary.message = format!(
            "interrupted: {left}, {accepted} pod(s) evicted or deleted, {} still on the node; resume with: {}",
            summary.remaining.len(),
            opts.resume_command
        );
        return Ok(summary);
    } else if !summary.failed.is_empty() {
        summary.outcome = Outcome::Failed;
        let list: Vec<String> = summary
            .failed
            .iter()
            .map(|f| format!("  {}: {}", f.pod, f.error))
            .collect();
        summary.message = format!(
            "drain of {node} incomplete, {left}: {} pod(s) could not be removed{}:\n{}",
            summary.failed.len(),
            if timed_out {
                format!(
                    ", {} still there at the timeout: {}",
                    summary.remaining.len(),
                    bounded(&stuck, 5)
                )
            } else {
                String::new()
            },
            list.join("\n")
        );
    } else if timed_out || interrupted {
        summary.outcome = Outcome::TimedOut;
        summary.message =
            format!(
            "timed out after {:.0}s, {left}: {} pod(s) still on {node}: {}; rerun to continue: {}",
            summary.elapsed_seconds,
            summary.remaining.len(),
            bounded(if stuck.is_empty() { &summary.remaining } else { &stuck }, 5),
            opts.resume_command
        );
    } else {
        summary.outcome = Outcome::Drained;
        summary.message = format!(
            "{node} drained: {} evicted, {} deleted, {} already terminating, {} skipped, in {:.1}s; the node stays cordoned until you uncordon it",
            summary.evicted.len(),
            summary.deleted.len(),
            summary.waited.len(),
            summary.skipped.len(),
            summary.elapsed_seconds
        );
    }
    let state = if summary.outcome == Outcome::Drained {
        ProgressState::Drained
    } else {
        ProgressState::Failed
    };
    let _ = write_progress(client, node, &progress(state)).await;
    Ok(summary)
}

fn cancel_set(cancel: &watch::Receiver<bool>) -> bool {
    *cancel.borrow()
}

/// Best effort, short retry: the annotation is bookkeeping, not the drain.
async fn write_progress(
    client: &kube::Client,
    node: &str,
    p: &Progress,
) -> Result<(), kube::Error> {
    let ui = Ui::plain(node);
    let limit = Instant::now() + Duration::from_secs(30);
    with_retry(&ui, "recording progress", limit, || {
        nodes::write_progress(client, node, Some(p), DryRun::None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_body_uses_delete_options_camel_case() {
        let b = eviction_body("ns", "p", "uid-1", Some(7), false);
        assert_eq!(b["apiVersion"], "policy/v1");
        assert_eq!(b["kind"], "Eviction");
        assert_eq!(b["deleteOptions"]["gracePeriodSeconds"], 7);
        assert_eq!(b["deleteOptions"]["preconditions"]["uid"], "uid-1");
        assert!(b.get("delete_options").is_none());
        assert!(b["deleteOptions"].get("dryRun").is_none());
        let d = eviction_body("ns", "p", "u", None, true);
        assert_eq!(d["deleteOptions"]["dryRun"], serde_json::json!(["All"]));
        assert!(d["deleteOptions"].get("gracePeriodSeconds").is_none());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let got: Vec<u64> = (0..6)
            .map(|a| backoff(a, BACKOFF_START, BACKOFF_CAP).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn live_pod_reduction() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "namespace": "app", "name": "web-1", "uid": "u1",
                "labels": {"app": "web"},
                "annotations": {"kubernetes.io/config.mirror": "x"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "o", "controller": true}],
                "deletionTimestamp": "2026-01-01T00:00:00Z"
            },
            "spec": {"nodeName": "n1", "containers": [], "volumes": [{"name": "c", "emptyDir": {}}]},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let p = live_pod(&pod, now);
        assert_eq!(p.key(), "app/web-1");
        assert_eq!(p.uid, "u1");
        assert_eq!(p.facts.controller_kind.as_deref(), Some("ReplicaSet"));
        assert!(p.facts.mirror && p.facts.has_empty_dir && p.facts.deleting);
        assert_eq!(p.deleting_for, Some(Duration::from_secs(60)));
        assert_eq!(p.labels.get("app").map(String::as_str), Some("web"));
    }

    #[test]
    fn outcome_codes() {
        assert_eq!(Outcome::Drained.code(), Code::Ok);
        assert_eq!(Outcome::Blocked.code(), Code::Violations);
        assert_eq!(Outcome::TimedOut.code(), Code::Violations);
        assert_eq!(Outcome::ApiError.code(), Code::Api);
        assert_eq!(Outcome::Interrupted.code(), Code::Interrupted);
    }
}
