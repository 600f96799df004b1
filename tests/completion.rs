//! `kubectl upgrade completion`: the shell scripts, the kubectl plugin shim, and the
//! `__complete` protocol the shim speaks (candidates per line, then `:<directive>`), with
//! context names from a kubeconfig and node names from the test API server.

use kube_testserver::builders::{control_plane_node, node};
use kube_testserver::{Cluster, TestServer};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-upgrade");

/// Run the binary with a clean kubeconfig environment (`kubeconfig` as $KUBECONFIG).
fn run(args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("HOME", home.path())
        .env_remove("KUBECONFIG");
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    cmd.output().expect("run kubectl-upgrade")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `completion __complete -- WORDS`: the candidate values (descriptions dropped) and directive.
fn complete(words: &[&str], kubeconfig: Option<&Path>) -> (Vec<String>, String) {
    let mut args = vec!["completion", "__complete", "--"];
    args.extend_from_slice(words);
    let text = stdout(&run(&args, kubeconfig));
    let mut lines: Vec<&str> = text.lines().collect();
    let directive = lines.pop().expect("a directive line").to_string();
    assert!(
        directive.starts_with(':'),
        "last line {directive:?} in {text:?}"
    );
    let values = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    (values, directive)
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn scripts_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = stdout(&run(&["completion", shell], None));
        assert!(script.len() > 500, "{shell}: {} bytes", script.len());
        assert!(
            script.contains("kubectl-upgrade"),
            "{shell} script names the command"
        );
        for sub in ["check", "drain-next", "uncordon", "kubeconfig"] {
            assert!(script.contains(sub), "{shell} script knows {sub}");
        }
    }
    let bad = run(&["completion", "tcsh"], None);
    assert_eq!(
        bad.status.code(),
        Some(64),
        "unknown shell is a usage error"
    );
}

/// The bash script really completes, below the subcommand too (see clap-rs/clap#6421).
#[test]
fn bash_script_completes_subcommands_flags_and_values() {
    if cfg!(windows) || Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipping: no bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kubectl-upgrade.bash");
    std::fs::write(&script, stdout(&run(&["completion", "bash"], None))).unwrap();
    // COMP_WORDS up to the cursor; prints COMPREPLY one per line.
    let reply = |words: &[&str]| -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _kubectl__upgrade kubectl-upgrade '{}' '{}'; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            quoted.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        reply(&["kubectl-upgrade", "dr"]),
        strings(&["drain", "drain-next"])
    );
    assert_eq!(
        reply(&["kubectl-upgrade", "check", "--sn"]),
        strings(&["--snapshot"])
    );
    assert_eq!(
        reply(&["kubectl-upgrade", "drain-next", "--request-t"]),
        strings(&["--request-timeout"])
    );
    assert_eq!(
        reply(&["kubectl-upgrade", "check", "-o", ""]),
        strings(&["table", "wide", "json", "yaml", "sarif", "junit"])
    );
}

#[test]
fn kubectl_shim_calls_back_into_the_binary() {
    let shim = stdout(&run(&["completion", "kubectl-shim"], None));
    assert!(shim.starts_with("#!/bin/sh\n"));
    assert!(shim.contains("kubectl_complete-upgrade"));
    if cfg!(windows) {
        eprintln!("skipping the shim run: POSIX sh script");
        return;
    }
    // Install it as kubectl would find it, next to the binary, and run it like kubectl does.
    let dir = tempfile::tempdir().unwrap();
    let shim_path = dir.path().join("kubectl_complete-upgrade");
    std::fs::write(&shim_path, &shim).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim_path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(BIN, dir.path().join("kubectl-upgrade")).unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&shim_path)
        .args(["drain-n"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap())
            .collect::<Vec<_>>(),
        ["drain-next", ":4"]
    );
    // Without the binary on PATH the shim offers nothing (and no file names).
    let out = Command::new("/bin/sh")
        .arg(&shim_path)
        .arg("dr")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), ":4\n");
}

#[test]
fn completes_subcommands_and_flags() {
    let (subs, directive) = complete(&[""], None);
    for sub in [
        "check",
        "snapshot",
        "cordon",
        "uncordon",
        "drain",
        "drain-next",
        "completion",
        "version",
    ] {
        assert!(subs.contains(&sub.to_string()), "{sub} in {subs:?}");
    }
    assert_eq!(directive, ":4", "no file completion for subcommands");
    assert_eq!(complete(&["dr"], None).0, strings(&["drain", "drain-next"]));
    assert_eq!(
        complete(&["check", "--snap"], None).0,
        strings(&["--snapshot"])
    );
    assert_eq!(
        complete(&["drain", "--request-t"], None).0,
        strings(&["--request-timeout"])
    );
    assert_eq!(
        complete(&["check", "--output", "j"], None).0,
        strings(&["json", "junit"])
    );
    // A file-valued flag lets the shell complete paths (directive 0, no candidates).
    assert_eq!(
        complete(&["check", "--snapshot", "ex"], None),
        (vec![], ":0".to_string())
    );
    // The description travels after a tab.
    let out = stdout(&run(&["completion", "__complete", "--", "drain-"], None));
    assert!(out.starts_with("drain-next\tPick the next node"), "{out:?}");
}

const TWO_CONTEXTS: &str = "apiVersion: v1
kind: Config
current-context: staging
clusters:
- name: c1
  cluster: {server: 'http://127.0.0.1:1'}
users:
- name: u1
  user: {token: t}
contexts:
- name: staging
  context: {cluster: c1, user: u1}
- name: production
  context: {cluster: c1, user: u1}
";

#[test]
fn completes_context_names_from_the_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, TWO_CONTEXTS).unwrap();
    let k = kubeconfig.to_str().unwrap();

    // From $KUBECONFIG.
    let (names, directive) = complete(&["check", "--context", ""], Some(&kubeconfig));
    assert_eq!(
        (names, directive.as_str()),
        (strings(&["production", "staging"]), ":4")
    );
    assert_eq!(
        complete(&["--context", "st"], Some(&kubeconfig)).0,
        strings(&["staging"])
    );
    // From --kubeconfig typed on the line, and the `--context=` form.
    assert_eq!(
        complete(&["--kubeconfig", k, "drain", "--context=p"], None).0,
        strings(&["--context=production"])
    );
    assert_eq!(
        complete(
            &["drain", &format!("--kubeconfig={k}"), "--cluster", ""],
            None
        )
        .0,
        strings(&["c1"])
    );
    // No kubeconfig at all: nothing, and no file names.
    assert_eq!(
        complete(&["--context", ""], None),
        (vec![], ":4".to_string())
    );
}

#[test]
fn completes_node_names_from_the_cluster() {
    let mut cluster = Cluster::new();
    cluster.add_node(control_plane_node("cp-1", "v1.33.2"));
    cluster.add_node(node("worker-1", "v1.33.2"));
    cluster.add_node(node("worker-2", "v1.32.9"));
    cluster.add_node(node("worker-3", "v1.33.2"));
    let server = TestServer::start(cluster);
    server.with_state(|c| c.set_node_unschedulable("worker-2", true));
    let kc = Some(server.kubeconfig());

    assert_eq!(
        complete(&["drain", ""], kc).0,
        strings(&["cp-1", "worker-1", "worker-2", "worker-3"])
    );
    assert_eq!(
        complete(&["drain", "w"], kc).0,
        strings(&["worker-1", "worker-2", "worker-3"])
    );
    // uncordon offers the cordoned node, cordon the schedulable ones not typed yet.
    assert_eq!(complete(&["uncordon", ""], kc).0, strings(&["worker-2"]));
    assert_eq!(
        complete(&["cordon", "worker-1", ""], kc).0,
        strings(&["cp-1", "worker-3"])
    );
    // drain takes several nodes: the ones typed are not offered again.
    assert_eq!(
        complete(&["drain", "worker-1", ""], kc).0,
        strings(&["cp-1", "worker-2", "worker-3"])
    );
    assert!(
        server.count("list", "nodes") >= 4,
        "names came from the API: {:?}",
        server.counters()
    );
    // Descriptions carry readiness, cordon state and the kubelet version.
    let out = stdout(&run(
        &["completion", "__complete", "--", "drain", "worker-2"],
        kc,
    ));
    assert_eq!(out, "worker-2\tReady,SchedulingDisabled v1.32.9\n:4\n");
    // The connection flags typed on the line are used (an unknown context: nothing).
    assert_eq!(
        complete(&["drain", "--context", "nope", ""], kc),
        (vec![], ":4".to_string())
    );
}

#[test]
fn unreachable_cluster_completes_nothing_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, TWO_CONTEXTS).unwrap(); // server 127.0.0.1:1: refused
    let start = Instant::now();
    assert_eq!(
        complete(&["drain", ""], Some(&kubeconfig)),
        (vec![], ":4".to_string())
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );

    // A server that does not answer in time: the completion gives up after its time limit.
    let mut cluster = Cluster::new();
    cluster.add_node(node("slow-1", "v1.33.2"));
    let server = TestServer::start(cluster);
    server.set_latency(Duration::from_secs(30));
    let start = Instant::now();
    assert_eq!(
        complete(&["uncordon", ""], Some(server.kubeconfig())),
        (vec![], ":4".to_string())
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}
