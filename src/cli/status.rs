//! `kubectl upgrade status`: where the node rollout stands ([`crate::rollout::status`]), once
//! or refreshed (`--watch`: in place on a terminal, a new view only when it changes
//! otherwise) until every node is at the target or Ctrl-C.

use crate::cli::{Global, OutputFormat};
use crate::client::connect::{parse_duration, Connection};
use crate::exit::{CliError, Code};
use crate::facts::node::NodeFacts;
use crate::facts::selector::Selector;
use crate::facts::version::Version;
use crate::rollout::status::{self, Rollout};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  # Where the rollout to the control plane's version stands
  kubectl upgrade status
  # Follow it until every node is at v1.33.2
  kubectl upgrade status --to v1.33.2 --watch

States: atTarget, inProgress (cordoned by drain-next: draining, drained and waiting for the
kubelet, or upgraded and waiting for uncordon), waiting, blocked (NotReady, failed drain,
cordoned by someone else). Exit codes: 0 shown (with --watch: rollout done); 3 API error;
64 usage; 130 interrupted.")]
pub struct StatusArgs {
    /// Target version (default: the oldest kube-apiserver's, as drain-next uses).
    #[arg(long, value_name = "vX.Y.Z")]
    pub to: Option<String>,
    /// Only nodes matching this label selector.
    #[arg(short = 'l', long, value_parser = crate::cli::drain::parse_selector)]
    pub selector: Option<Selector>,
    /// Refresh until every node is at the target (or Ctrl-C).
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// How often --watch reads the nodes again.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
}

async fn read(
    conn: &Connection,
    selector: Option<&Selector>,
    target: &Version,
) -> Result<Rollout, CliError> {
    let listed = crate::client::nodes::list(conn, selector).await?;
    let ctx = status::Context {
        lock: crate::client::lock::read(conn).await?,
        apiserver: crate::client::apiservers::oldest_version(conn).await?,
        now: jiff::Timestamp::now(),
    };
    let nodes: Vec<NodeFacts> = listed
        .into_iter()
        .map(|n| {
            NodeFacts::from_node(n, |k| {
                status::POOL_LABELS.contains(&k) || k.starts_with("node-role.kubernetes.io/")
            })
        })
        .collect();
    status::rollout(&nodes, target, &ctx).map_err(CliError::usage)
}

fn render(r: &Rollout, output: OutputFormat, colour: bool) -> Result<String, CliError> {
    match output {
        // -o sarif/junit are refused before any command but check runs.
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Sarif | OutputFormat::Junit => {
            Ok(crate::render::machine(r, output.machine())?)
        }
        OutputFormat::Table | OutputFormat::Wide => Ok(crate::render::rollout(r, colour)),
    }
}

pub async fn run(args: &StatusArgs, global: &Global) -> Result<Code, CliError> {
    let to = crate::cli::parse_rollout_target(args.to.as_deref())?;
    if args.interval.is_zero() {
        return Err(CliError::usage("--interval must be more than 0, e.g. 2s"));
    }
    let conn = global.connect.connect().await?;
    let target = match to {
        Some(t) => t,
        None => {
            let oldest = crate::client::apiservers::oldest_version(&conn).await?;
            crate::facts::version::parse(&oldest).map_err(|e| {
                CliError::usage(format!(
                    "cannot read the API server's version '{oldest}' ({e}); pass --to, e.g. --to v1.33.2"
                ))
            })?
        }
    };
    let stop = crate::signals::Stop::on_signals("stopping the watch");
    let colour = crate::render::use_colour();
    let first = read(&conn, args.selector.as_ref(), &target).await?;
    if !args.watch {
        crate::cli::write_stdout(&render(&first, global.output, colour)?)?;
        return Ok(Code::Ok);
    }
    let tty = std::io::stdout().is_terminal();
    let mut last: Option<Rollout> = None;
    let mut current = first;
    loop {
        if last.as_ref() != Some(&current) {
            let text = render(&current, global.output, colour)?;
            let mut out = std::io::stdout().lock();
            let shown = if tty {
                // Redraw in place: home, clear, the view.
                write!(out, "\x1b[H\x1b[2J{text}")
            } else {
                write!(out, "{text}")
            };
            let _ = shown.and_then(|_| out.flush());
            last = Some(current.clone());
        }
        if current.done {
            return Ok(Code::Ok);
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = stop.stopped() => return Ok(Code::Interrupted),
        }
        current = read(&conn, args.selector.as_ref(), &target).await?;
    }
}
