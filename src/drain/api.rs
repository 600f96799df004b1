//! The drain's API calls (I/O): retries with backoff, listing a node's pods and the PDBs,
//! the Eviction request and the delete, the pod and PDB watches that keep the engine's view
//! current, the access check before the node is touched, and the progress record's write.

use crate::client::access::{self, Permission};
use crate::client::connect::is_forbidden;
use crate::client::connect::one_line;
use crate::client::error::ClientError;
use crate::client::nodes;
use crate::client::paging::list_all;
#[cfg(test)]
use crate::drain::model::BACKOFF_START;
use crate::drain::model::{LivePod, BACKOFF_CAP};
use crate::drain::ui::{Event, Ui};
use crate::facts::dry_run::DryRun;
use crate::facts::progress::Progress;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Errors worth retrying: the server unreachable or overloaded.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

/// Like [`is_transient`] but for mutations whose 429/500 mean something (evictions).
pub(super) fn is_outage(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 502..=504),
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

pub(super) fn err_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.message),
        other => one_line(&other.to_string()),
    }
}

pub(super) fn backoff(attempt: u32, start: Duration, cap: Duration) -> Duration {
    let factor = 1u32 << attempt.min(8);
    (start * factor).min(cap)
}

/// Run `f` until it succeeds, fails with a non-transient error, or `limit` passes.
pub(super) async fn with_retry<T, F, Fut>(
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

/// Is the API server unreachable now? `Some(why)` when a `/version` request gets no answer
/// within 2 s (an API error means it answers: `None`).
pub(super) async fn unreachable(client: &kube::Client) -> Option<String> {
    match tokio::time::timeout(Duration::from_secs(2), client.apiserver_version()).await {
        Err(_) => Some("no answer within 2s".to_string()),
        Ok(Err(kube::Error::Api(_))) | Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(one_line(&e.to_string())),
    }
}

/// Every pod on the node (paged), and the list's resourceVersion.
pub(super) async fn list_node_pods(
    client: &kube::Client,
    node: &str,
    label_selector: Option<&str>,
) -> Result<(Vec<Pod>, String), kube::Error> {
    let api: Api<Pod> = Api::all(client.clone());
    let mut lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    if let Some(sel) = label_selector {
        lp = lp.labels(sel);
    }
    list_all(&api, lp).await
}

/// Every PDB (paged), and the list's resourceVersion.
pub(super) async fn list_pdbs(
    client: &kube::Client,
) -> Result<(Vec<PodDisruptionBudget>, String), kube::Error> {
    list_all(&Api::all(client.clone()), ListParams::default()).await
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

pub(super) async fn evict(
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

pub(super) async fn delete(
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
pub(super) type PodSet = HashSet<String>;

/// PDB key -> (resourceVersion, disruptionsAllowed), kept current by a watch.
pub(super) type PdbMap = BTreeMap<String, (String, i32)>;

pub(super) fn pdb_entry(p: &PodDisruptionBudget) -> (String, (String, i32)) {
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

/// A watched collection as the drain keeps it: what one object adds or removes.
pub(super) trait View: Default + Send + Sync + 'static {
    type Object: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static;
    fn apply(&mut self, o: &Self::Object);
    fn delete(&mut self, o: &Self::Object);
}

impl View for PodSet {
    type Object = Pod;
    fn apply(&mut self, p: &Pod) {
        if let Some(uid) = &p.metadata.uid {
            self.insert(uid.clone());
        }
    }
    fn delete(&mut self, p: &Pod) {
        if let Some(uid) = &p.metadata.uid {
            self.remove(uid);
        }
    }
}

impl View for PdbMap {
    type Object = PodDisruptionBudget;
    fn apply(&mut self, p: &PodDisruptionBudget) {
        let (k, v) = pdb_entry(p);
        self.insert(k, v);
    }
    fn delete(&mut self, p: &PodDisruptionBudget) {
        self.remove(&pdb_entry(p).0);
    }
}

/// The watches' relist pacing after an error: 200 ms doubling to 2 s, reset once a watch
/// has run for a while (a drain waits on these, so it must not lag 30 s behind an outage).
struct WatchBackoff {
    attempt: u32,
}

impl Iterator for WatchBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = backoff(
            self.attempt,
            Duration::from_millis(200),
            Duration::from_secs(2),
        );
        self.attempt += 1;
        Some(d)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Keep `tx` current with kube-runtime's watcher: each (re)list replaces the view at once
/// (`Init` .. `InitDone`), then changes apply. The watcher relists after errors (paced by
/// [`WatchBackoff`]); a list the user may not make ends the watch (`stop_when_forbidden`),
/// a watch they may not open is a relist each backoff (polling).
async fn mirror<V: View>(
    api: Api<V::Object>,
    config: kube::runtime::watcher::Config,
    tx: watch::Sender<V>,
    stop_when_forbidden: bool,
) {
    use kube::runtime::watcher::{self, Event};
    use kube::runtime::WatchStreamExt;
    let stream = watcher::watcher(api, config).backoff(WatchBackoff { attempt: 0 });
    let mut stream = std::pin::pin!(stream);
    let mut fresh: Option<V> = None;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Init) => fresh = Some(V::default()),
            Ok(Event::InitApply(o)) => {
                if let Some(f) = fresh.as_mut() {
                    f.apply(&o);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(f) = fresh.take() {
                    tx.send_replace(f);
                }
            }
            Ok(Event::Apply(o)) => tx.send_modify(|v| v.apply(&o)),
            Ok(Event::Delete(o)) => tx.send_modify(|v| v.delete(&o)),
            Err(watcher::Error::InitialListFailed(e))
                if stop_when_forbidden && is_forbidden(&e) =>
            {
                return;
            }
            Err(_) => {}
        }
    }
}

/// The uids of the pods on `node`, kept current.
pub(super) async fn watch_pods(client: kube::Client, node: String, tx: watch::Sender<PodSet>) {
    let config = kube::runtime::watcher::Config::default()
        .fields(&format!("spec.nodeName={node}"))
        .timeout(290);
    mirror(Api::all(client), config, tx, false).await;
}

/// Every PDB's resourceVersion and disruptionsAllowed, kept current (none when PDBs may not
/// be listed: the evictions then find out from the server).
pub(super) async fn watch_pdbs(client: kube::Client, tx: watch::Sender<PdbMap>) {
    let config = kube::runtime::watcher::Config::default().timeout(290);
    mirror(Api::all(client), config, tx, true).await;
}

/// Permissions, before the node is touched: cordon (patch nodes) and remove each
/// namespace's pods (create pods/eviction, or delete pods with --disable-eviction). A denial
/// is the drain's error; a server that cannot answer gets a note and the drain goes ahead.
pub(super) async fn check_access(
    client: &kube::Client,
    node: &str,
    namespaces: std::collections::BTreeSet<&str>,
    opts: &crate::drain::model::DrainOptions,
    ui: &Ui,
) -> Result<(), ClientError> {
    let disable_eviction = opts.disable_eviction;
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
        if opts.delete_blocking_after.is_some() {
            // Asked up front: finding out at the deadline would be too late.
            wanted.push(Permission {
                verb: "delete",
                resource: "pods",
                subresource: None,
                namespace: Some(ns.to_string()),
                name: None,
            });
        }
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

/// Best effort, short retry: the annotation is bookkeeping, not the drain.
pub(super) async fn write_progress(
    client: &kube::Client,
    node: &str,
    p: &Progress,
    limit: Instant,
) -> Result<(), kube::Error> {
    let ui = Ui::plain(node);
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
}
