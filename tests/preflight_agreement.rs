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
