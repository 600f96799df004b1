//! `check` and `snapshot`: read the inventory (live or from a snapshot), apply the pure
//! policy, render the report.

use crate::cli::{Global, OutputFormat};
use crate::exit::{CliError, Code};
use crate::facts::version::Minor;
use crate::inventory::ingest;
use crate::inventory::live;
use crate::inventory::Reducer;
use crate::policy::releases;
use crate::render;
use crate::report::{self, CheckReport, Context};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  # Check the current context's cluster
  kubectl upgrade check
  # Plan the path to 1.33 and show every node
  kubectl upgrade check --to v1.33 -o wide
  # Offline, from a snapshot (or a plain `kubectl get nodes,pods,pdb,cm -A -o json`)
  kubectl upgrade check --snapshot cluster.json -o json
  # Reproducible verdicts for a given day
  kubectl upgrade check --snapshot examples/kubeadm-mid-upgrade.json --now 2026-11-23

Exit codes: 0 all ok, 1 warnings only, 2 violations or unsupported, 3 could not read the cluster, 64 usage.")]
pub struct CheckArgs {
    /// Read the cluster from a dump instead of the API: our snapshot, any JSON or YAML List or
    /// object, a directory (`kubectl cluster-info dump --output-directory`, a support bundle,
    /// sonobuoy results) or a .tar.gz of one; `-` is stdin. Repeat to combine files of one
    /// cluster.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Vec<PathBuf>,
    /// The control-plane version, for a dump that holds none (e.g. a managed cluster's
    /// `kubectl get nodes -o json`); overrides the dump's.
    #[arg(long, value_name = "vX.Y.Z")]
    pub apiserver_version: Option<String>,
    /// Target version for the path (default: the newest minor in the release data).
    #[arg(long, value_name = "vX.Y")]
    pub to: Option<String>,
    /// Compute support-window verdicts for this day (YYYY-MM-DD) instead of today (UTC).
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,
    /// Release calendar to use instead of the compiled-in one (same YAML format as data/releases.yaml).
    #[arg(long, value_name = "FILE")]
    pub releases: Option<PathBuf>,
    /// Removed-API, runtime and add-on data to use instead of the compiled-in one (same YAML
    /// format as data/apis.yaml).
    #[arg(long, value_name = "FILE")]
    pub apis: Option<PathBuf>,
    /// Manifests to check for removed APIs (files or directories, read recursively;
    /// multi-document YAML, JSON, Lists; repeatable). Without --snapshot no cluster is read:
    /// `check --file DIR --to v1.33` judges the manifests alone (add --apiserver-version to
    /// say where the cluster starts).
    #[arg(long = "file", short = 'f', value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Check every context of the kubeconfig (all files of $KUBECONFIG): one fleet report.
    #[arg(long)]
    pub all_contexts: bool,
    /// Check the contexts whose name matches GLOB (`*` and `?`), e.g. 'prod-*'.
    #[arg(long, value_name = "GLOB")]
    pub contexts_matching: Option<String>,
    /// Fleet checks: how many clusters are checked at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// Fleet checks: the time limit for one cluster's whole check (it becomes that row's error).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::client::connect::parse_duration)]
    pub context_timeout: std::time::Duration,
    /// Fleet checks: each cluster's full report after the summary table.
    #[arg(long)]
    pub details: bool,
    /// Also read Helm 3 release Secrets (the latest deployed revision of each release) for
    /// removed APIs. Needs `list secrets`, which the read-only role does not grant: see
    /// ClusterRole kubectl-upgrade-helm in deploy/rbac.yaml.
    #[arg(long)]
    pub helm: bool,
    /// Also read each kubelet's live configuration (`nodes/NAME/proxy/configz`) for feature
    /// gates a hop removes. Needs `get nodes/proxy`, a powerful permission the read-only role
    /// does not grant: see ClusterRole kubectl-upgrade-kubelet-configz in deploy/rbac.yaml.
    #[arg(long)]
    pub kubelet_configz: bool,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  kubectl upgrade snapshot > cluster.json
  kubectl upgrade check --snapshot cluster.json

Pods are stripped to name, namespace, labels, owner, node, images, emptyDir volumes and phase:
no environment, no secrets, no managedFields. Objects scanned for removed APIs keep only their
name, namespace and the API versions they were written with; CRDs only their versions.")]
pub struct SnapshotArgs {
    /// Also record the API usages of Helm 3 releases (reads Secrets: see ClusterRole kubectl-upgrade-helm in deploy/rbac.yaml).
    #[arg(long)]
    pub helm: bool,
    /// Snapshot every context of the kubeconfig into --output-directory (one file each, plus
    /// fleet.json); `check --snapshot DIR` reviews them all offline.
    #[arg(long, requires = "output_directory")]
    pub all_contexts: bool,
    /// Snapshot the contexts whose name matches GLOB into --output-directory.
    #[arg(long, value_name = "GLOB", requires = "output_directory")]
    pub contexts_matching: Option<String>,
    /// Where fleet snapshots go (created if missing).
    #[arg(long, value_name = "DIR")]
    pub output_directory: Option<PathBuf>,
    /// Fleet snapshots: how many clusters at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// Fleet snapshots: the time limit for one cluster.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::client::connect::parse_duration)]
    pub context_timeout: std::time::Duration,
}

/// Parse `--to`.
pub fn parse_target(to: Option<&str>) -> Result<Option<Minor>, CliError> {
    to.map(|t| {
        t.parse::<Minor>().map_err(|_| {
            CliError::usage(format!(
                "malformed --to '{t}': expected vMAJOR.MINOR or vMAJOR.MINOR.PATCH, e.g. v1.33"
            ))
        })
    })
    .transpose()
}

/// `--to v1.34.3` names a patch (`v1.34` does not): the version, kept as given.
fn patch_given(to: &str) -> Option<crate::facts::version::Version> {
    let core = to.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    (core.matches('.').count() >= 2)
        .then(|| crate::facts::version::parse(to).ok())
        .flatten()
}

/// Parse `--apiserver-version` (kept as given once it parses).
pub fn parse_apiserver_version(v: Option<&str>) -> Result<Option<String>, CliError> {
    v.map(|s| match crate::facts::version::parse(s) {
        Ok(_) => Ok(if s.starts_with('v') {
            s.to_string()
        } else {
            format!("v{s}")
        }),
        Err(_) => Err(CliError::usage(format!(
            "malformed --apiserver-version '{s}': expected vMAJOR.MINOR.PATCH as /version reports it, e.g. v1.29.4"
        ))),
    })
    .transpose()
}

/// Parse `--now`, default today in UTC.
pub fn parse_today(now: Option<&str>) -> Result<jiff::civil::Date, CliError> {
    match now {
        Some(s) => s.parse::<jiff::civil::Date>().map_err(|_| {
            CliError::usage(format!(
                "malformed --now '{s}': expected YYYY-MM-DD, e.g. 2026-11-23"
            ))
        }),
        None => Ok(jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()),
    }
}

/// `check`'s inputs besides the cluster, validated before touching the network.
pub struct Inputs {
    pub target: Option<Minor>,
    /// `--to` with a patch, kept as given.
    pub target_version: Option<crate::facts::version::Version>,
    pub today: jiff::civil::Date,
    pub calendar: releases::Calendar,
    pub apis: crate::policy::apis::ApiData,
    pub apiserver: Option<String>,
}

impl Inputs {
    pub fn of(args: &CheckArgs) -> Result<Inputs, CliError> {
        Ok(Inputs {
            target: parse_target(args.to.as_deref())?,
            target_version: args.to.as_deref().and_then(patch_given),
            today: parse_today(args.now.as_deref())?,
            calendar: match &args.releases {
                Some(path) => load_releases(path)?,
                None => releases::builtin(),
            },
            apis: match &args.apis {
                Some(path) => load_apis(path)?,
                None => crate::policy::apis::builtin(),
            },
            apiserver: parse_apiserver_version(args.apiserver_version.as_deref())?,
        })
    }

    pub fn context(&self) -> Context<'_> {
        Context {
            calendar: &self.calendar,
            apis: &self.apis,
            today: self.today,
            target: self.target,
            target_version: self.target_version.clone(),
        }
    }
}

/// One live cluster's report, through `connect`.
pub async fn live_report(
    args: &CheckArgs,
    connect: &crate::client::connect::ConnectOpts,
    inputs: &Inputs,
) -> Result<CheckReport, CliError> {
    let inv = live::inventory(connect, &inputs.apis, args.helm, args.kubelet_configz).await?;
    Ok(report::build(&inv, &inputs.context())?)
}

pub async fn build_report(args: &CheckArgs, global: &Global) -> Result<CheckReport, CliError> {
    let inputs = Inputs::of(args)?;
    let ctx = inputs.context();
    let apiserver = inputs.apiserver.clone();
    let apis = &inputs.apis;
    if !args.files.is_empty() && args.snapshot.is_empty() {
        if args.helm {
            return Err(CliError::usage(
                "--helm reads a cluster; --file without --snapshot reads manifests only: drop one",
            ));
        }
        let named = args
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut reducer = Reducer::new(format!("manifests {named}"));
        ingest::read_manifests(&args.files, &mut reducer)?;
        if let Some(v) = apiserver {
            reducer.set_server_version(v);
        }
        return Ok(report::build_manifests(&reducer.finish(), &ctx));
    }
    let inv = if args.snapshot.is_empty() {
        if apiserver.is_some() {
            return Err(CliError::usage(
                "--apiserver-version is for --snapshot dumps; a live cluster answers /version itself",
            ));
        }
        live::inventory(&global.connect, apis, args.helm, args.kubelet_configz).await?
    } else {
        if args.kubelet_configz {
            return Err(CliError::usage(
                "--kubelet-configz asks the live kubelets; give a kubelet's configuration file with --file instead",
            ));
        }
        if args.helm {
            return Err(CliError::usage(
                "--helm reads the live cluster's Secrets; a snapshot keeps the Helm findings it was taken with (`snapshot --helm`)",
            ));
        }
        let mut reducer = ingest::read_paths(&args.snapshot, apiserver.as_deref())?;
        if !args.files.is_empty() {
            ingest::read_manifests(&args.files, &mut reducer)?;
        }
        reducer.finish()
    };
    Ok(report::build(&inv, &ctx)?)
}

/// Loads API data in the `data/apis.yaml` format (`--apis FILE`).
pub fn load_apis(path: &std::path::Path) -> Result<crate::policy::apis::ApiData, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!(
            "cannot read API data {}: {e}; check --apis",
            path.display()
        ))
    })?;
    crate::policy::apis::parse_str(&text).map_err(|e| {
        CliError::usage(format!(
            "invalid API data {}: {e} (expected the format of data/apis.yaml)",
            path.display()
        ))
    })
}

/// Loads a calendar in the `data/releases.yaml` format (`--releases FILE`).
/// Errors are usage errors naming the file (and line, when the YAML is malformed).
pub fn load_releases(path: &std::path::Path) -> Result<releases::Calendar, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!("cannot read release data {}: {e}", path.display()))
    })?;
    releases::parse_str(&text).map_err(|e| {
        CliError::usage(format!(
            "invalid release data {}: {e} (expected the format of data/releases.yaml)",
            path.display()
        ))
    })
}

impl CheckArgs {
    /// Several clusters: `--all-contexts`, `--contexts-matching` or `--context` repeated.
    pub fn is_fleet(&self, global: &Global) -> bool {
        self.all_contexts || self.contexts_matching.is_some() || global.connect.context.len() > 1
    }
}

impl SnapshotArgs {
    /// Several clusters: `--all-contexts`, `--contexts-matching` or `--context` repeated.
    pub fn is_fleet(&self, global: &Global) -> bool {
        self.all_contexts || self.contexts_matching.is_some() || global.connect.context.len() > 1
    }
}

/// One cluster's check (fleets go to `cli::fleet`, chosen in `app`).
pub async fn run_check(args: &CheckArgs, global: &Global) -> Result<Code, CliError> {
    let report = build_report(args, global).await?;
    let text = match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            render::machine(&report, global.output.machine())?
        }
        OutputFormat::Table => render::human(&report, false, render::use_colour()),
        OutputFormat::Wide => render::human(&report, true, render::use_colour()),
        OutputFormat::Sarif => {
            render::machine(&crate::evidence::sarif(&report), render::Machine::Json)?
        }
        OutputFormat::Junit => crate::evidence::junit(&report)
            .map_err(|e| CliError::usage(format!("cannot write JUnit XML: {e}")))?,
    };
    crate::cli::write_stdout(&text)?;
    Ok(match report.summary.exit_code {
        0 => Code::Ok,
        1 => Code::Warnings,
        _ => Code::Violations,
    })
}

/// `snapshot` writes JSON only.
pub fn snapshot_format(global: &Global) -> Result<(), CliError> {
    if matches!(global.output, OutputFormat::Yaml | OutputFormat::Wide) {
        return Err(CliError::usage(
            "snapshot writes one JSON List (what `check --snapshot` reads); drop -o or use -o json",
        ));
    }
    Ok(())
}

/// One cluster's snapshot to stdout (fleets go to `cli::fleet`, chosen in `app`).
pub async fn run_snapshot(args: &SnapshotArgs, global: &Global) -> Result<Code, CliError> {
    if args.output_directory.is_some() {
        return Err(CliError::usage(
            "--output-directory is for fleet snapshots (--all-contexts, --contexts-matching, several --context); one snapshot goes to stdout",
        ));
    }
    let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    live::snapshot(&global.connect, args.helm, out).await?;
    Ok(Code::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_reports_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(
            &good,
            "asOf: 2027-01-01\nsources: [x]\nreleases:\n  - { minor: \"1.38\", released: 2026-12-10, endOfLife: 2028-02-28, latestPatch: \"1.38.0\" }\n",
        )
        .unwrap();
        let cal = load_releases(&good).unwrap();
        assert_eq!(
            cal.newest().unwrap().minor,
            crate::facts::version::Minor::new(1, 38)
        );

        let table: [(&str, &[&str]); 7] = [
            ("asOf: 2027-01-01\nsources: []\nreleases:\n  - { minor: \"one\", released: 2024-04-17, endOfLife: 2025-07-15, latestPatch: \"1.30.14\" }\n", &["line 4", "malformed minor"]),
            ("asOf: 2027-01-01\nsources: []\nreleases:\n  - { minor: \"1.30\", released: 2024-13-17, endOfLife: 2025-07-15, latestPatch: \"1.30.14\" }\n", &["line 4"]),
            ("asOf: 2027-01-01\nsources: []\nreleases:\n  - minor: \"1.30\"\n    released: 2024-04-17\n    endOfLife: 2025-07-15\n    latest: \"1.30.14\"\n", &["line 7", "unknown field `latest`"]),
            ("asOf: 2027-01-01\nsources: []\nreleases:\n  - { minor: \"1.30\", released: 2024-04-17, endOfLife: 2025-07-15, latestPatch: \"1.31.2\" }\n", &["1.30", "not a 1.30 release"]),
            ("asOf: 2027-01-01\nsources: []\nreleases:\n  - { minor: \"1.30\", released: 2024-04-17, endOfLife: 2023-07-15, latestPatch: \"1.30.1\" }\n", &["not after"]),
            ("asOf: 2027-01-01\nsources: []\nreleases: []\n", &["no releases"]),
            ("asOf: [\n", &["line"]),
        ];
        for (i, (text, wants)) in table.iter().enumerate() {
            let p = dir.path().join(format!("bad{i}.yaml"));
            std::fs::write(&p, text).unwrap();
            let err = load_releases(&p).unwrap_err();
            assert_eq!(err.code, crate::exit::Code::Usage);
            assert!(
                err.message.contains(&format!("bad{i}.yaml")),
                "{}",
                err.message
            );
            for w in *wants {
                assert!(
                    err.message.contains(w),
                    "case {i}: want {w:?} in {}",
                    err.message
                );
            }
        }
        let missing = load_releases(&dir.path().join("nope.yaml")).unwrap_err();
        assert_eq!(missing.code, crate::exit::Code::Usage);
        assert!(missing.message.contains("nope.yaml"));
    }
}
