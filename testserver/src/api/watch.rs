//! Watches: the event stream from a resourceVersion, bookmarks, the server's time limit.

use super::*;

// ----- watch --------------------------------------------------------------------------------

pub(super) fn event_line(typ: &str, obj: &impl serde::Serialize) -> Bytes {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(format!("{{\"type\":\"{typ}\",\"object\":").as_bytes());
    let _ = serde_json::to_writer(&mut buf, obj);
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

pub(super) fn obj_matches(o: &Obj, label: &LabelSel, field: &FieldSel) -> bool {
    label.matches(o.meta().labels.as_ref()) && field.matches(|f| o.field(f))
}

pub(super) fn watch_event(
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

pub(super) fn bookmark<T: Object>(rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if initial_end {
        meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event_line(
        "BOOKMARK",
        &json!({ "kind": T::KIND, "apiVersion": T::API_VERSION, "metadata": meta }),
    )
}

pub(super) fn watch<T: Object + Default>(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
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
