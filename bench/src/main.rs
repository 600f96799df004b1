//! kubectl-upgrade's benchmark: runs the real binaries against the in-repo test API server
//! (`kube-testserver`) and reports wall time, peak RSS, API requests and PDB violations.
//!
//!   cargo build --release --workspace --bins && target/release/upgrade-bench [check|drain|all]
//!
//! check: 5,000 nodes and 150,000 pods; `kubectl-upgrade check` vs. the floor (the same kube
//!        client merely paging through the same lists, in a child process too).
//! drain: twin nodes with 110 pods each (most under PDBs with maxUnavailable 20%, replacements
//!        Ready after a delay); `kubectl drain` on one server, `kubectl-upgrade drain` on its twin.
//! rollout: a 20-worker pool rolled by `drain-next` (one at a time; replace with
//!        --max-unavailable 3) and by loops of `kubectl drain` + `uncordon` / `delete node`.

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube_testserver::{builders, Cluster, Options, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod real;

struct Run {
    wall: Duration,
    max_rss_kb: i64,
    code: i32,
}

/// Spawn a command and wait for it with wait4, to read its own peak RSS.
#[cfg(unix)]
fn measure(cmd: &mut Command) -> Result<Run> {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawn {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain FFI call with valid pointers; we reap our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if rc != pid {
        bail!("wait4 failed for {cmd:?}");
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(Run {
        wall,
        max_rss_kb: usage.ru_maxrss,
        code,
    })
}

/// Without wait4 only the wall time and exit code are measured (peak RSS reads 0).
#[cfg(not(unix))]
fn measure(cmd: &mut Command) -> Result<Run> {
    let start = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("run {cmd:?}"))?;
    Ok(Run {
        wall: start.elapsed(),
        max_rss_kb: 0,
        code: status.code().unwrap_or(-1),
    })
}

/// Runs measured commands from a process spawned before the big cluster is built: a child
/// forked from the benchmark itself would inherit its RSS in `ru_maxrss` (Linux records the
/// pre-exec peak), so every figure would include the simulated cluster's memory.
struct Launcher {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Launcher {
    fn start() -> Result<Launcher> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("launcher")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().context("launcher stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().context("launcher stdout")?);
        Ok(Launcher {
            child,
            stdin,
            stdout,
        })
    }

    /// Run the plugin's `args` with `-o json --kubeconfig K`: a report, so exit codes 0 to 2
    /// (ok, warnings, findings) are results and anything else fails the benchmark.
    fn report(&mut self, plugin: &str, args: &[&str], kubeconfig: &str) -> Result<Run> {
        let mut argv: Vec<String> = std::iter::once(plugin)
            .chain(args.iter().copied())
            .chain(["-o", "json", "--kubeconfig", kubeconfig])
            .map(str::to_string)
            .collect();
        let r = self.run(&argv)?;
        if !(0..=2).contains(&r.code) {
            argv[0] = "kubectl-upgrade".into();
            bail!("`{}` failed with exit code {}", argv.join(" "), r.code);
        }
        Ok(r)
    }

    fn run(&mut self, argv: &[String]) -> Result<Run> {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{}", serde_json::to_string(argv)?)?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let v: serde_json::Value = serde_json::from_str(&line).context("launcher answer")?;
        if let Some(e) = v["error"].as_str() {
            bail!("launcher: {e}");
        }
        Ok(Run {
            wall: Duration::from_micros(v["wall_us"].as_u64().unwrap_or(0)),
            max_rss_kb: v["max_rss_kb"].as_i64().unwrap_or(0),
            code: v["code"].as_i64().unwrap_or(-1) as i32,
        })
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The launcher's loop: one JSON argv per line in, one JSON measurement per line out.
fn launcher_loop() -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let argv: Vec<String> = serde_json::from_str(&line?)?;
        let answer = match argv.split_first() {
            None => serde_json::json!({"error": "empty argv"}),
            Some((prog, rest)) => match measure(Command::new(prog).args(rest)) {
                Ok(r) => {
                    serde_json::json!({"wall_us": r.wall.as_micros() as u64, "max_rss_kb": r.max_rss_kb, "code": r.code})
                }
                Err(e) => serde_json::json!({"error": e.to_string()}),
            },
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release --workspace --bins`",
            path.display()
        );
    }
    Ok(path)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The floor: the same kube client paging through the same lists, discarding every page.
async fn floor(kubeconfig: &Path) -> Result<()> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    client.apiserver_version().await?;
    async fn pages<K>(api: Api<K>) -> Result<usize>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut lp = ListParams::default().limit(500);
        let mut n = 0;
        loop {
            let page = api.list(&lp).await?;
            n += page.items.len();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp.continue_token = Some(c),
                None => return Ok(n),
            }
        }
    }
    pages(Api::<PodDisruptionBudget>::all(client.clone())).await?;
    let _ = Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
        .get_opt("kubeadm-config")
        .await?;
    let (a, b) = tokio::join!(
        pages(Api::<Node>::all(client.clone())),
        pages(Api::<Pod>::all(client.clone()))
    );
    a?;
    b?;
    // The removed-API scan's reads: metadata-only lists of the scanned kinds, /metrics, the
    // CRDs, and the Helm release Secrets (listed in full here, where check lists their
    // metadata and then gets the deployed revision of each release).
    for (api, plural, kind, _) in SCANNED {
        let (g, v) = api.split_once('/').unwrap_or(("", api));
        let ar = kube::api::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(g, v, kind),
            plural,
        );
        let dyn_api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &ar);
        let mut lp = ListParams::default().limit(500);
        loop {
            let page = dyn_api.list_metadata(&lp).await?;
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp.continue_token = Some(c),
                None => break,
            }
        }
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::all(client.clone());
    let mut lp = ListParams::default()
        .labels("owner=helm")
        .fields("type=helm.sh/release.v1")
        .limit(500);
    loop {
        let page = secrets.list(&lp).await?;
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp.continue_token = Some(c),
            None => break,
        }
    }
    Ok(())
}

/// The resources the removed-API objects go into: (apiVersion, plural, kind, namespaced).
const SCANNED: &[(&str, &str, &str, bool)] = &[
    ("apps/v1", "deployments", "Deployment", true),
    ("networking.k8s.io/v1", "ingresses", "Ingress", true),
    ("batch/v1", "cronjobs", "CronJob", true),
    (
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
    ),
    ("rbac.authorization.k8s.io/v1", "roles", "Role", true),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        "flowschemas",
        "FlowSchema",
        false,
    ),
];

/// `objects` objects of scanned kinds (each with two field managers, one in ten last applied
/// through a removed version) and `releases` Helm releases of two revisions each.
fn add_api_objects(c: &mut Cluster, objects: usize, releases: usize) -> Result<()> {
    use base64::Engine;
    use std::io::Write;
    for i in 0..objects {
        let (api, plural, kind, namespaced) = SCANNED[i % SCANNED.len()];
        let old = if i % 10 == 0 {
            "extensions/v1beta1"
        } else {
            api
        };
        let mut meta = serde_json::json!({
            "name": format!("{}-{i}", kind.to_lowercase()),
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                format!("{{\"apiVersion\":\"{old}\",\"kind\":\"{kind}\",\"metadata\":{{}},\"spec\":{{\"replicas\":3}}}}")},
            "managedFields": [
                {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": api},
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": api, "subresource": "status"}
            ]
        });
        if namespaced {
            meta["namespace"] = serde_json::json!(format!("ns-{}", i % 50));
        }
        c.add_object(
            api,
            plural,
            serde_json::json!({"kind": kind, "metadata": meta, "spec": {"replicas": 3}}),
        );
    }
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n";
    for r in 0..releases {
        for (rev, status) in [(1, "superseded"), (2, "deployed")] {
            let body = serde_json::json!({"name": format!("rel-{r}"), "version": rev,
                "info": {"status": status}, "manifest": manifest});
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(body.to_string().as_bytes())?;
            let once = base64::engine::general_purpose::STANDARD.encode(gz.finish()?);
            let twice = base64::engine::general_purpose::STANDARD.encode(once);
            let ns = format!("ns-{}", r % 50);
            c.add_object("v1", "secrets", serde_json::json!({"kind": "Secret", "type": "helm.sh/release.v1",
                "metadata": {"name": format!("sh.helm.release.v1.rel-{r}.v{rev}"), "namespace": ns,
                    "labels": {"owner": "helm", "name": format!("rel-{r}"), "status": status, "version": rev.to_string()}},
                "data": {"release": twice}}));
        }
    }
    Ok(())
}

fn bench_check(launcher: &mut Launcher, nodes: usize, pods: usize, runs: usize) -> Result<()> {
    let plugin = sibling("kubectl-upgrade")?.to_string_lossy().into_owned();
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let t = Instant::now();
    let mut cluster = builders::big_cluster(nodes, pods);
    add_api_objects(&mut cluster, 20_000, 500)?;
    let built = t.elapsed();
    let server = TestServer::start(cluster);
    let kubeconfig = server.kubeconfig().to_string_lossy().into_owned();
    println!("check benchmark: {nodes} nodes, {pods} pods, 20,000 objects of scanned kinds, 500 Helm releases (cluster built in {built:.2?}), {runs} run(s) each, median; check runs with --helm");
    let mut floor_walls = Vec::new();
    let mut floor_rss = 0;
    let mut check_walls = Vec::new();
    let mut check_rss = 0;
    for _ in 0..runs {
        let f = launcher.run(&[me.clone(), "floor".into(), kubeconfig.clone()])?;
        if f.code != 0 {
            bail!("floor run failed with exit code {}", f.code);
        }
        floor_walls.push(f.wall);
        floor_rss = floor_rss.max(f.max_rss_kb);
        let before = server.total_requests();
        let c = launcher.report(&plugin, &["check", "--helm"], &kubeconfig)?;
        println!(
            "  check run: {:.2?}, peak RSS {} MB, {} API requests",
            c.wall,
            c.max_rss_kb / 1024,
            server.total_requests() - before
        );
        check_walls.push(c.wall);
        check_rss = check_rss.max(c.max_rss_kb);
    }
    let fw = median(floor_walls);
    let cw = median(check_walls);
    println!(
        "  floor (page through the same lists): {fw:.2?}, peak RSS {} MB",
        floor_rss / 1024
    );
    println!(
        "  kubectl-upgrade check:               {cw:.2?}, peak RSS {} MB",
        check_rss / 1024
    );
    println!(
        "  ratio check/floor: {:.2}x (target <= 1.5x with the API scan); peak RSS {} MB (target <= 150 MB)",
        cw.as_secs_f64() / fw.as_secs_f64(),
        check_rss / 1024
    );
    Ok(())
}

/// `contexts` clusters of 200 nodes and 6,000 pods each, one of them unreachable, in one
/// kubeconfig: each cluster's own `check`, then `check --all-contexts`.
/// `simulate` of the whole rollout (every worker, to a minor none runs yet) against `check`
/// reading the same cluster through the same reader: the difference is the prediction's own
/// cost. A tenth of the pods carry a required pod anti-affinity (hostname) on their app.
fn bench_simulate(launcher: &mut Launcher, nodes: usize, pods: usize, runs: usize) -> Result<()> {
    let plugin = sibling("kubectl-upgrade")?.to_string_lossy().into_owned();
    let mut cluster = builders::big_cluster(nodes, pods);
    let mut anti = 0usize;
    let pods_now: Vec<Pod> = cluster.pods().cloned().collect();
    for mut p in pods_now {
        let app = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .cloned();
        let Some(app) = app else { continue };
        let n: usize = app.trim_start_matches("app-").parse().unwrap_or(1);
        if !n.is_multiple_of(10) {
            continue;
        }
        if let Some(s) = p.spec.as_mut() {
            s.affinity = Some(builders::hostname_anti_affinity("app", &app));
        }
        cluster.add_pod(p);
        anti += 1;
    }
    let pdbs = cluster.pdbs().count();
    let server = TestServer::start(cluster);
    let kubeconfig = server.kubeconfig().to_string_lossy().into_owned();
    println!("simulate benchmark: {nodes} nodes, {pods} pods ({anti} with required pod anti-affinity), {pdbs} PDBs; every worker rolled to v1.34.0; {runs} run(s) each, median");
    if std::env::var_os("UPGRADE_BENCH_HOLD").is_some() {
        // For profiling by hand: the cluster stays up until the bench is stopped.
        println!("  holding the cluster up: KUBECONFIG={kubeconfig}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let (mut sim_walls, mut sim_rss, mut read_walls, mut read_rss) = (vec![], 0, vec![], 0);
    for _ in 0..runs {
        let c = launcher.report(&plugin, &["check"], &kubeconfig)?;
        read_walls.push(c.wall);
        read_rss = read_rss.max(c.max_rss_kb);
        let s = launcher.report(&plugin, &["simulate", "--to", "v1.34.0"], &kubeconfig)?;
        println!(
            "  simulate run: {:.2?}, peak RSS {} MB (check: {:.2?})",
            s.wall,
            s.max_rss_kb / 1024,
            c.wall
        );
        sim_walls.push(s.wall);
        sim_rss = sim_rss.max(s.max_rss_kb);
    }
    // What the prediction said (one more run, its output read).
    let out = Command::new(&plugin)
        .args([
            "simulate",
            "--to",
            "v1.34.0",
            "-o",
            "json",
            "--kubeconfig",
            &kubeconfig,
        ])
        .output()?;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).context("simulate JSON")?;
    let steps = j["steps"].as_array().map_or(0, Vec::len);
    println!(
        "  prediction: {steps} steps, completes {}, blocked at {}, largest safe --max-unavailable {}",
        j["completes"], j["blockedAt"], j["largestSafeMaxUnavailable"]
    );
    let (sw, rw) = (median(sim_walls), median(read_walls));
    println!(
        "  check (the same reads):  {rw:.2?}, peak RSS {} MB",
        read_rss / 1024
    );
    println!(
        "  simulate ({steps} steps): {sw:.2?}, peak RSS {} MB",
        sim_rss / 1024
    );
    println!(
        "  simulate beyond reading: {:.2}s (target < 2 s); ratio simulate/check {:.2}x; peak RSS {} MB (target <= 150 MB)",
        sw.as_secs_f64() - rw.as_secs_f64(),
        sw.as_secs_f64() / rw.as_secs_f64(),
        sim_rss / 1024
    );
    Ok(())
}

fn bench_fleet(launcher: &mut Launcher, contexts: usize) -> Result<()> {
    let plugin = sibling("kubectl-upgrade")?.to_string_lossy().into_owned();
    let timeout = "10s";
    let servers: Vec<TestServer> = (0..contexts.saturating_sub(1))
        .map(|_| TestServer::start(builders::big_cluster(200, 6000)))
        .collect();
    let dir = std::env::temp_dir().join(format!("upgrade-bench-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut merged = serde_yaml::Mapping::new();
    let mut lists: [Vec<serde_yaml::Value>; 3] = Default::default();
    for (i, s) in servers.iter().enumerate() {
        let spec = kube_testserver::KubeconfigSpec {
            context: format!("cluster-{i:02}"),
            user_name: Some(format!("user-{i:02}")),
            ..s.spec()
        };
        let doc: serde_yaml::Value = serde_yaml::from_str(&s.kubeconfig_text(&spec))?;
        for (k, key) in ["clusters", "contexts", "users"].iter().enumerate() {
            if let Some(items) = doc.get(*key).and_then(|v| v.as_sequence()) {
                lists[k].extend(items.iter().cloned());
            }
        }
    }
    // The unreachable one: nothing listens on its port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let down: serde_yaml::Value = serde_yaml::from_str(&format!(
        "clusters:\n- name: down\n  cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\ncontexts:\n- name: down\n  context: {{cluster: down, user: down}}\nusers:\n- name: down\n  user: {{token: t}}\n"
    ))?;
    for (k, key) in ["clusters", "contexts", "users"].iter().enumerate() {
        if let Some(items) = down.get(*key).and_then(|v| v.as_sequence()) {
            lists[k].extend(items.iter().cloned());
        }
    }
    merged.insert("apiVersion".into(), "v1".into());
    merged.insert("kind".into(), "Config".into());
    merged.insert("current-context".into(), "cluster-00".into());
    for (k, key) in ["clusters", "contexts", "users"].iter().enumerate() {
        merged.insert((*key).into(), serde_yaml::Value::Sequence(lists[k].clone()));
    }
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, serde_yaml::to_string(&merged)?)?;
    let kc = kubeconfig.to_string_lossy().into_owned();
    println!(
        "fleet benchmark: {contexts} contexts ({} of 200 nodes and 6,000 pods, 1 unreachable)",
        servers.len()
    );
    let mut slowest = Duration::ZERO;
    for i in 0..servers.len() {
        let r = launcher.run(&[
            plugin.clone(),
            "check".into(),
            "-o".into(),
            "json".into(),
            "--kubeconfig".into(),
            kc.clone(),
            "--context".into(),
            format!("cluster-{i:02}"),
        ])?;
        slowest = slowest.max(r.wall);
    }
    let r = launcher.run(&[
        plugin.clone(),
        "check".into(),
        "--all-contexts".into(),
        "-o".into(),
        "json".into(),
        "--kubeconfig".into(),
        kc.clone(),
        "--context-timeout".into(),
        timeout.into(),
    ])?;
    if r.code != 3 {
        bail!(
            "fleet check exited {} (expected 3: one context unreachable)",
            r.code
        );
    }
    let bound = slowest.as_secs_f64() * 1.5 + 10.0;
    println!("  slowest single check: {slowest:.2?}");
    println!(
        "  check --all-contexts: {:.2?}, peak RSS {} MB (target: within 1.5 x slowest + timeout = {bound:.1}s; RSS <= 200 MB)",
        r.wall,
        r.max_rss_kb / 1024
    );
    println!(
        "  ratio fleet/slowest single: {:.2}x",
        r.wall.as_secs_f64() / slowest.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One node with `pods` pods: a few DaemonSet pods, the rest in ReplicaSets of 10, most under
/// PDBs with maxUnavailable 20%; four spare nodes take the replacements.
fn drain_cluster(pods: usize) -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::node("target", "v1.32.3"));
    for i in 0..4 {
        c.add_node(builders::node(&format!("spare-{i}"), "v1.33.2"));
    }
    let daemons = 5.min(pods);
    for i in 0..daemons {
        c.add_pod(
            builders::pod("kube-system", &format!("ds-{i}-target"), "target")
                .owner("DaemonSet", &format!("ds-{i}"))
                .labels(&[("ds", &format!("ds-{i}"))])
                .build(),
        );
    }
    let rest = pods - daemons;
    let sets = rest.div_ceil(10);
    for s in 0..sets {
        let app = format!("app-{s}");
        let rs = format!("{app}-5c9d7");
        for r in 0..10.min(rest - s * 10) {
            c.add_pod(
                builders::pod("bench", &format!("{rs}-{r:03}"), "target")
                    .owner("ReplicaSet", &rs)
                    .labels(&[("app", &app)])
                    .build(),
            );
        }
        // Most (not all) sets have a PDB.
        if s % 10 != 9 {
            c.add_pdb(builders::pdb_max_unavailable(
                "bench",
                &app,
                &[("app", &app)],
                IntOrString::String("20%".into()),
            ));
        }
    }
    c
}

/// The drain and rollout benchmarks' server: a 1.33 API server whose replacement pods become
/// Ready 500 ms after they are created and whose pods terminate within 200 ms.
fn paced() -> Options {
    Options {
        git_version: "v1.33.2".into(),
        ready_delay: Duration::from_millis(500),
        grace_cap: Duration::from_millis(200),
        ..Options::default()
    }
}

fn bench_drain(pods: usize) -> Result<()> {
    let plugin = sibling("kubectl-upgrade")?;
    let opts = paced;
    println!("drain benchmark: twin nodes with {pods} pods each, PDBs maxUnavailable 20%, replacements Ready after 500 ms");
    let kubectl = which("kubectl");
    let ours_server = TestServer::start_with(drain_cluster(pods), opts());
    let ours = measure(
        Command::new(&plugin)
            .args([
                "drain",
                "target",
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--timeout",
                "300s",
                "--kubeconfig",
            ])
            .arg(ours_server.kubeconfig()),
    )?;
    let ours_left = pods_left(&ours_server);
    println!(
        "  kubectl-upgrade drain: {:.2?}, exit {}, {} API requests ({} evictions), PDB violations {}, pods left {}",
        ours.wall,
        ours.code,
        ours_server.total_requests(),
        ours_server.count("create", "pods/eviction"),
        ours_server.pdb_violations(),
        ours_left
    );
    match kubectl {
        None => println!("  kubectl drain: skipped (kubectl not on PATH)"),
        Some(kubectl) => {
            let theirs_server = TestServer::start_with(drain_cluster(pods), opts());
            let theirs = measure(
                Command::new(kubectl)
                    .arg("--kubeconfig")
                    .arg(theirs_server.kubeconfig())
                    .args([
                        "drain",
                        "target",
                        "--ignore-daemonsets",
                        "--delete-emptydir-data",
                        "--timeout=300s",
                    ]),
            )?;
            println!(
                "  kubectl drain:         {:.2?}, exit {}, {} API requests ({} evictions), PDB violations {}, pods left {}",
                theirs.wall,
                theirs.code,
                theirs_server.total_requests(),
                theirs_server.count("create", "pods/eviction"),
                theirs_server.pdb_violations(),
                pods_left(&theirs_server)
            );
            println!(
                "  ratio ours/kubectl: {:.2}x (target <= 0.6x)",
                ours.wall.as_secs_f64() / theirs.wall.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// `workers` old workers (w-00..) at 1.32, each with `per_node` pods of ReplicaSets of 10
/// spread across the pool under PDBs maxUnavailable 20% (so budgets span nodes); with
/// `surge`, as many new workers (n-00..) at the target. The control plane is at the target.
/// Without `spread`, each node's pods are consecutive sets (budgets span few nodes).
fn pool_cluster(workers: usize, per_node: usize, surge: bool, spread: bool) -> Cluster {
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp", "v1.33.2"));
    let old: Vec<String> = (0..workers).map(|i| format!("w-{i:02}")).collect();
    for n in &old {
        c.add_node(builders::node(n, "v1.32.5"));
    }
    if surge {
        for i in 0..workers {
            c.add_node(builders::node(&format!("n-{i:02}"), "v1.33.2"));
        }
    }
    for k in 0..workers * per_node {
        let (set, r) = (k / 10, k % 10);
        let app = format!("app-{set}");
        c.add_pod(
            builders::pod(
                "bench",
                &format!("{app}-rs-{r:03}"),
                &old[if spread { k % workers } else { k / per_node }],
            )
            .owner("ReplicaSet", &format!("{app}-rs"))
            .labels(&[("app", &app)])
            .build(),
        );
        if r == 0 {
            c.add_pdb(builders::pdb_max_unavailable(
                "bench",
                &app,
                &[("app", &app)],
                IntOrString::String("20%".into()),
            ));
        }
    }
    c
}

/// Old workers still present and below the target.
fn old_left(server: &TestServer) -> Vec<String> {
    server.with_state(|c| {
        c.nodes()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.node_info.as_ref())
                    .is_some_and(|i| i.kubelet_version.starts_with("v1.32"))
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect()
    })
}

/// The simulated kubelet upgrade: every drained (cordoned) old worker comes back at the target.
fn upgrade_cordoned(server: &TestServer) {
    server.with_state(|c| {
        let drained: Vec<String> = c
            .nodes()
            .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        for n in drained {
            c.set_node_kubelet_version(&n, "v1.33.2");
        }
    });
}

struct Rolled {
    wall: Duration,
    commands: usize,
    failed: usize,
}

/// Run `step` until no old worker is left (or `limit` commands), summing wall time.
fn roll(
    server: &TestServer,
    limit: usize,
    mut step: impl FnMut(&TestServer) -> Result<Vec<Run>>,
) -> Result<Rolled> {
    let mut r = Rolled {
        wall: Duration::ZERO,
        commands: 0,
        failed: 0,
    };
    while !old_left(server).is_empty() && r.commands < limit {
        for run in step(server)? {
            r.wall += run.wall;
            r.commands += 1;
            r.failed += usize::from(run.code != 0);
        }
    }
    Ok(r)
}

fn report_roll(label: &str, r: &Rolled, server: &TestServer) {
    println!(
        "  {label:<50} {:>8.2?}, {} commands ({} failed), {} API requests ({} eviction requests, {} accepted), PDB violations {}, old workers left {}",
        r.wall,
        r.commands,
        r.failed,
        server.total_requests(),
        server.count("create", "pods/eviction"),
        server.evictions().iter().filter(|e| e.status < 300).count(),
        server.pdb_violations(),
        old_left(server).len()
    );
}

/// A 20-worker pool rolled by drain-next (one at a time, upgraded in place; and replace with
/// --max-unavailable 3 onto new nodes) and by a loop of `kubectl drain` + `kubectl uncordon`
/// (or `kubectl delete node`) on a twin server, one command after the other as a shell loop
/// runs them. The kubelet "upgrade" between nodes is the server flipping the drained node's
/// version; command time only is summed.
fn bench_rollout(workers: usize, per_node: usize, spread: bool) -> Result<()> {
    let plugin = sibling("kubectl-upgrade")?;
    let opts = paced;
    let layout = if spread {
        "ReplicaSets of 10 spread across the pool"
    } else {
        "ReplicaSets of 10 kept together (--colocated)"
    };
    println!("rollout benchmark: {workers} workers with {per_node} pods each ({layout}, PDBs maxUnavailable 20%), replacements Ready after 500 ms");
    let ours = |server: &TestServer, extra: &[&str]| -> Result<Run> {
        measure(
            Command::new(&plugin)
                .args(["drain-next", "--to", "v1.33.2", "--timeout", "300s"])
                .args(extra)
                .arg("--kubeconfig")
                .arg(server.kubeconfig()),
        )
    };
    let server = TestServer::start_with(pool_cluster(workers, per_node, false, spread), opts());
    let mut r = roll(&server, 3 * workers, |s| {
        let run = ours(s, &["--uncordon-upgraded"])?;
        upgrade_cordoned(s);
        Ok(vec![run])
    })?;
    // The last node upgraded is uncordoned by one more run (which finds nothing left to drain).
    let last = ours(&server, &["--uncordon-upgraded"])?;
    r.wall += last.wall;
    r.commands += 1;
    r.failed += usize::from(last.code != 0);
    report_roll("kubectl-upgrade drain-next (one at a time):", &r, &server);
    let one_ours = r.wall;
    let kubectl = which("kubectl");
    let Some(kubectl) = kubectl else {
        println!("  kubectl loops: skipped (kubectl not on PATH)");
        return Ok(());
    };
    let k = |server: &TestServer, args: &[&str]| -> Result<Run> {
        measure(
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(server.kubeconfig())
                .args(args),
        )
    };
    let kubectl_drain = |s: &TestServer, node: &str| {
        k(
            s,
            &[
                "drain",
                node,
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--timeout=300s",
            ],
        )
    };
    let server = TestServer::start_with(pool_cluster(workers, per_node, false, spread), opts());
    let r = roll(&server, 3 * workers, |s| {
        let node = old_left(s).into_iter().min().unwrap_or_default();
        let drain = kubectl_drain(s, &node)?;
        upgrade_cordoned(s);
        Ok(vec![drain, k(s, &["uncordon", &node])?])
    })?;
    report_roll("kubectl drain + uncordon loop:", &r, &server);
    println!(
        "  ratio ours/kubectl (one at a time): {:.2}x",
        one_ours.as_secs_f64() / r.wall.as_secs_f64()
    );
    let server = TestServer::start_with(pool_cluster(workers, per_node, true, spread), opts());
    let r = roll(&server, 3 * workers, |s| {
        Ok(vec![ours(
            s,
            &[
                "--strategy",
                "replace",
                "--max-unavailable",
                "3",
                "--delete-node",
            ],
        )?])
    })?;
    report_roll(
        "kubectl-upgrade drain-next (replace, 3 at once):",
        &r,
        &server,
    );
    // The ratio below compares the batched replace with the kubectl loop.
    let surge_ours = r.wall;
    let server = TestServer::start_with(pool_cluster(workers, per_node, true, spread), opts());
    let r = roll(&server, 3 * workers, |s| {
        Ok(vec![ours(s, &["--strategy", "replace", "--delete-node"])?])
    })?;
    report_roll(
        "kubectl-upgrade drain-next (replace, one at a time):",
        &r,
        &server,
    );
    let server = TestServer::start_with(pool_cluster(workers, per_node, true, spread), opts());
    let r = roll(&server, 3 * workers, |s| {
        let node = old_left(s).into_iter().min().unwrap_or_default();
        let drain = kubectl_drain(s, &node)?;
        Ok(vec![drain, k(s, &["delete", "node", &node])?])
    })?;
    report_roll("kubectl drain + delete node loop:", &r, &server);
    println!(
        "  ratio ours (replace, 3 at once)/kubectl: {:.2}x",
        surge_ours.as_secs_f64() / r.wall.as_secs_f64()
    );
    Ok(())
}

fn pods_left(server: &TestServer) -> usize {
    server.with_state(|c| {
        c.pods()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("target"))
            .filter(|p| {
                !p.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| r.kind == "DaemonSet"))
            })
            .count()
    })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |flag: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .with_context(|| format!("{flag} needs a value"))?
                .parse()
                .with_context(|| format!("{flag} needs a number")),
            None => Ok(default),
        }
    };
    match args.first().map(String::as_str).unwrap_or("all") {
        "floor" => {
            let kubeconfig = args.get(1).context("floor KUBECONFIG")?;
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(floor(Path::new(kubeconfig)))
        }
        "launcher" => launcher_loop(),
        "check" => bench_check(
            &mut Launcher::start()?,
            arg("--nodes", 5000)?,
            arg("--pods", 150_000)?,
            arg("--runs", 3)?,
        ),
        "drain" => bench_drain(arg("--pods", 110)?),
        "fleet" => bench_fleet(&mut Launcher::start()?, arg("--contexts", 20)?),
        "simulate" => bench_simulate(
            &mut Launcher::start()?,
            arg("--nodes", 5000)?,
            arg("--pods", 150_000)?,
            arg("--runs", 3)?,
        ),
        "real" => {
            // Each real figure beside its test-server figure, in one run.
            let mut launcher = Launcher::start()?;
            let (nodes, pods, runs) = (
                arg("--nodes", 5000)?,
                arg("--pods", 150_000)?,
                arg("--runs", 3)?,
            );
            println!("== check: test server");
            bench_check(&mut launcher, nodes, pods, runs)?;
            println!("== check: real control plane");
            real::check(&mut launcher, nodes, pods, runs)?;
            println!("== drain: test server");
            bench_drain(arg("--drain-pods", 110)?)?;
            println!("== drain: real control plane");
            real::drain(arg("--drain-pods", 110)?)?;
            println!("== rollout: real control plane");
            real::rollout(arg("--workers", 20)?, 10)
        }
        "rollout" => bench_rollout(
            arg("--workers", 20)?,
            arg("--pods", 10)?,
            !args.iter().any(|a| a == "--colocated"),
        ),
        "all" => {
            bench_check(
                &mut Launcher::start()?,
                arg("--nodes", 5000)?,
                arg("--pods", 150_000)?,
                arg("--runs", 3)?,
            )?;
            bench_drain(arg("--pods", 110)?)
        }
        other => {
            bail!("unknown benchmark '{other}': use check, drain, fleet, rollout, simulate, real or all")
        }
    }
}
