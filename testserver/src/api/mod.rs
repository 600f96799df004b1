//! HTTP handling: routing, discovery, list/get/watch/create/update/patch/delete, eviction.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};

use crate::cluster::{ns_range, Cluster, DeleteOpts, EventType, Key, Kind, LogEvent, Obj, Object};
use crate::selectors::{FieldSel, LabelSel};
use crate::status::ApiError;
use crate::tls::{Authn, ANONYMOUS};
use crate::{lock, patch, RecordedEviction, Shared};

mod crud;
mod discovery;
mod eviction;
pub(crate) mod table;
mod watch;

use crud::*;
use discovery::*;
use eviction::*;
use watch::*;

pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed_unsync()
}

fn json_response(code: u16, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn value_response(code: u16, v: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

fn obj_response<T: serde::Serialize>(code: u16, o: &T) -> Response<Body> {
    json_response(code, serde_json::to_vec(o).unwrap_or_default())
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = value_response(e.code, &e.body());
    if let Some(s) = e.retry_after {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
        }
    }
    r
}

/// Query parameters (first value wins).
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(q.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true") | Some("1"))
    }
}

/// A parsed resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResReq {
    group: String,
    version: String,
    ns: Option<String>,
    resource: String,
    name: Option<String>,
    sub: Option<String>,
    /// After `nodes/NAME/proxy/`: the path proxied to the kubelet (`configz`).
    proxied: Option<String>,
}

fn parse_resource_path(path: &str) -> Option<ResReq> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, res, ..] if *res != "status" && *res != "finalize" => {
            (Some(*ns), &rest[2..])
        }
        _ => (None, rest),
    };
    let mut proxied = None;
    let (resource, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s] => (*r, Some(*n), Some(*s)),
        [r, n, "proxy", p @ ..] => {
            proxied = Some(p.join("/"));
            (*r, Some(*n), Some("proxy"))
        }
        _ => return None,
    };
    if resource.is_empty() || name == Some("") {
        return None;
    }
    Some(ResReq {
        group: group.to_string(),
        version: version.to_string(),
        ns: ns.map(str::to_string),
        resource: resource.to_string(),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
        proxied,
    })
}

fn verb_of(method: &Method, rr: &ResReq, q: &Query) -> &'static str {
    match *method {
        Method::GET if rr.name.is_none() && q.flag("watch") => "watch",
        Method::GET if rr.name.is_none() => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if rr.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

/// Entry point for every request.
pub(crate) async fn handle(
    sh: Arc<Shared>,
    req: Request<Incoming>,
    peer_cert: Option<&[u8]>,
) -> Response<Body> {
    let latency = Duration::from_nanos(sh.latency_ns.load(Ordering::Relaxed));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let path = parts.uri.path().to_string();
    let q = Query::parse(parts.uri.query());
    let content_type = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let accept = parts
        .headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();

    let unavailable = lock(&sh.unavailable_until).is_some_and(|u| Instant::now() < u);
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match lock(&sh.credentials).authenticate(authorization, peer_cert) {
        Authn::User(u) => u,
        Authn::Anonymous => ANONYMOUS.to_string(),
        Authn::Rejected(_) => {
            sh.count("unauthorized", &path);
            return error_response(&ApiError::unauthorized());
        }
    };

    let Some(rr) = parse_resource_path(&path) else {
        sh.count("get", &path);
        if unavailable {
            return error_response(&ApiError::service_unavailable());
        }
        // system:public-info-viewer is all that system:unauthenticated gets.
        if user == ANONYMOUS
            && !matches!(
                path.as_str(),
                "/version" | "/healthz" | "/livez" | "/readyz"
            )
        {
            return error_response(&ApiError::forbidden_path(&user, &path));
        }
        if parts.method != Method::GET {
            return error_response(&ApiError::path_not_found());
        }
        if path == "/metrics" {
            if !sh.allowed(&user, "get", "/metrics") {
                return error_response(&ApiError::forbidden_path(&user, &path));
            }
            let text = crate::generic::metrics(&lock(&sh.deprecated_requests));
            let mut r = Response::new(full(text));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return r;
        }
        return match discovery(&sh, &path) {
            Some(v) => value_response(200, &v),
            None => error_response(&ApiError::path_not_found()),
        };
    };
    let verb = verb_of(&parts.method, &rr, &q);
    // Every authenticated user may ask what it may do (system:basic-user).
    if rr.group == "authorization.k8s.io"
        && rr.resource == "selfsubjectaccessreviews"
        && parts.method == Method::POST
    {
        sh.count("create", "selfsubjectaccessreviews");
        return self_subject_access_review(&sh, &user, &body);
    }
    let rbac_resource = match &rr.sub {
        Some(s) => format!("{}/{s}", rr.resource),
        None => rr.resource.clone(),
    };
    sh.count(verb, &rbac_resource);
    if unavailable {
        return error_response(&ApiError::service_unavailable());
    }
    if matches!(verb, "get" | "list") && throttled(&sh) {
        return error_response(&ApiError::too_many_requests_apf(lock(&sh.throttle_reads).1));
    }
    if !sh.allowed(&user, verb, &rbac_resource) {
        return error_response(&ApiError::forbidden_rbac(
            &user,
            verb,
            &rr.group,
            &rr.resource,
            rr.sub.as_deref(),
            rr.ns.as_deref(),
            rr.name.as_deref().unwrap_or_default(),
        ));
    }
    let ctx = Ctx {
        sh: sh.clone(),
        rr,
        verb,
        q,
        body,
        content_type,
        table: accept.contains("as=Table"),
        meta_only: accept.contains("as=PartialObjectMetadataList")
            || accept.contains("as=PartialObjectMetadata;"),
    };
    match (
        ctx.rr.group.as_str(),
        ctx.rr.version.as_str(),
        ctx.rr.resource.as_str(),
    ) {
        ("", "v1", "pods") if ctx.rr.sub.as_deref() == Some("eviction") => eviction(&ctx),
        ("", "v1", "nodes") if ctx.rr.sub.as_deref() == Some("proxy") => kubelet_proxy(&ctx),
        ("policy", "v1" | "v1beta1", "poddisruptionbudgets") => {
            resource::<PodDisruptionBudget>(&ctx).await
        }
        ("", "v1", "pods") => resource::<Pod>(&ctx).await,
        ("", "v1", "nodes") => resource::<Node>(&ctx).await,
        ("", "v1", "namespaces") => resource::<Namespace>(&ctx).await,
        ("", "v1", "configmaps") => resource::<ConfigMap>(&ctx).await,
        ("coordination.k8s.io", "v1", "leases") => resource::<Lease>(&ctx).await,
        ("apps", "v1", "daemonsets" | "replicasets" | "statefulsets")
            if ctx.verb == "get" && !stored_generic(&ctx) =>
        {
            workload(&ctx)
        }
        _ => generic_route(&ctx),
    }
}

/// `GET nodes/NAME/proxy/configz`: the kubelet's live configuration, as a kubelet answers it
/// (`{"kubeletconfig": {...}}`), from [`crate::Cluster::set_kubelet_config`] (`{}` unless
/// set). Anything else proxied to a kubelet is not simulated (502, as an unreachable kubelet).
fn kubelet_proxy(ctx: &Ctx) -> Response<Body> {
    let name = ctx.rr.name.clone().unwrap_or_default();
    let c = lock(&ctx.sh.state);
    if c.node(&name).is_none() {
        return error_response(&ApiError::not_found("", "nodes", &name));
    }
    match (ctx.verb, ctx.rr.proxied.as_deref()) {
        ("get", Some("configz")) => {
            let config = c.kubelet_config(&name);
            value_response(200, &json!({ "kubeletconfig": config }))
        }
        _ => error_response(&ApiError::injected(502)),
    }
}

fn stored_generic(ctx: &Ctx) -> bool {
    lock(&ctx.sh.state)
        .generic
        .contains_key(&(ctx.rr.group.clone(), ctx.rr.resource.clone()))
}

/// Any other kind: read-only, at the versions registered for it (`Cluster::add_object`).
/// Lists of apps/v1 workloads nobody stored answer empty, as a cluster without them would.
fn generic_route(ctx: &Ctx) -> Response<Body> {
    let rr = &ctx.rr;
    let c = lock(&ctx.sh.state);
    let key = (rr.group.clone(), rr.resource.clone());
    let Some(res) = c
        .generic
        .get(&key)
        .filter(|r| r.versions.contains_key(&rr.version))
    else {
        if rr.group == "apps" && rr.version == "v1" && ctx.verb == "list" {
            let kind = match rr.resource.as_str() {
                "deployments" => "Deployment",
                "daemonsets" => "DaemonSet",
                "replicasets" => "ReplicaSet",
                "statefulsets" => "StatefulSet",
                _ => return error_response(&ApiError::path_not_found()),
            };
            let empty = crate::generic::Resource {
                kind: kind.into(),
                ..Default::default()
            };
            let q = generic_query(ctx, c.rv);
            return match crate::generic::list(&empty, "apps", "v1", &q) {
                Ok(v) => value_response(200, &v),
                Err(e) => error_response(&e),
            };
        }
        return error_response(&ApiError::path_not_found());
    };
    if rr.sub.is_some() || (!res.namespaced && rr.ns.is_some()) {
        return error_response(&ApiError::path_not_found());
    }
    let dep = crate::generic::deprecation(&c.generic, &rr.group, &rr.version, &rr.resource);
    let answer = match (ctx.verb, rr.name.as_deref()) {
        ("list", None) => {
            crate::generic::list(res, &rr.group, &rr.version, &generic_query(ctx, c.rv))
        }
        ("get", Some(name)) => {
            crate::generic::get(res, &rr.group, &rr.version, rr.ns.as_deref(), name)
                .ok_or_else(|| ApiError::not_found(&rr.group, &rr.resource, name))
        }
        _ => Err(ApiError::method_not_allowed(&rr.group, &rr.resource)),
    };
    drop(c);
    let mut resp = match answer {
        Ok(v) => value_response(200, &v),
        Err(e) => error_response(&e),
    };
    if let Some(d) = dep {
        *lock(&ctx.sh.deprecated_requests)
            .entry(d.metric)
            .or_insert(0) += 1;
        if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("299 - \"{}\"", d.warning)) {
            resp.headers_mut().insert("warning", v);
        }
    }
    resp
}

fn generic_query(ctx: &Ctx, rv: u64) -> crate::generic::ListQuery<'_> {
    crate::generic::ListQuery {
        ns: ctx.rr.ns.as_deref(),
        label: ctx.q.get("labelSelector").unwrap_or_default(),
        field: ctx.q.get("fieldSelector").unwrap_or_default(),
        limit: ctx
            .q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0),
        cont: ctx.q.get("continue").filter(|c| !c.is_empty()),
        meta_only: ctx.meta_only,
        rv,
    }
}

/// Takes one of the pending `throttle_next_reads`, if any.
fn throttled(sh: &Shared) -> bool {
    let mut t = lock(&sh.throttle_reads);
    if t.0 > 0 {
        t.0 -= 1;
        true
    } else {
        false
    }
}

/// `POST .../selfsubjectaccessreviews`: answers from the RBAC simulation (`forbid`,
/// `rbac_allow_only`), as the real authorizer answers from the user's bindings.
fn self_subject_access_review(sh: &Shared, user: &str, body: &[u8]) -> Response<Body> {
    let Ok(mut review) = serde_json::from_slice::<Value>(body) else {
        return error_response(&ApiError::bad_request("malformed SelfSubjectAccessReview"));
    };
    let attrs = review.pointer("/spec/resourceAttributes").cloned();
    let Some(attrs) = attrs else {
        return error_response(&ApiError::bad_request(
            "spec.resourceAttributes is required (nonResourceAttributes are not simulated)",
        ));
    };
    let field = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or_default();
    let resource = match field("subresource") {
        "" => field("resource").to_string(),
        sub => format!("{}/{sub}", field("resource")),
    };
    let allowed = sh.allowed(user, field("verb"), &resource);
    let mut status = json!({"allowed": allowed});
    if !allowed {
        status["reason"] = json!(format!(
            "RBAC: user \"{}\" has no rule for verb \"{}\" on \"{resource}\"",
            user,
            field("verb")
        ));
    }
    review["status"] = status;
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    value_response(201, &review)
}

struct Ctx {
    sh: Arc<Shared>,
    rr: ResReq,
    verb: &'static str,
    q: Query,
    body: Bytes,
    content_type: String,
    table: bool,
    /// `Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`.
    meta_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        let r = parse_resource_path("/api/v1/namespaces/ns/pods/x/eviction").unwrap();
        assert_eq!(
            (
                r.group.as_str(),
                r.ns.as_deref(),
                r.resource.as_str(),
                r.name.as_deref(),
                r.sub.as_deref()
            ),
            ("", Some("ns"), "pods", Some("x"), Some("eviction"))
        );
        let r = parse_resource_path("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (r.ns, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("kube-system"))
        );
        let r = parse_resource_path("/api/v1/namespaces/x/status").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.sub.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = parse_resource_path("/apis/policy/v1/poddisruptionbudgets").unwrap();
        assert_eq!((r.group.as_str(), r.ns, r.name), ("policy", None, None));
        let r = parse_resource_path("/api/v1/nodes/n1/status").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.sub.as_deref()),
            ("nodes", Some("n1"), Some("status"))
        );
        assert!(parse_resource_path("/api/v1").is_none());
        assert!(parse_resource_path("/apis").is_none());
        assert!(parse_resource_path("/version").is_none());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let k = ("team-01".to_string(), "a-b".to_string());
        assert_eq!(decode_continue(&encode_continue(42, &k)), Some((42, k)));
        assert_eq!(decode_continue("zz"), None);
    }

    #[test]
    fn version_info_splits_major_minor() {
        let v = version_info("v1.33.2");
        assert_eq!(
            (v["major"].as_str(), v["minor"].as_str()),
            (Some("1"), Some("33"))
        );
    }
}
