//! `check` on the real control plane: the same report as kube-testserver gives for the same
//! cluster, and every real-world corpus case, loaded into the real API server (nodes with
//! their status, pods with their owners made real, PDBs recomputed by the real disruption
//! controller, ConfigMaps), gives the report `check --snapshot` gives for the dump at the
//! real server's version.

mod backend;

use backend::{real_version, Backend, Live};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::Cluster;
use serde_json::Value;
use std::path::PathBuf;

const TODAY: &str = "2026-12-06";

/// A kubeadm cluster mid-way: control plane at the real server's release, workers one and
/// two minors behind, kube-proxy pods, a PDB that can never allow an eviction, a node that
/// cannot be drained for an emptyDir pod.
fn kubeadm() -> Cluster {
    let v = real_version();
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", &v));
    for comp in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        c.add_pod(builders::static_pod(
            comp,
            "cp-1",
            &format!("registry.k8s.io/{comp}:{v}"),
        ));
    }
    c.add_pod(builders::static_pod(
        "etcd",
        "cp-1",
        "registry.k8s.io/etcd:3.6.5-0",
    ));
    for (w, k) in [("w-1", "v1.36.3"), ("w-2", "v1.35.9"), ("w-3", &v[..])] {
        c.add_node(builders::node(w, k));
    }
    for n in ["cp-1", "w-1", "w-2", "w-3"] {
        c.add_pod(
            builders::pod("kube-system", &format!("kube-proxy-{n}"), n)
                .owner("DaemonSet", "kube-proxy")
                .labels(&[("k8s-app", "kube-proxy")])
                .image(&format!("registry.k8s.io/kube-proxy:{v}"))
                .build(),
        );
    }
    c.add_configmap(builders::kubeadm_config(&v));
    for i in 0..3 {
        c.add_pod(
            builders::pod("shop", &format!("web-{i}"), ["w-1", "w-2", "w-3"][i])
                .owner("ReplicaSet", "web-rs")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c.add_pod(
        builders::pod("pay", "ledger-0", "w-1")
            .owner("StatefulSet", "ledger")
            .labels(&[("app", "ledger")])
            .empty_dir()
            .build(),
    );
    c.add_pdb(builders::pdb_min_available(
        "pay",
        "ledger",
        &[("app", "ledger")],
        IntOrString::Int(1),
    ));
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    c
}

/// The report without what differs by design between two readings: where it came from, the
/// reader's notes, kubectl's own version (read on this machine when live), and the
/// connection's certificates (each server has its own CA; a dump has no connection), with
/// the summary they count in (tests/certificates.rs checks those).
fn comparable(text: &str, err: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}\n{err}"));
    v["source"] = Value::Null;
    v["cluster"]["notes"] = Value::Null;
    for key in ["components", "findings"] {
        let kept: Vec<Value> = v[key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| {
                let subject = c["subject"].as_str().unwrap_or("");
                let kubectl = c["component"].as_str().unwrap_or("").starts_with("kubectl")
                    || subject.starts_with("kubectl");
                let certificate = c["section"] == "cluster" && subject.ends_with(" certificate");
                !kubectl && !certificate
            })
            .collect();
        v[key] = Value::Array(kept);
    }
    for k in ["info", "line"] {
        v["summary"][k] = Value::Null;
    }
    v
}

/// The same cluster on both backends gives the same report (and exit code).
#[test]
fn check_reports_the_same_on_both_backends() {
    let sim = Live::start(Backend::TestServer, kubeadm());
    let a = sim.run(&["check", "--now", TODAY, "-o", "json"]);
    drop(sim);
    let real = Live::start(Backend::Real, kubeadm());
    let b = real.run(&["check", "--now", TODAY, "-o", "json"]);
    assert_eq!(a.code, b.code, "{}\n{}", a.all(), b.all());
    let (a, b) = (
        comparable(&a.stdout, &a.stderr),
        comparable(&b.stdout, &b.stderr),
    );
    assert_eq!(a, b);
    // ... and that report saw what is there.
    let text = b.to_string();
    assert!(
        text.contains("pay/ledger") && text.contains("kubeadm"),
        "{text}"
    );
    assert_eq!(b["cluster"]["serverVersion"], real_version());
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every object of a dump as one v1 List with kinds: lists (also kubectl's old internal
/// types, converted by the product's own reader) opened, kindless items given the kind the
/// product's reader gives them (list kind, selfLink, file name).
fn objects_of(dir: &std::path::Path) -> Value {
    fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) {
        if p.is_dir() {
            let mut e: Vec<PathBuf> = std::fs::read_dir(p)
                .expect("dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            e.sort();
            for x in e {
                walk(&x, out);
            }
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("json" | "yaml" | "yml" | "txt")
        ) {
            out.push(p.to_path_buf());
        }
    }
    fn take(
        v: Value,
        hint: Option<(String, String)>,
        file: &std::path::Path,
        out: &mut Vec<Value>,
    ) {
        match v {
            Value::Array(items) => items
                .into_iter()
                .for_each(|i| take(i, hint.clone(), file, out)),
            Value::Object(mut map) => {
                if kubectl_upgrade::inventory::legacy::is_internal_list(&map) {
                    let items = map
                        .remove("Items")
                        .and_then(|i| i.as_array().cloned())
                        .unwrap_or_default();
                    for i in items {
                        take(
                            kubectl_upgrade::inventory::legacy::to_v1(i),
                            None,
                            file,
                            out,
                        );
                    }
                    return;
                }
                let kind = map.get("kind").and_then(Value::as_str).map(str::to_string);
                if let Some(items) = map.remove("items").and_then(|i| i.as_array().cloned()) {
                    let h = kind
                        .as_deref()
                        .and_then(|k| k.strip_suffix("List"))
                        .filter(|k| !k.is_empty())
                        .map(|k| {
                            (
                                k.to_string(),
                                map.get("apiVersion")
                                    .and_then(Value::as_str)
                                    .unwrap_or("v1")
                                    .to_string(),
                            )
                        });
                    items
                        .into_iter()
                        .for_each(|i| take(i, h.clone(), file, out));
                    return;
                }
                let mut obj = Value::Object(map);
                if kind.is_none() {
                    let found = hint.or_else(|| {
                        kubectl_upgrade::inventory::ingest::kind_of(file, &obj)
                            .map(|(k, a)| (k.to_string(), a.to_string()))
                    });
                    let Some((k, a)) = found else { return };
                    obj["kind"] = Value::from(k);
                    if obj.get("apiVersion").is_none() {
                        obj["apiVersion"] = Value::from(a);
                    }
                }
                if obj.get("metadata").is_some() {
                    out.push(obj);
                }
            }
            _ => {}
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut items = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        if kubectl_upgrade::inventory::tables::is_capture(&text) {
            for n in kubectl_upgrade::inventory::tables::nodes(&text) {
                let mut v = serde_json::to_value(n).expect("node");
                v["kind"] = Value::from("Node");
                v["apiVersion"] = Value::from("v1");
                items.push(v);
            }
            continue;
        }
        let docs: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
            serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .collect()
        } else {
            serde_yaml::Deserializer::from_str(&text)
                .filter_map(|d| serde::Deserialize::deserialize(d).ok())
                .collect()
        };
        for d in docs {
            take(d, None, &f, &mut items);
        }
    }
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
}

fn check(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every corpus case loaded into the real API server: the live report equals the offline
/// report of the dump at the real server's version (`--apiserver-version`: /version is the
/// real server's own). PDB status is the real disruption controller's, recomputed from the
/// pods (as `kubectl get pdb` would show it after the capture), so a case whose captured PDB
/// status disagrees with its own pods is compared without the drain preview and said.
#[test]
fn every_corpus_case_loaded_into_the_real_control_plane_gives_the_offline_report() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus().join("expected.json")).expect("expected"),
    )
    .expect("json");
    let version = real_version();
    let mut compared = Vec::new();
    for want in expected["cases"].as_array().expect("cases") {
        let case = want["case"].as_str().expect("case");
        if want.get("input").is_some() {
            continue; // the same input read with other data
        }
        let path = corpus().join(case);
        let tmp = tempfile::tempdir().expect("tmp");
        let list = tmp.path().join("objects.json");
        std::fs::write(
            &list,
            serde_json::to_string(&objects_of(&path)).expect("json"),
        )
        .expect("write");
        let loaded = kube_testserver::load::load(&[list]).expect("loads");
        if loaded.cluster.nodes().next().is_none() {
            continue;
        }
        let live = Live::start(Backend::Real, loaded.cluster);
        let a = live.run(&["check", "--now", TODAY, "-o", "json"]);
        let p = path.to_string_lossy().to_string();
        let (code, offline, err) = check(&[
            "check",
            "--snapshot",
            &p,
            "--apiserver-version",
            &version,
            "--now",
            TODAY,
            "-o",
            "json",
        ]);
        let (mut l, mut o) = (comparable(&a.stdout, &a.stderr), comparable(&offline, &err));
        // The real node lifecycle controller keeps the `node.kubernetes.io/*` taints from
        // conditions (not-ready, unreachable, unschedulable for a cordoned node, pressures)
        // at once; a capture may predate them (or come from 1.8, before they existed).
        for v in [&mut l, &mut o] {
            for n in v["nodes"].as_array_mut().into_iter().flatten() {
                if let Some(t) = n["taints"].as_array_mut() {
                    t.retain(|t| {
                        let t = t.as_str().unwrap_or("");
                        !t.starts_with("node.kubernetes.io/")
                    });
                }
            }
        }
        // The PDBs' status: the real disruption controller's against the capture's.
        let pdb_status_differs = l["findings"].as_array().map(|f| {
            f.iter()
                .filter(|x| x["section"] == "drain")
                .cloned()
                .collect::<Vec<_>>()
        }) != o["findings"].as_array().map(|f| {
            f.iter()
                .filter(|x| x["section"] == "drain")
                .cloned()
                .collect::<Vec<_>>()
        });
        if pdb_status_differs {
            for v in [&mut l, &mut o] {
                let kept: Vec<Value> = v["findings"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|f| f["section"] != "drain")
                    .collect();
                v["findings"] = Value::Array(kept);
                v["summary"] = Value::Null;
            }
            eprintln!("{case}: drain preview compared without the captured PDB status");
        } else {
            assert_eq!(a.code, code, "{case}: exit\n{}\n{err}", a.all());
        }
        for key in ["nodes", "nodeGroups", "plan", "findings", "apis"] {
            assert_eq!(l[key], o[key], "{case}: {key}");
        }
        assert_eq!(
            l["cluster"]["setup"], o["cluster"]["setup"],
            "{case}: setup"
        );
        compared.push(case.to_string());
    }
    eprintln!(
        "compared {} corpus cases on the real control plane: {compared:?}",
        compared.len()
    );
    assert!(compared.len() >= 15, "compared {compared:?}");
}

/// A fleet of two real clusters (a second kube-apiserver on the same etcd under another
/// prefix is a separate cluster): one row each, the worst exit code, the right versions.
#[test]
fn a_fleet_of_two_real_clusters() {
    let live = Live::start(Backend::Real, kubeadm());
    let plane = live.real().expect("real").plane;
    let other = PathBuf::from(plane.script(&[
        "apiserver",
        plane.dir.to_str().expect("utf8"),
        "--name",
        "other-cluster",
        "--etcd-prefix",
        "/other-cluster",
    ]));
    // Its own nodes: one worker far behind (a skew violation there, not here).
    plane.block_on(async {
        let client = backend::real::client_for(&other).await;
        let nodes: kube::api::Api<kube_testserver::k8s_openapi::api::core::v1::Node> =
            kube::api::Api::all(client);
        nodes
            .create(&Default::default(), &builders::node("edge-1", "v1.33.5"))
            .await
            .expect("node");
    });
    let first = std::fs::read_to_string(live.kubeconfig()).expect("kubeconfig");
    let second = std::fs::read_to_string(&other).expect("kubeconfig");
    let rename = |text: &str, name: &str| {
        text.replace("name: real\n", &format!("name: {name}\n"))
            .replace("cluster: real\n", &format!("cluster: {name}\n"))
            .replace("- name: real", &format!("- name: {name}"))
            .replace("current-context: real", &format!("current-context: {name}"))
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, rename(&first, "prod")).expect("write");
    std::fs::write(&b, rename(&second, "edge")).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .args(["check", "--all-contexts", "--now", TODAY, "-o", "json"])
        .env("KUBECONFIG", format!("{}:{}", a.display(), b.display()))
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    let j: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let rows = j["contexts"].as_array().expect("contexts");
    assert_eq!(rows.len(), 2, "{j}");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["context"] == name)
            .expect("row")
            .clone()
    };
    assert_eq!(row("edge")["report"]["cluster"]["nodeCount"], 1);
    assert_eq!(row("prod")["report"]["cluster"]["nodeCount"], 4);
    assert_eq!(
        row("edge")["exitCode"],
        2,
        "1.33 kubelet 4 minors behind: {}",
        row("edge")
    );
    assert_eq!(out.status.code(), Some(2), "the worst of the fleet");
}
