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
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};

use crate::cluster::{ns_range, Cluster, DeleteOpts, EventType, Key, Kind, LogEvent, Obj, Object};
use crate::selectors::{FieldSel, LabelSel};
use crate::status::ApiError;
use crate::tls::{Authn, ANONYMOUS};
use crate::{lock, patch, RecordedEviction, Shared};

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
    let (resource, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s] => (*r, Some(*n), Some(*s)),
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
        ("policy", "v1" | "v1beta1", "poddisruptionbudgets") => {
            resource::<PodDisruptionBudget>(&ctx).await
        }
        ("", "v1", "pods") => resource::<Pod>(&ctx).await,
        ("", "v1", "nodes") => resource::<Node>(&ctx).await,
        ("", "v1", "namespaces") => resource::<Namespace>(&ctx).await,
        ("", "v1", "configmaps") => resource::<ConfigMap>(&ctx).await,
        ("apps", "v1", "daemonsets" | "replicasets" | "statefulsets")
            if ctx.verb == "get" && !stored_generic(&ctx) =>
        {
            workload(&ctx)
        }
        _ => generic_route(&ctx),
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

// ----- discovery ----------------------------------------------------------------------------

fn api_resource(
    name: &str,
    singular: &str,
    namespaced: bool,
    kind: &str,
    verbs: &[&str],
    short: &[&str],
) -> Value {
    let mut v = json!({
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !short.is_empty() {
        v["shortNames"] = json!(short);
    }
    v
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

fn discovery(sh: &Shared, path: &str) -> Option<Value> {
    let group = |name: &str| {
        json!({
            "name": name,
            "versions": [ { "groupVersion": format!("{name}/v1"), "version": "v1" } ],
            "preferredVersion": { "groupVersion": format!("{name}/v1"), "version": "v1" },
        })
    };
    Some(match path.trim_end_matches('/') {
        "/version" => version_info(&sh.git_version),
        "/healthz" | "/livez" | "/readyz" => return Some(Value::String("ok".into())),
        "/api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [ {
                "clientCIDR": "0.0.0.0/0",
                "serverAddress": format!("127.0.0.1:{}", sh.port.load(Ordering::Relaxed)),
            } ],
        }),
        "/api/v1" => {
            let mut pod = api_resource("pods", "pod", true, "Pod", ALL_VERBS, &["po"]);
            pod["categories"] = json!(["all"]);
            let mut eviction =
                api_resource("pods/eviction", "", true, "Eviction", &["create"], &[]);
            eviction["group"] = json!("policy");
            eviction["version"] = json!("v1");
            json!({
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [
                    api_resource("configmaps", "configmap", true, "ConfigMap", ALL_VERBS, &["cm"]),
                    api_resource("namespaces", "namespace", false, "Namespace", &["create", "delete", "get", "list", "patch", "update", "watch"], &["ns"]),
                    api_resource("namespaces/status", "", false, "Namespace", STATUS_VERBS, &[]),
                    api_resource("nodes", "node", false, "Node", ALL_VERBS, &["no"]),
                    api_resource("nodes/status", "", false, "Node", STATUS_VERBS, &[]),
                    pod,
                    eviction,
                    api_resource("pods/status", "", true, "Pod", STATUS_VERBS, &[]),
                ],
            })
        }
        "/apis" => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [ group("apps"), group("policy") ],
        }),
        "/apis/apps" => {
            let mut g = group("apps");
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        }
        "/apis/policy" => {
            let mut g = group("policy");
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        }
        "/apis/apps/v1" => json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "apps/v1",
            "resources": [
                api_resource("daemonsets", "daemonset", true, "DaemonSet", &["get"], &["ds"]),
                api_resource("replicasets", "replicaset", true, "ReplicaSet", &["get"], &["rs"]),
                api_resource("statefulsets", "statefulset", true, "StatefulSet", &["get"], &["sts"]),
            ],
        }),
        "/apis/policy/v1" => json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "policy/v1",
            "resources": [
                api_resource("poddisruptionbudgets", "poddisruptionbudget", true, "PodDisruptionBudget", ALL_VERBS, &["pdb"]),
                api_resource("poddisruptionbudgets/status", "", true, "PodDisruptionBudget", STATUS_VERBS, &[]),
            ],
        }),
        _ => return None,
    })
}

fn version_info(git_version: &str) -> Value {
    let core = git_version.trim_start_matches('v');
    let mut it = core.split(['.', '-', '+']);
    let major = it.next().unwrap_or("1").to_string();
    let minor = it.next().unwrap_or("0").to_string();
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-06-17T18:30:00Z",
        "goVersion": "go1.24.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

// ----- generic resource handling ------------------------------------------------------------

fn group_of<T: Object>() -> &'static str {
    T::GROUP
}

fn plural<T: Object>() -> &'static str {
    T::URL_PATH_SEGMENT
}

fn key_for<T: Object>(ns: Option<&str>, name: &str) -> Key {
    let ns = if T::NAMESPACED {
        ns.unwrap_or("default").to_string()
    } else {
        String::new()
    };
    (ns, name.to_string())
}

async fn resource<T: Object + Default>(ctx: &Ctx) -> Response<Body> {
    if !T::NAMESPACED && ctx.rr.ns.is_some() {
        return error_response(&ApiError::path_not_found());
    }
    let r = match (ctx.verb, ctx.rr.name.as_deref(), ctx.rr.sub.as_deref()) {
        ("list", None, None) => list::<T>(ctx),
        ("watch", None, None) => watch::<T>(ctx),
        ("get", Some(name), None | Some("status")) => get::<T>(ctx, name),
        ("create", None, None) => create::<T>(ctx),
        ("update", Some(name), sub @ (None | Some("status"))) => {
            update::<T>(ctx, name, sub.is_some())
        }
        ("patch", Some(name), sub @ (None | Some("status"))) => {
            patch::<T>(ctx, name, sub.is_some())
        }
        ("delete", Some(name), None) => delete::<T>(ctx, name),
        (_, _, Some(_)) => Err(ApiError::path_not_found()),
        _ => Err(ApiError::method_not_allowed(group_of::<T>(), plural::<T>())),
    };
    r.unwrap_or_else(|e| error_response(&e))
}

fn get<T: Object>(ctx: &Ctx, name: &str) -> Result<Response<Body>, ApiError> {
    let c = lock(&ctx.sh.state);
    let key = key_for::<T>(ctx.rr.ns.as_deref(), name);
    let o = T::store(&c)
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(group_of::<T>(), plural::<T>(), name))?;
    drop(c);
    Ok(obj_response(200, &*o))
}

struct ListParams {
    label: LabelSel,
    field: FieldSel,
    limit: Option<usize>,
    cont: Option<(u64, Key)>,
    rv_exact: Option<u64>,
}

fn selectors<T: Object + Default>(q: &Query) -> Result<(LabelSel, FieldSel), ApiError> {
    let label = LabelSel::parse(q.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let field = FieldSel::parse(q.get("fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let probe = T::default();
    for r in &field.0 {
        if probe.field(&r.field).is_none() {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                r.field
            )));
        }
    }
    Ok((label, field))
}

fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Continue tokens encode the list's resourceVersion and the last key returned.
fn encode_continue(rv: u64, key: &Key) -> String {
    hex(format!("{rv}\n{}\n{}", key.0, key.1).as_bytes())
}

fn decode_continue(s: &str) -> Option<(u64, Key)> {
    let raw = String::from_utf8(unhex(s)?).ok()?;
    let mut it = raw.splitn(3, '\n');
    let rv = it.next()?.parse().ok()?;
    Some((rv, (it.next()?.to_string(), it.next()?.to_string())))
}

fn list_params<T: Object + Default>(q: &Query) -> Result<ListParams, ApiError> {
    let (label, field) = selectors::<T>(q)?;
    let limit = match q.get("limit") {
        Some(l) => Some(
            l.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        )
        .filter(|l| *l > 0)
        .map(|l| l as usize),
        None => None,
    };
    let cont = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c).ok_or_else(|| {
            ApiError::bad_request("continue key is not valid: invalid continue token")
        })?),
        None => None,
    };
    let rv_exact = match (q.get("resourceVersionMatch"), q.get("resourceVersion")) {
        (Some("Exact"), Some(rv)) => Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
        _ => None,
    };
    Ok(ListParams {
        label,
        field,
        limit,
        cont,
        rv_exact,
    })
}

fn matches<T: Object>(o: &T, label: &LabelSel, field: &FieldSel) -> bool {
    label.matches(o.metadata().labels.as_ref()) && field.matches(|f| o.field(f))
}

/// Items, the list's resourceVersion and the continue token.
pub(crate) type Page<T> = (Vec<Arc<T>>, u64, Option<String>);

/// One consistent page: the state at the list's resourceVersion, from the continue position.
pub(crate) fn list_page<T: Object>(
    c: &Cluster,
    ns: Option<&str>,
    p: &ListParamsView<'_>,
) -> Result<Page<T>, ApiError> {
    let snap = p.cont.map(|c| c.0).or(p.rv_exact).unwrap_or(c.rv);
    let overrides: BTreeMap<Key, Option<Arc<T>>> = if snap < c.rv {
        c.state_at::<T>(snap).ok_or_else(|| {
            ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
        })?
    } else {
        BTreeMap::new()
    };
    let (ns_lo, ns_hi) = ns_range(ns);
    let lower = match p.cont {
        Some((_, k)) => Bound::Excluded(k.clone()),
        None => ns_lo,
    };
    let range = (lower, ns_hi);
    let index_node = if T::SIM_KIND == Kind::Pod {
        p.field.eq_value("spec.nodeName").filter(|n| !n.is_empty())
    } else {
        None
    };
    let store = T::store(c);
    let index_range = range.clone();
    let current: Box<dyn Iterator<Item = (&Key, &Arc<T>)>> = match index_node {
        Some(node) => Box::new(
            c.pods_by_node
                .get(node)
                .into_iter()
                .flat_map(move |s| s.range::<Key, _>(index_range.clone()))
                .filter_map(|k| store.get(k).map(|o| (k, o))),
        ),
        None => Box::new(store.range::<Key, _>(range.clone())),
    };
    let mut current = current
        .filter(|(k, _)| !overrides.contains_key(*k))
        .peekable();
    let mut old = overrides
        .range::<Key, _>(range)
        .filter_map(|(k, o)| o.as_ref().map(|o| (k, o)))
        .peekable();
    let limit = p.limit.unwrap_or(usize::MAX);
    let mut items: Vec<Arc<T>> = Vec::new();
    let mut last: Option<Key> = None;
    let mut more = false;
    loop {
        let take_current = match (current.peek(), old.peek()) {
            (Some((a, _)), Some((b, _))) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_current {
            current.next()
        } else {
            old.next()
        };
        let Some((k, o)) = next else { break };
        if !matches(&**o, p.label, p.field) {
            continue;
        }
        if items.len() >= limit {
            more = true;
            break;
        }
        last = Some(k.clone());
        items.push(o.clone());
    }
    let cont = match (more, last) {
        (true, Some(k)) => Some(encode_continue(snap, &k)),
        _ => None,
    };
    Ok((items, snap, cont))
}

/// Borrowed list parameters.
pub(crate) struct ListParamsView<'a> {
    label: &'a LabelSel,
    field: &'a FieldSel,
    limit: Option<usize>,
    cont: Option<&'a (u64, Key)>,
    rv_exact: Option<u64>,
}

fn list<T: Object + Default>(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let p = list_params::<T>(&ctx.q)?;
    let view = ListParamsView {
        label: &p.label,
        field: &p.field,
        limit: p.limit,
        cont: p.cont.as_ref(),
        rv_exact: p.rv_exact,
    };
    let (items, rv, cont) = {
        let c = lock(&ctx.sh.state);
        list_page::<T>(&c, ctx.rr.ns.as_deref(), &view)?
    };
    if ctx.table {
        if let Some(t) = crate::api::table::table::<T>(&items, rv, cont.as_deref()) {
            return Ok(value_response(200, &t));
        }
    }
    let mut buf = Vec::with_capacity(64 + items.len() * 1024);
    let (list_kind, list_api) = if ctx.meta_only {
        ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1")
    } else {
        (format!("{}List", T::KIND), T::API_VERSION)
    };
    buf.extend_from_slice(
        format!(
            "{{\"kind\":\"{list_kind}\",\"apiVersion\":\"{list_api}\",\"metadata\":{{\"resourceVersion\":\"{rv}\""
        )
        .as_bytes(),
    );
    if let Some(c) = &cont {
        buf.extend_from_slice(format!(",\"continue\":\"{c}\"").as_bytes());
    }
    buf.extend_from_slice(b"},\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let written = if ctx.meta_only {
            serde_json::to_writer(
                &mut buf,
                &json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o.metadata()}),
            )
        } else {
            serde_json::to_writer(&mut buf, &**o)
        };
        written.map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    buf.extend_from_slice(b"]}");
    Ok(json_response(200, buf))
}

fn parse_body(ctx: &Ctx) -> Result<Value, ApiError> {
    let ct = ctx.content_type.as_str();
    if ct.contains("protobuf") || ct.contains("yaml") || ct.contains("apply-patch") {
        return Err(ApiError::unsupported_media_type(ct));
    }
    serde_json::from_slice(&ctx.body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

fn from_value<T: Object>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid object: {e}")))
}

fn dry_run(q: &Query) -> bool {
    q.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
}

fn create<T: Object>(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let v = parse_body(ctx)?;
    let mut o: T = from_value(v)?;
    if T::NAMESPACED {
        let url_ns = ctx.rr.ns.clone().unwrap_or_else(|| "default".into());
        match o.metadata().namespace.as_deref() {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => o.metadata_mut().namespace = Some(url_ns),
        }
    }
    let mut c = lock(&ctx.sh.state);
    if o.metadata().name.as_deref().unwrap_or_default().is_empty() {
        match o.metadata().generate_name.clone() {
            Some(g) if !g.is_empty() => {
                let suffix = c.name_suffix();
                o.metadata_mut().name = Some(format!("{g}{suffix}"));
            }
            _ => return Err(ApiError::bad_request("name or generateName is required")),
        }
    }
    let name = o.metadata().name.clone().unwrap_or_default();
    let key = key_for::<T>(o.metadata().namespace.as_deref(), &name);
    if T::store(&c).contains_key(&key) {
        return Err(ApiError::already_exists(
            group_of::<T>(),
            plural::<T>(),
            &name,
        ));
    }
    {
        let m = o.metadata_mut();
        m.uid = None;
        m.resource_version = None;
        m.creation_timestamp = None;
        m.deletion_timestamp = None;
        m.generation = None;
    }
    if dry_run(&ctx.q) {
        return Ok(obj_response(201, &o));
    }
    let stored = c.put(o);
    ctx.sh.commit(&mut c);
    Ok(obj_response(201, &*stored))
}

fn check_rv<T: Object>(current: &T, wanted: Option<&str>, name: &str) -> Result<(), ApiError> {
    match wanted {
        Some(rv) if !rv.is_empty() && Some(rv) != current.metadata().resource_version.as_deref() => {
            Err(ApiError::conflict(
                group_of::<T>(),
                plural::<T>(),
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ))
        }
        _ => Ok(()),
    }
}

/// Keeps server-owned metadata, and splits spec/status between the main resource and the
/// status subresource like the real registry strategies do.
fn finish_update<T: Object>(current: &T, mut new: Value, status_only: bool) -> Result<T, ApiError> {
    let cur = serde_json::to_value(current).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if status_only {
        let mut out = cur.clone();
        out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        new = out;
    } else if let Some(s) = cur.get("status") {
        if T::SIM_KIND != Kind::ConfigMap {
            new["status"] = s.clone();
        }
    }
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match cur["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if !status_only && cur.get("spec") != new.get("spec") {
        if let Some(g) = cur["metadata"].get("generation").and_then(Value::as_i64) {
            new["metadata"]["generation"] = json!(g + 1);
        }
    }
    from_value(new)
}

fn update<T: Object>(ctx: &Ctx, name: &str, status_only: bool) -> Result<Response<Body>, ApiError> {
    let v = parse_body(ctx)?;
    let mut c = lock(&ctx.sh.state);
    let key = key_for::<T>(ctx.rr.ns.as_deref(), name);
    let current = T::store(&c)
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(group_of::<T>(), plural::<T>(), name))?;
    check_rv(&*current, v["metadata"]["resourceVersion"].as_str(), name)?;
    let new = finish_update(&*current, v, status_only)?;
    if dry_run(&ctx.q) {
        return Ok(obj_response(200, &new));
    }
    let stored = c.put(new);
    ctx.sh.commit(&mut c);
    Ok(obj_response(200, &*stored))
}

fn patch<T: Object>(ctx: &Ctx, name: &str, status_only: bool) -> Result<Response<Body>, ApiError> {
    let ct = ctx
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let p: Value = match ct.as_str() {
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => serde_json::from_slice(&ctx.body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let mut c = lock(&ctx.sh.state);
    let key = key_for::<T>(ctx.rr.ns.as_deref(), name);
    let current = T::store(&c)
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(group_of::<T>(), plural::<T>(), name))?;
    let mut v =
        serde_json::to_value(&*current).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match ct.as_str() {
        "application/merge-patch+json" => patch::merge_patch(&mut v, &p),
        "application/strategic-merge-patch+json" => patch::strategic_merge_patch(&mut v, &p),
        _ => patch::json_patch(&mut v, &p).map_err(|e| {
            let mut err = ApiError::bad_request(e);
            err.code = 422;
            err.reason = "Invalid";
            err
        })?,
    }
    if ct != "application/json-patch+json" {
        check_rv(&*current, p["metadata"]["resourceVersion"].as_str(), name)?;
    }
    let new = finish_update(&*current, v, status_only)?;
    if dry_run(&ctx.q) {
        return Ok(obj_response(200, &new));
    }
    let stored = c.put(new);
    ctx.sh.commit(&mut c);
    Ok(obj_response(200, &*stored))
}

fn delete_opts(body: Option<&Value>, q: &Query) -> DeleteOpts {
    let b = body.filter(|v| v.is_object());
    let grace = b
        .and_then(|v| v.get("gracePeriodSeconds"))
        .and_then(Value::as_i64)
        .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let pre = b.and_then(|v| v.get("preconditions"));
    DeleteOpts {
        grace,
        uid: pre
            .and_then(|p| p.get("uid"))
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: pre
            .and_then(|p| p.get("resourceVersion"))
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: dry_run(q)
            || b.and_then(|v| v.get("dryRun"))
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All")),
    }
}

fn delete<T: Object>(ctx: &Ctx, name: &str) -> Result<Response<Body>, ApiError> {
    let body: Option<Value> = if ctx.body.is_empty() {
        None
    } else {
        Some(parse_body(ctx)?)
    };
    let opts = delete_opts(body.as_ref(), &ctx.q);
    let mut c = lock(&ctx.sh.state);
    let key = key_for::<T>(ctx.rr.ns.as_deref(), name);
    if T::SIM_KIND == Kind::Pod {
        let p = c.delete_pod_with(&key.0, &key.1, &opts, Instant::now(), true)?;
        ctx.sh.commit(&mut c);
        return Ok(obj_response(200, &*p));
    }
    let current = T::store(&c)
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(group_of::<T>(), plural::<T>(), name))?;
    if let Some(uid) = &opts.uid {
        let actual = current.metadata().uid.clone().unwrap_or_default();
        if *uid != actual {
            return Err(ApiError::conflict(
                group_of::<T>(),
                plural::<T>(),
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if !opts.dry_run {
        c.remove::<T>(&key);
        ctx.sh.commit(&mut c);
    }
    Ok(obj_response(200, &*current))
}

// ----- watch --------------------------------------------------------------------------------

fn event_line(typ: &str, obj: &impl serde::Serialize) -> Bytes {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(format!("{{\"type\":\"{typ}\",\"object\":").as_bytes());
    let _ = serde_json::to_writer(&mut buf, obj);
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

fn obj_matches(o: &Obj, label: &LabelSel, field: &FieldSel) -> bool {
    label.matches(o.meta().labels.as_ref()) && field.matches(|f| o.field(f))
}

fn watch_event(
    e: &LogEvent,
    kind: Kind,
    ns: Option<&str>,
    label: &LabelSel,
    field: &FieldSel,
) -> Option<Bytes> {
    if e.obj.kind() != kind || ns.is_some_and(|ns| ns != e.key.0) {
        return None;
    }
    let now = obj_matches(&e.obj, label, field);
    let before = e
        .prev
        .as_ref()
        .is_some_and(|p| obj_matches(p, label, field));
    let typ = match (e.typ, before, now) {
        (EventType::Added, _, true) => "ADDED",
        (EventType::Modified, true, true) => "MODIFIED",
        (EventType::Modified, false, true) => "ADDED",
        (EventType::Modified, true, false) => "DELETED",
        (EventType::Deleted, _, true) => "DELETED",
        _ => return None,
    };
    Some(event_line(typ, &e.obj))
}

fn bookmark<T: Object>(rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if initial_end {
        meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event_line(
        "BOOKMARK",
        &json!({ "kind": T::KIND, "apiVersion": T::API_VERSION, "metadata": meta }),
    )
}

fn watch<T: Object + Default>(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let (label, field) = selectors::<T>(&ctx.q)?;
    let bookmarks = ctx.q.flag("allowWatchBookmarks");
    let send_initial = ctx.q.flag("sendInitialEvents");
    let timeout = ctx
        .q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    // The server's own limit (kube-apiserver: a random time between --min-request-timeout and
    // twice that) ends watches that asked for longer or for nothing.
    let timeout = match (timeout, ctx.sh.watch_limit) {
        (Some(t), Some(l)) => Some(t.min(l)),
        (t, l) => t.or(l),
    };
    let rv_param = ctx
        .q
        .get("resourceVersion")
        .filter(|r| !r.is_empty() && *r != "0");
    let ns = ctx.rr.ns.clone();
    let sh = ctx.sh.clone();
    let mut rv_rx = sh.rv_tx.subscribe();
    let (initial, start_rv): (Vec<Arc<T>>, u64) = {
        let c = lock(&sh.state);
        let start = match rv_param {
            Some(r) => r
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {r:?}")))?,
            None => c.rv,
        };
        let initial = if rv_param.is_none() || send_initial {
            T::store(&c)
                .range::<Key, _>(ns_range(ns.as_deref()))
                .filter(|(_, o)| matches(&***o, &label, &field))
                .map(|(_, o)| o.clone())
                .collect()
        } else {
            Vec::new()
        };
        (initial, if send_initial { c.rv } else { start })
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let interval = sh.bookmark_interval;
    tokio::spawn(async move {
        for o in initial {
            if tx.send(event_line("ADDED", &*o)).await.is_err() {
                return;
            }
        }
        if send_initial && bookmarks && tx.send(bookmark::<T>(start_rv, true)).await.is_err() {
            return;
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut cursor = start_rv;
        let mut next_bookmark = tokio::time::Instant::now() + interval;
        loop {
            let lines: Result<Vec<Bytes>, u64> = {
                let c = lock(&sh.state);
                let r = match c.events_since(cursor) {
                    None => Err(c.rv),
                    Some(evs) => {
                        let lines = evs
                            .filter_map(|e| {
                                watch_event(e, T::SIM_KIND, ns.as_deref(), &label, &field)
                            })
                            .collect();
                        cursor = cursor.max(c.rv);
                        Ok(lines)
                    }
                };
                r
            };
            match lines {
                Err(current) => {
                    let e = ApiError::expired(format!(
                        "too old resource version: {cursor} ({current})"
                    ));
                    let _ = tx.send(event_line("ERROR", &e.body())).await;
                    return;
                }
                Ok(lines) => {
                    for l in lines {
                        if tx.send(l).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                r = rv_rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(next_bookmark), if bookmarks => {
                    next_bookmark = tokio::time::Instant::now() + interval;
                    if tx.send(bookmark::<T>(cursor, false)).await.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

// ----- eviction -----------------------------------------------------------------------------

fn eviction(ctx: &Ctx) -> Response<Body> {
    let (ns, name) = match (&ctx.rr.ns, &ctx.rr.name) {
        (Some(ns), Some(n)) => (ns.clone(), n.clone()),
        _ => return error_response(&ApiError::path_not_found()),
    };
    if ctx.verb != "create" {
        return error_response(&ApiError::method_not_allowed("", "pods"));
    }
    let body = parse_body(ctx);
    let (api_version, raw_opts, opts, result) = match body {
        Err(e) => (String::new(), None, DeleteOpts::default(), Err(e)),
        Ok(v) => {
            let api_version = v["apiVersion"].as_str().unwrap_or_default().to_string();
            let raw = v.get("deleteOptions").cloned().filter(|d| !d.is_null());
            let opts = delete_opts(raw.as_ref(), &ctx.q);
            let result = if v["metadata"]["name"].as_str() != Some(name.as_str()) {
                Err(ApiError::bad_request(
                    "name in URL does not match name in Eviction object",
                ))
            } else {
                let injected = {
                    let mut f = lock(&ctx.sh.fail_evictions);
                    if f.0 > 0 {
                        f.0 -= 1;
                        Some(f.1)
                    } else {
                        None
                    }
                };
                match injected {
                    Some(code) => Err(ApiError::injected(code)),
                    None => {
                        let mut c = lock(&ctx.sh.state);
                        let r = c.evict(&ns, &name, &opts, Instant::now());
                        ctx.sh.commit(&mut c);
                        r
                    }
                }
            };
            (api_version, raw, opts, result)
        }
    };
    let status = match &result {
        Ok(()) => 201,
        Err(e) => e.code,
    };
    lock(&ctx.sh.evictions).push(RecordedEviction {
        namespace: ns,
        name,
        api_version,
        grace_period_seconds: opts.grace,
        precondition_uid: opts.uid,
        precondition_resource_version: opts.resource_version,
        dry_run: opts.dry_run,
        delete_options: raw_opts,
        status,
    });
    match result {
        Ok(()) => value_response(
            201,
            &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 }),
        ),
        Err(e) => error_response(&e),
    }
}

// ----- apps/v1 workloads, synthesized from pod owner references ------------------------------

fn workload(ctx: &Ctx) -> Response<Body> {
    let (Some(ns), Some(name), None) = (&ctx.rr.ns, &ctx.rr.name, &ctx.rr.sub) else {
        return error_response(&ApiError::method_not_allowed("apps", &ctx.rr.resource));
    };
    if ctx.verb != "get" {
        return error_response(&ApiError::method_not_allowed("apps", &ctx.rr.resource));
    }
    let kind = match ctx.rr.resource.as_str() {
        "daemonsets" => "DaemonSet",
        "replicasets" => "ReplicaSet",
        _ => "StatefulSet",
    };
    let c = lock(&ctx.sh.state);
    let owned: Vec<&Arc<Pod>> = c
        .pods
        .range(ns_range(Some(ns)))
        .map(|(_, p)| p)
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.kind == kind && o.name == *name)
        })
        .collect();
    let Some(first) = owned.first() else {
        return error_response(&ApiError::not_found("apps", &ctx.rr.resource, name));
    };
    let uid = first
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == kind)
        .map(|o| o.uid.clone())
        .unwrap_or_default();
    let n = owned.len();
    let ready = owned
        .iter()
        .filter(|p| crate::cluster::pod_is_ready(p))
        .count();
    let labels = first.metadata.labels.clone().unwrap_or_default();
    let v = json!({
        "kind": kind,
        "apiVersion": "apps/v1",
        "metadata": { "name": name, "namespace": ns, "uid": uid, "resourceVersion": c.rv.to_string(), "generation": 1 },
        "spec": {
            "replicas": n,
            "selector": { "matchLabels": labels },
            "template": { "metadata": { "labels": labels }, "spec": first.spec },
        },
        "status": {
            "replicas": n, "readyReplicas": ready, "availableReplicas": ready,
            "currentNumberScheduled": n, "desiredNumberScheduled": n, "numberReady": ready,
            "numberAvailable": ready, "updatedNumberScheduled": n, "numberMisscheduled": 0,
            "observedGeneration": 1,
        },
    });
    drop(c);
    value_response(200, &v)
}

pub(crate) mod table {
    //! Server-side `Table` rendering for `kubectl get` (nodes, pods, PDBs; others fall back to lists).

    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Node, Pod};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::{json, Value};

    use crate::cluster::{node_is_ready, Kind, Obj, Object};

    fn age(meta: &ObjectMeta) -> String {
        let Some(t) = &meta.creation_timestamp else {
            return "<unknown>".into();
        };
        let secs = jiff::Timestamp::now().as_second() - t.0.as_second();
        match secs {
            s if s < 120 => format!("{s}s"),
            s if s < 7200 => format!("{}m", s / 60),
            s if s < 172_800 => format!("{}h", s / 3600),
            s => format!("{}d", s / 86_400),
        }
    }

    fn col(name: &str, ty: &str, priority: i32) -> Value {
        json!({ "name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority })
    }

    fn node_row(n: &Node) -> Vec<Value> {
        let mut status = if node_is_ready(n) {
            "Ready"
        } else {
            "NotReady"
        }
        .to_string();
        if crate::cluster::is_unschedulable(n) {
            status.push_str(",SchedulingDisabled");
        }
        let roles: Vec<&str> = n
            .metadata
            .labels
            .iter()
            .flatten()
            .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
            .collect();
        let roles = if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        };
        let version = n
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone())
            .unwrap_or_default();
        vec![
            json!(n.metadata.name),
            json!(status),
            json!(roles),
            json!(age(&n.metadata)),
            json!(version),
        ]
    }

    fn pod_row(p: &Pod) -> Vec<Value> {
        let total = p.spec.as_ref().map_or(0, |s| s.containers.len());
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map_or(0, |cs| cs.iter().filter(|c| c.ready).count());
        let mut status = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into());
        if p.metadata.deletion_timestamp.is_some() {
            status = "Terminating".into();
        }
        vec![
            json!(p.metadata.name),
            json!(format!("{ready}/{total}")),
            json!(status),
            json!(0),
            json!(age(&p.metadata)),
            json!(p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_else(|| "<none>".into())),
            json!(p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_else(|| "<none>".into())),
        ]
    }

    fn int_or_string(v: Option<&IntOrString>) -> Value {
        match v {
            Some(IntOrString::Int(i)) => json!(i.to_string()),
            Some(IntOrString::String(s)) => json!(s),
            None => json!("N/A"),
        }
    }

    fn pdb_row(p: &PodDisruptionBudget) -> Vec<Value> {
        let spec = p.spec.as_ref();
        vec![
            json!(p.metadata.name),
            int_or_string(spec.and_then(|s| s.min_available.as_ref())),
            int_or_string(spec.and_then(|s| s.max_unavailable.as_ref())),
            json!(p
                .status
                .as_ref()
                .and_then(|s| s.disruptions_allowed)
                .unwrap_or(0)),
            json!(age(&p.metadata)),
        ]
    }

    /// A `meta.k8s.io/v1` Table for nodes, pods and PDBs; `None` for other kinds.
    pub(crate) fn table<T: Object>(items: &[Arc<T>], rv: u64, cont: Option<&str>) -> Option<Value> {
        let columns = match T::SIM_KIND {
            Kind::Node => vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Roles", "string", 0),
                col("Age", "string", 0),
                col("Version", "string", 0),
            ],
            Kind::Pod => vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                col("Age", "string", 0),
                col("IP", "string", 1),
                col("Node", "string", 1),
            ],
            Kind::Pdb => vec![
                col("Name", "string", 0),
                col("Min Available", "string", 0),
                col("Max Unavailable", "string", 0),
                col("Allowed Disruptions", "integer", 0),
                col("Age", "string", 0),
            ],
            _ => return None,
        };
        let rows: Vec<Value> = items
            .iter()
            .map(|o| {
                let obj = T::wrap(o.clone());
                let cells = match &obj {
                    Obj::Node(n) => node_row(n),
                    Obj::Pod(p) => pod_row(p),
                    Obj::Pdb(p) => pdb_row(p),
                    _ => Vec::new(),
                };
                json!({ "cells": cells, "object": partial(obj.meta()) })
            })
            .collect();
        let mut meta = json!({ "resourceVersion": rv.to_string() });
        if let Some(c) = cont {
            meta["continue"] = json!(c);
        }
        Some(json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "columnDefinitions": columns,
            "rows": rows,
        }))
    }

    /// `PartialObjectMetadata` of an object, as the server embeds it with `includeObject=Metadata`.
    fn partial(meta: &ObjectMeta) -> Value {
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
        })
    }
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
