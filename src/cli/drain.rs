//! Command-line layer of cordon, uncordon and drain, and the drain flags drain-next shares
//! ([`DrainFlags`]): flags parsed into typed options, the engine ([`crate::drain::engine`])
//! called per node, the results rendered.

use crate::cli::{Global, OutputFormat};
use crate::client::connect::{api_error, parse_duration, Connection};
use crate::client::lock::{self, RolloutLock};
use crate::client::nodes;
use crate::drain::engine::{self, DrainOptions, DrainSummary, Outcome};
use crate::exit::{CliError, Code};
use crate::facts::dry_run::DryRun;
use crate::facts::node::NodeFacts;
use crate::facts::progress::{Annotation, Writer};
use crate::facts::selector::{self, Selector};
use crate::facts::version::Version;
use crate::policy::filters::FilterOptions;
use crate::policy::order;
use crate::signals::Stop;
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Node;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// `--dry-run` values (bare `--dry-run` means `client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRunArg {
    /// Do it for real.
    None,
    /// Print what would happen; send no change.
    Client,
    /// Send every change with dryRun=All: the API server validates, nothing persists.
    Server,
}

impl DryRunArg {
    pub(super) fn mode(v: Option<DryRunArg>) -> DryRun {
        match v {
            None | Some(DryRunArg::None) => DryRun::None,
            Some(DryRunArg::Client) => DryRun::Client,
            Some(DryRunArg::Server) => DryRun::Server,
        }
    }
}

const CORDON_EXAMPLES: &str = "\
Examples:
  # Mark two nodes unschedulable
  kubectl upgrade cordon node-1 node-2

  # Cordon every worker in a pool (label selector)
  kubectl upgrade cordon -l pool=blue

  # Show what would change
  kubectl upgrade cordon node-1 --dry-run";

const UNCORDON_EXAMPLES: &str = "\
Examples:
  # Make a node schedulable again (drain-next nodes must be Ready at the target version)
  kubectl upgrade uncordon node-1

  # Uncordon even though the node is not back at its target version
  kubectl upgrade uncordon node-1 --force

Exit codes: 0 uncordoned; 2 refused (node not Ready or kubelet not at the target); 3 API error;
64 usage (unknown node).";

const DRAIN_EXAMPLES: &str = "\
Examples:
  # Drain a node through the Eviction API (DaemonSet and mirror pods are skipped; completed
  # pods are evicted too, which the API server does without a PDB check)
  kubectl upgrade drain node-1

  # Also remove unmanaged pods and pods with emptyDir data, give up after 10 minutes
  kubectl upgrade drain node-1 --force --delete-emptydir-data --timeout 10m

  # See the plan without changing anything (lists every blocked pod and PDB at once)
  kubectl upgrade drain node-1 --dry-run

  # Ask the API server to validate every eviction, without persisting anything
  kubectl upgrade drain node-1 --dry-run=server

  # Only pods of one app, 4 eviction requests at a time, JSON summary for scripts
  kubectl upgrade drain node-1 --pod-selector app=web --concurrency 4 -o json

  # Every node of a pool, one after the other
  kubectl upgrade drain -l pool=blue --timeout 10m

Before cordoning, the drain checks for pods that would block it (unmanaged, emptyDir) and PDBs
that can never allow an eviction (maxUnavailable 0, minAvailable 100%, or minAvailable at or
above the expected pods of a status the disruption controller has observed). If any, it
stops with exit code 2 and the node untouched. After cordoning, every failure leaves the node
cordoned; nothing is ever uncordoned implicitly.

Several nodes (names or -l SELECTOR) are drained one after the other; the first that does not
finish stops the run, and the nodes after it are not touched. drain takes the rollout lock like
drain-next (see `kubectl upgrade drain-next --help`).

Exit codes: 0 drained or nothing to do; 2 blocked or timed out (node left cordoned);
3 API/auth/RBAC error or the server lost; 6 another rollout holds the lock; 64 usage (incl.
unknown node, a selector matching nothing); 130 interrupted by SIGINT, SIGTERM or SIGHUP (node
left cordoned, lock released, rerun to resume).";

/// clap value parser for `-l/--selector` and `--pod-selector`: refuses empty and malformed
/// selectors at the boundary (exit 64), so nothing can widen to every node or pod.
pub(crate) fn parse_selector(s: &str) -> Result<Selector, String> {
    selector::parse(s).map_err(|e| match e {
        selector::SelectorError::Empty => {
            "empty selector: it would select every node; name the nodes or give a non-empty one, e.g. pool=blue".to_string()
        }
        other => other.to_string(),
    })
}

/// clap value parser for `--pod-selector`: as [`parse_selector`], said of pods.
pub(crate) fn parse_pod_selector(s: &str) -> Result<Selector, String> {
    selector::parse(s).map_err(|e| match e {
        selector::SelectorError::Empty => {
            "empty selector: it would select every pod on the node; drop --pod-selector to drain them all, or give a non-empty one, e.g. app=web".to_string()
        }
        other => other.to_string(),
    })
}

/// `kubectl upgrade cordon NODE...`
#[derive(Debug, Clone, Args)]
#[command(after_help = CORDON_EXAMPLES)]
pub struct CordonArgs {
    /// Nodes to mark unschedulable.
    #[arg(required_unless_present = "selector", conflicts_with = "selector")]
    pub nodes: Vec<String>,
    /// Select nodes by label instead (e.g. pool=blue); an empty or malformed selector is refused.
    #[arg(short = 'l', long, value_parser = parse_selector)]
    pub selector: Option<Selector>,
    /// client: print only; server: send with dryRun=All. Bare --dry-run means client.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: Option<DryRunArg>,
}

/// `kubectl upgrade uncordon NODE...`
#[derive(Debug, Clone, Args)]
#[command(after_help = UNCORDON_EXAMPLES)]
pub struct UncordonArgs {
    /// Nodes to mark schedulable again.
    #[arg(required_unless_present = "selector", conflicts_with = "selector")]
    pub nodes: Vec<String>,
    /// Select nodes by label instead; an empty or malformed selector is refused.
    #[arg(short = 'l', long, value_parser = parse_selector)]
    pub selector: Option<Selector>,
    /// Uncordon nodes drained by drain-next even if not Ready or not at the target version.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub force: bool,
    /// client: print only; server: send with dryRun=All. Bare --dry-run means client.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: Option<DryRunArg>,
}

/// The flags drain and drain-next share.
#[derive(Debug, Clone, Args)]
pub struct DrainFlags {
    /// Also evict pods not managed by a controller (they are not recreated).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub force: bool,
    /// Also evict pods using emptyDir (their local data is lost).
    #[arg(long, alias = "delete-local-data", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub delete_emptydir_data: bool,
    /// Accepted for kubectl compatibility: DaemonSet pods are always skipped (and listed).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub ignore_daemonsets: bool,
    /// Only remove pods matching this label selector (an empty or malformed one is refused).
    #[arg(long, value_name = "SELECTOR", value_parser = parse_pod_selector)]
    pub pod_selector: Option<Selector>,
    /// Seconds each pod gets to terminate; negative uses the pod's own.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_name = "SECONDS")]
    pub grace_period: i64,
    /// Give up after this long (e.g. 5m), leaving the node cordoned; 0 waits forever.
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Skip pods deleted more than this many seconds ago (0: wait for them).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub skip_wait_for_delete_timeout: u64,
    /// Delete (bypassing its PodDisruptionBudget) each pod whose eviction a budget still
    /// refuses this long after the drain began (e.g. 30m); only those pods. Needs the role
    /// kubectl-upgrade-drain-delete; must be shorter than --timeout.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub delete_blocking_after: Option<Duration>,
    /// Once the pods are gone, wait up to this long for the node's VolumeAttachments to be
    /// released before it counts as drained (Cluster API's rule: a node is not deleted under
    /// a mounted disk); still attached then: not drained, exit 2. 0s: do not wait.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub volume_detach_timeout: Duration,
    /// DELETE pods instead of evicting them. Bypasses every PodDisruptionBudget.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_eviction: bool,
    /// Go ahead despite PDBs that can never allow an eviction or pods under several PDBs.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub ignore_blockers: bool,
    /// Eviction requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// client: print the plan; server: dry-run every eviction. Bare --dry-run means client.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: Option<DryRunArg>,
    /// When another rollout holds the lock, wait up to this long for it (e.g. 30m) instead of
    /// stopping at once with exit code 6.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_for_lock: Option<Duration>,
    /// Accepted for kubectl compatibility; lists are paged at 500 items whatever it says.
    #[arg(long, value_name = "N", hide = true)]
    pub chunk_size: Option<i64>,
}

/// `kubectl upgrade drain NODE... | -l SELECTOR`
#[derive(Debug, Clone, Args)]
#[command(after_help = DRAIN_EXAMPLES)]
pub struct DrainArgs {
    /// The nodes to drain, one after the other.
    #[arg(required_unless_present = "selector", conflicts_with = "selector")]
    pub nodes: Vec<String>,
    /// Drain the nodes matching this label selector instead, one after the other, by name (an
    /// empty or malformed selector is refused; one matching nothing is exit 64).
    #[arg(short = 'l', long, value_parser = parse_selector)]
    pub selector: Option<Selector>,
    #[command(flatten)]
    pub flags: DrainFlags,
}

impl DrainFlags {
    pub(super) fn options(
        &self,
        global: &Global,
        command: Writer,
        target: Option<Version>,
    ) -> DrainOptions {
        DrainOptions {
            filter: FilterOptions {
                force: self.force,
                delete_emptydir_data: self.delete_emptydir_data,
                skip_wait_for_delete_timeout: (self.skip_wait_for_delete_timeout > 0)
                    .then(|| Duration::from_secs(self.skip_wait_for_delete_timeout)),
            },
            scope: crate::drain::model::DrainScope {
                namespace: global.namespace.clone(),
                pod_selector: self.pod_selector.clone(),
            },
            grace_period: u32::try_from(self.grace_period).ok(),
            timeout: (!self.timeout.is_zero()).then_some(self.timeout),
            disable_eviction: self.disable_eviction,
            delete_blocking_after: self.delete_blocking_after,
            volume_detach_timeout: (!self.volume_detach_timeout.is_zero())
                .then_some(self.volume_detach_timeout),
            ignore_blockers: self.ignore_blockers,
            concurrency: usize::from(self.concurrency),
            dry_run: DryRunArg::mode(self.dry_run),
            target,
            command,
            resume_command: resume_command(),
            live: !matches!(global.output, OutputFormat::Json | OutputFormat::Yaml),
            list_plan: true,
        }
    }
}

/// The command line as typed, as `kubectl upgrade ...`, quoted for a POSIX shell.
pub(super) fn resume_command() -> String {
    let mut parts = vec!["kubectl".to_string(), "upgrade".to_string()];
    parts.extend(std::env::args().skip(1).map(|a| shell_quote(&a)));
    parts.join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Named nodes first, then the selector's, each once (a node can be both). A selector that
/// matches nothing is refused by [`nodes::list`].
async fn node_names(
    conn: &Connection,
    named: &[String],
    selector: Option<&Selector>,
) -> Result<Vec<String>, CliError> {
    let mut names: Vec<String> = named.to_vec();
    if let Some(sel) = selector {
        let listed = nodes::list(conn, Some(sel)).await?;
        names.extend(listed.into_iter().filter_map(|n| n.metadata.name));
    }
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err(CliError::usage(
            "name at least one node, or select them with -l",
        ));
    }
    Ok(names)
}

#[derive(Serialize)]
struct NodeResult {
    node: String,
    result: &'static str,
    message: String,
}

fn print_results(results: &[NodeResult], global: &Global) -> Result<(), CliError> {
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print!(
                "{}",
                crate::render::machine(&results, global.output.machine())?
            )
        }
        _ => {
            for r in results {
                println!("{}", r.message);
            }
        }
    }
    Ok(())
}

/// Read every node first: an unknown name is bad input (exit 64) and nothing is changed.
async fn get_nodes(conn: &Connection, names: Vec<String>) -> Result<Vec<Node>, CliError> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push(nodes::get(conn, &name).await?);
    }
    Ok(out)
}

pub async fn run_cordon(args: &CordonArgs, global: &Global) -> Result<Code, CliError> {
    let conn = global.connect.connect().await?;
    let dry = DryRunArg::mode(args.dry_run);
    let names = node_names(&conn, &args.nodes, args.selector.as_ref()).await?;
    let mut results = Vec::new();
    for node in get_nodes(&conn, names).await? {
        let facts = NodeFacts::from_node(node, |_| true);
        let name = facts.name;
        if facts.unschedulable {
            results.push(NodeResult {
                message: format!("node/{name} already cordoned"),
                node: name,
                result: "unchanged",
            });
            continue;
        }
        // A progress record on a schedulable node is stale (it was uncordoned with plain
        // kubectl); a manual cordon is not a drain, so drop it rather than let drain-next
        // count this node as in progress.
        let clear = if facts.progress.is_some() {
            Annotation::Clear
        } else {
            Annotation::Keep
        };
        nodes::set_unschedulable(&conn.client, &name, true, clear, dry, &conn.description).await?;
        results.push(NodeResult {
            message: format!("node/{name} cordoned{}", dry.suffix()),
            node: name,
            result: "cordoned",
        });
    }
    print_results(&results, global)?;
    Ok(Code::Ok)
}

pub async fn run_uncordon(args: &UncordonArgs, global: &Global) -> Result<Code, CliError> {
    let conn = global.connect.connect().await?;
    let dry = DryRunArg::mode(args.dry_run);
    let names = node_names(&conn, &args.nodes, args.selector.as_ref()).await?;
    // The oldest kube-apiserver bounds the kubelets (`/version` may answer from the newest).
    let oldest = match args.force {
        true => conn.server_version.clone(),
        false => crate::client::apiservers::oldest_version(&conn).await?,
    };
    let mut results = Vec::new();
    let mut refused = false;
    for node in get_nodes(&conn, names).await? {
        let facts = NodeFacts::from_node(node, |_| true);
        let name = facts.name.clone();
        if !facts.unschedulable {
            // Already schedulable (e.g. plain `kubectl uncordon`): no version check applies;
            // just remove a progress record left behind.
            let message = if facts.progress.is_some() {
                nodes::write_progress(&conn.client, &name, None, dry)
                    .await
                    .map_err(|e| api_error(e, "patch", "nodes", Some(&name), &conn.description))?;
                format!(
                    "node/{name} already uncordoned; stale drain progress record removed{}",
                    dry.suffix()
                )
            } else {
                format!("node/{name} already uncordoned")
            };
            results.push(NodeResult {
                message,
                node: name,
                result: "unchanged",
            });
            continue;
        }
        if !args.force {
            if let Err(why) = order::uncordon_verdict(&facts, &oldest) {
                refused = true;
                results.push(NodeResult {
                    node: name,
                    result: "refused",
                    message: format!("refused: {why}"),
                });
                continue;
            }
        }
        // Uncordoning ends the drain: the progress record goes in the same patch.
        let clear = if facts.progress.is_some() {
            Annotation::Clear
        } else {
            Annotation::Keep
        };
        nodes::set_unschedulable(&conn.client, &name, false, clear, dry, &conn.description).await?;
        results.push(NodeResult {
            message: format!("node/{name} uncordoned{}", dry.suffix()),
            node: name,
            result: "uncordoned",
        });
    }
    print_results(&results, global)?;
    Ok(if refused { Code::Violations } else { Code::Ok })
}

fn print_summary(s: &DrainSummary, global: &Global) -> Result<(), CliError> {
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print!("{}", crate::render::machine(s, global.output.machine())?)
        }
        _ => println!("{}", crate::render::drain_summary(s)),
    }
    Ok(())
}

/// Take the rollout lock (`crate::client::lock::take`), saying on stderr what it found.
pub(super) async fn take_lock(
    conn: &Connection,
    dry: DryRun,
    wait: Option<Duration>,
    stop: &Stop,
) -> Result<Option<lock::RolloutLock>, CliError> {
    let me = lock::Me::current(resume_command());
    Ok(lock::take(conn, dry, wait, stop, me, &|s: &str| eprintln!("{s}")).await?)
}

/// What stopping means for drain, said when the first signal arrives.
const STOPPING: &str = "stopping new evictions, evictions in flight finish; the node stays cordoned (rerun the same command to resume)";

pub async fn run_drain(args: &DrainArgs, global: &Global) -> Result<Code, CliError> {
    let opts = args.flags.options(global, Writer::Drain, None);
    opts.check().map_err(CliError::usage)?;
    let conn = global.connect.connect_no_retry().await?;
    let names = node_names(&conn, &args.nodes, args.selector.as_ref()).await?;
    let stop = Stop::on_signals(STOPPING);
    let lock = take_lock(&conn, opts.dry_run, args.flags.wait_for_lock, &stop).await?;
    let drained = drain_each(&conn, &names, &opts, lock.as_ref(), &stop).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    let summaries = drained?;
    let code = summaries
        .iter()
        .fold(Code::Ok, |c, s| c.worse(Code::from(s.outcome)));
    // One node named: its summary, as before; several or a selector: every summary.
    if let ([one], true) = (summaries.as_slice(), args.selector.is_none()) {
        print_summary(one, global)?;
    } else {
        print_summaries(&summaries, &names, global)?;
    }
    Ok(code)
}

/// Drain `names` one after the other; the first that does not finish (blocked, timed out,
/// failed, interrupted) stops the run and the nodes after it are not touched.
async fn drain_each(
    conn: &Connection,
    names: &[String],
    opts: &DrainOptions,
    lock: Option<&RolloutLock>,
    stop: &Stop,
) -> Result<Vec<DrainSummary>, CliError> {
    let mut out = Vec::new();
    for name in names {
        if stop.is_stopped() {
            break;
        }
        if let Some(lock) = lock {
            lock.working_on(std::slice::from_ref(name)).await;
        }
        let summary = engine::drain_node(conn, name, opts, stop.receiver()).await?;
        let finished = matches!(
            summary.outcome,
            Outcome::Drained | Outcome::NothingToDo | Outcome::DryRun
        );
        out.push(summary);
        if !finished {
            break;
        }
    }
    Ok(out)
}

/// Several drains: `{"nodes": [...], "drains": [...]}`, or one message each (and the nodes
/// not started).
fn print_summaries(
    summaries: &[DrainSummary],
    names: &[String],
    global: &Global,
) -> Result<(), CliError> {
    #[derive(Serialize)]
    struct Drains<'a> {
        nodes: &'a [String],
        drains: &'a [DrainSummary],
        #[serde(rename = "notStarted")]
        not_started: &'a [String],
    }
    let not_started = &names[summaries.len().min(names.len())..];
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => print!(
            "{}",
            crate::render::machine(
                &Drains {
                    nodes: names,
                    drains: summaries,
                    not_started,
                },
                global.output.machine()
            )?
        ),
        _ => {
            for s in summaries {
                println!("{}", crate::render::drain_summary(s));
            }
            if !not_started.is_empty() {
                println!(
                    "not started (a drain before them did not finish): {}",
                    not_started.join(", ")
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    /// kubectl's spelling of booleans (`--force=true`, `--ignore-daemonsets=false`) is
    /// accepted by every boolean flag, as scripts moving from `kubectl drain` pass them.
    #[test]
    fn boolean_flags_take_kubectl_spelling() {
        let parse = |args: &[&str]| {
            let mut all = vec!["kubectl-upgrade", "drain", "n1"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all) {
                Ok(Cli {
                    command: crate::cli::Command::Drain(d),
                    ..
                }) => Ok((
                    d.flags.force,
                    d.flags.delete_emptydir_data,
                    d.flags.ignore_daemonsets,
                )),
                Ok(_) => Err("not drain".to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(parse(&[]), Ok((false, false, false)));
        assert_eq!(parse(&["--force"]), Ok((true, false, false)));
        assert_eq!(
            parse(&[
                "--force=true",
                "--delete-emptydir-data=true",
                "--ignore-daemonsets=true"
            ]),
            Ok((true, true, true))
        );
        assert_eq!(
            parse(&["--force=false", "--delete-local-data"]),
            Ok((false, true, false))
        );
        assert!(parse(&["--force=maybe"]).is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("node-1"), "node-1");
        assert_eq!(
            shell_quote("--pod-selector=app=web"),
            "--pod-selector=app=web"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn dry_run_flag_forms() {
        let parse = |args: &[&str]| {
            let mut v = vec!["kubectl-upgrade", "drain", "n1"];
            v.extend_from_slice(args);
            match Cli::try_parse_from(v).map(|c| c.command) {
                Ok(crate::cli::Command::Drain(d)) => Some(DryRunArg::mode(d.flags.dry_run)),
                _ => None,
            }
        };
        assert_eq!(parse(&[]), Some(DryRun::None));
        assert_eq!(parse(&["--dry-run"]), Some(DryRun::Client));
        assert_eq!(parse(&["--dry-run=client"]), Some(DryRun::Client));
        assert_eq!(parse(&["--dry-run=server"]), Some(DryRun::Server));
        assert_eq!(parse(&["--dry-run=none"]), Some(DryRun::None));
        assert_eq!(parse(&["--dry-run=bogus"]), None);
    }

    #[test]
    fn drain_flags_map_to_options() {
        let cli = Cli::try_parse_from([
            "kubectl-upgrade",
            "drain",
            "n1",
            "--force",
            "--delete-emptydir-data",
            "--grace-period",
            "7",
            "--timeout",
            "2m",
            "--skip-wait-for-delete-timeout",
            "30",
            "--concurrency",
            "3",
            "--ignore-daemonsets",
        ])
        .unwrap();
        let crate::cli::Command::Drain(d) = cli.command else {
            panic!("not drain")
        };
        let o = d.flags.options(&cli.global, Writer::Drain, None);
        assert!(o.filter.force && o.filter.delete_emptydir_data);
        assert_eq!(o.grace_period, Some(7));
        assert_eq!(o.timeout, Some(Duration::from_secs(120)));
        assert_eq!(
            o.filter.skip_wait_for_delete_timeout,
            Some(Duration::from_secs(30))
        );
        assert_eq!(o.concurrency, 3);
        let cli = Cli::try_parse_from(["kubectl-upgrade", "drain", "n1"]).unwrap();
        let crate::cli::Command::Drain(d) = cli.command else {
            panic!("not drain")
        };
        let o = d.flags.options(&cli.global, Writer::Drain, None);
        assert_eq!(o.grace_period, None);
        assert_eq!(o.timeout, None);
        assert!(
            Cli::try_parse_from(["kubectl-upgrade", "drain", "n1", "--concurrency", "0"]).is_err()
        );
    }
}
