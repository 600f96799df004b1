//! `simulate` against the truth, on both backends: for each generated pool (budget shapes ×
//! room × strategy) the prediction is made first, then the real `drain-next` rollout runs on
//! the same cluster (in-place upgrades simulated as in `live_rollout.rs`), and the prediction
//! is held against what happened: the order of the nodes, whether it completed, and where and
//! how it stopped (the node, and drain-next's exit code there). `simulate` itself writes
//! nothing: on the test server no mutating request arrives; on the real control plane it runs
//! as a read-only user (`tests/live_rbac.rs`).
//!
//! Each scenario prints `simulate-vs-rollout: <scenario> <backend>: match` (or the
//! mismatch), the figures the closing note reports.

mod backend;

use backend::{real_version, Backend, Live, Setup};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::core::v1::{Pod, ResourceRequirements};
use kube_testserver::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::Cluster;
use serde_json::Value;
use std::time::Duration;

const OLD: &str = "v1.36.3";

/// A ReplicaSet pod of `app` on `node`, requesting `cpu` millicores.
fn pod(ns: &str, name: &str, node: &str, app: &str, cpu: u64) -> Pod {
    let mut p = builders::pod(ns, name, node)
        .owner("ReplicaSet", &format!("{app}-rs"))
        .labels(&[("app", app)])
        .build();
    if cpu > 0 {
        if let Some(c) = p.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            c.resources = Some(ResourceRequirements {
                requests: Some([("cpu".to_string(), Quantity(format!("{cpu}m")))].into()),
                ..ResourceRequirements::default()
            });
        }
    }
    p
}

/// What the rollout did: the nodes drained in order, and where it stopped (node, exit code).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    order: Vec<String>,
    completed: bool,
    stopped: Option<(String, i32)>,
    /// Controller-owned pods left Pending when it completed.
    pending_at_end: bool,
}

/// A rollout that drains `order`, then stops at `node` with drain-next's exit `code`
/// (node empty for the next run's validation, exit 5).
fn stopped_at(order: &[&str], node: &str, code: i32) -> Outcome {
    Outcome {
        order: order.iter().map(|n| n.to_string()).collect(),
        completed: false,
        stopped: Some((node.to_string(), code)),
        pending_at_end: false,
    }
}

/// The prediction, as an [`Outcome`]: drain-next's exit code where it stops (`beforeDrain`
/// and `duringDrain` are the drain's exit 2; `afterDrain` is the next run's validation, 5).
fn predicted(sim: &Value) -> Outcome {
    let steps = sim["steps"].as_array().cloned().unwrap_or_default();
    let mut order = Vec::new();
    let mut stopped = None;
    for s in &steps {
        let nodes: Vec<String> = s["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
        match s.get("blocked") {
            Some(b) if !b.is_null() => {
                let node = b["node"].as_str().unwrap_or_default().to_string();
                match b["stops"].as_str() {
                    Some("afterDrain") => {
                        order.extend(nodes);
                        stopped = Some((String::new(), 5));
                    }
                    _ => stopped = Some((node, 2)),
                }
            }
            _ => order.extend(nodes),
        }
    }
    Outcome {
        order,
        completed: sim["completes"] == true,
        stopped,
        pending_at_end: sim["pendingAtEnd"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
    }
}

/// drain-next run until it finishes or stops (one at a time, in-place upgrades simulated;
/// replace drains for removal), as [`Outcome`].
fn rollout(live: &Live, extra: &[&str]) -> Outcome {
    let mut out = Outcome {
        order: vec![],
        completed: false,
        stopped: None,
        pending_at_end: false,
    };
    for _ in 0..60 {
        let mut args = vec![
            "drain-next",
            "--uncordon-upgraded",
            "--timeout",
            "20s",
            "--validate-timeout",
            "20s",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let r = live.run(&args);
        match r.code {
            0 => {
                let nodes: Vec<String> = r.json()["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect();
                if nodes.is_empty() {
                    out.completed = true;
                    // Give the scheduler a moment, then count what it could not place.
                    std::thread::sleep(Duration::from_secs(3));
                    out.pending_at_end = live.pods().iter().any(|p| {
                        p.metadata.deletion_timestamp.is_none()
                            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending")
                    });
                    return out;
                }
                out.order.extend(nodes);
            }
            4 => std::thread::sleep(Duration::from_millis(300)),
            code @ (2 | 5) => {
                let j = r.json();
                let node = if code == 5 {
                    String::new()
                } else {
                    j["node"]
                        .as_str()
                        .or_else(|| j["nodes"][0].as_str())
                        .map(str::to_string)
                        // Stopped before draining: the node named in the reason.
                        .or_else(|| live_node_in(j["reason"].as_str().unwrap_or_default(), live))
                        .unwrap_or_default()
                };
                out.stopped = Some((node, code));
                return out;
            }
            other => panic!("drain-next exit {other}: {}", r.all()),
        }
    }
    panic!("drain-next did not finish in 60 runs: {out:?}");
}

/// The first node of the cluster named in `text`.
fn live_node_in(text: &str, live: &Live) -> Option<String> {
    let mut names: Vec<String> = live
        .pods()
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    names.extend(["w-1", "w-2", "w-3", "old-1", "old-2"].map(String::from));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| text.contains(n.as_str()))
        .min_by_key(|n| text.find(n.as_str()))
}

/// Predict, prove nothing was written, roll out, compare; print the verdict line.
fn compare(live: &Live, scenario: &str, flags: &[&str], want: &Outcome) {
    let before = live.sim().map(|s| s.counters());
    let mut args = vec!["simulate", "-o", "json"];
    args.extend_from_slice(flags);
    let s = live.run(&args);
    assert!(matches!(s.code, 0..=2), "{}", s.all());
    let sim = s.json();
    assert_eq!(
        s.code == 2,
        sim["completes"] == false,
        "exit code follows the verdict"
    );
    if let (Some(server), Some(before)) = (live.sim(), before) {
        let after = server.counters();
        let writes: Vec<_> = after
            .iter()
            .filter(|((verb, _), _)| !matches!(verb.as_str(), "get" | "list" | "watch"))
            .filter(|(k, n)| before.get(*k).copied().unwrap_or(0) < **n)
            .collect();
        assert!(writes.is_empty(), "simulate wrote: {writes:?}");
    }
    let prediction = predicted(&sim);
    assert_eq!(
        &prediction, want,
        "the prediction, from the data and the policy: {sim}"
    );
    let truth = rollout(live, flags);
    let verdict = if prediction == truth {
        "match".to_string()
    } else {
        format!("MISMATCH: predicted {prediction:?}, rollout {truth:?}")
    };
    println!(
        "simulate-vs-rollout: {scenario} {:?}: {verdict}",
        live.backend
    );
    assert_eq!(
        prediction, truth,
        "{scenario}: prediction against the rollout"
    );
    assert_eq!(live.pdb_violations(), 0);
}

fn start(backend: Backend, c: Cluster) -> Live {
    Live::start_with(
        backend,
        c,
        Setup {
            kubelet_upgrade: Some((real_version(), Duration::from_millis(1500))),
            ready_delay: Some(Duration::from_millis(200)),
        },
    )
}

/// Three workers at the old version and one at the target (a replace pool).
fn old_three_and_one_new() -> Cluster {
    let mut c = Cluster::new();
    for w in ["old-1", "old-2", "old-3"] {
        c.add_node(builders::node(w, OLD));
    }
    c.add_node(builders::node("new-1", &real_version()));
    c
}

fn three(c: &mut Cluster) {
    for w in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(w, OLD));
    }
}

/// Budgets that allow one each, room everywhere: the rollout completes, oldest kubelet
/// first, then by name.
fn completes_in_order(backend: Backend) {
    let mut c = Cluster::new();
    three(&mut c);
    c.add_node(builders::node("w-0", "v1.36.1"));
    for (i, n) in ["w-0", "w-1", "w-2", "w-3"].iter().enumerate() {
        c.add_pod(pod("shop", &format!("web-{i}"), n, "web", 100));
        c.add_pod(pod("shop", &format!("api-{i}"), n, "api", 100));
    }
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "api",
        &[("app", "api")],
        IntOrString::Int(1),
    ));
    let live = start(backend, c);
    let want = Outcome {
        order: ["w-0", "w-1", "w-2", "w-3"].map(String::from).to_vec(),
        completed: true,
        stopped: None,
        pending_at_end: false,
    };
    compare(
        &live,
        "completes-in-order",
        &["--to", &real_version()],
        &want,
    );
}
both!(completes_in_order);

/// A budget that can never allow an eviction (minAvailable 1 of its one pod) on the second
/// node: the rollout drains the first, then stops before the second, touching nothing.
fn a_budget_that_never_allows(backend: Backend) {
    let mut c = Cluster::new();
    three(&mut c);
    c.add_pod(pod("shop", "web-0", "w-1", "web", 100));
    c.add_pod(pod("pay", "ledger-0", "w-2", "ledger", 100));
    c.add_pdb(builders::pdb_min_available(
        "pay",
        "ledger",
        &[("app", "ledger")],
        IntOrString::Int(1),
    ));
    let live = start(backend, c);
    let want = stopped_at(&["w-1"], "w-2", 2);
    compare(
        &live,
        "budget-never-allows",
        &["--to", &real_version()],
        &want,
    );
    assert!(
        !live.cordoned("w-2"),
        "stopped before the drain: w-2 untouched"
    );
}
both!(a_budget_that_never_allows);

/// Two pods of a budget that allows one on the first node, no room for either elsewhere
/// (the others are full): the first eviction's replacement stays Pending, the budget never
/// recovers, the drain cannot finish (exit 2 at its --timeout).
fn no_room_under_a_budget(backend: Backend) {
    let mut c = Cluster::new();
    three(&mut c);
    c.add_pod(pod("shop", "pair-0", "w-1", "pair", 1500));
    c.add_pod(pod("shop", "pair-1", "w-1", "pair", 1500));
    c.add_pod(pod("shop", "fill-2", "w-2", "fill", 3500));
    c.add_pod(pod("shop", "fill-3", "w-3", "fill", 3500));
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "pair",
        &[("app", "pair")],
        IntOrString::Int(1),
    ));
    let live = start(backend, c);
    let want = stopped_at(&[], "w-1", 2);
    compare(
        &live,
        "no-room-under-a-budget",
        &["--to", &real_version()],
        &want,
    );
}
both!(no_room_under_a_budget);

/// Replace: one new node with room for one of the two big pods: the first old node moves
/// onto it, drain-next's capacity preview refuses the second (exit 2, nothing touched).
fn replace_runs_out_of_room(backend: Backend) {
    let mut c = Cluster::new();
    c.add_node(builders::node("old-1", OLD));
    c.add_node(builders::node("old-2", OLD));
    c.add_node(builders::node("new-1", &real_version()));
    c.add_pod(pod("shop", "big-0", "old-1", "big", 3000));
    c.add_pod(pod("shop", "big-1", "old-2", "big", 3000));
    let live = Live::start(backend, c);
    let want = stopped_at(&["old-1"], "old-2", 2);
    compare(
        &live,
        "replace-runs-out-of-room",
        &["--to", &real_version(), "--strategy", "replace"],
        &want,
    );
    assert!(!live.cordoned("old-2"), "the preview touched nothing");
}
both!(replace_runs_out_of_room);

/// Batches of two (`--max-unavailable 2`) over four workers whose budget allows one: two
/// steps of two nodes; the budget only makes evictions take turns, the rollout completes.
fn batches_of_two(backend: Backend) {
    let mut c = Cluster::new();
    for w in ["w-1", "w-2", "w-3", "w-4"] {
        c.add_node(builders::node(w, OLD));
    }
    for (i, n) in ["w-1", "w-2", "w-3", "w-4"].iter().enumerate() {
        c.add_pod(pod("shop", &format!("web-{i}"), n, "web", 100));
    }
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    let live = start(backend, c);
    let want = Outcome {
        order: ["w-1", "w-2", "w-3", "w-4"].map(String::from).to_vec(),
        completed: true,
        stopped: None,
        pending_at_end: false,
    };
    compare(
        &live,
        "batches-of-two",
        &["--to", &real_version(), "--max-unavailable", "2"],
        &want,
    );
}
both!(batches_of_two);

/// Required pod anti-affinity (hostname) decides: replace with `--ignore-capacity`, one new
/// node. The first db pod moves there; the second may not join it, so it lands on the last
/// old node (PreferNoSchedule is a preference) and, when that one is drained, has nowhere to
/// go: drain-next finishes every node and leaves it Pending (no validation after the last).
fn anti_affinity_strands_a_replacement(backend: Backend) {
    let mut c = old_three_and_one_new();
    for (i, n) in ["old-1", "old-2"].iter().enumerate() {
        let mut p = pod("shop", &format!("db-{i}"), n, "db", 100);
        if let Some(s) = p.spec.as_mut() {
            s.affinity = Some(builders::hostname_anti_affinity("app", "db"));
        }
        c.add_pod(p);
    }
    c.add_pod(pod("shop", "web-0", "old-3", "web", 100));
    let live = Live::start(backend, c);
    let want = Outcome {
        order: ["old-1", "old-2", "old-3"].map(String::from).to_vec(),
        completed: true,
        stopped: None,
        pending_at_end: true,
    };
    compare(
        &live,
        "anti-affinity-strands-a-replacement",
        &[
            "--to",
            &real_version(),
            "--strategy",
            "replace",
            "--ignore-capacity",
        ],
        &want,
    );
}
both!(anti_affinity_strands_a_replacement);

/// A ValidatingWebhookConfiguration (or Mutating) with one webhook that fails closed on
/// `rules` (`CREATE` of the core group's `resources`), calling Service `guard/guard`.
fn webhook(kind: &str, resources: &[&str], object_selector: Option<Value>) -> Value {
    let mut hook = serde_json::json!({
        "name": "guard.kubectl-upgrade.test",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "timeoutSeconds": 2,
        "clientConfig": {"service": {"namespace": "guard", "name": "guard", "path": "/check"}},
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": resources}],
    });
    if let Some(sel) = object_selector {
        hook["objectSelector"] = sel;
    }
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "guard"},
        "webhooks": [hook],
    })
}

/// Service guard/guard selecting `app=guard` pods.
fn guard_service(c: &mut Cluster) {
    c.add_object(
        "v1",
        "services",
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "guard", "namespace": "guard"},
            "spec": {"selector": {"app": "guard"}, "ports": [{"port": 443, "targetPort": 8443}]},
        }),
    );
}

/// The drain findings of `check -o json` about the guard webhook.
fn webhook_findings(live: &Live) -> Vec<Value> {
    let r = live.run(&["check", "-o", "json"]);
    r.json()["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["section"] == "drain"
                && f["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("webhook guard."))
        })
        .cloned()
        .collect()
}

/// A webhook that fails closed on evictions, its Service without a single endpoint (its
/// backend is gone): every eviction would be refused. check says so for every node with pods
/// to move; simulate predicts the stop at the first such node; drain-next stops there before
/// the cordon; and going ahead anyway (`drain --ignore-blockers`) shows the API server's own
/// refusal.
fn a_webhook_without_endpoints(backend: Backend) {
    let mut c = Cluster::new();
    three(&mut c);
    c.add_pod(pod("shop", "web-0", "w-1", "web", 100));
    c.add_pod(pod("shop", "web-1", "w-2", "web", 100));
    c.add_pod(pod("guard", "other-0", "w-3", "other", 100));
    guard_service(&mut c);
    c.add_object(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        webhook("ValidatingWebhookConfiguration", &["pods/eviction"], None),
    );
    let live = start(backend, c);
    let found = webhook_findings(&live);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["severity"], "violation");
    let msg = found[0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("guard/guard has no ready endpoint") && msg.contains("w-1, w-2, w-3"),
        "{msg}"
    );
    let want = stopped_at(&[], "w-1", 2);
    compare(
        &live,
        "webhook-without-endpoints",
        &["--to", &real_version()],
        &want,
    );
    assert!(!live.cordoned("w-1"), "refused before the cordon");
    // The refusal is the API server's: going ahead, the eviction fails on the webhook.
    // Sent again until --timeout (a webhook may be down for a moment), then reported.
    let r = live.run(&[
        "drain",
        "w-1",
        "--ignore-blockers",
        "--timeout",
        "6s",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let j = r.json();
    assert_eq!(j["outcome"], "timed-out", "{}", r.all());
    let message = j["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("refused by an admission webhook")
            && message.contains("failed calling webhook \"guard.kubectl-upgrade.test\""),
        "{}",
        r.all()
    );
    println!("webhook refusal ({:?}): {message}", live.backend);
    // A refusal is sent again until --timeout: fixed meanwhile (here: the configuration
    // removed), the drain finishes.
    let child = live.spawn(&[
        "drain",
        "w-2",
        "--ignore-blockers",
        "--timeout",
        "60s",
        "-o",
        "json",
    ]);
    std::thread::sleep(Duration::from_secs(3));
    live.remove_validating_webhook("guard");
    let r = backend::wait_output(child, Duration::from_secs(90));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["outcome"], "drained", "{}", r.all());
    assert!(
        r.stderr
            .contains("refused by an admission webhook (sent again until --timeout)"),
        "{}",
        r.all()
    );
}
both!(a_webhook_without_endpoints);

/// A webhook that fails closed on pod creation and admits its own backend's pods
/// (objectSelector guarded=true), its only endpoint on w-2: draining w-2 would evict it and
/// its replacement would need it. check names w-2; simulate predicts w-1 drained, then the
/// stop at w-2; drain-next does exactly that. Pods it does not select (web) move freely.
fn a_webhook_that_admits_its_own_backend(backend: Backend) {
    let mut c = Cluster::new();
    three(&mut c);
    c.add_pod(pod("shop", "web-0", "w-1", "web", 100));
    c.add_pod(pod("shop", "web-1", "w-3", "web", 100));
    let mut guard = builders::pod("guard", "guard-0", "w-2")
        .owner("ReplicaSet", "guard-rs")
        .labels(&[("app", "guard"), ("guarded", "true")])
        .build();
    if let Some(s) = guard.status.as_mut() {
        s.pod_ip = Some("10.244.2.10".into());
    }
    c.add_pod(guard);
    guard_service(&mut c);
    c.add_object(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        webhook(
            "MutatingWebhookConfiguration",
            &["pods"],
            Some(serde_json::json!({"matchLabels": {"guarded": "true"}})),
        ),
    );
    let live = start(backend, c);
    let found = webhook_findings(&live);
    assert_eq!(found.len(), 1, "{found:?}");
    let msg = found[0]["message"].as_str().unwrap_or_default();
    assert_eq!(found[0]["severity"], "violation", "{msg}");
    assert!(
        msg.contains("runs on w-2") && msg.ends_with("blocks draining w-2"),
        "{msg}"
    );
    let want = stopped_at(&["w-1"], "w-2", 2);
    compare(
        &live,
        "webhook-admits-its-own-backend",
        &["--to", &real_version()],
        &want,
    );
    assert!(!live.cordoned("w-2"), "refused before the cordon");
}
both!(a_webhook_that_admits_its_own_backend);

/// Topology spread (maxSkew 1 per hostname, DoNotSchedule), replace onto one new node: the
/// first old node's pod goes to the new node (its domain was empty); the second would make
/// the new node two above the first old node, drained but still a domain (cordoned, not
/// deleted): the scheduler keeps it Pending, so drain-next's capacity preview refuses that
/// step, and simulate predicts exactly that stop. Without spread in the model both would
/// say it fits, and the rollout would stop one node later on the Pending replacement.
fn topology_spread_stops_a_replace(backend: Backend) {
    let mut c = old_three_and_one_new();
    for (i, n) in ["old-1", "old-2", "old-3"].iter().enumerate() {
        let mut p = pod("shop", &format!("s-{i}"), n, "s", 100);
        if let Some(s) = p.spec.as_mut() {
            s.topology_spread_constraints = Some(vec![serde_json::from_value(serde_json::json!({
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "s"}},
            }))
            .expect("constraint")]);
        }
        c.add_pod(p);
    }
    let live = Live::start(backend, c);
    let want = stopped_at(&["old-1"], "old-2", 2);
    compare(
        &live,
        "topology-spread-stops-a-replace",
        &["--to", &real_version(), "--strategy", "replace"],
        &want,
    );
    assert!(!live.cordoned("old-2"), "refused before the cordon");
    let on_new = live.pods_on("new-1");
    assert_eq!(on_new.len(), 1, "old-1's pod moved to new-1: {on_new:?}");
}
both!(topology_spread_stops_a_replace);

/// A pod whose claim is bound to a volume that only zone a reaches (a local volume, as a
/// zonal disk would be), replace onto a new node in zone b: the capacity preview refuses the
/// step (nothing touched) and simulate predicts it; going ahead anyway, the scheduler keeps
/// the replacement Pending, as predicted.
fn a_zonal_volume_stops_a_replace(backend: Backend) {
    let zoned = |name: &str, version: &str, zone: &str| {
        let mut n = builders::node(name, version);
        n.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("topology.kubernetes.io/zone".into(), zone.into());
        n
    };
    let mut c = Cluster::new();
    c.add_node(zoned("old-1", OLD, "a"));
    c.add_node(zoned("old-2", OLD, "b"));
    c.add_node(zoned("new-1", &real_version(), "b"));
    let mut db = pod("shop", "db-0", "old-1", "db", 100);
    if let Some(s) = db.spec.as_mut() {
        s.volumes = Some(vec![serde_json::from_value(serde_json::json!({
            "name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"},
        }))
        .expect("volume")]);
    }
    c.add_pod(db);
    c.add_pod(pod("shop", "web-0", "old-2", "web", 100));
    c.add_object(
        "v1",
        "persistentvolumes",
        serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "zonal-data-db-0"},
            "spec": {
                "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "storageClassName": "", "persistentVolumeReclaimPolicy": "Retain",
                "local": {"path": "/mnt/disks/db-0"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}},
            },
        }),
    );
    c.add_object(
        "v1",
        "persistentvolumeclaims",
        serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-db-0", "namespace": "shop"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": "zonal-data-db-0",
                     "resources": {"requests": {"storage": "1Gi"}}},
        }),
    );
    let live = Live::start(backend, c);
    let want = stopped_at(&[], "old-1", 2);
    compare(
        &live,
        "zonal-volume-stops-a-replace",
        &["--to", &real_version(), "--strategy", "replace"],
        &want,
    );
    assert!(!live.cordoned("old-1"), "refused before the cordon");
    // --ignore-capacity goes ahead: the scheduler then keeps the replacement Pending (the
    // volume reaches no node that takes pods), and the validation before the next node
    // stops the rollout; predicted the same.
    let want = stopped_at(&["old-1"], "", 5);
    compare(
        &live,
        "zonal-volume-ignore-capacity",
        &[
            "--to",
            &real_version(),
            "--strategy",
            "replace",
            "--ignore-capacity",
        ],
        &want,
    );
    let pending: Vec<String> = live
        .pods()
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(pending.len(), 1, "db's replacement Pending: {pending:?}");
}
both!(a_zonal_volume_stops_a_replace);
