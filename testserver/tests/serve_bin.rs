//! The `kube-testserver` binary replays a real cluster's dump (`--load`): kubeconfig path on
//! the first stdout line, URL on the second, what it could not store on stderr.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube_testserver::k8s_openapi;

#[tokio::test]
async fn load_replays_a_real_dump_over_tls() {
    // tests/corpus/sonobuoy-kind-1.20: a sonobuoy run on kind (see tests/corpus/SOURCES.md).
    let dump = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/corpus/sonobuoy-kind-1.20"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
        .args(["--load", dump])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let kubeconfig = lines.next().expect("line 1").expect("read");
    let url = lines.next().expect("line 2").expect("read");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(cfg).expect("client");
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.git_version, "v1.20.0");
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await
        .expect("nodes");
    let mut names: Vec<String> = nodes
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["kind-control-plane", "kind-worker", "kind-worker2"]);

    child.kill().expect("kill");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    let _ = child.wait();
    assert!(err.contains("loaded 3 Node"), "{err}");
}

#[test]
fn bad_arguments_exit_64() {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
        .args(["--load", "/nonexistent/dump"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dump"));
}
