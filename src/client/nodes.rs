//! Node mutations (cordon, uncordon, the drain-progress record). The record and the patch
//! bodies are pure facts (`crate::facts::progress`); this sends them.

use crate::client::connect::{api_error, Connection};
use crate::client::error::ClientError;
use crate::facts::dry_run::DryRun;
use crate::facts::progress::{
    progress_patch, schedulable_patch, Annotation, Progress, ProgressState, Writer,
};
use crate::facts::selector::Selector;
use crate::facts::version::Version;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};

/// A progress record stamped now, by the user running this (`$USER`, `%USERNAME%`, else the
/// uid), for a drain towards `target`.
pub fn stamped(state: ProgressState, target: Option<Version>, command: Writer) -> Progress {
    Progress {
        state,
        target,
        time: jiff::Timestamp::now().to_string(),
        command,
        user: current_user(),
        pdbs: None,
        started: None,
        reason: None,
        deleted_blocking: None,
    }
}

/// Who is running this, for progress records: `$USER`, `%USERNAME%`, else `uid N` (a
/// container without `$USER` still says who).
pub fn current_user() -> String {
    for var in ["USER", "USERNAME"] {
        if let Ok(u) = std::env::var(var) {
            if !u.trim().is_empty() {
                return u;
            }
        }
    }
    uid().map_or_else(|| "unknown user".to_string(), |u| format!("uid {u}"))
}

#[cfg(unix)]
fn uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(not(unix))]
fn uid() -> Option<u32> {
    None
}

/// The error for a node name that does not exist: bad input (exit 64), one line, the same
/// for every command that takes node names.
pub fn not_found(name: &str) -> ClientError {
    ClientError::NodeNotFound(name.to_string())
}

/// Every node, or those `selector` matches (server-side). A selector that matches nothing is
/// bad input (exit 64): a typo must not read as "the rollout is done" to a script looping on
/// exit 0.
pub async fn list(
    conn: &Connection,
    selector: Option<&Selector>,
) -> Result<Vec<Node>, ClientError> {
    let api: Api<Node> = Api::all(conn.client.clone());
    let mut lp = ListParams::default();
    if let Some(sel) = selector {
        lp = lp.labels(&sel.to_string());
    }
    let nodes = api
        .list(&lp)
        .await
        .map_err(|e| api_error(e, "list", "nodes", None, &conn.description))?
        .items;
    match selector {
        Some(sel) if nodes.is_empty() => Err(ClientError::Flags(format!(
            "no node matches -l {sel}; check the labels with `kubectl get nodes --show-labels`"
        ))),
        _ => Ok(nodes),
    }
}

/// One node by name; an unknown name is bad input ([`not_found`]).
pub async fn get(conn: &Connection, name: &str) -> Result<Node, ClientError> {
    let api: Api<Node> = Api::all(conn.client.clone());
    api.get_opt(name)
        .await
        .map_err(|e| api_error(e, "get", "nodes", Some(name), &conn.description))?
        .ok_or_else(|| not_found(name))
}

/// Delete the Node object (`drain-next --strategy replace --delete-node`).
pub async fn delete(conn: &Connection, name: &str) -> Result<(), ClientError> {
    let api: Api<Node> = Api::all(conn.client.clone());
    api.delete(name, &Default::default())
        .await
        .map(|_| ())
        .map_err(|e| api_error(e, "delete", "nodes", Some(name), &conn.description).into())
}

fn patch_params(dry: DryRun) -> PatchParams {
    PatchParams {
        dry_run: dry == DryRun::Server,
        ..PatchParams::default()
    }
}

/// Cordon (or uncordon) one node with a merge patch; optionally set/clear the progress annotation
/// in the same request. Client dry-run sends nothing.
pub async fn set_unschedulable(
    client: &kube::Client,
    node: &str,
    cordon: bool,
    annotation: Annotation<'_>,
    dry: DryRun,
    cluster: &str,
) -> Result<(), ClientError> {
    if dry == DryRun::Client {
        return Ok(());
    }
    let api: Api<Node> = Api::all(client.clone());
    let body = schedulable_patch(cordon, annotation);
    api.patch(node, &patch_params(dry), &Patch::Merge(&body))
        .await
        .map(|_| ())
        .map_err(|e| {
            crate::client::connect::api_error(e, "patch", "nodes", Some(node), cluster).into()
        })
}

/// Add the taint `key=value:PreferNoSchedule` to a node unless it carries `key` already:
/// read, append, write back with the read resourceVersion (a concurrent change is 409 and
/// retried on a fresh read, so nobody's taints are lost). `Ok(false)`: it was there already.
/// Client dry-run sends nothing.
pub async fn prefer_no_schedule(
    client: &kube::Client,
    node: &str,
    key: &str,
    value: &str,
    dry: DryRun,
    cluster: &str,
) -> Result<bool, ClientError> {
    let api: Api<Node> = Api::all(client.clone());
    let failed = |e, verb| -> ClientError {
        crate::client::connect::api_error(e, verb, "nodes", Some(node), cluster).into()
    };
    for _ in 0..3 {
        let Some(current) = api.get_opt(node).await.map_err(|e| failed(e, "get"))? else {
            return Err(not_found(node));
        };
        let mut taints = current
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if taints.iter().any(|t| t.key == key) {
            return Ok(false);
        }
        if dry == DryRun::Client {
            return Ok(true);
        }
        taints.push(k8s_openapi::api::core::v1::Taint {
            key: key.to_string(),
            value: Some(value.to_string()),
            effect: "PreferNoSchedule".to_string(),
            time_added: None,
        });
        let body = serde_json::json!({
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "spec": {"taints": taints},
        });
        match api
            .patch(node, &patch_params(dry), &Patch::Merge(&body))
            .await
        {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(failed(e, "patch")),
        }
    }
    Err(ClientError::Request(format!(
        "node {node} kept changing while its taint was added; rerun"
    )))
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
    let body = progress_patch(progress.map_or(Annotation::Clear, Annotation::Set));
    api.patch(node, &patch_params(dry), &Patch::Merge(&body))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_records_say_who() {
        let p = stamped(ProgressState::Cordoned, None, Writer::Drain);
        assert!(!p.user.is_empty());
        assert!(p.by().starts_with("drain by "), "{}", p.by());
        assert!(p.time.parse::<jiff::Timestamp>().is_ok(), "{}", p.time);
    }
}
