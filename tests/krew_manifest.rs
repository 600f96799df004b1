//! The Krew manifest (`krew/upgrade.yaml`), the krew-release-bot template (`krew/.krew.yaml`)
//! and the release workflow (`.github/workflows/release.yml`) agree with each other and with
//! the rules Krew applies:
//!
//! * `validation.ValidatePlugin` (krew `internal/index/validation/validate.go`): apiVersion,
//!   kind, safe plugin name equal to the file name, one-line short description, version with
//!   a leading `v` that parses as semver, and per platform: uri, 64-lowercase-hex sha256, bin,
//!   `files` absent or complete, a selector with only `os`/`arch` keys and nothing empty;
//! * `cmd/validate-krew-manifest`: `.yaml` extension, every platform matches a supported
//!   os/arch, no os/arch matched by two platforms, line lengths (shortDescription 70,
//!   description and caveats 80), and after install a LICENSE file among the installed files;
//! * installation (`internal/installation/install.go`): `bin` stays inside the install
//!   directory; on Windows the linked binary is an `.exe`;
//! * krew-release-bot: the homepage is the GitHub repository the release comes from.
//!
//! On top: the five platforms this project ships, the archive names and binaries the
//! release matrix produces, the crate's version and repository, and the template rendering
//! to this very manifest.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";
/// `allPlatforms()` in krew's cmd/validate-krew-manifest.
const KREW_PLATFORMS: &[(&str, &str)] = &[
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];
/// What this project ships.
const SHIPPED: &[(&str, &str)] = &[
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
];
/// Windows reserved file names krew refuses as plugin names.
const WINDOWS_FORBIDDEN: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

// Unknown fields are rejected here although krew itself ignores them: in our own manifest
// an unknown field can only be a typo (e.g. `shortDesc`) that krew would silently drop.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Plugin {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    version: String,
    #[serde(default)]
    homepage: String,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    caveats: String,
    #[serde(default)]
    platforms: Vec<Platform>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Platform {
    selector: Option<Selector>,
    #[serde(default)]
    uri: String,
    #[serde(default)]
    sha256: String,
    #[serde(default)]
    bin: String,
    files: Option<Vec<FileOp>>,
    license: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Selector {
    match_labels: Option<BTreeMap<String, String>>,
    match_expressions: Option<Vec<Requirement>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Requirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOp {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn parse(text: &str) -> Plugin {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("manifest does not parse: {e}\n{text}"))
}

/// `metav1.LabelSelectorAsSelector(sel).Matches({os, arch})`.
fn selector_matches(sel: &Selector, os: &str, arch: &str) -> bool {
    let label = |k: &str| match k {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let labels_ok = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| label(k) == Some(v.as_str()));
    let exprs_ok = sel.match_expressions.iter().flatten().all(|r| {
        let have = label(&r.key);
        match r.operator.as_str() {
            "In" => have.is_some_and(|h| r.values.iter().any(|v| v == h)),
            "NotIn" => have.is_none_or(|h| r.values.iter().all(|v| v != h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// Every rule of krew's validators that can be checked without downloading; returns all
/// violations found (empty = valid).
fn krew_violations(file_name: &str, p: &Plugin) -> Vec<String> {
    let mut errs = Vec::new();
    let mut err = |s: String| errs.push(s);

    let Some(name) = file_name.strip_suffix(".yaml") else {
        return vec![format!(
            "manifest file {file_name} must have the .yaml extension"
        )];
    };
    if p.api_version != API_VERSION {
        err(format!(
            "apiVersion {:?} is not {API_VERSION}",
            p.api_version
        ));
    }
    if p.kind != "Plugin" {
        err(format!("kind {:?} is not Plugin", p.kind));
    }
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !safe
        || WINDOWS_FORBIDDEN
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
    {
        err(format!(
            "plugin name {name:?} is not allowed (must match ^[\\w-]+$, not a Windows device)"
        ));
    }
    if p.metadata.name != name {
        err(format!(
            "metadata.name {:?} differs from the file name {name:?}",
            p.metadata.name
        ));
    }
    let s = &p.spec;
    if s.short_description.is_empty() {
        err("shortDescription is empty".into());
    }
    if s.short_description.contains(['\r', '\n']) {
        err("shortDescription has a line break".into());
    }
    if s.platforms.is_empty() {
        err("no platforms".into());
    }
    match s.version.strip_prefix('v') {
        None => err(format!("version {:?} does not start with 'v'", s.version)),
        Some(v) => {
            if let Err(e) = semver::Version::parse(v) {
                err(format!("version {:?} is not semver: {e}", s.version));
            }
        }
    }
    // validate-krew-manifest's line-length limits (words longer than the limit are allowed).
    for (field, text, max) in [
        ("shortDescription", &s.short_description, 70),
        ("description", &s.description, 80),
        ("caveats", &s.caveats, 80),
    ] {
        for line in text.lines() {
            if line.chars().count() > max && line.trim().contains(' ') {
                err(format!("{field} line longer than {max}: {line:?}"));
            }
        }
    }
    // Not required by krew's code, but by krew-index review and by krew-release-bot.
    if s.description.trim().is_empty() {
        err("description is empty".into());
    }
    if !s.homepage.starts_with("https://") {
        err(format!("homepage {:?} is not an https URL", s.homepage));
    }

    for (i, pl) in s.platforms.iter().enumerate() {
        let at = format!("platforms[{i}]");
        if pl.uri.is_empty() {
            err(format!("{at}: uri is empty"));
        }
        if pl.sha256.is_empty() {
            err(format!("{at}: sha256 is empty"));
        }
        let hex = pl.sha256.len() == 64
            && pl
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex {
            err(format!(
                "{at}: sha256 {:?} does not match ^[a-f0-9]{{64}}$",
                pl.sha256
            ));
        }
        if pl.bin.is_empty() {
            err(format!("{at}: bin is empty"));
        }
        let bin = Path::new(&pl.bin);
        if bin.is_absolute()
            || pl.bin.starts_with('/')
            || pl.bin.split(['/', '\\']).any(|c| c == "..")
        {
            err(format!(
                "{at}: bin {:?} leaves the installation directory",
                pl.bin
            ));
        }
        if let Some(files) = &pl.files {
            if files.is_empty() {
                err(format!("{at}: files must be absent or non-empty"));
            }
            for f in files {
                if f.from.is_empty() || f.to.is_empty() {
                    err(format!("{at}: files entry needs both from and to"));
                }
            }
        }
        match &pl.selector {
            None => err(format!("{at}: no selector")),
            Some(sel) => {
                if sel.match_labels.is_none()
                    && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
                {
                    err(format!("{at}: empty selector"));
                }
                let keys = sel
                    .match_labels
                    .iter()
                    .flat_map(|m| m.keys().cloned())
                    .chain(
                        sel.match_expressions
                            .iter()
                            .flatten()
                            .map(|r| r.key.clone()),
                    );
                for key in keys {
                    if key != "os" && key != "arch" {
                        err(format!("{at}: selector key {key:?} not supported"));
                    }
                }
                if sel.match_labels.as_ref().is_some_and(BTreeMap::is_empty) {
                    err(format!("{at}: matchLabels specified but empty"));
                }
                if sel.match_expressions.as_ref().is_some_and(Vec::is_empty) {
                    err(format!("{at}: matchExpressions specified but empty"));
                }
                let matched: Vec<_> = KREW_PLATFORMS
                    .iter()
                    .filter(|(os, arch)| selector_matches(sel, os, arch))
                    .collect();
                if matched.is_empty() {
                    err(format!("{at}: selector matches no platform krew supports"));
                }
                // krew links `kubectl-upgrade.exe` to bin on Windows: it must be an .exe.
                let windows = matched.iter().any(|(os, _)| *os == "windows");
                if windows && !pl.bin.ends_with(".exe") {
                    err(format!(
                        "{at}: Windows bin {:?} does not end with .exe",
                        pl.bin
                    ));
                }
                if !windows && pl.bin.ends_with(".exe") {
                    err(format!("{at}: non-Windows bin {:?} ends with .exe", pl.bin));
                }
            }
        }
    }
    for (os, arch) in KREW_PLATFORMS {
        let idx: Vec<usize> = s
            .platforms
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.selector
                    .as_ref()
                    .is_some_and(|sel| selector_matches(sel, os, arch))
            })
            .map(|(i, _)| i)
            .collect();
        if idx.len() > 1 {
            err(format!("platforms {idx:?} overlap on {os}/{arch}"));
        }
    }
    errs
}

/// The (os, arch) a platform's selector names through matchLabels.
fn os_arch(p: &Platform) -> (String, String) {
    let labels = p
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default();
    (
        labels.get("os").cloned().unwrap_or_default(),
        labels.get("arch").cloned().unwrap_or_default(),
    )
}

/// `version` and `repository` from the `[package]` table of Cargo.toml.
fn cargo_package_field(field: &str) -> String {
    let text = read("Cargo.toml");
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(rest) = line.strip_prefix(field) {
                if let Some(v) = rest.trim_start().strip_prefix('=') {
                    return v.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    panic!("Cargo.toml [package] has no {field}");
}

/// One entry of release.yml's build matrix.
#[derive(Debug, Clone, Deserialize)]
struct MatrixEntry {
    target: String,
    os: String,
    arch: String,
    bin: String,
    archive: String,
}

fn release_workflow() -> serde_yaml::Value {
    serde_yaml::from_str(&read(".github/workflows/release.yml")).expect("release.yml parses")
}

fn release_matrix() -> Vec<MatrixEntry> {
    let wf = release_workflow();
    let include = wf["jobs"]["build"]["strategy"]["matrix"]["include"].clone();
    serde_yaml::from_value(include)
        .expect("jobs.build.strategy.matrix.include is a list of entries")
}

/// The `run` script of the step named `name` in job `job`.
fn step_script(job: &str, name: &str) -> String {
    let wf = release_workflow();
    let steps = wf["jobs"][job]["steps"]
        .as_sequence()
        .expect("steps")
        .clone();
    steps
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("release.yml job {job} has no step {name:?} with a run script"))
        .to_string()
}

#[test]
fn committed_manifest_passes_krew_validation() {
    let p = parse(&read("krew/upgrade.yaml"));
    let errs = krew_violations("upgrade.yaml", &p);
    assert!(errs.is_empty(), "krew/upgrade.yaml: {errs:#?}");
}

#[test]
fn manifest_matches_the_crate() {
    let p = parse(&read("krew/upgrade.yaml"));
    let version = cargo_package_field("version");
    assert_eq!(
        p.spec.version,
        format!("v{version}"),
        "spec.version vs Cargo.toml"
    );
    let repo = cargo_package_field("repository");
    assert_eq!(p.spec.homepage, repo, "homepage vs Cargo.toml repository");
    // krew-release-bot's ownership check: homepage is https://github.com/OWNER/...
    assert!(
        repo.starts_with("https://github.com/")
            && repo.trim_end_matches('/').split('/').count() == 5
    );
    // The plugin is `kubectl upgrade`, the binary `kubectl-upgrade`.
    assert_eq!(p.metadata.name, "upgrade");
    assert_eq!(
        env!("CARGO_BIN_EXE_kubectl-upgrade")
            .rsplit(['/', '\\'])
            .next()
            .map(|b| b.trim_end_matches(".exe")),
        Some("kubectl-upgrade")
    );
}

#[test]
fn manifest_offers_exactly_the_release_archives() {
    let p = parse(&read("krew/upgrade.yaml"));
    let matrix = release_matrix();
    let shipped: BTreeSet<(String, String)> = SHIPPED
        .iter()
        .map(|(o, a)| (o.to_string(), a.to_string()))
        .collect();
    let in_manifest: BTreeSet<(String, String)> = p.spec.platforms.iter().map(os_arch).collect();
    let in_matrix: BTreeSet<(String, String)> = matrix
        .iter()
        .map(|m| (m.os.clone(), m.arch.clone()))
        .collect();
    assert_eq!(in_manifest, shipped, "manifest platforms");
    assert_eq!(in_matrix, shipped, "release.yml matrix platforms");
    assert_eq!(
        p.spec.platforms.len(),
        SHIPPED.len(),
        "one manifest entry per platform"
    );
    assert_eq!(matrix.len(), SHIPPED.len(), "one matrix entry per platform");

    let download = format!("{}/releases/download/{}/", p.spec.homepage, p.spec.version);
    for pl in &p.spec.platforms {
        let (os, arch) = os_arch(pl);
        let m = matrix
            .iter()
            .find(|m| m.os == os && m.arch == arch)
            .expect("matrix entry");
        assert_eq!(
            pl.uri,
            format!("{download}{}", m.archive),
            "{os}/{arch} uri"
        );
        assert_eq!(pl.bin, m.bin, "{os}/{arch} bin");
        // The archive holds the binary at its root (see the Package step).
        assert_eq!(
            m.bin,
            if os == "windows" {
                "kubectl-upgrade.exe"
            } else {
                "kubectl-upgrade"
            }
        );
        let ext = if os == "windows" { ".zip" } else { ".tar.gz" };
        assert!(
            m.archive.ends_with(ext),
            "{os}/{arch} archive {} should be {ext}",
            m.archive
        );
        assert!(
            pl.files.is_none(),
            "files: unset, so krew installs the whole archive incl. LICENSE"
        );
        // Target triples: static musl on Linux, the matching CPU everywhere.
        let cpu = if arch == "amd64" { "x86_64" } else { "aarch64" };
        let triple_os = match os.as_str() {
            "linux" => "unknown-linux-musl",
            "darwin" => "apple-darwin",
            _ => "pc-windows-msvc",
        };
        assert_eq!(m.target, format!("{cpu}-{triple_os}"), "{os}/{arch} target");
    }
}

/// Render krew/.krew.yaml the way krew-release-bot does (Go text/template with `.TagName`
/// and `addURIAndSha URL TAG`, which emits `uri: URL` and a `sha256:` line indented by four
/// spaces), taking checksums from `sums` by URL.
fn render_bot_template(template: &str, tag: &str, sums: &BTreeMap<String, String>) -> String {
    const TAG: &str = "{{ .TagName }}";
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let action = &rest[start..];
        if let Some(after) = action.strip_prefix(TAG) {
            out.push_str(tag);
            rest = after;
        } else if let Some(call) = action.strip_prefix("{{addURIAndSha \"") {
            let close = call.find('"').expect("addURIAndSha URL literal is closed");
            let url = call[..close].replace(TAG, tag);
            let tail = call[close + 1..]
                .strip_prefix(" .TagName }}")
                .expect("addURIAndSha URL .TagName }}");
            let sum = sums
                .get(&url)
                .unwrap_or_else(|| panic!("no release asset {url}"));
            out.push_str(&format!("uri: {url}\n    sha256: {sum}"));
            rest = tail;
        } else {
            panic!(
                "template action the test does not know: {}",
                &action[..action.len().min(40)]
            );
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn bot_template_renders_to_the_manifest() {
    let manifest = parse(&read("krew/upgrade.yaml"));
    let sums: BTreeMap<String, String> = manifest
        .spec
        .platforms
        .iter()
        .map(|p| (p.uri.clone(), p.sha256.clone()))
        .collect();
    let rendered = render_bot_template(&read("krew/.krew.yaml"), &manifest.spec.version, &sums);
    let from_template = parse(&rendered);
    assert_eq!(
        from_template, manifest,
        "krew/.krew.yaml rendered for {}:\n{rendered}",
        manifest.spec.version
    );
    assert!(krew_violations("upgrade.yaml", &from_template).is_empty());

    // A later tag moves the version and every uri, and still validates.
    let next_sums: BTreeMap<String, String> = sums
        .iter()
        .enumerate()
        .map(|(i, (u, _))| {
            (
                u.replace(&manifest.spec.version, "v1.10.0"),
                format!("{:064x}", i + 1),
            )
        })
        .collect();
    let next = parse(&render_bot_template(
        &read("krew/.krew.yaml"),
        "v1.10.0",
        &next_sums,
    ));
    assert_eq!(next.spec.version, "v1.10.0");
    assert!(next
        .spec
        .platforms
        .iter()
        .all(|p| p.uri.contains("/download/v1.10.0/")));
    assert!(krew_violations("upgrade.yaml", &next).is_empty());
}

#[test]
fn validator_rejects_broken_manifests() {
    let good = parse(&read("krew/upgrade.yaml"));
    type Mutation = fn(&mut Plugin);
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "apiVersion",
            |p| p.api_version = "krew.googlecontainertools.github.com/v1alpha1".into(),
            "apiVersion",
        ),
        ("kind", |p| p.kind = "Plugins".into(), "kind"),
        (
            "name differs from file",
            |p| p.metadata.name = "upgrades".into(),
            "file name",
        ),
        ("no v", |p| p.spec.version = "0.1.0".into(), "'v'"),
        ("not semver", |p| p.spec.version = "v0.1".into(), "semver"),
        (
            "short description empty",
            |p| p.spec.short_description.clear(),
            "shortDescription is empty",
        ),
        (
            "short description two lines",
            |p| p.spec.short_description.push_str("\nmore"),
            "line break",
        ),
        (
            "short description long",
            |p| p.spec.short_description = "word ".repeat(20),
            "longer than 70",
        ),
        (
            "description line long",
            |p| p.spec.description = "word ".repeat(20),
            "longer than 80",
        ),
        (
            "description empty",
            |p| p.spec.description.clear(),
            "description is empty",
        ),
        (
            "homepage",
            |p| p.spec.homepage = "http://example.com".into(),
            "https",
        ),
        ("no platforms", |p| p.spec.platforms.clear(), "no platforms"),
        (
            "uppercase sha",
            |p| p.spec.platforms[0].sha256 = "A".repeat(64),
            "sha256",
        ),
        (
            "short sha",
            |p| p.spec.platforms[0].sha256 = "a".repeat(63),
            "sha256",
        ),
        (
            "empty uri",
            |p| p.spec.platforms[0].uri.clear(),
            "uri is empty",
        ),
        (
            "empty bin",
            |p| p.spec.platforms[1].bin.clear(),
            "bin is empty",
        ),
        (
            "bin escapes",
            |p| p.spec.platforms[1].bin = "../kubectl-upgrade".into(),
            "leaves",
        ),
        (
            "windows without exe",
            |p| p.spec.platforms[4].bin = "kubectl-upgrade".into(),
            ".exe",
        ),
        (
            "linux with exe",
            |p| p.spec.platforms[0].bin = "kubectl-upgrade.exe".into(),
            ".exe",
        ),
        (
            "no selector",
            |p| p.spec.platforms[0].selector = None,
            "no selector",
        ),
        (
            "empty files",
            |p| p.spec.platforms[0].files = Some(vec![]),
            "files",
        ),
        (
            "files without to",
            |p| {
                p.spec.platforms[0].files = Some(vec![FileOp {
                    from: "*".into(),
                    to: String::new(),
                }])
            },
            "from and to",
        ),
        (
            "unknown selector key",
            |p| {
                if let Some(l) = p.spec.platforms[0]
                    .selector
                    .as_mut()
                    .and_then(|s| s.match_labels.as_mut())
                {
                    l.insert("distro".into(), "ubuntu".into());
                }
            },
            "not supported",
        ),
        (
            "empty matchLabels",
            |p| {
                p.spec.platforms[0].selector = Some(Selector {
                    match_labels: Some(BTreeMap::new()),
                    match_expressions: None,
                })
            },
            "empty",
        ),
        (
            "unsupported platform",
            |p| {
                if let Some(l) = p.spec.platforms[0]
                    .selector
                    .as_mut()
                    .and_then(|s| s.match_labels.as_mut())
                {
                    l.insert("arch".into(), "s390x".into());
                }
            },
            "no platform krew supports",
        ),
        (
            "duplicate platform",
            |p| {
                let dup = p.spec.platforms[0].clone();
                p.spec.platforms.push(dup);
            },
            "overlap on linux/amd64",
        ),
        (
            "overlapping expression",
            |p| {
                p.spec.platforms[1].selector = Some(Selector {
                    match_labels: None,
                    match_expressions: Some(vec![Requirement {
                        key: "os".into(),
                        operator: "In".into(),
                        values: vec!["linux".into()],
                    }]),
                })
            },
            "overlap on linux/amd64",
        ),
    ];
    for (what, mutate, expect) in cases {
        let mut p = good.clone();
        mutate(&mut p);
        let errs = krew_violations("upgrade.yaml", &p);
        assert!(
            errs.iter().any(|e| e.contains(expect)),
            "{what}: expected an error containing {expect:?}, got {errs:?}"
        );
    }
    // The file name itself.
    assert!(!krew_violations("upgrade.yml", &good).is_empty());
    assert!(krew_violations(
        "nul.yaml",
        &Plugin {
            metadata: Metadata { name: "nul".into() },
            ..good.clone()
        }
    )
    .iter()
    .any(|e| e.contains("not allowed")));
    assert!(krew_violations(
        "up grade.yaml",
        &Plugin {
            metadata: Metadata {
                name: "up grade".into()
            },
            ..good
        }
    )
    .iter()
    .any(|e| e.contains("not allowed")));
    // A typo'd field does not slip through.
    let typo = read("krew/upgrade.yaml").replace("shortDescription:", "shortDesc:");
    assert!(serde_yaml::from_str::<Plugin>(&typo).is_err());
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn bash(script: &str, dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run bash")
}

#[test]
fn package_step_builds_the_archive_krew_installs() {
    // Windows runners resolve `bash` to WSL; the step itself runs in Git Bash there.
    if cfg!(windows) || !have("bash") || !have("tar") {
        eprintln!("skipping: needs a POSIX bash and tar");
        return;
    }
    let script = step_script("build", "Package");
    for m in release_matrix()
        .into_iter()
        .filter(|m| m.archive.ends_with(".tar.gz"))
    {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("target").join(&m.target).join("release");
        std::fs::create_dir_all(&release).unwrap();
        std::fs::write(release.join(&m.bin), b"binary").unwrap();
        std::fs::copy(root().join("LICENSE"), dir.path().join("LICENSE")).unwrap();
        std::fs::write(dir.path().join("README.md"), b"readme").unwrap();

        let out = bash(
            &script,
            dir.path(),
            &[
                ("TARGET", &m.target),
                ("BIN", &m.bin),
                ("ARCHIVE", &m.archive),
            ],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            m.target,
            String::from_utf8_lossy(&out.stderr)
        );

        let dist = dir.path().join("dist");
        let list = Command::new("tar")
            .arg("-tzf")
            .arg(dist.join(&m.archive))
            .output()
            .unwrap();
        let mut files: Vec<String> = String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        files.sort();
        // The manifest's bin at the archive root, and a LICENSE file krew-index requires.
        assert_eq!(
            files,
            vec!["LICENSE".to_string(), "README.md".into(), m.bin.clone()],
            "{}",
            m.archive
        );
        let sums = std::fs::read_to_string(dist.join(format!("{}.sha256", m.archive))).unwrap();
        let fields: Vec<&str> = sums.split_whitespace().collect();
        assert_eq!(fields.len(), 2, "{sums}");
        assert_eq!(fields[1], m.archive);
        assert!(
            fields[0].len() == 64
                && fields[0]
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        if have("sha256sum") {
            let check = bash(
                &format!("sha256sum --check --strict {}.sha256", m.archive),
                &dist,
                &[],
            );
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stdout)
            );
        }
    }
}

#[test]
fn release_fills_the_manifest_checksums() {
    if cfg!(windows) || !have("bash") || !have("awk") {
        eprintln!("skipping: needs a POSIX bash and awk");
        return;
    }
    let script = step_script("release", "Fill in the Krew manifest");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("krew")).unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::copy(
        root().join("krew/upgrade.yaml"),
        dir.path().join("krew/upgrade.yaml"),
    )
    .unwrap();
    let matrix = release_matrix();
    let mut want = BTreeMap::new();
    for (i, m) in matrix.iter().enumerate() {
        let sum = format!("{:064x}", 0xabc0 + i);
        std::fs::write(
            dir.path().join(format!("dist/{}.sha256", m.archive)),
            format!("{sum}  {}\n", m.archive),
        )
        .unwrap();
        want.insert(m.archive.clone(), sum);
    }
    let out = bash(&script, dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filled = parse(&std::fs::read_to_string(dir.path().join("dist/upgrade.yaml")).unwrap());
    assert!(krew_violations("upgrade.yaml", &filled).is_empty());
    for p in &filled.spec.platforms {
        let archive = p.uri.rsplit('/').next().unwrap();
        assert_eq!(&p.sha256, &want[archive], "{archive}");
    }
    // Everything but the checksums is unchanged.
    let mut committed = parse(&read("krew/upgrade.yaml"));
    for (c, f) in committed
        .spec
        .platforms
        .iter_mut()
        .zip(&filled.spec.platforms)
    {
        c.sha256 = f.sha256.clone();
    }
    assert_eq!(committed, filled);
    let all = std::fs::read_to_string(dir.path().join("dist/checksums.txt")).unwrap();
    assert_eq!(all.lines().count(), matrix.len());

    // A missing checksum fails the step instead of shipping a placeholder.
    std::fs::remove_file(
        dir.path()
            .join(format!("dist/{}.sha256", matrix[0].archive)),
    )
    .unwrap();
    let out = bash(&script, dir.path(), &[]);
    assert!(
        !out.status.success(),
        "fill must fail without {}",
        matrix[0].archive
    );
}

#[test]
fn release_notes_come_from_this_versions_changelog_section() {
    if cfg!(windows) || !have("bash") || !have("awk") {
        eprintln!("skipping: needs a POSIX bash and awk");
        return;
    }
    let script = step_script("release", "Release notes from CHANGELOG.md");
    let version = cargo_package_field("version");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("CHANGELOG.md"), dir.path().join("CHANGELOG.md")).unwrap();
    let tag = format!("v{version}");
    let out = bash(&script, dir.path(), &[("TAG", &tag)]);
    assert!(
        out.status.success(),
        "CHANGELOG.md needs a section for {tag}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let notes = std::fs::read_to_string(dir.path().join("notes.md")).unwrap();
    assert!(notes.contains("### "), "notes for {tag}:\n{notes}");
    assert!(
        !notes.contains("## [") && !notes.contains("]: https://"),
        "only this section:\n{notes}"
    );

    // A tag without a section fails the release instead of publishing empty notes.
    let out = bash(&script, dir.path(), &[("TAG", "v99.0.0")]);
    assert!(!out.status.success());
}
