//! Snapshot files: read a Kubernetes `List` (our own `kubectl upgrade snapshot` output or a
//! plain `kubectl get nodes,pods,pdb,cm -A -o json`) item by item, never holding the whole
//! file; and write one, streaming, with pods stripped to the fields `check` reads (no env,
//! no secrets, no managedFields).

use super::Reducer;
use crate::exit::{CliError, Code};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Node, Pod, PodCondition, PodSpec, PodStatus, Volume,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{BufReader, Read, Write};
use std::path::Path;

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

/// Read a snapshot file (`-` is standard input) into a reducer: JSON as `kubectl upgrade
/// snapshot` or `kubectl get ... -o json` writes it (streamed), or the same List as YAML
/// (`kubectl get ... -o yaml`). Errors name the file and the line/column; an empty file and a
/// file without nodes are said as such.
pub fn read_file(path: &Path) -> Result<Reducer, CliError> {
    let stdin = path.as_os_str() == "-";
    let name = if stdin {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let input: Box<dyn Read> =
        if stdin {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(path).map_err(|e| {
                CliError::new(Code::Usage, format!("cannot open snapshot {name}: {e}"))
            })?)
        };
    let mut input = BufReader::with_capacity(1 << 16, input);
    let first = first_byte(&mut input)
        .map_err(|e| CliError::usage(format!("cannot read snapshot {name}: {e}")))?;
    let source = format!("snapshot {}", if stdin { "-" } else { name.as_str() });
    let in_file = |e: CliError| CliError::new(Code::Usage, format!("{name}: {}", e.message));
    let reducer = match first {
        None => {
            return Err(CliError::usage(format!(
                "snapshot {name} is empty; write one with `kubectl upgrade snapshot > FILE`"
            )))
        }
        Some(b'{') | Some(b'[') => read(input, &source).map_err(in_file)?,
        Some(_) => {
            let mut text = String::new();
            input
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read snapshot {name}: {e}")))?;
            let value: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| {
                CliError::usage(format!(
                    "{name}: neither JSON nor YAML: {}",
                    crate::client::connect::one_line(&e.to_string())
                ))
            })?;
            let json =
                serde_json::to_vec(&value).map_err(|e| CliError::usage(format!("{name}: {e}")))?;
            read(json.as_slice(), &source).map_err(in_file)?
        }
    };
    if reducer.node_count() == 0 {
        return Err(CliError::usage(format!(
            "snapshot {name} holds no nodes: check needs them; capture with `kubectl upgrade snapshot` or `kubectl get nodes,pods,pdb,cm -A -o json`"
        )));
    }
    Ok(reducer)
}

/// The first non-whitespace byte, left unread; `None` at end of input.
fn first_byte(input: &mut impl std::io::BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                input.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

/// Read a snapshot from any reader. `source` describes it in the report.
pub fn read(reader: impl Read, source: &str) -> Result<Reducer, CliError> {
    let mut reducer = Reducer::new(source);
    let mut meta = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let seed = ListSeed {
        reducer: &mut reducer,
        meta: &mut meta,
        saw_items: false,
    };
    let outcome = seed
        .deserialize(&mut de)
        .and_then(|saw_items| de.end().map(|_| saw_items));
    match outcome {
        Ok(true) => {}
        Ok(false) => {
            return Err(CliError::usage(
                "not a Kubernetes List: no \"items\" field; produce one with `kubectl upgrade snapshot` or `kubectl get nodes,pods,pdb,cm -A -o json`",
            ))
        }
        Err(e) => return Err(CliError::usage(describe_json_error(&e))),
    }
    let meta: SnapshotMeta = meta.unwrap_or_default();
    match meta.server_version {
        Some(v) => reducer.set_server_version(v),
        None => reducer.note(
            "snapshot has no server version (plain kubectl list): the apiserver version is taken from its pods' images",
        ),
    }
    reducer.set_kubectl_version(meta.kubectl_version);
    for n in meta.notes {
        reducer.note(n);
    }
    Ok(reducer)
}

fn describe_json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON".to_string(),
        serde_json::error::Category::Syntax => "invalid JSON".to_string(),
        _ => "unexpected content".to_string(),
    };
    // serde_json's Display already ends with "at line L column C"; keep one line.
    let detail = crate::client::connect::one_line(&e.to_string());
    format!(
        "{what} at line {} column {}: {detail}",
        e.line(),
        e.column()
    )
}

struct ListSeed<'a> {
    reducer: &'a mut Reducer,
    meta: &'a mut Option<SnapshotMeta>,
    saw_items: bool,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes List object")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<bool, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => {
                    map.next_value_seed(ItemsSeed {
                        reducer: self.reducer,
                    })?;
                    self.saw_items = true;
                }
                META_FIELD => *self.meta = Some(map.next_value()?),
                "kind" => {
                    let kind: String = map.next_value()?;
                    if !kind.ends_with("List") {
                        return Err(de::Error::custom(format!(
                            "expected a List, found a single {kind}: use `kubectl get ... -o json` on a resource type, not one object"
                        )));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(self.saw_items)
    }
}

struct ItemsSeed<'a> {
    reducer: &'a mut Reducer,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Kubernetes objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<serde_json::Value>()? {
            feed(self.reducer, item).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// Hand one object to the reducer by its `kind`; other kinds are ignored.
fn feed(reducer: &mut Reducer, item: serde_json::Value) -> Result<(), String> {
    let kind = item
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let name = item
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or("?")
        .to_string();
    let bad = |e: serde_json::Error| format!("malformed {kind} {name}: {e}");
    match kind.as_str() {
        "Node" => reducer.node(serde_json::from_value::<Node>(item).map_err(bad)?),
        "Pod" => reducer.pod(serde_json::from_value::<Pod>(item).map_err(bad)?),
        "PodDisruptionBudget" => {
            reducer.pdb(serde_json::from_value::<PodDisruptionBudget>(item).map_err(bad)?)
        }
        "ConfigMap" => reducer.configmap(serde_json::from_value::<ConfigMap>(item).map_err(bad)?),
        _ => {}
    }
    Ok(())
}

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
    fn single_object_is_refused() {
        let err = read(r#"{"kind":"Node","metadata":{}}"#.as_bytes(), "t")
            .err()
            .unwrap();
        assert!(err.message.contains("expected a List"), "{}", err.message);
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
