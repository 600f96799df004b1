//! drain-next rollouts on both backends (kube-testserver and the real control plane): one at
//! a time through simulated in-place upgrades with validation and `status`, replace onto new
//! nodes, a batch of two, all at once, the rollout lock, and validation stopping on a
//! replacement that cannot start.

mod backend;

use backend::{real_version, Backend, Live, Setup};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::Cluster;
use std::time::Duration;

const OLD: &str = "v1.36.3";

fn labelled(
    name: &str,
    kubelet: &str,
    labels: &[(&str, &str)],
) -> kube_testserver::k8s_openapi::api::core::v1::Node {
    let mut n = builders::node(name, kubelet);
    let l = n.metadata.labels.get_or_insert_with(Default::default);
    for (k, v) in labels {
        l.insert(k.to_string(), v.to_string());
    }
    n
}

/// ReplicaSet pods `{app}-{i}`, the i-th on `nodes[i]`.
fn spread(c: &mut Cluster, ns: &str, app: &str, nodes: &[&str]) {
    for (i, node) in nodes.iter().enumerate() {
        c.add_pod(
            builders::pod(ns, &format!("{app}-{i}"), node)
                .owner("ReplicaSet", &format!("{app}-rs"))
                .labels(&[("app", app)])
                .build(),
        );
    }
}

fn budget(c: &mut Cluster, ns: &str, app: &str, max_unavailable: i32) {
    c.add_pdb(builders::pdb_max_unavailable(
        ns,
        app,
        &[("app", app)],
        IntOrString::Int(max_unavailable),
    ));
}

/// A pool of three workers rolled one at a time through in-place upgrades (a drained node
/// goes NotReady, comes back at the target): drain-next drains one, says exit 4 while it is
/// away, uncordons it once back, takes the next; status ends done; no budget violated.
fn one_at_a_time_through_in_place_upgrades(backend: Backend) {
    let target = real_version();
    let mut c = Cluster::new();
    for w in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(w, OLD));
    }
    spread(&mut c, "shop", "web", &["w-1", "w-2", "w-3"]);
    spread(&mut c, "shop", "api", &["w-2", "w-3", "w-1"]);
    budget(&mut c, "shop", "web", 1);
    budget(&mut c, "shop", "api", 1);
    let live = Live::start_with(
        backend,
        c,
        Setup {
            kubelet_upgrade: Some((target.clone(), Duration::from_millis(1500))),
            ready_delay: Some(Duration::from_millis(200)),
        },
    );
    let mut drained = Vec::new();
    let mut saw_in_progress = false;
    for _ in 0..40 {
        let r = live.run(&[
            "drain-next",
            "--uncordon-upgraded",
            "--timeout",
            "60s",
            "--validate-timeout",
            "60s",
            "-o",
            "json",
        ]);
        match r.code {
            0 => {
                let j = r.json();
                match j["node"].as_str() {
                    Some(n) => drained.push(n.to_string()),
                    None => {
                        assert!(
                            j["reason"].as_str().unwrap_or("").contains("nothing to do"),
                            "{}",
                            r.all()
                        );
                        break;
                    }
                }
            }
            4 => {
                saw_in_progress = true;
                std::thread::sleep(Duration::from_millis(300));
            }
            other => panic!("exit {other} ({backend:?}): {}", r.all()),
        }
    }
    assert_eq!(drained, ["w-1", "w-2", "w-3"], "oldest first, then by name");
    assert!(
        saw_in_progress,
        "one node at a time: exit 4 while a node is away"
    );
    let s = live.run(&["status", "-o", "json"]);
    assert_eq!(s.code, 0, "{}", s.all());
    let j = s.json();
    assert_eq!(j["done"], true, "{}", s.all());
    assert_eq!(j["lock"]["state"], "free");
    for w in ["w-1", "w-2", "w-3"] {
        assert!(!live.cordoned(w), "{w} uncordoned");
    }
    assert_eq!(live.pdb_violations(), 0);
}
both!(one_at_a_time_through_in_place_upgrades);

/// Replace: old nodes drained onto nodes already at the target, the other old nodes tainted
/// PreferNoSchedule first so evicted pods land on the new ones; each drained Node deleted.
fn replace_onto_new_nodes(backend: Backend) {
    let target = real_version();
    let mut c = Cluster::new();
    for w in ["old-1", "old-2"] {
        c.add_node(builders::node(w, OLD));
    }
    for w in ["new-1", "new-2"] {
        c.add_node(builders::node(w, &target));
    }
    spread(&mut c, "shop", "web", &["old-1", "old-1", "old-2", "old-2"]);
    budget(&mut c, "shop", "web", 1);
    let live = Live::start(backend, c);
    for expected in ["old-1", "old-2"] {
        let r = live.run(&[
            "drain-next",
            "--strategy",
            "replace",
            "--delete-node",
            "--no-validate",
            "--timeout",
            "60s",
            "-o",
            "json",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(r.json()["node"], expected, "{}", r.all());
        assert!(live.node(expected).is_none(), "{expected} deleted");
        if expected == "old-1" {
            assert_eq!(
                r.json()["tainted"],
                serde_json::json!(["old-2"]),
                "{}",
                r.all()
            );
        }
    }
    // Every web pod runs on a new node: none was moved twice.
    let web: Vec<String> = live
        .pods()
        .iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some("web")
        })
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(web.len(), 4, "{web:?}");
    assert!(web.iter().all(|n| n.starts_with("new-")), "{web:?}");
    assert_eq!(live.pdb_violations(), 0);
}
both!(replace_onto_new_nodes);

/// `--max-unavailable 2` drains two workers in one run; all at once needs
/// `--accept-downtime` and cordons every selected worker.
fn batches_and_all_at_once(backend: Backend) {
    let mut c = Cluster::new();
    for w in ["a-1", "a-2", "a-3", "a-4"] {
        c.add_node(labelled(w, OLD, &[("pool", "blue")]));
    }
    for w in ["b-1", "b-2"] {
        c.add_node(labelled(w, OLD, &[("pool", "batch")]));
    }
    c.add_node(builders::node("spare", &real_version()));
    spread(&mut c, "shop", "web", &["a-1", "a-2", "a-3", "a-4"]);
    spread(&mut c, "jobs", "worker", &["b-1", "b-2"]);
    budget(&mut c, "shop", "web", 2);
    let live = Live::start(backend, c);
    let r = live.run(&[
        "drain-next",
        "-l",
        "pool=blue",
        "--max-unavailable",
        "2",
        "--no-validate",
        "--timeout",
        "60s",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.json()["nodes"],
        serde_json::json!(["a-1", "a-2"]),
        "{}",
        r.all()
    );
    assert!(live.cordoned("a-1") && live.cordoned("a-2") && !live.cordoned("a-3"));
    let refused = live.run(&[
        "drain-next",
        "-l",
        "pool=batch",
        "--strategy",
        "all-at-once",
    ]);
    assert_eq!(refused.code, 64, "{}", refused.all());
    let r = live.run(&[
        "drain-next",
        "-l",
        "pool=batch",
        "--strategy",
        "all-at-once",
        "--accept-downtime",
        "--no-validate",
        "--timeout",
        "60s",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(live.cordoned("b-1") && live.cordoned("b-2"));
    assert!(live.pods_on("b-1").is_empty() && live.pods_on("b-2").is_empty());
    assert_eq!(live.pdb_violations(), 0);
}
both!(batches_and_all_at_once);

/// The rollout lock against a drain that waits on its budget: a second run is refused with
/// exit 6 naming the holder; after the first gives up, the lock is free again.
fn the_lock_holds_a_second_operator_off(backend: Backend) {
    let mut c = Cluster::new();
    c.add_node(builders::node("w-1", OLD));
    c.add_node(builders::node("w-2", OLD));
    // Two replicas, at least one available, and no room for replacements once w-1 is
    // cordoned (w-2 is tainted): the second eviction waits until --timeout.
    spread(&mut c, "shop", "db", &["w-1", "w-1"]);
    c.add_pdb(builders::pdb_min_available(
        "shop",
        "db",
        &[("app", "db")],
        IntOrString::Int(1),
    ));
    let mut full = builders::node("w-2", OLD);
    full.spec.get_or_insert_with(Default::default).taints = Some(vec![serde_json::from_value(
        serde_json::json!({"key": "dedicated", "value": "other", "effect": "NoSchedule"}),
    )
    .expect("taint")]);
    c.add_node(full);
    let live = Live::start(backend, c);
    let first = live.spawn(&[
        "drain-next",
        "w-1",
        "--no-validate",
        "--timeout",
        "8s",
        "-o",
        "json",
    ]);
    live.wait_until("the first run cordoned w-1", Duration::from_secs(20), |l| {
        l.cordoned("w-1")
    });
    let second = live.run(&["drain-next", "w-2", "--allow-another", "--no-validate"]);
    assert_eq!(second.code, 6, "{}", second.all());
    assert!(
        second.stderr.contains("another rollout holds the lock")
            && second.stderr.contains("on node w-1"),
        "{}",
        second.all()
    );
    let out = backend::wait_output(first, Duration::from_secs(60));
    assert_eq!(out.code, 2, "timed out on the budget: {}", out.all());
    let status = live.run(&["status", "-o", "json"]).json();
    assert_eq!(status["lock"]["state"], "free", "released: {status}");
    assert_eq!(live.pdb_violations(), 0);
}
both!(the_lock_holds_a_second_operator_off);

/// Validation between nodes: after a drain whose replacement cannot start (no room), the
/// next drain-next waits up to --validate-timeout, then stops with exit 5, touching nothing.
fn validation_stops_on_a_pending_replacement(backend: Backend) {
    let mut c = Cluster::new();
    c.add_node(builders::node("w-1", OLD));
    let mut tainted = builders::node("w-2", OLD);
    tainted.spec.get_or_insert_with(Default::default).taints = Some(vec![serde_json::from_value(
        serde_json::json!({"key": "dedicated", "value": "other", "effect": "NoSchedule"}),
    )
    .expect("taint")]);
    c.add_node(tainted);
    spread(&mut c, "shop", "web", &["w-1"]);
    let live = Live::start(backend, c);
    let r = live.run(&["drain-next", "w-1", "--timeout", "30s"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = live.run(&[
        "drain-next",
        "w-2",
        "--allow-another",
        "--validate-timeout",
        "3s",
    ]);
    assert_eq!(r.code, 5, "{}", r.all());
    assert!(
        r.stdout.contains("still Pending") || r.stderr.contains("still Pending"),
        "{}",
        r.all()
    );
    assert!(!live.cordoned("w-2"), "nothing touched");
}
both!(validation_stops_on_a_pending_replacement);

/// `--on-blocked=skip`: w-1's drain times out on a budget its own not-Ready pods hold at
/// zero; drain-next leaves it cordoned, recorded `blocked` with the reason and labelled, and
/// goes on with w-2 in the same run; status shows w-1 blocked. Without --timeout the flag is
/// a usage error. (`--no-validate`: the budget is unhealthy before the rollout starts, which
/// the validation before the first node refuses; that a blocked node's budget does not hold
/// the validation afterwards is `status::unsettled`'s unit test.)
fn on_blocked_skip_goes_on_with_the_next_node(backend: Backend) {
    let mut c = Cluster::new();
    for w in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(w, OLD));
    }
    let budget = backend::db_held_at_zero(&mut c, "w-1");
    c.add_pdb(budget);
    spread(&mut c, "shop", "web", &["w-2"]);
    let live = Live::start(backend, c);
    let r = live.run(&["drain-next", "--on-blocked=skip"]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(r.stderr.contains("--timeout"), "{}", r.all());
    let r = live.run(&[
        "drain-next",
        "--on-blocked=skip",
        "--timeout",
        "6s",
        "--no-validate",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["passedOver"][0]["node"], "w-1", "{}", r.all());
    let reason = j["passedOver"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("PDB shop/db"), "{reason}");
    assert_eq!(j["node"], "w-2", "{}", r.all());
    assert_eq!(j["drain"]["outcome"], "drained", "{}", r.all());
    // w-1: cordoned, recorded blocked with the reason, labelled; its pods still there.
    assert!(live.cordoned("w-1"));
    let record = live.progress("w-1").expect("w-1's record");
    assert_eq!(record["state"], "blocked", "{record}");
    assert!(
        record["reason"].to_string().contains("PDB shop/db"),
        "{record}"
    );
    let labels = live
        .node("w-1")
        .and_then(|n| n.metadata.labels)
        .unwrap_or_default();
    assert_eq!(
        labels.get("kubectl-upgrade.io/blocked").map(String::as_str),
        Some("true")
    );
    assert_eq!(live.pods_on("w-1").len(), 4);
    assert!(live.pods_on("w-2").is_empty());
    let s = live.run(&["status", "-o", "json"]);
    let w1 = s.json()["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["nodes"].as_array().cloned().unwrap_or_default())
        .find(|n| n["name"] == "w-1")
        .unwrap_or_default();
    assert_eq!(w1["state"], "blocked", "{}", s.all());
    assert!(w1["detail"].to_string().contains("passed over"), "{w1}");
    assert_eq!(live.pdb_violations(), 0);
}
both!(on_blocked_skip_goes_on_with_the_next_node);
