//! Discovery (`/api`, `/apis`, the resource lists) and `/version`.

use super::*;

// ----- discovery ----------------------------------------------------------------------------

pub(super) fn api_resource(
    name: &str,
    singular: &str,
    namespaced: bool,
    kind: &str,
    verbs: &[&str],
    short: &[&str],
) -> Value {
    let mut v = json!({
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !short.is_empty() {
        v["shortNames"] = json!(short);
    }
    v
}

pub(super) const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
pub(super) const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

pub(super) fn discovery(sh: &Shared, path: &str) -> Option<Value> {
    let group = |name: &str| {
        json!({
            "name": name,
            "versions": [ { "groupVersion": format!("{name}/v1"), "version": "v1" } ],
            "preferredVersion": { "groupVersion": format!("{name}/v1"), "version": "v1" },
        })
    };
    Some(match path.trim_end_matches('/') {
        "/version" => version_info(&sh.git_version),
        "/healthz" | "/livez" | "/readyz" => return Some(Value::String("ok".into())),
        "/api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [ {
                "clientCIDR": "0.0.0.0/0",
                "serverAddress": format!("127.0.0.1:{}", sh.port.load(Ordering::Relaxed)),
            } ],
        }),
        "/api/v1" => {
            let mut pod = api_resource("pods", "pod", true, "Pod", ALL_VERBS, &["po"]);
            pod["categories"] = json!(["all"]);
            let mut eviction =
                api_resource("pods/eviction", "", true, "Eviction", &["create"], &[]);
            eviction["group"] = json!("policy");
            eviction["version"] = json!("v1");
            json!({
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [
                    api_resource("configmaps", "configmap", true, "ConfigMap", ALL_VERBS, &["cm"]),
                    api_resource("namespaces", "namespace", false, "Namespace", &["create", "delete", "get", "list", "patch", "update", "watch"], &["ns"]),
                    api_resource("namespaces/status", "", false, "Namespace", STATUS_VERBS, &[]),
                    api_resource("nodes", "node", false, "Node", ALL_VERBS, &["no"]),
                    api_resource("nodes/status", "", false, "Node", STATUS_VERBS, &[]),
                    pod,
                    eviction,
                    api_resource("pods/status", "", true, "Pod", STATUS_VERBS, &[]),
                ],
            })
        }
        "/apis" => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [ group("apps"), group("coordination.k8s.io"), group("policy") ],
        }),
        "/apis/apps" => {
            let mut g = group("apps");
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        }
        "/apis/coordination.k8s.io" => {
            let mut g = group("coordination.k8s.io");
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        }
        "/apis/coordination.k8s.io/v1" => json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "coordination.k8s.io/v1",
            "resources": [
                api_resource("leases", "lease", true, "Lease", ALL_VERBS, &[]),
            ],
        }),
        "/apis/policy" => {
            let mut g = group("policy");
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        }
        "/apis/apps/v1" => json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "apps/v1",
            "resources": [
                api_resource("daemonsets", "daemonset", true, "DaemonSet", &["get"], &["ds"]),
                api_resource("replicasets", "replicaset", true, "ReplicaSet", &["get"], &["rs"]),
                api_resource("statefulsets", "statefulset", true, "StatefulSet", &["get"], &["sts"]),
            ],
        }),
        "/apis/policy/v1" => json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "policy/v1",
            "resources": [
                api_resource("poddisruptionbudgets", "poddisruptionbudget", true, "PodDisruptionBudget", ALL_VERBS, &["pdb"]),
                api_resource("poddisruptionbudgets/status", "", true, "PodDisruptionBudget", STATUS_VERBS, &[]),
            ],
        }),
        _ => return None,
    })
}

pub(super) fn version_info(git_version: &str) -> Value {
    let core = git_version.trim_start_matches('v');
    let mut it = core.split(['.', '-', '+']);
    let major = it.next().unwrap_or("1").to_string();
    let minor = it.next().unwrap_or("0").to_string();
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-06-17T18:30:00Z",
        "goVersion": "go1.24.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
