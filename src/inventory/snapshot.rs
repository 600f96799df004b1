//! Snapshot files: written streaming, with pods stripped to the fields `check` reads (no
//! env, no secrets, no managedFields). Reading them (and every other dump) is
//! [`super::ingest`].

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Node, Pod, PodCondition, PodSpec, PodStatus, Volume,
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
}

/// Name of the top-level field holding [`SnapshotMeta`].
pub const META_FIELD: &str = "kubectlUpgrade";

/// Streams a snapshot `List` to a writer, one item at a time.
pub struct SnapshotWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> SnapshotWriter<W> {
    pub fn begin(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n")?;
        Ok(SnapshotWriter { out, first: true })
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
        pdb.metadata.managed_fields = None;
        self.item(&tagged("policy/v1", "PodDisruptionBudget", &pdb))
    }

    pub fn configmap(&mut self, cm: &ConfigMap) -> std::io::Result<()> {
        let mut cm = cm.clone();
        cm.metadata.managed_fields = None;
        self.item(&tagged("v1", "ConfigMap", &cm))
    }

    pub fn finish(mut self, meta: &SnapshotMeta) -> std::io::Result<W> {
        self.out.write_all(b"\n],\"")?;
        self.out.write_all(META_FIELD.as_bytes())?;
        self.out.write_all(b"\":")?;
        serde_json::to_writer(&mut self.out, meta)?;
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
