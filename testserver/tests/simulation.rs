//! The simulated kubelets and controllers: grace periods, recreation, readiness delay.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kube_testserver::{builders, Cluster, Options, TestServer};
use serde_json::json;

fn cluster() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    for n in ["w1", "w2", "w3"] {
        c.add_node(builders::node(n, "v1.33.2"));
    }
    c.add_pod(
        builders::pod("default", "rs-a", "w1")
            .owner("ReplicaSet", "web-abc")
            .labels(&[("app", "web")])
            .build(),
    );
    c.add_pod(
        builders::pod("default", "db-0", "w1")
            .owner("StatefulSet", "db")
            .labels(&[("app", "db")])
            .build(),
    );
    c.add_pod(
        builders::pod("kube-system", "ds-w1", "w1")
            .owner("DaemonSet", "kube-proxy")
            .build(),
    );
    c.add_pod(builders::pod("default", "bare", "w1").build());
    c
}

fn on_node(server: &TestServer, node: &str) -> Vec<String> {
    server.with_state(|c| {
        c.pods_on_node(node)
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    })
}

#[test]
fn replicaset_pods_come_back_elsewhere_notready_then_ready() {
    let opts = Options {
        ready_delay: Duration::from_millis(400),
        ..Default::default()
    };
    let server = TestServer::start_with(cluster(), opts);
    server.with_state(|c| c.set_node_unschedulable("w2", true));
    let t0 = Instant::now();
    assert_eq!(
        evict(
            &server,
            "default",
            "rs-a",
            Some(json!({"gracePeriodSeconds": 0}))
        )
        .status,
        201
    );
    // The replacement: new name with the ReplicaSet's prefix, on w3 (w1 is the old node, w2 is
    // cordoned, cp is tainted), not Ready yet.
    let new = server.with_state(|c| {
        c.pods()
            .find(|p| p.metadata.name.as_deref().unwrap().starts_with("web-abc-"))
            .cloned()
    });
    let new = new.expect("replacement created at once");
    let name = new.metadata.name.clone().unwrap();
    assert_eq!(name.len(), "web-abc-".len() + 5);
    assert_eq!(new.spec.as_ref().unwrap().node_name.as_deref(), Some("w3"));
    assert_eq!(new.metadata.labels.as_ref().unwrap()["app"], "web");
    let ready = |server: &TestServer| {
        server.with_state(|c| {
            c.pod("default", &name)
                .unwrap()
                .status
                .as_ref()
                .unwrap()
                .conditions
                .as_ref()
                .unwrap()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    };
    assert!(!ready(&server));
    assert!(wait_until(Duration::from_secs(5), || ready(&server)));
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert!(server.with_state(|c| c.pod("default", "rs-a").is_none()));
}

#[test]
fn statefulset_pod_returns_with_same_name_new_uid_daemonset_pod_does_not() {
    let server = TestServer::start_with(
        cluster(),
        Options {
            grace_cap: Duration::from_millis(100),
            ..Default::default()
        },
    );
    let old_uid = server.with_state(|c| {
        c.pod("default", "db-0")
            .unwrap()
            .metadata
            .uid
            .clone()
            .unwrap()
    });
    assert_eq!(evict(&server, "default", "db-0", None).status, 201);
    assert_eq!(evict(&server, "kube-system", "ds-w1", None).status, 201);
    assert_eq!(
        delete(&server, "/api/v1/namespaces/default/pods/bare", None).status,
        200
    );
    // Terminating first (default grace 30 s, capped to 100 ms), then recreated.
    assert!(server.with_state(|c| c
        .pod("default", "db-0")
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some()));
    assert!(wait_until(Duration::from_secs(5), || server.with_state(
        |c| {
            c.pod("default", "db-0")
                .is_some_and(|p| p.metadata.uid.as_deref() != Some(old_uid.as_str()))
        }
    )));
    let node = server.with_state(|c| {
        c.pod("default", "db-0")
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .node_name
            .clone()
            .unwrap()
    });
    assert_ne!(node, "w1");
    assert!(wait_until(Duration::from_secs(2), || on_node(
        &server, "w1"
    ) == vec!["rs-a"]));
    assert!(server.with_state(
        |c| c.pod("kube-system", "ds-w1").is_none() && c.pod("default", "bare").is_none()
    ));
    assert_eq!(
        server.with_state(|c| c.pods().count()),
        2,
        "only db-0 came back (besides rs-a, untouched)"
    );
}

#[test]
fn no_recreation_when_disabled_and_pending_when_no_node_fits() {
    let server = TestServer::start_with(
        cluster(),
        Options {
            recreate: false,
            ..Default::default()
        },
    );
    assert_eq!(
        evict(
            &server,
            "default",
            "rs-a",
            Some(json!({"gracePeriodSeconds": 0}))
        )
        .status,
        201
    );
    assert_eq!(server.with_state(|c| c.pods().count()), 3);

    let server = TestServer::start(cluster());
    // No node fits: w1 is cordoned (as a drain leaves it), w2 too, w3 is NotReady.
    server.with_state(|c| {
        c.set_node_unschedulable("w1", true);
        c.set_node_unschedulable("w2", true);
        c.set_node_ready("w3", false);
    });
    assert_eq!(
        evict(
            &server,
            "default",
            "rs-a",
            Some(json!({"gracePeriodSeconds": 0}))
        )
        .status,
        201
    );
    let pending = server
        .with_state(|c| {
            c.pods()
                .find(|p| p.metadata.name.as_deref().unwrap().starts_with("web-abc-"))
                .cloned()
        })
        .unwrap();
    assert_eq!(
        pending.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert!(pending.spec.as_ref().unwrap().node_name.is_none());
    // Scheduled once a node is available again.
    server.with_state(|c| c.set_node_unschedulable("w2", false));
    let name = pending.metadata.name.unwrap();
    assert!(wait_until(Duration::from_secs(5), || server.with_state(
        |c| {
            c.pod("default", &name)
                .unwrap()
                .spec
                .as_ref()
                .unwrap()
                .node_name
                .as_deref()
                == Some("w2")
        }
    )));
}

#[test]
fn budget_recovers_in_waves() {
    // 4 replicas, maxUnavailable 1: evicting all pods of w1 (2 of them) needs two waves.
    let mut c = Cluster::new();
    for n in ["w1", "w2", "w3"] {
        c.add_node(builders::node(n, "v1.33.2"));
    }
    for (i, n) in ["w1", "w1", "w2", "w3"].iter().enumerate() {
        c.add_pod(
            builders::pod("default", &format!("web-{i}"), n)
                .owner("ReplicaSet", "web-abc")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c.add_pdb(builders::pdb_max_unavailable(
        "default",
        "web",
        &[("app", "web")],
        int(1),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            ready_delay: Duration::from_millis(200),
            grace_cap: Duration::from_millis(50),
            ..Default::default()
        },
    );
    server.with_state(|c| c.set_node_unschedulable("w1", true));
    assert_eq!(evict(&server, "default", "web-0", None).status, 201);
    assert_eq!(evict(&server, "default", "web-1", None).status, 429);
    let allowed = |s: &TestServer| {
        s.with_state(|c| {
            c.pdb("default", "web")
                .unwrap()
                .status
                .as_ref()
                .unwrap()
                .disruptions_allowed
        })
    };
    assert!(wait_until(Duration::from_secs(5), || allowed(&server) == Some(1)));
    assert_eq!(evict(&server, "default", "web-1", None).status, 201);
    assert!(wait_until(Duration::from_secs(5), || on_node(
        &server, "w1"
    )
    .is_empty()
        && allowed(&server) == Some(1)));
    assert_eq!(server.with_state(|c| c.pods().count()), 4);
    assert_eq!(server.pdb_violations(), 0);
}
