//! `drain` and PodDisruptionBudgets: waves with recovery and no violation, deadlocks caught
//! before cordoning (only provable ones: a status not yet observed is no reason), 429 then
//! success, several PDBs (500).

mod drain_support;

use drain_support::*;
use kube_testserver::builders;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{Options, TestServer};
use std::time::{Duration, Instant};

#[test]
fn pdb_waves_recover_without_violations() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 10, "n1");
    max_unavailable(&mut c, "app", "web", IntOrString::String("20%".into()));
    replicas(&mut c, "app", "api", 3, "n1");
    let server = TestServer::start(c);
    let t = Instant::now();
    let r = run(&server, &["drain", "n1", "-o", "json"]);
    let took = t.elapsed();
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(server.pdb_violations(), 0);
    assert!(
        pods_on(&server, "n1").is_empty(),
        "{:?}",
        pods_on(&server, "n1")
    );
    let j = r.json();
    assert_eq!(j["outcome"], "drained");
    assert_eq!(j["evicted"].as_array().map(Vec::len), Some(13));
    // The budget (2 of 10) forced waves; pods of one PDB queue and send when the watched
    // status allows, so there is no herd of refused requests...
    let requests = j["evictionRequests"].as_u64().unwrap_or(0);
    assert!(
        (13..=16).contains(&requests),
        "{requests} eviction requests: {}",
        r.all()
    );
    assert!(
        j["tooManyRequests"].as_u64().unwrap_or(99) <= 3,
        "{}",
        r.all()
    );
    // ...each pod was evicted exactly once...
    let acc = accepted_evictions(&server);
    assert_eq!(acc.len(), 13);
    assert!(acc.values().all(|&n| n == 1), "{acc:?}");
    // ...and waiting followed the PDB's status (watch), not a fixed 5 s sleep per refusal:
    // 5 waves of ~0.5 s (grace 200 ms + ready 300 ms) take far less than 5 x 5 s.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        server.count("watch", "poddisruptionbudgets") >= 1,
        "{:?}",
        server.counters()
    );
}

/// A real API server ends watches at its own limit (timeoutSeconds or --min-request-timeout);
/// the drain re-establishes them and still follows the budget, without violations.
#[test]
fn watches_ended_by_the_server_are_re_established() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 10, "n1");
    max_unavailable(&mut c, "app", "web", IntOrString::String("20%".into()));
    let server = TestServer::start_with(
        c,
        Options {
            watch_limit: Some(Duration::from_millis(150)),
            ..Default::default()
        },
    );
    let r = run(&server, &["drain", "n1", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(server.pdb_violations(), 0);
    assert!(pods_on(&server, "n1").is_empty());
    assert_eq!(r.json()["evicted"].as_array().map(Vec::len), Some(10));
    let watches = server.count("watch", "poddisruptionbudgets") + server.count("watch", "pods");
    assert!(
        watches >= 3,
        "watches were re-established: {:?}",
        server.counters()
    );
}

#[test]
fn pdb_that_can_never_allow_is_caught_before_cordon() {
    let mut c = two_nodes();
    c.add_pod(
        builders::pod("app", "db-0", "n1")
            .owner("StatefulSet", "db")
            .labels(&[("app", "db")])
            .build(),
    );
    min_available(&mut c, "app", "db", IntOrString::Int(1));
    replicas(&mut c, "app", "cache", 2, "n1");
    max_unavailable(&mut c, "app", "cache", IntOrString::Int(0));
    replicas(&mut c, "app", "web", 2, "n1");
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    for needle in [
        "PDB app/db",
        "minAvailable 1",
        "PDB app/cache",
        "maxUnavailable 0",
        "app/db-0",
        "--ignore-blockers",
        "not cordoned",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {}", r.all());
    }
    assert_eq!(server.count("patch", "nodes"), 0, "{:?}", server.counters());
    assert!(!cordoned(&server, "n1"));
    assert!(server.evictions().is_empty());

    // --ignore-blockers goes ahead; the blocked evictions wait until --timeout, the node stays cordoned.
    let r = run(
        &server,
        &["drain", "n1", "--ignore-blockers", "--timeout", "2s"],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("timed out") && r.stdout.contains("node left cordoned"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("app/db-0"), "{}", r.all());
    // The timeout names what each stuck pod waited on.
    assert!(
        r.stdout.contains("app/db-0 (held up by PDB app/db)"),
        "{}",
        r.all()
    );
    assert!(cordoned(&server, "n1"));
    assert_eq!(progress(&server, "n1").unwrap()["state"], "failed");
    assert_eq!(server.pdb_violations(), 0);
    // The unblocked pods went.
    assert!(!pods_on(&server, "n1")
        .iter()
        .any(|p| p.starts_with("app/web-")));
}

#[test]
fn too_many_requests_then_success() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 3, "n1");
    let server = TestServer::start(c);
    server.fail_next_evictions(3, 429);
    let t = Instant::now();
    let r = run(&server, &["drain", "n1", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let statuses: Vec<u16> = server.evictions().iter().map(|e| e.status).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|&&s| (200..300).contains(&s))
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(r.json()["tooManyRequests"], 3);
    assert!(pods_on(&server, "n1").is_empty());
    // One backoff step (1 s), not kubectl's 5 s.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn pod_under_several_pdbs() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    c.add_pdb(builders::pdb_max_unavailable(
        "app",
        "web-a",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    c.add_pdb(builders::pdb_max_unavailable(
        "app",
        "web-b",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    let server = TestServer::start(c);

    // Preflight names both PDBs and stops before cordoning.
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("app/web-a + app/web-b") && r.stdout.contains("500"),
        "{}",
        r.all()
    );
    assert_eq!(server.count("patch", "nodes"), 0);

    // Forced past the preflight, the server answers 500; the message names the PDBs.
    let r = run(&server, &["drain", "n1", "--ignore-blockers"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(server.evictions().iter().any(|e| e.status == 500));
    assert!(
        r.stdout
            .contains("more than one PodDisruptionBudget (app/web-a + app/web-b)"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("node left cordoned"), "{}", r.all());
    assert!(cordoned(&server, "n1"));
}

/// A PDB the disruption controller has not observed yet: the pods on the node being drained
/// are not its count, so `minAvailable 2` with 2 pods here (and 2 more on n2) is no reason to
/// stop before cordoning. Evictions answer 429 until the status is observed, then go through.
#[test]
fn unobserved_pdb_is_not_a_preflight_blocker() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    for i in 0..2 {
        c.add_pod(
            builders::pod("app", &format!("web-n2-{i}"), "n2")
                .owner("ReplicaSet", "web-rs")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    min_available(&mut c, "app", "web", IntOrString::Int(2));
    c.hold_pdb_status("app", "web", true);
    let server = TestServer::start(c);

    let r = run(&server, &["drain", "n1", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("can never allow"), "{}", r.all());

    let child = spawn(&server, &["drain", "n1", "--timeout", "60s"]);
    wait_until("a 429 while unobserved", Duration::from_secs(20), || {
        server.evictions().iter().any(|e| e.status == 429)
    });
    assert!(cordoned(&server, "n1"));
    assert_eq!(pods_on(&server, "n1").len(), 2, "nothing evicted yet");
    server.with_state(|c| c.hold_pdb_status("app", "web", false));
    let r = Run::from(child.wait_with_output().expect("finished"));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(pods_on(&server, "n1").is_empty(), "{}", r.all());
    assert_eq!(server.pdb_violations(), 0);
}

/// Unobserved, but the spec alone proves it: still caught before cordoning.
#[test]
fn unobserved_pdb_that_provably_never_allows_still_blocks() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "cache", 2, "n1");
    max_unavailable(&mut c, "app", "cache", IntOrString::Int(0));
    replicas(&mut c, "app", "db", 1, "n1");
    min_available(&mut c, "app", "db", IntOrString::String("100%".into()));
    c.hold_pdb_status("app", "cache", true);
    c.hold_pdb_status("app", "db", true);
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    for needle in [
        "PDB app/cache",
        "maxUnavailable 0",
        "PDB app/db",
        "minAvailable 100%",
        "not yet observed",
        "not cordoned",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {}", r.all());
    }
    assert!(!cordoned(&server, "n1"));
    assert!(server.evictions().is_empty());
}

/// `--request-timeout` bounds requests, not watch streams: while a drain waits on a PDB with
/// its watches quiet for longer than the request timeout (and no bookmark coming, as from a
/// real API server that sends one about a minute), the watches stay open: one watch and one
/// list per resource for the whole drain.
#[test]
fn quiet_watches_outlive_the_request_timeout() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    let server = TestServer::start_with(
        c,
        Options {
            // Replacements take a while to become ready: the second eviction waits.
            ready_delay: Duration::from_secs(4),
            ..Default::default()
        },
    );
    let t = std::time::Instant::now();
    let r = run(
        &server,
        &["--request-timeout", "1s", "drain", "n1", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(t.elapsed() > Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(server.pdb_violations(), 0);
    assert_eq!(r.json()["evicted"].as_array().map(Vec::len), Some(2));
    for resource in ["pods", "poddisruptionbudgets"] {
        assert_eq!(
            server.count("watch", resource),
            1,
            "{resource}: one watch for the whole drain: {:?}",
            server.counters()
        );
    }
    assert_eq!(
        server.count("list", "poddisruptionbudgets"),
        2,
        "the preflight's list and the watch's: {:?}",
        server.counters()
    );
}
