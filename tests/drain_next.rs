//! `drain-next`, `cordon` and `uncordon` against the test API server: order (control plane
//! first, oldest kubelet, name), --selector, one node at a time (exit 4), --allow-another,
//! resume after an interruption, uncordon's version check and --uncordon-upgraded.

mod drain_support;

use drain_support::*;
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::core::v1::Node;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{Cluster, TestServer};

fn labelled(mut n: Node, k: &str, v: &str) -> Node {
    n.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(k.into(), v.into());
    n
}

/// API server v1.33.2 (the test server's default); nodes at various kubelets.
fn fleet() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-2", "v1.33.2"));
    c.add_node(builders::control_plane_node("cp-1", "v1.32.4"));
    c.add_node(labelled(builders::node("w-a", "v1.32.4"), "pool", "green"));
    c.add_node(labelled(builders::node("w-b", "v1.31.9"), "pool", "blue"));
    c.add_node(labelled(builders::node("w-c", "v1.31.9"), "pool", "blue"));
    c.add_node(builders::node("w-new", "v1.33.2"));
    for n in ["cp-1", "w-a", "w-b", "w-c"] {
        c.add_pod(
            builders::pod("kube-system", &format!("proxy-{n}"), n)
                .owner("DaemonSet", "kube-proxy")
                .build(),
        );
    }
    replicas(&mut c, "app", "web", 2, "w-b");
    c
}

#[test]
fn order_is_control_plane_first_then_oldest_kubelet_then_name() {
    let server = TestServer::start(fleet());
    let r = run(&server, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["target"], "v1.33.2");
    assert_eq!(j["node"], "cp-1", "{}", r.all());
    assert_eq!(j["queue"], serde_json::json!(["w-b", "w-c", "w-a"]));
    assert!(
        j["reason"].as_str().unwrap().contains("control-plane"),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());

    // --selector limits the candidates (server-side label selector).
    let r = run(
        &server,
        &["drain-next", "--dry-run", "-l", "pool=blue", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "w-b");
    assert_eq!(r.json()["queue"], serde_json::json!(["w-c"]));

    // --to moves the target: at v1.32.4 only the v1.31 workers are behind.
    let r = run(
        &server,
        &["drain-next", "--dry-run", "--to", "v1.32.4", "-o", "json"],
    );
    assert_eq!(r.json()["node"], "w-b", "{}", r.all());

    // Human output says which node and why.
    let r = run(&server, &["drain-next", "--dry-run"]);
    assert!(
        r.stderr
            .contains("next: cp-1: control-plane node with kubelet v1.32.4 < target v1.33.2"),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), 0);
}

#[test]
fn not_ready_and_foreign_cordons_are_skipped_unless_named() {
    let server = TestServer::start(fleet());
    server.with_state(|c| {
        c.set_node_ready("cp-1", false);
        c.set_node_unschedulable("w-b", true);
    });
    let r = run(&server, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["node"], "w-c");
    let skipped: Vec<&str> = j["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, vec!["cp-1", "w-b"], "{}", r.all());
    let r = run(&server, &["drain-next", "w-b", "--dry-run", "-o", "json"]);
    assert_eq!(r.json()["node"], "w-b", "{}", r.all());
}

#[test]
fn one_node_at_a_time_uncordon_checks_version() {
    let server = TestServer::start(fleet());
    let r = run(&server, &["drain-next"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(cordoned(&server, "cp-1"));
    let p = progress(&server, "cp-1").expect("progress recorded");
    assert_eq!(p["state"], "drained");
    assert_eq!(p["target"], "v1.33.2");
    assert!(
        r.stdout.contains("kubectl upgrade uncordon cp-1"),
        "{}",
        r.all()
    );

    // Still in progress: stop with exit 4, touching nothing.
    let before = mutations(&server);
    let r = run(&server, &["drain-next"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stdout.contains("cp-1") && r.stdout.contains("--allow-another"),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), before);

    // --allow-another drains the next one.
    let r = run(&server, &["drain-next", "--allow-another"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(cordoned(&server, "w-b"));
    assert!(pods_on(&server, "w-b").iter().all(|p| p.contains("proxy")));

    // uncordon refuses while cp-1's kubelet is not at the target...
    let r = run(&server, &["uncordon", "cp-1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("v1.32.4")
            && r.stdout.contains("v1.33.2")
            && r.stdout.contains("--force"),
        "{}",
        r.all()
    );
    assert!(cordoned(&server, "cp-1"));
    // ...and when NotReady.
    server.with_state(|c| {
        c.set_node_kubelet_version("cp-1", "v1.33.2");
        c.set_node_ready("cp-1", false);
    });
    let r = run(&server, &["uncordon", "cp-1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("NotReady"), "{}", r.all());
    server.with_state(|c| c.set_node_ready("cp-1", true));
    let r = run(&server, &["uncordon", "cp-1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!cordoned(&server, "cp-1"));
    assert!(progress(&server, "cp-1").is_none());

    // --force overrides; w-b is still at v1.31.9.
    let r = run(&server, &["uncordon", "w-b", "--force"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!cordoned(&server, "w-b"));
}

#[test]
fn uncordon_upgraded_then_next() {
    let server = TestServer::start(fleet());
    assert_eq!(run(&server, &["drain-next"]).code, 0);
    assert!(cordoned(&server, "cp-1"));
    server.with_state(|c| c.set_node_kubelet_version("cp-1", "v1.33.2"));
    let r = run(
        &server,
        &["drain-next", "--uncordon-upgraded", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["uncordoned"], serde_json::json!(["cp-1"]));
    assert_eq!(j["node"], "w-b");
    assert_eq!(j["drain"]["outcome"], "drained");
    assert!(!cordoned(&server, "cp-1"));
    assert!(progress(&server, "cp-1").is_none());
    assert!(cordoned(&server, "w-b"));
}

#[test]
fn interrupted_drain_next_is_resumed() {
    let server = TestServer::start(fleet());
    // As left by an interrupted run: w-c cordoned, state draining.
    server.with_state(|c| {
        c.set_node_unschedulable("w-c", true);
    });
    let mut n = node(&server, "w-c");
    let value = r#"{"state":"draining","target":"v1.33.2","time":"2026-01-01T00:00:00Z","by":"drain-next by ci"}"#;
    n.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(PROGRESS.into(), value.into());
    server.with_state(|c| c.add_node(n));
    let r = run(&server, &["drain-next"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("next: w-c: resuming"), "{}", r.all());
    assert_eq!(progress(&server, "w-c").unwrap()["state"], "drained");
    assert!(!cordoned(&server, "cp-1"), "must not start another node");
}

#[test]
fn nothing_to_do_when_all_at_target() {
    let mut c = Cluster::new();
    c.add_node(builders::node("a", "v1.33.2"));
    c.add_node(builders::node("b", "v1.33.2"));
    let server = TestServer::start(c);
    let r = run(&server, &["drain-next"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("nothing to do"), "{}", r.all());
    assert_eq!(mutations(&server), 0);
}

#[test]
fn cordon_and_plain_uncordon() {
    let server = TestServer::start(fleet());
    let r = run(&server, &["cordon", "w-a", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("node/w-a cordoned (dry run)"));
    assert_eq!(mutations(&server), 0);
    let r = run(&server, &["cordon", "-l", "pool=blue"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(cordoned(&server, "w-b") && cordoned(&server, "w-c") && !cordoned(&server, "w-a"));
    let r = run(&server, &["cordon", "w-b"]);
    assert!(r.stdout.contains("already cordoned"), "{}", r.all());
    // A manual cordon carries no target: uncordon needs no version check.
    let r = run(&server, &["uncordon", "w-b", "w-c"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!cordoned(&server, "w-b") && !cordoned(&server, "w-c"));
}

/// Give `node` a progress record as drain-next leaves it (and cordon it unless `cordon` is false).
fn mark(server: &TestServer, node_name: &str, state: &str, by: &str, cordon: bool) {
    if cordon {
        server.with_state(|c| c.set_node_unschedulable(node_name, true));
    }
    let mut n = node(server, node_name);
    let value = format!(
        r#"{{"state":"{state}","target":"v1.33.2","time":"2026-01-01T00:00:00Z","command":"{by}","user":"test"}}"#
    );
    n.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(PROGRESS.into(), value);
    server.with_state(|c| c.add_node(n));
}

#[test]
fn named_node_waits_for_the_node_in_progress() {
    let server = TestServer::start(fleet());
    assert_eq!(run(&server, &["drain-next"]).code, 0);
    assert!(cordoned(&server, "cp-1"));

    // Another node named while cp-1 awaits its upgrade: exit 4 naming cp-1, nothing changed.
    let before = mutations(&server);
    let r = run(&server, &["drain-next", "w-b"]);
    assert_eq!(r.code, 4, "{}", r.all());
    for needle in [
        "w-b not drained",
        "cp-1",
        "kubectl upgrade uncordon cp-1",
        "--allow-another",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {}", r.all());
    }
    assert_eq!(mutations(&server), before);
    assert!(!cordoned(&server, "w-b"));

    // Naming the node in progress resumes it (drains it again), and only it.
    let r = run(&server, &["drain-next", "cp-1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("next: cp-1: resuming"), "{}", r.all());
    assert!(cordoned(&server, "cp-1") && !cordoned(&server, "w-b"));
    assert_eq!(progress(&server, "cp-1").unwrap()["state"], "drained");

    // --allow-another drains the named node.
    let r = run(
        &server,
        &["drain-next", "w-b", "--allow-another", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "w-b");
    assert!(cordoned(&server, "w-b"));
    assert!(pods_on(&server, "w-b").iter().all(|p| p.contains("proxy")));
    assert!(cordoned(&server, "cp-1"), "cp-1 untouched");
}

#[test]
fn named_node_does_not_resume_another_unfinished_drain() {
    let server = TestServer::start(fleet());
    // As left by an interrupted drain-next of w-c.
    mark(&server, "w-c", "draining", "drain-next", true);
    let before = mutations(&server);
    let r = run(&server, &["drain-next", "w-b"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stdout.contains("w-c") && r.stdout.contains("'draining'"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("--allow-another") && r.stdout.contains("kubectl upgrade uncordon w-c"),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), before, "neither w-c nor w-b touched");
    assert_eq!(progress(&server, "w-c").unwrap()["state"], "draining");
    assert!(!cordoned(&server, "w-b"));

    let r = run(&server, &["drain-next", "w-b", "--allow-another"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("next: w-b: named"), "{}", r.all());
    assert!(cordoned(&server, "w-b"));
    assert_eq!(progress(&server, "w-c").unwrap()["state"], "draining");
}

#[test]
fn unknown_node_is_a_usage_error_for_every_command() {
    let server = TestServer::start(fleet());
    let want = "error: node nope not found; check the name with `kubectl get nodes`";
    for args in [
        &["drain", "nope"][..],
        &["drain-next", "nope"][..],
        &["cordon", "nope"][..],
        &["uncordon", "nope"][..],
        // Checked before anything changes: w-a is not cordoned.
        &["cordon", "w-a", "nope"][..],
        &["drain-next", "nope", "--dry-run"][..],
    ] {
        let r = run(&server, args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.all());
        assert_eq!(r.stderr.trim_end(), want, "{args:?}: {}", r.all());
    }
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());
    assert!(!cordoned(&server, "w-a"));
}

/// A node drained by drain-next and then uncordoned with plain `kubectl uncordon` keeps a
/// stale record: it does not count as in progress, `uncordon` removes it without a version
/// check, and `cordon` drops it (a manual cordon is not a drain).
#[test]
fn stale_progress_records_do_not_count() {
    let server = TestServer::start(fleet());
    mark(&server, "w-a", "drained", "drain-next", false);
    mark(&server, "w-c", "drained", "drain-next", false);
    let r = run(&server, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "not in progress: {}", r.all());
    assert_eq!(r.json()["node"], "cp-1");

    // w-a still runs v1.32.4, below the record's target: no refusal, it is schedulable.
    let r = run(&server, &["uncordon", "w-a"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("stale"), "{}", r.all());
    assert!(progress(&server, "w-a").is_none());

    let r = run(&server, &["cordon", "w-c"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(cordoned(&server, "w-c"));
    assert!(progress(&server, "w-c").is_none());
    // So drain-next sees a foreign cordon, not a node of its own in progress.
    let r = run(&server, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "cp-1");
}

/// A node drained by plain `drain` carries a record without a target: drain-next does not
/// count it as in progress, skips it as cordoned by `drain`, and `uncordon` needs no check.
#[test]
fn plain_drain_is_not_drain_next_progress() {
    let server = TestServer::start(fleet());
    let r = run(&server, &["drain", "w-b"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let p = progress(&server, "w-b").expect("drain records progress");
    assert_eq!(p["state"], "drained");
    assert!(p.get("target").is_none(), "{p}");
    let r = run(&server, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["node"], "cp-1");
    let skipped = j["skipped"].to_string();
    assert!(
        skipped.contains("w-b") && skipped.contains("kubectl upgrade drain"),
        "{skipped}"
    );
    let r = run(&server, &["uncordon", "w-b"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!cordoned(&server, "w-b") && progress(&server, "w-b").is_none());
}

#[test]
fn named_nodes_are_handled_once_in_order() {
    let server = TestServer::start(fleet());
    let r = run(&server, &["cordon", "w-c", "w-a", "w-c", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    let nodes: Vec<&str> = j
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["w-c", "w-a"], "{}", r.all());
    assert_eq!(server.count("patch", "nodes"), 2, "{:?}", server.counters());
}

/// An empty selector (an unset `$POOL`), a malformed one, or a node name together with `-l`
/// never widens to every node: each is refused with exit 64 before any request is sent.
#[test]
fn empty_malformed_or_combined_selectors_are_refused() {
    let server = TestServer::start(fleet());
    let cases: [&[&str]; 9] = [
        &["cordon", "-l", ""],
        &["cordon", "-l", "!!bad"],
        &["cordon", "--selector=", "--dry-run"],
        &["uncordon", "-l", " "],
        &["cordon", "w-a", "-l", "pool=blue"],
        &["uncordon", "w-a", "-l", "pool=blue"],
        &["drain-next", "-l", ""],
        &["drain-next", "w-a", "-l", "pool=blue"],
        &["drain", "w-a", "--pod-selector", ""],
    ];
    for args in cases {
        let r = run(&server, args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.all());
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains("selector") || first.contains("cannot be used with"),
            "{args:?}: {}",
            r.all()
        );
    }
    assert_eq!(server.total_requests(), 0, "{:?}", server.counters());
    for n in ["cp-1", "cp-2", "w-a", "w-b", "w-c", "w-new"] {
        assert!(!cordoned(&server, n), "{n}");
    }
}

/// A record that is not ours to read (hand edit, another tool) is never taken for "no
/// record": drain-next counts its cordoned node as in progress (exit 4) and uncordon refuses
/// it without --force. Nothing is changed by the refusals.
#[test]
fn unreadable_progress_record_is_refused_not_ignored() {
    let server = TestServer::start(fleet());
    server.with_state(|c| c.set_node_unschedulable("w-b", true));
    let mut n = node(&server, "w-b");
    n.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(PROGRESS.into(), "{half a record".into());
    server.with_state(|c| c.add_node(n));
    let before = mutations(&server);

    let r = run(&server, &["drain-next"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.all().contains("w-b") && r.all().contains("unreadable"),
        "{}",
        r.all()
    );
    let r = run(&server, &["uncordon", "w-b"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.all().contains("unreadable") && r.all().contains("--force"),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), before, "refusals change nothing");
    assert!(cordoned(&server, "w-b"));

    let r = run(&server, &["uncordon", "w-b", "--force"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!cordoned(&server, "w-b"));
    assert!(progress(&server, "w-b").is_none());
}

/// A target above the API server's minor is refused before anything is touched (the skew
/// policy forbids a kubelet newer than kube-apiserver), unless explicitly allowed; uncordon
/// refuses a node whose kubelet came back newer than the API server.
#[test]
fn a_target_above_the_control_plane_is_refused() {
    let server = TestServer::start(fleet()); // API server v1.33.2
    let r = run(&server, &["drain-next", "--to", "v1.34.0"]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(
        r.stderr.contains("newer than kube-apiserver v1.33.2")
            && r.stderr.contains("--allow-newer-than-apiserver"),
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());
    // A newer patch of the same minor is fine; so is an explicit override.
    let r = run(
        &server,
        &["drain-next", "--dry-run", "--to", "v1.33.9", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let r = run(
        &server,
        &[
            "drain-next",
            "--dry-run",
            "--to",
            "v1.34.0",
            "--allow-newer-than-apiserver",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["target"], "v1.34.0");
    assert_eq!(mutations(&server), 0);

    // A node drained for v1.34.0 (forced) whose kubelet came back at v1.34.0: uncordon
    // refuses it against a v1.33 API server, --force goes ahead.
    let r = run(
        &server,
        &[
            "drain-next",
            "w-new",
            "--to",
            "v1.34.0",
            "--allow-newer-than-apiserver",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    server.with_state(|c| c.set_node_kubelet_version("w-new", "v1.34.0"));
    let r = run(&server, &["uncordon", "w-new"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.all().contains("newer than kube-apiserver v1.33.2"),
        "{}",
        r.all()
    );
    assert!(cordoned(&server, "w-new"));
    let r = run(&server, &["uncordon", "w-new", "--force"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!cordoned(&server, "w-new"));
}

/// Validation between nodes: before a new node, drain-next waits up to --validate-timeout for
/// the cluster to settle after the last one, and stops with exit 5 (nothing touched) when it
/// does not: a PDB below its desired healthy count, an upgraded node still cordoned, a
/// replacement pod still Pending. --no-validate skips it; a resumed drain is not validated.
#[test]
fn validation_between_nodes_waits_then_stops_with_exit_5() {
    // A PDB below its desired count: web has 2 pods, one not ready, minAvailable 2.
    let mut c = fleet();
    c.add_pod(
        kube_testserver::builders::pod("app", "api-0", "w-new")
            .owner("ReplicaSet", "api-rs")
            .labels(&[("app", "api")])
            .build(),
    );
    c.add_pod(
        kube_testserver::builders::pod("app", "api-1", "w-new")
            .owner("ReplicaSet", "api-rs")
            .labels(&[("app", "api")])
            .not_ready()
            .build(),
    );
    min_available(&mut c, "app", "api", IntOrString::Int(2));
    let server = TestServer::start(c);
    let r = run(
        &server,
        &["drain-next", "--validate-timeout", "1s", "-o", "json"],
    );
    assert_eq!(r.code, 5, "{}", r.all());
    let reason = r.json()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("PDB app/api has 1 healthy pod(s) of 2 desired")
            && reason.contains("--no-validate"),
        "{reason}"
    );
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());
    let r = run(
        &server,
        &["drain-next", "--dry-run", "--no-validate", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["node"], "cp-1");

    // The budget recovers while drain-next waits: it goes on.
    let r = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            server.with_state(|c| c.set_pod_ready("app", "api-1", true));
        });
        run(
            &server,
            &[
                "drain-next",
                "--dry-run",
                "--validate-timeout",
                "20s",
                "-o",
                "json",
            ],
        )
    });
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("validating before the next node"),
        "{}",
        r.all()
    );
}

#[test]
fn validation_wants_the_upgraded_node_uncordoned_and_no_replacement_pending() {
    let server = TestServer::start(fleet());
    // cp-1 drained by drain-next, now Ready at the target but still cordoned.
    server.with_state(|c| c.set_node_kubelet_version("cp-1", "v1.33.2"));
    mark(&server, "cp-1", "drained", "drain-next", true);
    // Only an uncordon fixes that: no waiting for it (the default limit is 5 minutes).
    let started = std::time::Instant::now();
    let r = run(&server, &["drain-next", "-o", "json"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(r.code, 5, "{}", r.all());
    assert_eq!(mutations(&server), 0);
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .contains("node cp-1 is back at the target but still cordoned"),
        "{}",
        r.all()
    );
    // A replacement created after that drain (2026-01-01) that cannot start.
    server.with_state(|c| {
        c.add_pod(
            kube_testserver::builders::pod("app", "web-new", "")
                .owner("ReplicaSet", "web-rs")
                .phase("Pending")
                .build(),
        )
    });
    let r = run(
        &server,
        &[
            "drain-next",
            "--uncordon-upgraded",
            "--validate-timeout",
            "1s",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 5, "{}", r.all());
    let j = r.json();
    assert_eq!(j["uncordoned"], serde_json::json!(["cp-1"]), "{}", r.all());
    assert!(
        j["reason"].as_str().unwrap().contains("app/web-new"),
        "{}",
        r.all()
    );
}
