//! The eviction subresource and PodDisruptionBudget status, over HTTP.

mod common;

use std::time::Duration;

use common::*;
use kube_testserver::{builders, Cluster, Options, TestServer};
use serde_json::json;

fn pdb_status(server: &TestServer, ns: &str, name: &str) -> (i32, i32, i32, i32) {
    let v = get(
        server,
        &format!("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}"),
    )
    .json();
    let s = &v["status"];
    let n = |k: &str| s[k].as_i64().unwrap_or(-1) as i32;
    (
        n("expectedPods"),
        n("desiredHealthy"),
        n("currentHealthy"),
        n("disruptionsAllowed"),
    )
}

#[test]
fn eviction_succeeds_with_budget_then_429_with_cause() {
    let mut c = three_node_web();
    c.add_pdb(builders::pdb_min_available(
        "default",
        "web",
        &[("app", "web")],
        int(2),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            recreate: false,
            grace_cap: Duration::from_secs(5),
            ..Default::default()
        },
    );
    assert_eq!(pdb_status(&server, "default", "web"), (3, 2, 3, 1));

    let r = evict(&server, "default", "web-0", None);
    assert_eq!(r.status, 201, "{}", r.text);
    let b = r.json();
    assert_eq!(
        (b["kind"].as_str(), b["status"].as_str()),
        (Some("Status"), Some("Success"))
    );
    // The budget is used up at once (the pod is terminating, not yet gone).
    let (_, desired, healthy, allowed) = pdb_status(&server, "default", "web");
    assert_eq!((desired, healthy, allowed), (2, 2, 0));
    assert!(server.with_state(|c| c
        .pod("default", "web-0")
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some()));

    let r = evict(&server, "default", "web-1", None);
    assert_eq!(r.status, 429, "{}", r.text);
    let b = r.json();
    assert_eq!(b["reason"], "TooManyRequests");
    assert_eq!(
        b["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(b["details"]["causes"][0]["reason"], "DisruptionBudget");
    assert_eq!(
        b["details"]["causes"][0]["message"],
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    // Like eviction.go: NewTooManyRequests(..., 0) sets no Retry-After.
    assert_eq!(r.header("Retry-After"), None);
    assert!(server.with_state(|c| c
        .pod("default", "web-1")
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none()));

    let statuses: Vec<u16> = server.evictions().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![201, 429]);
    assert_eq!(server.count("create", "pods/eviction"), 2);
    assert_eq!(server.pdb_violations(), 0);
}

#[test]
fn eviction_errors_404_500_409() {
    let mut c = three_node_web();
    c.add_pdb(builders::pdb_max_unavailable(
        "default",
        "a",
        &[("app", "web")],
        int(1),
    ));
    let server = TestServer::start(c);

    let r = evict(&server, "default", "nope", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], r#"pods "nope" not found"#);
    assert_eq!(r.json()["reason"], "NotFound");

    let uid = server.with_state(|c| {
        c.pod("default", "web-0")
            .unwrap()
            .metadata
            .uid
            .clone()
            .unwrap()
    });
    let r = evict(
        &server,
        "default",
        "web-0",
        Some(json!({"preconditions": {"uid": "wrong"}})),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.json()["message"],
        format!("Operation cannot be fulfilled on pods \"web-0\": Precondition failed: UID in precondition: wrong, UID in object meta: {uid}")
    );
    assert_eq!(r.json()["reason"], "Conflict");
    // A failed precondition does not consume the budget.
    assert_eq!(pdb_status(&server, "default", "a").3, 1);

    server.with_state(|c| {
        c.add_pdb(builders::pdb_min_available(
            "default",
            "b",
            &[("app", "web")],
            int(1),
        ))
    });
    let r = evict(&server, "default", "web-0", None);
    assert_eq!(r.status, 500);
    let b = r.json();
    assert_eq!(b["message"], "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
    assert_eq!(b["status"], "Failure");
    assert!(server.with_state(|c| c.pod("default", "web-0").is_some()));

    let r = post(
        &server,
        "/api/v1/namespaces/default/pods/web-0/eviction",
        &json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn delete_options_are_honoured_and_recorded() {
    let mut c = three_node_web();
    c.add_pdb(builders::pdb_max_unavailable(
        "default",
        "web",
        &[("app", "web")],
        int(1),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            recreate: false,
            grace_cap: Duration::from_secs(30),
            ..Default::default()
        },
    );
    let uid = server.with_state(|c| {
        c.pod("default", "web-0")
            .unwrap()
            .metadata
            .uid
            .clone()
            .unwrap()
    });

    // dryRun: 201, nothing changes.
    let r = evict(
        &server,
        "default",
        "web-0",
        Some(json!({"dryRun": ["All"]})),
    );
    assert_eq!(r.status, 201);
    assert!(server.with_state(|c| c
        .pod("default", "web-0")
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none()));
    assert_eq!(pdb_status(&server, "default", "web").3, 1);

    // gracePeriodSeconds 0 + matching uid: gone at once.
    let r = evict(
        &server,
        "default",
        "web-0",
        Some(json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(server.with_state(|c| c.pod("default", "web-0").is_none()));

    // grace 7 with a long cap: terminating with deletionGracePeriodSeconds 7.
    server.with_state(|c| c.set_pod_ready("default", "web-1", true));
    let r = evict(
        &server,
        "default",
        "web-1",
        Some(json!({"gracePeriodSeconds": 7})),
    );
    assert_eq!(r.status, 429, "budget is spent after web-0: {}", r.text);

    let ev = server.evictions();
    assert_eq!(ev.len(), 3);
    assert!(ev[0].dry_run && ev[0].grace_period_seconds.is_none());
    assert_eq!(ev[1].grace_period_seconds, Some(0));
    assert_eq!(ev[1].precondition_uid.as_deref(), Some(uid.as_str()));
    assert_eq!(ev[1].api_version, "policy/v1");
    assert_eq!(
        ev[1].delete_options.as_ref().unwrap()["gracePeriodSeconds"],
        0
    );
    assert_eq!((ev[2].grace_period_seconds, ev[2].status), (Some(7), 429));
}

#[test]
fn grace_period_sets_terminating_state() {
    let server = TestServer::start_with(
        three_node_web(),
        Options {
            recreate: false,
            grace_cap: Duration::from_secs(30),
            ..Default::default()
        },
    );
    let r = evict(
        &server,
        "default",
        "web-0",
        Some(json!({"gracePeriodSeconds": 7})),
    );
    assert_eq!(r.status, 201);
    let p = get(&server, "/api/v1/namespaces/default/pods/web-0").json();
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 7);
    assert!(p["metadata"]["deletionTimestamp"].is_string());
}

#[test]
fn pods_not_running_or_terminating_bypass_the_budget() {
    let mut c = three_node_web();
    c.add_pod(
        builders::pod("default", "pending", "")
            .labels(&[("app", "web")])
            .build(),
    );
    c.add_pod(
        builders::pod("default", "done", "w1")
            .labels(&[("app", "web")])
            .phase("Succeeded")
            .build(),
    );
    c.add_pod(
        builders::pod("default", "failed", "w1")
            .labels(&[("app", "web")])
            .phase("Failed")
            .build(),
    );
    c.add_pdb(builders::pdb_min_available(
        "default",
        "web",
        &[("app", "web")],
        pct("100%"),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            recreate: false,
            grace_cap: Duration::from_secs(30),
            ..Default::default()
        },
    );
    assert_eq!(pdb_status(&server, "default", "web").3, 0);
    for p in ["pending", "done", "failed"] {
        let r = evict(&server, "default", p, None);
        assert_eq!(r.status, 201, "{p}: {}", r.text);
        assert!(
            server.with_state(|c| c.pod("default", p).is_none()),
            "{p} is deleted at once (grace 0)"
        );
    }
    assert_eq!(evict(&server, "default", "web-0", None).status, 429);
    // Terminating pods bypass too.
    delete(
        &server,
        "/api/v1/namespaces/default/pods/web-0",
        Some(&json!({"gracePeriodSeconds": 20})),
    );
    assert_eq!(evict(&server, "default", "web-0", None).status, 201);
    assert_eq!(
        server.pdb_violations(),
        1,
        "the plain DELETE of a healthy pod without budget counts"
    );
}

#[test]
fn unobserved_budget_answers_429_with_retry_after() {
    let mut c = three_node_web();
    // An invalid percentage: the controller cannot compute a status, as on a real cluster.
    c.add_pdb(builders::pdb_min_available(
        "default",
        "bad",
        &[("app", "web")],
        pct("two"),
    ));
    let server = TestServer::start(c);
    let r = evict(&server, "default", "web-0", None);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Retry-After"), Some("10"));
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "The disruption budget bad is still being processed by the server."
    );
}

#[test]
fn held_budget_stays_unobserved_until_released() {
    let mut c = three_node_web();
    c.add_pdb(builders::pdb_min_available(
        "default",
        "web",
        &[("app", "web")],
        int(1),
    ));
    c.hold_pdb_status("default", "web", true);
    let server = TestServer::start(c);
    let v = get(
        &server,
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web",
    )
    .json();
    assert!(v["status"].is_null(), "held: no status yet: {v}");
    let r = evict(&server, "default", "web-0", None);
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "The disruption budget web is still being processed by the server."
    );
    server.with_state(|c| c.hold_pdb_status("default", "web", false));
    assert_eq!(pdb_status(&server, "default", "web"), (3, 1, 3, 2));
    assert_eq!(evict(&server, "default", "web-0", None).status, 201);
}

#[test]
fn unready_pod_is_evicted_without_spending_budget() {
    let mut c = three_node_web();
    c.add_pod(
        builders::pod("default", "web-3", "w1")
            .owner("ReplicaSet", "web-abc")
            .labels(&[("app", "web")])
            .not_ready()
            .build(),
    );
    c.add_pdb(builders::pdb_min_available(
        "default",
        "web",
        &[("app", "web")],
        int(3),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            recreate: false,
            ..Default::default()
        },
    );
    assert_eq!(pdb_status(&server, "default", "web"), (4, 3, 3, 0));
    assert_eq!(evict(&server, "default", "web-3", None).status, 201);
    assert_eq!(evict(&server, "default", "web-0", None).status, 429);
}

#[test]
fn pdb_status_arithmetic_int_and_percent() {
    // 10 pods, 9 Ready.
    let mut c = Cluster::new();
    c.add_node(builders::node("w1", "v1.33.2"));
    for i in 0..10 {
        let b = builders::pod("apps", &format!("p{i}"), "w1").labels(&[("app", "x")]);
        c.add_pod(if i == 9 {
            b.not_ready().build()
        } else {
            b.build()
        });
    }
    let cases = [
        ("min-int", Some(int(7)), None, (10, 7, 9, 2)),
        ("min-pct", Some(pct("75%")), None, (10, 8, 9, 1)), // 7.5 rounds up
        ("max-int", None, Some(int(2)), (10, 8, 9, 1)),
        ("max-pct", None, Some(pct("15%")), (10, 8, 9, 1)), // maxUnavailable 1.5 rounds up to 2
        ("max-pct-small", None, Some(pct("5%")), (10, 9, 9, 0)), // 0.5 -> 1
        ("min-all", Some(pct("100%")), None, (10, 10, 9, 0)),
    ];
    for (name, min, max, _) in &cases {
        // Each PDB in its own namespace so that each pod has a single PDB.
        let ns = format!("ns-{name}");
        for i in 0..10 {
            let b = builders::pod(&ns, &format!("p{i}"), "w1").labels(&[("app", "x")]);
            c.add_pod(if i == 9 {
                b.not_ready().build()
            } else {
                b.build()
            });
        }
        let pdb = match (min, max) {
            (Some(m), _) => builders::pdb_min_available(&ns, "pdb", &[("app", "x")], m.clone()),
            (_, Some(m)) => builders::pdb_max_unavailable(&ns, "pdb", &[("app", "x")], m.clone()),
            _ => unreachable!(),
        };
        c.add_pdb(pdb);
    }
    let server = TestServer::start(c);
    for (name, _, _, want) in &cases {
        assert_eq!(
            pdb_status(&server, &format!("ns-{name}"), "pdb"),
            *want,
            "{name}"
        );
    }
    // Status follows pod changes: one more pod unready in ns-min-int -> 8 healthy, 1 allowed.
    server.with_state(|c| c.set_pod_ready("ns-min-int", "p0", false));
    assert_eq!(pdb_status(&server, "ns-min-int", "pdb"), (10, 7, 8, 1));
    let v = get(
        &server,
        "/apis/policy/v1/namespaces/ns-min-int/poddisruptionbudgets/pdb",
    )
    .json();
    assert_eq!(
        v["status"]["observedGeneration"],
        v["metadata"]["generation"]
    );
}

#[test]
fn delete_without_budget_counts_a_violation_eviction_never_does() {
    let mut c = three_node_web();
    c.add_pdb(builders::pdb_max_unavailable(
        "default",
        "web",
        &[("app", "web")],
        int(1),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            recreate: false,
            grace_cap: Duration::from_secs(30),
            ..Default::default()
        },
    );
    assert_eq!(evict(&server, "default", "web-0", None).status, 201);
    assert_eq!(server.pdb_violations(), 0);
    let r = delete(&server, "/api/v1/namespaces/default/pods/web-1", None);
    assert_eq!(r.status, 200);
    assert_eq!(server.pdb_violations(), 1);
    // Deleting a pod that is not covered or not healthy does not count.
    let r = delete(
        &server,
        "/api/v1/namespaces/default/pods/web-0",
        Some(&json!({"gracePeriodSeconds": 0})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(server.pdb_violations(), 1);
}

#[test]
fn injected_eviction_failures_are_recorded() {
    let server = TestServer::start(three_node_web());
    server.fail_next_evictions(2, 429);
    assert_eq!(evict(&server, "default", "web-0", None).status, 429);
    assert_eq!(evict(&server, "default", "web-0", None).status, 429);
    assert_eq!(evict(&server, "default", "web-0", None).status, 201);
    let s: Vec<u16> = server.evictions().iter().map(|e| e.status).collect();
    assert_eq!(s, vec![429, 429, 201]);
}
