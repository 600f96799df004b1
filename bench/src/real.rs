//! The benchmarks on the real control plane (kube-apiserver, controller-manager, scheduler,
//! etcd and kwok from `scripts/real-control-plane.sh`), each printed beside its test-server
//! figure by the same `upgrade-bench real` run.

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::Client;
use kube_testserver::real::{self, Plane};
use kube_testserver::{builders, Cluster};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// An object as a client creates it: no uid, resourceVersion or creation time.
fn fresh<K: kube::Resource>(mut k: K) -> K {
    let m = k.meta_mut();
    m.uid = None;
    m.resource_version = None;
    m.creation_timestamp = None;
    m.generation = None;
    k
}

/// Create every object through `api`, 64 requests in flight.
async fn create_all<K>(api: Api<K>, objects: Vec<K>) -> Result<usize>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + 'static,
{
    create_each(objects, "an object", |_| api.clone()).await
}

/// Create every object through the API `api_for` gives it (a namespaced object's own
/// namespace), 64 requests in flight; `what` names them in an error.
async fn create_each<K>(
    objects: Vec<K>,
    what: &str,
    api_for: impl Fn(&K) -> Api<K>,
) -> Result<usize>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + 'static,
{
    let n = objects.len();
    let results: Vec<Result<K, kube::Error>> =
        futures::stream::iter(objects.into_iter().map(|o| {
            let api = api_for(&o);
            async move { api.create(&PostParams::default(), &o).await }
        }))
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        r.with_context(|| format!("creating {what}"))?;
    }
    Ok(n)
}

/// The namespace an object is created in.
fn ns_of<K: kube::Resource>(o: &K) -> String {
    o.meta()
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

/// Objects of the scanned kinds, valid for a real API server (two field managers each; one in
/// ten last applied through a removed version, as in the test-server benchmark).
fn scanned_objects(count: usize) -> Vec<(kube::api::ApiResource, bool, Value)> {
    let kinds: [(&str, &str, &str, bool, Value); 5] = [
        (
            "apps/v1",
            "deployments",
            "Deployment",
            true,
            json!({"selector": {"matchLabels": {"a": "b"}}, "replicas": 0,
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}),
        ),
        (
            "networking.k8s.io/v1",
            "ingresses",
            "Ingress",
            true,
            json!({"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}),
        ),
        (
            "batch/v1",
            "cronjobs",
            "CronJob",
            true,
            json!({"schedule": "0 0 * * *", "suspend": true, "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}}),
        ),
        (
            "autoscaling/v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}, "maxReplicas": 3}),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "roles",
            "Role",
            true,
            Value::Null,
        ),
    ];
    (0..count)
        .map(|i| {
            let (api, plural, kind, namespaced, spec) = kinds[i % kinds.len()].clone();
            let (g, v) = api.split_once('/').unwrap_or(("", api));
            let ar = kube::api::ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk(g, v, kind),
                plural,
            );
            let old = if i % 10 == 0 { "extensions/v1beta1" } else { api };
            let mut obj = json!({"apiVersion": api, "kind": kind, "metadata": {
                "name": format!("{}-{i}", kind.to_lowercase()),
                "namespace": format!("ns-{}", i % 50),
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                    format!("{{\"apiVersion\":\"{old}\",\"kind\":\"{kind}\",\"metadata\":{{}}}}")}}});
            if kind == "Role" {
                obj["rules"] = json!([]);
            } else {
                obj["spec"] = spec;
            }
            (ar, namespaced, obj)
        })
        .collect()
}

/// Load a big cluster straight into a plane whose controller-manager runs only the
/// disruption, namespace and service-account controllers: nodes with their status, pods
/// bound to them (owner references kept: no garbage collector or ReplicaSet controller acts
/// on them), PDBs, kubeadm-config, objects of the scanned kinds and Helm release Secrets.
async fn load_big(client: &Client, c: &Cluster, objects: usize, releases: usize) -> Result<()> {
    let mut namespaces: std::collections::BTreeSet<String> = c
        .pods()
        .filter_map(|p| p.metadata.namespace.clone())
        .collect();
    namespaces.extend((0..50).map(|i| format!("team-{i:02}")));
    // The scanned objects' and Helm releases' namespaces (as the test-server benchmark's).
    namespaces.extend((0..50).map(|i| format!("ns-{i}")));
    let ns: Vec<Namespace> = namespaces
        .iter()
        .filter(|n| !["default", "kube-system"].contains(&n.as_str()))
        .map(|n| serde_json::from_value(json!({"metadata": {"name": n}})).expect("namespace"))
        .collect();
    create_all(Api::<Namespace>::all(client.clone()), ns).await?;
    let nodes: Vec<Node> = c.nodes().cloned().map(fresh).collect();
    create_all(Api::<Node>::all(client.clone()), nodes).await?;
    let pdbs: Vec<PodDisruptionBudget> = c
        .pdbs()
        .map(|p| {
            fresh(PodDisruptionBudget {
                status: None,
                ..p.clone()
            })
        })
        .collect();
    create_each(pdbs, "a pdb", |p| {
        Api::namespaced(client.clone(), &ns_of(p))
    })
    .await?;
    for cm in c.configmaps() {
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(client.clone(), "kube-system");
        let _ = api.create(&PostParams::default(), &fresh(cm.clone())).await;
    }
    // By kind: a DynamicObject's API needs its ApiResource.
    let mut scanned: std::collections::BTreeMap<
        String,
        (kube::api::ApiResource, Vec<DynamicObject>),
    > = Default::default();
    for (ar, _, obj) in scanned_objects(objects) {
        let o: DynamicObject = serde_json::from_value(obj).context("scanned object")?;
        scanned
            .entry(ar.plural.clone())
            .or_insert_with(|| (ar, vec![]))
            .1
            .push(o);
    }
    for (ar, objects) in scanned.into_values() {
        create_each(objects, "a scanned object", |o| {
            Api::namespaced_with(client.clone(), &ns_of(o), &ar)
        })
        .await?;
    }
    let mut sim = Cluster::new();
    crate::add_api_objects(&mut sim, 0, releases)?;
    let secrets: Vec<Secret> = sim
        .objects("v1", "secrets")
        .into_iter()
        .map(|v| fresh(serde_json::from_value::<Secret>(v).expect("secret")))
        .collect();
    create_each(secrets, "a secret", |s| {
        Api::namespaced(client.clone(), &ns_of(s))
    })
    .await?;
    let pods: Vec<Pod> = c
        .pods()
        .map(|p| {
            fresh(Pod {
                status: None,
                ..p.clone()
            })
        })
        .collect();
    let started = Instant::now();
    let total = pods.len();
    create_each(pods, "a pod", |p| {
        Api::namespaced(client.clone(), &ns_of(p))
    })
    .await?;
    println!("  (real) loaded {total} pods in {:.1?}", started.elapsed());
    Ok(())
}

/// check against the paging floor on a real API server: the same lists, same client.
pub fn check(launcher: &mut crate::Launcher, nodes: usize, pods: usize, runs: usize) -> Result<()> {
    let plugin = crate::sibling("kubectl-upgrade")?
        .to_string_lossy()
        .into_owned();
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let plane = real::start_custom(
        None,
        &[],
        Some("disruption-controller,serviceaccount-controller,namespace-controller"),
    );
    let c = builders::big_cluster(nodes, pods);
    let t = Instant::now();
    plane.block_on(load_big(&plane.client, &c, 20_000, 500))?;
    println!("  (real) cluster loaded in {:.1?}", t.elapsed());
    let kubeconfig = plane.kubeconfig.to_string_lossy().into_owned();
    let (mut fw, mut cw, mut frss, mut crss) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..runs {
        let f = launcher.run(&[me.clone(), "floor".into(), kubeconfig.clone()])?;
        if f.code != 0 {
            bail!("floor failed on the real server: exit {}", f.code);
        }
        fw.push(f.wall);
        frss = frss.max(f.max_rss_kb);
        let r = launcher
            .report(&plugin, &["check", "--helm"], &kubeconfig)
            .context("on the real server")?;
        println!(
            "  (real) check run: {:.2?}, peak RSS {} MB",
            r.wall,
            r.max_rss_kb / 1024
        );
        cw.push(r.wall);
        crss = crss.max(r.max_rss_kb);
    }
    let (f, c) = (crate::median(fw), crate::median(cw));
    println!(
        "  (real) floor: {f:.2?}, peak RSS {} MB; check: {c:.2?}, peak RSS {} MB",
        frss / 1024,
        crss / 1024
    );
    println!(
        "  (real) ratio check/floor: {:.2}x (target <= 1.5x); peak RSS {} MB (target <= 150 MB)",
        c.as_secs_f64() / f.as_secs_f64(),
        crss / 1024
    );
    plane.script(&["down", plane.dir.to_str().unwrap_or_default()]);
    Ok(())
}

fn violations(s: &real::Session) -> u64 {
    s.violations.load(std::sync::atomic::Ordering::SeqCst)
}

fn pods_left(plane: &Plane, node: &str) -> usize {
    plane
        .block_on(
            Api::<Pod>::all(plane.client.clone())
                .list(&ListParams::default().fields(&format!("spec.nodeName={node}"))),
        )
        .map(|l| {
            l.items
                .iter()
                .filter(|p| {
                    !p.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.kind == "DaemonSet")
                })
                .count()
        })
        .unwrap_or(usize::MAX)
}

/// Our drain against kubectl's (the same release, built with the control plane) on twin
/// real clusters, one after the other.
pub fn drain(pods: usize) -> Result<()> {
    let plugin = crate::sibling("kubectl-upgrade")?;
    let args = [
        "drain",
        "target",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout",
        "300s",
    ];
    let ours = {
        let s = real::Session::begin(&crate::drain_cluster(pods), None);
        let run = crate::measure(
            Command::new(&plugin)
                .args(args)
                .arg("--kubeconfig")
                .arg(&s.plane.kubeconfig),
        )?;
        println!(
            "  (real) kubectl-upgrade drain: {:.2?}, exit {}, PDB violations {}, pods left {}",
            run.wall,
            run.code,
            violations(&s),
            pods_left(s.plane, "target")
        );
        run
    };
    let s = real::Session::begin(&crate::drain_cluster(pods), None);
    let kubectl = s.plane.bin.join(&s.plane.version).join("kubectl");
    let theirs = crate::measure(
        Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&s.plane.kubeconfig)
            .args([
                "drain",
                "target",
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--timeout=300s",
            ]),
    )?;
    println!(
        "  (real) kubectl drain ({}): {:.2?}, exit {}, PDB violations {}, pods left {}",
        s.plane.version,
        theirs.wall,
        theirs.code,
        violations(&s),
        pods_left(s.plane, "target")
    );
    println!(
        "  (real) ratio ours/kubectl: {:.2}x",
        ours.wall.as_secs_f64() / theirs.wall.as_secs_f64()
    );
    Ok(())
}

/// The rollout of a 20-worker pool on the real control plane: drain-next through in-place
/// upgrades (simulated: a drained node NotReady, back at the target after 1 s) against a loop
/// of kubectl drain + uncordon, each on a fresh cluster.
pub fn rollout(workers: usize, per_node: usize) -> Result<()> {
    let plugin = crate::sibling("kubectl-upgrade")?;
    let target = kube_testserver::real::plane().version.clone();
    let pool = || {
        let mut c = crate::pool_cluster(workers, per_node, false, true);
        // The control plane at the real server's release; old workers one minor behind.
        let nodes: Vec<Node> = c.nodes().cloned().collect();
        for mut n in nodes {
            if let Some(i) = n.status.as_mut().and_then(|s| s.node_info.as_mut()) {
                i.kubelet_version = if i.kubelet_version == "v1.33.2" {
                    target.clone()
                } else {
                    "v1.36.3".into()
                };
            }
            c.add_node(n);
        }
        c
    };
    let downtime = std::time::Duration::from_secs(1);
    let ours = {
        let s = real::Session::begin(&pool(), Some((target.clone(), downtime)));
        let (mut wall, mut runs) = (std::time::Duration::ZERO, 0);
        for _ in 0..(workers * 4) {
            let r = crate::measure(
                Command::new(&plugin)
                    .args([
                        "drain-next",
                        "--uncordon-upgraded",
                        "--timeout",
                        "120s",
                        "--kubeconfig",
                    ])
                    .arg(&s.plane.kubeconfig),
            )?;
            runs += 1;
            match r.code {
                0 => wall += r.wall,
                4 => std::thread::sleep(std::time::Duration::from_millis(200)),
                other => bail!("drain-next exit {other}"),
            }
            if old_workers(s.plane, "v1.36") == 0 && cordoned(s.plane) == 0 {
                break;
            }
        }
        println!("  (real) drain-next --uncordon-upgraded: {wall:.2?} over {runs} runs, PDB violations {}", violations(&s));
        wall
    };
    let s = real::Session::begin(&pool(), Some((target.clone(), downtime)));
    let kubectl = s.plane.bin.join(&s.plane.version).join("kubectl");
    let mut theirs = std::time::Duration::ZERO;
    for i in 0..workers {
        let node = format!("w-{i:02}");
        let r = crate::measure(
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&s.plane.kubeconfig)
                .args([
                    "drain",
                    &node,
                    "--ignore-daemonsets",
                    "--delete-emptydir-data",
                    "--timeout=300s",
                ]),
        )?;
        theirs += r.wall;
        // Wait for the simulated upgrade, as the loop's operator would, then uncordon.
        let t = Instant::now();
        while old_worker(s.plane, &node) && t.elapsed() < std::time::Duration::from_secs(60) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let r = crate::measure(
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&s.plane.kubeconfig)
                .args(["uncordon", &node]),
        )?;
        theirs += r.wall;
    }
    println!(
        "  (real) kubectl drain + uncordon loop: {theirs:.2?}, PDB violations {}",
        violations(&s)
    );
    println!(
        "  (real) ratio ours/kubectl: {:.2}x",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    Ok(())
}

fn nodes(plane: &Plane) -> Vec<Node> {
    plane
        .block_on(Api::<Node>::all(plane.client.clone()).list(&ListParams::default()))
        .map(|l| l.items)
        .unwrap_or_default()
}

fn old_workers(plane: &Plane, minor: &str) -> usize {
    nodes(plane)
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .is_some_and(|i| i.kubelet_version.starts_with(minor))
        })
        .count()
}

fn old_worker(plane: &Plane, name: &str) -> bool {
    nodes(plane).iter().any(|n| {
        n.metadata.name.as_deref() == Some(name)
            && n.status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .is_some_and(|i| i.kubelet_version.starts_with("v1.36"))
    })
}

fn cordoned(plane: &Plane) -> usize {
    nodes(plane)
        .iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
        .count()
}

#[allow(dead_code)]
fn _unused(_: &Path) {}
