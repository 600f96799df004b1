//! The big-cluster builder and paging through 150k pods.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kube_testserver::{builders, TestServer};

#[test]
fn big_cluster_builds_fast_and_pages_fast() {
    let t = Instant::now();
    let c = builders::big_cluster(5000, 150_000);
    let build = t.elapsed();
    assert_eq!(c.nodes().count(), 5000);
    assert_eq!(c.pods().count(), 150_000);
    assert_eq!(
        c.pods_on_node("cp-0").count(),
        5,
        "4 static pods + kube-proxy"
    );
    let cp = c.node("cp-0").unwrap();
    assert!(cp
        .metadata
        .labels
        .as_ref()
        .unwrap()
        .contains_key("node-role.kubernetes.io/control-plane"));
    let pdbs = c.pdbs().count();
    assert!(pdbs > 14_000, "{pdbs} PDBs");
    // Every PDB has a computed status.
    assert!(c
        .pdbs()
        .all(|p| p.status.as_ref().and_then(|s| s.observed_generation) == Some(1)));
    let p = c.pdb("team-00", "app-0").unwrap().status.clone().unwrap();
    assert_eq!(
        (p.expected_pods, p.desired_healthy, p.disruptions_allowed),
        (Some(10), Some(9), Some(1))
    );
    let p = c.pdb("team-02", "app-2").unwrap().status.clone().unwrap();
    assert_eq!(
        (p.expected_pods, p.desired_healthy, p.disruptions_allowed),
        (Some(10), Some(5), Some(5))
    );
    eprintln!("big_cluster(5000, 150000) built in {build:?}");

    let server = TestServer::start(c);
    let t = Instant::now();
    let mut cont = String::new();
    let mut n = 0;
    let mut pages = 0;
    loop {
        let v = get(&server, &format!("/api/v1/pods?limit=500&continue={cont}")).json();
        n += v["items"].as_array().unwrap().len();
        pages += 1;
        match v["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => cont = c.to_string(),
            _ => break,
        }
    }
    let list = t.elapsed();
    assert_eq!((n, pages), (150_000, 300));
    eprintln!("listed 150000 pods in 300 pages in {list:?}");
    // Generous bounds for unoptimized test builds on a shared 2-core machine.
    assert!(build < Duration::from_secs(30), "build took {build:?}");
    assert!(list < Duration::from_secs(60), "list took {list:?}");

    // Per-node listing goes through the index.
    let t = Instant::now();
    for i in 0..50 {
        let v = get(
            &server,
            &format!("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-{i:05}"),
        )
        .json();
        assert_eq!(v["items"].as_array().unwrap().len(), 31, "node-{i:05}");
    }
    eprintln!("50 per-node lists in {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10));
}
