//! Snapshots are shared in tickets: a cluster with a secret planted in every field a cluster
//! can hold one (node annotations and labels, addresses, machine/system/boot ids, images,
//! providerID, pod env/args/annotations/images, kubeadm's ClusterConfiguration, kube-proxy's
//! configuration, PDB annotations, other ConfigMaps) gives a snapshot holding none of them,
//! from which `check` still gives the same report as live.

use assert_cmd::Command;
use kube_testserver::k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube_testserver::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube_testserver::{builders, Cluster, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "PLANTED-SECRET";

fn planted(n: u32) -> String {
    format!("{SECRET}-{n}")
}

fn cluster() -> Cluster {
    let mut c = Cluster::new();
    let node = |name: &str, role: Option<&str>, kubelet: &str, n: u32| -> Node {
        let mut labels = json!({
            "kubernetes.io/hostname": planted(n),
            "team.example.com/cost-center": planted(n + 1),
            "topology.kubernetes.io/zone": "eu-west-1a",
        });
        if let Some(r) = role {
            labels[format!("node-role.kubernetes.io/{r}")] = json!("");
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": labels,
                "annotations": {
                    "k3s.io/node-args": format!("[\"server\",\"--token\",\"{}\"]", planted(n + 2)),
                    "kubectl.kubernetes.io/last-applied-configuration": format!("{{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{{\"annotations\":{{\"x\":\"{}\"}}}}}}", planted(n + 3)),
                    "example.com/api-key": planted(n + 4),
                    "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                }},
            "spec": {"providerID": format!("aws:///eu-west-1a/{}", planted(n + 5)),
                     "podCIDR": "10.244.7.0/24"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.99.88.77"},
                              {"type": "Hostname", "address": planted(n + 6)}],
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": planted(n + 7)},
                               {"type": "MemoryPressure", "status": "False", "message": planted(n + 8)}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "images": [{"names": [format!("registry.example.com/{}:1", planted(n + 9))], "sizeBytes": 1}],
                "nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": "", "containerRuntimeVersion": "containerd://1.7.27",
                    "osImage": "Ubuntu 24.04 LTS", "kernelVersion": "6.8.0", "architecture": "amd64", "operatingSystem": "linux",
                    "machineID": planted(n + 10), "systemUUID": planted(n + 11), "bootID": planted(n + 12)},
            }
        }))
        .expect("node")
    };
    c.add_node(node("cp-1", Some("control-plane"), "v1.33.2", 100));
    c.add_node(node("w-1", None, "v1.32.5", 200));
    for comp in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let mut p = builders::static_pod(comp, "cp-1", &format!("registry.k8s.io/{comp}:v1.33.2"));
        if let Some(cont) = p.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            cont.command = Some(vec![
                comp.into(),
                format!("--oidc-client-secret={}", planted(300)),
            ]);
        }
        c.add_pod(p);
    }
    let mut app: Pod = builders::pod("shop", "web-1", "w-1")
        .owner("ReplicaSet", "web-rs")
        .labels(&[("app", "web")])
        .annotation("vault.example.com/token", &planted(400))
        .image(&format!("registry.example.com/{}:2", planted(401)))
        .build();
    if let Some(cont) = app.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        cont.env = Some(vec![serde_json::from_value(
            json!({"name": "DB_PASSWORD", "value": planted(402)}),
        )
        .expect("env")]);
        cont.args = Some(vec![format!("--api-key={}", planted(403))]);
    }
    c.add_pod(app);
    let mut pdb: PodDisruptionBudget = builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0),
    );
    pdb.metadata.annotations = Some([("example.com/owner-email".to_string(), planted(500))].into());
    c.add_pdb(pdb);
    let mut kubeadm = builders::kubeadm_config("v1.33.2");
    if let Some(d) = kubeadm.data.as_mut() {
        let cc = d
            .get("ClusterConfiguration")
            .cloned()
            .unwrap_or_default()
            .replace(
                "apiServer: {}",
                &format!(
                    "apiServer:\n  extraArgs:\n  - name: oidc-client-secret\n    value: {}",
                    planted(600)
                ),
            )
            + &format!("controlPlaneEndpoint: {}:6443\n", planted(601));
        d.insert("ClusterConfiguration".into(), cc);
    }
    c.add_configmap(kubeadm);
    c.add_configmap(
        serde_json::from_value::<ConfigMap>(json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": format!("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nclientConnection:\n  kubeconfig: /var/lib/{}/kubeconfig.conf\n", planted(700)),
                     "kubeconfig.conf": format!("token: {}", planted(701))}
        }))
        .expect("cm"),
    );
    c.add_configmap(
        serde_json::from_value::<ConfigMap>(json!({
            "metadata": {"name": "app-settings", "namespace": "shop"},
            "data": {"password": planted(800)}
        }))
        .expect("cm"),
    );
    // Webhooks that fail closed on evictions: one at a URL with credentials in it, one
    // whose Service has no ready endpoint (its pod is not Ready), with a CA bundle and
    // annotations; the slice holds the pod's address.
    let hook = |name: &str, client: Value| {
        json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
               "clientConfig": client,
               "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods/eviction"]}]})
    };
    c.add_object(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        json!({
            "metadata": {"name": "policy", "annotations": {"example.com/contact": planted(900)}},
            "webhooks": [
                hook("remote.example.com", json!({"url": format!("https://admin:{}@hooks.example.com/check", planted(901))})),
                hook("local.example.com", json!({"service": {"namespace": "shop", "name": "policy"},
                     "caBundle": "UExBTlRFRC1TRUNSRVQtOTAy"})),
            ],
        }),
    );
    c.add_object(
        "v1",
        "services",
        json!({"metadata": {"name": "policy", "namespace": "shop"}, "spec": {"selector": {"app": "policy"}}}),
    );
    c.add_pod(
        builders::pod("shop", "policy-0", "w-1")
            .owner("ReplicaSet", "policy-rs")
            .labels(&[("app", "policy")])
            .not_ready()
            .build(),
    );
    c
}

fn run(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("kubectl-upgrade")
        .expect("binary")
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(args)
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report without what differs between live and offline by design.
fn comparable(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).expect("json");
    v["source"] = Value::Null;
    v["cluster"]["notes"] = Value::Null;
    for key in ["components", "findings"] {
        let kept: Vec<Value> = v[key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| {
                !c["component"].as_str().unwrap_or("").starts_with("kubectl")
                    && !c["subject"].as_str().unwrap_or("").starts_with("kubectl")
            })
            .collect();
        v[key] = Value::Array(kept);
    }
    v
}

#[test]
fn a_snapshot_keeps_what_check_reads_and_no_secret() {
    let server = TestServer::start(cluster());
    let (code, snap, err) = run(&server, &["snapshot"]);
    assert_eq!(code, 0, "{err}");
    // The live cluster holds every planted value (the test would prove nothing otherwise).
    let live_nodes =
        server.with_state(|c| serde_json::to_string(&c.node("w-1").cloned()).unwrap_or_default());
    assert!(live_nodes.contains(&planted(210)), "planted in the cluster");
    let found: Vec<&str> = snap
        .match_indices(SECRET)
        .map(|(i, _)| &snap[i..(i + SECRET.len() + 4).min(snap.len())])
        .collect();
    assert!(found.is_empty(), "secrets in the snapshot: {found:?}");
    assert!(
        snap.contains("EndpointSlice") && snap.contains("ValidatingWebhookConfiguration"),
        "what the webhook check reads is kept"
    );
    for private in [
        "hooks.example.com",
        "UExBTlRFRC1TRUNSRVQtOTAy",
        "10.99.88.77",
        "10.244.7.0",
        "vault.example.com",
        "DB_PASSWORD",
        "registry.example.com",
    ] {
        assert!(!snap.contains(private), "{private} in the snapshot");
    }
    // What check reads is still there: the same report offline as live.
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("snap.json");
    std::fs::write(&file, &snap).expect("write");
    let (c1, live, e1) = run(&server, &["check", "-o", "json", "--now", "2026-11-23"]);
    let (c2, offline, e2) = run(
        &server,
        &[
            "check",
            "-o",
            "json",
            "--now",
            "2026-11-23",
            "--snapshot",
            file.to_str().expect("utf8"),
        ],
    );
    assert_eq!(c1, c2, "{e1}\n{e2}");
    let (live, offline) = (comparable(&live), comparable(&offline));
    assert_eq!(live, offline);
    // ... and that report saw the setup, the IPVS mode and the blocking budget.
    let text = offline.to_string();
    assert!(text.contains("kubeadm"), "{text}");
    assert!(text.to_ascii_lowercase().contains("ipvs"), "{text}");
    assert!(text.contains("shop/web"), "{text}");
    // ... and the webhook whose Service has no ready endpoint, and the one at a URL.
    assert!(
        text.contains("webhook local.example.com")
            && text.contains("shop/policy has no ready endpoint"),
        "{text}"
    );
    assert!(
        text.contains("remote.example.com (ValidatingWebhookConfiguration policy)"),
        "{text}"
    );
}
