//! Command-line layer of cordon, uncordon, drain and drain-next.

use crate::cli::{Global, OutputFormat};
use crate::client::connect::{api_error, parse_duration, Connection};
use crate::client::nodes::{self, DryRun};
use crate::drain::engine::{self, DrainOptions, Outcome, Summary};
use crate::exit::{CliError, Code};
use crate::facts::node::NodeFacts;
use crate::facts::pdb::{PdbFacts, PdbVersion};
use crate::facts::progress::{Annotation, Progress, Writer};
use crate::facts::selector::{self, Selector};
use crate::policy::filters::FilterOptions;
use crate::policy::order::{self, Standing};
use crate::policy::rollout::{self, PendingPod};
use crate::policy::version::Version;
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use tokio::sync::watch;

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
    fn mode(v: Option<DryRunArg>) -> DryRun {
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

Before cordoning, the drain checks for pods that would block it (unmanaged, emptyDir) and PDBs
that can never allow an eviction (maxUnavailable 0, minAvailable 100%, or minAvailable at or
above the expected pods of a status the disruption controller has observed). If any, it
stops with exit code 2 and the node untouched. After cordoning, every failure leaves the node
cordoned; nothing is ever uncordoned implicitly.

Exit codes: 0 drained or nothing to do; 2 blocked or timed out (node left cordoned);
3 API/auth/RBAC error; 64 usage (incl. unknown node); 130 interrupted (node left cordoned, rerun
to resume).";

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

Strategies: one-at-a-time (default) drains a node, waits for it to come back upgraded and
uncordoned, then takes the next; replace drains old nodes onto nodes already at the target
(at least one must be Ready and schedulable), leaves each drained node cordoned and recorded
as drained for removal (it never blocks the next one), and with --delete-node deletes its Node
object after a successful drain.

Order: control-plane nodes first, then workers; oldest kubelet first, then by name. One node at a
time: while a node drained by drain-next is cordoned and not yet back at the target version,
drain-next stops with exit code 4 naming it (finish it: upgrade it, then `kubectl upgrade uncordon
NODE`; or use --allow-another), also when another node is named; naming the node in progress
resumes it. An interrupted drain is resumed by the next run (progress is recorded in the node
annotation kubectl-upgrade.io/drain-progress; nodes drained by plain `drain` carry it too, without
a target, and do not count as in progress).

Exit codes: 0 drained or nothing to do; 2 blocked, timed out, or only skipped nodes left;
3 API/auth/RBAC error; 4 another node still in progress; 64 usage (incl. unknown node);
130 interrupted.";

/// clap value parser for `-l/--selector` and `--pod-selector`: refuses empty and malformed
/// selectors at the boundary (exit 64), so nothing can widen to every node or pod.
pub(crate) fn parse_selector(s: &str) -> Result<Selector, String> {
    selector::parse(s).map_err(|e| e.to_string())
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
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector)]
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
}

/// `kubectl upgrade drain NODE`
#[derive(Debug, Clone, Args)]
#[command(after_help = DRAIN_EXAMPLES)]
pub struct DrainArgs {
    /// The node to drain.
    pub node: String,
    #[command(flatten)]
    pub flags: DrainFlags,
}

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
    /// How the workers move: one-at-a-time (drain, upgrade in place, uncordon) or replace
    /// (drain old nodes onto nodes already at the target, for removal).
    #[arg(long, value_enum, default_value_t = Strategy::OneAtATime)]
    pub strategy: Strategy,
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
    #[command(flatten)]
    pub flags: DrainFlags,
}

/// drain-next's rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    OneAtATime,
    Replace,
}

impl DrainFlags {
    fn options(&self, global: &Global, command: Writer, target: Option<Version>) -> DrainOptions {
        DrainOptions {
            filter: FilterOptions {
                force: self.force,
                delete_emptydir_data: self.delete_emptydir_data,
                skip_wait_for_delete_timeout: (self.skip_wait_for_delete_timeout > 0)
                    .then(|| Duration::from_secs(self.skip_wait_for_delete_timeout)),
            },
            pod_selector: self.pod_selector.as_ref().map(Selector::to_string),
            namespace: global.namespace.clone(),
            grace_period: u32::try_from(self.grace_period).ok(),
            timeout: (!self.timeout.is_zero()).then_some(self.timeout),
            disable_eviction: self.disable_eviction,
            ignore_blockers: self.ignore_blockers,
            concurrency: usize::from(self.concurrency),
            dry_run: DryRunArg::mode(self.dry_run),
            target,
            command,
            resume_command: resume_command(),
            live: !matches!(global.output, OutputFormat::Json | OutputFormat::Yaml),
        }
    }
}

/// The command line as typed, as `kubectl upgrade ...`, quoted for a POSIX shell.
fn resume_command() -> String {
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

/// A channel that turns true on Ctrl-C (SIGINT).
fn interrupt_channel() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupt: stopping new evictions; the node stays cordoned");
            tx.send_replace(true);
            // A second Ctrl-C exits at once.
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(Code::Interrupted.as_i32());
            }
        }
    });
    rx
}

async fn node_names(
    conn: &Connection,
    named: &[String],
    selector: Option<&Selector>,
) -> Result<Vec<String>, CliError> {
    let mut names: Vec<String> = named.to_vec();
    if let Some(sel) = selector {
        let api: Api<Node> = Api::all(conn.client.clone());
        let list = api
            .list(&ListParams::default().labels(&sel.to_string()))
            .await
            .map_err(|e| api_error(&e, "list", "nodes", None, &conn.description))?;
        names.extend(list.items.into_iter().filter_map(|n| n.metadata.name));
    }
    // Named nodes first, then the selector's, each once (a node can be both).
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err(CliError::usage(
            "no nodes matched; name nodes or use -l/--selector",
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
            print!("{}", crate::render::machine(&results, global.output)?)
        }
        _ => {
            for r in results {
                println!("{}", r.message);
            }
        }
    }
    Ok(())
}

fn dry_suffix(dry: DryRun) -> &'static str {
    match dry {
        DryRun::None => "",
        DryRun::Client => " (dry run)",
        DryRun::Server => " (server dry run)",
    }
}

/// Read every node first: an unknown name is bad input (exit 64) and nothing is changed.
async fn get_nodes(conn: &Connection, names: Vec<String>) -> Result<Vec<Node>, CliError> {
    let api: Api<Node> = Api::all(conn.client.clone());
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let node = api
            .get_opt(&name)
            .await
            .map_err(|e| api_error(&e, "get", "nodes", Some(&name), &conn.description))?
            .ok_or_else(|| nodes::not_found(&name))?;
        out.push(node);
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
            message: format!("node/{name} cordoned{}", dry_suffix(dry)),
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
                    .map_err(|e| api_error(&e, "patch", "nodes", Some(&name), &conn.description))?;
                format!(
                    "node/{name} already uncordoned; stale drain progress record removed{}",
                    dry_suffix(dry)
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
            let check = order::uncordon_check(&facts).and_then(|()| {
                order::not_above_apiserver(
                    &facts.kubelet_version,
                    &conn.server_version,
                    &format!("node {name} runs kubelet"),
                )
                .map_err(|why| format!("{why} (use --force to uncordon anyway)"))
            });
            if let Err(why) = check {
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
            message: format!("node/{name} uncordoned{}", dry_suffix(dry)),
            node: name,
            result: "uncordoned",
        });
    }
    print_results(&results, global)?;
    Ok(if refused { Code::Violations } else { Code::Ok })
}

fn print_summary(s: &Summary, global: &Global) -> Result<(), CliError> {
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print!("{}", crate::render::machine(s, global.output)?)
        }
        _ => println!("{}", human_summary(s)),
    }
    Ok(())
}

fn human_summary(s: &Summary) -> String {
    let mut out = s.message.clone();
    if matches!(s.outcome, Outcome::Drained | Outcome::DryRun) && !s.skipped.is_empty() {
        let names: Vec<String> = s
            .skipped
            .iter()
            .map(|p| format!("{} ({})", p.pod, p.reason.describe()))
            .collect();
        out.push_str(&format!(
            "\nskipped: {}",
            crate::findings::bounded(&names, 10)
        ));
    }
    if s.too_many_requests > 0 {
        out.push_str(&format!(
            "\n{} eviction request(s), {} refused by PDBs (429) and retried",
            s.eviction_requests, s.too_many_requests
        ));
    }
    out
}

fn summary_code(s: &Summary) -> Code {
    s.outcome.code()
}

pub async fn run_drain(args: &DrainArgs, global: &Global) -> Result<Code, CliError> {
    let conn = global.connect.connect_no_retry().await?;
    let opts = args.flags.options(global, Writer::Drain, None);
    let cancel = interrupt_channel();
    let summary = engine::drain_node(&conn, &args.node, &opts, cancel).await?;
    print_summary(&summary, global)?;
    Ok(summary_code(&summary))
}

/// drain-next's JSON/YAML output.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NextReport {
    target: String,
    strategy: Strategy,
    /// The drained node's Node object was deleted (`--delete-node`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted_node: bool,
    node: Option<String>,
    reason: String,
    uncordoned: Vec<String>,
    skipped: Vec<SkippedNode>,
    queue: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drain: Option<Summary>,
}

#[derive(Serialize)]
struct SkippedNode {
    node: String,
    reason: String,
}

pub async fn run_drain_next(args: &DrainNextArgs, global: &Global) -> Result<Code, CliError> {
    if args.delete_node && args.strategy != Strategy::Replace {
        return Err(CliError::usage(
            "--delete-node is for --strategy replace (a node upgraded in place comes back)",
        ));
    }
    let conn = global.connect.connect_no_retry().await?;
    let (target, target_version) = next_target(args, &conn)?;
    let dry = DryRunArg::mode(args.flags.dry_run);
    let api: Api<Node> = Api::all(conn.client.clone());
    let mut all: Vec<NodeFacts> = list_node_objects(&api, ListParams::default(), &conn)
        .await?
        .into_iter()
        .map(|n| NodeFacts::from_node(n, |_| true))
        .collect();
    if let Some(named) = args.node.as_deref() {
        if !all.iter().any(|n| n.name == named) {
            return Err(nodes::not_found(named));
        }
    }
    let selected: Option<BTreeSet<String>> = match &args.selector {
        Some(sel) => Some(
            list_node_objects(&api, ListParams::default().labels(&sel.to_string()), &conn)
                .await?
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect(),
        ),
        None => None,
    };
    let mut report = NextReport {
        target: target.clone(),
        strategy: args.strategy,
        deleted_node: false,
        node: None,
        reason: String::new(),
        uncordoned: vec![],
        skipped: vec![],
        queue: vec![],
        drain: None,
    };
    let last_drain = rollout::last_drain(&order::in_progress(&all, &target));
    let standing = uncordon_upgraded(args, &conn, dry, &target, &mut all, &mut report).await?;
    if let Some(msg) = replace_without_destination(args, &all, &target) {
        report.reason = msg.clone();
        emit_next(&report, global, &msg)?;
        return Ok(Code::Violations);
    }
    let (name, reason) = match pick_next(
        args,
        &all,
        &standing,
        selected.as_ref(),
        &target,
        &mut report,
    )? {
        Pick::Node(name, reason, resumed) => {
            if !resumed && !args.no_validate {
                if let Some(msg) =
                    validate_between_nodes(args, &conn, &standing, last_drain).await?
                {
                    report.reason = msg.clone();
                    emit_next(&report, global, &msg)?;
                    return Ok(Code::Unsettled);
                }
            }
            if !resumed && args.strategy == Strategy::Replace && !args.ignore_capacity {
                if let Some(msg) = replace_capacity(&conn, &all, &name, &target).await? {
                    report.reason = msg.clone();
                    emit_next(&report, global, &msg)?;
                    return Ok(Code::Violations);
                }
            }
            (name, reason)
        }
        Pick::Stop(code, msg) => {
            report.reason = msg.clone();
            emit_next(&report, global, &msg)?;
            return Ok(code);
        }
    };
    report.node = Some(name.clone());
    report.reason = reason.clone();
    eprintln!("next: {name}: {reason}");
    let writer = match args.strategy {
        Strategy::OneAtATime => Writer::DrainNext,
        Strategy::Replace => Writer::DrainNextReplace,
    };
    let opts = args.flags.options(global, writer, Some(target_version));
    let cancel = interrupt_channel();
    let summary = engine::drain_node(&conn, &name, &opts, cancel).await?;
    let (code, text) = after_drain(args, &api, &conn, dry, &summary, &target, &mut report).await;
    report.drain = Some(summary);
    emit_next(&report, global, &text)?;
    Ok(code)
}

/// Validation between nodes: wait up to `--validate-timeout` for the cluster to settle after
/// the last node ([`rollout::unsettled`]); the message when it did not. Reads only.
async fn validate_between_nodes(
    args: &DrainNextArgs,
    conn: &Connection,
    standing: &[(String, Standing, Progress)],
    last_drain: Option<jiff::Timestamp>,
) -> Result<Option<String>, CliError> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let (pdbs, pending) = (settle_pdbs(conn).await?, pending_pods(conn).await?);
        let problems = rollout::unsettled(standing, &pdbs, &pending, last_drain);
        if problems.is_empty() {
            return Ok(None);
        }
        let limit = crate::findings::duration_text(args.validate_timeout);
        if started.elapsed() >= args.validate_timeout {
            return Ok(Some(format!(
                "not taking a new node: the cluster has not settled after the last one (waited {limit}): {}; fix it and rerun, raise --validate-timeout, or pass --no-validate",
                problems.join("; ")
            )));
        }
        if !said {
            eprintln!(
                "validating before the next node (up to {limit}): {}",
                problems.join("; ")
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_secs(2).min(args.validate_timeout)).await;
    }
}

/// The capacity preview of `--strategy replace`: do the pods that must leave `node` fit on
/// the Ready, schedulable workers at the target ([`capacity::place`])? The message naming
/// the pods that would stay Pending when they do not; a line on stderr when they do.
async fn replace_capacity(
    conn: &Connection,
    all: &[NodeFacts],
    node: &str,
    target: &str,
) -> Result<Option<String>, CliError> {
    use crate::facts::resources::Resources;
    use crate::policy::capacity::{self, Destination, Moving};
    let (pods, _) = crate::client::paging::list_all(
        &Api::<Pod>::all(conn.client.clone()),
        ListParams::default(),
    )
    .await
    .map_err(|e| api_error(&e, "list", "pods", None, &conn.description))?;
    let running = |p: &&Pod| {
        let f = crate::facts::pod::PodFacts::from_pod(p);
        !matches!(f.phase.as_str(), "Succeeded" | "Failed") && !f.deleting
    };
    let on = |p: &Pod, n: &str| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(n);
    let moving: Vec<Moving> = pods
        .iter()
        .filter(running)
        .filter(|p| on(p, node))
        .filter(|p| {
            let f = crate::facts::pod::PodFacts::from_pod(p);
            !f.mirror && f.controller_kind.as_deref() != Some("DaemonSet")
        })
        .map(Moving::from_pod)
        .collect();
    let unknown_room = Resources {
        cpu_millis: u64::MAX / 4,
        memory_bytes: u64::MAX / 4,
        pods: u64::MAX / 4,
    };
    let destinations: Vec<Destination> = all
        .iter()
        .filter(|n| n.name != node && !n.is_control_plane() && n.ready && !n.unschedulable)
        .filter(|n| order::at_target(&n.kubelet_version, target) == Some(true))
        .map(|n| {
            let mut used = Resources::default();
            for p in pods.iter().filter(running).filter(|p| on(p, &n.name)) {
                used.add(Resources::requested_by(p));
            }
            Destination {
                name: n.name.clone(),
                labels: n.labels.clone(),
                taints: n.taints.clone(),
                free: n.allocatable.unwrap_or(unknown_room).minus(used),
            }
        })
        .collect();
    let pending = capacity::place(&moving, &destinations);
    if pending.is_empty() {
        eprintln!(
            "capacity: the {} pod(s) to move off {node} fit on the {} node(s) at {target} (by requests, selectors, affinity and taints)",
            moving.len(),
            destinations.len()
        );
        return Ok(None);
    }
    let named: Vec<String> = pending
        .iter()
        .map(|(k, why)| format!("{k} ({why})"))
        .collect();
    Ok(Some(format!(
        "capacity preview: {} of the {} pod(s) to move off {node} would stay Pending on the {} node(s) at {target}: {}; add nodes at the target, or pass --ignore-capacity; nothing was touched",
        pending.len(),
        moving.len(),
        destinations.len(),
        crate::findings::bounded(&named, 5)
    )))
}

async fn settle_pdbs(conn: &Connection) -> Result<Vec<PdbFacts>, CliError> {
    let (pdbs, _) = crate::client::paging::list_all(
        &Api::<PodDisruptionBudget>::all(conn.client.clone()),
        ListParams::default(),
    )
    .await
    .map_err(|e| api_error(&e, "list", "poddisruptionbudgets", None, &conn.description))?;
    Ok(pdbs
        .iter()
        .map(|b| PdbFacts::from_pdb(b, PdbVersion::V1))
        .collect())
}

/// Controller-owned pods that are Pending, with their creation time.
async fn pending_pods(conn: &Connection) -> Result<Vec<PendingPod>, CliError> {
    let (pods, _) = crate::client::paging::list_all(
        &Api::<Pod>::all(conn.client.clone()),
        ListParams::default().fields("status.phase=Pending"),
    )
    .await
    .map_err(|e| api_error(&e, "list", "pods", None, &conn.description))?;
    Ok(pods
        .iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|r| r.controller == Some(true)))
        })
        .map(|p| PendingPod {
            key: format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            ),
            created: p
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
        })
        .collect())
}

/// The target (`--to`, else the API server's version), parsed; refused (64) when its minor is
/// above the API server's, unless `--allow-newer-than-apiserver`.
fn next_target(args: &DrainNextArgs, conn: &Connection) -> Result<(String, Version), CliError> {
    let target = args
        .to
        .clone()
        .unwrap_or_else(|| conn.server_version.clone());
    let version = crate::policy::version::parse(&target).map_err(|e| {
        CliError::usage(format!(
            "cannot read target version '{target}' ({e}); use e.g. --to v1.33.2"
        ))
    })?;
    if !args.allow_newer_than_apiserver {
        order::not_above_apiserver(&target, &conn.server_version, "--to").map_err(|why| {
            CliError::usage(format!("{why} (or pass --allow-newer-than-apiserver)"))
        })?;
    }
    Ok((target, version))
}

async fn list_node_objects(
    api: &Api<Node>,
    lp: ListParams,
    conn: &Connection,
) -> Result<Vec<Node>, CliError> {
    api.list(&lp)
        .await
        .map(|l| l.items)
        .map_err(|e| api_error(&e, "list", "nodes", None, &conn.description))
}

/// The nodes drain-next drained earlier and where each stands; with --uncordon-upgraded,
/// those back Ready at the target are uncordoned first (and left out of the list).
async fn uncordon_upgraded(
    args: &DrainNextArgs,
    conn: &Connection,
    dry: DryRun,
    target: &str,
    all: &mut [NodeFacts],
    report: &mut NextReport,
) -> Result<Vec<(String, Standing, Progress)>, CliError> {
    let standing = order::in_progress(all, target);
    if args.uncordon_upgraded {
        for (name, st, _) in &standing {
            if *st == Standing::Upgraded {
                nodes::set_unschedulable(
                    &conn.client,
                    name,
                    false,
                    Annotation::Clear,
                    dry,
                    &conn.description,
                )
                .await?;
                eprintln!(
                    "uncordoned {name}: Ready at the target {target}{}",
                    dry_suffix(dry)
                );
                report.uncordoned.push(name.clone());
            }
        }
        for n in all.iter_mut() {
            if report.uncordoned.contains(&n.name) && !dry.is_dry() {
                n.unschedulable = false;
                n.progress = None;
            }
        }
    }
    let standing: Vec<_> = standing
        .into_iter()
        .filter(|(n, _, _)| !report.uncordoned.contains(n))
        .collect();
    for (name, st, _) in &standing {
        if *st == Standing::Upgraded {
            eprintln!(
                "note: {name} is back Ready at the target but still cordoned: `kubectl upgrade uncordon {name}` or rerun with --uncordon-upgraded"
            );
        }
    }
    Ok(standing)
}

/// `--strategy replace` needs somewhere to move the workloads: a Ready, schedulable worker at
/// the target. The message when there is none.
fn replace_without_destination(
    args: &DrainNextArgs,
    all: &[NodeFacts],
    target: &str,
) -> Option<String> {
    if args.strategy != Strategy::Replace {
        return None;
    }
    let destinations = all
        .iter()
        .filter(|n| !n.is_control_plane() && n.ready && !n.unschedulable)
        .filter(|n| order::at_target(&n.kubelet_version, target) == Some(true))
        .count();
    (destinations == 0).then(|| format!(
        "--strategy replace moves workloads onto nodes already at {target}, and no worker at {target} is Ready and schedulable: add the new nodes first"
    ))
}

/// What drain-next does: drain this node (why), or stop with this exit code and message.
enum Pick {
    /// Drain this node, for this reason; `true` when it resumes a drain begun earlier.
    Node(String, String, bool),
    Stop(Code, String),
}

/// The node to drain. In progress: drained (or being drained) by drain-next, still cordoned,
/// not back at the target. One node at a time: a named node that is in progress is resumed;
/// an unnamed run resumes an unfinished drain first; any other node in progress (or a record
/// that cannot be read) stops a new drain (exit 4) unless --allow-another.
fn pick_next(
    args: &DrainNextArgs,
    all: &[NodeFacts],
    standing: &[(String, Standing, Progress)],
    selected: Option<&BTreeSet<String>>,
    target: &str,
    report: &mut NextReport,
) -> Result<Pick, CliError> {
    let in_progress: Vec<&(String, Standing, Progress)> = standing
        .iter()
        .filter(|(_, st, _)| !matches!(st, Standing::Upgraded | Standing::ForRemoval))
        .collect();
    let resume = match args.node.as_deref() {
        Some(named) => in_progress.iter().find(|(n, _, _)| n == named),
        None => in_progress
            .iter()
            .find(|(_, st, _)| *st == Standing::Unfinished),
    };
    if let Some((name, st, p)) = resume {
        return Ok(Pick::Node(name.clone(), resume_reason(st, p, target), true));
    }
    if !args.allow_another {
        let unreadable: Vec<(String, String)> = order::unreadable_records(all)
            .into_iter()
            .filter(|(n, _)| args.node.as_deref() != Some(n.as_str()))
            .collect();
        if let Some((_, why)) = unreadable.first() {
            return Ok(Pick::Stop(Code::InProgress, format!(
                "{} cordoned node(s) carry a progress record that cannot be read, so they count as in progress: {why} (or pass --allow-another)",
                unreadable.len()
            )));
        }
        if !in_progress.is_empty() {
            let msg = another_in_progress(&in_progress, target, args.node.as_deref());
            return Ok(Pick::Stop(Code::InProgress, msg));
        }
    }
    let exclude: BTreeSet<String> = standing.iter().map(|(n, _, _)| n.clone()).collect();
    let sel = order::select(all, target, selected, args.node.as_deref(), &exclude)
        .map_err(CliError::usage)?;
    report.skipped = sel
        .skipped
        .iter()
        .map(|(n, r)| SkippedNode {
            node: n.clone(),
            reason: r.clone(),
        })
        .collect();
    report.queue = sel.queue.clone();
    for (n, r) in &sel.skipped {
        eprintln!("skipped {n}: {r}");
    }
    if let Some(c) = sel.next {
        return Ok(Pick::Node(c.name, c.reason, false));
    }
    let behind = sel.skipped.len();
    if let Some(named) = args.node.as_deref() {
        // A named node is only passed over when it is already at the target.
        let why = sel.skipped.first().map(|(_, r)| r.as_str()).unwrap_or("");
        return Ok(Pick::Stop(
            Code::Ok,
            format!("nothing to do: {named}: {why}"),
        ));
    }
    Ok(if behind == 0 {
        Pick::Stop(
            Code::Ok,
            format!(
                "nothing to do: all {} considered node(s) run kubelet at or above {target}",
                sel.at_target
            ),
        )
    } else {
        Pick::Stop(
            Code::Violations,
            format!(
                "no node can be drained now: {behind} node(s) below {target} were skipped (listed above); name one to drain it anyway"
            ),
        )
    })
}

/// After the drain: the exit code and text, with the next step for the strategy; with
/// --delete-node, the Node object is deleted once its drain succeeded.
async fn after_drain(
    args: &DrainNextArgs,
    api: &Api<Node>,
    conn: &Connection,
    dry: DryRun,
    summary: &Summary,
    target: &str,
    report: &mut NextReport,
) -> (Code, String) {
    let name = summary.node.as_str();
    let mut code = summary_code(summary);
    let mut text = human_summary(summary);
    let finished = summary.outcome == Outcome::Drained || summary.outcome == Outcome::NothingToDo;
    if !finished {
        return (code, text);
    }
    if args.strategy == Strategy::OneAtATime {
        text.push_str(&format!(
            "\nnext: upgrade {name} to {target}, then run `kubectl upgrade uncordon {name}` (or `kubectl upgrade drain-next --uncordon-upgraded`)"
        ));
        return (code, text);
    }
    if !args.delete_node || dry.is_dry() {
        text.push_str(&format!(
            "\n{name} is drained for removal and stays cordoned: remove its instance, then `kubectl delete node {name}` (or rerun with --delete-node); `kubectl upgrade drain-next --strategy replace` takes the next"
        ));
        return (code, text);
    }
    match api.delete(name, &Default::default()).await {
        Ok(_) => {
            report.deleted_node = true;
            text.push_str(&format!(
                "\ndeleted Node {name} (its workloads run on nodes at {target})"
            ));
        }
        Err(e) => {
            let err = api_error(&e, "delete", "nodes", Some(name), &conn.description);
            text.push_str(&format!(
                "\n{name} is drained and stays cordoned, but deleting its Node failed: {}",
                err.message
            ));
            code = Code::Api;
        }
    }
    (code, text)
}

/// Why drain-next picks a node it drained before.
fn resume_reason(st: &Standing, p: &Progress, target: &str) -> String {
    match st {
        Standing::Unfinished => format!(
            "resuming: its drain by {} stopped in state '{}' at {}",
            p.by(),
            p.state.as_str(),
            p.time
        ),
        _ => format!(
            "resuming: drained by {} at {} for {}, not back at the target yet; draining it again",
            p.by(),
            p.time,
            p.target_text().unwrap_or(target)
        ),
    }
}

/// The exit-4 message: which nodes are still in progress and how to finish each.
fn another_in_progress(
    others: &[&(String, Standing, Progress)],
    target: &str,
    named: Option<&str>,
) -> String {
    let list: Vec<String> = others
        .iter()
        .map(|(n, st, p)| {
            let goal = p.target_text().unwrap_or(target);
            match st {
                Standing::Unfinished => format!(
                    "{n} (its drain stopped in state '{}' at {}: finish it with `kubectl upgrade drain-next {n}`, upgrade it to {goal}, then `kubectl upgrade uncordon {n}`)",
                    p.state.as_str(),
                    p.time
                ),
                _ => format!(
                    "{n} (drained {} for {goal}: once it is upgraded and Ready, `kubectl upgrade uncordon {n}` or rerun with --uncordon-upgraded)",
                    p.time
                ),
            }
        })
        .collect();
    let (prefix, which) = match named {
        Some(n) => (format!("{n} not drained: "), n.to_string()),
        None => (String::new(), "a further node".to_string()),
    };
    format!(
        "{prefix}another node is still in progress: {}; finish it first, or pass --allow-another to drain {which} anyway",
        list.join(", ")
    )
}

fn emit_next(report: &NextReport, global: &Global, text: &str) -> Result<(), CliError> {
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print!("{}", crate::render::machine(report, global.output)?)
        }
        _ => println!("{text}"),
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
