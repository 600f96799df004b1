//! `check`'s drain preview and `drain` run the same preflight: for every pod x PDB shape the
//! Eviction API treats differently, the preview says "blocked" exactly when `drain` stops
//! before touching the node. Expected verdicts come from the Eviction API's rules
//! (kube-apiserver `pkg/registry/core/pod/storage/eviction.go`), not from our output.

mod drain_support;

use drain_support::*;
use kube_testserver::builders;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{Cluster, TestServer};

/// One shape on node n1; `blocked` is what the Eviction API's rules say.
struct Shape {
    what: &'static str,
    blocked: bool,
    build: fn(&mut Cluster),
}

fn rs_pod(ns: &str, name: &str, node: &str, app: &str) -> builders::PodBuilder {
    builders::pod(ns, name, node)
        .owner("ReplicaSet", &format!("{app}-rs"))
        .labels(&[("app", app)])
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            what: "single ready replica under minAvailable 1: can never be evicted",
            blocked: true,
            build: |c| {
                c.add_pod(rs_pod("app", "db-0", "n1", "db").build());
                min_available(c, "app", "db", IntOrString::Int(1));
            },
        },
        Shape {
            what: "Pending pod under minAvailable 1: admitted without a budget check",
            blocked: false,
            build: |c| {
                c.add_pod(rs_pod("app", "db-0", "n1", "db").phase("Pending").build());
                min_available(c, "app", "db", IntOrString::Int(1));
            },
        },
        Shape {
            what: "not-ready pod while the budget is met: admitted as unhealthy",
            blocked: false,
            build: |c| {
                c.add_pod(rs_pod("app", "web-0", "n1", "web").not_ready().build());
                c.add_pod(rs_pod("app", "web-1", "n2", "web").build());
                min_available(c, "app", "web", IntOrString::Int(1));
            },
        },
        Shape {
            what: "pod under two PDBs: the Eviction API answers 500",
            blocked: true,
            build: |c| {
                c.add_pod(rs_pod("app", "api-n1", "n1", "api").build());
                replicas(c, "app", "api", 3, "n2");
                max_unavailable(c, "app", "api", IntOrString::Int(1));
                c.add_pdb(builders::pdb_max_unavailable(
                    "app",
                    "api-again",
                    &[("app", "api")],
                    IntOrString::Int(1),
                ));
            },
        },
        Shape {
            what: "finished DaemonSet pod: removed like kubectl does",
            blocked: false,
            build: |c| {
                c.add_pod(
                    builders::pod("kube-system", "agent-x", "n1")
                        .owner("DaemonSet", "agent")
                        .phase("Succeeded")
                        .build(),
                );
            },
        },
    ]
}

#[test]
fn check_preview_and_drain_agree_on_every_shape() {
    for shape in shapes() {
        let mut c = two_nodes();
        (shape.build)(&mut c);
        let server = TestServer::start(c);

        let r = run(&server, &["check", "-o", "json"]);
        let report = r.json();
        let previewed = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| {
                f["section"] == "drain" && f["subject"] == "node n1" && f["severity"] == "violation"
            });
        assert_eq!(
            previewed,
            shape.blocked,
            "check preview: {}\n{}",
            shape.what,
            r.all()
        );

        let r = run(&server, &["drain", "n1", "--timeout", "30s", "-o", "json"]);
        let outcome = r.json()["outcome"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            outcome == "blocked",
            shape.blocked,
            "drain: {} (outcome {outcome})\n{}",
            shape.what,
            r.all()
        );
        if !shape.blocked {
            assert_eq!(r.code, 0, "{}: {}", shape.what, r.all());
            assert_eq!(server.pdb_violations(), 0, "{}", shape.what);
        }
    }
}

/// The pod states the Eviction API tells apart.
#[derive(Clone, Copy, Debug)]
enum PodState {
    Ready,
    NotReady,
    Pending,
    Succeeded,
    Failed,
}

/// The budgets over that pod (`app=x`, alone on n1 unless a peer is named).
#[derive(Clone, Copy, Debug)]
enum Budget {
    None,
    /// minAvailable 1 over this one pod.
    MinOneAlone,
    /// The same with `unhealthyPodEvictionPolicy: AlwaysAllow`.
    MinOneAloneAlwaysAllow,
    /// minAvailable 1 over this pod and a ready peer on n2.
    MinOneWithPeer,
    /// maxUnavailable 0 over this one pod.
    MaxZeroAlone,
    /// Two PDBs that each would allow the eviction (a ready peer on n2).
    TwoPdbs,
}

/// What the Eviction API does (kube-apiserver `pkg/registry/core/pod/storage/eviction.go`):
/// Pending, Succeeded and Failed pods are deleted without a budget check; a pod under two
/// PDBs gets 500; an unready pod goes with `AlwaysAllow`, or with the default policy while
/// the budget is met; otherwise the budget must allow a disruption. "Blocked" is when it can
/// never be evicted, which both the preview and the drain's preflight must say.
fn never_evictable(pod: PodState, budget: Budget) -> bool {
    if matches!(
        pod,
        PodState::Pending | PodState::Succeeded | PodState::Failed
    ) {
        return false;
    }
    let ready = matches!(pod, PodState::Ready);
    match budget {
        Budget::None | Budget::MinOneWithPeer => false,
        Budget::TwoPdbs => true,
        // 1 of 1 required: a ready pod never; an unready one only when the budget is met,
        // which it never is (currentHealthy 0 < desiredHealthy 1).
        Budget::MinOneAlone | Budget::MaxZeroAlone => true,
        Budget::MinOneAloneAlwaysAllow => ready,
    }
}

fn build(c: &mut Cluster, pod: PodState, budget: Budget) {
    let mut p = rs_pod("app", "x-0", "n1", "x");
    p = match pod {
        PodState::Ready => p,
        PodState::NotReady => p.not_ready(),
        PodState::Pending => p.phase("Pending"),
        PodState::Succeeded => p.phase("Succeeded"),
        PodState::Failed => p.phase("Failed"),
    };
    c.add_pod(p.build());
    if matches!(budget, Budget::MinOneWithPeer | Budget::TwoPdbs) {
        c.add_pod(rs_pod("app", "x-1", "n2", "x").build());
    }
    match budget {
        Budget::None => {}
        Budget::MinOneAlone | Budget::MinOneWithPeer => {
            min_available(c, "app", "x", IntOrString::Int(1))
        }
        Budget::MinOneAloneAlwaysAllow => {
            let mut pdb =
                builders::pdb_min_available("app", "x", &[("app", "x")], IntOrString::Int(1));
            if let Some(spec) = pdb.spec.as_mut() {
                spec.unhealthy_pod_eviction_policy = Some("AlwaysAllow".into());
            }
            c.add_pdb(pdb);
        }
        Budget::MaxZeroAlone => max_unavailable(c, "app", "x", IntOrString::Int(0)),
        Budget::TwoPdbs => {
            max_unavailable(c, "app", "x", IntOrString::Int(1));
            c.add_pdb(builders::pdb_max_unavailable(
                "app",
                "x-again",
                &[("app", "x")],
                IntOrString::Int(1),
            ));
        }
    }
}

/// Every pod state x every budget shape, generated: the preview and the drain agree with each
/// other and with the Eviction API's rules, pod by pod.
#[test]
fn every_pod_state_under_every_budget_agrees() {
    use Budget::*;
    use PodState::*;
    for pod in [Ready, NotReady, Pending, Succeeded, Failed] {
        for budget in [
            None,
            MinOneAlone,
            MinOneAloneAlwaysAllow,
            MinOneWithPeer,
            MaxZeroAlone,
            TwoPdbs,
        ] {
            let what = format!("{pod:?} pod under {budget:?}");
            let blocked = never_evictable(pod, budget);
            let mut c = two_nodes();
            build(&mut c, pod, budget);
            let server = TestServer::start(c);
            let r = run(&server, &["check", "-o", "json"]);
            let previewed = r.json()["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| {
                    f["section"] == "drain"
                        && f["subject"] == "node n1"
                        && f["severity"] == "violation"
                });
            assert_eq!(previewed, blocked, "check preview: {what}\n{}", r.all());
            let r = run(&server, &["drain", "n1", "--timeout", "20s", "-o", "json"]);
            let outcome = r.json()["outcome"].as_str().unwrap_or_default().to_string();
            assert_eq!(
                outcome == "blocked",
                blocked,
                "drain: {what} (outcome {outcome})\n{}",
                r.all()
            );
            if !blocked {
                assert_eq!(r.code, 0, "{what}: {}", r.all());
                assert!(
                    !pods_on(&server, "n1").iter().any(|p| p == "app/x-0"),
                    "{what}: the pod went"
                );
                assert_eq!(server.pdb_violations(), 0, "{what}");
            }
        }
    }
}
