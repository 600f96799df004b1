//! Certificates' days left, from a real TLS handshake: the API server's serving certificate
//! and the kubeconfig's client certificate, on the test server (its own CA issues both, valid
//! until 2099-01-01) and on the real control plane (certificates made by its script: the
//! report's dates must be the files'). `--now` moves the day the verdicts are for: 12 days
//! before the end is a warning, after it a violation.

mod backend;

use kube_testserver::{builders, Cluster, Credential, Options, TestServer};
use serde_json::Value;
use std::path::Path;

fn check(kubeconfig: &Path, now: &str) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["check", "-o", "json", "--now", now])
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("runs");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// (subject, severity, message) of the certificate findings.
fn certs(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["subject"]
                .as_str()
                .is_some_and(|s| s.ends_with("certificate"))
        })
        .map(|f| {
            (
                f["subject"].as_str().unwrap_or_default().to_string(),
                f["severity"].as_str().unwrap_or_default().to_string(),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn serving_and_client_certificates_on_the_test_server() {
    let mut c = Cluster::new();
    c.add_node(builders::node("w-1", "v1.33.2"));
    let server = TestServer::start_with(
        c,
        Options {
            credential: Credential::ClientCert,
            ..Default::default()
        },
    );
    let got = certs(&check(server.kubeconfig(), "2026-12-06"));
    let subjects: Vec<(&str, &str)> = got.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect();
    assert_eq!(
        subjects,
        [
            ("apiserver serving certificate", "info"),
            ("kubeconfig client certificate", "info")
        ],
        "{got:#?}"
    );
    assert!(
        got.iter()
            .all(|c| c.2.contains("valid until 2099-01-01T00:00:00Z")),
        "{got:#?}"
    );
    let soon = certs(&check(server.kubeconfig(), "2098-12-20"));
    assert!(
        soon.iter()
            .all(|c| c.1 == "warn" && c.2.contains("in 12 day(s)")),
        "{soon:#?}"
    );
}

#[test]
fn the_real_control_plane_serving_certificate() {
    let plane = backend::real::plane();
    let file = std::fs::read(plane.dir.join("pki/apiserver.crt")).expect("apiserver.crt");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&file).expect("PEM");
    let cert = pem.parse_x509().expect("certificate");
    let not_after = jiff::Timestamp::from_second(cert.validity().not_after.timestamp())
        .expect("time")
        .to_string();
    let got = certs(&check(&plane.kubeconfig, "2026-12-06"));
    let serving = got
        .iter()
        .find(|c| c.0 == "apiserver serving certificate")
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert!(
        serving.2.contains(&not_after),
        "the file says {not_after}: {serving:?}"
    );
    assert!(
        got.iter().any(|c| c.0 == "kubeconfig client certificate"),
        "the admin kubeconfig's client certificate: {got:#?}"
    );
}
