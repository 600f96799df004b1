//! Where an API version is in use: the one reducer of an object to the API versions that
//! would be sent for it again (its last-applied configuration, each field manager's
//! apiVersion, a manifest's own apiVersion), and of CRDs to their stored versions. Pure.

use serde::Serialize;
use serde_json::Value;

/// Where a usage was found (the JSON `source` field).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UsageSource {
    /// `kubectl.kubernetes.io/last-applied-configuration` (client-side apply).
    LastApplied,
    /// `metadata.managedFields[].apiVersion` (server-side apply, controllers, kubectl edit).
    ManagedFields,
    /// The latest deployed revision of Helm release `NAMESPACE/RELEASE`.
    Helm(String),
    /// A manifest on disk.
    File(String),
    /// The API server's `apiserver_requested_deprecated_apis` gauge.
    Metric,
    /// A CRD's `status.storedVersions`.
    StoredVersions,
}

impl UsageSource {
    pub fn label(&self) -> String {
        match self {
            UsageSource::LastApplied => "lastApplied".into(),
            UsageSource::ManagedFields => "managedFields".into(),
            UsageSource::Helm(r) => format!("helm:{r}"),
            UsageSource::File(p) => format!("file:{p}"),
            UsageSource::Metric => "metric".into(),
            UsageSource::StoredVersions => "storedVersions".into(),
        }
    }
}

impl Serialize for UsageSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// One object (or request stream) using `api_version` for `kind`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usage {
    /// `group/version`, or `version` for the core group.
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub source: UsageSource,
    /// A last-applied annotation or field manager entry the object has since been written
    /// past: a later managedFields entry through another version (kube-no-trouble#662,
    /// pluto#495: false alarms for objects rewritten at a current version).
    pub rewritten: Option<Rewritten>,
}

/// A later write of an object through another API version, from its managedFields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rewritten {
    pub api_version: String,
    pub manager: String,
    /// RFC 3339, as the entry says.
    pub time: String,
}

/// The manager kubectl's client-side apply records its writes under (with the annotation).
const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";

/// The latest managedFields entry through another version than `api`, written after the
/// latest write through `api` (by `manager` when given and present, else by anyone).
fn rewritten_after(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    api: &str,
    manager: Option<&str>,
) -> Option<Rewritten> {
    let entries: Vec<_> = meta.managed_fields.iter().flatten().collect();
    let through = |by: Option<&str>| {
        entries
            .iter()
            .filter(|e| e.api_version.as_deref() == Some(api))
            .filter(|e| by.is_none_or(|m| e.manager.as_deref() == Some(m)))
            .filter_map(|e| e.time.as_ref().map(|t| t.0))
            .max()
    };
    let since = manager
        .and_then(|m| through(Some(m)))
        .or_else(|| through(None))?;
    entries
        .iter()
        .filter(|e| e.api_version.as_deref().is_some_and(|v| v != api))
        .filter_map(|e| Some((e.time.as_ref()?.0, e)))
        .filter(|(t, _)| *t > since)
        .max_by_key(|(t, _)| *t)
        .map(|(t, e)| Rewritten {
            api_version: e.api_version.clone().unwrap_or_default(),
            manager: e.manager.clone().unwrap_or_default(),
            time: t.to_string(),
        })
}

/// `apps/v1` from `("apps", "v1")`, `v1` from `("", "v1")`: the inverse of
/// [`split_api_version`].
pub fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `("apps", "v1")` from `apps/v1`, `("", "v1")` from `v1`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
}

/// The usages an object returned by the API server carries: its last-applied apiVersion and
/// its field managers' apiVersions, each once, leaving out `served` (the version it was read
/// with, which says nothing about what clients send).
pub fn from_server_object(
    kind: &str,
    served: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Vec<Usage> {
    let mut out: Vec<Usage> = Vec::new();
    let mut add = |api: &str, source: UsageSource| {
        if api.is_empty() || api == served {
            return;
        }
        if out
            .iter()
            .any(|u| u.api_version == api && u.source == source)
        {
            return;
        }
        let rewritten = match source {
            UsageSource::LastApplied => rewritten_after(meta, api, Some(CLIENT_SIDE_APPLY)),
            _ => rewritten_after(meta, api, None),
        };
        out.push(Usage {
            api_version: api.to_string(),
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            source,
            rewritten,
        });
    };
    if let Some(text) = meta.annotations.as_ref().and_then(|a| a.get(LAST_APPLIED)) {
        if let Ok(t) = serde_json::from_str::<TypeMeta>(text) {
            add(&t.api_version, UsageSource::LastApplied);
        }
    }
    for mf in meta.managed_fields.iter().flatten() {
        if let Some(api) = &mf.api_version {
            add(api, UsageSource::ManagedFields);
        }
    }
    out
}

/// What of an object's metadata the API scan needs: name, namespace, the last-applied
/// annotation cut down to its apiVersion and kind, each field manager's apiVersion once.
/// Kept in snapshots instead of the object (no spec, no secrets).
pub fn reduce_meta(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
    let annotations = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(|text| serde_json::from_str::<TypeMeta>(text).ok())
        .map(|t| {
            [(
                LAST_APPLIED.to_string(),
                serde_json::json!({ "apiVersion": t.api_version }).to_string(),
            )]
            .into()
        });
    // Per apiVersion the latest entry, with its time (what tells a stale last-applied
    // annotation from a live one); the client-side apply manager's own entry too.
    let mut managers: Vec<ManagedFieldsEntry> = Vec::new();
    for mf in meta.managed_fields.iter().flatten() {
        let key = |m: &ManagedFieldsEntry| {
            (
                m.api_version.clone(),
                m.manager.as_deref() == Some(CLIENT_SIDE_APPLY),
            )
        };
        let entry = ManagedFieldsEntry {
            api_version: mf.api_version.clone(),
            manager: mf.manager.clone(),
            time: mf.time.clone(),
            ..Default::default()
        };
        match managers.iter_mut().find(|m| key(m) == key(mf)) {
            Some(m) if m.time < mf.time => *m = entry,
            Some(_) => {}
            None => managers.push(entry),
        }
    }
    ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        annotations,
        managed_fields: (!managers.is_empty()).then_some(managers),
        ..Default::default()
    }
}

/// A manifest (a document of a file or a Helm release): its own apiVersion and kind.
pub fn from_manifest(doc: &Value, source: UsageSource) -> Option<Usage> {
    let api = doc.get("apiVersion")?.as_str()?;
    let kind = doc.get("kind")?.as_str()?;
    if api.is_empty() || kind.is_empty() || kind.ends_with("List") {
        return None;
    }
    let meta = doc.get("metadata");
    let field = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Some(Usage {
        api_version: api.to_string(),
        kind: kind.to_string(),
        namespace: field("namespace"),
        name: field("name")
            .or_else(|| field("generateName"))
            .unwrap_or_default(),
        source,
        rewritten: None,
    })
}

/// A CRD, reduced to what storage migration needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdFacts {
    pub name: String,
    pub group: String,
    pub kind: String,
    /// `spec.versions[]`: name, served, storage, deprecated.
    pub versions: Vec<CrdVersion>,
    pub stored_versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdVersion {
    pub name: String,
    pub served: bool,
    pub storage: bool,
    pub deprecated: bool,
}

/// Reduces an `apiextensions.k8s.io/v1` CustomResourceDefinition (as JSON).
pub fn crd_facts(v: &Value) -> Option<CrdFacts> {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let versions = v
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|x| CrdVersion {
                    name: x
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    served: x.get("served").and_then(Value::as_bool).unwrap_or(false),
                    storage: x.get("storage").and_then(Value::as_bool).unwrap_or(false),
                    deprecated: x
                        .get("deprecated")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CrdFacts {
        name: s("/metadata/name")?,
        group: s("/spec/group").unwrap_or_default(),
        kind: s("/spec/names/kind").unwrap_or_default(),
        versions,
        stored_versions: v
            .pointer("/status/storedVersions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// `apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.32",resource="flowschemas",subresource="",version="v1beta3"} 1`
/// from a `/metrics` text exposition: (group/version, resource, removed_release) per sample.
pub fn deprecated_api_requests(metrics: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("apiserver_requested_deprecated_apis{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        if value.trim().parse::<f64>().map_or(true, |v| v <= 0.0) {
            continue;
        }
        let label = |name: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        let (Some(version), Some(resource)) = (label("version"), label("resource")) else {
            continue;
        };
        let group = label("group").unwrap_or_default();
        let api = join_api_version(&group, &version);
        out.push((api, resource, label("removed_release").unwrap_or_default()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    fn entry(api: &str, manager: &str, time: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            api_version: Some(api.into()),
            manager: Some(manager.into()),
            time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                time.parse().expect("time"),
            )),
            ..Default::default()
        }
    }

    #[test]
    fn a_later_write_through_another_version_makes_the_old_one_history() {
        let meta = |fields: Vec<ManagedFieldsEntry>| ObjectMeta {
            name: Some("web".into()),
            annotations: Some(
                [(
                    LAST_APPLIED.to_string(),
                    r#"{"apiVersion":"networking.k8s.io/v1beta1","kind":"Ingress"}"#.to_string(),
                )]
                .into(),
            ),
            managed_fields: Some(fields),
            ..Default::default()
        };
        let old = entry(
            "networking.k8s.io/v1beta1",
            CLIENT_SIDE_APPLY,
            "2021-03-01T10:00:00Z",
        );
        let edit = entry(
            "networking.k8s.io/v1",
            "kubectl-edit",
            "2023-05-01T10:00:00Z",
        );
        let u = from_server_object(
            "Ingress",
            "networking.k8s.io/v1",
            &meta(vec![old.clone(), edit.clone()]),
        );
        let rw = u[0].rewritten.clone().expect("stale");
        assert_eq!(
            (rw.api_version.as_str(), rw.manager.as_str()),
            ("networking.k8s.io/v1", "kubectl-edit")
        );
        assert!(u[1].rewritten.is_some(), "the manager entry is history too");
        // Applied again through v1beta1 after the edit: live.
        let again = entry(
            "networking.k8s.io/v1beta1",
            CLIENT_SIDE_APPLY,
            "2024-01-01T00:00:00Z",
        );
        let u = from_server_object(
            "Ingress",
            "networking.k8s.io/v1",
            &meta(vec![again, edit.clone()]),
        );
        assert!(u[0].rewritten.is_none());
        // Without times nothing is claimed.
        let timeless = ManagedFieldsEntry { time: None, ..old };
        let u = from_server_object(
            "Ingress",
            "networking.k8s.io/v1",
            &meta(vec![timeless, edit]),
        );
        assert!(u[0].rewritten.is_none());
        // A snapshot keeps what this needs.
        let reduced = reduce_meta(&meta(vec![
            entry(
                "networking.k8s.io/v1beta1",
                CLIENT_SIDE_APPLY,
                "2021-03-01T10:00:00Z",
            ),
            entry(
                "networking.k8s.io/v1",
                "kubectl-edit",
                "2023-05-01T10:00:00Z",
            ),
        ]));
        let u = from_server_object("Ingress", "networking.k8s.io/v1", &reduced);
        assert!(u[0].rewritten.is_some());
    }

    #[test]
    fn server_objects_yield_last_applied_and_managers_but_not_the_served_version() {
        let meta = ObjectMeta {
            name: Some("web".into()),
            namespace: Some("shop".into()),
            annotations: Some(
                [(
                    LAST_APPLIED.to_string(),
                    r#"{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"web"}}"#.to_string(),
                )]
                .into(),
            ),
            managed_fields: Some(vec![
                ManagedFieldsEntry {
                    api_version: Some("networking.k8s.io/v1beta1".into()),
                    manager: Some("helm".into()),
                    ..Default::default()
                },
                ManagedFieldsEntry {
                    api_version: Some("networking.k8s.io/v1".into()),
                    ..Default::default()
                },
                ManagedFieldsEntry {
                    api_version: Some("networking.k8s.io/v1beta1".into()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let u = from_server_object("Ingress", "networking.k8s.io/v1", &meta);
        let got: Vec<(&str, UsageSource)> = u
            .iter()
            .map(|u| (u.api_version.as_str(), u.source.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("extensions/v1beta1", UsageSource::LastApplied),
                ("networking.k8s.io/v1beta1", UsageSource::ManagedFields)
            ]
        );
        assert_eq!(u[0].namespace.as_deref(), Some("shop"));
        // Garbage in the annotation is no usage, not an error.
        let mut bad = meta.clone();
        bad.annotations = Some([(LAST_APPLIED.to_string(), "{not json".to_string())].into());
        bad.managed_fields = None;
        assert!(from_server_object("Ingress", "networking.k8s.io/v1", &bad).is_empty());
    }

    #[test]
    fn metric_samples() {
        let text = "# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.\n# TYPE apiserver_requested_deprecated_apis gauge\napiserver_requested_deprecated_apis{group=\"flowcontrol.apiserver.k8s.io\",removed_release=\"1.32\",resource=\"flowschemas\",subresource=\"\",version=\"v1beta3\"} 1\napiserver_requested_deprecated_apis{group=\"\",removed_release=\"\",resource=\"componentstatuses\",subresource=\"\",version=\"v1\"} 1\napiserver_requested_deprecated_apis{group=\"batch\",removed_release=\"1.25\",resource=\"cronjobs\",subresource=\"\",version=\"v1beta1\"} 0\napiserver_request_total{code=\"200\"} 5\n";
        assert_eq!(
            deprecated_api_requests(text),
            [
                (
                    "flowcontrol.apiserver.k8s.io/v1beta3".to_string(),
                    "flowschemas".to_string(),
                    "1.32".to_string()
                ),
                (
                    "v1".to_string(),
                    "componentstatuses".to_string(),
                    String::new()
                ),
            ]
        );
    }

    #[test]
    fn manifests_and_crds() {
        let doc = serde_json::json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "ops"}});
        let u = from_manifest(&doc, UsageSource::File("ci/cron.yaml".into())).unwrap();
        assert_eq!(
            (u.api_version.as_str(), u.kind.as_str(), u.name.as_str()),
            ("batch/v1beta1", "CronJob", "nightly")
        );
        assert_eq!(u.source.label(), "file:ci/cron.yaml");
        assert!(from_manifest(
            &serde_json::json!({"kind": "List", "apiVersion": "v1"}),
            UsageSource::Metric
        )
        .is_none());
        let crd = serde_json::json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true},
                                  {"name": "v1beta1", "served": false, "storage": false, "deprecated": true}]},
            "status": {"storedVersions": ["v1beta1", "v1"]}
        });
        let f = crd_facts(&crd).unwrap();
        assert_eq!(f.stored_versions, ["v1beta1", "v1"]);
        assert!(!f.versions[1].served && f.versions[1].deprecated);
    }
}
