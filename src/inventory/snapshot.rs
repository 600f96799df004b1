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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Code;
    use crate::inventory::ingest::read;
    use crate::inventory::Reducer;

    const LIST: &str = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"shop","labels":{"app":"web"},
        "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-x","uid":"u","controller":true}]},
        "spec":{"nodeName":"n1","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}},
      {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"node-role.kubernetes.io/control-plane":""}},
        "status":{"nodeInfo":{"kubeletVersion":"v1.30.2","kubeProxyVersion":"","containerRuntimeVersion":"containerd://1.7","osImage":"Ubuntu","kernelVersion":"6.1","architecture":"amd64","operatingSystem":"linux","machineID":"","systemUUID":"","bootID":""},
        "conditions":[{"type":"Ready","status":"True"}]}},
      {"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web","namespace":"shop"},
        "spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}},"status":{"currentHealthy":1,"desiredHealthy":1,"expectedPods":1,"disruptionsAllowed":0}},
      {"apiVersion":"v1","kind":"Service","metadata":{"name":"ignored"}}
    ],"kubectlUpgrade":{"serverVersion":"v1.30.2"}}"#;

    #[test]
    fn reads_a_list_and_matches_pdbs_given_after_pods() {
        let inv = read(LIST.as_bytes(), "test").map(Reducer::finish).unwrap();
        assert_eq!(inv.server_version.as_deref(), Some("v1.30.2"));
        assert_eq!(inv.nodes.len(), 1);
        assert!(inv.nodes[0].is_control_plane());
        assert!(inv.nodes[0].ready);
        // The ReplicaSet pod is evictable under PDB 0 alone: counted, not kept.
        assert_eq!(inv.pods_seen, 1);
        assert!(inv.pods.is_empty());
        assert_eq!(
            inv.covered,
            [crate::facts::inventory::CoveredPods {
                node: "n1".into(),
                pdb: 0,
                pods: 1
            }]
        );
        assert_eq!(inv.pdbs[0].disruptions_allowed, 0);
    }

    #[test]
    fn truncated_file_names_the_position() {
        let cut = &LIST[..LIST.len() / 2];
        let err = read(cut.as_bytes(), "test").err().unwrap();
        assert_eq!(err.code, Code::Usage);
        assert!(
            err.message.contains("truncated JSON at line"),
            "{}",
            err.message
        );
    }

    #[test]
    fn corrupt_file_names_the_position() {
        let bad = LIST.replacen("\"kind\":\"Pod\",", "\"kind\":\"Pod\",,", 1);
        let err = read(bad.as_bytes(), "test").err().unwrap();
        assert!(
            err.message.contains("invalid JSON at line 2"),
            "{}",
            err.message
        );
    }

    #[test]
    fn writer_round_trips_and_strips_secrets() {
        let inv_in = read(LIST.as_bytes(), "t").map(Reducer::finish).unwrap();
        let mut pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"p","namespace":"a","managedFields":[{"manager":"x"}]},
               "spec":{"nodeName":"n1","containers":[{"name":"c","image":"i","env":[{"name":"PASSWORD","value":"hunter2"}]}]},
               "status":{"phase":"Running","podIP":"10.0.0.1"}}"#,
        )
        .unwrap();
        pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        let mut w = SnapshotWriter::begin(Vec::new()).unwrap();
        w.pod(&pod).unwrap();
        let bytes = w
            .finish(&SnapshotMeta {
                server_version: Some("v1.30.2".into()),
                ..SnapshotMeta::default()
            })
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("managedFields"));
        assert!(!text.contains("10.0.0.1"));
        let inv = read(text.as_bytes(), "t").map(Reducer::finish).unwrap();
        assert_eq!(inv.pods.len(), 1);
        assert_eq!(inv.server_version, inv_in.server_version);
    }
}
