//! drain-next's replace (surge) strategy against the test server: new nodes at the target
//! are the destination, old nodes are drained onto them one at a time and recorded as drained
//! for removal (never blocking the next), `--delete-node` removes the Node object, and
//! without a destination nothing is touched. Zero PDB violations throughout.

mod drain_support;

use drain_support::*;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{builders, Cluster, TestServer};

/// Old workers o-1, o-2 at 1.32 carrying a PDB-covered app; new workers n-1, n-2 at 1.33.
fn surge() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    for n in ["o-1", "o-2"] {
        c.add_node(builders::node(n, "v1.32.5"));
    }
    for n in ["n-1", "n-2"] {
        c.add_node(builders::node(n, "v1.33.2"));
    }
    replicas(&mut c, "app", "web", 4, "o-1");
    replicas(&mut c, "app", "api", 2, "o-2");
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    c
}

#[test]
fn replace_drains_old_nodes_onto_new_ones_for_removal() {
    let server = TestServer::start(surge());
    let args = [
        "drain-next",
        "--to",
        "v1.33.2",
        "--strategy",
        "replace",
        "-o",
        "json",
        "--timeout",
        "60s",
    ];
    let r = run(&server, &args);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["node"], "o-1");
    assert_eq!(j["strategy"], "replace");
    assert!(pods_on(&server, "o-1").is_empty());
    assert!(
        cordoned(&server, "o-1"),
        "a drained node stays cordoned until it is removed"
    );
    let p = progress(&server, "o-1").unwrap();
    assert_eq!(p["state"], "drained");
    assert_eq!(p["command"], "drain-next-replace");
    // The next run does not wait for o-1 to come back (it never will): o-2 is next.
    let r = run(&server, &[&args[..], &["--delete-node"]].concat());
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "o-2");
    assert_eq!(r.json()["deletedNode"], true);
    assert!(
        server.with_state(|c| c.node("o-2").is_none()),
        "the Node object is gone"
    );
    // Every pod now runs on the new nodes; no budget was broken.
    let on_new = pods_on(&server, "n-1").len() + pods_on(&server, "n-2").len();
    assert_eq!(on_new, 6);
    assert_eq!(server.pdb_violations(), 0);
    // Nothing left to do; status calls it done.
    let r = run(&server, &args);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.json()["node"].is_null());
    let s = run(&server, &["status", "--to", "v1.33.2", "-o", "json"]);
    let v = s.json();
    assert_eq!(v["replaced"], 1, "{}", s.all());
    assert_eq!(v["done"], true, "{}", s.all());
    // A node drained for removal is not uncordoned as if upgraded.
    let u = run(&server, &["uncordon", "o-1"]);
    assert_ne!(u.code, 0, "{}", u.all());
}

#[test]
fn replace_without_a_destination_touches_nothing() {
    let mut c = Cluster::new();
    c.add_node(builders::node("o-1", "v1.32.5"));
    c.add_node(builders::node("o-2", "v1.32.5"));
    replicas(&mut c, "app", "web", 2, "o-1");
    let server = TestServer::start(c);
    let r = run(
        &server,
        &["drain-next", "--to", "v1.33.2", "--strategy", "replace"],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.all().contains("add the new nodes first"), "{}", r.all());
    assert_eq!(mutations(&server), 0);
    // --delete-node belongs to replace.
    let r = run(&server, &["drain-next", "--to", "v1.33.2", "--delete-node"]);
    assert_eq!(r.code, 64, "{}", r.all());
}

/// Before the first drain of a replace rollout, the capacity preview places the pods that
/// must move on the nodes at the target (requests against free allocatable, nodeSelector,
/// required affinity, taints): pods that would stay Pending are named and nothing is touched
/// (exit 2); `--ignore-capacity` goes ahead.
#[test]
fn replace_previews_capacity_and_names_the_pods_that_would_stay_pending() {
    use kube_testserver::k8s_openapi::api::core::v1::ResourceRequirements;
    use kube_testserver::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let mut c = surge();
    let mut gpu = builders::pod("app", "trainer-0", "o-1")
        .owner("ReplicaSet", "trainer-rs")
        .labels(&[("app", "trainer")])
        .build();
    if let Some(spec) = gpu.spec.as_mut() {
        spec.node_selector = Some([("pool".to_string(), "gpu".to_string())].into());
    }
    c.add_pod(gpu);
    let mut big = builders::pod("app", "big-0", "o-1")
        .owner("ReplicaSet", "big-rs")
        .labels(&[("app", "big")])
        .build();
    if let Some(spec) = big.spec.as_mut() {
        spec.containers[0].resources = Some(ResourceRequirements {
            requests: Some([("cpu".to_string(), Quantity("5".into()))].into()),
            ..Default::default()
        });
    }
    c.add_pod(big);
    let server = TestServer::start(c);
    let base = [
        "drain-next",
        "--to",
        "v1.33.2",
        "--strategy",
        "replace",
        "-o",
        "json",
    ];
    let r = run(&server, &base);
    assert_eq!(r.code, 2, "{}", r.all());
    let reason = r.json()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains(
            "2 of the 6 pod(s) to move off o-1 would stay Pending on the 2 node(s) at v1.33.2"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("app/trainer-0 (no destination matches its nodeSelector"),
        "{reason}"
    );
    assert!(
        reason.contains("app/big-0 (no eligible destination has room for cpu 5000m"),
        "{reason}"
    );
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());
    let r = run(
        &server,
        &[&base[..], &["--dry-run", "--ignore-capacity"]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "o-1");
}

/// A control plane at 1.33 and workers w-1..w-4 at 1.32; `web` (PDB maxUnavailable 1) runs
/// two pods on w-1 and two on w-2, `api` two on w-3.
fn pool() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    for n in ["w-1", "w-2", "w-3", "w-4"] {
        c.add_node(builders::node(n, "v1.32.5"));
    }
    spread(&mut c, "app", "web", &["w-1", "w-1", "w-2", "w-2"]);
    replicas(&mut c, "app", "api", 2, "w-3");
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    c
}

/// `--max-unavailable 2` drains two workers at once; the budget both share is named before
/// anything is touched, and the server's PDB enforcement makes them take turns (no violation).
/// Nodes still awaiting their upgrade count against the batch: with both in progress no new
/// node is taken (exit 4); with one back, one more.
#[test]
fn batches_drain_n_workers_at_once_and_name_the_budgets_they_share() {
    let server = TestServer::start(pool());
    // Only the pods the drains remove count: with --pod-selector app=api the shared `web`
    // budget is not named (a client dry run, nothing changes).
    let r = run(
        &server,
        &[
            "drain-next",
            "--to",
            "v1.33.2",
            "--max-unavailable",
            "2",
            "--pod-selector",
            "app=api",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.json()["sharedBudgets"].is_null(), "{}", r.all());
    assert_eq!(mutations(&server), 0);
    let args = [
        "drain-next",
        "--to",
        "v1.33.2",
        "--max-unavailable",
        "2",
        "-o",
        "json",
        "--timeout",
        "60s",
    ];
    let r = run(&server, &args);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["nodes"], serde_json::json!(["w-1", "w-2"]), "{}", r.all());
    assert_eq!(j["drains"].as_array().map(Vec::len), Some(2));
    assert!(j["node"].is_null(), "a batch lists its nodes in `nodes`");
    assert_eq!(j["sharedBudgets"][0]["pdb"], "app/web", "{}", r.all());
    assert_eq!(j["sharedBudgets"][0]["allows"], 1);
    assert!(r.stderr.contains("take turns"), "{}", r.all());
    for n in ["w-1", "w-2"] {
        assert!(pods_on(&server, n).is_empty(), "{n} drained");
        assert!(cordoned(&server, n));
        assert_eq!(progress(&server, n).unwrap()["state"], "drained");
    }
    assert!(!cordoned(&server, "w-3") && !cordoned(&server, "w-4"));
    assert_eq!(server.pdb_violations(), 0);
    // Both still await their upgrade: the batch is full.
    let r = run(&server, &args);
    assert_eq!(r.code, 4, "{}", r.all());
    // One comes back: one more node joins the rollout.
    server.with_state(|c| c.set_node_kubelet_version("w-1", "v1.33.2"));
    let r = run(&server, &[&args[..], &["--uncordon-upgraded"]].concat());
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["uncordoned"], serde_json::json!(["w-1"]));
    assert_eq!(j["nodes"], serde_json::json!(["w-3"]), "{}", r.all());
    assert_eq!(j["node"], "w-3", "a batch of one also fills `node`");
    assert_eq!(server.pdb_violations(), 0);
    // Malformed sizes are refused before anything is read.
    for bad in ["0", "0%", "x", "150%"] {
        let r = run(&server, &["drain-next", "--max-unavailable", bad]);
        assert_eq!(r.code, 64, "{bad}: {}", r.all());
    }
}

/// Control-plane nodes are never batched: with two behind, `--max-unavailable 3` drains one.
#[test]
fn control_plane_nodes_are_drained_alone_even_in_a_batch() {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.33.2"));
    c.add_node(builders::control_plane_node("cp-2", "v1.32.5"));
    c.add_node(builders::control_plane_node("cp-3", "v1.32.5"));
    c.add_node(builders::node("w-1", "v1.32.5"));
    let server = TestServer::start(c);
    let r = run(
        &server,
        &[
            "drain-next",
            "--to",
            "v1.33.2",
            "--max-unavailable",
            "3",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.json()["nodes"],
        serde_json::json!(["cp-2"]),
        "{}",
        r.all()
    );
    assert!(!cordoned(&server, "cp-3") && !cordoned(&server, "w-1"));
}

fn labelled(
    name: &str,
    version: &str,
    pool: &str,
) -> kube_testserver::k8s_openapi::api::core::v1::Node {
    let mut n = builders::node(name, version);
    n.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("pool".into(), pool.into());
    n
}

/// all-at-once needs `--accept-downtime`; it checks every selected worker's drain first (a
/// blocked one: nothing is cordoned), then cordons them all before the first eviction, so no
/// evicted pod lands on a node about to be drained; nodes outside the selection are untouched.
#[test]
fn all_at_once_needs_accept_downtime_and_cordons_every_selected_worker_first() {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    c.add_node(labelled("w-1", "v1.32.5", "batch"));
    c.add_node(labelled("w-2", "v1.32.5", "batch"));
    c.add_node(labelled("w-3", "v1.32.5", "other"));
    replicas(&mut c, "app", "job", 3, "w-1");
    let server = TestServer::start(c);
    let base = [
        "drain-next",
        "--to",
        "v1.33.2",
        "-l",
        "pool=batch",
        "--strategy",
        "all-at-once",
    ];
    let r = run(&server, &base);
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(r.all().contains("--accept-downtime"), "{}", r.all());
    for extra in [
        &["--accept-downtime", "--max-unavailable", "2"][..],
        &["--accept-downtime", "w-1"][..],
    ] {
        let r = run(&server, &[&base[..], extra].concat());
        assert_eq!(r.code, 64, "{extra:?}: {}", r.all());
    }
    let r = run(&server, &["drain-next", "--accept-downtime"]);
    assert_eq!(r.code, 64, "{}", r.all());
    // An unmanaged pod on w-2 blocks its drain (no --force): nothing is cordoned.
    server.with_state(|c| c.add_pod(builders::pod("app", "loose", "w-2").build()));
    let go = [
        &base[..],
        &["--accept-downtime", "-o", "json", "--timeout", "60s"],
    ]
    .concat();
    let r = run(&server, &go);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.all().contains("none was cordoned"), "{}", r.all());
    assert_eq!(mutations(&server), 0);
    server.with_state(|c| c.delete_pod("app", "loose"));
    let r = run(&server, &go);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.json()["nodes"],
        serde_json::json!(["w-1", "w-2"]),
        "{}",
        r.all()
    );
    for n in ["w-1", "w-2"] {
        assert!(
            cordoned(&server, n) && pods_on(&server, n).is_empty(),
            "{n}"
        );
        let p = progress(&server, n).unwrap();
        assert_eq!(
            (p["state"].as_str(), p["command"].as_str()),
            (Some("drained"), Some("drain-next"))
        );
    }
    // w-2 was cordoned before w-1's pods were evicted: every replacement is on w-3, and each
    // pod was evicted once.
    assert_eq!(
        pods_on(&server, "w-3").len(),
        3,
        "{:?}",
        pods_on(&server, "w-3")
    );
    assert!(accepted_evictions(&server).values().all(|&n| n == 1));
    assert_eq!(accepted_evictions(&server).len(), 3);
    assert!(!cordoned(&server, "w-3"));
}

/// One node at a time end to end, with the server playing the node automation: a drained
/// node goes NotReady, then comes back Ready at the target (still cordoned). While it is
/// away the next run waits (exit 4, nothing touched); once it is back, `--uncordon-upgraded`
/// uncordons it and drains the next. Every worker ends at the target, schedulable, with no
/// budget broken.
#[test]
fn one_at_a_time_rolls_a_pool_with_the_nodes_upgraded_in_place() {
    use kube_testserver::{KubeletUpgrade, Options};
    use std::time::Duration;
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    for n in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(n, "v1.32.5"));
    }
    spread(
        &mut c,
        "app",
        "web",
        &["w-1", "w-2", "w-3", "w-1", "w-2", "w-3"],
    );
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    let opts = Options {
        kubelet_upgrade: Some(KubeletUpgrade {
            to: "v1.33.2".into(),
            downtime: Duration::from_millis(800),
        }),
        ..Options::default()
    };
    let server = TestServer::start_with(c, opts);
    let args = [
        "drain-next",
        "--to",
        "v1.33.2",
        "--uncordon-upgraded",
        "-o",
        "json",
        "--timeout",
        "60s",
    ];
    let ready_at_target = |s: &TestServer, n: &str| {
        let node = node(s, n);
        let st = node.status.unwrap_or_default();
        st.node_info.map(|i| i.kubelet_version).as_deref() == Some("v1.33.2")
            && st
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    };
    let mut drained = Vec::new();
    for round in 0..3 {
        let r = run(&server, &args);
        assert_eq!(r.code, 0, "round {round}: {}", r.all());
        let name = r.json()["node"].as_str().unwrap_or_default().to_string();
        drained.push(name.clone());
        if round == 0 {
            // Away for its upgrade: the next run waits for it and changes nothing.
            let before = mutations(&server);
            let r = run(&server, &args);
            assert_eq!(r.code, 4, "{}", r.all());
            assert!(r.all().contains(&name), "{}", r.all());
            assert_eq!(mutations(&server), before);
        }
        wait_until("the node's upgrade", Duration::from_secs(10), || {
            ready_at_target(&server, &name)
        });
    }
    assert_eq!(drained, ["w-1", "w-2", "w-3"]);
    // The last run uncordons the last node and finds nothing left.
    let r = run(&server, &args);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["uncordoned"], serde_json::json!(["w-3"]));
    assert!(r.json()["node"].is_null());
    for n in ["w-1", "w-2", "w-3"] {
        assert!(ready_at_target(&server, n) && !cordoned(&server, n), "{n}");
    }
    assert_eq!(server.pdb_violations(), 0);
    let s = run(&server, &["status", "--to", "v1.33.2", "-o", "json"]);
    assert_eq!(s.json()["done"], true, "{}", s.all());
}

/// The validation between nodes waits for the budgets the last drain touched (recorded in its
/// progress record), not for an application that was unhealthy before: `db`'s budget is
/// below its desired count on w-3 all along, yet after w-1's drain (which touched only `web`)
/// the next node is taken; `web` itself unhealthy would hold it.
#[test]
fn validation_waits_for_the_budgets_the_last_drain_touched() {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    for n in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(n, "v1.32.5"));
    }
    replicas(&mut c, "app", "web", 2, "w-1");
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    c.add_pod(
        builders::pod("app", "db-0", "w-3")
            .owner("StatefulSet", "db")
            .labels(&[("app", "db")])
            .build(),
    );
    c.add_pod(
        builders::pod("app", "db-1", "w-3")
            .owner("StatefulSet", "db")
            .labels(&[("app", "db")])
            .not_ready()
            .build(),
    );
    min_available(&mut c, "app", "db", IntOrString::Int(2));
    let server = TestServer::start(c);
    let base = [
        "drain-next",
        "--to",
        "v1.33.2",
        "-o",
        "json",
        "--timeout",
        "60s",
    ];
    // The first node: no drain to compare with, every budget counts (db holds it) ...
    let r = run(
        &server,
        &[&base[..], &["--validate-timeout", "1s"]].concat(),
    );
    assert_eq!(r.code, 5, "{}", r.all());
    assert!(r.all().contains("PDB app/db"), "{}", r.all());
    // ... so it is taken with --no-validate; its record names the budget it touched.
    let r = run(&server, &[&base[..], &["--no-validate"]].concat());
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "w-1");
    assert_eq!(
        progress(&server, "w-1").unwrap()["pdbs"],
        serde_json::json!(["app/web"])
    );
    server.with_state(|c| c.set_node_kubelet_version("w-1", "v1.33.2"));
    // web's replacements are Ready: db's old trouble does not hold the next node.
    let next = [
        &base[..],
        &["--uncordon-upgraded", "--validate-timeout", "10s"],
    ]
    .concat();
    let r = run(&server, &next);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "w-2", "{}", r.all());
    assert_eq!(server.pdb_violations(), 0);
}
