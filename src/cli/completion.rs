//! Shell completion, two ways:
//!
//! * `kubectl upgrade completion bash|zsh|fish|powershell` prints a static script (clap_complete)
//!   for the binary `kubectl-upgrade` used directly.
//! * kubectl 1.26+ completes plugins by running an executable named `kubectl_complete-upgrade`
//!   with the words typed after `kubectl upgrade` (the last one is the partial word, possibly
//!   empty) and reading one candidate per line, optionally `candidate<TAB>description`, with an
//!   optional last line `:<directive>` (cobra's ShellCompDirective). Krew installs one binary,
//!   so `completion kubectl-shim` prints that executable as a small sh script that calls back
//!   `kubectl-upgrade completion __complete -- WORDS...`, answered by [`plan`] (pure: what to
//!   complete) and [`run`] (I/O: node names from the cluster, names from the kubeconfig).

use crate::cli::{Cli, Global};
use crate::client::connect::ConnectOpts;
use crate::exit::{CliError, Code};
use clap::builder::PossibleValuesParser;
use clap::{Arg, Args, CommandFactory, ValueHint};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The name users type to run the binary directly; completion scripts are generated for it.
pub const BIN_NAME: &str = "kubectl-upgrade";
/// The executable kubectl looks up on PATH to complete `kubectl upgrade ...`.
pub const SHIM_NAME: &str = "kubectl_complete-upgrade";
/// The hidden `completion` argument the shim calls back with.
pub const COMPLETE_ARG: &str = "__complete";
/// Subcommands whose positional arguments are node names.
pub const NODE_COMMANDS: &[&str] = &["cordon", "uncordon", "drain"];
/// Time limit for listing nodes while the user waits at a prompt.
pub const NODE_LIST_TIMEOUT: Duration = Duration::from_secs(3);

/// cobra's `ShellCompDirectiveDefault`: the shell may fall back to file names.
pub const DIRECTIVE_DEFAULT: u32 = 0;
/// cobra's `ShellCompDirectiveNoFileComp`: offer nothing but the printed candidates.
pub const DIRECTIVE_NO_FILE_COMP: u32 = 4;

/// `kubectl upgrade completion SHELL`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  # Direct use of the binary (bash); the scripts complete the command `kubectl-upgrade`:
  source <(kubectl-upgrade completion bash)

  # `kubectl upgrade <TAB>` (kubectl 1.26+): install the plugin completion shim on PATH:
  kubectl upgrade completion kubectl-shim > ~/.krew/bin/kubectl_complete-upgrade
  chmod +x ~/.krew/bin/kubectl_complete-upgrade")]
pub struct CompletionArgs {
    /// bash, zsh, fish, powershell (scripts for `kubectl-upgrade`), or kubectl-shim (the
    /// `kubectl_complete-upgrade` script kubectl runs to complete `kubectl upgrade ...`).
    #[arg(value_name = "SHELL", value_parser = PossibleValuesParser::new([
        clap::builder::PossibleValue::new("bash"),
        clap::builder::PossibleValue::new("zsh"),
        clap::builder::PossibleValue::new("fish"),
        clap::builder::PossibleValue::new("powershell"),
        clap::builder::PossibleValue::new("kubectl-shim"),
        clap::builder::PossibleValue::new(COMPLETE_ARG).hide(true),
    ]))]
    pub shell: String,
    /// With `__complete`: the words typed after `kubectl upgrade`, the last one partial.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub words: Vec<String>,
}

/// Run `completion`.
pub async fn run(args: &CompletionArgs, global: &Global) -> Result<Code, CliError> {
    let out = match args.shell.as_str() {
        COMPLETE_ARG => complete(&args.words, &global.connect).await,
        other => {
            if !args.words.is_empty() {
                return Err(CliError::usage(format!(
                    "completion {other}: unexpected arguments {:?}; only `{COMPLETE_ARG}` takes words",
                    args.words
                )));
            }
            script(other)?
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::api(format!("cannot write to stdout: {e}")))?;
    Ok(Code::Ok)
}

/// The completion script for `shell` (`bash`, `zsh`, `fish`, `powershell`) or the kubectl shim.
pub fn script(shell: &str) -> Result<String, CliError> {
    let shell = match shell {
        "kubectl-shim" => return Ok(kubectl_shim()),
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        "powershell" => clap_complete::Shell::PowerShell,
        other => {
            return Err(CliError::usage(format!(
                "unknown shell '{other}': use bash, zsh, fish, powershell or kubectl-shim"
            )))
        }
    };
    // The help text calls the program `kubectl upgrade`; the scripts complete the binary,
    // and clap_complete's bash output breaks on a name with a space, so rename it first.
    let mut cmd = Cli::command().name(BIN_NAME).bin_name(BIN_NAME);
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN_NAME, &mut buf);
    let script = String::from_utf8(buf)
        .map_err(|e| CliError::api(format!("completion script is not UTF-8: {e}")))?;
    Ok(match shell {
        clap_complete::Shell::Bash => fix_bash_hyphenated_bin(&script),
        _ => script,
    })
}

/// clap_complete's bash script spells the state of a subcommand of a hyphenated binary two
/// ways (`kubectl__upgrade__subcmd__check` in the dispatch loop, `kubectl__subcmd__upgrade__
/// subcmd__check` in the case arms), so nothing after the subcommand completes
/// (clap-rs/clap#6421, open). Spell the arms like the loop.
fn fix_bash_hyphenated_bin(script: &str) -> String {
    let escaped = BIN_NAME.replace('-', "__");
    let broken = BIN_NAME.replace('-', "__subcmd__");
    script.replace(
        &format!("{broken}__subcmd__"),
        &format!("{escaped}__subcmd__"),
    )
}

/// The POSIX sh script to install as `kubectl_complete-upgrade` on PATH.
pub fn kubectl_shim() -> String {
    format!(
        "#!/bin/sh\n\
# {SHIM_NAME}: completion for `kubectl upgrade ...` (kubectl 1.26+).\n\
# kubectl runs it with the words typed after `kubectl upgrade` and reads one candidate per\n\
# line, then `:<directive>`. Install it executable on PATH, e.g. next to {BIN_NAME}:\n\
#   kubectl upgrade completion kubectl-shim > \"${{KREW_ROOT:-$HOME/.krew}}/bin/{SHIM_NAME}\"\n\
#   chmod +x \"${{KREW_ROOT:-$HOME/.krew}}/bin/{SHIM_NAME}\"\n\
command -v {BIN_NAME} >/dev/null 2>&1 || {{ echo :{DIRECTIVE_NO_FILE_COMP}; exit 0; }}\n\
exec {BIN_NAME} completion {COMPLETE_ARG} -- \"$@\"\n"
    )
}

/// One completion candidate: the value, and a one-line description shells may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub value: String,
    pub help: Option<String>,
}

impl Completion {
    fn new(value: impl Into<String>, help: Option<String>) -> Self {
        Completion {
            value: value.into(),
            help,
        }
    }
}

/// Names the kubeconfig holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeconfigItem {
    Context,
    Cluster,
    User,
}

/// What the word under the cursor should be completed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Fixed candidates: subcommands, flags, enumerated values (already filtered).
    Fixed(Vec<Completion>),
    /// Node names from the cluster for `command` (cordon/uncordon/drain), minus `exclude`.
    Nodes {
        command: String,
        exclude: Vec<String>,
    },
    /// Names from the kubeconfig.
    Kubeconfig(KubeconfigItem),
    /// A path: let the shell complete file names.
    Files,
    /// Nothing to offer (a free-form value, or too many positionals).
    Nothing,
}

/// The outcome of reading the typed words: what to complete, and with which connection flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionPlan {
    pub want: Want,
    /// Text kept in front of each candidate: `--context=` when completing `--context=pro`.
    pub prefix: String,
    /// The part of the value typed so far.
    pub partial: String,
    /// Connection flags typed earlier on the line (`--kubeconfig`, `--context`, ...), as
    /// (clap argument id, value).
    pub flags: Vec<(String, String)>,
}

/// Decide what to complete from the words typed after `kubectl upgrade` (last = partial word).
pub fn plan(words: &[String]) -> CompletionPlan {
    let mut root = Cli::command();
    root.build();
    let (partial, done) = match words.split_last() {
        Some((last, rest)) => (last.clone(), rest),
        None => (String::new(), &[][..]),
    };

    let mut cmd = &root;
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut positionals: Vec<String> = Vec::new();
    let mut pending: Option<Arg> = None; // a flag waiting for its value
    let mut only_positionals = false; // after `--`
    for word in done {
        if let Some(arg) = pending.take() {
            flags.push((arg.get_id().to_string(), word.clone()));
            continue;
        }
        if !only_positionals && word == "--" {
            only_positionals = true;
        } else if !only_positionals && word.starts_with("--") {
            let (name, inline) = match word[2..].split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (&word[2..], None),
            };
            if let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(name)) {
                match inline {
                    Some(v) => flags.push((arg.get_id().to_string(), v.to_string())),
                    None if takes_next_word(arg) => pending = Some(arg.clone()),
                    None => flags.push((arg.get_id().to_string(), "true".into())),
                }
            }
        } else if !only_positionals && word.starts_with('-') && word.len() > 1 {
            // A cluster of shorts: `-o`, `-ojson`, `-o=json`.
            for (i, c) in word[1..].char_indices() {
                let Some(arg) = cmd.get_arguments().find(|a| a.get_short() == Some(c)) else {
                    break;
                };
                if takes_value(arg) {
                    let rest = word[1 + i + c.len_utf8()..].trim_start_matches('=');
                    if rest.is_empty() && takes_next_word(arg) {
                        pending = Some(arg.clone());
                    } else {
                        flags.push((arg.get_id().to_string(), rest.to_string()));
                    }
                    break;
                }
                flags.push((arg.get_id().to_string(), "true".into()));
            }
        } else if positionals.is_empty() && !only_positionals && cmd.has_subcommands() {
            match find_subcommand(cmd, word) {
                Some(sub) => cmd = sub,
                None => positionals.push(word.clone()),
            }
        } else {
            positionals.push(word.clone());
        }
    }

    let plan = |want, prefix: &str, partial: &str| CompletionPlan {
        want,
        prefix: prefix.to_string(),
        partial: partial.to_string(),
        flags: flags.clone(),
    };

    // The value of a flag given in the previous word: `--context <TAB>`.
    if let Some(arg) = pending {
        return plan(value_want(cmd, &arg, &partial, &positionals), "", &partial);
    }
    if !only_positionals && partial.starts_with("--") {
        // `--context=pro<TAB>`: complete the value, keep `--context=` in front.
        if let Some((name, value)) = partial[2..].split_once('=') {
            let prefix = format!("--{name}=");
            return match cmd.get_arguments().find(|a| a.get_long() == Some(name)) {
                Some(arg) if takes_value(arg) => {
                    plan(value_want(cmd, arg, value, &positionals), &prefix, value)
                }
                _ => plan(Want::Nothing, &prefix, value),
            };
        }
        return plan(Want::Fixed(flag_candidates(cmd, &partial)), "", &partial);
    }
    if !only_positionals && partial.starts_with('-') {
        return plan(Want::Fixed(flag_candidates(cmd, &partial)), "", &partial);
    }
    if positionals.is_empty() && !only_positionals && cmd.has_subcommands() {
        let subs = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name().starts_with(partial.as_str()))
            .map(|s| {
                Completion::new(
                    s.get_name(),
                    s.get_about().map(|a| first_line(&a.to_string())),
                )
            })
            .collect();
        return plan(Want::Fixed(subs), "", &partial);
    }
    // A positional argument: the next one, or the last if it takes many values.
    let args: Vec<&Arg> = cmd.get_positionals().filter(|a| !a.is_hide_set()).collect();
    let arg = args.get(positionals.len()).copied().or_else(|| {
        args.last()
            .copied()
            .filter(|a| a.get_num_args().is_some_and(|r| r.max_values() > 1))
    });
    match arg {
        Some(arg) => plan(value_want(cmd, arg, &partial, &positionals), "", &partial),
        None => plan(Want::Nothing, "", &partial),
    }
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// Whether the word after this flag is its value (`--dry-run` takes one only as `--dry-run=X`).
fn takes_next_word(arg: &Arg) -> bool {
    takes_value(arg)
        && !arg.is_require_equals_set()
        && arg.get_num_args().is_none_or(|r| r.min_values() > 0)
}

fn find_subcommand<'a>(cmd: &'a clap::Command, name: &str) -> Option<&'a clap::Command> {
    cmd.get_subcommands()
        .find(|s| s.get_name() == name || s.get_all_aliases().any(|a| a == name))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// What to offer as the value of `arg` in command `cmd`.
fn value_want(cmd: &clap::Command, arg: &Arg, partial: &str, positionals: &[String]) -> Want {
    let id = arg.get_id().as_str();
    let values: Vec<Completion> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set() && v.get_name().starts_with(partial))
        .map(|v| {
            Completion::new(
                v.get_name(),
                v.get_help().map(|h| first_line(&h.to_string())),
            )
        })
        .collect();
    if !arg.get_possible_values().is_empty() {
        return Want::Fixed(values);
    }
    match id {
        "context" => return Want::Kubeconfig(KubeconfigItem::Context),
        "cluster" => return Want::Kubeconfig(KubeconfigItem::Cluster),
        "user" => return Want::Kubeconfig(KubeconfigItem::User),
        _ => {}
    }
    let node_arg = id == "node"
        || id == "nodes"
        || (arg.is_positional() && NODE_COMMANDS.contains(&cmd.get_name()));
    if node_arg {
        let exclude = if arg.is_positional() {
            positionals.to_vec()
        } else {
            Vec::new()
        };
        return Want::Nodes {
            command: cmd.get_name().to_string(),
            exclude,
        };
    }
    match arg.get_value_hint() {
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath => Want::Files,
        _ => Want::Nothing,
    }
}

/// Flags of `cmd` (its own and the global ones) starting with `partial`.
fn flag_candidates(cmd: &clap::Command, partial: &str) -> Vec<Completion> {
    let mut out = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
    {
        let help = arg.get_help().map(|h| first_line(&h.to_string()));
        if let Some(long) = arg.get_long() {
            let flag = format!("--{long}");
            if flag.starts_with(partial) {
                out.push(Completion::new(flag, help.clone()));
            }
        }
        if partial == "-" {
            if let Some(short) = arg.get_short() {
                out.push(Completion::new(format!("-{short}"), help));
            }
        }
    }
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

/// What completion needs to know about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    pub name: String,
    pub unschedulable: bool,
    pub ready: bool,
    pub kubelet_version: String,
}

/// Node candidates for `command`: `uncordon` prefers cordoned nodes and `cordon` schedulable
/// ones (the others would be no-ops) unless that leaves nothing; names already typed are skipped.
pub fn node_candidates(
    command: &str,
    exclude: &[String],
    partial: &str,
    nodes: &[NodeSummary],
) -> Vec<Completion> {
    let matching: Vec<&NodeSummary> = nodes
        .iter()
        .filter(|n| n.name.starts_with(partial) && !exclude.contains(&n.name))
        .collect();
    let preferred: Vec<&NodeSummary> = match command {
        "uncordon" => matching
            .iter()
            .copied()
            .filter(|n| n.unschedulable)
            .collect(),
        "cordon" => matching
            .iter()
            .copied()
            .filter(|n| !n.unschedulable)
            .collect(),
        _ => Vec::new(),
    };
    let chosen = if preferred.is_empty() {
        matching
    } else {
        preferred
    };
    let mut out: Vec<Completion> = chosen
        .into_iter()
        .map(|n| {
            let mut status = if n.ready { "Ready" } else { "NotReady" }.to_string();
            if n.unschedulable {
                status.push_str(",SchedulingDisabled");
            }
            let help = if n.kubelet_version.is_empty() {
                status
            } else {
                format!("{status} {}", n.kubelet_version)
            };
            Completion::new(n.name.clone(), Some(help))
        })
        .collect();
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

/// Names from a kubeconfig starting with `partial`, sorted and de-duplicated.
pub fn kubeconfig_candidates(
    config: &kube::config::Kubeconfig,
    item: KubeconfigItem,
    partial: &str,
) -> Vec<Completion> {
    let names: Vec<&str> = match item {
        KubeconfigItem::Context => config.contexts.iter().map(|c| c.name.as_str()).collect(),
        KubeconfigItem::Cluster => config.clusters.iter().map(|c| c.name.as_str()).collect(),
        KubeconfigItem::User => config.auth_infos.iter().map(|c| c.name.as_str()).collect(),
    };
    let mut names: Vec<&str> = names
        .into_iter()
        .filter(|n| n.starts_with(partial))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let current =
                item == KubeconfigItem::Context && config.current_context.as_deref() == Some(n);
            Completion::new(n, current.then(|| "current context".to_string()))
        })
        .collect()
}

/// The reply kubectl reads: one `value[<TAB>help]` per line, then `:<directive>`.
pub fn render(prefix: &str, candidates: &[Completion], directive: u32) -> String {
    let mut out = String::new();
    for c in candidates {
        // A candidate must stay on one line; tabs separate the description.
        let value: String = c.value.chars().filter(|ch| !ch.is_control()).collect();
        out.push_str(prefix);
        out.push_str(&value);
        if let Some(help) = c.help.as_deref().filter(|h| !h.is_empty()) {
            let help: String = help
                .chars()
                .map(|ch| if ch.is_control() { ' ' } else { ch })
                .collect();
            out.push('\t');
            out.push_str(&help);
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

/// Connection flags typed on the line, layered over the ones this process was started with.
pub fn connect_opts(base: &ConnectOpts, flags: &[(String, String)]) -> ConnectOpts {
    let mut opts = base.clone();
    for (id, value) in flags {
        match id.as_str() {
            "kubeconfig" => opts.kubeconfig = Some(PathBuf::from(value)),
            "context" => opts.context = vec![value.clone()],
            "cluster" => opts.cluster = Some(value.clone()),
            "user" => opts.user = Some(value.clone()),
            "as_user" => opts.as_user = Some(value.clone()),
            "as_group" => opts.as_group.push(value.clone()),
            "insecure_skip_tls_verify" => opts.insecure_skip_tls_verify = value != "false",
            _ => {}
        }
    }
    opts.request_timeout = NODE_LIST_TIMEOUT;
    opts
}

/// Answer the shim: plan, fetch what the plan needs, render. Never fails: on any error the
/// reply is just the directive, so the shell offers nothing rather than file names.
pub async fn complete(words: &[String], base: &ConnectOpts) -> String {
    let plan = plan(words);
    let opts = connect_opts(base, &plan.flags);
    let (candidates, directive) = match &plan.want {
        Want::Fixed(c) => (c.clone(), DIRECTIVE_NO_FILE_COMP),
        Want::Files => (Vec::new(), DIRECTIVE_DEFAULT),
        Want::Nothing => (Vec::new(), DIRECTIVE_NO_FILE_COMP),
        Want::Kubeconfig(item) => {
            let config = match &opts.kubeconfig {
                Some(path) => kube::config::Kubeconfig::read_from(path).ok(),
                None => kube::config::Kubeconfig::read().ok(),
            };
            let c = config
                .map(|k| kubeconfig_candidates(&k, *item, &plan.partial))
                .unwrap_or_default();
            (c, DIRECTIVE_NO_FILE_COMP)
        }
        Want::Nodes { command, exclude } => {
            let nodes = tokio::time::timeout(NODE_LIST_TIMEOUT, list_nodes(&opts))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            (
                node_candidates(command, exclude, &plan.partial, &nodes),
                DIRECTIVE_NO_FILE_COMP,
            )
        }
    };
    render(&plan.prefix, &candidates, directive)
}

async fn list_nodes(opts: &ConnectOpts) -> Result<Vec<NodeSummary>, CliError> {
    let conn = opts.connect().await?;
    Ok(crate::client::nodes::list(&conn, None)
        .await?
        .into_iter()
        .filter_map(|n| {
            let name = n.metadata.name?;
            let unschedulable = n
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            let status = n.status.as_ref();
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let kubelet_version = status
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.kubelet_version.clone())
                .unwrap_or_default();
            Some(NodeSummary {
                name,
                unschedulable,
                ready,
                kubelet_version,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn fixed(p: &CompletionPlan) -> Vec<String> {
        match &p.want {
            Want::Fixed(c) => c.iter().map(|c| c.value.clone()).collect(),
            other => panic!("expected fixed candidates, got {other:?}"),
        }
    }

    #[test]
    fn plans() {
        let node = |cmd: &str, ex: &[&str]| Want::Nodes {
            command: cmd.into(),
            exclude: w(ex),
        };
        let cases: Vec<(&[&str], Want, &str, &str)> = vec![
            // (words, want, prefix, partial)
            (&["check", "--snapshot", ""], Want::Files, "", ""),
            (&["--kubeconfig", "x"], Want::Files, "", "x"),
            (
                &["--context", "p"],
                Want::Kubeconfig(KubeconfigItem::Context),
                "",
                "p",
            ),
            (
                &["drain", "--context=p"],
                Want::Kubeconfig(KubeconfigItem::Context),
                "--context=",
                "p",
            ),
            (
                &["drain", "--cluster", ""],
                Want::Kubeconfig(KubeconfigItem::Cluster),
                "",
                "",
            ),
            (
                &["cordon", "--user", ""],
                Want::Kubeconfig(KubeconfigItem::User),
                "",
                "",
            ),
            (&["drain", ""], node("drain", &[]), "", ""),
            (
                &["drain", "--context", "prod", "wo"],
                node("drain", &[]),
                "",
                "wo",
            ),
            (
                &["cordon", "a", "b", ""],
                node("cordon", &["a", "b"]),
                "",
                "",
            ),
            (
                &["uncordon", "-o", "json", "n"],
                node("uncordon", &[]),
                "",
                "n",
            ),
            (&["uncordon", "-ojson", "n"], node("uncordon", &[]), "", "n"),
            // drain takes several nodes, like cordon: the ones named are not offered again.
            (&["drain", "node-1", ""], node("drain", &["node-1"]), "", ""),
            // --dry-run takes its value only after `=`: the next word is the node.
            (&["drain", "--dry-run", ""], node("drain", &[]), "", ""),
            (
                &["drain", "--dry-run", "n", ""],
                node("drain", &["n"]),
                "",
                "",
            ),
            (
                &["drain", "--timeout", "5m", "n"],
                node("drain", &[]),
                "",
                "n",
            ),
            // drain-next takes an optional node to drain next.
            (&["drain-next", ""], node("drain-next", &[]), "", ""),
            (&["drain-next", "a", ""], Want::Nothing, "", ""),
            (&["--request-timeout", ""], Want::Nothing, "", ""),
            (&["nonsense", ""], Want::Nothing, "", ""),
            (&["--", ""], Want::Nothing, "", ""),
        ];
        for (words, want, prefix, partial) in cases {
            let p = plan(&w(words));
            assert_eq!(p.want, want, "{words:?}");
            assert_eq!(p.prefix, prefix, "{words:?}");
            assert_eq!(p.partial, partial, "{words:?}");
        }
    }

    #[test]
    fn subcommands_and_flags() {
        let all = fixed(&plan(&w(&[""])));
        for sub in [
            "check",
            "snapshot",
            "cordon",
            "uncordon",
            "drain",
            "drain-next",
            "completion",
            "version",
        ] {
            assert!(all.contains(&sub.to_string()), "{sub} in {all:?}");
        }
        assert_eq!(fixed(&plan(&w(&["dr"]))), w(&["drain", "drain-next"]));
        assert_eq!(fixed(&plan(&w(&["unc"]))), w(&["uncordon"]));
        assert!(fixed(&plan(&w(&["zz"]))).is_empty());
        // No words at all behaves like an empty partial word.
        assert_eq!(fixed(&plan(&[])), all);

        let flags = fixed(&plan(&w(&["check", "--sn"])));
        assert_eq!(flags, w(&["--snapshot"]));
        let globals = fixed(&plan(&w(&["drain", "--contex"])));
        assert_eq!(globals, w(&["--context"]));
        let dash = fixed(&plan(&w(&["drain", "-"])));
        assert!(
            dash.contains(&"-o".to_string()) && dash.contains(&"--kubeconfig".to_string()),
            "{dash:?}"
        );
        assert!(!fixed(&plan(&w(&["drain", "--"]))).contains(&"-o".to_string()));
        // Enumerated values, including the `=` form.
        assert_eq!(
            fixed(&plan(&w(&["check", "-o", "j"]))),
            w(&["json", "junit"])
        );
        assert_eq!(fixed(&plan(&w(&["drain", "--dry-run=s"]))), w(&["server"]));
        let p = plan(&w(&["check", "--output=y"]));
        assert_eq!((fixed(&p), p.prefix.as_str()), (w(&["yaml"]), "--output="));
        // The hidden __complete value is not offered.
        assert_eq!(
            fixed(&plan(&w(&["completion", ""]))),
            w(&["bash", "zsh", "fish", "powershell", "kubectl-shim"])
        );
    }

    #[test]
    fn flags_typed_on_the_line_reach_the_connection() {
        let p = plan(&w(&[
            "drain",
            "--kubeconfig",
            "/k",
            "--context=c",
            "--as",
            "me",
            "--insecure-skip-tls-verify",
            "",
        ]));
        let opts = connect_opts(&ConnectOpts::default(), &p.flags);
        assert_eq!(opts.kubeconfig, Some(PathBuf::from("/k")));
        assert_eq!(opts.context, ["c"]);
        assert_eq!(opts.as_user.as_deref(), Some("me"));
        assert!(opts.insecure_skip_tls_verify);
        assert_eq!(opts.request_timeout, NODE_LIST_TIMEOUT);
        // Without flags the base options are kept (except the short timeout).
        let base = ConnectOpts {
            context: vec!["base".into()],
            ..Default::default()
        };
        assert_eq!(connect_opts(&base, &[]).context, ["base"]);
    }

    fn n(name: &str, unschedulable: bool, ready: bool) -> NodeSummary {
        NodeSummary {
            name: name.into(),
            unschedulable,
            ready,
            kubelet_version: "v1.33.2".into(),
        }
    }

    #[test]
    fn node_preferences() {
        let nodes = [
            n("cp-1", false, true),
            n("w-2", true, true),
            n("w-1", false, false),
            n("w-3", true, true),
        ];
        let names = |c: Vec<Completion>| c.into_iter().map(|c| c.value).collect::<Vec<_>>();
        let cases: Vec<(&str, &[&str], &str, &[&str])> = vec![
            ("drain", &[], "", &["cp-1", "w-1", "w-2", "w-3"]),
            ("drain", &[], "w", &["w-1", "w-2", "w-3"]),
            ("uncordon", &[], "", &["w-2", "w-3"]),
            ("uncordon", &["w-2"], "", &["w-3"]),
            // Only schedulable nodes match: offer them rather than nothing.
            ("uncordon", &[], "cp", &["cp-1"]),
            ("cordon", &[], "", &["cp-1", "w-1"]),
            ("cordon", &["cp-1", "w-1"], "", &["w-2", "w-3"]),
            ("drain", &[], "x", &[]),
        ];
        for (cmd, exclude, partial, want) in cases {
            let got = names(node_candidates(cmd, &w(exclude), partial, &nodes));
            assert_eq!(got, w(want), "{cmd} {exclude:?} {partial:?}");
        }
        let c = node_candidates("drain", &[], "w-2", &nodes);
        assert_eq!(
            c[0].help.as_deref(),
            Some("Ready,SchedulingDisabled v1.33.2")
        );
        let c = node_candidates("drain", &[], "w-1", &nodes);
        assert_eq!(c[0].help.as_deref(), Some("NotReady v1.33.2"));
    }

    #[test]
    fn kubeconfig_names() {
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: prod\n\
contexts:\n- name: prod\n  context: {cluster: c1, user: u1}\n- name: dev\n  context: {cluster: c2, user: u1}\n- name: prod-eu\n  context: {cluster: c1, user: u1}\n\
clusters:\n- name: c1\n  cluster: {server: 'https://a'}\n- name: c2\n  cluster: {server: 'https://b'}\n\
users:\n- name: u1\n  user: {token: t}\n";
        let k: kube::config::Kubeconfig = serde_yaml::from_str(yaml).unwrap();
        let names = |item, p| {
            kubeconfig_candidates(&k, item, p)
                .into_iter()
                .map(|c| c.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(KubeconfigItem::Context, ""),
            w(&["dev", "prod", "prod-eu"])
        );
        assert_eq!(
            names(KubeconfigItem::Context, "pr"),
            w(&["prod", "prod-eu"])
        );
        assert_eq!(names(KubeconfigItem::Cluster, ""), w(&["c1", "c2"]));
        assert_eq!(names(KubeconfigItem::User, ""), w(&["u1"]));
        let current = kubeconfig_candidates(&k, KubeconfigItem::Context, "prod");
        assert_eq!(current[0].help.as_deref(), Some("current context"));
        assert_eq!(current[1].help, None);
    }

    #[test]
    fn rendering() {
        let c = [
            Completion::new("a", Some("first\nline".into())),
            Completion::new("b", None),
            Completion::new("c", Some(String::new())),
        ];
        assert_eq!(render("", &c, 4), "a\tfirst line\nb\nc\n:4\n");
        assert_eq!(render("--context=", &c[1..2], 0), "--context=b\n:0\n");
        assert_eq!(render("", &[], 4), ":4\n");
    }

    #[test]
    fn scripts() {
        for shell in ["bash", "zsh", "fish", "powershell"] {
            let s = script(shell).unwrap();
            assert!(s.contains(BIN_NAME) && s.contains("drain-next"), "{shell}");
        }
        assert_eq!(script("tcsh").unwrap_err().code, Code::Usage);
        let shim = script("kubectl-shim").unwrap();
        assert!(shim.starts_with("#!/bin/sh\n"));
        assert!(shim.contains("exec kubectl-upgrade completion __complete -- \"$@\"\n"));
    }
}
