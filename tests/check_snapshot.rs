//! CLI tests of `check` on the bundled example snapshots (no cluster needed).

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const NOW: &str = "2026-11-23";

fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("kubectl-upgrade")
        .expect("binary built")
        .arg("check")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_json(example: &str, extra: &[&str]) -> (i32, Value) {
    let path = format!("examples/{example}");
    let mut args = vec!["--snapshot", path.as_str(), "--now", NOW, "-o", "json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = check(&args);
    let v: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("json: {e}\n{stdout}\n{stderr}"));
    (code, v)
}

fn findings<'a>(v: &'a Value, section: &str, severity: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["section"] == section && f["severity"] == severity)
        .collect()
}

#[test]
fn mid_upgrade_table_has_every_section_and_exits_2() {
    let (code, out, err) = check(&[
        "--snapshot",
        "examples/kubeadm-mid-upgrade.json",
        "--now",
        NOW,
    ]);
    assert_eq!(code, 2, "violations expected\n{out}\n{err}");
    for section in [
        "== Cluster ==",
        "== Components ==",
        "== Nodes ==",
        "== Skew ==",
        "== Support ==",
        "== Path ==",
        "== Drain preview ==",
    ] {
        assert!(out.contains(section), "missing {section}\n{out}");
    }
    assert!(out.contains("worker-4"), "{out}");
    assert!(out.contains("VIOLATION"), "{out}");
    assert!(out.contains("payments/ledger"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no colour codes when not a TTY / NO_COLOR"
    );
    let last = out.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Summary: violations"),
        "summary last: {last}"
    );
}

#[test]
fn mid_upgrade_json_verdicts() {
    let (code, v) = check_json("kubeadm-mid-upgrade.json", &[]);
    assert_eq!(code, 2);
    assert_eq!(v["schema"], "kubectl-upgrade.io/check/v1");
    assert_eq!(v["cluster"]["setup"]["kind"], "kubeadm");
    assert_eq!(
        v["cluster"]["controlPlaneVersion"], "v1.32.9",
        "oldest apiserver is the reference"
    );
    assert_eq!(v["cluster"]["nodeCount"], 7);
    // worker-4's kubelet 1.29 is 3 minors behind the oldest apiserver 1.32: allowed, but the
    // next hop pushes it out; against 1.33 apiservers it would be outside the window.
    let skew_problems: Vec<String> = findings(&v, "skew", "violation")
        .into_iter()
        .chain(findings(&v, "skew", "warn"))
        .map(|f| f["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        skew_problems.iter().any(|s| s.contains("worker-4")),
        "{skew_problems:?}"
    );
    // Drain preview: the single-replica ledger under minAvailable 1 can never be evicted.
    let drain: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["section"] == "drain")
        .map(|f| format!("{} {}", f["subject"], f["message"]))
        .collect();
    assert!(drain.iter().any(|d| d.contains("ledger")), "{drain:?}");
    // Mid-upgrade, the notes say to finish the hop, and do not also say to patch 1.32 first.
    let notes = v["plan"]["notes"].to_string();
    assert!(notes.contains("finish the hop"), "{notes}");
    assert!(
        !notes.contains("before the first hop"),
        "contradicting advice: {notes}"
    );
    // Path: one minor at a time from 1.32 to the newest known minor.
    let hops = v["plan"]["hops"].as_array().expect("hops");
    assert_eq!(v["plan"]["from"], "1.32");
    assert!(hops.len() >= 2, "{hops:?}");
    for pair in hops.windows(2) {
        assert_eq!(pair[0]["to"], pair[1]["from"], "hops are contiguous");
    }
    assert_eq!(hops[0]["to"], "1.33");
    assert_eq!(v["summary"]["exitCode"], 2);
}

#[test]
fn a_target_patch_is_planned_as_given() {
    let (_, v) = check_json("kubeadm-mid-upgrade.json", &["--to", "v1.34.3"]);
    let hops = v["plan"]["hops"].as_array().unwrap();
    assert_eq!(hops.last().unwrap()["toVersion"], "1.34.3", "{}", v["plan"]);
    assert!(
        v["plan"]["notes"].to_string().contains("as asked"),
        "{}",
        v["plan"]
    );
    // Without a patch, the newest one in the release data.
    let (_, v) = check_json("kubeadm-mid-upgrade.json", &["--to", "v1.34"]);
    let hops = v["plan"]["hops"].as_array().unwrap();
    assert_eq!(hops.last().unwrap()["toVersion"], "1.34.11");
}

#[test]
fn explicit_target_limits_the_path() {
    let (_, v) = check_json("kubeadm-mid-upgrade.json", &["--to", "v1.34"]);
    let hops = v["plan"]["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1]["to"], "1.34");
    let steps = hops[0]["steps"].to_string();
    assert!(steps.contains("kubeadm upgrade apply"), "{steps}");
}

#[test]
fn eks_example_is_detected_as_managed() {
    let (_, v) = check_json("eks-managed.json", &[]);
    assert_eq!(v["cluster"]["setup"]["kind"], "eks");
    let notes = v["cluster"]["notes"].to_string();
    assert!(notes.contains("managed control plane"), "{notes}");
    let steps = v["plan"]["hops"].to_string();
    assert!(
        steps.contains("eks")
            || steps.contains("eksctl")
            || v["plan"]["hops"].as_array().is_some_and(|h| h.is_empty()),
        "{steps}"
    );
}

#[test]
fn healthy_example_exits_0() {
    let (code, v) = check_json("healthy.json", &[]);
    assert_eq!(
        code,
        0,
        "healthy cluster: {}",
        serde_json::to_string_pretty(&v["findings"]).unwrap_or_default()
    );
    assert_eq!(v["summary"]["verdict"], "ok");
}

#[test]
fn yaml_output_parses_to_the_same_schema() {
    let (code, out, _) = check(&[
        "--snapshot",
        "examples/healthy.json",
        "--now",
        NOW,
        "-o",
        "yaml",
    ]);
    assert_eq!(code, 0);
    let v: serde_yaml::Value = serde_yaml::from_str(&out).expect("yaml");
    assert_eq!(v["schema"].as_str(), Some("kubectl-upgrade.io/check/v1"));
}

#[test]
fn wide_output_lists_every_node() {
    let (_, out, _) = check(&[
        "--snapshot",
        "examples/kubeadm-mid-upgrade.json",
        "--now",
        NOW,
        "-o",
        "wide",
    ]);
    for n in [
        "cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3", "worker-4",
    ] {
        assert!(out.contains(n), "{n} missing\n{out}");
    }
    assert!(out.contains("containerd://"), "runtime column");
}

#[test]
fn bad_input_gives_one_line_and_exit_64() {
    let dir = tempfile::tempdir().expect("tmp");
    let truncated = dir.path().join("cut.json");
    let full = std::fs::read_to_string("examples/healthy.json").expect("example");
    std::fs::write(&truncated, &full[..full.len() / 3]).expect("write");
    let cut = truncated.to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--snapshot", cut.as_str()], "truncated JSON at line"),
        (
            vec!["--snapshot", "does/not/exist.json"],
            "cannot open snapshot does/not/exist.json",
        ),
        (
            vec!["--snapshot", "examples/healthy.json", "--to", "1.x"],
            "malformed --to '1.x'",
        ),
        (
            vec!["--snapshot", "examples/healthy.json", "--now", "yesterday"],
            "malformed --now",
        ),
        (
            vec![
                "--snapshot",
                "examples/healthy.json",
                "--releases",
                "nope.yaml",
            ],
            "nope.yaml",
        ),
        (
            vec!["--snapshot", "examples/healthy.json", "--to", "v1.20"],
            "downgrade",
        ),
    ];
    for (args, expect) in cases {
        let (code, out, err) = check(&args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout: {out}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let (code, _, err) = check(&["--bogus"]);
    assert_eq!(code, 64, "{err}");
}

#[test]
fn plain_kubectl_list_without_metadata_works() {
    // A plain `kubectl get nodes,pods,pdb,cm -A -o json`: no kubectlUpgrade field.
    let full: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/kubeadm-mid-upgrade.json").expect("read"),
    )
    .expect("json");
    let plain = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": full["items"]});
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("plain.json");
    std::fs::write(&path, plain.to_string()).expect("write");
    let p = path.to_string_lossy().into_owned();
    let (code, v) = {
        let (code, out, err) = check(&["--snapshot", p.as_str(), "--now", NOW, "-o", "json"]);
        (
            code,
            serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {err}")),
        )
    };
    assert_eq!(code, 2);
    assert_eq!(v["cluster"]["serverVersion"], Value::Null);
    assert_eq!(
        v["cluster"]["controlPlaneVersion"], "v1.32.9",
        "taken from the apiserver pods"
    );
}

/// `-o` is honoured or refused, never ignored: `version -o json|yaml` is machine-readable,
/// `snapshot -o yaml` is a usage error (exit 64) before any connection is tried.
#[test]
fn output_flag_is_honoured_or_refused() {
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("kubectl-upgrade")
            .unwrap()
            .args(args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, _) = run(&["version", "-o", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("version -o json is JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["releaseDataAsOf"].as_str().is_some_and(|d| d.len() == 10),
        "{v}"
    );
    let (code, out, _) = run(&["version", "-o", "yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("releaseDataAsOf:"), "{out}");
    let (code, _, err) = run(&["snapshot", "-o", "yaml"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("-o json"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// The same List read from a file, from standard input (`--snapshot -`) and as YAML gives the
/// same verdicts; an empty file and a file without nodes are usage errors that say so.
#[test]
fn snapshot_inputs_stdin_yaml_empty_and_nodeless() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/healthy.json");
    let verdicts = |v: &Value| (v["summary"].clone(), v["findings"].clone());
    let (code, file_json) = check_json("healthy.json", &[]);
    let dir = tempfile::tempdir().unwrap();

    let out = Command::cargo_bin("kubectl-upgrade")
        .unwrap()
        .args(["check", "--snapshot", "-", "-o", "json", "--now", NOW])
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .pipe_stdin(&example)
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdin_json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdicts(&stdin_json), verdicts(&file_json));

    let list: Value = serde_json::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    let yaml = dir.path().join("healthy.yaml");
    std::fs::write(&yaml, serde_yaml::to_string(&list).unwrap()).unwrap();
    let (ycode, yout, yerr) = check(&[
        "--snapshot",
        yaml.to_str().unwrap(),
        "-o",
        "json",
        "--now",
        NOW,
    ]);
    assert_eq!(ycode, code, "{yerr}");
    let yaml_json: Value = serde_json::from_str(&yout).unwrap();
    assert_eq!(verdicts(&yaml_json), verdicts(&file_json));

    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "  \n").unwrap();
    let (code, _, err) = check(&["--snapshot", empty.to_str().unwrap()]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("is empty"), "{err}");

    let nodeless = dir.path().join("pods-only.json");
    std::fs::write(&nodeless, r#"{"apiVersion":"v1","kind":"List","items":[]}"#).unwrap();
    let (code, _, err) = check(&["--snapshot", nodeless.to_str().unwrap()]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("holds no nodes"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `check` as a table with `COLUMNS` set, off a terminal.
fn table_at(columns: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::cargo_bin("kubectl-upgrade").expect("binary built");
    cmd.arg("check")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG");
    match columns {
        Some(c) => cmd.env("COLUMNS", c),
        None => cmd.env_remove("COLUMNS"),
    };
    String::from_utf8(cmd.output().expect("runs").stdout).expect("utf-8")
}

fn longest_line(s: &str) -> usize {
    s.lines()
        .map(|l| l.trim_end().chars().count())
        .max()
        .unwrap_or(0)
}

#[test]
fn tables_follow_columns_and_wrap_between_words() {
    let args = ["--snapshot", "examples/healthy.json", "--now", NOW];
    // Piped without COLUMNS: 140 columns; with COLUMNS: that width.
    let piped = table_at(None, &args);
    assert!(longest_line(&piped) <= 140 && longest_line(&piped) > 100);
    for c in [72usize, 100] {
        let out = table_at(Some(&c.to_string()), &args);
        assert!(longest_line(&out) <= c, "COLUMNS={c}:\n{out}");
    }
    // Nonsense COLUMNS is ignored, not obeyed.
    assert_eq!(table_at(Some("0"), &args), piped);
    assert_eq!(table_at(Some("wide"), &args), piped);
    // -o wide on a real dump with cordoned, NotReady masters: every word whole, the
    // Path steps wrapped too.
    let wide = table_at(
        Some("80"),
        &[
            "--snapshot",
            "tests/corpus/kubeadm-ha-1.8-cluster-info-dump",
            "--now",
            NOW,
            "-o",
            "wide",
        ],
    );
    assert!(wide.contains("NotReady,SchedulingDisabled"), "{wide}");
    assert_eq!(
        wide.matches("Ready,SchedulingDisabled").count(),
        3,
        "{wide}"
    );
    let path = table_at(
        Some("80"),
        &[
            "--snapshot",
            "tests/corpus/kurl-1.23-support-bundle",
            "--now",
            NOW,
        ],
    );
    let steps: Vec<&str> = path
        .lines()
        .skip_while(|l| !l.starts_with("hop 1:"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(steps.len() > 8, "{path}");
    assert!(steps.iter().all(|l| l.chars().count() <= 80), "{steps:#?}");
    assert!(path.contains("sudo kubeadm upgrade apply v1.24.17"));
}

/// On a terminal (a pty from `script`) that reports 0 columns, the table falls back to 80
/// columns instead of one character per column, and colour never leaks past a line.
#[test]
fn a_pty_with_zero_columns_gets_a_usable_table() {
    let bin = assert_cmd::cargo::cargo_bin("kubectl-upgrade");
    let cmd = format!(
        "stty cols 0 rows 0; COLUMNS= exec {} check --snapshot examples/kubeadm-mid-upgrade.json --now {NOW}",
        bin.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .output()
        .expect("script(1) runs");
    let raw = String::from_utf8_lossy(&out.stdout);
    assert!(raw.contains('\u{1b}'), "a terminal gets colour: {raw}");
    let plain: String = {
        let mut s = String::new();
        let mut esc = false;
        for c in raw.chars() {
            match (esc, c) {
                (false, '\u{1b}') => esc = true,
                (true, c) if c.is_ascii_alphabetic() => esc = false,
                (true, _) => {}
                (false, c) => s.push(c),
            }
        }
        s.replace('\r', "")
    };
    assert!(plain.contains("VERDICT   SUBJECT"), "{plain}");
    assert!(plain.contains("VIOLATION"), "{plain}");
    assert!(longest_line(&plain) <= 90, "{plain}");
}
