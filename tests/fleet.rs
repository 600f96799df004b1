//! `check` across contexts: several test servers at once (one down, one forbidden, one
//! slower than the limit), the summary's order and exit code, the fleet JSON schema, and two
//! contexts that share a server and a cluster name but not credentials.

use assert_cmd::Command;
use kube_testserver::{builders, Cluster, KubeUser, KubeconfigSpec, TestServer};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn cluster(version: &str) -> Cluster {
    let mut c = Cluster::new();
    c.add_configmap(builders::kubeadm_config(version));
    c.add_node(builders::control_plane_node("cp-1", version));
    c.add_node(builders::node("w-1", version));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp-1",
        &format!("registry.k8s.io/kube-apiserver:{version}"),
    ));
    c
}

fn server(version: &str) -> TestServer {
    TestServer::start_with(
        cluster(version),
        kube_testserver::Options {
            git_version: version.into(),
            ..Default::default()
        },
    )
}

struct Fleet {
    _servers: Vec<TestServer>,
    files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

/// ok-new (1.37, supported), eol-old (1.29, end of life), down (nothing listens), slow (5 s
/// per request), and two contexts on one server named `shared`: admin and a user whose RBAC
/// allows nothing but /version.
fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        files.push(p);
    };
    let new = server("v1.37.1");
    write(
        "new",
        new.kubeconfig_text(&KubeconfigSpec {
            context: "ok-new".into(),
            ..new.spec()
        }),
    );
    let old = server("v1.29.15");
    write(
        "old",
        old.kubeconfig_text(&KubeconfigSpec {
            context: "eol-old".into(),
            ..old.spec()
        }),
    );
    let slow = server("v1.37.1");
    slow.set_latency(Duration::from_secs(5));
    write(
        "slow",
        slow.kubeconfig_text(&KubeconfigSpec {
            context: "slow".into(),
            ..slow.spec()
        }),
    );
    let shared = server("v1.37.1");
    shared.add_token("limited-token", "limited");
    shared.rbac_for_user("limited", vec![("get".into(), "/version".into())]);
    write(
        "shared-admin",
        shared.kubeconfig_text(&KubeconfigSpec {
            context: "shared-admin".into(),
            cluster_name: Some("shared".into()),
            user_name: Some("admin".into()),
            ..shared.spec()
        }),
    );
    write(
        "shared-limited",
        shared.kubeconfig_text(&KubeconfigSpec {
            context: "shared-limited".into(),
            cluster_name: Some("shared".into()),
            user_name: Some("limited".into()),
            user: KubeUser::Token("limited-token".into()),
            ..shared.spec()
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    write(
        "down",
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: down\n  context:\n    cluster: down\n    user: down\nusers:\n- name: down\n  user:\n    token: t\n"),
    );
    Fleet {
        _servers: vec![new, old, slow, shared],
        files,
        _dir: dir,
    }
}

fn run(f: &Fleet, args: &[&str]) -> (i32, String, String, Duration) {
    let joined = std::env::join_paths(&f.files).unwrap();
    let t = Instant::now();
    let out = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .args(args)
        .args([
            "--now",
            "2026-12-03",
            "--context-timeout",
            "2s",
            "--request-timeout",
            "10s",
        ])
        .env("KUBECONFIG", joined)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn every_context_at_once_worst_first() {
    let f = fleet();
    let (code, out, err, took) = run(&f, &["check", "--all-contexts", "-o", "json"]);
    assert_eq!(code, 3, "the worst of all: {err}");
    // Concurrent: the slow cluster's limit bounds the run, not the sum of the clusters.
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["schema"], "kubectl-upgrade.io/fleet/v1");
    let ctx: Vec<(&str, i64)> = r["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["context"].as_str().unwrap(),
                c["exitCode"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ctx.len(), 6, "{ctx:?}");
    // Errors first (by name), then violations...
    let errors: Vec<&str> = ctx
        .iter()
        .filter(|(_, c)| *c == 3)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(errors, ["down", "shared-limited", "slow"]);
    assert_eq!(&ctx[..3].iter().map(|c| c.0).collect::<Vec<_>>(), &errors);
    let by = |name: &str| {
        r["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["context"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by("eol-old")["exitCode"], 2, "1.29 is past end of life");
    assert_eq!(
        by("eol-old")["report"]["schema"],
        "kubectl-upgrade.io/check/v1"
    );
    assert!(by("slow")["error"]
        .as_str()
        .unwrap()
        .contains("--context-timeout"));
    assert!(by("down")["error"]
        .as_str()
        .unwrap()
        .contains("cannot reach"));
    assert!(by("down")["report"].is_null());
    // Same server, same cluster name, different credentials: different answers.
    assert!(by("shared-admin")["report"].is_object());
    assert_eq!(by("shared-admin")["server"], by("shared-limited")["server"]);
    let limited = by("shared-limited")["error"].as_str().unwrap().to_string();
    assert!(limited.contains("forbidden"), "{limited}");
    assert_eq!(r["summary"]["contexts"], 6);
    assert_eq!(r["summary"]["errors"], 3);
    // Progress went to stderr while clusters answered.
    assert!(err.contains("pending:"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with('[')).count(),
        6,
        "{err}"
    );
}

#[test]
fn chosen_contexts_and_the_table() {
    let f = fleet();
    let (code, out, _, _) = run(
        &f,
        &["check", "--context", "ok-new", "--context", "eol-old"],
    );
    assert_eq!(code, 2);
    let lines: Vec<&str> = out.lines().collect();
    let first_row = lines.iter().position(|l| l.contains("eol-old")).unwrap();
    let second = lines.iter().position(|l| l.contains("ok-new")).unwrap();
    assert!(first_row < second, "worst first:\n{out}");
    assert!(out.contains("EOL since 2025-02-28"), "{out}");
    assert!(out.contains("1.29 -> 1.30"), "{out}");
    assert!(out.contains("2 context(s)"), "{out}");
    // A glob, with details.
    let (code, out, _, _) = run(
        &f,
        &["check", "--contexts-matching", "shared-*", "--details"],
    );
    assert_eq!(code, 3);
    assert!(out.contains("context shared-admin"), "{out}");
    assert!(
        out.contains("== Cluster =="),
        "the full report follows: {out}"
    );
    // Typos are usage errors, before any cluster is contacted.
    let (code, _, err, _) = run(&f, &["check", "--context", "ok-new", "--context", "nope"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("no context named 'nope'"), "{err}");
    let (code, _, err, _) = run(&f, &["check", "--contexts-matching", "zzz*"]);
    assert_eq!(code, 64, "{err}");
    // Other commands take one context.
    let (code, _, err, _) = run(&f, &["cordon", "w-1", "--context", "a", "--context", "b"]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn fleet_snapshots_for_air_gapped_review() {
    let f = fleet();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("fleet");
    let joined = std::env::join_paths(&f.files).unwrap();
    let out = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .args([
            "snapshot",
            "--all-contexts",
            "--context-timeout",
            "2s",
            "--output-directory",
        ])
        .arg(&out_dir)
        .env("KUBECONFIG", &joined)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "some contexts failed: {err}");
    assert!(
        err.contains("3 snapshot(s)") && err.contains("3 failed"),
        "{err}"
    );
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("fleet.json")).unwrap())
            .unwrap();
    assert_eq!(index["schema"], "kubectl-upgrade.io/fleet-snapshot/v1");
    assert!(out_dir.join("ok-new.json").is_file());
    assert!(!out_dir.join("down.json").exists());
    // Offline review: same verdicts as live for the clusters that answered.
    let review = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .args(["check", "--now", "2026-12-03", "-o", "json", "--snapshot"])
        .arg(&out_dir)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(review.status.code(), Some(3));
    let r: Value = serde_json::from_slice(&review.stdout).unwrap();
    assert_eq!(r["schema"], "kubectl-upgrade.io/fleet/v1");
    let (_, live, _, _) = run(&f, &["check", "--all-contexts", "-o", "json"]);
    let live: Value = serde_json::from_str(&live).unwrap();
    let codes = |v: &Value| {
        let mut c: Vec<(String, i64)> = v["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["context"].as_str().unwrap().to_string(),
                    c["exitCode"].as_i64().unwrap(),
                )
            })
            .collect();
        c.sort();
        c
    };
    assert_eq!(codes(&r), codes(&live));
    let down = r["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["context"] == "down")
        .unwrap();
    assert!(down["error"]
        .as_str()
        .unwrap()
        .starts_with("not snapshotted"));
}
