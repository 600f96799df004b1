//! `drain` against the test API server: every pod filter, blocked pods listed at once before
//! cordoning, --pod-selector, --grace-period and the uid precondition reaching the server,
//! --disable-eviction, dry runs that change nothing, and the JSON summary.

mod drain_support;

use drain_support::*;
use kube_testserver::builders;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::TestServer;

#[test]
fn filters_skip_daemonset_and_mirror_evict_completed_and_managed() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    c.add_pod(
        builders::pod("kube-system", "proxy-n1", "n1")
            .owner("DaemonSet", "kube-proxy")
            .build(),
    );
    c.add_pod(builders::static_pod(
        "etcd",
        "n1",
        "registry.k8s.io/etcd:3.5.21-0",
    ));
    c.add_pod(
        builders::pod("batch", "job-done", "n1")
            .phase("Succeeded")
            .build(),
    );
    c.add_pod(
        builders::pod("batch", "job-failed", "n1")
            .owner("Job", "j")
            .phase("Failed")
            .build(),
    );
    let server = TestServer::start(c);

    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(cordoned(&server, "n1"));
    let left = pods_on(&server, "n1");
    assert_eq!(
        left,
        vec![
            "kube-system/etcd-n1".to_string(),
            "kube-system/proxy-n1".to_string()
        ],
        "{}",
        r.all()
    );
    // Managed and completed pods all went through the Eviction API (like kubectl); nothing
    // was deleted directly, so the drain role needs no `delete pods`.
    let evicted = accepted_evictions(&server);
    assert_eq!(
        evicted.keys().cloned().collect::<Vec<_>>(),
        vec![
            "app/web-0",
            "app/web-1",
            "batch/job-done",
            "batch/job-failed"
        ]
    );
    assert_eq!(server.count("delete", "pods"), 0, "{:?}", server.counters());
    // DaemonSet pods are listed as skipped.
    assert!(
        r.stdout
            .contains("kube-system/proxy-n1 (DaemonSet-managed)"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("drained"), "{}", r.all());
    assert_eq!(progress(&server, "n1").unwrap()["state"], "drained");
}

#[test]
fn blocked_pods_are_all_listed_and_the_node_is_not_touched() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 1, "n1");
    c.add_pod(builders::pod("default", "bare-1", "n1").build());
    c.add_pod(builders::pod("default", "bare-2", "n1").build());
    c.add_pod(
        builders::pod("app", "cache-0", "n1")
            .owner("ReplicaSet", "cache")
            .empty_dir()
            .build(),
    );
    let server = TestServer::start(c);

    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 2, "{}", r.all());
    for needle in [
        "default/bare-1",
        "default/bare-2",
        "--force",
        "app/cache-0",
        "--delete-emptydir-data",
        "not cordoned",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {}", r.all());
    }
    assert!(!cordoned(&server, "n1"));
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());
    assert!(server.evictions().is_empty());

    // --force alone still leaves the emptyDir pod blocked.
    let r = run(&server, &["drain", "n1", "--force"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout.contains("app/cache-0") && !r.stdout.contains("default/bare-1"),
        "{}",
        r.all()
    );
    assert_eq!(server.count("patch", "nodes"), 0);

    let r = run(
        &server,
        &["drain", "n1", "--force", "--delete-emptydir-data"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        pods_on(&server, "n1").is_empty(),
        "{:?}",
        pods_on(&server, "n1")
    );
    assert_eq!(server.pdb_violations(), 0);
}

#[test]
fn pod_selector_limits_the_drain() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    replicas(&mut c, "app", "db", 1, "n1");
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1", "--pod-selector", "app=web"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(pods_on(&server, "n1"), vec!["app/db-0".to_string()]);
    assert!(accepted_evictions(&server)
        .keys()
        .all(|k| k.starts_with("app/web-")));
}

#[test]
fn grace_period_and_uid_precondition_reach_the_server() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 3, "n1");
    let server = TestServer::start(c);
    let uids: Vec<(String, String)> = (0..3)
        .map(|i| (format!("web-{i}"), uid(&server, "app", &format!("web-{i}"))))
        .collect();
    let r = run(&server, &["drain", "n1", "--grace-period", "7"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let ev = server.evictions();
    assert_eq!(ev.len(), 3, "{ev:#?}");
    for e in &ev {
        assert_eq!(e.api_version, "policy/v1");
        assert_eq!(e.grace_period_seconds, Some(7), "{e:#?}");
        let want = &uids
            .iter()
            .find(|(n, _)| *n == e.name)
            .expect("known pod")
            .1;
        assert_eq!(e.precondition_uid.as_ref(), Some(want), "{e:#?}");
        assert!(!e.dry_run);
        assert!((200..300).contains(&e.status), "{e:#?}");
    }
}

#[test]
fn disable_eviction_deletes_and_warns() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    c.add_pod(
        builders::pod("batch", "job-done", "n1")
            .owner("Job", "j")
            .phase("Succeeded")
            .build(),
    );
    // A PDB that would block evictions forever: deletes bypass it (that is the point, and the risk).
    max_unavailable(&mut c, "app", "web", IntOrString::Int(0));
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1", "--disable-eviction"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("WARNING") && r.stderr.contains("bypassing"),
        "{}",
        r.all()
    );
    // Every pod, completed ones included, is deleted: no eviction at all.
    assert!(server.evictions().is_empty());
    assert_eq!(server.count("delete", "pods"), 3, "{:?}", server.counters());
    assert!(pods_on(&server, "n1").is_empty());
}

#[test]
fn client_dry_run_changes_nothing_and_prints_the_plan() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    c.add_pod(
        builders::pod("kube-system", "proxy-n1", "n1")
            .owner("DaemonSet", "kube-proxy")
            .build(),
    );
    let server = TestServer::start(c);
    let before = pods_on(&server, "n1");
    for args in [
        &["drain", "n1", "--dry-run"][..],
        &["drain", "n1", "--dry-run=client"][..],
    ] {
        let r = run(&server, args);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stderr.contains("evict app/web-0") && r.stderr.contains("skip kube-system/proxy-n1"),
            "{}",
            r.all()
        );
        assert!(
            r.stdout.contains("dry run") && r.stdout.contains("nothing was changed"),
            "{}",
            r.all()
        );
    }
    assert_eq!(mutations(&server), 0, "{:?}", server.counters());
    assert!(!cordoned(&server, "n1"));
    assert_eq!(pods_on(&server, "n1"), before);
    assert!(progress(&server, "n1").is_none());
}

#[test]
fn server_dry_run_sends_dry_run_evictions_and_persists_nothing() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    let server = TestServer::start(c);
    let before = pods_on(&server, "n1");
    let r = run(&server, &["drain", "n1", "--dry-run=server", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["outcome"], "dry-run");
    assert_eq!(j["dryRun"], "server");
    let ev = server.evictions();
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.dry_run), "{ev:#?}");
    assert_eq!(server.count("delete", "pods"), 0);
    assert!(!cordoned(&server, "n1"));
    assert!(progress(&server, "n1").is_none());
    assert_eq!(pods_on(&server, "n1"), before);
}

#[test]
fn json_summary_for_scripts() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    c.add_pod(
        builders::pod("kube-system", "proxy-n1", "n1")
            .owner("DaemonSet", "kube-proxy")
            .build(),
    );
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert_eq!(j["node"], "n1");
    assert_eq!(j["outcome"], "drained");
    assert_eq!(j["cordoned"], true);
    assert_eq!(j["evicted"], serde_json::json!(["app/web-0", "app/web-1"]));
    assert_eq!(j["skipped"][0]["pod"], "kube-system/proxy-n1");
    assert_eq!(j["skipped"][0]["reason"], "daemonSet");
    assert_eq!(j["evictionRequests"], 2);
}

#[test]
fn nothing_to_do_is_said_plainly() {
    let mut c = two_nodes();
    c.add_pod(
        builders::pod("kube-system", "proxy-n1", "n1")
            .owner("DaemonSet", "kube-proxy")
            .build(),
    );
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("no pods to remove"), "{}", r.all());
    assert!(cordoned(&server, "n1"));
}

#[test]
fn unknown_node_is_a_usage_error_without_changes() {
    let server = TestServer::start(two_nodes());
    let r = run(&server, &["drain", "nope"]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert_eq!(
        r.stderr.trim_end(),
        "error: node nope not found; check the name with `kubectl get nodes`",
        "{}",
        r.all()
    );
    assert_eq!(mutations(&server), 0);
}

/// The progress record moves `cordoned` (written with the cordon, nothing evicted yet) ->
/// `draining` (before the first eviction) -> `drained`, as seen by a watch on the node.
#[test]
fn progress_is_recorded_cordoned_then_draining_then_drained() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, WatchEvent, WatchParams};
    use std::sync::{Arc, Mutex};

    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    let server = TestServer::start(c);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let states: Arc<Mutex<Vec<String>>> = Arc::default();
    let kubeconfig = server.kubeconfig().to_path_buf();
    let seen = states.clone();
    rt.block_on(async move {
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        let api: Api<Node> = Api::all(kube::Client::try_from(cfg).expect("client"));
        let wp = WatchParams::default().fields("metadata.name=n1");
        let mut stream = Box::pin(api.watch(&wp, "0").await.expect("watch"));
        // The synthetic ADDED: the watch is open before the drain starts.
        assert!(matches!(
            stream.next().await,
            Some(Ok(WatchEvent::Added(_)))
        ));
        tokio::spawn(async move {
            while let Some(Ok(ev)) = stream.next().await {
                let WatchEvent::Modified(n) = ev else {
                    continue;
                };
                let state = n
                    .metadata
                    .annotations
                    .and_then(|a| a.get(PROGRESS).cloned())
                    .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok())
                    .and_then(|v| v["state"].as_str().map(str::to_string));
                if let Some(state) = state {
                    let mut s = seen.lock().unwrap();
                    if s.last() != Some(&state) {
                        s.push(state);
                    }
                }
            }
        });
    });
    let r = run(&server, &["drain", "n1"]);
    assert_eq!(r.code, 0, "{}", r.all());
    wait_until(
        "the drained record",
        std::time::Duration::from_secs(10),
        || states.lock().unwrap().last().map(String::as_str) == Some("drained"),
    );
    assert_eq!(
        *states.lock().unwrap(),
        ["cordoned", "draining", "drained"],
        "{}",
        r.all()
    );
}

/// `-n` does what its help says: only that namespace's pods are checked and removed.
#[test]
fn namespace_flag_limits_the_drain_as_documented() {
    let mut c = two_nodes();
    replicas(&mut c, "app", "web", 2, "n1");
    // Would block the drain (unmanaged) if it were considered.
    c.add_pod(builders::pod("other", "bare-1", "n1").build());
    let server = TestServer::start(c);
    let r = run(&server, &["drain", "n1", "-n", "app"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(pods_on(&server, "n1"), vec!["other/bare-1".to_string()]);
    assert!(!r.all().contains("other/bare-1"), "{}", r.all());

    let help = run(&server, &["drain", "--help"]).stdout.replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("drain and drain-next only: remove only pods in this namespace; pods in other namespaces stay on the node and are neither checked nor listed"),
        "{help}"
    );
}
