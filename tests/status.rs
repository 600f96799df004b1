//! `kubectl upgrade status` against the test server: every rollout state, pools from the
//! providers' labels, the next node, JSON, and `--watch` until the rollout is done.

use assert_cmd::Command;
use kube_testserver::k8s_openapi::api::core::v1::Node;
use kube_testserver::{builders, Cluster, TestServer};
use serde_json::Value;
use std::time::Duration;

const ANNOTATION: &str = "kubectl-upgrade.io/drain-progress";

fn worker(name: &str, kubelet: &str, pool: &str) -> Node {
    let mut n = builders::node(name, kubelet);
    n.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("eks.amazonaws.com/nodegroup".into(), pool.into());
    n
}

fn progress(n: &mut Node, state: &str) {
    n.metadata.annotations.get_or_insert_with(Default::default).insert(
        ANNOTATION.into(),
        format!(r#"{{"state":"{state}","target":"v1.33.2","time":"2026-12-03T10:00:00Z","command":"drain-next","user":"alice"}}"#),
    );
    n.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
}

/// The rollout lock held by alice's drain-next on `nodes`, renewed `ago_s` seconds ago.
fn lock(nodes: &str, ago_s: i64) -> kube_testserver::k8s_openapi::api::coordination::v1::Lease {
    let renewed = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago_s);
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kubectl-upgrade-rollout", "namespace": "kube-system", "annotations": {
            "kubectl-upgrade.io/lock-command": "kubectl upgrade drain-next -l pool=blue",
            "kubectl-upgrade.io/lock-user": "alice",
            "kubectl-upgrade.io/lock-host": "laptop (pid 42)",
            "kubectl-upgrade.io/lock-nodes": nodes,
        }},
        "spec": {"holderIdentity": "alice@laptop/42/1", "leaseDurationSeconds": 60,
                 "acquireTime": "2026-12-03T10:00:00.000000Z", "renewTime": renewed.to_string()},
    }))
    .unwrap()
}

fn cluster() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.33.2"));
    c.add_node(worker("a-done", "v1.33.2", "blue"));
    let mut draining = worker("b-draining", "v1.32.5", "blue");
    progress(&mut draining, "draining");
    c.add_node(draining);
    c.add_node(worker("c-waiting", "v1.32.5", "green"));
    let mut failed = worker("d-failed", "v1.32.5", "green");
    progress(&mut failed, "failed");
    c.add_node(failed);
    c
}

fn run(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(args)
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_state_grouped_by_pool() {
    let server = TestServer::start(cluster());
    // Nobody holds the lock: b-draining's drain stopped (Ctrl-C, SIGTERM, a crash), and
    // drain-next resumes it next.
    let (code, out, err) = run(&server, &["status", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["lock"]["state"], "free");
    assert_eq!(
        (r["stopped"].as_u64(), r["inProgress"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(r["next"]["node"], "b-draining");
    let stopped = r["pools"][1]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "b-draining")
        .unwrap();
    assert_eq!(stopped["state"], "stopped");
    assert!(stopped["detail"]
        .as_str()
        .unwrap()
        .contains("rerun drain-next to resume"));
    // alice's drain-next holds the lock for it: being drained, and the table names her.
    server.with_state(|c| c.add_lease(lock("b-draining", 5)));
    let (code, table, _) = run(&server, &["status"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("Rollout lock: held by alice on laptop (pid 42) running `kubectl upgrade drain-next -l pool=blue`, on node b-draining"),
        "{table}"
    );
    let (code, out, err) = run(&server, &["status", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        r["target"], "v1.33.2",
        "the API server's version by default"
    );
    let pools: Vec<&str> = r["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pools, ["control-plane", "blue", "green"]);
    assert_eq!(
        (
            r["atTarget"].as_u64(),
            r["inProgress"].as_u64(),
            r["waiting"].as_u64(),
            r["blocked"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(1))
    );
    let node = |name: &str| {
        r["pools"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["nodes"].as_array().unwrap())
            .find(|n| n["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(node("b-draining")["state"], "inProgress");
    assert_eq!(node("b-draining")["step"], "draining");
    assert_eq!(node("b-draining")["since"], "2026-12-03T10:00:00Z");
    assert_eq!(node("b-draining")["by"], "drain-next by alice");
    assert_eq!(node("d-failed")["state"], "blocked");
    assert_eq!(node("c-waiting")["state"], "waiting");
    // One node at a time: nothing is next while b-draining is in progress.
    assert!(r["next"]["node"].is_null());
    assert!(r["next"]["reason"]
        .as_str()
        .unwrap()
        .contains("b-draining is in progress"));
    assert!(!r["done"].as_bool().unwrap());
    // The table says the same; status only reads.
    let (code, table, _) = run(&server, &["status"]);
    assert_eq!(code, 0);
    assert!(table.contains("Rollout to v1.33.2"), "{table}");
    assert!(
        table.contains("green (0 at target, 0 in progress, 0 stopped, 1 waiting, 1 blocked)"),
        "{table}"
    );
    let writes: Vec<_> = server
        .counters()
        .into_keys()
        .filter(|(v, _)| !["get", "list", "watch"].contains(&v.as_str()))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    // Bad input is a usage error, and so is a selector that matches nothing (a typo must
    // not read as "done" to a script).
    assert_eq!(run(&server, &["status", "--to", "soon"]).0, 64);
    let (code, _, err) = run(&server, &["status", "-l", "pool=bleu"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("no node matches -l pool=bleu"), "{err}");
    // A lock whose holder went silent for longer than its lease: expired, the drain stopped.
    server.with_state(|c| c.add_lease(lock("b-draining", 600)));
    let (_, out, _) = run(&server, &["status", "-o", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["lock"]["state"], "expired");
    assert_eq!(r["stopped"], 1);
}

#[test]
fn next_node_and_watch_until_done() {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.33.2"));
    c.add_node(worker("w-1", "v1.32.5", "blue"));
    let server = TestServer::start(c);
    let (_, out, _) = run(&server, &["status", "-o", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["next"]["node"], "w-1");
    // --watch returns once the last node reaches the target.
    let bin = assert_cmd::cargo::cargo_bin("kubectl-upgrade");
    let child = std::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(["status", "--watch", "--interval", "200ms"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    server.with_state(|c| c.set_node_kubelet_version("w-1", "v1.33.2"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // Not a terminal: a new view only when something changed (two views here).
    assert_eq!(text.matches("Rollout to v1.33.2").count(), 2, "{text}");
    assert!(text.contains("(done)"), "{text}");
}
