//! Command-line definition. Program name is `kubectl upgrade` in help, as users type it.

pub mod check;
pub mod completion;
pub mod drain;
pub mod drain_next;
pub mod fleet;
pub mod simulate;
pub mod status;

use crate::client::connect::ConnectOpts;
use check::{CheckArgs, SnapshotArgs};
use clap::{Args, Parser, Subcommand, ValueEnum};
use completion::CompletionArgs;
use drain::{CordonArgs, DrainArgs, UncordonArgs};
use drain_next::DrainNextArgs;

/// Write a command's output; `| head` closing the pipe early is not an error.
/// The rollout commands' `--to` (drain-next, simulate, status): a full version, or a usage
/// error saying why and what to give.
pub fn parse_rollout_target(
    to: Option<&str>,
) -> Result<Option<crate::facts::version::Version>, crate::exit::CliError> {
    to.map(|t| {
        crate::facts::version::parse(t).map_err(|e| {
            crate::exit::CliError::usage(format!(
                "cannot read target version '{t}' ({e}); use e.g. --to v1.33.2"
            ))
        })
    })
    .transpose()
}

pub fn write_stdout(text: &str) -> Result<(), crate::exit::CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(crate::exit::CliError::usage(format!(
            "cannot write to stdout: {e}"
        ))),
    }
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   ok: all checks pass / node drained / nothing to do
  1   check: warnings only
  2   check: skew violations or unsupported version; drain: blocked, timed out or only partly
      drained (node left cordoned); uncordon: refused; simulate: the rollout stops at a step
  3   could not read or change the cluster (connect, auth, RBAC, API error, server lost)
  4   drain-next: a node drained earlier is still in progress (use --allow-another)
  5   drain-next: the cluster did not settle after the last node (--validate-timeout)
  6   drain, drain-next: another rollout holds the lock (named; --wait-for-lock waits)
  64  usage error (bad flag, malformed version, unreadable file, unknown node, a selector
      matching nothing)
  70  internal error (a bug: please report it)
  130 interrupted by SIGINT, SIGTERM or SIGHUP (node left cordoned, lock released; rerun the
      printed command to resume)";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl upgrade",
    bin_name = "kubectl upgrade",
    version,
    about = "Make Kubernetes cluster upgrades safe and boring: version skew, support window, \
             one-minor-at-a-time path, and PDB-aware drains through the Eviction API.",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// Output format: table (default), wide (per node), json or yaml; for `check`, also sarif
    /// (SARIF 2.1.0, for code scanning) or junit (JUnit XML, for test report views).
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// drain and drain-next only: remove only pods in this namespace; pods in other namespaces
    /// stay on the node and are neither checked nor listed. Ignored by other commands.
    /// Default: every namespace (the kubeconfig context's namespace is not used).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
    /// SARIF 2.1.0 (`check` only).
    Sarif,
    /// JUnit XML (`check` only).
    Junit,
}

impl OutputFormat {
    /// `-o sarif` or `-o junit`: formats of one check report.
    pub fn is_check_evidence(self) -> bool {
        matches!(self, OutputFormat::Sarif | OutputFormat::Junit)
    }

    /// The renderer's machine format for `-o json|yaml` (JSON for the others).
    pub fn machine(self) -> crate::render::Machine {
        match self {
            OutputFormat::Yaml => crate::render::Machine::Yaml,
            _ => crate::render::Machine::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report every component's version, skew verdicts, support window, the upgrade path and drain blockers.
    Check(CheckArgs),
    /// Capture what `check` needs as one JSON file, for `check --snapshot` offline.
    Snapshot(SnapshotArgs),
    /// Mark nodes unschedulable.
    Cordon(CordonArgs),
    /// Mark nodes schedulable again (checks drain-next nodes are back at the target).
    Uncordon(UncordonArgs),
    /// Cordon a node and evict its pods through the Eviction API, respecting PodDisruptionBudgets.
    Drain(DrainArgs),
    /// Pick the next node to upgrade, cordon it and drain it.
    DrainNext(DrainNextArgs),
    /// Predict the whole node rollout step by step (order, moves, budgets, blockers); reads only.
    Simulate(simulate::SimulateArgs),
    /// Show where the node rollout stands: at target, in progress, waiting, blocked, per pool.
    Status(status::StatusArgs),
    /// Print shell completion scripts, or the kubectl plugin completion shim.
    Completion(CompletionArgs),
    /// Print the plugin version, commit and release-data date.
    Version,
}
