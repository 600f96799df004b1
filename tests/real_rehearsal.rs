//! A control-plane upgrade rehearsed on real servers (real control plane only: the test server
//! cannot run two API server releases on one etcd): a cluster at 1.36 on etcd, then a 1.37
//! kube-apiserver beside the 1.36 one on the same etcd (HA mid-upgrade), then both at 1.37;
//! at each moment `check`, `drain-next` and `status` are asked what they see. The static pods
//! of the control plane are shown through the API as mirror pods, as the kubelet of each
//! control-plane node would (the test plays that kubelet).

mod backend;

use backend::real;
use kube::api::{Api, DeleteParams, PostParams};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::core::v1::Pod;
use kube_testserver::Cluster;
use serde_json::Value;
use std::path::Path;

const OLD: &str = "v1.36.3";

fn new() -> String {
    backend::real_version()
}

fn run(kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(out: &(i32, String, String)) -> Value {
    serde_json::from_str(&out.1).unwrap_or_else(|e| panic!("{e}: {}\n{}", out.1, out.2))
}

/// The kubelet of `node` now runs kube-apiserver `version` as a static pod: its mirror pod
/// is replaced.
fn static_apiserver(plane: &real::Plane, node: &str, version: &str) {
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "kube-system");
    let name = format!("kube-apiserver-{node}");
    plane.block_on(async {
        let _ = pods
            .delete(
                &name,
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
            )
            .await;
        for _ in 0..50 {
            if pods.get_opt(&name).await.ok().flatten().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let nodes: Api<kube_testserver::k8s_openapi::api::core::v1::Node> =
            Api::all(plane.client.clone());
        let uid = nodes
            .get(node)
            .await
            .expect("node")
            .metadata
            .uid
            .unwrap_or_default();
        let mut p = builders::static_pod(
            "kube-apiserver",
            node,
            &format!("registry.k8s.io/kube-apiserver:{version}"),
        );
        p.status = None;
        if let Some(o) = p
            .metadata
            .owner_references
            .as_mut()
            .and_then(|o| o.first_mut())
        {
            o.uid = uid;
        }
        pods.create(&PostParams::default(), &p)
            .await
            .expect("mirror pod");
    });
}

fn finding(report: &Value, section: &str, needle: &str) -> bool {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["section"] == section && f["message"].as_str().unwrap_or("").contains(needle))
}

#[test]
fn a_control_plane_upgraded_from_1_36_to_1_37_on_one_etcd() {
    let plane = real::start(Some(OLD));
    assert_eq!(plane.version, OLD);
    // Two control-plane nodes (one apiserver each, later), two workers, all kubelets at 1.36.
    let mut c = Cluster::new();
    for cp in ["cp-1", "cp-2"] {
        c.add_node(builders::control_plane_node(cp, OLD));
        for comp in ["kube-controller-manager", "kube-scheduler"] {
            c.add_pod(builders::static_pod(
                comp,
                cp,
                &format!("registry.k8s.io/{comp}:{OLD}"),
            ));
        }
    }
    for w in ["w-1", "w-2"] {
        c.add_node(builders::node(w, OLD));
    }
    c.add_configmap(builders::kubeadm_config(OLD));
    plane.block_on(real::materialize(&plane.client, &c));
    static_apiserver(&plane, "cp-1", OLD);
    static_apiserver(&plane, "cp-2", OLD);
    let first = plane.kubeconfig.clone();

    // 1. Everything at 1.36: the path is one hop to 1.37, nothing out of skew.
    let r = run(&first, &["check", "--now", "2026-12-06", "-o", "json"]);
    let j = json(&r);
    assert_eq!(j["cluster"]["serverVersion"], OLD, "{}", r.2);
    assert_eq!(j["cluster"]["controlPlaneVersion"], OLD);
    assert_eq!(j["plan"]["from"], "1.36");
    assert_eq!(j["plan"]["to"], "1.37");
    assert_eq!(j["summary"]["violation"], 0, "{}", r.1);

    // 2. HA mid-upgrade: a 1.37 kube-apiserver beside the 1.36 one, on the same etcd; the
    // kubelet of cp-2 runs the new static pod.
    let second = std::path::PathBuf::from(plane.script(&[
        "apiserver",
        plane.dir.to_str().expect("utf8"),
        "--version",
        &new(),
        "--name",
        "kube-apiserver-2",
    ]));
    static_apiserver(&plane, "cp-2", &new());
    // Asked through the new instance (what a load balancer may answer): /version says 1.37,
    // but the oldest instance is the reference.
    let r = run(&second, &["check", "--now", "2026-12-06", "-o", "json"]);
    let j = json(&r);
    assert_eq!(j["cluster"]["serverVersion"], new());
    assert_eq!(
        j["cluster"]["controlPlaneVersion"], OLD,
        "the oldest apiserver: {}",
        r.1
    );
    assert!(finding(&j, "skew", "mid-upgrade"), "{}", r.1);
    assert!(
        j["plan"]["notes"].to_string().contains("mid-upgrade"),
        "{}",
        j["plan"]
    );
    // drain-next compares with the oldest apiserver: a 1.37 kubelet target is refused now.
    let r = run(&second, &["drain-next", "--to", &new(), "--dry-run"]);
    assert_eq!(r.0, 64, "{}\n{}", r.1, r.2);
    assert!(
        r.2.contains(&format!("newer than kube-apiserver {OLD}")),
        "{}",
        r.2
    );
    // Its default target is the oldest apiserver's version: nothing to do for the kubelets.
    let r = run(&second, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.0, 0, "{}", r.2);
    assert_eq!(json(&r)["target"], OLD);
    let r = run(&second, &["status", "-o", "json"]);
    assert_eq!(json(&r)["target"], OLD);
    assert_eq!(json(&r)["done"], true);

    // 3. Both at 1.37: the 1.36 instance stopped, a 1.37 one started on its port (the
    // controllers and kwok reconnect), cp-1's kubelet runs the new static pod.
    let port = std::fs::read_to_string(&first)
        .expect("kubeconfig")
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("server: https://127.0.0.1:")
                .map(str::to_string)
        })
        .expect("port");
    plane.script(&["stop", plane.dir.to_str().expect("utf8"), "kube-apiserver"]);
    plane.script(&[
        "apiserver",
        plane.dir.to_str().expect("utf8"),
        "--version",
        &new(),
        "--name",
        "kube-apiserver",
        "--port",
        &port,
    ]);
    static_apiserver(&plane, "cp-1", &new());
    let r = run(&first, &["check", "--now", "2026-12-06", "-o", "json"]);
    let j = json(&r);
    assert_eq!(j["cluster"]["controlPlaneVersion"], new(), "{}", r.1);
    assert!(!finding(&j, "skew", "mid-upgrade"), "{}", r.1);
    // The kubelets are one minor behind: allowed; their hop is next.
    assert_eq!(j["summary"]["violation"], 0, "{}", r.1);
    let r = run(&first, &["drain-next", "--dry-run", "-o", "json"]);
    assert_eq!(r.0, 0, "{}", r.2);
    let j = json(&r);
    assert_eq!(j["target"], new());
    assert_eq!(
        j["nodes"],
        serde_json::json!(["cp-1"]),
        "control-plane nodes first: {}",
        r.1
    );
    let r = run(&first, &["status", "-o", "json"]);
    let j = json(&r);
    assert_eq!(j["done"], false);
    assert_eq!(j["next"]["node"], "cp-1");
    // A real drain of cp-1 through the new instance, one at a time.
    let r = run(&first, &["drain-next", "--timeout", "60s"]);
    assert_eq!(r.0, 0, "{}\n{}", r.1, r.2);
    let r = run(&second, &["drain-next", "--dry-run"]);
    assert_eq!(r.0, 4, "cp-1 in progress: {}\n{}", r.1, r.2);
}
