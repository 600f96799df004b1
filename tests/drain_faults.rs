//! `drain` under faults: the API server going away mid-drain (refused connections, 503s),
//! Ctrl-C (SIGINT) leaving the node cordoned with a rerun that resumes, and 403s naming the
//! verb and resource to grant.

mod drain_support;

use drain_support::*;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{Options, OutageMode, TestServer};
use std::time::{Duration, Instant};

fn outage_mid_drain(mode: OutageMode) {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 12, "n1");
    max_unavailable(&mut c, "app", "web", IntOrString::Int(2));
    let server = TestServer::start(c);
    let child = spawn(&server, &["drain", "n1", "--timeout", "60s"]);
    wait_until("first evictions", Duration::from_secs(20), || {
        accepted_evictions(&server).len() >= 2
    });
    server.outage(Duration::from_secs(2), mode);
    let r = Run::from(child.wait_with_output().expect("finished"));
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("retrying"), "{}", r.all());
    assert!(
        pods_on(&server, "n1").is_empty(),
        "{:?}",
        pods_on(&server, "n1")
    );
    assert_eq!(server.pdb_violations(), 0);
    // No lost and no duplicate evictions: every pod accepted exactly once.
    let acc = accepted_evictions(&server);
    assert_eq!(acc.len(), 12, "{acc:?}");
    assert!(acc.values().all(|&n| n == 1), "{acc:?}");
}

#[test]
fn outage_mid_drain_connection_refused() {
    outage_mid_drain(OutageMode::Refuse);
}

#[test]
fn outage_mid_drain_service_unavailable() {
    outage_mid_drain(OutageMode::ServiceUnavailable);
}

// Sending SIGINT needs a Unix; Ctrl-C on Windows goes through the console, not a signal.
#[cfg(unix)]
#[test]
fn sigint_leaves_node_cordoned_and_rerun_resumes() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 6, "n1");
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    // Slow replacements: one pod per ~2 s, so the drain is surely mid-way at the signal.
    let opts = Options {
        ready_delay: Duration::from_secs(2),
        ..Options::default()
    };
    let server = TestServer::start_with(c, opts);
    let child = spawn(&server, &["drain", "n1", "--timeout", "60s"]);
    wait_until("first eviction", Duration::from_secs(20), || {
        !accepted_evictions(&server).is_empty()
    });
    let pid = i32::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to the child we spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let t = Instant::now();
    let r = Run::from(child.wait_with_output().expect("finished"));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "slow to stop: {:?}",
        t.elapsed()
    );
    assert_eq!(r.code, 130, "{}", r.all());
    assert!(r.stdout.contains("node left cordoned"), "{}", r.all());
    assert!(
        r.stdout
            .contains("resume with: kubectl upgrade --kubeconfig"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("drain n1 --timeout 60s"), "{}", r.all());
    assert!(cordoned(&server, "n1"));
    assert_eq!(progress(&server, "n1").unwrap()["state"], "draining");
    let evicted_before = accepted_evictions(&server).len();
    assert!(
        evicted_before < 6,
        "interrupt came too late to test anything"
    );

    // The rerun picks up where it stopped.
    let r = run(&server, &["drain", "n1", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(pods_on(&server, "n1").is_empty());
    let acc = accepted_evictions(&server);
    assert_eq!(acc.len(), 6);
    assert!(acc.values().all(|&n| n == 1), "{acc:?}");
    assert_eq!(server.pdb_violations(), 0);
    assert_eq!(progress(&server, "n1").unwrap()["state"], "drained");
}

#[test]
fn forbidden_eviction_is_found_before_the_node_is_touched() {
    // A SelfSubjectAccessReview per permission the drain needs, before cordoning: RBAC that
    // refuses evictions must not leave a cordoned node behind.
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    let server = TestServer::start(c);
    server.forbid("create", "pods/eviction");
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr
            .contains(r#"grant verb "create" on resource "pods/eviction""#),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("in namespace app") && r.stderr.contains("node not touched"),
        "{}",
        r.all()
    );
    assert!(!cordoned(&server, "n1"));
    assert_eq!(mutations(&server), 0);
    assert_eq!(pods_on(&server, "n1").len(), 2);

    // Cordoning itself forbidden: the same, naming patch nodes.
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    let server = TestServer::start(c);
    server.forbid("patch", "nodes");
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr
            .contains(r#"grant verb "patch" on resource "nodes""#),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), 0);
}

#[test]
fn forbidden_listing_changes_nothing() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    let server = TestServer::start(c);
    server.forbid("list", "pods");
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains(r#"grant verb "list" on resource "pods""#),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), 0);
    assert!(!cordoned(&server, "n1"));
}

#[test]
fn error_mid_drain_counts_the_evictions_already_accepted() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 3, "n1");
    // minAvailable 1 of 3: two evictions go at once, the third waits for a replacement to be
    // Ready (2 s). Evicted pods stay terminating (30 s grace, not capped) while the drain stops.
    min_available(&mut c, "app", "web", IntOrString::Int(1));
    let opts = Options {
        grace_cap: Duration::from_secs(60),
        ready_delay: Duration::from_secs(2),
        ..Options::default()
    };
    let server = TestServer::start_with(c, opts);
    let child = spawn(&server, &["drain", "n1", "--timeout", "60s"]);
    wait_until("two evictions", Duration::from_secs(20), || {
        accepted_evictions(&server).len() >= 2
    });
    // The third eviction is refused by RBAC: a fatal error mid-drain.
    server.forbid("create", "pods/eviction");
    let r = Run::from(child.wait_with_output().expect("finished"));
    assert_eq!(r.code, 3, "{}", r.all());
    assert_eq!(accepted_evictions(&server).len(), 2);
    assert!(
        r.stdout
            .contains("node left cordoned (2 pod(s) evicted or deleted before the error)"),
        "{}",
        r.all()
    );
    assert!(cordoned(&server, "n1"));
    assert_eq!(progress(&server, "n1").unwrap()["state"], "failed");
    assert_eq!(server.pdb_violations(), 0);
}

/// First contact fails (nothing listens): drain stops at once with exit 3 and does not claim
/// to have left a node cordoned that it never reached.
#[test]
fn unreachable_server_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens on it now
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u}}\nusers:\n- name: u\n  user: {{token: t}}\n"),
    )
    .unwrap();
    let t = Instant::now();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubectl-upgrade"))
        .args(["--kubeconfig", kubeconfig.to_str().unwrap(), "drain", "n1"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}: {err}",
        t.elapsed()
    );
    assert!(
        !err.contains("left cordoned") && !err.contains("stays cordoned"),
        "{err}"
    );
}
