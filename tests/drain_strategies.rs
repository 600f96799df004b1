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
