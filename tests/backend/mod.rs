//! Two backends, one scenario: a live test builds its cluster once (a `kube_testserver`
//! `Cluster`) and runs on kube-testserver (fast, injects faults) or on the real control plane
//! (kube-apiserver, controller-manager, scheduler, etcd and kwok from Go modules: the truth)
//! with the same commands and the same assertions. [`both!`] writes the two `#[test]`s.
//! What only the simulation can do (503s on demand, a frozen watch) stays in test-server-only
//! tests, which say so.
#![allow(dead_code)]

pub mod real;

use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_testserver::k8s_openapi::api::core::v1::{Node, Pod};
use kube_testserver::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube_testserver::{Cluster, KubeletUpgrade, Options, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Which API server a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    TestServer,
    Real,
}

/// Writes `$name` as two tests: `on_test_server` and `on_real_control_plane`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn on_test_server() {
                super::$name($crate::backend::Backend::TestServer);
            }
            #[test]
            fn on_real_control_plane() {
                super::$name($crate::backend::Backend::Real);
            }
        }
    };
}

/// What a scenario asks of the cluster beyond its objects.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// The in-place upgrade a rollout waits for (drained node NotReady, back at `to`).
    pub kubelet_upgrade: Option<(String, Duration)>,
    /// The simulation's replacement readiness delay (kwok makes pods Ready at once).
    pub ready_delay: Option<Duration>,
}

/// A running cluster of either backend.
pub struct Live {
    pub backend: Backend,
    sim: Option<TestServer>,
    real: Option<real::Session>,
}

impl Live {
    pub fn start(backend: Backend, cluster: Cluster) -> Live {
        Live::start_with(backend, cluster, Setup::default())
    }

    pub fn start_with(backend: Backend, cluster: Cluster, setup: Setup) -> Live {
        match backend {
            Backend::TestServer => {
                let mut opts = Options::default();
                if let Some((to, downtime)) = &setup.kubelet_upgrade {
                    opts.kubelet_upgrade = Some(KubeletUpgrade {
                        to: to.clone(),
                        downtime: *downtime,
                    });
                }
                if let Some(d) = setup.ready_delay {
                    opts.ready_delay = d;
                }
                // The real server answers /version with its own release: so does the test
                // server's, when a scenario compares with it.
                opts.git_version = real_version();
                Live {
                    backend,
                    sim: Some(TestServer::start_with(cluster, opts)),
                    real: None,
                }
            }
            Backend::Real => Live {
                backend,
                sim: None,
                real: Some(real::Session::begin(&cluster, setup.kubelet_upgrade)),
            },
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        match (&self.sim, &self.real) {
            (Some(s), _) => s.kubeconfig(),
            (_, Some(r)) => &r.plane.kubeconfig,
            _ => unreachable!("a backend"),
        }
    }

    /// The test server, for what only the simulation does (faults).
    pub fn sim(&self) -> Option<&TestServer> {
        self.sim.as_ref()
    }

    pub fn real(&self) -> Option<&real::Session> {
        self.real.as_ref()
    }

    fn cmd(&self, kubeconfig: &Path, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"));
        c.arg("--kubeconfig").arg(kubeconfig).args(args);
        c.env("NO_COLOR", "1").env_remove("KUBECONFIG");
        c
    }

    /// `kubectl-upgrade --kubeconfig <this cluster> ARGS`, waited for (2 minutes at most).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_as(self.kubeconfig(), args)
    }

    /// The same with another kubeconfig (an RBAC user).
    pub fn run_as(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let child = self
            .cmd(kubeconfig, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        wait_output(child, Duration::from_secs(120))
    }

    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd(self.kubeconfig(), args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawned")
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.real {
            Some(r) => r.plane.block_on(f),
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f),
        }
    }

    /// Remove the ValidatingWebhookConfiguration `name` (as an operator fixing it would).
    pub fn remove_validating_webhook(&self, name: &str) {
        use kube_testserver::k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
        match &self.sim {
            Some(s) => {
                let gone = s.with_state(|c| {
                    c.remove_object(
                        "admissionregistration.k8s.io/v1",
                        "validatingwebhookconfigurations",
                        "",
                        name,
                    )
                });
                assert!(gone, "webhook configuration {name}");
            }
            None => {
                let api: Api<ValidatingWebhookConfiguration> = Api::all(self.client());
                self.block_on(api.delete(name, &Default::default()))
                    .expect("webhook configuration deleted");
            }
        }
    }

    /// A kube client of this cluster (admin).
    fn client(&self) -> kube::Client {
        match &self.real {
            Some(r) => r.plane.client.clone(),
            None => unreachable!("the simulation is read through with_state"),
        }
    }

    pub fn node(&self, name: &str) -> Option<Node> {
        match &self.sim {
            Some(s) => s.with_state(|c| c.node(name).cloned()),
            None => self
                .block_on(Api::<Node>::all(self.client()).get_opt(name))
                .expect("get node"),
        }
    }

    pub fn cordoned(&self, name: &str) -> bool {
        self.node(name)
            .and_then(|n| n.spec?.unschedulable)
            .unwrap_or(false)
    }

    /// The progress annotation, parsed.
    pub fn progress(&self, name: &str) -> Option<serde_json::Value> {
        let raw = self
            .node(name)?
            .metadata
            .annotations?
            .get("kubectl-upgrade.io/drain-progress")?
            .clone();
        serde_json::from_str(&raw).ok()
    }

    /// Pods on `node` (`ns/name`), terminating ones included, sorted.
    pub fn pods_on(&self, node: &str) -> Vec<String> {
        let mut out: Vec<String> = match &self.sim {
            Some(s) => s.with_state(|c| c.pods_on_node(node).map(key).collect()),
            None => self
                .block_on(
                    Api::<Pod>::all(self.client())
                        .list(&ListParams::default().fields(&format!("spec.nodeName={node}"))),
                )
                .expect("list pods")
                .items
                .iter()
                .map(key)
                .collect(),
        };
        out.sort();
        out
    }

    /// Every pod (`ns/name` -> node, empty when not scheduled).
    pub fn pods(&self) -> Vec<Pod> {
        match &self.sim {
            Some(s) => s.with_state(|c| c.pods().cloned().collect()),
            None => {
                self.block_on(Api::<Pod>::all(self.client()).list(&ListParams::default()))
                    .expect("list pods")
                    .items
            }
        }
    }

    pub fn pdb(&self, ns: &str, name: &str) -> Option<PodDisruptionBudget> {
        match &self.sim {
            Some(s) => s.with_state(|c| c.pdb(ns, name).cloned()),
            None => self
                .block_on(Api::<PodDisruptionBudget>::namespaced(self.client(), ns).get_opt(name))
                .expect("get pdb"),
        }
    }

    /// PDB violations: the simulation's count, or the budgets seen below their desired
    /// healthy count on the real server.
    pub fn pdb_violations(&self) -> u64 {
        match (&self.sim, &self.real) {
            (Some(s), _) => s.pdb_violations(),
            (_, Some(r)) => r.violations.load(std::sync::atomic::Ordering::SeqCst),
            _ => 0,
        }
    }

    /// Change a node's kubelet version (an upgrade done by hand).
    pub fn set_kubelet(&self, node: &str, version: &str) {
        match &self.sim {
            Some(s) => s.with_state(|c| c.set_node_kubelet_version(node, version)),
            None => {
                let body = serde_json::json!({"status": {"nodeInfo": {"kubeletVersion": version}}});
                self.block_on(Api::<Node>::all(self.client()).patch_status(
                    node,
                    &PatchParams::default(),
                    &Patch::Merge(&body),
                ))
                .expect("patch node status");
            }
        }
    }

    /// Wait until `f` holds (20 ms polls), panicking after `limit`.
    pub fn wait_until(&self, what: &str, limit: Duration, mut f: impl FnMut(&Live) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(
                t.elapsed() < limit,
                "timed out waiting for {what} ({:?})",
                self.backend
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Four ReplicaSet pods `shop/db-0..3` on `node`, the first two not Ready, and the budget
/// `shop/db` (`minAvailable: 3`) they hold below its desired count: returned, not added, so
/// a scenario can change it first.
pub fn db_held_at_zero(c: &mut Cluster, node: &str) -> PodDisruptionBudget {
    use kube_testserver::builders;
    for i in 0..4 {
        let mut b = builders::pod("shop", &format!("db-{i}"), node)
            .owner("ReplicaSet", "db-rs")
            .labels(&[("app", "db")]);
        if i < 2 {
            b = b.not_ready();
        }
        c.add_pod(b.build());
    }
    builders::pdb_min_available(
        "shop",
        "db",
        &[("app", "db")],
        kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(3),
    )
}

/// The real control plane's release (what its /version answers).
pub fn real_version() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/real-control-plane/versions.env");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("KUBERNETES="))
        .unwrap_or("v1.37.2")
        .trim()
        .to_string()
}

fn key(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default()
    )
}

/// A finished run, decoded.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
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

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Wait for a child with a limit (killed after it, which fails the test with its output).
pub fn wait_output(mut child: std::process::Child, limit: Duration) -> Run {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Run::from(child.wait_with_output().expect("output")),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let out = Run::from(child.wait_with_output().expect("output"));
                panic!("no exit within {limit:?}: {}", out.all());
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
