//! The binary works as a kubectl plugin through a real kubectl: `kubectl plugin list` finds
//! it, `kubectl upgrade ...` dispatches to it with arguments, output and exit code intact,
//! and `kubectl upgrade <TAB>` completes through the `kubectl_complete-upgrade` shim.
//!
//! Needs kubectl on PATH (or /usr/bin/kubectl); without it the tests say "skipping".

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubectl-upgrade");

fn find_kubectl() -> Option<PathBuf> {
    let exe = if cfg!(windows) {
        "kubectl.exe"
    } else {
        "kubectl"
    };
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(exe))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin/kubectl")])
        .find(|p| p.is_file())
}

/// A temp dir holding `kubectl-upgrade` (and optionally the completion shim), put first on
/// PATH, with HOME and KUBECONFIG pointing into it so no user config leaks in.
struct Plugin {
    dir: tempfile::TempDir,
    kubectl: PathBuf,
}

impl Plugin {
    fn install() -> Option<Plugin> {
        let Some(kubectl) = find_kubectl() else {
            eprintln!("skipping: kubectl not found on PATH or at /usr/bin/kubectl");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let bin = if cfg!(windows) {
            "kubectl-upgrade.exe"
        } else {
            "kubectl-upgrade"
        };
        link_or_copy(Path::new(BIN), &dir.path().join(bin));
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Some(Plugin { dir, kubectl })
    }

    fn path_var(&self) -> OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.dir.path().to_path_buf()];
        dirs.extend(std::env::split_paths(&rest));
        std::env::join_paths(dirs).unwrap()
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .args(args)
            .env("PATH", self.path_var())
            .env("HOME", self.dir.path().join("home"))
            .env("KUBECONFIG", self.dir.path().join("home/kubeconfig"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run kubectl")
    }

    fn install_shim(&self) {
        let out = Command::new(BIN)
            .args(["completion", "kubectl-shim"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let shim = self.dir.path().join("kubectl_complete-upgrade");
        std::fs::write(&shim, out.stdout).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn link_or_copy(from: &Path, to: &Path) {
    #[cfg(unix)]
    std::os::unix::fs::symlink(from, to).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(from, to).map(|_| ()).unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn kubectl_lists_the_plugin() {
    let Some(p) = Plugin::install() else { return };
    let out = p.kubectl(&["plugin", "list"]);
    let stdout = text(&out.stdout);
    let ours = p.dir.path().join(if cfg!(windows) {
        "kubectl-upgrade.exe"
    } else {
        "kubectl-upgrade"
    });
    assert!(
        stdout.lines().any(|l| Path::new(l.trim()) == ours),
        "`kubectl plugin list` should list {}:\n{stdout}\n{}",
        ours.display(),
        text(&out.stderr)
    );
}

#[test]
fn kubectl_dispatches_version_and_help() {
    let Some(p) = Plugin::install() else { return };
    let out = p.kubectl(&["upgrade", "version"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl upgrade version: {}",
        text(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("kubectl-upgrade {}\n", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    assert!(
        stdout.contains("\ncommit: ") && stdout.contains("\nrelease data as of: "),
        "{stdout}"
    );

    let out = p.kubectl(&["upgrade", "--help"]);
    let help = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        help.contains("Usage: kubectl upgrade"),
        "help uses the name users type:\n{help}"
    );
    for sub in ["check", "drain-next", "uncordon", "completion"] {
        assert!(help.contains(sub), "help lists {sub}");
    }

    // Arguments and the exit code pass through kubectl unchanged (64 = usage error).
    let out = p.kubectl(&["upgrade", "completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("tcsh"));
}

/// kubectl's client minor version, from `kubectl version --client -o json`.
fn kubectl_client_minor(p: &Plugin) -> Option<u32> {
    let out = p.kubectl(&["version", "--client", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let minor = v["clientVersion"]["minor"].as_str()?;
    minor.trim_end_matches('+').parse().ok()
}

#[test]
fn kubectl_completes_through_the_shim() {
    if cfg!(windows) {
        eprintln!("skipping: the shim is a POSIX sh script");
        return;
    }
    let Some(p) = Plugin::install() else { return };
    let minor = kubectl_client_minor(&p);
    if minor.is_some_and(|m| m < 26) {
        eprintln!(
            "skipping: kubectl 1.{} predates plugin completion (1.26)",
            minor.unwrap_or(0)
        );
        return;
    }
    p.install_shim();
    std::fs::write(
        p.dir.path().join("home/kubeconfig"),
        "apiVersion: v1\nkind: Config\ncurrent-context: blue\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\n\
users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: blue\n  context: {cluster: c, user: u}\n- name: green\n  context: {cluster: c, user: u}\n",
    )
    .unwrap();
    // `kubectl __complete ARGS` is what the shells' kubectl completion functions run.
    let complete = |args: &[&str]| -> (Vec<String>, String) {
        let mut all = vec!["__complete", "upgrade"];
        all.extend_from_slice(args);
        let out = p.kubectl(&all);
        let stdout = text(&out.stdout);
        let mut lines: Vec<String> = stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        let directive = lines.pop().unwrap_or_default();
        (lines, directive)
    };
    assert_eq!(
        complete(&["dr"]),
        (
            vec!["drain".to_string(), "drain-next".into()],
            ":4".to_string()
        )
    );
    assert_eq!(complete(&["check", "--snap"]).0, ["--snapshot"]);
    assert_eq!(complete(&["drain", "--context", ""]).0, ["blue", "green"]);
}

#[test]
fn kubectl_runs_check_on_the_bundled_snapshot() {
    let Some(p) = Plugin::install() else { return };
    let args = ["check", "--snapshot", "examples/healthy.json"];
    let direct = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let mut via = vec!["upgrade"];
    via.extend_from_slice(&args);
    let out = p.kubectl(&via);
    let stderr = text(&out.stderr);
    // The healthy example: ok or warnings only, never a usage/API error.
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    assert!(
        text(&out.stdout).contains("1.37"),
        "report names the cluster version:\n{}",
        text(&out.stdout)
    );
    // Exactly what the binary prints on its own.
    assert_eq!(out.status.code(), direct.status.code());
    assert_eq!(text(&out.stdout), text(&direct.stdout));

    // Machine output through kubectl is the same document.
    let json = p.kubectl(&[
        "upgrade",
        "check",
        "--snapshot",
        "examples/healthy.json",
        "-o",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("-o json through kubectl: {e}\n{}", text(&json.stdout)));
    assert!(doc.is_object(), "{doc}");
}
