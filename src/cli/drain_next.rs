//! Command-line layer of `drain-next`: its flags, parsed into the rollout's typed
//! [`Options`], and the rendering of what the run did ([`crate::rollout`] plans and acts).

use crate::cli::drain::{parse_selector, resume_command, DrainFlags};
use crate::cli::{Global, OutputFormat};
use crate::exit::{CliError, Code};
use crate::facts::pdb::IntOrPercent;
use crate::facts::selector::Selector;
use crate::policy::batch;
use crate::rollout::plan::{NodeEnd, OnBlocked, Options, Strategy, Verdict};
use crate::rollout::run::{self, Env, Ran};
use crate::signals::Stop;
use clap::{Args, ValueEnum};
use std::time::Duration;

const DRAIN_NEXT_EXAMPLES: &str = "\
Examples:
  # Drain the next node to upgrade to the API server's version
  kubectl upgrade drain-next

  # Upgrade nodes to v1.33.2, workers of one pool only, showing the choice first
  kubectl upgrade drain-next --to v1.33.2 -l pool=blue --dry-run

  # Uncordon nodes that came back Ready at the target, then drain the next one
  kubectl upgrade drain-next --uncordon-upgraded

  # Drain a specific node even though it is NotReady or cordoned by someone else
  kubectl upgrade drain-next node-7

  # Surge: new nodes at v1.33.2 were added; move the workloads off the old ones, one at a
  # time, and remove each drained Node object
  kubectl upgrade drain-next --to v1.33.2 --strategy replace --delete-node

  # A large pool: three workers at a time (budgets shared across the three are named first)
  kubectl upgrade drain-next --to v1.33.2 -l pool=blue --max-unavailable 3

  # Downtime accepted: cordon every selected worker, then drain them all
  kubectl upgrade drain-next --to v1.33.2 -l pool=batch --strategy all-at-once --accept-downtime

Strategies: one-at-a-time (default) drains a node, waits for it to come back upgraded and
uncordoned, then takes the next; replace drains old nodes onto nodes already at the target
(at least one must be Ready and schedulable), first tainting the pool's other old nodes
kubectl-upgrade.io/scheduled-for-replacement=TARGET:PreferNoSchedule so evicted pods prefer
the new nodes, leaves each drained node cordoned and recorded as drained for removal (it never
blocks the next one), and with --delete-node deletes its Node object after a successful drain; all-at-once (only with --accept-downtime) cordons every
selected worker below the target first, then drains them together: workloads with no room on
other nodes are down until the nodes come back, and budgets still hold evictions back.
--max-unavailable N or N% (of the workers considered, rounded down, at least 1) drains up to N
workers at a time with one-at-a-time or replace; an N that takes every worker considered is
all at once and needs --accept-downtime. Control-plane nodes always go one at a time.

Validation between nodes (default; --no-validate skips it): before a new node is taken, the
nodes drained earlier are back and uncordoned (one-at-a-time), every PDB is healthy again
(currentHealthy >= desiredHealthy) and no controller-owned pod created since the last drain is
Pending; it waits up to --validate-timeout, then stops with exit code 5, changing nothing.

Order: control-plane nodes first, then workers; oldest kubelet first, then by name. One node at a
time: while a node drained by drain-next is cordoned and not yet back at the target version,
drain-next stops with exit code 4 naming it (finish it: upgrade it, then `kubectl upgrade uncordon
NODE`; or use --allow-another), also when another node is named; naming the node in progress
resumes it. An interrupted drain is resumed by the next run (progress is recorded in the node
annotation kubectl-upgrade.io/drain-progress; nodes drained by plain `drain` carry it too, without
a target, and do not count as in progress).

The rollout lock: every run that changes nodes first takes the Lease
kube-system/kubectl-upgrade-rollout (renewed every 15 s, released at the end, on Ctrl-C and on
SIGTERM); a second run is refused with exit code 6 naming who holds it, on which node, running
what, since when (--wait-for-lock DURATION waits for it). A lock not renewed for 60 s is taken
over, and that is said. --dry-run takes no lock.

Scope: with -n NS or --pod-selector, only those pods are evicted; if others that a full drain
removes still run on the node, it is recorded as partly drained (exit 2) and not ready for its
upgrade: drain-next without the scope finishes it.

Exit codes: 0 drained or nothing to do; 2 blocked, timed out, partly drained, only skipped nodes
left, or pods with no room (replace); 3 API/auth/RBAC error or the server lost; 4 another node
still in progress; 5 the cluster did not settle after the last node; 6 another rollout holds
the lock; 64 usage (incl. unknown node, a selector matching nothing, --max-unavailable taking
every worker without --accept-downtime); 130 interrupted (SIGINT, SIGTERM, SIGHUP). With a
batch, the most serious result of its drains.";

/// `kubectl upgrade drain-next`
#[derive(Debug, Clone, Args)]
#[command(after_help = DRAIN_NEXT_EXAMPLES)]
pub struct DrainNextArgs {
    /// Drain this node next (even NotReady or cordoned by someone else).
    #[arg(conflicts_with = "selector")]
    pub node: Option<String>,
    /// Target version (default: the API server's version).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Only consider nodes matching this label selector (an empty or malformed one is refused).
    #[arg(short = 'l', long, value_parser = parse_selector)]
    pub selector: Option<Selector>,
    /// Drain another node although one drained earlier is not back at the target yet.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_another: bool,
    /// First uncordon nodes drained earlier that came back Ready at the target.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub uncordon_upgraded: bool,
    /// How the workers move: one-at-a-time (drain, upgrade in place, uncordon), replace
    /// (drain old nodes onto nodes already at the target, for removal) or all-at-once (every
    /// selected worker cordoned and drained together; needs --accept-downtime).
    #[arg(long, value_enum, default_value_t = StrategyArg::OneAtATime)]
    pub strategy: StrategyArg,
    /// Drain up to N workers at a time (N or N% of the workers considered, rounded down, at
    /// least 1); budgets shared across the batch are named before anything is touched.
    #[arg(long, value_name = "N|N%", value_parser = batch::parse_max_unavailable, conflicts_with = "node")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Confirms --strategy all-at-once: every selected worker is cordoned and drained together,
    /// and workloads with no room elsewhere are down until the nodes come back.
    #[arg(long)]
    pub accept_downtime: bool,
    /// With --strategy replace: delete the Node object after its drain succeeded.
    #[arg(long)]
    pub delete_node: bool,
    /// Skip the validation between nodes (PDBs healthy again, no replacement pod Pending, the
    /// last upgraded node uncordoned) before a new node is taken.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub no_validate: bool,
    /// How long to wait for the cluster to settle before a new node (then exit 5).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::client::connect::parse_duration)]
    pub validate_timeout: Duration,
    /// With --strategy replace: drain even when the capacity preview says some pods would
    /// find no room on the nodes at the target (they would stay Pending).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub ignore_capacity: bool,
    /// Drain for a --to newer than the API server's minor anyway (the skew policy forbids a
    /// kubelet newer than kube-apiserver: upgrade the control plane first).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_newer_than_apiserver: bool,
    /// When a node's drain times out (--timeout): stop there (exit 2, the next run resumes
    /// it), or skip: leave it cordoned, labelled kubectl-upgrade.io/blocked and recorded
    /// 'blocked' with the reason, go on with the next node, and come back to blocked nodes
    /// once no other is left.
    #[arg(long, value_enum, default_value_t = OnBlockedArg::Stop, value_name = "stop|skip")]
    pub on_blocked: OnBlockedArg,
    #[command(flatten)]
    pub flags: DrainFlags,
}

/// `--on-blocked` (see [`OnBlocked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnBlockedArg {
    Stop,
    Skip,
}

/// `--strategy` (see [`Strategy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    OneAtATime,
    Replace,
    AllAtOnce,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::OneAtATime => Strategy::OneAtATime,
            StrategyArg::Replace => Strategy::Replace,
            StrategyArg::AllAtOnce => Strategy::AllAtOnce,
        }
    }
}

impl DrainNextArgs {
    /// The flags as the rollout's typed options; a malformed `--to` or a combination that
    /// makes no sense is refused here (64), before anything is read.
    pub fn options(&self, global: &Global) -> Result<Options, CliError> {
        let to = crate::cli::parse_rollout_target(self.to.as_deref())?;
        let strategy = Strategy::from(self.strategy);
        let opts = Options {
            node: self.node.clone(),
            selector: self.selector.clone(),
            to,
            allow_another: self.allow_another,
            uncordon_upgraded: self.uncordon_upgraded,
            strategy,
            max_unavailable: self.max_unavailable,
            accept_downtime: self.accept_downtime,
            delete_node: self.delete_node,
            validate: (!self.no_validate).then_some(self.validate_timeout),
            ignore_capacity: self.ignore_capacity,
            allow_newer_than_apiserver: self.allow_newer_than_apiserver,
            wait_for_lock: self.flags.wait_for_lock,
            on_blocked: match self.on_blocked {
                OnBlockedArg::Stop => OnBlocked::Stop,
                OnBlockedArg::Skip => OnBlocked::Skip,
            },
            drain: self.flags.options(global, strategy.writer(), None),
        };
        opts.check().map_err(CliError::usage)?;
        Ok(opts)
    }
}

pub async fn run_drain_next(args: &DrainNextArgs, global: &Global) -> Result<Code, CliError> {
    let opts = args.options(global)?;
    let conn = global.connect.connect_no_retry().await?;
    let stop = Stop::on_signals(run::STOPPING);
    let env = Env {
        conn: &conn,
        stop: &stop,
        me: crate::client::lock::Me::current(resume_command()),
        say: &|s: &str| eprintln!("{s}"),
    };
    let ran = run::drain_next(&opts, &env).await?;
    emit(&ran, global)?;
    Ok(Code::from(&ran.verdict))
}

/// The report (`-o json|yaml`), or the text: the reason to stop, or each node's drain and
/// what follows it.
fn emit(ran: &Ran, global: &Global) -> Result<(), CliError> {
    if matches!(global.output, OutputFormat::Json | OutputFormat::Yaml) {
        print!(
            "{}",
            crate::render::machine(&ran.report, global.output.machine())?
        );
        return Ok(());
    }
    let text = match &ran.verdict {
        Verdict::Stopped(r) => r.message().to_string(),
        Verdict::Drains(ends) => ends
            .iter()
            .map(|end| match end {
                NodeEnd::Ran { summary, next, .. } => {
                    let mut text = crate::render::drain_summary(summary);
                    if let Some(next) = next {
                        text.push('\n');
                        text.push_str(next);
                    }
                    text
                }
                NodeEnd::NotStarted { node, error } => {
                    format!("{node}: not drained: {error}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    println!("{text}");
    Ok(())
}
