//! Outages, latency, 403s and the RBAC mode.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kube_testserver::{OutageMode, TestServer};

#[test]
fn refuse_outage_then_same_port_again() {
    let server = TestServer::start(three_node_web());
    let port = target(&server);
    assert_eq!(get(&server, "/version").status, 200);
    server.outage(Duration::from_millis(500), OutageMode::Refuse);
    let err = try_request(&port, "GET", "/version", "application/json", None).expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(wait_until(Duration::from_secs(5), || try_request(
        &port,
        "GET",
        "/version",
        "application/json",
        None
    )
    .is_ok()));
    assert_eq!(get(&server, "/api/v1/nodes").status, 200);
}

#[test]
fn refuse_outage_cuts_open_watches() {
    let server = TestServer::start(three_node_web());
    let port = target(&server);
    let h = std::thread::spawn(move || {
        let t = Instant::now();
        let r = try_request(
            &port,
            "GET",
            "/api/v1/pods?watch=true&resourceVersion=1",
            "application/json",
            None,
        );
        (t.elapsed(), r)
    });
    std::thread::sleep(Duration::from_millis(300));
    server.outage(Duration::from_millis(300), OutageMode::Refuse);
    let (elapsed, _) = h.join().unwrap();
    assert!(
        elapsed < Duration::from_secs(5),
        "the watch ended with the outage"
    );
}

#[test]
fn service_unavailable_outage() {
    let server = TestServer::start(three_node_web());
    server.outage(Duration::from_millis(400), OutageMode::ServiceUnavailable);
    let r = get(&server, "/api/v1/pods");
    assert_eq!(r.status, 503);
    let b = r.json();
    assert_eq!(
        (b["kind"].as_str(), b["reason"].as_str(), b["code"].as_i64()),
        (Some("Status"), Some("ServiceUnavailable"), Some(503))
    );
    assert_eq!(get(&server, "/version").status, 503);
    assert!(wait_until(Duration::from_secs(3), || get(
        &server,
        "/api/v1/pods"
    )
    .status
        == 200));
    assert!(
        server.count("list", "pods") >= 2,
        "rejected requests are counted"
    );
}

#[test]
fn latency_is_added() {
    let server = TestServer::start(three_node_web());
    server.set_latency(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(get(&server, "/api/v1/nodes").status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    server.set_latency(Duration::ZERO);
}

#[test]
fn forbid_answers_403_like_rbac() {
    let server = TestServer::start(three_node_web());
    server.forbid("create", "pods/eviction");
    let r = evict(&server, "ns1", "x", None);
    assert_eq!(r.status, 403);
    let b = r.json();
    assert_eq!(
        b["message"],
        r#"pods "x" is forbidden: User "test" cannot create resource "pods/eviction" in API group "" in the namespace "ns1""#
    );
    assert_eq!(
        (
            b["reason"].as_str(),
            b["code"].as_i64(),
            b["details"]["kind"].as_str()
        ),
        (Some("Forbidden"), Some(403), Some("pods"))
    );
    assert_eq!(
        server.evictions().len(),
        0,
        "the request never reached the eviction handler"
    );
    assert_eq!(get(&server, "/api/v1/pods").status, 200);

    server.forbid("list", "nodes");
    let r = get(&server, "/api/v1/nodes");
    assert_eq!(
        r.json()["message"],
        r#"nodes is forbidden: User "test" cannot list resource "nodes" in API group "" at the cluster scope"#
    );
}

#[test]
fn rbac_allow_only() {
    let server = TestServer::start(three_node_web());
    server.rbac_allow_only(vec![
        ("list".into(), "nodes".into()),
        ("*".into(), "pods".into()),
    ]);
    assert_eq!(get(&server, "/api/v1/nodes").status, 200);
    assert_eq!(get(&server, "/api/v1/pods").status, 200);
    assert_eq!(
        get(&server, "/api/v1/namespaces/default/pods/web-0").status,
        200
    );
    assert_eq!(get(&server, "/api/v1/nodes/w1").status, 403);
    let r = get(&server, "/apis/policy/v1/poddisruptionbudgets");
    assert_eq!(r.status, 403);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("poddisruptionbudgets.policy is forbidden"));
    assert_eq!(evict(&server, "default", "web-0", None).status, 403);
    // Discovery stays open.
    assert_eq!(get(&server, "/api/v1").status, 200);
    server.allow_all();
    assert_eq!(get(&server, "/api/v1/nodes/w1").status, 200);
}
