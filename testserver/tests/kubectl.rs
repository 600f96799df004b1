//! The real kubectl against the test server: get, cordon, drain (with and without a PDB in
//! the way). Skipped, with a printed reason, when kubectl is not installed.
//!
//! `/usr/bin/kubectl` on the CI image is Google Cloud SDK's dispatcher, which runs the
//! `kubectl.1.XX` matching the server's minor; the server reports v1.33.2 so it picks
//! kubectl.1.33. `KUBECTL=/path/to/kubectl` overrides the choice.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kube_testserver::{builders, Cluster, Options, TestServer};

fn kubectl_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBECTL") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/kubectl",
        "/usr/local/bin/kubectl",
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs kubectl against the server with an isolated cache dir, killing it after `timeout`.
fn kubectl(server: &TestServer, args: &[&str], timeout: Duration) -> Option<Out> {
    let Some(bin) = kubectl_path() else {
        eprintln!("skipping: kubectl not found");
        return None;
    };
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let end = Instant::now() + timeout;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let o = Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ kubectl {}\n{}{}", args.join(" "), o.stdout, o.stderr);
    Some(o)
}

const T: Duration = Duration::from_secs(60);

fn drain_cluster() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp",
        "registry.k8s.io/kube-apiserver:v1.33.2",
    ));
    for n in ["w1", "w2", "w3"] {
        c.add_node(builders::node(n, "v1.33.2"));
        c.add_pod(
            builders::pod("kube-system", &format!("kube-proxy-{n}"), n)
                .owner("DaemonSet", "kube-proxy")
                .labels(&[("k8s-app", "kube-proxy")])
                .build(),
        );
    }
    c
}

#[test]
fn kubectl_get_nodes_and_pods() {
    let mut c = drain_cluster();
    c.add_pod(
        builders::pod("apps", "web-1", "w2")
            .owner("ReplicaSet", "web-abc")
            .labels(&[("app", "web")])
            .build(),
    );
    c.add_pdb(builders::pdb_max_unavailable(
        "apps",
        "web",
        &[("app", "web")],
        int(1),
    ));
    let server = TestServer::start(c);
    let Some(o) = kubectl(&server, &["get", "nodes"], T) else {
        return;
    };
    assert!(o.ok);
    for n in ["cp", "w1", "w2", "w3"] {
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with(n) && l.contains("Ready")),
            "{n} in {}",
            o.stdout
        );
    }
    assert!(o.stdout.contains("control-plane") && o.stdout.contains("v1.33.2"));
    let o = kubectl(&server, &["get", "pods", "-A"], T).unwrap();
    assert!(o.ok);
    for p in [
        "kube-apiserver-cp",
        "kube-proxy-w1",
        "kube-proxy-w3",
        "web-1",
    ] {
        assert!(o.stdout.contains(p), "{p}");
    }
    assert!(o.stdout.contains("apps") && o.stdout.contains("Running"));
    let o = kubectl(&server, &["get", "pods", "-n", "apps", "-o", "json"], T).unwrap();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["items"][0]["metadata"]["name"], "web-1");
    let o = kubectl(&server, &["get", "pdb", "-A"], T).unwrap();
    assert!(o.ok);
    let row = o
        .stdout
        .lines()
        .find(|l| l.starts_with("apps"))
        .unwrap_or_default()
        .to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    // NAMESPACE NAME MIN-AVAILABLE MAX-UNAVAILABLE ALLOWED-DISRUPTIONS AGE
    assert_eq!(
        &cells[..5],
        &["apps", "web", "N/A", "1", "1"],
        "{}",
        o.stdout
    );
    assert!(server.count("list", "pods") >= 2);
}

#[test]
fn kubectl_cordon_and_uncordon() {
    let server = TestServer::start(drain_cluster());
    let Some(o) = kubectl(&server, &["cordon", "w1"], T) else {
        return;
    };
    assert!(o.ok);
    assert!(o.stdout.contains("node/w1 cordoned"));
    assert_eq!(
        server.with_state(|c| c.node("w1").unwrap().spec.as_ref().unwrap().unschedulable),
        Some(true)
    );
    assert_eq!(server.count("patch", "nodes"), 1);
    let o = kubectl(&server, &["uncordon", "w1"], T).unwrap();
    assert!(o.ok);
    assert_eq!(
        server.with_state(|c| c.node("w1").unwrap().spec.as_ref().unwrap().unschedulable),
        None
    );
}

#[test]
fn kubectl_drain_empties_the_node() {
    let mut c = drain_cluster();
    c.add_pod(
        builders::pod("apps", "web-0", "w1")
            .owner("ReplicaSet", "web-abc")
            .labels(&[("app", "web")])
            .build(),
    );
    c.add_pod(
        builders::pod("apps", "web-1", "w1")
            .owner("ReplicaSet", "web-abc")
            .labels(&[("app", "web")])
            .build(),
    );
    c.add_pod(
        builders::pod("apps", "db-0", "w1")
            .owner("StatefulSet", "db")
            .labels(&[("app", "db")])
            .build(),
    );
    c.add_pod(
        builders::pod("apps", "cache-0", "w1")
            .owner("ReplicaSet", "cache-x")
            .empty_dir()
            .build(),
    );
    c.add_pod(builders::pod("apps", "bare", "w1").build());
    c.add_pod(
        builders::pod("apps", "job-done", "w1")
            .owner("Job", "job")
            .phase("Succeeded")
            .build(),
    );
    c.add_pod(builders::static_pod("static-thing", "w1", "busybox"));
    let server = TestServer::start(c);
    let Some(o) = kubectl(
        &server,
        &[
            "drain",
            "w1",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=60s",
        ],
        Duration::from_secs(90),
    ) else {
        return;
    };
    assert!(o.ok, "drain failed: {}", o.stderr);
    assert!(o.stdout.contains("node/w1 drained"));
    assert!(
        wait_until(Duration::from_secs(5), || {
            let mut left = server.with_state(|c| {
                c.pods_on_node("w1")
                    .map(|p| p.metadata.name.clone().unwrap())
                    .collect::<Vec<_>>()
            });
            left.sort();
            left == vec!["kube-proxy-w1", "static-thing-w1"]
        }),
        "only the DaemonSet pod and the mirror pod stay"
    );
    assert!(server
        .with_state(|c| c.node("w1").unwrap().spec.as_ref().unwrap().unschedulable == Some(true)));
    // Controller pods came back elsewhere; db-0 keeps its name.
    assert!(wait_until(Duration::from_secs(5), || server.with_state(
        |c| c
            .pod("apps", "db-0")
            .is_some_and(|p| p.spec.as_ref().unwrap().node_name.as_deref() != Some("w1"))
    )));
    let evicted: Vec<String> = server
        .evictions()
        .iter()
        .filter(|e| e.status == 201)
        .map(|e| e.name.clone())
        .collect();
    for p in ["web-0", "web-1", "db-0", "cache-0", "bare", "job-done"] {
        assert!(
            evicted.contains(&p.to_string()),
            "{p} evicted through the Eviction API"
        );
    }
    assert!(
        server.count("get", "daemonsets") >= 1,
        "kubectl checks the DaemonSet exists"
    );
    assert_eq!(server.pdb_violations(), 0);
}

#[test]
fn kubectl_drain_respects_a_pdb() {
    let mut c = drain_cluster();
    for (i, n) in ["w1", "w1", "w2"].iter().enumerate() {
        c.add_pod(
            builders::pod("apps", &format!("web-{i}"), n)
                .owner("ReplicaSet", "web-abc")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c.add_pdb(builders::pdb_min_available(
        "apps",
        "web",
        &[("app", "web")],
        int(2),
    ));
    let server = TestServer::start_with(
        c,
        Options {
            ready_delay: Duration::from_millis(500),
            ..Default::default()
        },
    );
    let t = Instant::now();
    let Some(o) = kubectl(
        &server,
        &[
            "drain",
            "w1",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=60s",
        ],
        Duration::from_secs(90),
    ) else {
        return;
    };
    assert!(o.ok, "drain failed: {}", o.stderr);
    assert!(o
        .stderr
        .contains("Cannot evict pod as it would violate the pod's disruption budget"));
    // The second eviction had to wait for a replacement to become Ready (kubectl retries after 5 s).
    assert!(t.elapsed() >= Duration::from_secs(5));
    let ev = server.evictions();
    assert!(ev.iter().any(|e| e.status == 429));
    assert_eq!(ev.iter().filter(|e| e.status == 201).count(), 2);
    assert_eq!(server.pdb_violations(), 0);
    assert!(wait_until(Duration::from_secs(5), || server.with_state(
        |c| {
            let s = c.pdb("apps", "web").unwrap().status.clone().unwrap();
            c.pods_on_node("w1").count() == 1
                && s.current_healthy == Some(3)
                && s.disruptions_allowed == Some(1)
        }
    )));
}

#[test]
fn kubectl_drain_times_out_when_the_budget_never_recovers() {
    let mut c = drain_cluster();
    for (i, n) in ["w1", "w2"].iter().enumerate() {
        c.add_pod(
            builders::pod("apps", &format!("web-{i}"), n)
                .owner("ReplicaSet", "web-abc")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c.add_pdb(builders::pdb_max_unavailable(
        "apps",
        "web",
        &[("app", "web")],
        int(0),
    ));
    let server = TestServer::start(c);
    let Some(o) = kubectl(
        &server,
        &[
            "drain",
            "w1",
            "--ignore-daemonsets",
            "--force",
            "--timeout=6s",
        ],
        Duration::from_secs(60),
    ) else {
        return;
    };
    assert!(!o.ok);
    assert!(o.stderr.contains("disruption budget"), "{}", o.stderr);
    assert!(server.with_state(|c| c.pod("apps", "web-0").is_some()));
    assert_eq!(server.pdb_violations(), 0);
    assert!(server.evictions().iter().all(|e| e.status == 429));
}
