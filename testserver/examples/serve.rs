//! Serves a small demo cluster until killed, for poking at the server with kubectl or curl:
//! `cargo run -p kube-testserver --example serve [NODES PODS]`, then use the printed kubeconfig.

use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{builders, Cluster, TestServer};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let cluster = match args.as_slice() {
        [nodes, pods] => builders::big_cluster(*nodes, *pods),
        _ => {
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
    };
    let server = TestServer::start(cluster);
    println!("{}", server.kubeconfig().display());
    println!("{}", server.url());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
