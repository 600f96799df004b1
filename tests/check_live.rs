//! `check` and `snapshot` through the real client stack against the in-repo test API server.

use assert_cmd::Command;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{builders, Cluster, OutageMode, TestServer};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn kubeadm_cluster(extra_pods: usize) -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.33.2"));
    for comp in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        c.add_pod(builders::static_pod(
            comp,
            "cp-1",
            &format!("registry.k8s.io/{comp}:v1.33.2"),
        ));
    }
    c.add_pod(builders::static_pod(
        "etcd",
        "cp-1",
        "registry.k8s.io/etcd:3.5.21-0",
    ));
    for (name, v) in [("w-1", "v1.33.2"), ("w-2", "v1.32.5"), ("w-3", "v1.29.9")] {
        c.add_node(builders::node(name, v));
    }
    for n in ["cp-1", "w-1", "w-2", "w-3"] {
        c.add_pod(
            builders::pod("kube-system", &format!("kube-proxy-{n}"), n)
                .owner("DaemonSet", "kube-proxy")
                .labels(&[("k8s-app", "kube-proxy")])
                .image("registry.k8s.io/kube-proxy:v1.32.5")
                .build(),
        );
    }
    c.add_pod(
        builders::pod("kube-system", "coredns-abc", "w-1")
            .owner("ReplicaSet", "coredns-6f")
            .labels(&[("k8s-app", "kube-dns")])
            .image("registry.k8s.io/coredns/coredns:v1.12.0")
            .build(),
    );
    c.add_pod(
        builders::pod("shop", "ledger-0", "w-1")
            .owner("StatefulSet", "ledger")
            .labels(&[("app", "ledger")])
            .build(),
    );
    c.add_pdb(builders::pdb_min_available(
        "shop",
        "ledger",
        &[("app", "ledger")],
        IntOrString::Int(1),
    ));
    for i in 0..extra_pods {
        let node = ["w-1", "w-2", "w-3"][i % 3];
        c.add_pod(
            builders::pod("load", &format!("web-{i:05}"), node)
                .owner("ReplicaSet", "web-5d")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c.add_configmap(builders::kubeadm_config("v1.33.2"));
    c
}

fn run(args: &[&str], kubeconfig: &Path) -> (i32, String, String) {
    let out = Command::cargo_bin("kubectl-upgrade")
        .expect("binary")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {stdout}\nstderr: {stderr}"))
}

#[test]
fn live_inventory_reads_every_component_and_mutates_nothing() {
    let server = TestServer::start(kubeadm_cluster(0));
    let (code, out, err) = run(
        &["check", "-o", "json", "--now", "2026-11-23"],
        server.kubeconfig(),
    );
    let v = json(&out, &err);
    assert!(
        (1..=2).contains(&code),
        "w-3's kubelet is at the edge: {code} {err}"
    );
    assert_eq!(v["cluster"]["serverVersion"], "v1.33.2");
    assert_eq!(v["cluster"]["setup"]["kind"], "kubeadm");
    assert_eq!(v["cluster"]["kubeadmVersion"], "v1.33.2");
    assert_eq!(v["cluster"]["nodeCount"], 4);
    let components: Vec<String> = v["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["component"].as_str().unwrap_or(""),
                c["version"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "kube-apiserver=v1.33.2",
        "kube-controller-manager=v1.33.2",
        "kube-scheduler=v1.33.2",
        "etcd=3.5.21-0",
        "kube-proxy=v1.32.5",
        "coredns=v1.12.0",
    ] {
        assert!(
            components.iter().any(|c| c == want),
            "{want} missing from {components:?}"
        );
    }
    // w-3's kubelet 1.29 is 4 minors behind 1.33: outside the window.
    let skew = v["findings"].to_string();
    assert!(skew.contains("w-3"), "{skew}");
    // The single-replica StatefulSet under minAvailable 1 blocks the drain of w-1.
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["section"] == "drain" && f.to_string().contains("ledger")));
    // Read-only: no mutating verb reached the server.
    for ((verb, resource), n) in server.counters() {
        assert!(
            matches!(verb.as_str(), "get" | "list" | "watch"),
            "check sent {n} {verb} {resource}"
        );
    }
}

#[test]
fn pagination_streams_every_page() {
    let server = TestServer::start(kubeadm_cluster(1_234));
    let (code, out, err) = run(&["check", "-o", "json"], server.kubeconfig());
    assert!((0..=2).contains(&code), "{err}");
    let v = json(&out, &err);
    let pods = v["cluster"]["podCount"].as_u64().expect("podCount");
    assert_eq!(
        pods,
        1_234 + 10,
        "4 static + 4 kube-proxy + coredns + ledger + the load"
    );
    assert!(
        server.count("list", "pods") >= 3,
        "paged with limit=500: {:?}",
        server.counters()
    );
}

#[test]
fn forbidden_names_the_verb_and_resource() {
    let server = TestServer::start(kubeadm_cluster(0));
    server.forbid("list", "pods");
    let (code, out, err) = run(&["check"], server.kubeconfig());
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("grant verb \"list\" on resource \"pods\""),
        "{err}"
    );
}

#[test]
fn unreachable_server_is_exit_3_with_advice() {
    let dir = tempfile::tempdir().expect("tmp");
    let kc = dir.path().join("kubeconfig");
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .expect("write");
    let (code, _, err) = run(&["check", "--request-timeout", "3s"], &kc);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot reach the API server"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn request_timeout_bounds_a_slow_server() {
    let server = TestServer::start(kubeadm_cluster(0));
    server.set_latency(Duration::from_secs(5));
    let started = std::time::Instant::now();
    let (code, _, err) = run(
        &["check", "--request-timeout", "500ms"],
        server.kubeconfig(),
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "gave up in time"
    );
    assert!(
        err.contains("timed out") || err.contains("cannot reach"),
        "{err}"
    );
}

#[test]
fn snapshot_then_offline_check_gives_the_same_report() {
    let server = TestServer::start(kubeadm_cluster(20));
    let (code, snap, err) = run(&["snapshot"], server.kubeconfig());
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("cluster.json");
    std::fs::write(&file, &snap).expect("write");
    let (c1, live, e1) = run(
        &["check", "-o", "json", "--now", "2026-11-23"],
        server.kubeconfig(),
    );
    let (c2, offline, e2) = run(
        &[
            "check",
            "-o",
            "json",
            "--now",
            "2026-11-23",
            "--snapshot",
            file.to_str().expect("utf8"),
        ],
        server.kubeconfig(),
    );
    assert_eq!(c1, c2, "{e1}\n{e2}");
    let mut live = json(&live, &e1);
    let mut offline = json(&offline, &e2);
    for v in [&mut live, &mut offline] {
        v["source"] = Value::Null;
        v["cluster"]["notes"] = Value::Null;
        // kubectl's own version is read at check time in live mode only.
        v["components"] = Value::Array(
            v["components"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c["component"] != "kubectl (client)")
                .collect(),
        );
        v["findings"] = Value::Array(
            v["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| !f["subject"].as_str().unwrap_or("").starts_with("kubectl"))
                .collect(),
        );
    }
    assert_eq!(live, offline);
}

#[test]
fn kubeconfig_env_with_several_files_merges_like_kubectl() {
    let server = TestServer::start(kubeadm_cluster(0));
    let dir = tempfile::tempdir().expect("tmp");
    let other = dir.path().join("other");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\nclusters:\n- name: elsewhere\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: elsewhere\n  context:\n    cluster: elsewhere\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .expect("write");
    let joined = std::env::join_paths([other.as_path(), server.kubeconfig()]).expect("join");
    // First file's current-context wins; --context picks the server's context from the second file.
    let out = Command::cargo_bin("kubectl-upgrade")
        .expect("binary")
        .args(["check", "-o", "json", "--context", "test"])
        .env("KUBECONFIG", &joined)
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        (0..=2).contains(&code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, err) = {
        let out = Command::cargo_bin("kubectl-upgrade")
            .expect("binary")
            .args(["check", "--context", "missing"])
            .env("KUBECONFIG", &joined)
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            (),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A --context the kubeconfig does not have is a bad flag value: usage error, one line.
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--context missing"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn outage_during_check_is_reported_not_hung() {
    let server = TestServer::start(kubeadm_cluster(0));
    server.outage(Duration::from_secs(30), OutageMode::Refuse);
    let (code, _, err) = run(&["check", "--request-timeout", "2s"], server.kubeconfig());
    assert_eq!(code, 3, "{err}");
}
