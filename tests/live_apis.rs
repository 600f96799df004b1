//! The removed-API scan against what real servers keep, on both backends: an object written
//! through a deprecated version (the DRA betas kube-apiserver 1.37 still serves with
//! `--runtime-config`) is found through its last-applied annotation, its managedFields and the
//! API server's `apiserver_requested_deprecated_apis` gauge; the deprecated read answers the
//! real `Warning` header; a CRD whose storedVersions keep a deprecated version is named.

mod backend;

use backend::real;
use kube_testserver::builders;
use kube_testserver::{Cluster, Options, TestServer};
use serde_json::{json, Value};
use std::path::Path;

const WARNING: &str =
    "resource.k8s.io/v1beta1 DeviceClass is deprecated in v1.35+, unavailable in v1.38+";

fn crd(stored: &[&str]) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {"name": "v1alpha1", "served": true, "storage": false, "deprecated": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
            ]
        },
        "status": {"storedVersions": stored}
    })
}

fn device_class() -> Value {
    named_device_class("gpu")
}

/// A DeviceClass written through v1beta1 by client-side apply (its annotation).
fn named_device_class(name: &str) -> Value {
    json!({
        "apiVersion": "resource.k8s.io/v1beta1",
        "kind": "DeviceClass",
        "metadata": {"name": name, "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration":
                format!("{{\"apiVersion\":\"resource.k8s.io/v1beta1\",\"kind\":\"DeviceClass\",\"metadata\":{{\"name\":\"{name}\"}},\"spec\":{{}}}}\n")
        }},
        "spec": {}
    })
}

/// GET through the deprecated version: the Warning header, as the client received it.
async fn read_deprecated(client: &kube::Client) -> String {
    let req = http::Request::get("/apis/resource.k8s.io/v1beta1/deviceclasses/gpu")
        .body(Vec::new())
        .expect("request");
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("answered");
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.headers()
        .get("warning")
        .and_then(|w| w.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn check(kubeconfig: &Path) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["check", "--now", "2026-12-06", "-o", "json"])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// What the scan must find, whichever server it reads.
fn assert_found(report: &Value, backend: &str) {
    let apis = report["apis"].as_array().cloned().unwrap_or_default();
    let found = |source: &str, kind: &str, version: &str| {
        apis.iter()
            .any(|a| a["source"] == source && a["kind"] == kind && a["version"] == version)
    };
    assert!(
        found("lastApplied", "DeviceClass", "v1beta1"),
        "{backend}: lastApplied: {apis:#?}"
    );
    assert!(
        found("managedFields", "DeviceClass", "v1beta1"),
        "{backend}: managedFields: {apis:#?}"
    );
    assert!(
        found("metric", "DeviceClass", "v1beta1"),
        "{backend}: metric: {apis:#?}"
    );
    assert!(
        found("storedVersions", "Widget", "v1alpha1"),
        "{backend}: storedVersions: {apis:#?}"
    );
    let dc = apis
        .iter()
        .find(|a| a["kind"] == "DeviceClass")
        .expect("a DeviceClass usage");
    assert_eq!(dc["removedIn"], "1.38", "{backend}: {dc}");
    assert!(
        dc["hop"].is_null(),
        "{backend}: beyond the plan's target: {dc}"
    );
    assert_eq!(dc["status"], "beyondPlan", "{backend}: {dc}");
    // gpu was only ever written through v1beta1: live. gpu-migrated was written through v1
    // since: its v1beta1 annotation and manager entry are stale.
    let of = |name: &str, source: &str| {
        apis.iter()
            .find(|a| a["name"] == name && a["source"] == source)
            .cloned()
            .unwrap_or_else(|| panic!("{backend}: {name} {source}: {apis:#?}"))
    };
    assert!(of("gpu", "lastApplied").get("stale").is_none(), "{backend}");
    let stale = of("gpu-migrated", "lastApplied");
    let why = stale["stale"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("written since through resource.k8s.io/v1 by kubectl-edit at "),
        "{backend}: {stale}"
    );
    assert!(
        of("gpu-migrated", "managedFields")["stale"].is_string(),
        "{backend}"
    );
    // Its findings are INFO and say so; gpu's stay as they were.
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let about = |name: &str| {
        findings
            .iter()
            .filter(|f| {
                f["section"] == "apis" && f["message"].as_str().is_some_and(|m| m.contains(name))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let migrated = about("gpu-migrated");
    assert!(
        !migrated.is_empty()
            && migrated.iter().all(|f| f["severity"] == "info"
                && f["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("stale, not a risk")),
        "{backend}: {migrated:#?}"
    );
}

#[test]
fn deprecated_apis_in_use_on_the_test_server() {
    let mut c = Cluster::new();
    c.add_node(builders::node("w-1", &backend::real_version()));
    c.serve_version("resource.k8s.io", "deviceclasses", "v1", None);
    c.serve_deprecated_without_replacement("resource.k8s.io", "deviceclasses", "v1beta1", "1.38");
    let mut dc = device_class();
    dc["metadata"]["managedFields"] = json!([{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "resource.k8s.io/v1beta1", "time": "2026-11-30T10:00:00Z"}]);
    c.add_object("resource.k8s.io/v1beta1", "deviceclasses", dc);
    // As the real server records it (the real test below makes it): created by client-side
    // apply through v1beta1, then updated through v1.
    let mut migrated = named_device_class("gpu-migrated");
    migrated["metadata"]["managedFields"] = json!([
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "resource.k8s.io/v1beta1", "time": "2026-11-30T10:00:00Z"},
        {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "resource.k8s.io/v1", "time": "2026-11-30T10:00:02Z"}
    ]);
    c.add_object("resource.k8s.io/v1beta1", "deviceclasses", migrated);
    c.serve_version("example.com", "widgets", "v1", None);
    c.add_object(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        crd(&["v1alpha1", "v1"]),
    );
    let server = TestServer::start_with(
        c,
        Options {
            git_version: backend::real_version(),
            ..Options::default()
        },
    );
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let client = rt.block_on(real::client_for(server.kubeconfig()));
    assert_eq!(
        rt.block_on(read_deprecated(&client)),
        format!("299 - \"{WARNING}\"")
    );
    assert_found(&check(server.kubeconfig()), "test server");
}

#[test]
fn deprecated_apis_in_use_on_the_real_control_plane() {
    let plane = real::start_with(
        None,
        &["--runtime-config=resource.k8s.io/v1beta1=true,resource.k8s.io/v1beta2=true"],
    );
    let client = plane.client.clone();
    plane.block_on(async {
        use kube::api::{Api, DynamicObject, PostParams, Patch, PatchParams};
        use kube::discovery::ApiResource;
        let nodes: Api<kube_testserver::k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
        nodes.create(&PostParams::default(), &builders::node("w-1", &backend::real_version())).await.expect("node");
        let ar = ApiResource {
            group: "resource.k8s.io".into(),
            version: "v1beta1".into(),
            api_version: "resource.k8s.io/v1beta1".into(),
            kind: "DeviceClass".into(),
            plural: "deviceclasses".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let obj: DynamicObject = serde_json::from_value(device_class()).expect("object");
        let pp = PostParams { field_manager: Some("kubectl-client-side-apply".into()), ..PostParams::default() };
        api.create(&pp, &obj).await.expect("created through v1beta1");
        // Another, then updated through v1 a moment later.
        let obj: DynamicObject = serde_json::from_value(named_device_class("gpu-migrated")).expect("object");
        api.create(&pp, &obj).await.expect("created through v1beta1");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let v1 = ApiResource {
            version: "v1".into(),
            api_version: "resource.k8s.io/v1".into(),
            ..ar.clone()
        };
        let api1: Api<DynamicObject> = Api::all_with(client.clone(), &v1);
        // An update through v1 (as `kubectl edit` or a controller writes): the annotation
        // stays as client-side apply left it. (A server-side apply would have made the
        // server rewrite the annotation itself, to v1.)
        let edit = json!({"metadata": {"labels": {"tier": "gold"}}});
        let pp = PatchParams { field_manager: Some("kubectl-edit".into()), ..PatchParams::default() };
        api1.patch("gpu-migrated", &pp, &Patch::Merge(&edit))
            .await
            .expect("updated through v1");
        // The CRD: v1alpha1 first the storage version (objects stored through it), then v1.
        let crds: Api<kube_testserver::k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
        let mut first = crd(&[]);
        first["spec"]["versions"][0]["storage"] = json!(true);
        first["spec"]["versions"][0]["deprecated"] = json!(false);
        first["spec"]["versions"][1]["storage"] = json!(false);
        crds.create(&PostParams::default(), &serde_json::from_value(first).expect("crd")).await.expect("crd");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let patch = json!({"spec": {"versions": crd(&[])["spec"]["versions"]}});
        crds.patch("widgets.example.com", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("storage moved to v1");
    });
    let warning = plane.block_on(read_deprecated(&client));
    assert!(
        warning.contains(WARNING),
        "the real Warning header: {warning}"
    );
    assert_found(&check(&plane.kubeconfig), "real control plane");
}
