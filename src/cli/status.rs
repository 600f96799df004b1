//! `kubectl upgrade status`: where the node rollout stands ([`crate::policy::rollout`]), once
//! or refreshed (`--watch`: in place on a terminal, a new view only when it changes
//! otherwise) until every node is at the target or Ctrl-C.

use crate::cli::{Global, OutputFormat};
use crate::client::connect::{api_error, parse_duration, Connection};
use crate::exit::{CliError, Code};
use crate::facts::node::NodeFacts;
use crate::facts::selector::Selector;
use crate::policy::rollout::{self, Rollout};
use clap::Args;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
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

async fn read(conn: &Connection, lp: &ListParams, target: &str) -> Result<Rollout, CliError> {
    let api: Api<Node> = Api::all(conn.client.clone());
    let listed = api
        .list(lp)
        .await
        .map_err(|e| api_error(e, "list", "nodes", None, &conn.description))?
        .items;
    if listed.is_empty() && !lp.label_selector.as_deref().unwrap_or_default().is_empty() {
        // A typo must not read as "the rollout is done" to a script looping on exit 0.
        return Err(CliError::usage(format!(
            "no node matches -l {}; check the labels with `kubectl get nodes --show-labels`",
            lp.label_selector.as_deref().unwrap_or_default()
        )));
    }
    let ctx = rollout::Context {
        lock: crate::client::lock::read(conn).await?,
        apiserver: crate::client::apiservers::read(conn)
            .await?
            .map_or_else(|| conn.server_version.clone(), |a| a.oldest.raw),
        now: jiff::Timestamp::now(),
    };
    let nodes: Vec<NodeFacts> = listed
        .into_iter()
        .map(|n| {
            NodeFacts::from_node(n, |k| {
                rollout::POOL_LABELS.contains(&k) || k.starts_with("node-role.kubernetes.io/")
            })
        })
        .collect();
    rollout::rollout(&nodes, target, &ctx).map_err(CliError::usage)
}

fn render(r: &Rollout, output: OutputFormat, colour: bool) -> Result<String, CliError> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml => Ok(crate::render::machine(r, output.machine())?),
        OutputFormat::Table | OutputFormat::Wide => Ok(crate::render::rollout(r, colour)),
    }
}

pub async fn run(args: &StatusArgs, global: &Global) -> Result<Code, CliError> {
    if let Some(t) = &args.to {
        crate::policy::version::parse(t).map_err(|_| {
            CliError::usage(format!(
                "cannot read target version '{t}'; use e.g. --to v1.33.2"
            ))
        })?;
    }
    if args.interval.is_zero() {
        return Err(CliError::usage("--interval must be more than 0, e.g. 2s"));
    }
    let conn = global.connect.connect().await?;
    let target = match &args.to {
        Some(t) => t.clone(),
        None => crate::client::apiservers::read(&conn)
            .await?
            .map_or_else(|| conn.server_version.clone(), |a| a.oldest.raw),
    };
    let stop = crate::signals::Stop::on_signals("stopping the watch");
    let mut lp = ListParams::default();
    if let Some(sel) = &args.selector {
        lp = lp.labels(&sel.to_string());
    }
    let colour = crate::render::use_colour();
    let first = read(&conn, &lp, &target).await?;
    if !args.watch {
        crate::cli::check::write_stdout(&render(&first, global.output, colour)?)?;
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
        current = read(&conn, &lp, &target).await?;
    }
}
