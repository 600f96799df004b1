//! The live API scan: where removed API versions are in use. Reads as little as it can:
//! metadata-only lists (paged) of the kinds data/apis.yaml names, through the version the
//! cluster serves; CRDs for their stored versions; the API server's
//! `apiserver_requested_deprecated_apis` gauge; kube-proxy's ConfigMap; and, with `--helm`,
//! the latest deployed revision of each Helm release. Every unanswerable part (403, 404)
//! becomes a note; nothing here fails the report except a broken connection.

use crate::client::connect::{api_error, Connection};
use crate::client::connect::{is_forbidden as forbidden, is_not_served as not_served};
use crate::client::error::ClientError;
use crate::client::paging::advance;
use crate::facts::apiusage::{self, Usage, UsageSource};
use crate::facts::helm;
use crate::inventory::live::{Object, Sink, PAGE_SIZE};
use crate::policy::apis::{ApiData, ScanTarget};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;

/// How many lists run at once.
const PARALLEL: usize = 6;

/// What one scanned kind gave: its objects (reduced), or why it was not read.
enum Listed {
    Objects(Vec<Object>),
    NotServed,
    Forbidden(String),
}

async fn list_target(conn: &Connection, t: &ScanTarget) -> Result<Listed, ClientError> {
    let gvk = GroupVersionKind::gvk(&t.group, &t.version, &t.kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, &t.resource);
    let served = ar.api_version.clone();
    let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), &ar);
    let mut lp = ListParams::default().limit(PAGE_SIZE);
    let mut out = Vec::new();
    loop {
        let page = match api.list_metadata(&lp).await {
            Ok(p) => p,
            Err(e) if not_served(&e) => return Ok(Listed::NotServed),
            Err(e) if forbidden(&e) => {
                return Ok(Listed::Forbidden(format!("{} {served}", t.resource)))
            }
            Err(e) => return Err(api_error(e, "list", &t.resource, None, &conn.description).into()),
        };
        for item in &page.items {
            let meta = apiusage::reduce_meta(&item.metadata);
            // Only objects that carry another version than the one read are worth keeping.
            if apiusage::from_server_object(&t.kind, &served, &meta).is_empty() {
                continue;
            }
            out.push(Object::Api {
                kind: t.kind.clone(),
                served: served.clone(),
                meta,
            });
        }
        if !advance(&mut lp, &page.metadata) {
            return Ok(Listed::Objects(out));
        }
    }
}

/// Runs the scan into `sink`; returns the notes to show.
pub async fn scan(
    conn: &Connection,
    data: &ApiData,
    helm: bool,
    sink: &mut dyn Sink,
) -> Result<Vec<String>, ClientError> {
    let mut notes = Vec::new();
    let current = crate::facts::version::parse(&conn.server_version)
        .map(|v| v.minor())
        .ok();

    // kube-proxy's mode (kubeadm and most self-managed clusters keep it in this ConfigMap).
    let cms: Api<ConfigMap> = Api::namespaced(conn.client.clone(), "kube-system");
    match cms.get_opt("kube-proxy").await {
        Ok(Some(cm)) => sink.object(Object::ConfigMap(cm))?,
        Ok(None) => {}
        Err(e) if forbidden(&e) => notes.push(
            "cannot read ConfigMap kube-system/kube-proxy (forbidden): its mode is not judged"
                .into(),
        ),
        Err(e) => {
            return Err(api_error(
                e,
                "get",
                "configmaps",
                Some("kube-system/kube-proxy"),
                &conn.description,
            )
            .into())
        }
    }

    // The kubelet's configuration as kubeadm keeps it (its feature gates).
    match cms.get_opt("kubelet-config").await {
        Ok(Some(cm)) => sink.object(Object::ConfigMap(cm))?,
        Ok(None) => {}
        Err(e) if forbidden(&e) => notes.push(
            "cannot read ConfigMap kube-system/kubelet-config (forbidden): the kubelet's feature gates are not judged"
                .into(),
        ),
        Err(e) => {
            return Err(api_error(
                e,
                "get",
                "configmaps",
                Some("kube-system/kubelet-config"),
                &conn.description,
            )
            .into())
        }
    }

    // Objects of the kinds with removals, metadata only.
    let targets = match current {
        Some(m) => data.scan_targets(m),
        None => Vec::new(),
    };
    let listed: Vec<Listed> = futures::stream::iter(targets.iter())
        .map(|t| list_target(conn, t))
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut denied = Vec::new();
    for l in listed {
        match l {
            Listed::Objects(objs) => {
                for o in objs {
                    sink.object(o)?;
                }
            }
            Listed::NotServed => {}
            Listed::Forbidden(what) => denied.push(what),
        }
    }
    if !denied.is_empty() {
        denied.sort();
        notes.push(format!(
            "cannot list {} (forbidden): their objects were not scanned for removed API versions; grant list on them (deploy/rbac.yaml)",
            crate::findings::bounded(&denied, crate::findings::NAMES_SHOWN)
        ));
    }

    // CRDs and their stored versions.
    let crd_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let crds: Api<DynamicObject> = Api::all_with(conn.client.clone(), &crd_ar);
    let mut lp = ListParams::default().limit(PAGE_SIZE);
    loop {
        match crds.list(&lp).await {
            Ok(page) => {
                for c in &page.items {
                    let v = serde_json::json!({
                        "metadata": {"name": c.metadata.name},
                        "spec": c.data.get("spec"),
                        "status": c.data.get("status"),
                    });
                    if let Some(f) = apiusage::crd_facts(&v) {
                        sink.object(Object::Crd(f))?;
                    }
                }
                if !advance(&mut lp, &page.metadata) {
                    break;
                }
            }
            Err(e) if forbidden(&e) => {
                notes.push("cannot list customresourcedefinitions (forbidden): CRD stored versions not checked".into());
                break;
            }
            Err(e) if not_served(&e) => break,
            Err(e) => {
                return Err(api_error(
                    e,
                    "list",
                    "customresourcedefinitions",
                    None,
                    &conn.description,
                )
                .into())
            }
        }
    }

    // The API server's own record of deprecated requests.
    notes.extend(metric(conn, data, sink).await?);

    if helm {
        notes.extend(helm_releases(conn, sink).await?);
    }
    Ok(notes)
}

async fn metric(
    conn: &Connection,
    data: &ApiData,
    sink: &mut dyn Sink,
) -> Result<Vec<String>, ClientError> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| ClientError::Request(format!("building GET /metrics: {e}")))?;
    let text = match conn.client.request_text(req).await {
        Ok(t) => t,
        Err(e) if forbidden(&e) || not_served(&e) => {
            return Ok(vec![
                "cannot read /metrics (forbidden): the API server's record of deprecated API requests was not read; grant get on nonResourceURLs /metrics to see it".into(),
            ])
        }
        Err(e) => return Err(api_error(e, "get", "/metrics", None, &conn.description).into()),
    };
    let samples = apiusage::deprecated_api_requests(&text);
    let mut n = 0;
    for (api, resource, _removed) in samples {
        let kind = data
            .kind_of(&api, &resource)
            .map(str::to_string)
            .unwrap_or_else(|| resource.clone());
        n += 1;
        sink.object(Object::Usage(Usage {
            api_version: api,
            kind,
            namespace: None,
            name: format!("requests to {resource}"),
            source: UsageSource::Metric,
            rewritten: None,
        }))?;
    }
    Ok(vec![format!(
        "apiserver_requested_deprecated_apis read from the API server answering ({n} deprecated API(s) requested since it started): each instance counts only its own requests and resets on restart"
    )])
}

async fn helm_releases(conn: &Connection, sink: &mut dyn Sink) -> Result<Vec<String>, ClientError> {
    let secrets: Api<Secret> = Api::all(conn.client.clone());
    // Labels first (metadata only), then only the Secrets that count.
    let meta_only = ListParams::default()
        .labels("owner=helm")
        .fields("type=helm.sh/release.v1")
        .limit(PAGE_SIZE);
    let mut refs = Vec::new();
    let mut lp = meta_only.clone();
    loop {
        let page = match secrets.list_metadata(&lp).await {
            Ok(p) => p,
            Err(e) if forbidden(&e) => {
                return Ok(vec![
                    "--helm: cannot list secrets (forbidden): Helm releases not scanned; bind ClusterRole kubectl-upgrade-helm (deploy/rbac.yaml)".into(),
                ])
            }
            Err(e) => return Err(api_error(e, "list", "secrets", None, &conn.description).into()),
        };
        for s in &page.items {
            let ns = s.metadata.namespace.clone().unwrap_or_default();
            if let (Some(labels), Some(name)) = (&s.metadata.labels, &s.metadata.name) {
                if let Some(r) = helm::ReleaseRef::of(&ns, labels) {
                    refs.push((r, name.clone()));
                }
            }
        }
        if !advance(&mut lp, &page.metadata) {
            break;
        }
    }
    let plain: Vec<helm::ReleaseRef> = refs.iter().map(|(r, _)| r.clone()).collect();
    let current = helm::current(&plain);
    let mut bad_docs = 0;
    let mut unreadable = Vec::new();
    let wanted: Vec<(String, String, String)> = current
        .iter()
        .filter_map(|c| {
            refs.iter()
                .find(|(r, _)| r == *c)
                .map(|(r, secret)| (r.namespace.clone(), r.release.clone(), secret.clone()))
        })
        .collect();
    let fetched: Vec<_> = futures::stream::iter(wanted.iter())
        .map(|(ns, rel, secret)| {
            let api: Api<Secret> = Api::namespaced(conn.client.clone(), ns);
            async move { (ns, rel, api.get(secret).await) }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (ns, rel, got) in fetched {
        let secret = match got {
            Ok(s) => s,
            Err(e) if forbidden(&e) => {
                unreadable.push(format!("{ns}/{rel} (forbidden)"));
                continue;
            }
            Err(e) => {
                return Err(api_error(e, "get", "secrets", Some(rel), &conn.description).into())
            }
        };
        let Some(data) = secret.data.as_ref().and_then(|d| d.get("release")) else {
            unreadable.push(format!("{ns}/{rel} (no data.release)"));
            continue;
        };
        match helm::decode_release(&data.0) {
            Ok(release) => {
                let (usages, bad) = helm::manifest_usages(&release, ns, rel);
                bad_docs += bad;
                sink.object(Object::HelmChart(helm::chart_of(&release, ns, rel)))?;
                for u in usages {
                    sink.object(Object::Usage(u))?;
                }
            }
            Err(e) => unreadable.push(format!("{ns}/{rel} ({e})")),
        }
    }
    let mut notes = vec![format!(
        "--helm: {} release(s) read (the latest deployed revision of each)",
        wanted.len() - unreadable.len()
    )];
    if !unreadable.is_empty() {
        notes.push(format!(
            "--helm: {} release(s) not read: {}",
            unreadable.len(),
            crate::findings::bounded(&unreadable, crate::findings::NAMES_SHOWN)
        ));
    }
    if bad_docs > 0 {
        notes.push(format!(
            "--helm: {bad_docs} manifest document(s) did not parse as YAML"
        ));
    }
    Ok(notes)
}
