//! The eviction subresource, and apps/v1 workloads synthesized from pod owner references.

use super::*;

// ----- eviction -----------------------------------------------------------------------------

pub(super) fn eviction(ctx: &Ctx) -> Response<Body> {
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
                        let r = c
                            .eviction_admission()
                            .and_then(|()| c.evict(&ns, &name, &opts, Instant::now()));
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

pub(super) fn workload(ctx: &Ctx) -> Response<Body> {
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
