//! Generic resource handling: get, list (pages, selectors, continue tokens), create,
//! update, patch and delete, for every stored kind.

use super::*;

// ----- generic resource handling ------------------------------------------------------------

pub(super) fn group_of<T: Object>() -> &'static str {
    T::GROUP
}

pub(super) fn plural<T: Object>() -> &'static str {
    T::URL_PATH_SEGMENT
}

pub(super) fn key_for<T: Object>(ns: Option<&str>, name: &str) -> Key {
    let ns = if T::NAMESPACED {
        ns.unwrap_or("default").to_string()
    } else {
        String::new()
    };
    (ns, name.to_string())
}

pub(super) async fn resource<T: Object + Default>(ctx: &Ctx) -> Response<Body> {
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

pub(super) fn get<T: Object>(ctx: &Ctx, name: &str) -> Result<Response<Body>, ApiError> {
    let c = lock(&ctx.sh.state);
    let key = key_for::<T>(ctx.rr.ns.as_deref(), name);
    let o = T::store(&c)
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(group_of::<T>(), plural::<T>(), name))?;
    drop(c);
    Ok(obj_response(200, &*o))
}

pub(super) struct ListParams {
    label: LabelSel,
    field: FieldSel,
    limit: Option<usize>,
    cont: Option<(u64, Key)>,
    rv_exact: Option<u64>,
}

pub(super) fn selectors<T: Object + Default>(q: &Query) -> Result<(LabelSel, FieldSel), ApiError> {
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

pub(super) fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Continue tokens encode the list's resourceVersion and the last key returned.
pub(super) fn encode_continue(rv: u64, key: &Key) -> String {
    hex(format!("{rv}\n{}\n{}", key.0, key.1).as_bytes())
}

pub(super) fn decode_continue(s: &str) -> Option<(u64, Key)> {
    let raw = String::from_utf8(unhex(s)?).ok()?;
    let mut it = raw.splitn(3, '\n');
    let rv = it.next()?.parse().ok()?;
    Some((rv, (it.next()?.to_string(), it.next()?.to_string())))
}

pub(super) fn list_params<T: Object + Default>(q: &Query) -> Result<ListParams, ApiError> {
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

pub(super) fn matches<T: Object>(o: &T, label: &LabelSel, field: &FieldSel) -> bool {
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

pub(super) fn list<T: Object + Default>(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
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

pub(super) fn parse_body(ctx: &Ctx) -> Result<Value, ApiError> {
    let ct = ctx.content_type.as_str();
    if ct.contains("protobuf") || ct.contains("yaml") || ct.contains("apply-patch") {
        return Err(ApiError::unsupported_media_type(ct));
    }
    serde_json::from_slice(&ctx.body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

pub(super) fn from_value<T: Object>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid object: {e}")))
}

pub(super) fn dry_run(q: &Query) -> bool {
    q.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
}

pub(super) fn create<T: Object>(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
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

pub(super) fn check_rv<T: Object>(
    current: &T,
    wanted: Option<&str>,
    name: &str,
) -> Result<(), ApiError> {
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
pub(super) fn finish_update<T: Object>(
    current: &T,
    mut new: Value,
    status_only: bool,
) -> Result<T, ApiError> {
    let cur = serde_json::to_value(current).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if status_only {
        let mut out = cur.clone();
        out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        new = out;
    } else if let Some(s) = cur.get("status") {
        if !matches!(T::SIM_KIND, Kind::ConfigMap | Kind::Lease) {
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

pub(super) fn update<T: Object>(
    ctx: &Ctx,
    name: &str,
    status_only: bool,
) -> Result<Response<Body>, ApiError> {
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

pub(super) fn patch<T: Object>(
    ctx: &Ctx,
    name: &str,
    status_only: bool,
) -> Result<Response<Body>, ApiError> {
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

pub(super) fn delete_opts(body: Option<&Value>, q: &Query) -> DeleteOpts {
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

pub(super) fn delete<T: Object>(ctx: &Ctx, name: &str) -> Result<Response<Body>, ApiError> {
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
