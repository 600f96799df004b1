//! Text captures users paste into tickets and issue threads instead of YAML: the table of
//! `kubectl get nodes -o wide` (also with `-L` label columns such as `ARCH`) and the text of
//! `kubectl version`. Read into the same objects a dump holds, so `check` judges the kubelets,
//! runtimes and OS images they show. What a table cannot show (pods, PDBs, taints, labels
//! beyond roles) the report says it lacks. Pure: text in, objects out.

use k8s_openapi::api::core::v1::Node;
use serde_json::json;

/// The columns `kubectl get nodes -o wide` prints, and `-L` columns named for the label's
/// last path segment (`-L kubernetes.io/arch` prints `ARCH`).
const NODE_HEADER: [&str; 5] = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"];

/// Does the text hold a node table or `kubectl version` output?
pub fn is_capture(text: &str) -> bool {
    text.lines().any(|l| header_columns(l).is_some())
        || text
            .lines()
            .any(|l| l.trim_start().starts_with("Server Version:"))
}

/// The start (char index) and name of each column, when `line` is a node table's header.
fn header_columns(line: &str) -> Option<Vec<(usize, String)>> {
    let line = line.trim_end();
    if !line.starts_with("NAME") {
        return None;
    }
    let chars: Vec<char> = line.chars().collect();
    let mut cols = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != ' ' && (i == 0 || chars[i - 1] == ' ') {
            let end = (i..chars.len())
                .find(|&j| chars[j] == ' ')
                .unwrap_or(chars.len());
            cols.push((i, chars[i..end].iter().collect::<String>()));
            i = end;
        } else {
            i += 1;
        }
    }
    let names: Vec<&str> = cols.iter().map(|(_, n)| n.as_str()).collect();
    (names.len() >= NODE_HEADER.len() && names[..NODE_HEADER.len()] == NODE_HEADER).then_some(cols)
}

/// The cells of a row under `cols` (a cell runs from its column's start to the next's).
fn cells(row: &str, cols: &[(usize, String)]) -> Vec<String> {
    let chars: Vec<char> = row.trim_end().chars().collect();
    cols.iter()
        .enumerate()
        .map(|(i, (start, _))| {
            let end = cols
                .get(i + 1)
                .map_or(chars.len(), |(s, _)| (*s).min(chars.len()));
            chars
                .get((*start).min(chars.len())..end.max((*start).min(chars.len())))
                .map(|c| c.iter().collect::<String>().trim().to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// Every node of every node table in the text, as Node objects.
pub fn nodes(text: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut cols: Option<Vec<(usize, String)>> = None;
    for line in text.lines() {
        if let Some(h) = header_columns(line) {
            cols = Some(h);
            continue;
        }
        let Some(c) = cols.as_ref() else { continue };
        // A table ends at a blank line, a prompt or a line not starting with a name.
        if line.trim().is_empty() || line.starts_with([' ', '\t', '$', '#', '>']) {
            cols = None;
            continue;
        }
        let cell = cells(line, c);
        let get = |name: &str| {
            c.iter()
                .position(|(_, n)| n == name)
                .and_then(|i| cell.get(i))
                .filter(|v| !v.is_empty() && *v != "<none>" && *v != "<unknown>")
                .cloned()
        };
        let Some(name) = get("NAME") else { continue };
        if let Some(node) = node(&name, &get) {
            out.push(node);
        }
    }
    out
}

fn node(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Option<Node> {
    let status = get("STATUS").unwrap_or_default();
    let ready = match status.split(',').next().unwrap_or_default() {
        "Ready" => "True",
        "NotReady" => "False",
        _ => "Unknown",
    };
    let mut labels = serde_json::Map::new();
    for role in get("ROLES")
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
    {
        labels.insert(format!("node-role.kubernetes.io/{role}"), json!(""));
    }
    let os_image = get("OS-IMAGE").unwrap_or_default();
    // The table has no OS column: Windows names itself in the image.
    let os = if os_image.to_ascii_lowercase().contains("windows") {
        "windows"
    } else {
        "linux"
    };
    labels.insert("kubernetes.io/os".into(), json!(os));
    let arch = get("ARCH").unwrap_or_default();
    if !arch.is_empty() {
        labels.insert("kubernetes.io/arch".into(), json!(arch));
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": status.contains("SchedulingDisabled")},
        "status": {
            "conditions": [{"type": "Ready", "status": ready}],
            "nodeInfo": {
                "kubeletVersion": get("VERSION").unwrap_or_default(),
                "osImage": os_image,
                "kernelVersion": get("KERNEL-VERSION").unwrap_or_default(),
                "containerRuntimeVersion": get("CONTAINER-RUNTIME").unwrap_or_default(),
                "architecture": arch,
                "operatingSystem": os,
                "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""
            }
        }
    }))
    .ok()
}

/// `(server, client)` gitVersions from `kubectl version` text: `Server Version: v1.28.3`
/// (kubectl 1.28+) or `Server Version: version.Info{..., GitVersion:"v1.20.2", ...}`.
pub fn versions(text: &str) -> (Option<String>, Option<String>) {
    let of = |prefix: &str| {
        text.lines().find_map(|l| {
            let rest = l.trim_start().strip_prefix(prefix)?.trim();
            match rest.find("GitVersion:\"") {
                Some(i) => rest[i + 12..].split('"').next().map(str::to_string),
                None => rest.split_whitespace().next().map(str::to_string),
            }
        })
    };
    (of("Server Version:"), of("Client Version:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table as kubectl's tabwriter prints it (each column as wide as its widest cell plus
    /// three spaces; a value with spaces), after a prompt line, with `-L kubernetes.io/arch`.
    #[test]
    fn a_node_table_becomes_nodes() {
        let widths = [8, 30, 16, 6, 10, 14, 14, 28, 18, 22, 4];
        let row = |cells: [&str; 11]| {
            cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<String>()
                .trim_end()
                .to_string()
        };
        let text = [
            "$ kubectl get nodes -o wide -L kubernetes.io/arch".to_string(),
            row([
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
                "ARCH",
            ]),
            row([
                "cp-1",
                "Ready",
                "control-plane",
                "9d",
                "v1.32.1",
                "10.0.0.2",
                "<none>",
                "Ubuntu 24.04.1 LTS",
                "6.8.0-51",
                "containerd://1.7.27",
                "amd64",
            ]),
            row([
                "win-1",
                "NotReady,SchedulingDisabled",
                "<none>",
                "9d",
                "v1.31.4",
                "10.0.0.3",
                "<none>",
                "Windows Server Datacenter",
                "10.0.20348.2966",
                "containerd://1.7.20",
                "amd64",
            ]),
            String::new(),
            "$ echo done".to_string(),
        ]
        .join("\n");
        assert!(is_capture(&text));
        let n = nodes(&text);
        assert_eq!(n.len(), 2);
        let facts = |i: usize| crate::facts::node::NodeFacts::from_node(n[i].clone(), |_| true);
        let (cp, win) = (facts(0), facts(1));
        assert_eq!(
            (cp.name.as_str(), cp.kubelet_version.as_str()),
            ("cp-1", "v1.32.1")
        );
        assert!(cp.is_control_plane() && cp.ready && !cp.unschedulable);
        assert_eq!(cp.os_image, "Ubuntu 24.04.1 LTS");
        assert_eq!(cp.architecture, "amd64");
        assert!(!win.ready && win.unschedulable);
        assert_eq!(win.operating_system, "windows");
        assert_eq!(win.os_image, "Windows Server Datacenter");
        assert_eq!(win.container_runtime, "containerd://1.7.20");
    }

    #[test]
    fn kubectl_version_text_in_both_formats() {
        assert_eq!(
            versions("Client Version: v1.33.4\nKustomize Version: v5.6.0\nServer Version: v1.28.3+k3s1\n"),
            (Some("v1.28.3+k3s1".into()), Some("v1.33.4".into()))
        );
        let old = r#"Server Version: version.Info{Major:"1", Minor:"20", GitVersion:"v1.20.2", GitCommit:"faecb19"}"#;
        assert_eq!(versions(old).0.as_deref(), Some("v1.20.2"));
        assert!(!is_capture("apiVersion: v1\nkind: List\n"));
    }
}
