//! Removed command-line flags and feature gates (data/control-plane.yaml), from every place
//! they are read. Files: a static pod manifest on disk for each anchor (kube-apiserver
//! `--insecure-port`, removed in 1.24; the `EphemeralContainers` gate, removed in 1.27), the
//! image tag giving the plan's start; kubeadm's ClusterConfiguration; a KubeletConfiguration.
//! Live, on both backends: a control-plane mirror pod's command line, kubeadm-config's
//! `extraArgs`, the kube-proxy and kubelet-config ConfigMaps' `featureGates`, read through
//! the API server as a cluster shows them.

mod backend;

use backend::{Backend, Live};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::core::v1::ConfigMap;
use kube_testserver::Cluster;
use serde_json::Value;
use std::process::Command;

fn check(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "-o", "json", "--now", "2026-12-06"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("runs");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

/// (subject, severity, message) of the findings about flags and gates.
fn config_findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["rule"]
                .as_str()
                .is_some_and(|r| r.contains("data/control-plane.yaml"))
        })
        .map(|f| {
            (
                f["subject"].as_str().unwrap_or_default().to_string(),
                f["severity"].as_str().unwrap_or_default().to_string(),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn insecure_port_in_a_static_pod_manifest_bites_at_1_24() {
    let (code, r) = check(&[
        "--file",
        "tests/config/kube-apiserver-1.23.yaml",
        "--to",
        "v1.24",
    ]);
    assert_eq!(code, 2, "{r}");
    let f = config_findings(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str()),
        ("hop 1.23 -> 1.24", "violation")
    );
    assert!(
        f[0].2.contains("kube-apiserver flag --insecure-port is set (file:tests/config/kube-apiserver-1.23.yaml)"),
        "{}",
        f[0].2
    );
    // The image tag started the plan at 1.23: to 1.23 nothing bites yet.
    let (_, r) = check(&[
        "--file",
        "tests/config/kube-apiserver-1.23.yaml",
        "--to",
        "v1.23",
    ]);
    assert!(config_findings(&r).iter().all(|f| f.1 == "info"), "{r}");
}

#[test]
fn ephemeral_containers_gate_in_a_static_pod_manifest_bites_at_1_27() {
    let (code, r) = check(&[
        "--file",
        "tests/config/kube-scheduler-1.26.yaml",
        "--to",
        "v1.27",
    ]);
    assert_eq!(code, 2);
    let f = config_findings(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str()),
        ("hop 1.26 -> 1.27", "violation")
    );
    assert!(
        f[0].2
            .contains("feature gate EphemeralContainers=true (kube-scheduler)"),
        "{}",
        f[0].2
    );
}

#[test]
fn kubeadm_extra_args_and_kubelet_configuration_files() {
    let (_, r) = check(&[
        "--file",
        "tests/config/kubeadm-1.23.yaml",
        "--file",
        "tests/config/kubelet-config.yaml",
        "--to",
        "v1.26",
    ]);
    let f = config_findings(&r);
    let subjects: Vec<(&str, &str)> = f.iter().map(|f| (f.0.as_str(), f.1.as_str())).collect();
    assert_eq!(
        subjects,
        [
            ("hop 1.23 -> 1.24", "violation"),
            ("hop 1.23 -> 1.24", "violation"),
            ("hop 1.25 -> 1.26", "violation")
        ],
        "{f:#?}"
    );
    let all = format!("{f:?}");
    assert!(all.contains("kube-apiserver flag --insecure-port is set (file:tests/config/kubeadm-1.23.yaml apiServer.extraArgs)"), "{all}");
    assert!(all.contains("kube-controller-manager flag --port"), "{all}");
    assert!(
        all.contains("feature gate DynamicKubeletConfig=false (kubelet)"),
        "{all}"
    );
}

fn cm(name: &str, key: &str, text: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "kube-system"},
        "data": {key: text},
    }))
    .expect("configmap")
}

/// A 1.37 cluster whose configuration still names what earlier releases removed: each is a
/// component that would not start if restarted with it (WARN, "already removed"), named with
/// where it is set.
fn configuration_read_through_the_api(backend: Backend) {
    let v = backend::real_version();
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", &v));
    c.add_node(builders::node("w-1", &v));
    let mut api = builders::static_pod(
        "kube-apiserver",
        "cp-1",
        &format!("registry.k8s.io/kube-apiserver:{v}"),
    );
    if let Some(ct) = api.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        ct.command = Some(vec![
            "kube-apiserver".into(),
            "--secure-port=6443".into(),
            "--feature-gates=EphemeralContainers=true".into(),
        ]);
    }
    c.add_pod(api);
    let mut kubeadm = builders::kubeadm_config(&v);
    if let Some(d) = kubeadm.data.as_mut() {
        let cc = d
            .get("ClusterConfiguration")
            .cloned()
            .unwrap_or_default()
            .replace(
                "controllerManager: {}",
                "controllerManager:\n  extraArgs:\n  - name: port\n    value: \"0\"",
            );
        d.insert("ClusterConfiguration".into(), cc);
    }
    c.add_configmap(kubeadm);
    c.add_configmap(cm(
        "kube-proxy",
        "config.conf",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nfeatureGates:\n  EndpointSliceProxying: true\n",
    ));
    c.add_configmap(cm(
        "kubelet-config",
        "kubelet",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  DynamicKubeletConfig: false\n",
    ));
    let live = Live::start(backend, c);
    let r = live.run(&["check", "-o", "json", "--now", "2026-12-06"]);
    let f = config_findings(&r.json());
    let mut got: Vec<(&str, &str)> = f.iter().map(|f| (f.0.as_str(), f.1.as_str())).collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("feature gate DynamicKubeletConfig=false (kubelet)", "warn"),
            (
                "feature gate EndpointSliceProxying=true (kube-proxy)",
                "warn"
            ),
            (
                "feature gate EphemeralContainers=true (kube-apiserver)",
                "warn"
            ),
            ("kube-controller-manager flag --port", "warn"),
        ],
        "{:?}: {f:#?}",
        live.backend
    );
    let all = format!("{f:?}");
    for source in [
        "ConfigMap kube-system/kubelet-config",
        "ConfigMap kube-system/kube-proxy",
        "pod kube-system/kube-apiserver-cp-1",
        "ConfigMap kube-system/kubeadm-config controllerManager.extraArgs",
    ] {
        assert!(all.contains(source), "{:?}: {source}: {all}", live.backend);
    }
}
both!(configuration_read_through_the_api);

/// `check --kubelet-configz`: each kubelet's live configuration through the API server's
/// proxy. On the test server (it answers `/configz` as a kubelet would) a removed gate set on
/// one node's kubelet is that hop's violation naming the node; without the flag nothing is
/// asked; without `get nodes/proxy` the refusal is a note naming the role.
#[test]
fn kubelet_configz_on_the_test_server() {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.25.16"));
    c.add_node(builders::node("w-1", "v1.25.16"));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp-1",
        "registry.k8s.io/kube-apiserver:v1.25.16",
    ));
    c.set_kubelet_config(
        "w-1",
        serde_json::json!({"kind": "KubeletConfiguration", "featureGates": {"DynamicKubeletConfig": false}}),
    );
    let server = kube_testserver::TestServer::start_with(
        c,
        kube_testserver::Options {
            git_version: "v1.25.16".into(),
            ..Default::default()
        },
    );
    let kc = server.kubeconfig().to_str().expect("utf8").to_string();
    let (_, r) = check(&["--kubeconfig", &kc, "--to", "v1.26", "--kubelet-configz"]);
    let f = config_findings(&r);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str()),
        ("hop 1.25 -> 1.26", "violation")
    );
    assert!(
        f[0].2.contains(
            "feature gate DynamicKubeletConfig=false (kubelet) is set (node w-1 (configz))"
        ),
        "{}",
        f[0].2
    );
    assert_eq!(
        server.count("get", "nodes/proxy"),
        2,
        "one /configz per node"
    );
    // Not asked without the flag.
    let (_, r) = check(&["--kubeconfig", &kc, "--to", "v1.26"]);
    assert!(config_findings(&r).is_empty());
    assert_eq!(server.count("get", "nodes/proxy"), 2);
    // Refused: a note naming the role, the report still made.
    server.forbid("get", "nodes/proxy");
    let (code, r) = check(&["--kubeconfig", &kc, "--to", "v1.26", "--kubelet-configz"]);
    assert!(matches!(code, 0..=2), "{r}");
    assert!(
        r["cluster"]["notes"]
            .to_string()
            .contains("kubectl-upgrade-kubelet-configz"),
        "{}",
        r["cluster"]["notes"]
    );
}

/// The real control plane's nodes are kwok's, with no kubelet behind the API server's proxy:
/// the question is asked and the silence said, the report still made.
#[test]
fn kubelet_configz_without_kubelets_is_a_note() {
    let live = Live::start(Backend::Real, {
        let mut c = Cluster::new();
        c.add_node(builders::node("w-1", &backend::real_version()));
        c
    });
    let r = live.run(&[
        "check",
        "-o",
        "json",
        "--now",
        "2026-12-06",
        "--kubelet-configz",
    ]);
    assert!(matches!(r.code, 0..=2), "{}", r.all());
    let notes = r.json()["cluster"]["notes"].to_string();
    assert!(
        notes.contains("did not answer /configz") && notes.contains("w-1"),
        "{notes}"
    );
}

/// A real kube-apiserver v1.36.3 started with a feature gate v1.37 removed (`SidecarContainers`,
/// GA and locked since 1.33; data/control-plane.yaml from the components' own source): the
/// command line the process runs, shown through the API as a kubeadm cluster's kubelet shows
/// it (a mirror pod), is the 1.36 -> 1.37 hop's violation naming the gate and its source; and
/// the real v1.37.2 kube-apiserver, given the same gate, does not start, as the data says.
#[test]
fn a_real_apiserver_started_with_a_gate_the_next_minor_removed() {
    use backend::real;
    use kube::api::{Api, PostParams};
    use kube_testserver::k8s_openapi::api::core::v1::Pod;
    const OLD: &str = "v1.36.3";
    const GATE: &str = "--feature-gates=SidecarContainers=true";
    let plane = real::start_with(Some(OLD), &[GATE]);
    assert_eq!(plane.version, OLD);
    // The running process's own command line.
    let pids = std::fs::read_to_string(plane.dir.join("pids")).expect("pids");
    let pid = pids
        .lines()
        .find_map(|l| l.strip_prefix("kube-apiserver "))
        .expect("the apiserver's pid")
        .trim()
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("its command line");
    let mut argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(argv.iter().any(|a| a == GATE), "{argv:?}");
    argv[0] = "kube-apiserver".into();
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", OLD));
    c.add_node(builders::node("w-1", OLD));
    plane.block_on(real::materialize(&plane.client, &c));
    let mut mirror = builders::static_pod(
        "kube-apiserver",
        "cp-1",
        &format!("registry.k8s.io/kube-apiserver:{OLD}"),
    );
    mirror.status = None;
    mirror.metadata.owner_references = None;
    if let Some(ct) = mirror.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        ct.command = Some(argv);
    }
    let pods: Api<Pod> = Api::namespaced(plane.client.clone(), "kube-system");
    plane
        .block_on(pods.create(&PostParams::default(), &mirror))
        .expect("mirror pod");
    let (code, report) = check(&[
        "--kubeconfig",
        &plane.kubeconfig.to_string_lossy(),
        "--to",
        "v1.37.2",
    ]);
    let f = config_findings(&report);
    let gate: Vec<_> = f
        .iter()
        .filter(|f| {
            f.2.contains("feature gate SidecarContainers=true (kube-apiserver)")
        })
        .collect();
    assert_eq!(gate.len(), 1, "{f:#?}");
    assert_eq!(
        (gate[0].0.as_str(), gate[0].1.as_str()),
        ("hop 1.36 -> 1.37", "violation")
    );
    assert!(
        gate[0].2.contains("pod kube-system/kube-apiserver-cp-1"),
        "{}",
        gate[0].2
    );
    assert_eq!(code, 2, "a violation: {report}");
    let rule = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["message"].as_str() == Some(gate[0].2.as_str()))
        .map(|x| x["rule"].to_string())
        .unwrap_or_default();
    assert!(
        rule.contains("k8s.io/kubernetes v1.36.3 -> v1.37.2"),
        "the finding cites its source: {rule}"
    );
    // The next minor refuses it: a v1.37.2 kube-apiserver on the same etcd does not start.
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/real-control-plane.sh"
    ))
    .arg("apiserver")
    .arg(&plane.dir)
    .args([
        "--version",
        "v1.37.2",
        "--name",
        "next",
        "--apiserver-arg",
        GATE,
    ])
    .output()
    .expect("runs");
    assert!(!out.status.success(), "v1.37.2 started with {GATE}");
    let log = std::fs::read_to_string(plane.dir.join("logs/next.log")).unwrap_or_default();
    assert!(
        log.contains("unrecognized feature gate: SidecarContainers"),
        "{}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
}
