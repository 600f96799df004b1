//! Snapshot files: written streaming, with pods stripped to the fields `check` reads (no
//! env, no secrets, no managedFields). Reading them (and every other dump) is
//! [`super::ingest`].

use crate::facts::apiusage::{CrdFacts, Usage, UsageSource};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Node, Pod, PodCondition, PodSpec, PodStatus, ResourceRequirements, Volume,
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
}

impl<W: Write> SnapshotWriter<W> {
    pub fn begin(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n")?;
        Ok(SnapshotWriter {
            out,
            first: true,
            usages: Vec::new(),
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
        let mut node = node.clone();
        node.metadata.managed_fields = None;
        if let Some(status) = node.status.as_mut() {
            status.images = None;
        }
        self.item(&tagged("v1", "Node", &node))
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
        let mut cm = cm.clone();
        cm.metadata.managed_fields = None;
        self.item(&tagged("v1", "ConfigMap", &cm))
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

    pub fn usage(&mut self, u: &Usage) {
        self.usages.push(UsageRecord::from_usage(u));
    }

    pub fn finish(mut self, meta: &SnapshotMeta) -> std::io::Result<W> {
        let mut meta = meta.clone();
        meta.usages.extend(std::mem::take(&mut self.usages));
        self.out.write_all(b"\n],\"")?;
        self.out.write_all(META_FIELD.as_bytes())?;
        self.out.write_all(b"\":")?;
        serde_json::to_writer(&mut self.out, &meta)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()?;
        Ok(self.out)
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
    let spec = pod.spec.as_ref().map(|s| PodSpec {
        node_name: s.node_name.clone(),
        containers: s
            .containers
            .iter()
            .map(|c| Container {
                name: c.name.clone(),
                image: c.image.clone(),
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
