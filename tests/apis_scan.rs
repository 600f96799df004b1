//! Removed APIs, runtimes and add-ons per hop, from every source: live objects
//! (last-applied annotation, managedFields), CRD stored versions, the API server's
//! deprecated-request metric, Helm release Secrets (opt-in), manifests on disk, and a
//! snapshot of all of it. Expected verdicts come from the deprecation guide's removals
//! (data/apis.yaml) and the hop arithmetic, not from our output.

use assert_cmd::Command;
use kube_testserver::{builders, Cluster, TestServer};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A kubeadm cluster at 1.31 with objects written through old API versions.
fn cluster() -> Cluster {
    let mut c = Cluster::new();
    c.add_configmap(builders::kubeadm_config("v1.31.4"));
    c.add_node(builders::control_plane_node("cp-1", "v1.31.4"));
    c.add_node(builders::node("w-1", "v1.31.4"));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp-1",
        "registry.k8s.io/kube-apiserver:v1.31.4",
    ));
    // An Ingress applied (client-side) as extensions/v1beta1 years ago: removed in 1.22,
    // before this cluster: re-applying that manifest fails.
    c.add_object(
        "networking.k8s.io/v1",
        "ingresses",
        json!({"kind": "Ingress", "metadata": {"name": "shop", "namespace": "web",
            "annotations": {LAST_APPLIED: "{\"apiVersion\":\"extensions/v1beta1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"shop\"}}"}}}),
    );
    // A FlowSchema written by server-side apply with v1beta3: removed in 1.32, the first
    // hop of the path: that hop's violation.
    c.add_object(
        "flowcontrol.apiserver.k8s.io/v1",
        "flowschemas",
        json!({"kind": "FlowSchema", "metadata": {"name": "batch-jobs",
            "managedFields": [{"manager": "argocd-controller", "operation": "Apply", "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3"}]}}),
    );
    c.serve_version(
        "flowcontrol.apiserver.k8s.io",
        "flowschemas",
        "v1beta3",
        Some("1.32"),
    );
    // Current API, nothing to say.
    c.add_object(
        "apps/v1",
        "deployments",
        json!({"kind": "Deployment", "metadata": {"name": "api", "namespace": "web",
            "annotations": {LAST_APPLIED: "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}"}}}),
    );
    // A CRD whose stored versions still hold one no longer served.
    c.add_object(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        json!({"kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true}, {"name": "v1alpha1", "served": false, "storage": false}]},
            "status": {"storedVersions": ["v1alpha1", "v1"]}}),
    );
    c
}

fn helm_secret(ns: &str, release: &str, revision: u64, status: &str, manifest: &str) -> Value {
    let body = json!({"name": release, "namespace": ns, "version": revision,
        "info": {"status": status}, "manifest": manifest});
    helm_secret_of(ns, release, revision, status, &body)
}

/// A Helm 3 release Secret holding `body` (the release JSON) as Helm stores it.
fn helm_secret_of(ns: &str, release: &str, revision: u64, status: &str, body: &Value) -> Value {
    use base64::Engine;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let once = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    // The Secret's own base64 over Helm's.
    let twice = base64::engine::general_purpose::STANDARD.encode(once);
    json!({"kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.{release}.v{revision}"), "namespace": ns,
            "labels": {"owner": "helm", "name": release, "status": status, "version": revision.to_string()}},
        "data": {"release": twice}})
}

fn run(kubeconfig: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("kubectl-upgrade").unwrap();
    if let Some(k) = kubeconfig {
        cmd.arg("--kubeconfig").arg(k);
    }
    let out = cmd
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rows<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["apis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

#[test]
fn live_scan_attaches_each_usage_to_its_hop() {
    let server = TestServer::start(cluster());
    let (code, out, err) = run(
        Some(server.kubeconfig()),
        &[
            "check",
            "--to",
            "v1.33",
            "--now",
            "2026-12-03",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let fs = rows(&r, "FlowSchema");
    assert_eq!(fs.len(), 1, "{}", r["apis"]);
    assert_eq!(fs[0]["source"], "managedFields");
    assert_eq!(fs[0]["hop"], "1.31 -> 1.32");
    assert_eq!(fs[0]["removedIn"], "1.32");
    assert_eq!(fs[0]["replacement"], "flowcontrol.apiserver.k8s.io/v1");
    let ing = rows(&r, "Ingress");
    assert_eq!(ing.len(), 1);
    assert_eq!(
        (ing[0]["group"].as_str(), ing[0]["version"].as_str()),
        (Some("extensions"), Some("v1beta1"))
    );
    assert_eq!(ing[0]["source"], "lastApplied");
    assert!(ing[0]["hop"].is_null(), "removed before this cluster");
    assert!(rows(&r, "Deployment").is_empty(), "apps/v1 is current");
    let widget = rows(&r, "Widget");
    assert_eq!(widget[0]["source"], "storedVersions");
    let findings = r["findings"].as_array().unwrap();
    let hop = findings
        .iter()
        .find(|f| f["section"] == "apis" && f["subject"] == "hop 1.31 -> 1.32")
        .expect("the hop's finding");
    assert_eq!(hop["severity"], "violation");
    assert!(hop["message"].as_str().unwrap().contains("batch-jobs"));
    // containerd 1.7 nodes are fine up to 1.33; kubeadm's add-ons are named per hop.
    assert!(!findings.iter().any(|f| f["subject"] == "hop 1.35 -> 1.36"));
    let steps = r["plan"]["hops"][1]["steps"].to_string();
    assert!(
        steps.contains("kubeadm 1.33 installs CoreDNS v1.12.0"),
        "{steps}"
    );
    // Read as little as possible: metadata lists only, no Secrets without --helm.
    assert_eq!(server.count("list", "secrets"), 0);
    assert!(server.count("list", "flowschemas") >= 1);
    assert!(server.count("get", "/metrics") >= 1);
}

#[test]
fn the_metric_names_what_clients_requested() {
    let server = TestServer::start(cluster());
    // A client requests the deprecated version: the server warns and counts it.
    let port_cfg = server.kubeconfig().to_path_buf();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&port_cfg).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(cfg).unwrap();
        let req = http::Request::get("/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas")
            .body(Vec::new())
            .unwrap();
        client.request_text(req).await.unwrap();
    });
    let (_, out, err) = run(
        Some(server.kubeconfig()),
        &[
            "check",
            "--to",
            "v1.33",
            "--now",
            "2026-12-03",
            "-o",
            "json",
        ],
    );
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let metric: Vec<&Value> = r["apis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == "metric")
        .collect();
    assert_eq!(metric.len(), 1, "{}", r["apis"]);
    assert_eq!(metric[0]["kind"], "FlowSchema");
    assert_eq!(metric[0]["hop"], "1.31 -> 1.32");
    let notes = r["cluster"]["notes"].to_string();
    assert!(notes.contains("resets on restart"), "{notes}");
}

#[test]
fn forbidden_metrics_and_secrets_become_notes() {
    let server = TestServer::start(cluster());
    server.forbid("get", "/metrics");
    server.forbid("list", "secrets");
    let (code, out, err) = run(
        Some(server.kubeconfig()),
        &[
            "check",
            "--helm",
            "--to",
            "v1.33",
            "--now",
            "2026-12-03",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 2, "the rest of the report stands: {err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let notes = r["cluster"]["notes"].to_string();
    assert!(
        notes.contains("cannot read /metrics (forbidden)"),
        "{notes}"
    );
    assert!(notes.contains("cannot list secrets (forbidden)"), "{notes}");
    assert!(notes.contains("kubectl-upgrade-helm"), "{notes}");
    assert_eq!(rows(&r, "FlowSchema").len(), 1);
}

#[test]
fn helm_releases_count_their_latest_deployed_revision() {
    let mut c = cluster();
    let old = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n";
    let new = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\n---\napiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: api\n";
    c.add_object(
        "v1",
        "secrets",
        helm_secret("ops", "jobs", 1, "superseded", old),
    );
    c.add_object(
        "v1",
        "secrets",
        helm_secret("ops", "jobs", 2, "deployed", new),
    );
    c.add_object(
        "v1",
        "secrets",
        helm_secret("ops", "jobs", 3, "failed", old),
    );
    let server = TestServer::start(c);
    let (_, out, err) = run(
        Some(server.kubeconfig()),
        &["check", "--helm", "--now", "2026-12-03", "-o", "json"],
    );
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let helm: Vec<&Value> = r["apis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == "helm:ops/jobs")
        .collect();
    // Revision 2: autoscaling/v2beta2 (removed in 1.26, before 1.31); not revision 1's or
    // 3's batch/v1beta1.
    assert_eq!(helm.len(), 1, "{}", r["apis"]);
    assert_eq!(helm[0]["kind"], "HorizontalPodAutoscaler");
    assert_eq!(helm[0]["namespace"], "ops");
    assert_eq!(
        server.count("get", "secrets"),
        1,
        "only the revision that counts is read"
    );
}

fn manifests_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("apps/web");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        sub.join("all.yaml"),
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n  namespace: web\nspec:\n  minAvailable: 1\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n# a CRD kind named like a built-in one: not the built-in API\napiVersion: traefik.example.com/v1beta1\nkind: Ingress\nmetadata:\n  name: edge\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flow.json"),
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"flowcontrol.apiserver.k8s.io/v1beta3","kind":"FlowSchema","metadata":{"name":"fs"}},{"apiVersion":"resource.k8s.io/v1alpha3","kind":"ResourceClaim","metadata":{"name":"gpu","namespace":"ml"}}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("chart.yaml"), "{{ .Values.broken }}: [\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "# not a manifest\n").unwrap();
    dir
}

#[test]
fn manifests_alone_need_no_cluster() {
    let dir = manifests_dir();
    let path = dir.path().to_str().unwrap();
    let (code, out, err) = run(
        None,
        &[
            "check",
            "--file",
            path,
            "--to",
            "v1.33",
            "--now",
            "2026-12-03",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["scope"], "manifests");
    let kinds: Vec<&str> = r["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds.contains(&"PodDisruptionBudget") && kinds.contains(&"FlowSchema"));
    assert!(
        kinds.contains(&"ResourceClaim"),
        "removed in 1.34, beyond the target: listed"
    );
    assert!(
        !kinds.contains(&"Ingress"),
        "a CRD group's Ingress is not networking's"
    );
    let pdb = rows(&r, "PodDisruptionBudget")[0];
    assert_eq!(pdb["hop"], "1.24 -> 1.25");
    assert!(pdb["source"].as_str().unwrap().starts_with("file:"));
    assert!(pdb["source"]
        .as_str()
        .unwrap()
        .ends_with("apps/web/all.yaml"));
    assert!(rows(&r, "ResourceClaim")[0]["hop"].is_null());
    // The template that is not YAML is said, not fatal.
    assert!(r["cluster"]["notes"].to_string().contains("chart.yaml"));
    // From a given starting point only later removals bite at a hop.
    let (_, out, _) = run(
        None,
        &[
            "check",
            "-f",
            path,
            "--apiserver-version",
            "v1.30.2",
            "--to",
            "v1.34",
            "--now",
            "2026-12-03",
            "-o",
            "json",
        ],
    );
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(rows(&r, "PodDisruptionBudget")[0]["hop"].is_null());
    assert_eq!(rows(&r, "FlowSchema")[0]["hop"], "1.31 -> 1.32");
    assert_eq!(rows(&r, "ResourceClaim")[0]["hop"], "1.33 -> 1.34");
    // The table says the same.
    let (tcode, table, _) = run(
        None,
        &["check", "-f", path, "--to", "v1.33", "--now", "2026-12-03"],
    );
    assert_eq!(tcode, 2);
    assert!(
        table.contains("APIs, flags, runtimes and add-ons"),
        "{table}"
    );
    assert!(table.contains("hop 1.31 -> 1.32"), "{table}");
}

#[test]
fn snapshot_keeps_what_the_scan_found() {
    let mut c = cluster();
    c.add_object(
        "v1",
        "secrets",
        helm_secret(
            "ops",
            "jobs",
            1,
            "deployed",
            "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n",
        ),
    );
    let server = TestServer::start(c);
    let (code, snap, err) = run(Some(server.kubeconfig()), &["snapshot", "--helm"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !snap.contains(
            "\"spec\":{\"group\":\"example.com\",\"names\":{\"kind\":\"Widget\",\"plural\""
        ),
        "CRDs reduced"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    std::fs::write(&file, &snap).unwrap();
    let args = [
        "check",
        "--to",
        "v1.33",
        "--now",
        "2026-12-03",
        "-o",
        "json",
    ];
    let (_, live, _) = run(
        Some(server.kubeconfig()),
        &[&args[..], &["--helm"]].concat(),
    );
    let (_, offline, err) = run(
        None,
        &[&args[..], &["--snapshot", file.to_str().unwrap()]].concat(),
    );
    let live: Value = serde_json::from_str(&live).unwrap();
    let offline: Value = serde_json::from_str(&offline).unwrap_or_else(|e| panic!("{e}: {err}"));
    let key = |v: &Value| {
        let mut rows: Vec<String> = v["apis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(key(&live), key(&offline));
    assert!(key(&offline).iter().any(|r| r.contains("helm:ops/jobs")));
    // And `--file` adds to a snapshot's report.
    let m = manifests_dir();
    let (_, both, _) = run(
        None,
        &[
            &args[..],
            &[
                "--snapshot",
                file.to_str().unwrap(),
                "--file",
                m.path().to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    let both: Value = serde_json::from_str(&both).unwrap();
    assert_eq!(both["scope"], "cluster");
    assert!(both["apis"].as_array().unwrap().len() > offline["apis"].as_array().unwrap().len());
}

#[test]
fn docker_nodes_block_the_hop_to_1_24() {
    let mut c = Cluster::new();
    let mut n = builders::node("old-1", "v1.23.17");
    if let Some(info) = n.status.as_mut().and_then(|s| s.node_info.as_mut()) {
        info.container_runtime_version = "docker://20.10.24".into();
    }
    c.add_node(builders::control_plane_node("cp-1", "v1.23.17"));
    c.add_node(n);
    let server = TestServer::start_with(
        c,
        kube_testserver::Options {
            git_version: "v1.23.17".into(),
            ..Default::default()
        },
    );
    let (code, out, _) = run(
        Some(server.kubeconfig()),
        &[
            "check",
            "--to",
            "v1.24",
            "--now",
            "2026-12-03",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 2);
    let r: Value = serde_json::from_str(&out).unwrap();
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "hop 1.23 -> 1.24")
        .expect("the runtime blocks the hop");
    assert!(f["message"].as_str().unwrap().contains("old-1"));
    assert!(f["message"].as_str().unwrap().contains("dockershim"));
}

/// The Helm findings of a report: (subject, severity, message).
fn helm_findings(r: &Value) -> Vec<(String, String, String)> {
    r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"].as_str().is_some_and(|x| x.starts_with("helm:")))
        .map(|f| {
            (
                f["subject"].as_str().unwrap_or_default().to_string(),
                f["severity"].as_str().unwrap_or_default().to_string(),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A Helm release Secret given with `--file` and no cluster: its chart is held against each
/// hop from where the files start (`--apiserver-version`) to `--to`; without a start, no hop
/// is judged.
#[test]
fn helm_chart_kube_version_from_a_file_without_a_cluster() {
    let body = json!({"name": "web", "namespace": "ops", "version": 3, "info": {"status": "deployed"},
        "chart": {"metadata": {"name": "web", "version": "2.1.0", "kubeVersion": ">= 1.25.0-0 < 1.33.0-0"}},
        "manifest": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"});
    let mut secret = helm_secret_of("ops", "web", 3, "deployed", &body);
    secret["apiVersion"] = json!("v1");
    secret["kind"] = json!("Secret");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("release.json");
    std::fs::write(&file, secret.to_string()).unwrap();
    let file = file.to_string_lossy().into_owned();
    let helm = |args: &[&str]| -> Vec<(String, String)> {
        let (_, out, err) = run(None, args);
        let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        helm_findings(&r)
            .into_iter()
            .map(|(s, v, _)| (s, v))
            .collect()
    };
    let base = [
        "check",
        "--file",
        file.as_str(),
        "--to",
        "v1.34",
        "-o",
        "json",
    ];
    let with_start = [&base[..], &["--apiserver-version", "v1.31.4"]].concat();
    assert_eq!(
        helm(&with_start),
        [("hop 1.32 -> 1.33".to_string(), "violation".to_string())]
    );
    assert_eq!(helm(&base), [], "no start, no hops");
}

/// A deployed release whose chart's `kubeVersion` stops short of the plan: the hop it
/// excludes is a violation naming the release and chart, live and from a snapshot alike.
#[test]
fn helm_chart_kube_version_bites_at_the_hop_it_excludes() {
    let mut c = cluster();
    // The chart's metadata as `helm install` records it.
    let body = json!({"name": "web", "namespace": "ops", "version": 3, "info": {"status": "deployed"},
        "chart": {"metadata": {"name": "web", "version": "2.1.0", "kubeVersion": ">= 1.25.0-0 < 1.33.0-0"}},
        "manifest": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"});
    c.add_object(
        "v1",
        "secrets",
        helm_secret_of("ops", "web", 3, "deployed", &body),
    );
    let server = TestServer::start(c);
    let args = [
        "check",
        "--helm",
        "--to",
        "v1.34",
        "--now",
        "2026-12-03",
        "-o",
        "json",
    ];
    let (_, out, err) = run(Some(server.kubeconfig()), &args);
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let helm = helm_findings;
    let got = helm(&r);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("hop 1.32 -> 1.33", "violation")
    );
    assert!(
        got[0].2.contains("ops/web (web-2.1.0)") && got[0].2.contains("'>= 1.25.0-0 < 1.33.0-0'"),
        "{}",
        got[0].2
    );
    // The snapshot keeps the chart's constraint.
    let (code, snap, err) = run(Some(server.kubeconfig()), &["snapshot", "--helm"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    std::fs::write(&file, &snap).unwrap();
    let offline = [
        &args[..1],
        &args[2..],
        &["--snapshot", file.to_str().unwrap()],
    ]
    .concat();
    let (_, out, err) = run(None, &offline);
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(helm(&r), got);
}
