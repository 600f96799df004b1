//! The product over TLS with every credential kind real kubeconfigs carry, and the one-line
//! error (exit 3) for each way a first connection fails: untrusted CA, expired or not yet
//! valid serving certificate, 401 (bad token, expired client certificate), exec plugin missing
//! or failing, HTTPS against a plain server and the reverse. Also what a loaded real server
//! does to reads: 429 with Retry-After from priority and fairness, ridden out.

use assert_cmd::Command;
use kube_testserver::{
    builders, Cluster, Credential, KubeUser, KubeconfigSpec, Options, TestServer, Trust, Validity,
};
use std::path::Path;

fn cluster() -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", "v1.33.2"));
    c.add_node(builders::node("w-1", "v1.33.2"));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp-1",
        "registry.k8s.io/kube-apiserver:v1.33.2",
    ));
    c.add_configmap(builders::kubeadm_config("v1.33.2"));
    c
}

fn run(kubeconfig: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("kubectl-upgrade")
        .expect("binary")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["check", "--now", "2026-12-03", "--request-timeout", "10s"])
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A check that reached the cluster: exit 0/1/2 and the server's version in the report.
fn assert_checked(code: i32, out: &str, err: &str) {
    assert!((0..=2).contains(&code), "exit {code}: {err}");
    assert!(out.contains("v1.33.2"), "{out}");
}

/// A failed first contact: exit 3, one line on stderr holding every `needle`.
fn assert_refused(code: i32, out: &str, err: &str, needles: &[&str]) {
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
}

#[test]
fn every_credential_kind_works_over_tls() {
    for credential in [
        Credential::ClientCert,
        Credential::Token,
        Credential::Exec,
        Credential::Insecure,
    ] {
        let server = TestServer::start_with(
            cluster(),
            Options {
                credential,
                ..Default::default()
            },
        );
        assert!(server.url().starts_with("https://"));
        let (code, out, err) = run(server.kubeconfig(), &[]);
        assert_checked(code, &out, &err);
        assert_eq!(
            server.count("unauthorized", "/version"),
            0,
            "{credential:?}"
        );
    }
}

#[test]
fn untrusted_ca_names_the_ca_and_the_ways_out() {
    let server = TestServer::start(cluster());
    let kc = server.write_kubeconfig(
        "other-ca",
        &KubeconfigSpec {
            trust: Trust::OtherCa,
            ..server.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(
        code,
        &out,
        &err,
        &[
            "is not signed by the CA the kubeconfig trusts",
            "certificate-authority-data of cluster 'test'",
            "--insecure-skip-tls-verify",
        ],
    );
    // The flag is the way out for a throwaway cluster, and it works.
    let (code, out, err) = run(&kc, &["--insecure-skip-tls-verify"]);
    assert_checked(code, &out, &err);
}

#[test]
fn expired_and_not_yet_valid_serving_certificates() {
    for (validity, needle) in [
        (Validity::Expired, "has expired"),
        (Validity::NotYetValid, "is not valid yet"),
    ] {
        let server = TestServer::start_with(
            cluster(),
            Options {
                serving_cert: validity,
                credential: Credential::Token,
                ..Default::default()
            },
        );
        let (code, out, err) = run(server.kubeconfig(), &[]);
        assert_refused(code, &out, &err, &[needle, &server.url()]);
    }
}

#[test]
fn rejected_credentials_are_401_naming_user_and_context() {
    let server = TestServer::start(cluster());
    let kc = server.write_kubeconfig(
        "bad-token",
        &KubeconfigSpec {
            context: "prod-eu".into(),
            user_name: Some("ci-bot".into()),
            user: KubeUser::Token("revoked".into()),
            ..server.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(
        code,
        &out,
        &err,
        &[
            "rejected the credentials of user 'ci-bot' of context 'prod-eu' (401)",
            "token is invalid or expired",
        ],
    );
    assert_eq!(server.count("unauthorized", "/version"), 1);

    let kc = server.write_kubeconfig(
        "old-cert",
        &KubeconfigSpec {
            user: KubeUser::ClientCert {
                name: "kubernetes-admin".into(),
                validity: Validity::Expired,
            },
            user_name: Some("kubernetes-admin".into()),
            ..server.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(
        code,
        &out,
        &err,
        &[
            "user 'kubernetes-admin' of context 'test' (401)",
            "client certificate is expired",
            "kubeadm certs renew",
        ],
    );
}

#[test]
fn exec_plugin_missing_or_failing() {
    let server = TestServer::start(cluster());
    let kc = server.write_kubeconfig(
        "missing-exec",
        &KubeconfigSpec {
            user: KubeUser::Exec {
                command: "gke-gcloud-auth-plugin-not-installed".into(),
                args: vec![],
            },
            ..server.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(
        code,
        &out,
        &err,
        &[
            "exec credential plugin 'gke-gcloud-auth-plugin-not-installed'",
            "not found",
            "PATH",
        ],
    );

    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("aws");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'Error loading SSO Token: Token for profile prod does not exist' >&2\necho 'second line' >&2\nexit 255\n",
    )
    .expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let kc = server.write_kubeconfig(
        "failing-exec",
        &KubeconfigSpec {
            user: KubeUser::Exec {
                command: script.display().to_string(),
                args: vec!["eks".into(), "get-token".into()],
            },
            ..server.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(
        code,
        &out,
        &err,
        &[
            "failed (exit 255)",
            "Error loading SSO Token: Token for profile prod does not exist",
        ],
    );
    assert!(!err.contains("second line"), "{err}");
}

#[test]
fn https_against_a_plain_server_and_http_against_tls() {
    let plain = TestServer::start_with(
        cluster(),
        Options {
            tls: false,
            credential: Credential::Token,
            ..Default::default()
        },
    );
    assert!(plain.url().starts_with("http://"));
    let kc = plain.write_kubeconfig(
        "https-to-plain",
        &KubeconfigSpec {
            scheme: Some("https".into()),
            trust: Trust::InsecureSkipVerify,
            ..plain.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(code, &out, &err, &["does not speak TLS", "check the port"]);
    // The plain server itself works as before.
    let (code, out, err) = run(plain.kubeconfig(), &[]);
    assert_checked(code, &out, &err);

    let tls = TestServer::start(cluster());
    let kc = tls.write_kubeconfig(
        "http-to-tls",
        &KubeconfigSpec {
            scheme: Some("http".into()),
            ..tls.spec()
        },
    );
    let (code, out, err) = run(&kc, &[]);
    assert_refused(code, &out, &err, &["https://"]);
}

#[test]
fn priority_and_fairness_429_on_reads_is_ridden_out() {
    let server = TestServer::start(cluster());
    server.throttle_next_reads(3, 1);
    let started = std::time::Instant::now();
    let (code, out, err) = run(server.kubeconfig(), &[]);
    assert_checked(code, &out, &err);
    // The three throttled reads were retried (after Retry-After), not reported as errors.
    let reads: u64 = server
        .counters()
        .iter()
        .filter(|((v, _), _)| v == "list" || v == "get")
        .map(|(_, n)| n)
        .sum();
    assert!(reads >= 3 + 4, "reads {reads}: {:?}", server.counters());
    assert!(started.elapsed().as_secs_f64() < 15.0);
}

#[test]
fn anonymous_requests_see_only_public_info() {
    let server = TestServer::start(cluster());
    let kc = server.write_kubeconfig(
        "anonymous",
        &KubeconfigSpec {
            user: KubeUser::Anonymous,
            user_name: Some("nobody".into()),
            ..server.spec()
        },
    );
    // /version is open to system:anonymous, the lists are not: a forbidden list, exit 3.
    let (code, out, err) = run(&kc, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("forbidden"), "{err}");
    assert!(err.contains("system:anonymous"), "{err}");
}
