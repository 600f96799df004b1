//! `check --all-contexts | --context A --context B | --contexts-matching GLOB`: one check per
//! context, concurrently (`--parallel`), each with its own client, credentials and time limit
//! (`--context-timeout`); nothing is shared between contexts. One unreachable, forbidden or
//! slow cluster becomes its row's error and never stops the others. Progress on stderr.

use crate::cli::check::{self, CheckArgs, Inputs};
use crate::cli::{Global, OutputFormat};
use crate::exit::{CliError, Code};
use crate::fleet::{self, ContextResult};
use futures::StreamExt;
use std::io::IsTerminal;
use std::time::Instant;

/// `*` any run of characters, `?` one character; everything else literal.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// The index a fleet snapshot directory carries.
pub const INDEX: &str = "fleet.json";

/// The contexts to check, in kubeconfig order, each once.
fn select(
    all_contexts: bool,
    contexts_matching: Option<&str>,
    global: &Global,
) -> Result<Vec<(String, String)>, CliError> {
    let kc = global.connect.kubeconfig_file()?;
    let server_of = |ctx: &str| {
        kc.contexts
            .iter()
            .find(|c| c.name == ctx)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| kc.clusters.iter().find(|cl| cl.name == c.cluster))
            .and_then(|cl| cl.cluster.as_ref())
            .and_then(|cl| cl.server.clone())
            .unwrap_or_default()
    };
    let all: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    let mut wanted: Vec<String> = Vec::new();
    for name in &global.connect.context {
        if !all.contains(name) {
            return Err(CliError::usage(format!(
                "--context {name}: the kubeconfig has no context named '{name}' (it has: {}); see `kubectl config get-contexts`",
                all.join(", ")
            )));
        }
        wanted.push(name.clone());
    }
    if let Some(glob) = contexts_matching {
        let matched: Vec<&String> = all.iter().filter(|c| glob_match(glob, c)).collect();
        if matched.is_empty() {
            return Err(CliError::usage(format!(
                "--contexts-matching '{glob}' matches no context (there are: {})",
                all.join(", ")
            )));
        }
        wanted.extend(matched.into_iter().cloned());
    }
    if all_contexts {
        wanted.extend(all.iter().cloned());
    }
    let mut seen = std::collections::BTreeSet::new();
    wanted.retain(|c| seen.insert(c.clone()));
    if wanted.is_empty() {
        return Err(CliError::usage(
            "the kubeconfig has no contexts; see `kubectl config get-contexts`",
        ));
    }
    Ok(wanted
        .into_iter()
        .map(|c| {
            let s = server_of(&c);
            (c, s)
        })
        .collect())
}

async fn one(
    args: &CheckArgs,
    global: &Global,
    inputs: &Inputs,
    context: String,
    server: String,
) -> ContextResult {
    let mut connect = global.connect.clone();
    connect.context = vec![context.clone()];
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        args.context_timeout,
        check::live_report(args, &connect, inputs),
    )
    .await;
    let (exit_code, report, error) = match outcome {
        Ok(Ok(r)) => (r.summary.exit_code, Some(r), None),
        Ok(Err(e)) => (e.code.as_i32(), None, Some(e.message)),
        Err(_) => (
            fleet::error_exit(),
            None,
            Some(no_answer(args.context_timeout)),
        ),
    };
    ContextResult {
        context,
        server,
        exit_code,
        seconds: started.elapsed().as_secs_f64(),
        report,
        error,
    }
}

pub async fn run(args: &CheckArgs, global: &Global) -> Result<Code, CliError> {
    if !args.snapshot.is_empty() || !args.files.is_empty() {
        return Err(CliError::usage(
            "a fleet check reads live clusters; for snapshots use `check --snapshot FILE` per cluster",
        ));
    }
    let inputs = Inputs::of(args)?;
    let contexts = select(args.all_contexts, args.contexts_matching.as_deref(), global)?;
    let results = concurrently(contexts, usize::from(args.parallel), |c, s| {
        one(args, global, &inputs, c, s)
    })
    .await;
    render_fleet(args, global, &inputs, results)
}

/// Runs `f` per context, at most `parallel` at once, with progress on stderr: a live line on
/// a terminal, one line per finished context otherwise.
async fn concurrently<'a, F, Fut>(
    contexts: Vec<(String, String)>,
    parallel: usize,
    f: F,
) -> Vec<ContextResult>
where
    F: Fn(String, String) -> Fut,
    Fut: std::future::Future<Output = ContextResult> + 'a,
{
    let total = contexts.len();
    let mut pending: Vec<String> = contexts.iter().map(|(c, _)| c.clone()).collect();
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{pos}/{len} clusters {elapsed} {msg}")
        {
            b.set_style(style);
        }
        b
    });
    let mut results = Vec::with_capacity(total);
    let mut stream = futures::stream::iter(contexts)
        .map(|(c, s)| f(c, s))
        .buffer_unordered(parallel);
    while let Some(r) = stream.next().await {
        pending.retain(|p| p != &r.context);
        let waiting = if pending.is_empty() {
            String::new()
        } else {
            format!(
                "; pending: {}",
                crate::findings::bounded(&pending, crate::findings::NAMES_SHOWN)
            )
        };
        let line = format!(
            "{}: exit {} in {:.1}s{waiting}",
            r.context, r.exit_code, r.seconds
        );
        match &bar {
            Some(b) => {
                b.inc(1);
                b.set_message(line);
            }
            None => eprintln!("[{}/{total}] {line}", results.len() + 1),
        }
        results.push(r);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    results
}

fn render_fleet(
    args: &CheckArgs,
    global: &Global,
    inputs: &Inputs,
    results: Vec<ContextResult>,
) -> Result<Code, CliError> {
    let report = fleet::build(results, &inputs.today.to_string());
    let text = match global.output {
        // -o sarif/junit are refused for fleets before this runs.
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Sarif | OutputFormat::Junit => {
            crate::render::machine(&report, global.output.machine())?
        }
        OutputFormat::Table | OutputFormat::Wide => crate::render::fleet(
            &report,
            &inputs.calendar,
            args.details,
            global.output == OutputFormat::Wide,
            crate::render::use_colour(),
        ),
    };
    crate::cli::write_stdout(&text)?;
    Ok(match report.summary.exit_code {
        0 => Code::Ok,
        1 => Code::Warnings,
        2 => Code::Violations,
        _ => Code::Api,
    })
}

/// One entry of a fleet snapshot's index.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub context: String,
    pub server: String,
    /// The snapshot file, relative to the directory; absent when the snapshot failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub exit_code: i32,
}

/// A context name as a file name: letters, digits, `-`, `_`, `.` kept, the rest `_`, made
/// unique with a counter when two names collapse to one.
fn file_name(context: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let base: String = context
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{base}.json");
    let mut n = 2;
    while !taken.insert(name.clone()) || name == INDEX {
        name = format!("{base}-{n}.json");
        n += 1;
    }
    name
}

/// `snapshot --all-contexts --output-directory DIR`: one snapshot per context and `fleet.json`.
pub async fn run_snapshots(
    args: &crate::cli::check::SnapshotArgs,
    global: &Global,
) -> Result<Code, CliError> {
    let Some(dir) = &args.output_directory else {
        return Err(CliError::usage(
            "fleet snapshots need --output-directory DIR (one file per context)",
        ));
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    let contexts = select(args.all_contexts, args.contexts_matching.as_deref(), global)?;
    let mut taken = std::collections::BTreeSet::new();
    let files: std::collections::BTreeMap<String, String> = contexts
        .iter()
        .map(|(c, _)| (c.clone(), file_name(c, &mut taken)))
        .collect();
    let results = concurrently(contexts, usize::from(args.parallel), |context, server| {
        let file = dir.join(&files[&context]);
        let mut connect = global.connect.clone();
        connect.context = vec![context.clone()];
        async move {
            let started = Instant::now();
            let work = async {
                let f = std::fs::File::create(&file).map_err(|e| {
                    CliError::usage(format!("cannot write {}: {e}", file.display()))
                })?;
                crate::inventory::live::snapshot(&connect, args.helm, std::io::BufWriter::new(f))
                    .await
                    .map_err(CliError::from)
            };
            let outcome = tokio::time::timeout(args.context_timeout, work).await;
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some((e.code.as_i32(), e.message)),
                Err(_) => Some((fleet::error_exit(), no_answer(args.context_timeout))),
            };
            if error.is_some() {
                let _ = std::fs::remove_file(&file);
            }
            ContextResult {
                context,
                server,
                exit_code: error.as_ref().map(|e| e.0).unwrap_or(0),
                seconds: started.elapsed().as_secs_f64(),
                report: None,
                error: error.map(|e| e.1),
            }
        }
    })
    .await;
    let mut index: Vec<IndexEntry> = results
        .iter()
        .map(|r| IndexEntry {
            context: r.context.clone(),
            server: r.server.clone(),
            file: r.error.is_none().then(|| files[&r.context].clone()),
            error: r.error.clone(),
            exit_code: r.exit_code,
        })
        .collect();
    index.sort_by(|a, b| a.context.cmp(&b.context));
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "schema": "kubectl-upgrade.io/fleet-snapshot/v1",
        "contexts": index,
    }))
    .map_err(|e| CliError::usage(format!("cannot write the index: {e}")))?;
    std::fs::write(dir.join(INDEX), text + "\n")
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", dir.join(INDEX).display())))?;
    let failed = index.iter().filter(|i| i.error.is_some()).count();
    eprintln!(
        "{} snapshot(s) in {}, {failed} failed (listed in {INDEX})",
        index.len() - failed,
        dir.display()
    );
    Ok(if failed > 0 { Code::Api } else { Code::Ok })
}

/// `check --snapshot DIR` on a fleet snapshot directory: every context's report offline, the
/// snapshot errors as their rows' errors.
pub async fn review(
    args: &CheckArgs,
    global: &Global,
    dir: &std::path::Path,
) -> Result<Code, CliError> {
    let inputs = Inputs::of(args)?;
    let path = dir.join(INDEX);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    #[derive(serde::Deserialize)]
    struct Index {
        contexts: Vec<IndexEntry>,
    }
    let index: Index = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{} is not a fleet snapshot index: {e}",
            path.display()
        ))
    })?;
    let mut results = Vec::new();
    for e in index.contexts {
        let started = Instant::now();
        let (exit_code, report, error) = match (&e.file, &e.error) {
            (Some(f), _) => {
                let built = crate::inventory::ingest::read_paths(&[dir.join(f)], None)
                    .map_err(CliError::from)
                    .and_then(|r| Ok(crate::report::build(&r.finish(), &inputs.context())?));
                match built {
                    Ok(r) => (r.summary.exit_code, Some(r), None),
                    Err(err) => (err.code.as_i32(), None, Some(err.message)),
                }
            }
            (None, err) => (
                if e.exit_code == 0 {
                    fleet::error_exit()
                } else {
                    e.exit_code
                },
                None,
                Some(format!(
                    "not snapshotted: {}",
                    err.clone().unwrap_or_default()
                )),
            ),
        };
        results.push(ContextResult {
            context: e.context,
            server: e.server,
            exit_code,
            seconds: started.elapsed().as_secs_f64(),
            report,
            error,
        });
    }
    render_fleet(args, global, &inputs, results)
}

/// A context that did not answer within `--context-timeout`.
fn no_answer(limit: std::time::Duration) -> String {
    format!(
        "no answer within --context-timeout {}: check the cluster is up, or raise the limit",
        crate::findings::duration_text(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut t = std::collections::BTreeSet::new();
        assert_eq!(
            super::file_name("arn:aws:eks:eu-1:123:cluster/prod", &mut t),
            "arn_aws_eks_eu-1_123_cluster_prod.json"
        );
        assert_eq!(
            super::file_name("arn_aws_eks_eu-1_123_cluster_prod", &mut t),
            "arn_aws_eks_eu-1_123_cluster_prod-2.json"
        );
        assert_eq!(super::file_name("fleet", &mut t), "fleet-2.json");
    }

    #[test]
    fn globs() {
        assert!(glob_match("prod-*", "prod-eu-1"));
        assert!(glob_match("*-eu-?", "prod-eu-1"));
        assert!(!glob_match("prod-*", "staging-eu"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("kind-kind", "kind-kind"));
    }
}
