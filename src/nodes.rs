//! Node mutations (cordon, uncordon) and the drain-progress annotation that drain and
//! drain-next record on the node so that a rerun resumes and `check` can show it.

use crate::exit::CliError;
use crate::inventory::NodeFacts;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};

/// Annotation on a node holding [`Progress`] as JSON, written by `drain` and `drain-next`.
pub const PROGRESS_ANNOTATION: &str = "kubectl-upgrade.io/drain-progress";

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
    /// The drain stopped on an error or timeout; the node stays cordoned.
    Failed,
}

impl ProgressState {
    /// Lowercase name as written in the annotation.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressState::Cordoned => "cordoned",
            ProgressState::Draining => "draining",
            ProgressState::Drained => "drained",
            ProgressState::Failed => "failed",
        }
    }
}

/// The value of [`PROGRESS_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub state: ProgressState,
    /// Version the node is being upgraded to (`drain-next`); absent for a plain `drain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// RFC 3339 time of the last state change.
    pub time: String,
    /// Which command wrote it and who ran it, e.g. `drain-next by alice`.
    pub by: String,
}

/// A progress record as the annotation holds it, for tests.
#[cfg(test)]
pub fn progress_record(state: ProgressState, target: Option<&str>, by: &str) -> Option<String> {
    Some(
        Progress {
            state,
            target: target.map(str::to_string),
            time: "2026-01-01T00:00:00Z".into(),
            by: by.into(),
        }
        .to_json(),
    )
}

impl Progress {
    /// A record stamped now.
    pub fn now(state: ProgressState, target: Option<String>, command: &str) -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Progress {
            state,
            target,
            time: jiff::Timestamp::now().to_string(),
            by: format!("{command} by {user}"),
        }
    }

    /// Parse the annotation; `None` when absent or not ours (malformed JSON).
    pub fn parse(raw: Option<&str>) -> Option<Progress> {
        serde_json::from_str(raw?).ok()
    }

    /// `true` when written by `drain-next` (which is what the one-at-a-time rule tracks).
    pub fn by_drain_next(&self) -> bool {
        self.by.starts_with("drain-next")
    }

    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and a unit enum cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The error for a node name that does not exist: bad input (exit 64), one line, the same
/// for every command that takes node names.
pub fn not_found(name: &str) -> CliError {
    CliError::usage(format!(
        "node {name} not found; check the name with `kubectl get nodes`"
    ))
}

/// Server-side dry-run flag for patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DryRun {
    #[default]
    None,
    /// Print what would happen; send no mutating request.
    Client,
    /// Send mutating requests with `dryRun=All`.
    Server,
}

impl DryRun {
    pub fn is_dry(self) -> bool {
        self != DryRun::None
    }
}

fn patch_params(dry: DryRun) -> PatchParams {
    PatchParams {
        dry_run: dry == DryRun::Server,
        ..PatchParams::default()
    }
}

/// The JSON merge patch body for cordon (`true`) or uncordon (`false`, which sends null like
/// kubectl), optionally setting (`Some(Some)`) or removing (`Some(None)`) the progress annotation.
pub fn schedulable_patch(cordon: bool, progress: Option<Option<&Progress>>) -> serde_json::Value {
    let mut patch = serde_json::json!({
        "spec": { "unschedulable": if cordon { serde_json::Value::Bool(true) } else { serde_json::Value::Null } }
    });
    if let Some(p) = progress {
        patch["metadata"] = annotation_patch(p);
    }
    patch
}

fn annotation_patch(progress: Option<&Progress>) -> serde_json::Value {
    let value = match progress {
        Some(p) => serde_json::Value::String(p.to_json()),
        None => serde_json::Value::Null,
    };
    serde_json::json!({ "annotations": { PROGRESS_ANNOTATION: value } })
}

/// Cordon (or uncordon) one node with a merge patch; optionally set/clear the progress annotation
/// in the same request. Client dry-run sends nothing.
pub async fn set_unschedulable(
    client: &kube::Client,
    node: &str,
    cordon: bool,
    progress: Option<Option<&Progress>>,
    dry: DryRun,
    target: &str,
) -> Result<(), CliError> {
    if dry == DryRun::Client {
        return Ok(());
    }
    let api: Api<Node> = Api::all(client.clone());
    let body = schedulable_patch(cordon, progress);
    api.patch(node, &patch_params(dry), &Patch::Merge(&body))
        .await
        .map(|_| ())
        .map_err(|e| crate::connect::api_error(&e, "patch", "nodes", Some(node), target))
}

/// Write (or clear with `None`) the progress annotation only.
pub async fn write_progress(
    client: &kube::Client,
    node: &str,
    progress: Option<&Progress>,
    dry: DryRun,
) -> Result<(), kube::Error> {
    if dry == DryRun::Client {
        return Ok(());
    }
    let api: Api<Node> = Api::all(client.clone());
    let body = serde_json::json!({ "metadata": annotation_patch(progress) });
    api.patch(node, &patch_params(dry), &Patch::Merge(&body))
        .await
        .map(|_| ())
}

/// Reduce a Node to [`NodeFacts`] keeping every label (drain-next's `--selector` is applied
/// server-side, but labels help messages) and the progress annotation. Same reduction as
/// `check`'s (roles, taints): [`crate::inventory::reduce::node_facts`].
pub fn node_facts(node: Node) -> NodeFacts {
    crate::inventory::reduce::node_facts(node, |_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trip_and_parse() {
        let p = Progress {
            state: ProgressState::Draining,
            target: Some("v1.33.2".into()),
            time: "2026-01-01T00:00:00Z".into(),
            by: "drain-next by alice".into(),
        };
        let raw = p.to_json();
        assert!(raw.contains("\"state\":\"draining\""), "{raw}");
        assert_eq!(Progress::parse(Some(&raw)), Some(p.clone()));
        assert!(p.by_drain_next());
        let cases: [(Option<&str>, bool); 4] = [
            (None, false),
            (Some("not json"), false),
            (Some(r#"{"state":"exploded","time":"t","by":"b"}"#), false),
            (
                Some(r#"{"state":"drained","time":"t","by":"drain by bob"}"#),
                true,
            ),
        ];
        for (raw, ok) in cases {
            assert_eq!(Progress::parse(raw).is_some(), ok, "{raw:?}");
        }
    }

    #[test]
    fn node_facts_read_roles_and_taints_like_check() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "n1",
                "labels": {
                    "node-role.kubernetes.io/worker": "",
                    "node-role.kubernetes.io/control-plane": "",
                    "kubernetes.io/role": "infra",
                    "team": "a"
                },
                "annotations": {PROGRESS_ANNOTATION: "{}"}
            },
            "spec": {
                "unschedulable": true,
                "taints": [
                    {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                    {"key": "x", "value": "", "effect": "NoExecute"}
                ]
            }
        }))
        .unwrap();
        let drain = node_facts(node.clone());
        let mut r = crate::inventory::Reducer::new("t");
        r.node(node);
        let check = r.finish().nodes.remove(0);
        assert_eq!(drain.roles, ["control-plane", "infra", "worker"]);
        assert_eq!(
            drain.taints,
            [
                "dedicated=gpu:NoSchedule",
                "node-role.kubernetes.io/control-plane:NoSchedule",
                "x:NoExecute"
            ]
        );
        assert_eq!((&drain.roles, &drain.taints), (&check.roles, &check.taints));
        assert!(drain.unschedulable && check.unschedulable);
        assert_eq!(drain.progress.as_deref(), Some("{}"));
        assert_eq!(drain.progress, check.progress);
        // drain keeps every label, check only the ones it uses.
        assert!(drain.labels.contains_key("team") && !check.labels.contains_key("team"));
    }

    #[test]
    fn patches() {
        let cordon = schedulable_patch(true, None);
        assert_eq!(cordon, serde_json::json!({"spec":{"unschedulable":true}}));
        let uncordon = schedulable_patch(false, Some(None));
        assert_eq!(
            uncordon,
            serde_json::json!({"spec":{"unschedulable":null},"metadata":{"annotations":{PROGRESS_ANNOTATION:null}}})
        );
        let p = Progress::now(ProgressState::Cordoned, None, "drain");
        let with = schedulable_patch(true, Some(Some(&p)));
        let raw = with["metadata"]["annotations"][PROGRESS_ANNOTATION]
            .as_str()
            .unwrap();
        assert_eq!(
            Progress::parse(Some(raw)).unwrap().state,
            ProgressState::Cordoned
        );
    }
}
