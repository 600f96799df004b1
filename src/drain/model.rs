//! The drain's data: its options, the pods it works on, and the summary it ends with
//! (`-o json` prints the summary). No I/O.

use crate::facts::dry_run::DryRun;
use crate::facts::pod::PodFacts;
use crate::facts::progress::Writer;
use crate::facts::selector::Selector;
use crate::facts::version::Version;
use crate::policy::filters::{FilterOptions, SkipReason};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long API outages are retried when no `--timeout` is set.
pub const OUTAGE_LIMIT: Duration = Duration::from_secs(600);
/// 429 backoff: first wait and cap (the PDB watch usually wakes us first).
pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Which of a node's pods a drain removes: `-n` and `--pod-selector`. The default (neither)
/// is every pod; a scoped drain-next leaves the node only partly drained when others remain.
#[derive(Debug, Clone, Default)]
pub struct DrainScope {
    pub namespace: Option<String>,
    pub pod_selector: Option<Selector>,
}

impl DrainScope {
    /// Is the drain limited to some of the node's pods?
    pub fn is_limited(&self) -> bool {
        self.namespace.is_some() || self.pod_selector.is_some()
    }

    /// Is a pod in `namespace` with `labels` one the drain removes?
    pub fn contains(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self.pod_selector.as_ref().is_none_or(|s| s.matches(labels))
    }

    /// The flags as the user typed them (`-n NS --pod-selector SEL`), empty when unlimited.
    pub fn flags(&self) -> String {
        let mut out = Vec::new();
        if let Some(ns) = &self.namespace {
            out.push(format!("-n {ns}"));
        }
        if let Some(sel) = &self.pod_selector {
            out.push(format!("--pod-selector {sel}"));
        }
        out.join(" ")
    }
}

/// Everything that shapes one drain.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    pub filter: FilterOptions,
    /// Which pods are removed (`-n`, `--pod-selector`).
    pub scope: DrainScope,
    /// Grace period for evictions/deletes; `None` = each pod's own.
    pub grace_period: Option<u32>,
    /// Whole-drain time limit; `None` = no limit (like kubectl).
    pub timeout: Option<Duration>,
    /// Delete instead of evicting (bypasses PDBs).
    pub disable_eviction: bool,
    /// `--delete-blocking-after`: delete the pods whose eviction a budget still refuses this
    /// long after the drain began (exactly those; bypasses their PDBs).
    pub delete_blocking_after: Option<Duration>,
    /// How long a drained node's VolumeAttachments may take to be released before the drain
    /// counts as not finished; `None` (`0s`): not waited for.
    pub volume_detach_timeout: Option<Duration>,
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
    /// A dry run lists every pod it would remove (off for a check that is not the user's
    /// own dry run, such as all-at-once's look before it cordons).
    pub list_plan: bool,
}

impl DrainOptions {
    /// Combinations that make no sense, refused before anything is read (a usage error).
    pub fn check(&self) -> Result<(), String> {
        let Some(after) = self.delete_blocking_after else {
            return Ok(());
        };
        if self.disable_eviction {
            return Err("--disable-eviction already deletes every pod; --delete-blocking-after deletes only those a budget still refuses after a while (drop one of them)".into());
        }
        if after.is_zero() {
            return Err("--delete-blocking-after 0s would delete every pod a budget refuses at once: give how long to try evictions first, e.g. --delete-blocking-after 10m".into());
        }
        if self.timeout.is_some_and(|t| t <= after) {
            return Err("--delete-blocking-after must be shorter than --timeout (the drain would end before anything is deleted)".into());
        }
        Ok(())
    }
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            filter: FilterOptions::default(),
            scope: DrainScope::default(),
            grace_period: None,
            timeout: None,
            disable_eviction: false,
            delete_blocking_after: None,
            volume_detach_timeout: Some(Duration::from_secs(300)),
            ignore_blockers: false,
            concurrency: 8,
            dry_run: DryRun::None,
            target: None,
            command: Writer::Drain,
            resume_command: String::new(),
            live: true,
            list_plan: true,
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
    /// Permission or API error mid-drain, or the API server lost.
    ApiError,
    Interrupted,
    /// drain-next with `-n`/`--pod-selector`: the pods in scope are gone, others that a full
    /// drain removes still run on the node (`outsideScope`): not ready for its upgrade.
    Partial,
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

/// A budget that still held the drain when it timed out: its arithmetic, the pods it
/// selects that are not Ready (what holds it at zero), and what would let the drain go on.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeldBudget {
    /// `ns/name`.
    pub pdb: String,
    /// e.g. `minAvailable 3; healthy 2/4, desired 3, disruptionsAllowed 0`.
    pub numbers: String,
    /// Its pods that are not Ready, `ns/name (on NODE)`.
    pub not_ready: Vec<String>,
    /// What would let the drain go on.
    pub advice: String,
}

impl HeldBudget {
    /// `; not Ready: ns/a (on w-1), ...` (bounded), or nothing when all its pods are Ready.
    pub fn not_ready_text(&self) -> String {
        if self.not_ready.is_empty() {
            return String::new();
        }
        format!(
            "; not Ready: {}",
            crate::findings::bounded(&self.not_ready, crate::findings::NAMES_SHOWN)
        )
    }
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
pub struct DrainSummary {
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
    /// Admission webhooks the drain meets ([`crate::policy::webhooks`]): a blocking one
    /// stops it before the cordon (unless `--ignore-blockers`), others are warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<crate::policy::webhooks::WebhookRisk>,
    pub failed: Vec<FailedPod>,
    /// Pods still on the node that had to go (interrupt / timeout).
    pub remaining: Vec<String>,
    /// `--delete-blocking-after`: pods deleted because a budget still refused their eviction
    /// that long after the drain began (also in `deleted`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_blocking: Vec<String>,
    /// VolumeAttachments still on the node when the wait for them ended (then the drain is
    /// not finished).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_attached: Vec<String>,
    /// Timed out waiting on budgets: why each still allowed no eviction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<HeldBudget>,
    /// drain-next with `-n`/`--pod-selector`: pods outside that scope that a full drain would
    /// remove, still on the node (then the outcome is `partial`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outside_scope: Vec<String>,
    pub eviction_requests: u64,
    pub too_many_requests: u64,
    pub elapsed_seconds: f64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

impl DrainSummary {
    pub(crate) fn new(node: &str, dry: DryRun) -> DrainSummary {
        DrainSummary {
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
            webhooks: vec![],
            failed: vec![],
            remaining: vec![],
            held_by: vec![],
            deleted_blocking: vec![],
            volumes_attached: vec![],
            outside_scope: vec![],
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
    /// The PDBs selecting it (empty: none known).
    pub pdb_names: PdbNames,
}

/// The PDBs selecting a pod, by `ns/name`; shown joined with ` + `.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdbNames(Vec<String>);

impl PdbNames {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }

    /// The one PDB, when exactly one selects the pod (the case evictions can wait on).
    pub fn single(&self) -> Option<&str> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

impl std::fmt::Display for PdbNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" + "))
    }
}

impl FromIterator<String> for PdbNames {
    fn from_iter<I: IntoIterator<Item = String>>(it: I) -> Self {
        PdbNames(it.into_iter().collect())
    }
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
        pdb_names: PdbNames::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_scope_is_the_namespace_and_the_selector() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let all = DrainScope::default();
        assert!(!all.is_limited() && all.contains("any", &BTreeMap::new()));
        assert_eq!(all.flags(), "");
        let scope = DrainScope {
            namespace: Some("shop".into()),
            pod_selector: Some(crate::facts::selector::parse("app=web").unwrap()),
        };
        assert!(scope.is_limited());
        assert!(scope.contains("shop", &labels));
        assert!(!scope.contains("other", &labels));
        assert!(!scope.contains("shop", &BTreeMap::new()));
        assert_eq!(scope.flags(), "-n shop --pod-selector app=web");
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
}
