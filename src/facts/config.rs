//! How components are configured, as far as upgrades care: the command-line flags a
//! component is started with and the feature gates it sets, from wherever they are visible:
//! a control-plane static pod (kubeadm clusters show them as mirror pods) or its manifest on
//! disk, kubeadm's ClusterConfiguration `extraArgs`, the kube-proxy and kubelet
//! configuration files (`featureGates`). Flag values are never kept, only their names (a
//! value may be a secret); feature gates are names and booleans. Pure.

use serde::Serialize;
use serde_json::Value;

/// One component's configuration, from one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentConfig {
    /// `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`, `kube-proxy`, `kubelet`.
    pub component: String,
    /// Where it was read: `pod kube-system/NAME`, `kubeadm-config apiServer.extraArgs`,
    /// `kube-proxy ConfigMap`, `kubelet-config ConfigMap`, `file:PATH`.
    pub source: String,
    /// Flag names with their dashes (`--insecure-port`).
    pub flags: Vec<String>,
    /// Feature gates set, with the value given.
    pub gates: Vec<(String, bool)>,
    /// The component's version where the source tells it (a static pod's image tag,
    /// kubeadm's `kubernetesVersion`): where a plan from files alone starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The components whose flags the data judges, by the name their binary has.
pub const COMPONENTS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
];

/// `A=true,B=false` (the `--feature-gates` value); malformed entries are skipped.
pub fn parse_gates(value: &str) -> Vec<(String, bool)> {
    value
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let v = v.trim().parse::<bool>().ok()?;
            Some((k.trim().to_string(), v))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// From a command line (`command` then `args`): `--flag`, `--flag=value`, `--flag value`;
/// the binary itself and positional words are skipped.
pub fn from_args<'a>(
    component: &str,
    source: impl Into<String>,
    words: impl IntoIterator<Item = &'a str>,
) -> ComponentConfig {
    let mut flags: Vec<String> = Vec::new();
    let mut gates = Vec::new();
    let mut next_is_gates = false;
    for w in words {
        if next_is_gates {
            gates.extend(parse_gates(w));
            next_is_gates = false;
            continue;
        }
        let Some(rest) = w.strip_prefix("--") else {
            continue;
        };
        let (name, value) = match rest.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (rest, None),
        };
        if name.is_empty() {
            continue;
        }
        if name == "feature-gates" {
            match value {
                Some(v) => gates.extend(parse_gates(v)),
                None => next_is_gates = true,
            }
        }
        let flag = format!("--{name}");
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    ComponentConfig {
        component: component.to_string(),
        source: source.into(),
        flags,
        gates,
        version: None,
    }
}

/// A `featureGates` map (`{A: true, B: false}`) of a component configuration file.
pub fn gates_of_map(v: Option<&Value>) -> Vec<(String, bool)> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_bool()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The component a pod (or a static pod manifest) runs, by its `component` label or its
/// container's name, and the command line of that container.
pub fn of_pod(p: &Value, source: impl Into<String>) -> Option<ComponentConfig> {
    let labels = p.pointer("/metadata/labels");
    let by_label = labels
        .and_then(|l| l.get("component").or_else(|| l.get("k8s-app")))
        .and_then(Value::as_str)
        .filter(|c| COMPONENTS.contains(c));
    let containers = p.pointer("/spec/containers")?.as_array()?;
    let (component, container) = containers.iter().find_map(|c| {
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
        match by_label {
            Some(l) if name == l || containers.len() == 1 => Some((l.to_string(), c)),
            Some(_) => None,
            None => COMPONENTS.contains(&name).then(|| (name.to_string(), c)),
        }
    })?;
    let words = ["command", "args"]
        .iter()
        .flat_map(|k| c_words(container, k))
        .collect::<Vec<_>>();
    let mut c = from_args(&component, source, words.iter().map(String::as_str));
    c.version = container
        .get("image")
        .and_then(Value::as_str)
        .and_then(|i| i.rsplit_once(':'))
        .map(|(_, tag)| tag.to_string())
        .filter(|t| t.starts_with('v'));
    Some(c)
}

fn c_words(c: &Value, key: &str) -> Vec<String> {
    c.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// What of a command line a snapshot keeps: each flag's name, and the `--feature-gates`
/// value (gate names and booleans); no other value (it may be a secret).
pub fn reduced_args<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let c = from_args("", "", words);
    let mut out: Vec<String> = c
        .flags
        .into_iter()
        .filter(|f| f != "--feature-gates")
        .collect();
    if !c.gates.is_empty() {
        let gates: Vec<String> = c.gates.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(format!("--feature-gates={}", gates.join(",")));
    }
    out
}

/// kubeadm's ClusterConfiguration: each component's `extraArgs` (v1beta3 a map, v1beta4 a list
/// of `{name, value}`), as configurations of those components.
pub fn of_kubeadm(cluster_config: &Value, source: &str) -> Vec<ComponentConfig> {
    let mut out = Vec::new();
    for (key, component) in [
        ("apiServer", "kube-apiserver"),
        ("controllerManager", "kube-controller-manager"),
        ("scheduler", "kube-scheduler"),
    ] {
        let Some(extra) = cluster_config.get(key).and_then(|c| c.get("extraArgs")) else {
            continue;
        };
        let pairs: Vec<(String, String)> = match extra {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|e| {
                    Some((
                        e.get("name")?.as_str()?.to_string(),
                        e.get("value")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect(),
            _ => continue,
        };
        let words: Vec<String> = pairs.iter().map(|(k, v)| format!("--{k}={v}")).collect();
        let mut c = from_args(
            component,
            format!("{source} {key}.extraArgs"),
            words.iter().map(String::as_str),
        );
        c.version = cluster_config
            .get("kubernetesVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        if !c.flags.is_empty() {
            out.push(c);
        }
    }
    out
}

/// A component configuration file given with `--file`: a static pod manifest, kubeadm's
/// ClusterConfiguration, a KubeletConfiguration or a KubeProxyConfiguration.
pub fn of_file(doc: &Value, source: &str) -> Vec<ComponentConfig> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let gates = |component: &str| {
        let gates = gates_of_map(doc.get("featureGates"));
        (!gates.is_empty())
            .then(|| ComponentConfig {
                component: component.into(),
                source: source.into(),
                flags: vec![],
                gates,
                version: None,
            })
            .into_iter()
            .collect()
    };
    match kind {
        "Pod" => of_pod(doc, source).into_iter().collect(),
        "ClusterConfiguration" => of_kubeadm(doc, source),
        "KubeletConfiguration" => gates("kubelet"),
        "KubeProxyConfiguration" => gates("kube-proxy"),
        _ => vec![],
    }
}

/// What kube-system's ConfigMaps say of components: kubeadm's ClusterConfiguration
/// `extraArgs`, kube-proxy's and the kubelet's `featureGates`.
pub fn of_configmap(cm: &k8s_openapi::api::core::v1::ConfigMap) -> Vec<ComponentConfig> {
    let m = &cm.metadata;
    if m.namespace.as_deref() != Some("kube-system") {
        return vec![];
    }
    let doc = |key: &str| -> Option<Value> {
        let text = cm.data.as_ref()?.get(key)?;
        let y: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
        serde_json::to_value(y).ok()
    };
    let gates_only = |component: &str, key: &str, source: &str| {
        let gates = gates_of_map(doc(key).as_ref().and_then(|d| d.get("featureGates")));
        (!gates.is_empty()).then(|| ComponentConfig {
            component: component.into(),
            source: source.into(),
            flags: vec![],
            gates,
            version: None,
        })
    };
    match m.name.as_deref() {
        Some("kubeadm-config") => doc("ClusterConfiguration")
            .map(|d| of_kubeadm(&d, "ConfigMap kube-system/kubeadm-config"))
            .unwrap_or_default(),
        Some("kube-proxy") => gates_only(
            "kube-proxy",
            "config.conf",
            "ConfigMap kube-system/kube-proxy",
        )
        .into_iter()
        .collect(),
        Some("kubelet-config") => {
            gates_only("kubelet", "kubelet", "ConfigMap kube-system/kubelet-config")
                .into_iter()
                .collect()
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_lines_give_flag_names_and_gates_never_values() {
        let c = from_args(
            "kube-apiserver",
            "pod x",
            [
                "kube-apiserver",
                "--insecure-port=0",
                "--oidc-client-secret=hunter2",
                "--feature-gates=EphemeralContainers=true,Broken,X=maybe",
                "--v",
                "4",
                "--feature-gates",
                "SidecarContainers=false",
            ],
        );
        assert_eq!(
            c.flags,
            [
                "--insecure-port",
                "--oidc-client-secret",
                "--feature-gates",
                "--v"
            ]
        );
        assert_eq!(
            c.gates,
            [
                ("EphemeralContainers".to_string(), true),
                ("SidecarContainers".to_string(), false)
            ]
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn static_pods_and_kubeadm_extra_args() {
        let pod = json!({
            "metadata": {"name": "kube-apiserver-cp-1", "namespace": "kube-system", "labels": {"component": "kube-apiserver"}},
            "spec": {"containers": [{"name": "kube-apiserver", "command": ["kube-apiserver", "--insecure-port=0", "--secure-port=6443"]}]},
        });
        let c = of_pod(&pod, "pod kube-system/kube-apiserver-cp-1").expect("a component");
        assert_eq!((c.component.as_str(), c.flags.len()), ("kube-apiserver", 2));
        // Without labels (a manifest on disk), by the container's name.
        let mut bare = pod.clone();
        bare["metadata"]["labels"] = json!({});
        assert!(of_pod(&bare, "file:m.yaml").is_some());
        assert!(of_pod(&json!({"spec": {"containers": [{"name": "nginx"}]}}), "x").is_none());
        // v1beta3 map, v1beta4 list.
        let v3 = json!({"apiServer": {"extraArgs": {"insecure-port": "0"}}, "scheduler": {"extraArgs": {"feature-gates": "EphemeralContainers=true"}}});
        let got = of_kubeadm(&v3, "kubeadm-config");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].flags, ["--insecure-port"]);
        assert_eq!(got[1].gates, [("EphemeralContainers".to_string(), true)]);
        let v4 = json!({"controllerManager": {"extraArgs": [{"name": "port", "value": "0"}]}});
        assert_eq!(of_kubeadm(&v4, "kubeadm-config")[0].flags, ["--port"]);
    }
}
