//! Old `kubectl cluster-info dump` releases wrote the apiserver's *internal* types, not the v1
//! API: lists as `{"selfLink", "resourceVersion", "Items": [...]}`, each object's metadata
//! inline at its top (`name`, `namespace`, `labels`, ...) and `Spec` / `Status` with Go field
//! names (`NodeInfo.KubeletVersion`, `OSImage`, `PodCIDR`). The corpus holds two real dumps in
//! this shape (kubectl 1.8 in 2017, 1.13 in 2019; kubernetes/kubernetes#65221 is the same
//! internal `core.NodeList` surfacing as an error in 1.11). This module rewrites such an object
//! into its v1 JSON so the one reader ([`super::ingest`]) handles it; pure.

use serde_json::{Map, Value};

/// A list in the internal shape: `Items` with a capital and no `kind`.
pub fn is_internal_list(map: &Map<String, Value>) -> bool {
    map.contains_key("Items") && !map.contains_key("items") && !map.contains_key("kind")
}

/// One internal object as v1 JSON: lower-case metadata keys move under `metadata`, `Spec` and
/// `Status` (and everything below them) get their v1 field names.
pub fn to_v1(item: Value) -> Value {
    let Value::Object(map) = item else {
        return item;
    };
    let mut meta = Map::new();
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "Spec" => {
                out.insert("spec".into(), fields(v, ""));
            }
            "Status" => {
                out.insert("status".into(), fields(v, ""));
            }
            _ if k.starts_with(|c: char| c.is_ascii_lowercase()) => {
                meta.insert(k, v);
            }
            _ => {
                out.insert(json_name(&k), fields(v, &k));
            }
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    Value::Object(out)
}

/// Maps keyed by data (labels, resource quantities, ...) keep their keys; struct fields are
/// renamed. v1's `DaemonEndpoint` is the one struct whose JSON name stayed `Port`.
fn fields(v: Value, parent: &str) -> Value {
    match v {
        Value::Object(map) => {
            let data_keys = matches!(
                parent,
                "Capacity"
                    | "Allocatable"
                    | "Limits"
                    | "Requests"
                    | "NodeSelector"
                    | "Labels"
                    | "Annotations"
                    | "MatchLabels"
            );
            let renamed = map
                .into_iter()
                .map(|(k, v)| {
                    let name = if data_keys || (parent == "KubeletEndpoint" && k == "Port") {
                        k.clone()
                    } else {
                        json_name(&k)
                    };
                    (name, fields(v, &k))
                })
                .collect();
            Value::Object(renamed)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|i| fields(i, parent)).collect()),
        other => other,
    }
}

/// A Go field name as its JSON name: the leading run of capitals is lower-cased, but for its
/// last letter when a lower-case letter follows (`OSImage` -> `osImage`, `PodCIDR` ->
/// `podCIDR`, `HTTPGet` -> `httpGet`, `TTY` -> `tty`, `ImageID` -> `imageID`).
fn json_name(go: &str) -> String {
    let chars: Vec<char> = go.chars().collect();
    let run = chars.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let lower = if run == chars.len() || run <= 1 {
        run
    } else {
        run - 1
    };
    let lower = lower.max(1).min(chars.len());
    chars[..lower]
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .chain(chars[lower..].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_field_names_become_json_names() {
        for (go, json) in [
            ("OSImage", "osImage"),
            ("PodCIDR", "podCIDR"),
            ("KubeletVersion", "kubeletVersion"),
            ("HTTPGet", "httpGet"),
            ("TTY", "tty"),
            ("ImageID", "imageID"),
            ("QOSClass", "qosClass"),
            ("HostIP", "hostIP"),
            ("SELinuxOptions", "seLinuxOptions"),
            ("Phase", "phase"),
            ("nodeName", "nodeName"),
        ] {
            assert_eq!(json_name(go), json, "{go}");
        }
    }

    #[test]
    fn an_internal_node_reads_as_a_v1_node() {
        let internal = serde_json::json!({
            "name": "k8s-master1",
            "selfLink": "/api/v1/nodes/k8s-master1",
            "labels": {"node-role.kubernetes.io/master": "", "Team": "A"},
            "Spec": {"PodCIDR": "10.244.0.0/24", "Unschedulable": true, "Taints": null},
            "Status": {
                "Capacity": {"cpu": "4", "pods": "110"},
                "Conditions": [{"Type": "Ready", "Status": "Unknown"}],
                "DaemonEndpoints": {"KubeletEndpoint": {"Port": 10250}},
                "NodeInfo": {"KubeletVersion": "v1.8.1", "OSImage": "CentOS Linux 7 (Core)",
                             "ContainerRuntimeVersion": "docker://Unknown", "MachineID": "m",
                             "SystemUUID": "u", "BootID": "b", "KernelVersion": "k",
                             "KubeProxyVersion": "v1.8.1", "OperatingSystem": "linux",
                             "Architecture": "amd64"}
            }
        });
        let node: k8s_openapi::api::core::v1::Node =
            serde_json::from_value(to_v1(internal)).unwrap();
        assert_eq!(node.metadata.name.as_deref(), Some("k8s-master1"));
        assert_eq!(node.metadata.labels.unwrap()["Team"], "A");
        let spec = node.spec.unwrap();
        assert_eq!(spec.unschedulable, Some(true));
        let status = node.status.unwrap();
        assert_eq!(status.node_info.unwrap().kubelet_version, "v1.8.1");
        assert_eq!(status.conditions.unwrap()[0].status, "Unknown");
        assert_eq!(
            status
                .daemon_endpoints
                .unwrap()
                .kubelet_endpoint
                .unwrap()
                .port,
            10250
        );
        assert!(is_internal_list(
            serde_json::json!({"selfLink": "/api/v1/nodes", "Items": []})
                .as_object()
                .unwrap()
        ));
    }
}
