//! `check -o sarif` and `-o junit`: CI evidence. The SARIF log is validated against the
//! OASIS SARIF 2.1.0 schema (tests/sarif/, source there) and against the report it renders
//! (one rule per policy, one result per finding, file locations for `--file` manifests); the
//! JUnit XML is read back by a JUnit parser (the `junit-parser` crate, as CI report tools
//! read it): a failure per violation, a test case per finding.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("runs")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sarif/sarif-schema-2.1.0.json"),
    )
    .expect("schema");
    let mut schema: Value = serde_json::from_str(&text).expect("schema JSON");
    // The one pattern of the OASIS file that is not a regular expression Rust's engine takes
    // (an unbalanced `]` after `{2}`, in `run.language` and `toolComponent.language`):
    // replaced, in memory only, by what it means (a language tag like `en` or `en-US`); we
    // never write `language` (tests/sarif/SOURCE.md).
    fn fix(v: &mut Value, n: &mut usize) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "pattern" && x == "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$" {
                        *x = Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
                        *n += 1;
                    } else {
                        fix(x, n);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| fix(x, n)),
            _ => {}
        }
    }
    let mut fixed = 0;
    fix(&mut schema, &mut fixed);
    assert_eq!(fixed, 2, "the file as shipped");
    jsonschema::validator_for(&schema).expect("a valid schema")
}

fn assert_valid(log: &Value) {
    let v = schema();
    let errors: Vec<String> = v
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF 2.1.0 schema: {errors:#?}");
}

/// The findings and file rows a SARIF log must hold, from the JSON report of the same input.
fn assert_matches_report(log: &Value, report: &Value) {
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    let mut ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "rule ids are unique");
    for r in results {
        let i = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            rules[i]["id"], r["ruleId"],
            "ruleIndex points at its rule: {r}"
        );
    }
    let findings = report["findings"].as_array().expect("findings");
    let files = report["apis"]
        .as_array()
        .expect("apis")
        .iter()
        .filter(|a| a["source"].as_str().is_some_and(|s| s.starts_with("file:")))
        .count();
    assert_eq!(
        results.len(),
        findings.len() + files,
        "one result per finding and file use"
    );
    let errors = results.iter().filter(|r| r["level"] == "error").count();
    let violations = findings
        .iter()
        .filter(|f| f["severity"] == "violation")
        .count();
    assert!(errors >= violations, "every violation is an error");
    assert_eq!(
        run["invocations"][0]["exitCode"], report["summary"]["exitCode"],
        "the exit code CI sees"
    );
}

#[test]
fn sarif_of_a_cluster_snapshot_is_valid_and_complete() {
    for example in [
        "examples/kubeadm-mid-upgrade.json",
        "examples/eks-managed.json",
    ] {
        let args = ["check", "--snapshot", example, "--now", "2026-12-06"];
        let sarif = run(&[&args[..], &["-o", "sarif"]].concat());
        let report = run(&[&args[..], &["-o", "json"]].concat());
        assert_eq!(
            sarif.status.code(),
            report.status.code(),
            "{example}: same exit code"
        );
        let log = json(&sarif);
        assert_valid(&log);
        assert_matches_report(&log, &json(&report));
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            rules.iter().any(|r| r["helpUri"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://kubernetes.io/"))),
            "{example}: rules cite their source"
        );
    }
}

#[test]
fn sarif_locates_removed_apis_in_manifest_files() {
    let args = ["check", "--file", "examples/manifests", "--to", "v1.33"];
    let sarif = run(&[&args[..], &["-o", "sarif"]].concat());
    assert_eq!(
        sarif.status.code(),
        Some(2),
        "violations: exit 2 for CI to fail on"
    );
    let log = json(&sarif);
    assert_valid(&log);
    assert_matches_report(&log, &json(&run(&[&args[..], &["-o", "json"]].concat())));
    let located: Vec<(String, String)> = log["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str()?;
            Some((uri.to_string(), r["level"].as_str()?.to_string()))
        })
        .collect();
    assert_eq!(
        located,
        [
            (
                "examples/manifests/flowschema.yaml".to_string(),
                "error".to_string()
            ),
            (
                "examples/manifests/ingress.yaml".to_string(),
                "error".to_string()
            )
        ],
        "each removed API where it is, nothing for apps/v1"
    );
}

/// A removed flag or gate found in a file given with `--file` is located in that file.
#[test]
fn sarif_locates_removed_flags_and_gates_in_their_files() {
    let args = [
        "check",
        "--file",
        "tests/config/kube-apiserver-1.23.yaml",
        "--file",
        "tests/config/kubeadm-1.23.yaml",
        "--to",
        "v1.24",
    ];
    let sarif = run(&[&args[..], &["-o", "sarif"]].concat());
    let log = json(&sarif);
    assert_valid(&log);
    assert_matches_report(&log, &json(&run(&[&args[..], &["-o", "json"]].concat())));
    let flag: Vec<&Value> = log["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["message"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("kube-apiserver flag --insecure-port"))
        })
        .collect();
    assert_eq!(flag.len(), 1, "{flag:#?}");
    assert_eq!(flag[0]["level"], "error");
    let mut uris: Vec<&str> = flag[0]["locations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    uris.sort();
    assert_eq!(
        uris,
        [
            "tests/config/kube-apiserver-1.23.yaml",
            "tests/config/kubeadm-1.23.yaml"
        ],
        "{flag:#?}"
    );
}

#[test]
fn junit_is_read_back_by_a_junit_parser() {
    let args = ["check", "--file", "examples/manifests", "--to", "v1.33"];
    let out = run(&[&args[..], &["-o", "junit"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let suites = junit_parser::from_reader(std::io::Cursor::new(out.stdout)).expect("JUnit XML");
    let report = json(&run(&[&args[..], &["-o", "json"]].concat()));
    let findings = report["findings"].as_array().expect("findings");
    let cases: u64 = suites.suites.iter().map(|s| s.tests).sum();
    let failures: u64 = suites.suites.iter().map(|s| s.failures).sum();
    assert_eq!(cases as usize, findings.len(), "a test case per finding");
    assert_eq!(
        failures as usize,
        findings
            .iter()
            .filter(|f| f["severity"] == "violation")
            .count(),
        "a failure per violation"
    );
    let failed: Vec<&str> = suites
        .suites
        .iter()
        .flat_map(|s| s.cases.iter())
        .filter(|c| c.status.is_failure())
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failed.len() == 2 && failed.iter().all(|n| n.contains("hop ")),
        "{failed:?}"
    );
    // A cluster snapshot: a suite per section with findings.
    let out = run(&[
        "check",
        "--snapshot",
        "examples/healthy.json",
        "--now",
        "2026-12-06",
        "-o",
        "junit",
    ]);
    let suites = junit_parser::from_reader(std::io::Cursor::new(out.stdout)).expect("JUnit XML");
    assert!(
        suites
            .suites
            .iter()
            .any(|s| s.name == "kubectl-upgrade.skew"),
        "{:?}",
        suites.suites.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}

#[test]
fn sarif_and_junit_are_for_check_only() {
    for args in [
        &["drain", "w-1", "-o", "sarif"][..],
        &["status", "-o", "junit"],
        &["snapshot", "-o", "sarif"],
        &["check", "--all-contexts", "-o", "sarif"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("-o sarif and -o junit are formats of one `check` report"),
            "{args:?}: {err}"
        );
    }
}
