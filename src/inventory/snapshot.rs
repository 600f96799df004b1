//! Snapshot files: written streaming, every object stripped to the fields `check` reads, so
//! a snapshot can be attached to a ticket: no annotations but ours and kubeadm's marker, no
//! addresses, machine/system/boot ids, images list, env, commands or args, no kubeadm
//! configuration but its `kubernetesVersion`, no kube-proxy configuration but its `mode`
//! (the README's "What a snapshot contains" lists every field). Reading them (and every other
//! dump) is [`super::ingest`].

use crate::facts::apiusage::{CrdFacts, Usage, UsageSource};
use crate::facts::webhook::AdmissionObject;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Node, Pod, PodCondition, PodSpec, PodStatus,
    ResourceRequirements, Volume,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::io::Write;

/// Extra top-level field our snapshots carry beside `items`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotMeta {
    /// `/version` gitVersion of the apiserver the snapshot was taken from.
    pub server_version: Option<String>,
    /// `kubectl version --client` of the machine that took it.
    pub kubectl_version: Option<String>,
    /// RFC 3339 time the snapshot was taken.
    pub captured_at: Option<String>,
    /// Notes the live reader made (e.g. apiserver pods hidden).
    #[serde(default)]
    pub notes: Vec<String>,
    /// API usages with no object in the snapshot (Helm releases, the API server's metric).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usages: Vec<UsageRecord>,
    /// Deployed Helm releases' charts (`--helm`): their kubeVersion constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helm_charts: Vec<crate::facts::helm::ChartFacts>,
    /// The connection's certificates as read when the snapshot was taken (their ends of
    /// validity are judged against the day of the offline check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<crate::facts::cert::CertFacts>,
}

/// A usage as the snapshot header keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecord {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// `helm:NS/RELEASE` or `metric`.
    pub source: String,
}

impl UsageRecord {
    pub fn from_usage(u: &Usage) -> UsageRecord {
        UsageRecord {
            api_version: u.api_version.clone(),
            kind: u.kind.clone(),
            namespace: u.namespace.clone(),
            name: u.name.clone(),
            source: u.source.label(),
        }
    }

    /// Back to a usage; `None` for a source this version does not know.
    pub fn to_usage(&self) -> Option<Usage> {
        let source = match self.source.as_str() {
            "metric" => UsageSource::Metric,
            "lastApplied" => UsageSource::LastApplied,
            "managedFields" => UsageSource::ManagedFields,
            "storedVersions" => UsageSource::StoredVersions,
            s => match (s.strip_prefix("helm:"), s.strip_prefix("file:")) {
                (Some(r), _) => UsageSource::Helm(r.to_string()),
                (_, Some(f)) => UsageSource::File(f.to_string()),
                _ => return None,
            },
        };
        Some(Usage {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
            rewritten: None,
        })
    }
}

/// Name of the top-level field holding [`SnapshotMeta`].
pub const META_FIELD: &str = "kubectlUpgrade";

/// Streams a snapshot `List` to a writer, one item at a time.
pub struct SnapshotWriter<W: Write> {
    out: W,
    first: bool,
    /// Usages without an object, written into the header at `finish`.
    usages: Vec<UsageRecord>,
    /// Helm charts, written into the header at `finish`.
    charts: Vec<crate::facts::helm::ChartFacts>,
}

impl<W: Write> SnapshotWriter<W> {
    pub fn begin(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n")?;
        Ok(SnapshotWriter {
            out,
            first: true,
            usages: Vec::new(),
            charts: Vec::new(),
        })
    }

    fn item<T: Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, value)?;
        Ok(())
    }

    pub fn node(&mut self, node: &Node) -> std::io::Result<()> {
        self.item(&tagged("v1", "Node", &strip_node(node)))
    }

    pub fn pod(&mut self, pod: &Pod) -> std::io::Result<()> {
        self.item(&tagged("v1", "Pod", &strip_pod(pod)))
    }

    pub fn pdb(&mut self, pdb: &PodDisruptionBudget) -> std::io::Result<()> {
        let mut pdb = pdb.clone();
        // Only the API versions it was written with (for the removed-API scan).
        let reduced = crate::facts::apiusage::reduce_meta(&pdb.metadata);
        pdb.metadata.managed_fields = reduced.managed_fields;
        pdb.metadata.annotations = reduced.annotations;
        self.item(&tagged("policy/v1", "PodDisruptionBudget", &pdb))
    }

    pub fn configmap(&mut self, cm: &ConfigMap) -> std::io::Result<()> {
        match strip_configmap(cm) {
            Some(cm) => self.item(&tagged("v1", "ConfigMap", &cm)),
            None => Ok(()),
        }
    }

    /// An object the API scan read, with its metadata already reduced.
    pub fn api_object(
        &mut self,
        kind: &str,
        served: &str,
        meta: &ObjectMeta,
    ) -> std::io::Result<()> {
        self.item(&serde_json::json!({"apiVersion": served, "kind": kind, "metadata": meta}))
    }

    /// A CRD, as the reduced object `crd_facts` reads back.
    pub fn crd(&mut self, c: &CrdFacts) -> std::io::Result<()> {
        let versions: Vec<serde_json::Value> = c
            .versions
            .iter()
            .map(|v| serde_json::json!({"name": v.name, "served": v.served, "storage": v.storage, "deprecated": v.deprecated}))
            .collect();
        self.item(&serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": c.name},
            "spec": {"group": c.group, "names": {"kind": c.kind}, "versions": versions},
            "status": {"storedVersions": c.stored_versions},
        }))
    }

    /// What the webhook check reads: webhook configurations without their CA bundles,
    /// EndpointSlices and Namespaces as listed (metadata reduced).
    pub fn admission(&mut self, o: &AdmissionObject) -> std::io::Result<()> {
        let clean = |m: &ObjectMeta| ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            labels: m.labels.clone(),
            ..ObjectMeta::default()
        };
        match o {
            AdmissionObject::Validating(c) => {
                let mut c = c.clone();
                c.metadata = clean(&c.metadata);
                for w in c.webhooks.iter_mut().flatten() {
                    strip_client(&mut w.client_config);
                }
                let kind = "ValidatingWebhookConfiguration";
                self.item(&tagged("admissionregistration.k8s.io/v1", kind, &c))
            }
            AdmissionObject::Mutating(c) => {
                let mut c = c.clone();
                c.metadata = clean(&c.metadata);
                for w in c.webhooks.iter_mut().flatten() {
                    strip_client(&mut w.client_config);
                }
                let kind = "MutatingWebhookConfiguration";
                self.item(&tagged("admissionregistration.k8s.io/v1", kind, &c))
            }
            AdmissionObject::Slice(e) => {
                let mut e = e.clone();
                e.metadata = clean(&e.metadata);
                e.ports = None;
                // Where each endpoint runs and whether it is ready; not its addresses.
                for ep in e.endpoints.iter_mut().flatten() {
                    ep.addresses = vec![];
                    ep.hostname = None;
                    ep.hints = None;
                    ep.deprecated_topology = None;
                }
                self.item(&tagged("discovery.k8s.io/v1", "EndpointSlice", &e))
            }
            AdmissionObject::Namespace(n) => {
                let n = Namespace {
                    metadata: clean(&n.metadata),
                    ..Namespace::default()
                };
                self.item(&tagged("v1", "Namespace", &n))
            }
        }
    }

    pub fn helm_chart(&mut self, c: crate::facts::helm::ChartFacts) {
        self.charts.push(c);
    }

    pub fn usage(&mut self, u: &Usage) {
        self.usages.push(UsageRecord::from_usage(u));
    }

    pub fn finish(mut self, meta: &SnapshotMeta) -> std::io::Result<W> {
        let mut meta = meta.clone();
        meta.usages.extend(std::mem::take(&mut self.usages));
        meta.helm_charts.extend(std::mem::take(&mut self.charts));
        self.out.write_all(b"\n],\"")?;
        self.out.write_all(META_FIELD.as_bytes())?;
        self.out.write_all(b"\":")?;
        serde_json::to_writer(&mut self.out, &meta)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A webhook's client configuration as shared: no CA bundle, and a URL (which may carry
/// credentials) only as the fact that there is one.
fn strip_client(c: &mut k8s_openapi::api::admissionregistration::v1::WebhookClientConfig) {
    c.ca_bundle = None;
    if c.url.is_some() {
        c.url = Some("https://redacted.invalid/".into());
    }
}

fn tagged<T: Serialize>(api_version: &str, kind: &str, obj: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(obj).unwrap_or(serde_json::Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.insert("apiVersion".into(), api_version.into());
        map.insert("kind".into(), kind.into());
    }
    v
}

/// Keep only what `check` reads of a node ([`crate::facts::node::NodeFacts::from_node`] with
/// the reducer's labels): name and uid; role and setup-detection labels; the progress record
/// and kubeadm's marker annotation; unschedulable, taints and the providerID's scheme;
/// allocatable, the Ready condition and the versions, runtime, OS and architecture.
pub fn strip_node(node: &Node) -> Node {
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo};
    let m = &node.metadata;
    let labels = m.labels.as_ref().map(|l| {
        l.iter()
            .filter(|(k, _)| crate::inventory::reduce::keep_node_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    let annotations = m.annotations.as_ref().and_then(|a| {
        let kept: std::collections::BTreeMap<String, String> = a
            .iter()
            .filter(|(k, _)| {
                k.as_str() == crate::facts::progress::ANNOTATION
                    || k.as_str() == crate::facts::node::KUBEADM_ANNOTATION
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!kept.is_empty()).then_some(kept)
    });
    let spec = node.spec.as_ref().map(|s| NodeSpec {
        unschedulable: s.unschedulable,
        taints: s.taints.clone(),
        provider_id: s.provider_id.as_deref().map(provider_scheme),
        ..NodeSpec::default()
    });
    #[allow(deprecated)]
    let status = node.status.as_ref().map(|s| NodeStatus {
        allocatable: s.allocatable.clone(),
        conditions: s.conditions.as_ref().map(|cs| {
            cs.iter()
                .filter(|c| c.type_ == "Ready")
                .map(|c| NodeCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    ..NodeCondition::default()
                })
                .collect()
        }),
        node_info: s.node_info.as_ref().map(|i| NodeSystemInfo {
            kubelet_version: i.kubelet_version.clone(),
            kube_proxy_version: i.kube_proxy_version.clone(),
            container_runtime_version: i.container_runtime_version.clone(),
            os_image: i.os_image.clone(),
            kernel_version: i.kernel_version.clone(),
            architecture: i.architecture.clone(),
            operating_system: i.operating_system.clone(),
            ..NodeSystemInfo::default()
        }),
        ..NodeStatus::default()
    });
    Node {
        metadata: ObjectMeta {
            name: m.name.clone(),
            uid: m.uid.clone(),
            labels,
            annotations,
            ..ObjectMeta::default()
        },
        spec,
        status,
    }
}

/// What setup detection reads of a providerID: its scheme (`aws://`, `gce://`), and k3d's
/// name prefix; the rest (account, project, zone, instance) is left out.
fn provider_scheme(pid: &str) -> String {
    match pid.split_once("://") {
        Some((scheme, rest)) if rest.starts_with("k3d-") => format!("{scheme}://k3d-"),
        Some((scheme, _)) => format!("{scheme}://"),
        None => String::new(),
    }
}

/// The ConfigMaps `check` reads, reduced to what it reads: kubeadm-config's
/// `kubernetesVersion` and kube-proxy's `mode`. Any other ConfigMap: `None` (not written).
pub fn strip_configmap(cm: &ConfigMap) -> Option<ConfigMap> {
    let m = &cm.metadata;
    if m.namespace.as_deref() != Some("kube-system") {
        return None;
    }
    let (key, field) = match m.name.as_deref() {
        Some("kubeadm-config") => ("ClusterConfiguration", "kubernetesVersion"),
        Some("kube-proxy") => ("config.conf", "mode"),
        Some("kubelet-config") => ("kubelet", ""),
        _ => return None,
    };
    let doc = cm
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(text).ok());
    let mut kept = serde_json::Map::new();
    if let Some(v) = doc
        .as_ref()
        .and_then(|v| v.get(field).and_then(|f| f.as_str()))
    {
        kept.insert(field.to_string(), v.into());
    }
    // Feature gates (names and booleans) and kubeadm's extraArgs by name: what the flag and
    // gate check reads; every other value stays out (it may be a secret).
    if let Some(g) = doc.as_ref().and_then(|v| v.get("featureGates")) {
        if let Ok(g) = serde_json::to_value(g) {
            kept.insert("featureGates".into(), g);
        }
    }
    if m.name.as_deref() == Some("kubeadm-config") {
        if let Some(d) = doc.as_ref().and_then(|d| serde_json::to_value(d).ok()) {
            for c in crate::facts::config::of_kubeadm(&d, "") {
                let key = match c.component.as_str() {
                    "kube-apiserver" => "apiServer",
                    "kube-controller-manager" => "controllerManager",
                    _ => "scheduler",
                };
                let args: Vec<serde_json::Value> = crate::facts::config::reduced_args(
                    c.flags
                        .iter()
                        .filter(|f| *f != "--feature-gates")
                        .map(String::as_str),
                )
                .into_iter()
                .chain((!c.gates.is_empty()).then(|| {
                    let g: Vec<String> = c.gates.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("--feature-gates={}", g.join(","))
                }))
                .map(|a| {
                    let (name, value) = a
                        .trim_start_matches("--")
                        .split_once('=')
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .unwrap_or((a.trim_start_matches("--").to_string(), String::new()));
                    serde_json::json!({"name": name, "value": value})
                })
                .collect();
                kept.insert(key.into(), serde_json::json!({ "extraArgs": args }));
            }
        }
    }
    let text = serde_json::Value::Object(kept).to_string();
    Some(ConfigMap {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            ..ObjectMeta::default()
        },
        data: Some([(key.to_string(), text)].into()),
        ..ConfigMap::default()
    })
}

/// Keep only what `check` and the drain preview read from a pod.
pub fn strip_pod(pod: &Pod) -> Pod {
    let m = &pod.metadata;
    let annotations = m.annotations.as_ref().and_then(|a| {
        let kept: std::collections::BTreeMap<String, String> = a
            .iter()
            .filter(|(k, _)| k.as_str() == crate::facts::pod::MIRROR_ANNOTATION)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!kept.is_empty()).then_some(kept)
    });
    // Images tell the versions of control-plane components; other pods' images stay out.
    let component = crate::facts::pod::component_of(pod).is_some();
    let spec = pod.spec.as_ref().map(|s| PodSpec {
        node_name: s.node_name.clone(),
        containers: s
            .containers
            .iter()
            .map(|c| Container {
                name: c.name.clone(),
                image: c.image.clone().filter(|_| component),
                // A component's flag names and feature gates (no value: it may be a secret).
                args: component
                    .then(|| {
                        crate::facts::config::reduced_args(
                            c.command
                                .iter()
                                .flatten()
                                .chain(c.args.iter().flatten())
                                .map(String::as_str),
                        )
                    })
                    .filter(|a| !a.is_empty()),
                // Requests only: what the drain preview's capacity check adds up.
                resources: c.resources.as_ref().and_then(|r| {
                    r.requests.as_ref().map(|req| ResourceRequirements {
                        requests: Some(req.clone()),
                        ..ResourceRequirements::default()
                    })
                }),
                ..Container::default()
            })
            .collect(),
        volumes: s.volumes.as_ref().map(|vs| {
            vs.iter()
                .filter(|v| v.empty_dir.is_some())
                .map(|v| Volume {
                    name: v.name.clone(),
                    empty_dir: v.empty_dir.clone(),
                    ..Volume::default()
                })
                .collect()
        }),
        ..PodSpec::default()
    });
    Pod {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            labels: m.labels.clone(),
            annotations,
            owner_references: m.owner_references.clone(),
            deletion_timestamp: m.deletion_timestamp.clone(),
            ..ObjectMeta::default()
        },
        spec,
        // The phase and the Ready condition: the Eviction API's admission reads both.
        status: pod.status.as_ref().map(|s| PodStatus {
            phase: s.phase.clone(),
            conditions: s.conditions.as_ref().map(|cs| {
                cs.iter()
                    .filter(|c| c.type_ == "Ready")
                    .map(|c| PodCondition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        ..PodCondition::default()
                    })
                    .collect()
            }),
            ..PodStatus::default()
        }),
    }
}
