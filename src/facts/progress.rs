//! The drain-progress record: what `drain` and `drain-next` write on a node (annotation
//! [`ANNOTATION`]) so that a rerun resumes, `check` and `status` can show it and `uncordon`
//! knows what the node was drained for; and the patch bodies that set or clear it. Pure: the
//! I/O that sends these patches is `crate::client::nodes`.

use crate::facts::version::Version;
use serde::{Deserialize, Serialize};

/// Annotation on a node holding a [`Progress`] as JSON.
pub const ANNOTATION: &str = "kubectl-upgrade.io/drain-progress";

/// Taint key `drain-next --strategy replace` puts on the old nodes of the pool (effect
/// `PreferNoSchedule`, value the target) before its first eviction, as kops' rolling update
/// does (`kops.k8s.io/scheduled-for-update`): the scheduler then prefers the nodes at the
/// target for the evicted pods, so they do not move twice. A preference, not a ban: with no
/// room on the new nodes, pods may still land on old ones rather than stay Pending.
pub const REPLACE_TAINT: &str = "kubectl-upgrade.io/scheduled-for-replacement";

/// Label (value `true`) on a node drain-next passed over as blocked (`--on-blocked=skip`),
/// so `kubectl get nodes -l kubectl-upgrade.io/blocked` finds them; the reason is in the
/// progress record. Every other record write (and its removal) takes the label off.
pub const BLOCKED_LABEL: &str = "kubectl-upgrade.io/blocked";

/// Where a drain of this node got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressState {
    /// Cordoned, no pod evicted yet (written with the cordon itself).
    Cordoned,
    /// Evictions under way (or interrupted: a rerun resumes).
    Draining,
    /// Every pod that had to go is gone; waiting for the node's upgrade.
    Drained,
    /// drain-next with `-n`/`--pod-selector`: the pods in that scope are gone, but others a
    /// full drain removes still run there, so the node is not ready for its upgrade (a rerun
    /// without the scope finishes it).
    Partial,
    /// The drain stopped on an error or timeout; the node stays cordoned.
    Failed,
    /// drain-next `--on-blocked=skip`: the drain timed out on what blocks it (the record's
    /// `reason`); the node stays cordoned and the rollout went on without it; it is come back
    /// to once no other node is left.
    Blocked,
}

impl ProgressState {
    /// Lowercase name as written in the annotation.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressState::Cordoned => "cordoned",
            ProgressState::Draining => "draining",
            ProgressState::Drained => "drained",
            ProgressState::Partial => "partial",
            ProgressState::Failed => "failed",
            ProgressState::Blocked => "blocked",
        }
    }
}

/// Which command wrote the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Writer {
    /// `kubectl upgrade drain`: no target, not tracked by the one-node-at-a-time rule.
    Drain,
    /// `kubectl upgrade drain-next`: carries the target the node is upgraded to.
    DrainNext,
    /// `kubectl upgrade drain-next --strategy replace`: the node is drained for removal
    /// (its workloads moved to nodes already at the target); it does not come back.
    DrainNextReplace,
}

impl Writer {
    /// drain-next (either strategy): a rollout's drain, tracked node by node.
    pub fn is_rollout(self) -> bool {
        matches!(self, Writer::DrainNext | Writer::DrainNextReplace)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Writer::Drain => "drain",
            Writer::DrainNext => "drain-next",
            Writer::DrainNextReplace => "drain-next-replace",
        }
    }
}

/// The value of [`ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Progress {
    pub state: ProgressState,
    /// Version the node is being upgraded to (`drain-next`); absent for a plain `drain`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "target_text")]
    pub target: Option<Version>,
    /// RFC 3339 time of the last state change.
    pub time: String,
    pub command: Writer,
    /// Who ran it (`$USER`, else `uid N`).
    pub user: String,
    /// The PodDisruptionBudgets (`ns/name`) that selected pods this drain removed, so that
    /// the validation between nodes waits for those budgets; absent in records written
    /// before it was kept (then every budget counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdbs: Option<Vec<String>>,
    /// RFC 3339 time this drain began (its cordon): replacements of the pods it evicted are
    /// created after it, which the validation between nodes counts from. Absent in records
    /// written before it was kept (then `time` stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// `blocked`: what blocked the drain, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `--delete-blocking-after`: the pods deleted because a budget still refused them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_blocking: Option<Vec<String>>,
}

impl Progress {
    /// The same record saying when its drain began.
    pub fn started_at(mut self, t: jiff::Timestamp) -> Progress {
        self.started = Some(t.to_string());
        self
    }

    /// When the drain began: `started`, else the record's time.
    pub fn began(&self) -> &str {
        self.started.as_deref().unwrap_or(&self.time)
    }

    /// The same record naming the pods `--delete-blocking-after` deleted (none: unchanged).
    pub fn with_deleted_blocking(mut self, pods: &[String]) -> Progress {
        if !pods.is_empty() {
            self.deleted_blocking = Some(pods.to_vec());
        }
        self
    }

    /// The same record naming the budgets its drain touched.
    pub fn with_pdbs(mut self, pdbs: Vec<String>) -> Progress {
        self.pdbs = Some(pdbs);
        self
    }

    /// `drain-next by alice`, for messages.
    pub fn by(&self) -> String {
        format!("{} by {}", self.command.as_str(), self.user)
    }

    /// The record in a node's annotation, when it is one (see [`Record`] for the others).
    pub fn parse(raw: Option<&str>) -> Option<Progress> {
        match Record::read(raw) {
            Record::Valid(p) => Some(p),
            _ => None,
        }
    }

    /// Written by `drain-next` (what the one-node-at-a-time rule tracks).
    pub fn by_drain_next(&self) -> bool {
        self.command.is_rollout()
    }

    /// Drained for removal (`--strategy replace`): finished, never back at the target.
    pub fn for_removal(&self) -> bool {
        self.command == Writer::DrainNextReplace && self.state == ProgressState::Drained
    }

    /// The target as written, e.g. `v1.33.2`.
    pub fn target_text(&self) -> Option<&str> {
        self.target.as_ref().map(|v| v.raw.as_str())
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and unit enums always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `target` is written as the version text (`"v1.33.2"`) and must parse back as one.
mod target_text {
    use crate::facts::version::{parse, Version};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Version>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.raw),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Version>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| parse(&t).map_err(|e| D::Error::custom(format!("target {t:?}: {e}"))))
            .transpose()
    }
}

/// What a node's annotation holds: nothing, a record, or something that is not a record (a
/// hand edit, another tool, a newer format). An unreadable record is never treated as absent:
/// `uncordon` and `drain-next` refuse to act on it without being told to.
#[derive(Debug, Clone, PartialEq, Eq)]
// One per node read, short-lived and matched at once: boxing the record would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Absent,
    Valid(Progress),
    Unreadable { raw: String, why: String },
}

impl Record {
    pub fn read(raw: Option<&str>) -> Record {
        match raw {
            None => Record::Absent,
            Some(text) => match serde_json::from_str::<Progress>(text) {
                Ok(p) => Record::Valid(p),
                Err(e) => match legacy(text) {
                    Some(p) => Record::Valid(p),
                    None => Record::Unreadable {
                        raw: text.chars().take(80).collect(),
                        why: e.to_string(),
                    },
                },
            },
        }
    }

    pub fn valid(&self) -> Option<&Progress> {
        match self {
            Record::Valid(p) => Some(p),
            _ => None,
        }
    }
}

/// The first release's record (`"by": "drain-next by alice"`), still on nodes drained by it.
fn legacy(text: &str) -> Option<Progress> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Legacy {
        state: ProgressState,
        #[serde(default, with = "target_text")]
        target: Option<Version>,
        time: String,
        by: String,
    }
    let old: Legacy = serde_json::from_str(text).ok()?;
    let (command, user) = old.by.split_once(" by ")?;
    let command = match command {
        "drain" => Writer::Drain,
        "drain-next" => Writer::DrainNext,
        _ => return None,
    };
    Some(Progress {
        state: old.state,
        target: old.target,
        time: old.time,
        command,
        user: user.to_string(),
        pdbs: None,
        started: None,
        reason: None,
        deleted_blocking: None,
    })
}

/// What a patch does to the progress annotation.
#[derive(Debug, Clone, Copy)]
pub enum Annotation<'a> {
    Keep,
    Set(&'a Progress),
    Clear,
}

/// The JSON merge patch for cordon (`true`) or uncordon (`false`, which sends null like
/// kubectl), changing the progress annotation in the same request.
pub fn schedulable_patch(cordon: bool, annotation: Annotation) -> serde_json::Value {
    let unschedulable = if cordon {
        serde_json::Value::Bool(true)
    } else {
        serde_json::Value::Null
    };
    let mut patch = serde_json::json!({ "spec": { "unschedulable": unschedulable } });
    if let Some(meta) = annotation_patch(annotation) {
        patch["metadata"] = meta;
    }
    patch
}

/// The merge patch that only changes the annotation.
pub fn progress_patch(annotation: Annotation) -> serde_json::Value {
    match annotation_patch(annotation) {
        Some(meta) => serde_json::json!({ "metadata": meta }),
        None => serde_json::json!({}),
    }
}

fn annotation_patch(annotation: Annotation) -> Option<serde_json::Value> {
    let (value, blocked) = match annotation {
        Annotation::Keep => return None,
        Annotation::Set(p) => (
            serde_json::Value::String(p.to_json()),
            p.state == ProgressState::Blocked,
        ),
        Annotation::Clear => (serde_json::Value::Null, false),
    };
    let label = if blocked {
        serde_json::Value::String("true".into())
    } else {
        serde_json::Value::Null
    };
    Some(serde_json::json!({
        "annotations": { ANNOTATION: value },
        "labels": { BLOCKED_LABEL: label },
    }))
}

/// A record as the annotation holds it, for tests.
#[cfg(test)]
pub fn record(state: ProgressState, target: Option<&str>, command: Writer) -> Option<String> {
    Some(
        Progress {
            state,
            target: target.map(|t| crate::facts::version::parse(t).expect("test version")),
            time: "2026-01-01T00:00:00Z".into(),
            command,
            user: "alice".into(),
            reason: None,
            deleted_blocking: None,
            pdbs: None,
            started: None,
        }
        .to_json(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unreadable_records() {
        let raw = record(ProgressState::Draining, Some("v1.33.2"), Writer::DrainNext).unwrap();
        assert!(raw.contains("\"state\":\"draining\""), "{raw}");
        assert!(raw.contains("\"target\":\"v1.33.2\""), "{raw}");
        let Record::Valid(p) = Record::read(Some(&raw)) else {
            panic!("{raw}")
        };
        assert_eq!(p.by(), "drain-next by alice");
        assert_eq!(p.target.unwrap().to_string(), "v1.33.2");
        assert_eq!(Record::read(None), Record::Absent);
        let legacy =
            r#"{"state":"drained","target":"v1.31.4","time":"t","by":"drain-next by bob"}"#;
        let Record::Valid(old) = Record::read(Some(legacy)) else {
            panic!("first-release record must stay readable")
        };
        assert_eq!((old.command, old.user.as_str()), (Writer::DrainNext, "bob"));
        for bad in [
            "not json",
            r#"{"state":"exploded","time":"t","command":"drain","user":"b"}"#,
            r#"{"state":"drained","time":"t","by":"rm -rf by bob"}"#,
            r#"{"state":"drained","target":"latest","time":"t","command":"drain-next","user":"b"}"#,
        ] {
            assert!(
                matches!(Record::read(Some(bad)), Record::Unreadable { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn patches() {
        assert_eq!(
            schedulable_patch(true, Annotation::Keep),
            serde_json::json!({"spec":{"unschedulable":true}})
        );
        assert_eq!(
            schedulable_patch(false, Annotation::Clear),
            serde_json::json!({"spec":{"unschedulable":null},"metadata":{"annotations":{ANNOTATION:null},"labels":{BLOCKED_LABEL:null}}})
        );
        let raw = record(ProgressState::Cordoned, None, Writer::Drain).unwrap();
        let Record::Valid(p) = Record::read(Some(&raw)) else {
            panic!()
        };
        let with = schedulable_patch(true, Annotation::Set(&p));
        let back = with["metadata"]["annotations"][ANNOTATION]
            .as_str()
            .unwrap();
        assert_eq!(Record::read(Some(back)), Record::Valid(p.clone()));
        assert_eq!(
            progress_patch(Annotation::Set(&p))["metadata"]["annotations"][ANNOTATION],
            serde_json::Value::String(p.to_json())
        );
        // The blocked label goes with a blocked record, and comes off with any other.
        assert_eq!(
            with["metadata"]["labels"][BLOCKED_LABEL],
            serde_json::Value::Null
        );
        let mut blocked = p.clone();
        blocked.state = ProgressState::Blocked;
        blocked.reason = Some("PDB app/web allows no disruption".into());
        let patch = progress_patch(Annotation::Set(&blocked));
        assert_eq!(patch["metadata"]["labels"][BLOCKED_LABEL], "true");
        let back = patch["metadata"]["annotations"][ANNOTATION]
            .as_str()
            .unwrap();
        assert_eq!(Record::read(Some(back)), Record::Valid(blocked));
    }
}
