//! Objects of any other kind (Ingresses, FlowSchemas, CRDs, Secrets, Deployments, ...),
//! stored as JSON and served read-only at every version registered for their resource:
//! get, list (paged, label selectors, `metadata.name`/`metadata.namespace`/`type` field
//! selectors) and metadata-only lists (`Accept: ...;as=PartialObjectMetadataList`).
//! A version registered as deprecated answers with the `Warning: 299` header and counts in
//! `apiserver_requested_deprecated_apis`, as the real server does.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::selectors::{FieldSel, LabelSel};
use crate::status::ApiError;

/// One stored resource: its kind, scope, served versions and objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Resource {
    pub kind: String,
    pub namespaced: bool,
    /// Version -> removed release ("" when not deprecated).
    pub versions: BTreeMap<String, Option<String>>,
    /// (namespace or "", name) -> object.
    pub objects: BTreeMap<(String, String), Value>,
    /// Deprecated versions whose type names no replacement (the real warning then has no
    /// "; use ..." part, e.g. resource.k8s.io/v1beta1 DeviceClass in 1.37).
    pub no_replacement: std::collections::BTreeSet<String>,
}

/// Every generic resource, by (group, plural resource).
pub(crate) type Store = BTreeMap<(String, String), Resource>;

/// What a read of a deprecated version must add to its answer.
pub(crate) struct Deprecated {
    pub warning: String,
    /// (group, version, resource, removed_release) for the metric.
    pub metric: (String, String, String, String),
}

/// The deprecation warning of (group, version, resource), if registered so.
pub(crate) fn deprecation(
    store: &Store,
    group: &str,
    version: &str,
    resource: &str,
) -> Option<Deprecated> {
    let r = store.get(&(group.to_string(), resource.to_string()))?;
    let removed = r.versions.get(version)?.clone()?;
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    // The newest other served version is the suggestion, as the real warning names one when
    // the type declares a replacement.
    let instead = r
        .versions
        .iter()
        .filter(|(v, dep)| v.as_str() != version && dep.is_none())
        .map(|(v, _)| v.clone())
        .next_back()
        .filter(|_| !r.no_replacement.contains(version));
    let mut warning = format!(
        "{gv} {} is deprecated in v{}+, unavailable in v{removed}+",
        r.kind,
        removed_minus_3(&removed)
    );
    if let Some(i) = instead {
        let igv = if group.is_empty() {
            i
        } else {
            format!("{group}/{i}")
        };
        warning.push_str(&format!("; use {igv} {}", r.kind));
    }
    Some(Deprecated {
        warning,
        metric: (
            group.to_string(),
            version.to_string(),
            resource.to_string(),
            removed,
        ),
    })
}

/// Beta APIs are deprecated three minors before removal (the deprecation policy's maximum);
/// the warning says so when nothing else is known.
fn removed_minus_3(removed: &str) -> String {
    match removed.split_once('.') {
        Some((maj, min)) => match min.parse::<u64>() {
            Ok(m) if m >= 3 => format!("{maj}.{}", m - 3),
            _ => removed.to_string(),
        },
        None => removed.to_string(),
    }
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn field_of(o: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => o
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string),
        "metadata.namespace" => o
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string),
        "type" => o.get("type").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Query of a generic list.
pub(crate) struct ListQuery<'a> {
    pub ns: Option<&'a str>,
    pub label: &'a str,
    pub field: &'a str,
    pub limit: Option<usize>,
    pub cont: Option<&'a str>,
    pub meta_only: bool,
    pub rv: u64,
}

/// A list page. The continue token is the last key (hex) of the page: pages are consistent
/// only while the resource does not change, which is all the scans need (documented).
pub(crate) fn list(
    r: &Resource,
    group: &str,
    version: &str,
    q: &ListQuery,
) -> Result<Value, ApiError> {
    let label = LabelSel::parse(q.label).map_err(ApiError::bad_request)?;
    let field = FieldSel::parse(q.field).map_err(ApiError::bad_request)?;
    for f in &field.0 {
        if !["metadata.name", "metadata.namespace", "type"].contains(&f.field.as_str()) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                f.field
            )));
        }
    }
    let after: Option<(String, String)> = match q.cont {
        Some(c) => Some(
            serde_json::from_str(c).map_err(|_| ApiError::bad_request("invalid continue token"))?,
        ),
        None => None,
    };
    let api = api_version(group, version);
    let mut items = Vec::new();
    let mut next = None;
    for ((ns, name), o) in &r.objects {
        if q.ns.is_some_and(|want| want != ns) {
            continue;
        }
        if after.as_ref().is_some_and(|a| (ns, name) <= (&a.0, &a.1)) {
            continue;
        }
        let labels: Option<BTreeMap<String, String>> = o
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok());
        if !label.matches(labels.as_ref()) || !field.matches(|f| field_of(o, f)) {
            continue;
        }
        if q.limit.is_some_and(|l| items.len() >= l) {
            next = Some(serde_json::to_string(&items_key(&items)).unwrap_or_default());
            break;
        }
        let item = if q.meta_only {
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o.get("metadata")})
        } else {
            // Items of a list carry no kind or apiVersion (the list has them), as the real
            // server writes them.
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            o
        };
        items.push(item);
    }
    let mut meta = json!({"resourceVersion": q.rv.to_string()});
    if let Some(c) = next {
        meta["continue"] = json!(c);
    }
    Ok(if q.meta_only {
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta, "items": items})
    } else {
        json!({"apiVersion": api, "kind": format!("{}List", r.kind), "metadata": meta, "items": items})
    })
}

fn items_key(items: &[Value]) -> (String, String) {
    let last = items.last();
    let s = |p: &str| {
        last.and_then(|o| o.pointer(p))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// One object at `version`.
pub(crate) fn get(
    r: &Resource,
    group: &str,
    version: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<Value> {
    let mut o = r
        .objects
        .get(&(ns.unwrap_or_default().to_string(), name.to_string()))?
        .clone();
    o["apiVersion"] = json!(api_version(group, version));
    o["kind"] = json!(r.kind);
    Some(o)
}

/// `/metrics` in the text exposition format: the deprecated-API gauge.
pub(crate) fn metrics(requested: &BTreeMap<(String, String, String, String), u64>) -> String {
    let mut out = String::from(
        "# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.\n# TYPE apiserver_requested_deprecated_apis gauge\n",
    );
    for (g, v, r, removed) in requested.keys() {
        out.push_str(&format!(
            "apiserver_requested_deprecated_apis{{group=\"{g}\",removed_release=\"{removed}\",resource=\"{r}\",subresource=\"\",version=\"{v}\"}} 1\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> Resource {
        let mut r = Resource {
            kind: "FlowSchema".into(),
            namespaced: false,
            ..Default::default()
        };
        r.versions.insert("v1".into(), None);
        r.versions.insert("v1beta3".into(), Some("1.32".into()));
        for n in ["a", "b", "c"] {
            r.objects.insert(
                (String::new(), n.into()),
                json!({"metadata": {"name": n, "labels": {"x": n}}, "spec": {}}),
            );
        }
        r
    }

    #[test]
    fn pages_selectors_and_metadata_only() {
        let r = resource();
        let q = |limit, cont, meta_only| ListQuery {
            ns: None,
            label: "",
            field: "",
            limit,
            cont,
            meta_only,
            rv: 7,
        };
        let p1 = list(
            &r,
            "flowcontrol.apiserver.k8s.io",
            "v1",
            &q(Some(2), None, false),
        )
        .unwrap();
        assert_eq!(p1["items"].as_array().unwrap().len(), 2);
        assert_eq!(p1["apiVersion"], "flowcontrol.apiserver.k8s.io/v1");
        // Items carry no kind or apiVersion, as the real server's.
        assert!(p1["items"][0].get("apiVersion").is_none());
        assert!(p1["items"][0].get("kind").is_none());
        let c = p1["metadata"]["continue"].as_str().unwrap().to_string();
        let p2 = list(
            &r,
            "flowcontrol.apiserver.k8s.io",
            "v1",
            &q(Some(2), Some(&c), true),
        )
        .unwrap();
        assert_eq!(p2["kind"], "PartialObjectMetadataList");
        assert_eq!(p2["items"][0]["metadata"]["name"], "c");
        assert!(p2["items"][0].get("spec").is_none());
        let sel = ListQuery {
            label: "x=b",
            ..q(None, None, false)
        };
        assert_eq!(
            list(&r, "g", "v1", &sel).unwrap()["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let bad = ListQuery {
            field: "spec.x=1",
            ..q(None, None, false)
        };
        assert_eq!(list(&r, "g", "v1", &bad).unwrap_err().code, 400);
    }

    #[test]
    fn deprecated_versions_warn_like_the_real_server() {
        let mut s = Store::new();
        s.insert(
            ("flowcontrol.apiserver.k8s.io".into(), "flowschemas".into()),
            resource(),
        );
        let d = deprecation(&s, "flowcontrol.apiserver.k8s.io", "v1beta3", "flowschemas").unwrap();
        assert_eq!(
            d.warning,
            "flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema is deprecated in v1.29+, unavailable in v1.32+; use flowcontrol.apiserver.k8s.io/v1 FlowSchema"
        );
        assert!(deprecation(&s, "flowcontrol.apiserver.k8s.io", "v1", "flowschemas").is_none());
        let mut m = BTreeMap::new();
        m.insert(d.metric, 1);
        assert!(metrics(&m).contains("apiserver_requested_deprecated_apis{group=\"flowcontrol.apiserver.k8s.io\",removed_release=\"1.32\",resource=\"flowschemas\",subresource=\"\",version=\"v1beta3\"} 1"));
    }
}
