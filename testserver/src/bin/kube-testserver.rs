//! Serves a simulated cluster until killed, for poking at it with kubectl or curl, or for
//! replaying a real cluster's dump:
//!
//! ```text
//! cargo run -p kube-testserver -- [--load PATH]... [--http] [--credential KIND] [NODES PODS]
//! ```
//!
//! Prints the kubeconfig path on its first stdout line and the URL on its second; objects it
//! cannot store go to stderr. Without `--load` it serves a small demo (or `big_cluster`).

use std::path::PathBuf;

use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{builders, Cluster, Credential, Options, TestServer};

const USAGE: &str = "usage: kube-testserver [--load PATH]... [--http] [--credential client-cert|token|exec|insecure] [--version vX.Y.Z] [NODES PODS]";

fn main() {
    let mut loads: Vec<PathBuf> = Vec::new();
    let mut opts = Options::default();
    let mut version: Option<String> = None;
    let mut sizes: Vec<usize> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--load" => match args.next() {
                Some(p) => loads.push(PathBuf::from(p)),
                None => fail("--load needs a PATH"),
            },
            "--http" => opts.tls = false,
            "--credential" => {
                opts.credential = match args.next().as_deref() {
                    Some("client-cert") => Credential::ClientCert,
                    Some("token") => Credential::Token,
                    Some("exec") => Credential::Exec,
                    Some("insecure") => Credential::Insecure,
                    _ => fail("--credential takes client-cert, token, exec or insecure"),
                }
            }
            "--version" => version = args.next(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => match other.parse() {
                Ok(n) => sizes.push(n),
                Err(_) => fail(&format!("unknown argument {other:?}")),
            },
        }
    }
    let cluster = if !loads.is_empty() {
        let loaded = kube_testserver::load::load(&loads).unwrap_or_else(|e| fail(&e));
        for s in &loaded.skipped {
            eprintln!("kube-testserver: {s}");
        }
        let stored: Vec<String> = loaded
            .stored
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        eprintln!("kube-testserver: loaded {}", stored.join(", "));
        if let Some(v) = loaded.git_version.clone() {
            opts.git_version = v;
        }
        loaded.cluster
    } else {
        match sizes.as_slice() {
            [nodes, pods] => builders::big_cluster(*nodes, *pods),
            [] => demo(),
            _ => fail(USAGE),
        }
    };
    if let Some(v) = version {
        opts.git_version = v;
    }
    let server = TestServer::start_with(cluster, opts);
    println!("{}", server.kubeconfig().display());
    println!("{}", server.url());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("kube-testserver: {msg}");
    std::process::exit(64);
}

fn demo() -> Cluster {
    let mut c = Cluster::new();
    c.add_configmap(builders::kubeadm_config("v1.33.2"));
    c.add_node(builders::control_plane_node("cp-0", "v1.33.2"));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp-0",
        "registry.k8s.io/kube-apiserver:v1.33.2",
    ));
    for n in ["worker-1", "worker-2", "worker-3"] {
        c.add_node(builders::node(n, "v1.33.2"));
        c.add_pod(
            builders::pod("kube-system", &format!("kube-proxy-{n}"), n)
                .owner("DaemonSet", "kube-proxy")
                .labels(&[("k8s-app", "kube-proxy")])
                .build(),
        );
    }
    for i in 0..3 {
        c.add_pod(
            builders::pod("default", &format!("web-{i}"), &format!("worker-{}", i + 1))
                .owner("ReplicaSet", "web-5d8f7c9b4")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c.add_pdb(builders::pdb_min_available(
        "default",
        "web",
        &[("app", "web")],
        IntOrString::Int(2),
    ));
    c
}
