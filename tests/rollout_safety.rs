//! Rollout safety against the test server: the rollout lock (two operators, an expired lock,
//! waiting for it), SIGTERM and SIGHUP mid-drain, the downtime guard of `--max-unavailable`,
//! a scoped drain-next (`-n`), replace keeping evicted pods off old nodes, selectors that match
//! nothing, a server lost mid-drain, and the oldest of HA apiservers as the reference.

mod drain_support;

use drain_support::*;
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::coordination::v1::Lease;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{Cluster, Options, OutageMode, TestServer};
use std::time::{Duration, Instant};

const LOCK_NS: &str = "kube-system";
const LOCK: &str = "kubectl-upgrade-rollout";

/// The lock Lease as the server holds it.
fn lease(server: &TestServer) -> Option<Lease> {
    server.with_state(|c| c.lease(LOCK_NS, LOCK).cloned())
}

/// Its holder, when held.
fn holder(server: &TestServer) -> Option<String> {
    lease(server)?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

/// A lock held by bob's drain-next on `w-9`, renewed `ago_s` seconds ago.
fn bobs_lock(ago_s: i64) -> Lease {
    let renewed = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago_s);
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": LOCK, "namespace": LOCK_NS, "annotations": {
            "kubectl-upgrade.io/lock-command": "kubectl upgrade drain-next --to v1.33.2",
            "kubectl-upgrade.io/lock-user": "bob",
            "kubectl-upgrade.io/lock-host": "jumphost (pid 7)",
            "kubectl-upgrade.io/lock-nodes": "w-9",
        }},
        "spec": {"holderIdentity": "bob@jumphost/7/1", "leaseDurationSeconds": 60,
                 "acquireTime": renewed.to_string(), "renewTime": renewed.to_string(),
                 "leaseTransitions": 0},
    }))
    .expect("a lease")
}

/// Three workers below the target (v1.33.2, the server's version), each with four replicas of
/// `app` under one budget allowing one disruption at a time: a drain takes turns.
fn pool() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.33.2"));
    for w in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(w, "v1.32.5"));
    }
    c.add_node(builders::node("spare", "v1.33.2"));
    for w in ["w-1", "w-2", "w-3"] {
        for i in 0..4 {
            c.add_pod(
                builders::pod("app", &format!("web-{w}-{i}"), w)
                    .owner("ReplicaSet", "web-rs")
                    .labels(&[("app", "web")])
                    .build(),
            );
        }
    }
    max_unavailable(&mut c, "app", "web", IntOrString::Int(1));
    c
}

/// Replacements Ready after `ready`: each eviction under the budget waits that long.
fn slow(c: Cluster, ready: Duration) -> TestServer {
    TestServer::start_with(
        c,
        Options {
            ready_delay: ready,
            ..Options::default()
        },
    )
}

fn cordoned_workers(server: &TestServer) -> Vec<String> {
    ["w-1", "w-2", "w-3"]
        .into_iter()
        .filter(|w| cordoned(server, w))
        .map(str::to_string)
        .collect()
}

/// A second operator while the first drains: refused with exit 6 naming the holder, the
/// node and the command, nothing touched; the first finishes and releases the lock.
#[test]
fn a_second_run_is_refused_while_the_first_drains() {
    let server = slow(pool(), Duration::from_millis(700));
    let first = spawn(&server, &["drain-next", "--no-validate", "-o", "json"]);
    wait_until(
        "the first run holds the lock",
        Duration::from_secs(20),
        || holder(&server).is_some() && cordoned(&server, "w-1"),
    );
    let second = run(&server, &["drain-next", "--no-validate", "-o", "json"]);
    assert_eq!(second.code, 6, "{}", second.all());
    assert!(second.stdout.is_empty(), "{}", second.all());
    for want in [
        "another rollout holds the lock",
        "on node w-1",
        "drain-next --no-validate -o json`",
        "since ",
        "--wait-for-lock",
    ] {
        assert!(second.stderr.contains(want), "{want}: {}", second.all());
    }
    // drain takes the same lock.
    let drain = run(&server, &["drain", "w-2"]);
    assert_eq!(drain.code, 6, "{}", drain.all());
    let out = Run::from(first.wait_with_output().expect("first run"));
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.json()["node"], "w-1");
    assert_eq!(cordoned_workers(&server), ["w-1"], "one node at a time");
    assert_eq!(holder(&server), None, "released at the end");
    assert_eq!(server.pdb_violations(), 0);
}

/// Two runs started at the same moment: exactly one proceeds, the other is refused (exit 6),
/// in every trial.
#[test]
fn two_runs_started_together_never_both_proceed() {
    for trial in 0..4 {
        let server = slow(pool(), Duration::from_millis(300));
        let args = ["drain-next", "--no-validate", "-o", "json"];
        let (a, b) = (spawn(&server, &args), spawn(&server, &args));
        let (a, b) = (
            Run::from(a.wait_with_output().expect("a")),
            Run::from(b.wait_with_output().expect("b")),
        );
        let mut codes = [a.code, b.code];
        codes.sort();
        assert_eq!(codes, [0, 6], "trial {trial}:\n{}\n{}", a.all(), b.all());
        assert_eq!(cordoned_workers(&server).len(), 1, "trial {trial}");
        assert_eq!(holder(&server), None);
        assert_eq!(server.pdb_violations(), 0);
    }
}

/// A lock whose holder stopped renewing it for longer than its lease is taken over, and
/// that is said; a fresh one is waited for with --wait-for-lock; a dry run takes none.
#[test]
fn an_expired_lock_is_taken_over_and_a_held_one_waited_for() {
    let mut c = pool();
    c.add_lease(bobs_lock(600));
    let server = TestServer::start(c);
    let r = run(&server, &["drain-next", "--no-validate", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("took over the rollout lock"),
        "{}",
        r.all()
    );
    let took = r.json()["tookOverLock"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        took.contains("bob on jumphost (pid 7)") && took.contains("w-9"),
        "{took}"
    );
    let l = lease(&server).expect("lease");
    assert_eq!(l.spec.as_ref().and_then(|s| s.lease_transitions), Some(1));
    assert_eq!(holder(&server), None);

    // Held (fresh): a dry run says so and changes nothing; a real run waits, then is refused.
    server.with_state(|c| c.add_lease(bobs_lock(0)));
    let dry = run(&server, &["drain-next", "--dry-run", "--allow-another"]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(
        dry.stderr.contains("a real run would be refused now"),
        "{}",
        dry.all()
    );
    let started = Instant::now();
    let r = run(
        &server,
        &["drain-next", "--allow-another", "--wait-for-lock", "2s"],
    );
    assert_eq!(r.code, 6, "{}", r.all());
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        r.stderr.contains("(waited 2s)") && r.stderr.contains("bob"),
        "{}",
        r.all()
    );
    // Released while we wait: we go ahead.
    let waiting = spawn(
        &server,
        &[
            "drain-next",
            "--allow-another",
            "--no-validate",
            "--wait-for-lock",
            "30s",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    server.with_state(|c| {
        let mut l = c.lease(LOCK_NS, LOCK).cloned().expect("lease");
        if let Some(s) = l.spec.as_mut() {
            s.holder_identity = None;
        }
        c.add_lease(l);
    });
    let out = Run::from(waiting.wait_with_output().expect("waited"));
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("waiting for the rollout lock"),
        "{}",
        out.all()
    );
    assert_eq!(cordoned_workers(&server), ["w-1", "w-2"]);
}

/// SIGTERM (what CI runners, `timeout` and systemd send) and SIGHUP stop a drain like
/// Ctrl-C: exit 130, the JSON summary, the lock released, the node left cordoned and
/// recorded `draining`; `status` calls it stopped, and a rerun resumes it.
#[cfg(unix)]
#[test]
fn sigterm_mid_drain_stops_cleanly_and_a_rerun_resumes() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let server = slow(pool(), Duration::from_secs(3));
        let child = spawn(&server, &["drain-next", "--no-validate", "-o", "json"]);
        wait_until("an eviction", Duration::from_secs(20), || {
            !accepted_evictions(&server).is_empty()
        });
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let out = Run::from(child.wait_with_output().expect("stopped"));
        assert_eq!(out.code, 130, "{name}: {}", out.all());
        let j = out.json();
        assert_eq!(
            j["stopped"],
            format!("interrupted ({name})"),
            "{}",
            out.all()
        );
        assert_eq!(j["drains"][0]["outcome"], "interrupted", "{}", out.all());
        assert!(j["drains"][0]["resume"].is_string());
        assert_eq!(holder(&server), None, "{name}: the lock is released");
        assert!(cordoned(&server, "w-1"));
        assert_eq!(
            progress(&server, "w-1").expect("record")["state"],
            "draining"
        );
        let status = run(&server, &["status", "-o", "json"]).json();
        let w1 = status["pools"][0]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(status["pools"][1]["nodes"].as_array().into_iter().flatten())
            .find(|n| n["name"] == "w-1")
            .cloned()
            .expect("w-1");
        assert_eq!(w1["state"], "stopped", "{status}");
        let again = run(&server, &["drain-next", "--no-validate"]);
        assert_eq!(again.code, 0, "{}", again.all());
        assert!(
            again.stderr.contains("next: w-1: resuming"),
            "{}",
            again.all()
        );
        assert!(pods_on(&server, "w-1").is_empty());
        assert_eq!(server.pdb_violations(), 0);
    }
}

/// `--max-unavailable` that takes every worker is the all-at-once strategy: refused (64)
/// without --accept-downtime, nothing touched.
#[test]
fn a_batch_of_every_worker_needs_accept_downtime() {
    let mut c = Cluster::new();
    for w in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(w, "v1.32.5"));
        replicas(&mut c, "app", &format!("api-{w}"), 1, w);
    }
    let server = TestServer::start(c);
    for n in ["100%", "3", "7"] {
        let r = run(&server, &["drain-next", "--max-unavailable", n]);
        assert_eq!(r.code, 64, "{n}: {}", r.all());
        assert!(
            r.stderr.contains("takes all 3 workers considered at once")
                && r.stderr.contains("--accept-downtime"),
            "{}",
            r.all()
        );
    }
    assert_eq!(mutations(&server), 0);
    assert!(cordoned_workers(&server).is_empty());
    let r = run(
        &server,
        &[
            "drain-next",
            "--max-unavailable",
            "100%",
            "--accept-downtime",
            "--no-validate",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(cordoned_workers(&server).len(), 3);
}

/// drain-next scoped by `-n` empties the namespace but not the node: exit 2, recorded
/// `partial`, `status` says so, and drain-next without the scope finishes it.
#[test]
fn a_scoped_drain_next_is_partial_not_drained() {
    let mut c = Cluster::new();
    c.add_node(builders::node("w-1", "v1.32.5"));
    c.add_node(builders::node("w-2", "v1.33.2"));
    replicas(&mut c, "shop", "web", 2, "w-1");
    c.add_pod(
        builders::pod("cache", "redis-0", "w-1")
            .owner("StatefulSet", "redis")
            .empty_dir()
            .build(),
    );
    let server = TestServer::start(c);
    let r = run(&server, &["drain-next", "-n", "shop", "-o", "json"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let j = r.json();
    assert_eq!(j["drains"][0]["outcome"], "partial");
    assert_eq!(j["drains"][0]["outsideScope"][0], "cache/redis-0");
    assert_eq!(
        progress(&server, "w-1").expect("record")["state"],
        "partial"
    );
    assert_eq!(pods_on(&server, "w-1"), ["cache/redis-0"]);
    let (_, text) = (0, run(&server, &["status"]).stdout);
    assert!(text.contains("partly drained"), "{text}");
    let r = run(
        &server,
        &["drain-next", "--delete-emptydir-data", "--no-validate"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("next: w-1: resuming"), "{}", r.all());
    assert!(pods_on(&server, "w-1").is_empty());
    assert_eq!(
        progress(&server, "w-1").expect("record")["state"],
        "drained"
    );
}

/// `--strategy replace` taints the pool's other old nodes PreferNoSchedule before the first
/// eviction, so the evicted pods land on the new nodes and do not move twice; its dry run
/// says the Node will be deleted.
#[test]
fn replace_keeps_evicted_pods_off_the_old_nodes() {
    let mut c = Cluster::new();
    for w in ["old-1", "old-2", "old-3"] {
        c.add_node(builders::node(w, "v1.32.5"));
    }
    c.add_node(builders::node("new-1", "v1.33.2"));
    replicas(&mut c, "app", "web", 8, "old-1");
    replicas(&mut c, "app", "db", 2, "old-2");
    replicas(&mut c, "app", "queue", 2, "new-1");
    let server = TestServer::start(c);
    let dry = run(
        &server,
        &[
            "drain-next",
            "--strategy",
            "replace",
            "--delete-node",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(
        dry.stdout.contains("would delete Node old-1"),
        "{}",
        dry.all()
    );
    assert!(!dry.stdout.contains("stays cordoned"), "{}", dry.all());
    assert!(
        dry.stderr.contains("would taint the 2 other old node(s)"),
        "{}",
        dry.all()
    );
    assert_eq!(mutations(&server), 0);
    let r = run(
        &server,
        &[
            "drain-next",
            "--strategy",
            "replace",
            "--no-validate",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["tainted"], serde_json::json!(["old-2", "old-3"]));
    let web_on = |node: &str| {
        pods_on(&server, node)
            .iter()
            .filter(|p| p.starts_with("app/web"))
            .count()
    };
    assert_eq!(
        web_on("new-1"),
        8,
        "every evicted pod on the node at the target"
    );
    assert_eq!((web_on("old-2"), web_on("old-3")), (0, 0));
    let taint = node(&server, "old-2")
        .spec
        .and_then(|s| s.taints)
        .unwrap_or_default();
    assert!(
        taint
            .iter()
            .any(|t| t.key == "kubectl-upgrade.io/scheduled-for-replacement"
                && t.effect == "PreferNoSchedule"
                && t.value.as_deref() == Some("v1.33.2")),
        "{taint:?}"
    );
}

/// A selector that matches nothing is a typo until shown otherwise: exit 64, never
/// "nothing to do".
#[test]
fn selectors_matching_nothing_are_usage_errors() {
    let server = TestServer::start(pool());
    for args in [
        &["drain-next", "-l", "pool=bleu"][..],
        &["drain", "-l", "pool=bleu"],
        &["status", "-l", "pool=bleu"],
        &["cordon", "-l", "pool=bleu"],
    ] {
        let r = run(&server, args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.all());
        assert!(
            r.stderr.contains("no node matches -l pool=bleu"),
            "{}",
            r.all()
        );
    }
    assert_eq!(mutations(&server), 0);
}

/// The API server gone mid-drain: an API error (exit 3) within the timeout, saying so, not
/// a PDB failure; the node stays cordoned and the lock cannot be released (it expires).
#[test]
fn a_server_lost_mid_drain_is_an_api_error_within_the_timeout() {
    let server = slow(pool(), Duration::from_secs(5));
    let started = Instant::now();
    let child = spawn(
        &server,
        &[
            "drain-next",
            "--no-validate",
            "--timeout",
            "6s",
            "-o",
            "json",
        ],
    );
    wait_until("an eviction", Duration::from_secs(20), || {
        !accepted_evictions(&server).is_empty()
    });
    server.outage(Duration::from_secs(60), OutageMode::Refuse);
    let out = Run::from(child.wait_with_output().expect("ended"));
    let took = started.elapsed();
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(took < Duration::from_secs(16), "ended after {took:?}");
    let j = out.json();
    assert_eq!(j["drains"][0]["outcome"], "api-error", "{}", out.all());
    let msg = j["drains"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("lost contact with the API server"), "{msg}");
    assert!(!msg.contains("PDB"), "{msg}");
}

/// HA apiservers at v1.32.9 and v1.33.5 while /version answers v1.33.5: the oldest is the
/// reference for drain-next's target and for uncordon.
#[test]
fn the_oldest_apiserver_bounds_drain_next_and_uncordon() {
    let mut c = Cluster::new();
    for (cp, v) in [("cp-1", "v1.32.9"), ("cp-2", "v1.33.5")] {
        c.add_node(builders::control_plane_node(cp, "v1.32.9"));
        c.add_pod(builders::static_pod(
            "kube-apiserver",
            cp,
            &format!("registry.k8s.io/kube-apiserver:{v}"),
        ));
    }
    let mut upgraded = builders::node("w-1", "v1.33.5");
    upgraded
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            PROGRESS.into(),
            r#"{"state":"drained","target":"v1.33.5","time":"2026-12-06T10:00:00Z","command":"drain-next","user":"alice"}"#.into(),
        );
    upgraded
        .spec
        .get_or_insert_with(Default::default)
        .unschedulable = Some(true);
    c.add_node(upgraded);
    c.add_node(builders::node("w-2", "v1.32.9"));
    let server = TestServer::start_with(
        c,
        Options {
            git_version: "v1.33.5".into(),
            ..Options::default()
        },
    );
    let r = run(
        &server,
        &["drain-next", "--to", "v1.33.5", "--allow-another"],
    );
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(
        r.stderr.contains("newer than kube-apiserver v1.32.9"),
        "{}",
        r.all()
    );
    let r = run(&server, &["uncordon", "w-1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout
            .contains("node w-1's kubelet v1.33.5 is newer than kube-apiserver v1.32.9"),
        "{}",
        r.all()
    );
    assert!(cordoned(&server, "w-1"));
    // The default target is the oldest apiserver's version.
    let r = run(
        &server,
        &["drain-next", "--dry-run", "--allow-another", "-o", "json"],
    );
    assert_eq!(r.json()["target"], "v1.32.9", "{}", r.all());
}

/// kubectl habits: `drain -l`, `--chunk-size` accepted, bare `--dry-run` meaning client.
#[test]
fn kubectl_habits_are_accepted() {
    let mut c = pool();
    for w in ["w-1", "w-2"] {
        c.add_node({
            let mut n = builders::node(w, "v1.32.5");
            n.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert("pool".into(), "blue".into());
            n
        });
    }
    let server = TestServer::start(c);
    let dry = run(
        &server,
        &[
            "drain",
            "-l",
            "pool=blue",
            "--dry-run",
            "--chunk-size",
            "50",
            "-o",
            "json",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert_eq!(dry.json()["nodes"], serde_json::json!(["w-1", "w-2"]));
    assert_eq!(dry.json()["drains"][1]["dryRun"], "client");
    let next = run(&server, &["drain-next", "--dry-run", "--chunk-size=500"]);
    assert_eq!(next.code, 0, "{}", next.all());
    assert_eq!(mutations(&server), 0);
    let r = run(&server, &["drain", "-l", "pool=blue", "--no-such-flag"]);
    assert_eq!(r.code, 64);
}
