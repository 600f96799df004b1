//! The kubelets' live configuration (I/O, opt-in with `check --kubelet-configz`): `GET
//! /api/v1/nodes/NAME/proxy/configz` for every node, through the API server's proxy, a few at
//! a time. Each answer's `featureGates` becomes that node's kubelet configuration. Needs
//! `get nodes/proxy` (ClusterRole kubectl-upgrade-kubelet-configz): a powerful permission
//! (it reaches the kubelet's whole API), hence its own role and the opt-in. A 403 or a node
//! that does not answer is a note.

use crate::client::connect::{is_forbidden, Connection};
use crate::facts::config::{gates_of_map, ComponentConfig};
use futures::StreamExt;

/// Requests in flight at once.
const PARALLEL: usize = 16;

/// Each node's kubelet configuration (its feature gates), and what could not be read.
pub async fn read(conn: &Connection, nodes: &[String]) -> (Vec<ComponentConfig>, Vec<String>) {
    let answers: Vec<(String, Result<serde_json::Value, kube::Error>)> =
        futures::stream::iter(nodes.iter().cloned())
            .map(|node| async move {
                let req = http::Request::get(format!("/api/v1/nodes/{node}/proxy/configz"))
                    .body(Vec::new());
                let got = match req {
                    Ok(r) => conn.client.request::<serde_json::Value>(r).await,
                    Err(e) => Err(kube::Error::HttpError(e)),
                };
                (node, got)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    let mut configs = Vec::new();
    let mut silent: Vec<String> = Vec::new();
    let mut forbidden = false;
    for (node, got) in answers {
        match got {
            Ok(v) => {
                let gates = gates_of_map(v.pointer("/kubeletconfig/featureGates"));
                configs.push(ComponentConfig {
                    component: "kubelet".into(),
                    source: format!("node {node} (configz)"),
                    flags: vec![],
                    gates,
                    version: None,
                });
            }
            Err(e) if is_forbidden(&e) => forbidden = true,
            Err(_) => silent.push(node),
        }
    }
    configs.sort_by(|a, b| a.source.cmp(&b.source));
    let mut notes = Vec::new();
    if forbidden {
        notes.push("--kubelet-configz: get nodes/proxy is forbidden: the kubelets' live configuration was not read; bind ClusterRole kubectl-upgrade-kubelet-configz (deploy/rbac.yaml)".into());
    }
    if !silent.is_empty() {
        silent.sort();
        notes.push(format!(
            "--kubelet-configz: {} node(s) did not answer /configz (kubelet unreachable through the API server): {}",
            silent.len(),
            crate::findings::bounded(&silent, crate::findings::NAMES_SHOWN)
        ));
    }
    (configs, notes)
}
