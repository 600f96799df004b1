//! What `kubectl upgrade version` prints: the plugin version, the git commit it was built
//! from (embedded by `build.rs`), the target triple, and the as-of date of the built-in
//! Kubernetes release data.

/// Crate version from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// 12-digit git commit, or `unknown` when built outside a git checkout.
pub const COMMIT: &str = env!("KUBECTL_UPGRADE_GIT_COMMIT");
/// Target triple the binary was compiled for.
pub const TARGET: &str = env!("KUBECTL_UPGRADE_TARGET");

/// The text `kubectl upgrade version` prints.
pub fn version_text() -> String {
    let as_of = crate::policy::releases::builtin().as_of.to_string();
    format_version(VERSION, COMMIT, TARGET, Some(&as_of))
}

/// `version -o json|yaml`: the same facts, machine-readable.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub version: &'static str,
    pub commit: &'static str,
    pub target: &'static str,
    pub release_data_as_of: String,
}

pub fn version_info() -> VersionInfo {
    VersionInfo {
        version: VERSION,
        commit: COMMIT,
        target: TARGET,
        release_data_as_of: crate::policy::releases::builtin().as_of.to_string(),
    }
}

/// Render the version block; pure so the layout is tested.
pub fn format_version(version: &str, commit: &str, target: &str, as_of: Option<&str>) -> String {
    format!(
        "kubectl-upgrade {version}\ncommit: {commit}\ntarget: {target}\nrelease data as of: {}\n",
        as_of.unwrap_or("unknown")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let cases = [
            (
                ("0.1.0", "0123456789ab", "x86_64-unknown-linux-musl", Some("2026-07-01")),
                "kubectl-upgrade 0.1.0\ncommit: 0123456789ab\ntarget: x86_64-unknown-linux-musl\nrelease data as of: 2026-07-01\n",
            ),
            (
                ("1.2.3", "unknown", "aarch64-apple-darwin", None),
                "kubectl-upgrade 1.2.3\ncommit: unknown\ntarget: aarch64-apple-darwin\nrelease data as of: unknown\n",
            ),
        ];
        for ((v, c, t, d), want) in cases {
            assert_eq!(format_version(v, c, t, d), want);
        }
    }

    #[test]
    fn version_text_names_the_release_data_date() {
        let text = version_text();
        let as_of = crate::policy::releases::builtin().as_of.to_string();
        assert!(
            text.starts_with(&format!("kubectl-upgrade {VERSION}\n")),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("release data as of: {as_of}\n")),
            "{text}"
        );
    }

    #[test]
    fn embedded_values_are_well_formed() {
        assert_eq!(VERSION, env!("CARGO_PKG_VERSION"));
        let hex = COMMIT.len() == 12 && COMMIT.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(hex || COMMIT == "unknown", "commit {COMMIT:?}");
        assert!(TARGET.contains('-'), "target {TARGET:?}");
    }
}
