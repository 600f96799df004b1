//! The real-cluster corpus (`tests/corpus/`, sources in `tests/corpus/SOURCES.md`): `check`
//! reads every case, as a table and as JSON, and reaches the verdicts in
//! `tests/corpus/expected.json`, which were written from the data and the official policy.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn check(case: &str, today: &str, output: &str) -> (i32, String) {
    check_with(case, &[], today, output)
}

/// `check` on a corpus input with extra arguments (paths in them are corpus-relative).
fn check_with(input: &str, args: &[String], today: &str, output: &str) -> (i32, String) {
    let case = input;
    let args: Vec<String> = args
        .iter()
        .map(|a| match corpus().join(a) {
            p if p.exists() => p.display().to_string(),
            _ => a.clone(),
        })
        .collect();
    let out = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .args(["check", "--snapshot"])
        .arg(corpus().join(input))
        .args(&args)
        .args(["--now", today, "-o", output])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "{case} -o {output}: stderr {stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn every_case_reaches_its_expected_verdicts() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).unwrap())
            .unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for want in cases {
        let case = want["case"].as_str().unwrap();
        let input = want["input"].as_str().unwrap_or(case);
        let today = want["today"]
            .as_str()
            .or(expected["today"].as_str())
            .unwrap();
        let args: Vec<String> = want["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let (code, json) = check_with(input, &args, today, "json");
        let got: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            code,
            want["exitCode"].as_i64().unwrap() as i32,
            "{case}: exit"
        );
        assert_ne!(code, 64, "{case}: a real case is never a usage error");
        assert_eq!(
            got["cluster"]["setup"]["kind"], want["setup"],
            "{case}: setup"
        );
        assert_eq!(
            got["cluster"]["controlPlaneVersion"], want["controlPlaneVersion"],
            "{case}: control plane"
        );
        assert_eq!(got["cluster"]["nodeCount"], want["nodes"], "{case}: nodes");
        let findings = got["findings"].as_array().unwrap();
        let worst_support = findings
            .iter()
            .filter(|f| f["section"] == "support" && f["subject"] != "release data")
            .map(|f| f["severity"].as_str().unwrap())
            .max_by_key(|s| {
                ["ok", "info", "warn", "violation"]
                    .iter()
                    .position(|x| x == s)
            })
            .unwrap_or("none");
        assert_eq!(worst_support, want["support"], "{case}: support");
        if let Some(subject) = want["supportSubject"].as_str() {
            assert!(
                findings
                    .iter()
                    .any(|f| f["section"] == "support" && f["subject"] == subject),
                "{case}: no support finding about {subject}"
            );
        }
        let skew_violations = findings
            .iter()
            .filter(|f| f["section"] == "skew" && f["severity"] == "violation")
            .count();
        assert_eq!(
            skew_violations as u64,
            want["skewViolations"].as_u64().unwrap(),
            "{case}: skew"
        );
        let not_ready: Vec<&str> = got["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["ready"] == false)
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        let want_not_ready: Vec<&str> = want["notReady"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(not_ready, want_not_ready, "{case}: NotReady nodes");
        match &want["plan"] {
            Value::Null => assert!(got["plan"].is_null(), "{case}: plan {}", got["plan"]),
            p => {
                assert_eq!(got["plan"]["from"], p["from"], "{case}: plan from");
                assert_eq!(got["plan"]["to"], p["to"], "{case}: plan to");
                assert_eq!(
                    got["plan"]["hops"].as_array().unwrap().len() as u64,
                    p["hops"].as_u64().unwrap(),
                    "{case}: hops"
                );
            }
        }
        let steps: String = got["plan"]["hops"]
            .as_array()
            .map(|hops| {
                hops.iter()
                    .flat_map(|h| h["steps"].as_array().unwrap().iter())
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        for s in want["stepsContain"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap();
            assert!(steps.contains(s), "{case}: steps lack {s:?}");
        }
        for s in want["stepsNever"].as_array().into_iter().flatten() {
            let s = s.as_str().unwrap();
            assert!(!steps.contains(s), "{case}: steps contain {s:?}");
        }

        for f in want["findings"].as_array().into_iter().flatten() {
            assert!(
                findings.iter().any(|g| g["section"] == f["section"]
                    && g["severity"] == f["severity"]
                    && g["subject"] == f["subject"]
                    && g["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains(f["contains"].as_str().unwrap())),
                "{case}: no finding {f}"
            );
        }

        // The table says the same: same exit code, the setup and the verdict line.
        let (tcode, table) = check_with(input, &args, today, "table");
        assert_eq!(tcode, code, "{case}: table exit");
        let verdict = got["summary"]["line"].as_str().unwrap();
        assert!(table.contains(verdict), "{case}: table lacks {verdict:?}");
        let label = match want["setup"].as_str().unwrap() {
            "eks" => "EKS",
            "kind" => "kind",
            "kubeadm" => "kubeadm",
            "gke" => "GKE",
            "openshift" => "OpenShift/OKD",
            "microk8s" => "MicroK8s",
            "rke2" => "RKE2",
            "aks" => "AKS",
            "unknown" => "unknown / by hand",
            other => other,
        };
        assert!(table.contains(label), "{case}: table lacks setup {label}");
    }
}

/// Every case with a server version, loaded into the test server (`kube-testserver --load`'s
/// loader) and checked live over TLS, gives the offline report: same exit code, setup,
/// findings and plan. Proves the live reader and the dump reader agree on real data.
#[test]
fn every_case_replayed_live_gives_the_offline_report() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("expected.json")).unwrap())
            .unwrap();
    let today = expected["today"].as_str().unwrap();
    let mut replayed = 0;
    for want in expected["cases"].as_array().unwrap() {
        let case = want["case"].as_str().unwrap();
        if want.get("input").is_some() {
            continue; // the same input read with other data: replayed under its own case
        }
        let loaded = kube_testserver::load::load(&[corpus().join(case)]).unwrap();
        let Some(version) = loaded.git_version.clone() else {
            continue; // a live server always has a version: nothing to compare
        };
        if loaded.stored.contains_key("PodDisruptionBudget") && !loaded.stored.contains_key("Pod") {
            // PDBs without their pods: the server's disruption controller recounts the
            // budgets over no pods (as a real one would), so the live cluster is not the dump.
            continue;
        }
        let server = kube_testserver::TestServer::start_with(
            loaded.cluster,
            kube_testserver::Options {
                git_version: version,
                ..Default::default()
            },
        );
        let out = Command::cargo_bin("kubectl-upgrade")
            .unwrap()
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .args(["check", "--now", today, "-o", "json"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let mut live: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{case}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        // The connection's certificates (the test server's own CA) are not the dump's: a
        // dump has no connection (tests/certificates.rs checks them).
        if let Some(f) = live["findings"].as_array_mut() {
            f.retain(|f| {
                !(f["section"] == "cluster"
                    && f["subject"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(" certificate")))
            });
        }
        let (code, offline) = check(case, today, "json");
        let offline: Value = serde_json::from_str(&offline).unwrap();
        assert_eq!(out.status.code(), Some(code), "{case}: exit");
        for key in ["findings", "plan", "nodes"] {
            assert_eq!(live[key], offline[key], "{case}: {key}");
        }
        assert_eq!(
            live["cluster"]["setup"], offline["cluster"]["setup"],
            "{case}: setup"
        );
        replayed += 1;
    }
    assert!(replayed >= 3, "cases with a version: {replayed}");
}

/// A real Helm 3 release Secret (pluto's e2e asset, captured from a cluster; see SOURCES.md)
/// served with a real cluster's dump: `check --helm` decodes it the way Helm stores it and
/// finds the removed API its deployed revision renders. Expected from the deprecation guide:
/// extensions/v1beta1 Deployment removed in 1.16, before the cluster's 1.19: a warning.
#[test]
fn a_real_helm_release_secret_is_decoded() {
    let loaded = kube_testserver::load::load(&[
        corpus().join("sonobuoy-kubeadm-1.19-single"),
        corpus().join("helm3-release-secret"),
    ])
    .unwrap();
    assert_eq!(loaded.stored.get("Secret"), Some(&1));
    let server = kube_testserver::TestServer::start_with(
        loaded.cluster,
        kube_testserver::Options {
            git_version: loaded.git_version.clone().unwrap(),
            ..Default::default()
        },
    );
    let out = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .arg("--kubeconfig")
        .arg(server.kubeconfig())
        .args(["check", "--helm", "--now", "2026-12-03", "-o", "json"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let helm: Vec<&Value> = r["apis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["source"] == "helm:default/test")
        .collect();
    assert_eq!(helm.len(), 1, "{}", r["apis"]);
    assert_eq!(helm[0]["group"], "extensions");
    assert_eq!(helm[0]["version"], "v1beta1");
    assert_eq!(helm[0]["kind"], "Deployment");
    assert_eq!(helm[0]["removedIn"], "1.16");
    assert!(helm[0]["hop"].is_null());
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "extensions/v1beta1 Deployment")
        .expect("the finding");
    assert_eq!(f["severity"], "warn");
    assert!(f["message"].as_str().unwrap().contains("re-applying"));
}

/// The same real Secret given as a file and inside a dump: decoded as the live scan decodes
/// it (the revision that counts, its manifest's removed API, its chart), no cluster needed.
#[test]
fn a_real_helm_release_secret_given_as_a_file_or_in_a_dump() {
    let secret = corpus().join("helm3-release-secret/secret.json");
    let run = |args: &[&str]| -> Value {
        let out = Command::cargo_bin("kubectl-upgrade")
            .unwrap()
            .args(args)
            .args(["--now", "2026-12-03", "-o", "json"])
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let helm = |r: &Value| -> Vec<Value> {
        r["apis"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["source"] == "helm:default/test")
            .cloned()
            .collect()
    };
    // Manifests alone, planned from 1.15 to 1.16: the removal is that hop's.
    let r = run(&[
        "check",
        "--file",
        secret.to_str().unwrap(),
        "--apiserver-version",
        "v1.15.12",
        "--to",
        "v1.16",
    ]);
    let rows = helm(&r);
    assert_eq!(rows.len(), 1, "{}", r["apis"]);
    assert_eq!(
        (rows[0]["kind"].as_str(), rows[0]["hop"].as_str()),
        (Some("Deployment"), Some("1.15 -> 1.16"))
    );
    // Inside a dump, beside a real cluster's objects (sonobuoy, 1.19): already removed.
    let r = run(&[
        "check",
        "--snapshot",
        corpus()
            .join("sonobuoy-kubeadm-1.19-single")
            .to_str()
            .unwrap(),
        "--snapshot",
        secret.to_str().unwrap(),
    ]);
    let rows = helm(&r);
    assert_eq!(rows.len(), 1, "{}", r["apis"]);
    assert_eq!(rows[0]["status"], "alreadyRemoved");
}

/// Real `policy/v1beta1` PodDisruptionBudgets (captured by OpenShift's Insights Operator, see
/// SOURCES.md) are read as budgets with their numbers, not rejected or dropped: a string
/// percentage and an integer `maxUnavailable`, and the disruption controller's status. The
/// expected numbers are the objects' own.
#[test]
fn real_policy_v1beta1_pdbs_are_read() {
    use kubectl_upgrade::facts::pdb::{Budget, IntOrPercent};
    let cases = [
        (
            "openshift-ingress-router-default-pdb-v1beta1.json",
            "openshift-ingress/router-default",
            IntOrPercent::Percent(50),
            (2, 1, 2, 1),
            (
                "ingresscontroller.operator.openshift.io/deployment-ingresscontroller",
                "default",
            ),
        ),
        (
            "openshift-etcd-quorum-guard-pdb-v1beta1.json",
            "openshift-machine-config-operator/etcd-quorum-guard",
            IntOrPercent::Int(1),
            (3, 2, 3, 1),
            ("k8s-app", "etcd-quorum-guard"),
        ),
    ];
    for (file, key, max_unavailable, (healthy, desired, expected, allowed), (k, v)) in cases {
        let path = corpus().join("objects").join(file);
        let text = std::fs::read(&path).expect("corpus object");
        let inv = kubectl_upgrade::inventory::ingest::read(&text[..], file)
            .expect("a v1beta1 PDB reads")
            .finish();
        assert_eq!(inv.pdbs.len(), 1, "{file}");
        let p = &inv.pdbs[0];
        assert_eq!(p.key(), key);
        assert_eq!(p.max_unavailable, Some(max_unavailable), "{file}");
        assert_eq!(p.min_available, None);
        assert!(
            p.observed,
            "{file}: status observed (observedGeneration = generation)"
        );
        assert_eq!(
            (
                p.current_healthy,
                p.desired_healthy,
                p.expected_pods,
                p.disruptions_allowed
            ),
            (healthy, desired, expected, allowed),
            "{file}"
        );
        assert_eq!(p.budget(), Budget::Allows(1), "{file}");
        assert!(p.never_allows().is_none(), "{file}");
        let labels = [(k.to_string(), v.to_string())].into();
        assert!(p.selects(&p.namespace, &labels), "{file}: its selector");
        assert!(
            !p.selects(&p.namespace, &Default::default()),
            "{file}: not every pod"
        );
    }
}
