//! Shared helpers of the drain CLI tests (`tests/drain_*.rs`): run the built binary against
//! the test API server and read the server's state back.
#![allow(dead_code)]

use assert_cmd::Command;
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::core::v1::Node;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{Cluster, TestServer};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// The progress annotation key (kept literal here: the test checks the contract).
pub const PROGRESS: &str = "kubectl-upgrade.io/drain-progress";

/// `kubectl-upgrade --kubeconfig <server> ARGS...`
pub fn cmd(server: &TestServer, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("kubectl-upgrade").expect("binary built");
    c.arg("--kubeconfig").arg(server.kubeconfig());
    c.args(args);
    c.env("NO_COLOR", "1");
    c.timeout(std::time::Duration::from_secs(120));
    c
}

/// Run and capture (no assertion on the exit code).
pub fn run(server: &TestServer, args: &[&str]) -> Run {
    let out = cmd(server, args).output().expect("ran");
    Run::from(out)
}

/// Start `kubectl-upgrade --kubeconfig <server> ARGS...` without waiting (stdout/stderr piped).
pub fn spawn(server: &TestServer, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("kubectl-upgrade"))
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawned")
}

/// Poll `f` every 20 ms until it holds; panic after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A finished run, decoded.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.all()))
    }
}

/// `n` ReplicaSet pods `{app}-{i}` labelled `app={app}` on `node`.
pub fn replicas(c: &mut Cluster, ns: &str, app: &str, n: usize, node: &str) {
    for i in 0..n {
        c.add_pod(
            builders::pod(ns, &format!("{app}-{i}"), node)
                .owner("ReplicaSet", &format!("{app}-rs"))
                .labels(&[("app", app)])
                .build(),
        );
    }
}

/// ReplicaSet pods `{app}-{i}` labelled `app={app}`, the i-th on `nodes[i]`.
pub fn spread(c: &mut Cluster, ns: &str, app: &str, nodes: &[&str]) {
    for (i, node) in nodes.iter().enumerate() {
        c.add_pod(
            builders::pod(ns, &format!("{app}-{i}"), node)
                .owner("ReplicaSet", &format!("{app}-rs"))
                .labels(&[("app", app)])
                .build(),
        );
    }
}

pub fn max_unavailable(c: &mut Cluster, ns: &str, app: &str, v: IntOrString) {
    c.add_pdb(builders::pdb_max_unavailable(ns, app, &[("app", app)], v));
}

pub fn min_available(c: &mut Cluster, ns: &str, app: &str, v: IntOrString) {
    c.add_pdb(builders::pdb_min_available(ns, app, &[("app", app)], v));
}

/// A cluster with two Ready workers `n1` (to drain) and `n2` (room for replacements).
pub fn two_nodes() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::node("n1", "v1.33.2"));
    c.add_node(builders::node("n2", "v1.33.2"));
    c
}

pub fn node(server: &TestServer, name: &str) -> Node {
    server
        .with_state(|c| c.node(name).cloned())
        .expect("node exists")
}

pub fn cordoned(server: &TestServer, name: &str) -> bool {
    node(server, name)
        .spec
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

/// The progress annotation, parsed.
pub fn progress(server: &TestServer, name: &str) -> Option<serde_json::Value> {
    let raw = node(server, name)
        .metadata
        .annotations?
        .get(PROGRESS)?
        .clone();
    serde_json::from_str(&raw).ok()
}

/// Names (`ns/name`) of the pods on a node.
pub fn pods_on(server: &TestServer, node: &str) -> Vec<String> {
    server.with_state(|c| {
        c.pods_on_node(node)
            .map(|p| {
                format!(
                    "{}/{}",
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default()
                )
            })
            .collect()
    })
}

pub fn uid(server: &TestServer, ns: &str, name: &str) -> String {
    server
        .with_state(|c| c.pod(ns, name).and_then(|p| p.metadata.uid.clone()))
        .expect("pod has a uid")
}

/// Mutating requests the server saw on the cluster's objects: patches, creates, deletes,
/// updates. The rollout lock's Lease is not counted (every run takes and releases it; the
/// lock tests check it on their own), nor access reviews (they ask, they change nothing).
pub fn mutations(server: &TestServer) -> u64 {
    server
        .counters()
        .iter()
        .filter(|((verb, res), _)| {
            matches!(verb.as_str(), "patch" | "create" | "delete" | "update")
                && res != "selfsubjectaccessreviews"
                && res != "leases"
        })
        .map(|(_, n)| *n)
        .sum()
}

/// Accepted (2xx) evictions per `ns/name`.
pub fn accepted_evictions(server: &TestServer) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for e in server.evictions() {
        if (200..300).contains(&e.status) && !e.dry_run {
            *m.entry(format!("{}/{}", e.namespace, e.name)).or_insert(0) += 1;
        }
    }
    m
}
