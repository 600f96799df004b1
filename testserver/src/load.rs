//! Loading a dump into a [`Cluster`]: a v1 `List` (items without `kind` take it from the
//! list's kind, as the API server returns them), single objects, multi-document YAML, a
//! directory of such files (recursively, sorted), kubectl-upgrade snapshots, and `/version`
//! documents (`gitVersion`, troubleshoot's `info.gitVersion`, `kubectl version -o json`, the
//! snapshot header). What the server
//! cannot store is reported, never dropped silently.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::Value;

use crate::Cluster;

/// What a load read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The cluster built from the objects.
    pub cluster: Cluster,
    /// The server version the dump names, if any.
    pub git_version: Option<String>,
    /// Objects stored, per kind.
    pub stored: std::collections::BTreeMap<String, usize>,
    /// One line per object or file not stored, with the reason.
    pub skipped: Vec<String>,
}

/// Loads every path (files or directories).
pub fn load(paths: &[PathBuf]) -> Result<Loaded, String> {
    let mut out = Loaded::default();
    for p in paths {
        load_path(p, &mut out)?;
    }
    Ok(out)
}

fn load_path(path: &Path, out: &mut Loaded) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let is_dir = e.is_dir();
            let ext = e.extension().and_then(|x| x.to_str()).unwrap_or_default();
            if is_dir || matches!(ext, "json" | "yaml" | "yml") {
                load_path(&e, out)?;
            } else {
                out.skipped
                    .push(format!("{}: not .json/.yaml, not read", e.display()));
            }
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = path.display().to_string();
    let docs = parse_documents(&text).map_err(|e| format!("{source}: {e}"))?;
    for doc in docs {
        value(doc, None, &source, out);
    }
    Ok(())
}

/// JSON (one value or several concatenated) or multi-document YAML.
fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut docs = Vec::new();
        for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            docs.push(v.map_err(|e| format!("not JSON: {e}"))?);
        }
        return Ok(docs);
    }
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(d).map_err(|e| format!("not YAML: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn value(mut v: Value, kind_hint: Option<&str>, source: &str, out: &mut Loaded) {
    if let Value::Array(items) = v {
        for i in items {
            value(i, kind_hint, source, out);
        }
        return;
    }
    for ptr in [
        "/gitVersion",
        "/info/gitVersion",   // troubleshoot's cluster-info/cluster_version.json
        "/kubernetesversion", // rancher/support-bundle-kit's metadata.yaml
        "/serverVersion/gitVersion",
        "/kubectlUpgrade/serverVersion",
    ] {
        if let Some(g) = str_at(&v, ptr) {
            out.git_version.get_or_insert_with(|| g.to_string());
        }
    }
    let kind = str_at(&v, "/kind")
        .map(str::to_string)
        .or_else(|| kind_hint.map(str::to_string));
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        let items = std::mem::take(items);
        let hint = kind
            .as_deref()
            .and_then(|k| k.strip_suffix("List"))
            .filter(|k| !k.is_empty());
        for i in items {
            value(i, hint, source, out);
        }
        return;
    }
    let Some(kind) = kind else {
        if v.get("gitVersion").is_none()
            && v.get("serverVersion").is_none()
            && v.pointer("/info/gitVersion").is_none()
            && v.get("kubernetesversion").is_none()
        {
            out.skipped
                .push(format!("{source}: a document without kind, not read"));
        }
        return;
    };
    let api_version = str_at(&v, "/apiVersion").unwrap_or_default().to_string();
    let name = format!(
        "{kind} {}{}",
        str_at(&v, "/metadata/namespace")
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        str_at(&v, "/metadata/name").unwrap_or("?")
    );
    let stored = match kind.as_str() {
        "Node" => serde_json::from_value::<Node>(v).map(|o| out.cluster.add_node(o)),
        "Pod" => serde_json::from_value::<Pod>(v).map(|o| out.cluster.add_pod(o)),
        "PodDisruptionBudget" => {
            let mut v = v;
            if api_version == "policy/v1beta1" {
                v["apiVersion"] = Value::from("policy/v1");
                out.skipped.push(format!(
                    "{source}: {name} is policy/v1beta1: stored as policy/v1"
                ));
            }
            serde_json::from_value::<PodDisruptionBudget>(v).map(|o| out.cluster.add_pdb(o))
        }
        "ConfigMap" => serde_json::from_value::<ConfigMap>(v).map(|o| out.cluster.add_configmap(o)),
        "Namespace" => serde_json::from_value::<Namespace>(v).map(|o| {
            if let Some(n) = o.metadata.name {
                out.cluster.add_namespace(&n);
            }
        }),
        "DaemonSet" | "ReplicaSet" | "StatefulSet" => {
            out.skipped.push(format!(
                "{source}: {name} not stored: workloads are served from their pods' owner references"
            ));
            return;
        }
        other if !api_version.is_empty() => {
            // Served read-only at its own version (see `Cluster::add_object`).
            let mut v = v;
            v["kind"] = Value::from(other);
            out.cluster.add_object(&api_version, &plural(other), v);
            Ok(())
        }
        other => {
            out.skipped.push(format!(
                "{source}: {name} not stored: kind {other} without apiVersion"
            ));
            return;
        }
    };
    match stored {
        Ok(()) => *out.stored.entry(kind).or_insert(0) += 1,
        Err(e) => out
            .skipped
            .push(format!("{source}: {name} not stored: {e}")),
    }
}

/// The plural resource name of a kind, as the API conventions form it (`Ingress` ->
/// `ingresses`, `NetworkPolicy` -> `networkpolicies`, `Secret` -> `secrets`).
pub fn plural(kind: &str) -> String {
    let k = kind.to_lowercase();
    if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        format!("{k}es")
    } else if let Some(stem) = k
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_without_item_kinds_yaml_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("nodes.json"),
            r#"{"kind":"NodeList","apiVersion":"v1","items":[{"metadata":{"name":"n1"}}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("more.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec: {nodeName: n1, containers: []}\n---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: b, namespace: default}\nspec: {minAvailable: 1}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("version.json"),
            r#"{"gitVersion":"v1.29.4"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("README.txt"), "hi").unwrap();
        let l = load(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(l.git_version.as_deref(), Some("v1.29.4"));
        assert_eq!(l.stored.get("Node"), Some(&1));
        assert_eq!(l.stored.get("Pod"), Some(&1));
        assert_eq!(l.stored.get("PodDisruptionBudget"), Some(&1));
        assert!(l.cluster.node("n1").is_some());
        let skipped = l.skipped.join("\n");
        assert!(
            !skipped.contains("Secret"),
            "other kinds are stored generically: {skipped}"
        );
        assert_eq!(l.stored.get("Secret"), Some(&1));
        for (k, p) in [
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Secret", "secrets"),
            ("Gateway", "gateways"),
        ] {
            assert_eq!(plural(k), p);
        }
        assert!(skipped.contains("policy/v1beta1"), "{skipped}");
        assert!(skipped.contains("README.txt"), "{skipped}");
    }

    #[test]
    fn unreadable_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.json");
        std::fs::write(&f, "{not json").unwrap();
        assert!(load(&[f]).unwrap_err().contains("not JSON"));
        assert!(load(&[dir.path().join("missing")]).is_err());
    }
}
