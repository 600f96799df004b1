//! Server-side `Table` rendering for `kubectl get` (nodes, pods, PDBs; others fall back to lists).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use crate::cluster::{node_is_ready, Kind, Obj, Object};

fn age(meta: &ObjectMeta) -> String {
    let Some(t) = &meta.creation_timestamp else {
        return "<unknown>".into();
    };
    let secs = jiff::Timestamp::now().as_second() - t.0.as_second();
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn col(name: &str, ty: &str, priority: i32) -> Value {
    json!({ "name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority })
}

fn node_row(n: &Node) -> Vec<Value> {
    let mut status = if node_is_ready(n) {
        "Ready"
    } else {
        "NotReady"
    }
    .to_string();
    if crate::cluster::is_unschedulable(n) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = n
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let version = n
        .status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kubelet_version.clone())
        .unwrap_or_default();
    vec![
        json!(n.metadata.name),
        json!(status),
        json!(roles),
        json!(age(&n.metadata)),
        json!(version),
    ]
}

fn pod_row(p: &Pod) -> Vec<Value> {
    let total = p.spec.as_ref().map_or(0, |s| s.containers.len());
    let ready = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().filter(|c| c.ready).count());
    let mut status = p
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    if p.metadata.deletion_timestamp.is_some() {
        status = "Terminating".into();
    }
    vec![
        json!(p.metadata.name),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(0),
        json!(age(&p.metadata)),
        json!(p
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_else(|| "<none>".into())),
        json!(p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "<none>".into())),
    ]
}

fn int_or_string(v: Option<&IntOrString>) -> Value {
    match v {
        Some(IntOrString::Int(i)) => json!(i.to_string()),
        Some(IntOrString::String(s)) => json!(s),
        None => json!("N/A"),
    }
}

fn pdb_row(p: &PodDisruptionBudget) -> Vec<Value> {
    let spec = p.spec.as_ref();
    vec![
        json!(p.metadata.name),
        int_or_string(spec.and_then(|s| s.min_available.as_ref())),
        int_or_string(spec.and_then(|s| s.max_unavailable.as_ref())),
        json!(p
            .status
            .as_ref()
            .and_then(|s| s.disruptions_allowed)
            .unwrap_or(0)),
        json!(age(&p.metadata)),
    ]
}

/// A `meta.k8s.io/v1` Table for nodes, pods and PDBs; `None` for other kinds.
pub(crate) fn table<T: Object>(items: &[Arc<T>], rv: u64, cont: Option<&str>) -> Option<Value> {
    let columns = match T::SIM_KIND {
        Kind::Node => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
        ],
        Kind::Pod => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
        ],
        Kind::Pdb => vec![
            col("Name", "string", 0),
            col("Min Available", "string", 0),
            col("Max Unavailable", "string", 0),
            col("Allowed Disruptions", "integer", 0),
            col("Age", "string", 0),
        ],
        _ => return None,
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let obj = T::wrap(o.clone());
            let cells = match &obj {
                Obj::Node(n) => node_row(n),
                Obj::Pod(p) => pod_row(p),
                Obj::Pdb(p) => pdb_row(p),
                _ => Vec::new(),
            };
            json!({ "cells": cells, "object": partial(obj.meta()) })
        })
        .collect();
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    Some(json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }))
}

/// `PartialObjectMetadata` of an object, as the server embeds it with `includeObject=Metadata`.
fn partial(meta: &ObjectMeta) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
    })
}
