//! Drains with PodDisruptionBudgets on both backends (kube-testserver and the real control
//! plane): budgets waited for with 0 violations, a pod under two budgets (the Eviction API's
//! 500), unhealthy pods and `unhealthyPodEvictionPolicy: AlwaysAllow`, `--dry-run=server`,
//! and the blocked-drain ladder's rungs (`--delete-blocking-after`, volumes detaching).

mod backend;

use backend::{Backend, Live};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::Cluster;

fn workers(c: &mut Cluster) {
    c.add_node(builders::node("w-1", "v1.36.3"));
    c.add_node(builders::node("w-2", "v1.37.2"));
}

fn replicas(c: &mut Cluster, ns: &str, app: &str, n: usize, node: &str) {
    for i in 0..n {
        c.add_pod(
            builders::pod(ns, &format!("{app}-{i}"), node)
                .owner("ReplicaSet", &format!("{app}-rs"))
                .labels(&[("app", app)])
                .build(),
        );
    }
}

/// Four replicas under a budget allowing one disruption: every pod evicted, the budget held.
fn drain_waits_on_the_budget(backend: Backend) {
    let mut c = Cluster::new();
    workers(&mut c);
    replicas(&mut c, "shop", "web", 4, "w-1");
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    let live = Live::start(backend, c);
    let r = live.run(&["drain", "w-1", "--timeout", "90s", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["outcome"], "drained");
    assert_eq!(
        j["evicted"].as_array().map(Vec::len),
        Some(4),
        "{}",
        r.all()
    );
    assert!(live.cordoned("w-1"));
    assert!(live.pods_on("w-1").is_empty(), "{:?}", live.pods_on("w-1"));
    assert_eq!(live.progress("w-1").expect("record")["state"], "drained");
    assert_eq!(live.pdb_violations(), 0);
    // The replacements run elsewhere, and the budget is whole again.
    live.wait_until(
        "the budget healthy again",
        std::time::Duration::from_secs(30),
        |l| {
            l.pdb("shop", "web")
                .and_then(|p| p.status)
                .is_some_and(|s| s.current_healthy.unwrap_or(0) >= 4)
        },
    );
}
both!(drain_waits_on_the_budget);

/// A pod selected by two budgets: the preflight names both and touches nothing; going ahead
/// anyway, the Eviction API answers 500 for it and the drain says why.
fn a_pod_under_two_budgets(backend: Backend) {
    let mut c = Cluster::new();
    workers(&mut c);
    replicas(&mut c, "shop", "api", 2, "w-1");
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "api-a",
        &[("app", "api")],
        IntOrString::Int(1),
    ));
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "api-b",
        &[("app", "api")],
        IntOrString::Int(1),
    ));
    let live = Live::start(backend, c);
    let r = live.run(&["drain", "w-1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("several PDBs select these pods"),
        "{}",
        r.all()
    );
    assert!(!live.cordoned("w-1"), "nothing touched");
    let r = live.run(&[
        "drain",
        "w-1",
        "--ignore-blockers",
        "--timeout",
        "20s",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let failed = r.json()["failed"].to_string();
    assert!(
        failed.contains("more than one PodDisruptionBudget"),
        "{failed}"
    );
    assert_eq!(live.pods_on("w-1").len(), 2);
    assert_eq!(live.pdb_violations(), 0);
}
both!(a_pod_under_two_budgets);

/// Two of four pods not Ready under `minAvailable: 3`: the budget is below its desired count,
/// so the default policy refuses even the unready pods (the drain times out, nothing
/// violated); with `unhealthyPodEvictionPolicy: AlwaysAllow` the unready pods go at once,
/// their replacements restore the budget, and the drain finishes.
fn unhealthy_pods_and_always_allow(backend: Backend) {
    for always in [false, true] {
        let mut c = Cluster::new();
        workers(&mut c);
        let mut pdb = backend::db_held_at_zero(&mut c, "w-1");
        if always {
            if let Some(s) = pdb.spec.as_mut() {
                s.unhealthy_pod_eviction_policy = Some("AlwaysAllow".into());
            }
        }
        c.add_pdb(pdb);
        let live = Live::start(backend, c);
        let r = live.run(&["drain", "w-1", "--timeout", "8s", "-o", "json"]);
        if always {
            assert_eq!(r.code, 0, "AlwaysAllow: {}", r.all());
            assert!(live.pods_on("w-1").is_empty());
        } else {
            assert_eq!(r.code, 2, "IfHealthyBudget: {}", r.all());
            assert_eq!(r.json()["outcome"], "timed-out", "{}", r.all());
            assert_eq!(live.pods_on("w-1").len(), 4);
            // The first rung of the ladder: the budget's arithmetic as the server reports it,
            // the pods holding it at zero, and the advice that applies (the pods waiting
            // are not Ready themselves).
            let j = r.json();
            let held = &j["heldBy"][0];
            assert_eq!(held["pdb"], "shop/db", "{}", r.all());
            assert_eq!(
                held["numbers"],
                "minAvailable 3; healthy 2/4, desired 3, disruptionsAllowed 0",
                "{}",
                r.all()
            );
            let not_ready = held["notReady"].to_string();
            for p in ["shop/db-0 (on w-1)", "shop/db-1 (on w-1)"] {
                assert!(not_ready.contains(p), "{p}: {not_ready}");
            }
            assert!(!not_ready.contains("db-2"), "{not_ready}");
            let advice = held["advice"].as_str().unwrap_or_default();
            assert!(advice.contains("AlwaysAllow"), "{advice}");
            let message = j["message"].as_str().unwrap_or_default();
            assert!(message.contains("PDB shop/db: minAvailable 3"), "{message}");
        }
        assert_eq!(live.pdb_violations(), 0);
    }
}
both!(unhealthy_pods_and_always_allow);

/// `--dry-run=server`: the API server validates the cordon and every eviction, nothing
/// persists.
fn server_dry_run_changes_nothing(backend: Backend) {
    let mut c = Cluster::new();
    workers(&mut c);
    replicas(&mut c, "shop", "web", 3, "w-1");
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    let live = Live::start(backend, c);
    let r = live.run(&["drain", "w-1", "--dry-run=server", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["outcome"], "dry-run");
    assert!(!live.cordoned("w-1"));
    assert_eq!(live.pods_on("w-1").len(), 3);
    assert!(live.progress("w-1").is_none());
}
both!(server_dry_run_changes_nothing);

/// `--delete-blocking-after`: the pods whose eviction their budget still refuses after that
/// long are deleted (exactly those: a pod no budget holds is evicted as usual), said in the
/// output and kept in the progress record; the drain finishes. Refused combinations are
/// usage errors.
fn delete_blocking_after_deletes_exactly_the_blocked_pods(backend: Backend) {
    let mut c = Cluster::new();
    workers(&mut c);
    for i in 0..3 {
        c.add_pod(
            builders::pod("shop", &format!("db-{i}"), "w-1")
                .owner("ReplicaSet", "db-rs")
                .labels(&[("app", "db")])
                .build(),
        );
    }
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "db",
        &[("app", "db")],
        IntOrString::Int(0),
    ));
    c.add_pod(
        builders::pod("shop", "web-0", "w-1")
            .owner("ReplicaSet", "web-rs")
            .labels(&[("app", "web")])
            .build(),
    );
    let live = Live::start(backend, c);
    for bad in [
        &["--delete-blocking-after", "10s", "--timeout", "5s"][..],
        &["--delete-blocking-after", "5s", "--disable-eviction"][..],
    ] {
        let mut args = vec!["drain", "w-1"];
        args.extend_from_slice(bad);
        let r = live.run(&args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.all());
        assert!(!live.cordoned("w-1"), "nothing touched");
    }
    let r = live.run(&[
        "drain",
        "w-1",
        "--ignore-blockers",
        "--delete-blocking-after",
        "3s",
        "--timeout",
        "60s",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["outcome"], "drained", "{}", r.all());
    let mut deleted: Vec<String> = j["deletedBlocking"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        ["shop/db-0", "shop/db-1", "shop/db-2"],
        "{}",
        r.all()
    );
    assert_eq!(
        j["evicted"],
        serde_json::json!(["shop/web-0"]),
        "{}",
        r.all()
    );
    assert!(
        j["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--delete-blocking-after"),
        "{}",
        r.all()
    );
    assert!(live.pods_on("w-1").is_empty());
    let record = live.progress("w-1").expect("record");
    assert_eq!(
        record["deletedBlocking"].as_array().map(Vec::len),
        Some(3),
        "{record}"
    );
}
both!(delete_blocking_after_deletes_exactly_the_blocked_pods);

/// A VolumeAttachment (cluster-scoped, `storage.k8s.io/v1`) on `node`, made through the API
/// on the real control plane, in the test server's store otherwise.
fn attach(live: &Live, name: &str, node: &str) {
    let va = serde_json::json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "VolumeAttachment",
        "metadata": {"name": name},
        "spec": {
            "attacher": "csi.example.com",
            "nodeName": node,
            "source": {"persistentVolumeName": format!("pv-{name}")}
        }
    });
    if let Some(s) = live.sim() {
        s.with_state(|c| c.add_object("storage.k8s.io/v1", "volumeattachments", va));
    } else if let Some(r) = live.real() {
        use kube_testserver::k8s_openapi::api::storage::v1::VolumeAttachment;
        let va: VolumeAttachment = serde_json::from_value(va).expect("a VolumeAttachment");
        let api: kube::Api<VolumeAttachment> = kube::Api::all(r.plane.client.clone());
        r.plane
            .block_on(api.create(&Default::default(), &va))
            .expect("VolumeAttachment created");
    }
}

fn detach(live: &Live, name: &str) {
    if let Some(s) = live.sim() {
        s.with_state(|c| c.remove_object("storage.k8s.io/v1", "volumeattachments", "", name));
    } else if let Some(r) = live.real() {
        use kube_testserver::k8s_openapi::api::storage::v1::VolumeAttachment;
        let api: kube::Api<VolumeAttachment> = kube::Api::all(r.plane.client.clone());
        r.plane
            .block_on(api.delete(name, &Default::default()))
            .expect("VolumeAttachment deleted");
    }
}

/// The fourth rung: a node whose pods are gone counts as drained only once its
/// VolumeAttachments are released (`--volume-detach-timeout`); one still attached at that
/// limit leaves the drain unfinished (exit 2, named, record `failed`); one released while
/// waiting lets it finish. An attachment on another node is not waited for.
fn volumes_must_detach_before_a_node_counts_as_drained(backend: Backend) {
    let mut c = Cluster::new();
    workers(&mut c);
    replicas(&mut c, "shop", "web", 2, "w-1");
    let live = Live::start(backend, c);
    attach(&live, "va-w1", "w-1");
    attach(&live, "va-w2", "w-2");
    let r = live.run(&[
        "drain",
        "w-1",
        "--volume-detach-timeout",
        "3s",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let j = r.json();
    assert_eq!(j["outcome"], "timed-out", "{}", r.all());
    assert_eq!(
        j["volumesAttached"],
        serde_json::json!(["va-w1"]),
        "{}",
        r.all()
    );
    assert!(live.pods_on("w-1").is_empty(), "the pods went first");
    assert_eq!(live.progress("w-1").expect("record")["state"], "failed");
    // SIGTERM while waiting: interrupted at once (130), resumable, nothing recorded as drained.
    #[cfg(unix)]
    {
        let child = live.spawn(&[
            "drain",
            "w-1",
            "--volume-detach-timeout",
            "60s",
            "-o",
            "json",
        ]);
        std::thread::sleep(std::time::Duration::from_secs(3));
        // SAFETY: a signal to the child this test spawned.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let started = std::time::Instant::now();
        let r = backend::wait_output(child, std::time::Duration::from_secs(30));
        assert_eq!(r.code, 130, "{}", r.all());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{}",
            r.all()
        );
        assert_eq!(r.json()["outcome"], "interrupted", "{}", r.all());
        // The record this run began with (cordoned: unfinished, resumed next), never drained.
        assert_eq!(live.progress("w-1").expect("record")["state"], "cordoned");
    }
    // Released while the rerun waits: it finishes.
    let child = live.spawn(&[
        "drain",
        "w-1",
        "--volume-detach-timeout",
        "60s",
        "-o",
        "json",
    ]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    detach(&live, "va-w1");
    let r = backend::wait_output(child, std::time::Duration::from_secs(60));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.json()["outcome"], "nothing-to-do", "{}", r.all());
    assert_eq!(live.progress("w-1").expect("record")["state"], "drained");
    detach(&live, "va-w2");
}
both!(volumes_must_detach_before_a_node_counts_as_drained);
