//! Command-line layer of `simulate`: drain-next's rollout flags parsed into the rollout's
//! typed options, the cluster read (live, or a file), the prediction
//! ([`crate::rollout::simulate`]) rendered. Reads only.

use crate::cli::drain::{parse_pod_selector, parse_selector};
use crate::cli::drain_next::StrategyArg;
use crate::cli::{Global, OutputFormat};
use crate::client::connect::parse_duration;
use crate::drain::model::{DrainOptions, DrainScope};
use crate::exit::{CliError, Code};
use crate::facts::pdb::IntOrPercent;
use crate::facts::selector::Selector;
use crate::policy::batch;
use crate::policy::filters::FilterOptions;
use crate::rollout::plan::{Options, Strategy};
use crate::rollout::simulate::{self, World};
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const SIMULATE_EXAMPLES: &str = "\
Examples:
  # Will the rollout to the control plane's version finish, one node at a time?
  kubectl upgrade simulate
  # Batches of three workers of one pool, replacing them with new nodes
  kubectl upgrade simulate -l pool=blue --strategy replace --max-unavailable 3
  # From a dump (kubectl get nodes,pods,pdb -A -o json > cluster.json), as JSON
  kubectl upgrade simulate --snapshot cluster.json --to v1.33.2 -o json

Reads only: nothing is cordoned, evicted or written. Exit codes: 0 the rollout completes;
2 it stops at a step (named: node, pod, budget or constraint); 3 could not read the cluster;
64 usage.";

#[derive(Debug, Clone, Args)]
#[command(after_help = SIMULATE_EXAMPLES)]
pub struct SimulateArgs {
    /// Target version (default: the oldest kube-apiserver's; for a file, its control plane's).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Only nodes matching this label selector.
    #[arg(short = 'l', long, value_parser = parse_selector)]
    pub selector: Option<Selector>,
    /// How the workers move, as drain-next's --strategy.
    #[arg(long, value_enum, default_value_t = StrategyArg::OneAtATime)]
    pub strategy: StrategyArg,
    /// Nodes drained together, as drain-next's --max-unavailable (N or N%).
    #[arg(long, value_name = "N|N%", value_parser = batch::parse_max_unavailable)]
    pub max_unavailable: Option<IntOrPercent>,
    /// Only pods matching this selector move (as drain's --pod-selector).
    #[arg(long, value_name = "SELECTOR", value_parser = parse_pod_selector)]
    pub pod_selector: Option<Selector>,
    /// As drain's --force: pods without a controller are evicted (they do not come back).
    #[arg(long)]
    pub force: bool,
    /// As drain's --delete-emptydir-data.
    #[arg(long, alias = "delete-local-data")]
    pub delete_emptydir_data: bool,
    /// As drain's --disable-eviction: pods are deleted, budgets are not consulted.
    #[arg(long)]
    pub disable_eviction: bool,
    /// As drain's --ignore-blockers: go on past pods and budgets that block a drain.
    #[arg(long)]
    pub ignore_blockers: bool,
    /// As drain-next's --ignore-capacity (replace): drain even where pods would find no node
    /// at the target.
    #[arg(long)]
    pub ignore_capacity: bool,
    /// How long a replacement takes to become Ready, for the duration estimate (default:
    /// the median the cluster's pods show, creation to Ready; else 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pod_ready_time: Option<Duration>,
    /// Read the cluster from a file or directory instead of the API (a `kubectl get
    /// nodes,pods,pdb -A -o json` dump keeps what placement needs; a `kubectl upgrade
    /// snapshot` keeps requests and taints but not node labels or pod constraints).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Vec<PathBuf>,
}

impl SimulateArgs {
    fn options(&self, global: &Global) -> Result<Options, CliError> {
        let to = crate::cli::parse_rollout_target(self.to.as_deref())?;
        let strategy = Strategy::from(self.strategy);
        let opts = Options {
            selector: self.selector.clone(),
            to,
            strategy,
            max_unavailable: self.max_unavailable,
            // A prediction shows downtime rather than refusing it; this only keeps drain-next's
            // rule that --max-unavailable and all-at-once do not go together.
            accept_downtime: strategy == Strategy::AllAtOnce || self.max_unavailable.is_some(),
            validate: None,
            ignore_capacity: self.ignore_capacity,
            allow_newer_than_apiserver: true,
            drain: DrainOptions {
                filter: FilterOptions {
                    force: self.force,
                    delete_emptydir_data: self.delete_emptydir_data,
                    skip_wait_for_delete_timeout: None,
                },
                scope: DrainScope {
                    namespace: global.namespace.clone(),
                    pod_selector: self.pod_selector.clone(),
                },
                disable_eviction: self.disable_eviction,
                ignore_blockers: self.ignore_blockers,
                ..DrainOptions::default()
            },
            ..Options::default()
        };
        opts.check().map_err(CliError::usage)?;
        Ok(opts)
    }
}

pub async fn run(args: &SimulateArgs, global: &Global) -> Result<Code, CliError> {
    let opts = args.options(global)?;
    let (world, default_target) = if args.snapshot.is_empty() {
        let conn = global.connect.connect().await?;
        crate::rollout::run::world(&conn).await?
    } else {
        let mut reducer = crate::inventory::ingest::read_paths_for_simulation(&args.snapshot)?;
        reducer.note(
            "read from a file: a `kubectl upgrade snapshot` keeps node labels only for roles and setup detection and no pod scheduling constraints or volume claims (placement by requests and taints); a `kubectl get nodes,pods,pdb,pv,pvc,validatingwebhookconfigurations,mutatingwebhookconfigurations,endpointslices -A -o json` dump keeps them all",
        );
        let (inv, world) = reducer.finish_world();
        let cp = crate::report::control_plane_version(&inv).map(|v| v.raw);
        (world, cp.unwrap_or_default())
    };
    let target = match &opts.to {
        Some(t) => t.clone(),
        None => crate::facts::version::parse(&default_target).map_err(|_| {
            CliError::usage(format!(
                "cannot tell the control plane's version ('{default_target}'); pass --to, e.g. --to v1.33.2"
            ))
        })?,
    };
    // The pages read are freed; what glibc keeps of them goes back before the long part.
    crate::memory::release_freed();
    let selected = selected(&world, args.selector.as_ref())?;
    let sim = simulate::simulate(
        &world,
        &opts,
        &target,
        selected.as_ref(),
        args.pod_ready_time,
    );
    // The prediction owns what it shows: the cluster's pods go before it is rendered.
    drop(world);
    let text = match global.output {
        // -o sarif/junit are refused before any command but check runs.
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Sarif | OutputFormat::Junit => {
            crate::render::machine(&sim, global.output.machine())?
        }
        OutputFormat::Table | OutputFormat::Wide => crate::render::simulation(
            &sim,
            global.output == OutputFormat::Wide,
            crate::render::use_colour(),
        ),
    };
    crate::cli::write_stdout(&text)?;
    Ok(Code::from(&sim))
}

/// The nodes `-l` selects, from the nodes read (all their labels are kept); a selector that
/// matches none is refused.
fn selected(world: &World, sel: Option<&Selector>) -> Result<Option<BTreeSet<String>>, CliError> {
    let Some(sel) = sel else {
        return Ok(None);
    };
    let names: BTreeSet<String> = world
        .nodes
        .iter()
        .filter(|n| sel.matches(&n.labels))
        .map(|n| n.name.clone())
        .collect();
    if names.is_empty() {
        return Err(CliError::usage(format!(
            "no node matches -l {sel}; check the labels with `kubectl get nodes --show-labels`"
        )));
    }
    Ok(Some(names))
}

#[cfg(test)]
mod tests {
    use crate::cli::Cli;
    use clap::Parser;

    fn options(args: &[&str]) -> Result<crate::rollout::plan::Options, String> {
        let mut argv = vec!["kubectl-upgrade", "simulate"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let crate::cli::Command::Simulate(s) = cli.command else {
            panic!("not simulate")
        };
        s.options(&cli.global).map_err(|e| e.to_string())
    }

    /// drain-next's combination rules and `--to` parser, not a copy of them.
    #[test]
    fn flags_are_refused_as_drain_next_refuses_them() {
        let all = options(&["--strategy", "all-at-once", "--max-unavailable", "2"]);
        assert!(all
            .unwrap_err()
            .contains("--max-unavailable sizes rolling batches"));
        assert!(options(&["--to", "banana"])
            .unwrap_err()
            .contains("use e.g. --to v1.33.2"));
        // Every strategy alone, and a batch size, are predictions it makes.
        for ok in [
            &["--strategy", "all-at-once"][..],
            &["--max-unavailable", "3"][..],
            &["--strategy", "replace", "--to", "v1.34.0"][..],
            &[][..],
        ] {
            assert!(options(ok).is_ok(), "{ok:?}");
        }
    }
}
