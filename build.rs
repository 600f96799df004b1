//! Embeds the git commit the binary was built from, for `kubectl upgrade version`.
//!
//! Sources, first hit wins:
//! 1. `KUBECTL_UPGRADE_COMMIT` in the environment (release builds may set it explicitly);
//! 2. `git rev-parse HEAD` in the crate directory (a checkout, `cargo install --git`);
//! 3. `.cargo_vcs_info.json`, which `cargo package` writes (`cargo install` from crates.io);
//! 4. `unknown` (a source tarball without git, or git missing).
//!
//! The result is exported as `KUBECTL_UPGRADE_GIT_COMMIT` (12 hex digits or `unknown`), and the
//! target triple as `KUBECTL_UPGRADE_TARGET`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KUBECTL_UPGRADE_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()));

    let commit = std::env::var("KUBECTL_UPGRADE_COMMIT")
        .ok()
        .and_then(|c| short_hex(&c))
        .or_else(|| from_git(&dir))
        .or_else(|| from_vcs_info(&dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KUBECTL_UPGRADE_GIT_COMMIT={commit}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=KUBECTL_UPGRADE_TARGET={target}");
}

/// Accept a full or abbreviated hex object name; return its first 12 digits.
fn short_hex(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = s.len() >= 7 && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| s.chars().take(12).collect::<String>().to_ascii_lowercase())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn from_git(dir: &Path) -> Option<String> {
    // Watch what moves when a commit is made or HEAD switches, but only paths that exist:
    // cargo reruns the script on every build when a watched path is missing.
    if let Some(git_dir) = git(dir, &["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        for watched in ["HEAD", "refs/heads", "packed-refs"] {
            let p = git_dir.join(watched);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    // Fails (-> None) on an unborn branch, outside a repository, or without git.
    git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).and_then(|c| short_hex(&c))
}

fn from_vcs_info(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    // {"git": {"sha1": "<40 hex>"}, "path_in_vcs": ""}: find the value after "sha1".
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let start = after.find('"')? + 1;
    let end = start + after[start..].find('"')?;
    short_hex(&after[start..end])
}
