//! Dispatch: run the parsed command and map its outcome to an exit code.

use crate::cli::{Cli, Command};
use crate::exit::{CliError, Code};

pub async fn run(cli: Cli) -> Result<Code, CliError> {
    let global = &cli.global;
    if global.output.is_check_evidence() {
        let single_check = match &cli.command {
            Command::Check(args) => {
                !args.is_fleet(global)
                    && !matches!(args.snapshot.as_slice(), [dir] if dir.join(crate::cli::fleet::INDEX).is_file())
            }
            _ => false,
        };
        if !single_check {
            return Err(CliError::usage(
                "-o sarif and -o junit are formats of one `check` report (a cluster, a snapshot or --file manifests); use -o json here",
            ));
        }
    }
    match &cli.command {
        Command::Check(args) => {
            if args.is_fleet(global) {
                return crate::cli::fleet::run(args, global).await;
            }
            if let [dir] = args.snapshot.as_slice() {
                if dir.join(crate::cli::fleet::INDEX).is_file() {
                    return crate::cli::fleet::review(args, global, dir).await;
                }
            }
            crate::cli::check::run_check(args, global).await
        }
        Command::Snapshot(args) => {
            crate::cli::check::snapshot_format(global)?;
            if args.is_fleet(global) {
                return crate::cli::fleet::run_snapshots(args, global).await;
            }
            crate::cli::check::run_snapshot(args, global).await
        }
        Command::Cordon(args) => crate::cli::drain::run_cordon(args, global).await,
        Command::Uncordon(args) => crate::cli::drain::run_uncordon(args, global).await,
        Command::Drain(args) => crate::cli::drain::run_drain(args, global).await,
        Command::DrainNext(args) => crate::cli::drain_next::run_drain_next(args, global).await,
        Command::Status(args) => crate::cli::status::run(args, global).await,
        Command::Simulate(args) => crate::cli::simulate::run(args, global).await,
        Command::Completion(args) => crate::cli::completion::run(args, global).await,
        Command::Version => {
            use crate::cli::OutputFormat;
            let info = crate::buildinfo::version_info();
            let text = match global.output {
                // -o sarif/junit were refused above.
                OutputFormat::Json | OutputFormat::Sarif | OutputFormat::Junit => {
                    serde_json::to_string_pretty(&info)
                        .map(|t| t + "\n")
                        .map_err(|e| CliError::usage(format!("cannot print the version: {e}")))?
                }
                OutputFormat::Yaml => serde_yaml::to_string(&info)
                    .map_err(|e| CliError::usage(format!("cannot print the version: {e}")))?,
                OutputFormat::Table | OutputFormat::Wide => crate::buildinfo::version_text(),
            };
            print!("{text}");
            Ok(Code::Ok)
        }
    }
}
