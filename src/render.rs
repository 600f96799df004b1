//! Renderers: the same `CheckReport` as a human table (comfy-table, colour only on a TTY and
//! never with NO_COLOR), JSON or YAML. Data goes to stdout; nothing here does I/O itself.

use crate::report::{CheckReport, Finding, Section, Severity};
use comfy_table::{
    presets, Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, TableComponent,
    Width,
};
use owo_colors::OwoColorize;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset (https://no-color.org).
pub fn use_colour() -> bool {
    colour_allowed(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// Colour only on a terminal, never with `NO_COLOR` set (non-empty, no-color.org) nor on a
/// terminal that says it has none (`TERM=dumb`).
fn colour_allowed(
    tty: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    tty && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// The machine-readable formats (`-o json|yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    Json,
    Yaml,
}

pub use crate::exit::RenderError;

/// Serialize any report for `-o json|yaml`.
pub fn machine<T: serde::Serialize>(value: &T, format: Machine) -> Result<String, RenderError> {
    match format {
        Machine::Yaml => serde_yaml::to_string(value).map_err(|e| RenderError {
            format: "YAML",
            why: e.to_string(),
        }),
        Machine::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| RenderError {
                format: "JSON",
                why: e.to_string(),
            }),
    }
}

/// Narrowest width tables and wrapped lines use.
const MIN_WIDTH: u16 = 40;
/// Width off a terminal without `COLUMNS` (logs, CI, `| less`).
const PIPED_WIDTH: u16 = 140;
/// Width on a terminal that reports none (a pty with 0 columns).
const FALLBACK_WIDTH: u16 = 80;
/// A column is never narrower than its longest word, up to this many characters (longer ones,
/// such as URLs, may still break).
const MAX_UNBROKEN: usize = 50;

/// The width tables and wrapped lines use: `COLUMNS` when it is a number, else the terminal's
/// (80 when it reports none), else 140 when the output is not a terminal; never below 40.
pub fn output_width() -> u16 {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|w| *w > 0);
    let w = from_env.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            Table::new()
                .width()
                .filter(|w| *w > 0)
                .unwrap_or(FALLBACK_WIDTH)
        } else {
            PIPED_WIDTH
        }
    });
    w.max(MIN_WIDTH)
}

/// Wrap `text` at word boundaries to `width` columns; the first line starts with `first`, the
/// others with `rest` (a hanging indent). A word longer than the line stays whole.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut line_len = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if !empty && line_len + 1 + n > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_string();
            line_len = rest.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
            line_len += 1;
        }
        line.push_str(word);
        line_len += n;
        empty = false;
    }
    out.push_str(line.trim_end());
    out
}

pub fn severity_label(sev: Severity, colour: bool) -> String {
    let text = match sev {
        Severity::Ok => "OK",
        Severity::Info => "INFO",
        Severity::Warn => "WARN",
        Severity::Violation => "VIOLATION",
    };
    if !colour {
        return text.to_string();
    }
    match sev {
        Severity::Ok => text.green().to_string(),
        Severity::Info => text.blue().to_string(),
        Severity::Warn => text.yellow().bold().to_string(),
        Severity::Violation => text.red().bold().to_string(),
    }
}

/// The verdict cell: coloured by comfy-table itself, so that widths are measured on the
/// visible text and a wrapped cell never cuts an escape sequence.
fn severity_cell(sev: Severity, colour: bool) -> Cell {
    let cell = Cell::new(severity_label(sev, false));
    if !colour {
        return cell;
    }
    match sev {
        Severity::Ok => cell.fg(Color::Green),
        Severity::Info => cell.fg(Color::Blue),
        Severity::Warn => cell.fg(Color::Yellow).add_attribute(Attribute::Bold),
        Severity::Violation => cell.fg(Color::Red).add_attribute(Attribute::Bold),
    }
}

fn table(header: &[&str]) -> Table {
    table_coloured(header, false)
}

/// A borderless table like `kubectl get` (one rule under the header) at [`output_width`];
/// cell styling only when `colour`.
fn table_coloured(header: &[&str], colour: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_style(TableComponent::HeaderLines, '-')
        .set_style(TableComponent::MiddleHeaderIntersections, ' ')
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(output_width());
    if colour {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(header.iter().map(Cell::new));
    t
}

/// Print a table wrapped at word boundaries: each column is at least as wide as its longest
/// word (up to [`MAX_UNBROKEN`]), the rest of [`output_width`] goes to the columns with the
/// most text. When even the longest words do not fit, the table is wider than the line rather
/// than splitting words.
fn print_table(out: &mut String, t: Table) {
    print_table_at(out, t, usize::from(output_width()));
}

fn print_table_at(out: &mut String, mut t: Table, line: usize) {
    let mut word = Vec::new();
    let mut content = Vec::new();
    let rows = t
        .row_iter()
        .map(|r| r.cell_iter().map(Cell::content).collect::<Vec<_>>());
    let header = t
        .header()
        .map(|h| h.cell_iter().map(Cell::content).collect::<Vec<_>>());
    for cells in header.into_iter().chain(rows.collect::<Vec<_>>()) {
        for (i, text) in cells.iter().enumerate() {
            if word.len() <= i {
                word.resize(i + 1, 0usize);
                content.resize(i + 1, 0usize);
            }
            let longest_word = text.split_whitespace().map(|w| w.chars().count()).max();
            let longest_line = text.lines().map(|l| l.chars().count()).max();
            word[i] = word[i].max(longest_word.unwrap_or(0).min(MAX_UNBROKEN));
            content[i] = content[i].max(longest_line.unwrap_or(0));
        }
    }
    let widths = column_widths(&word, &content, line);
    t.set_constraints(
        widths
            .iter()
            // comfy-table's absolute widths include the column's padding.
            .map(|w| ColumnConstraint::Absolute(Width::Fixed(*w as u16 + 2))),
    );
    let _ = writeln!(out, "{t}");
}

/// Content widths for columns (1 space of padding each side, 1 between columns). Narrow
/// columns get all they need first; the wide ones share the rest of the line equally; no
/// column is narrower than its longest word.
fn column_widths(word: &[usize], content: &[usize], line: usize) -> Vec<usize> {
    let n = word.len();
    let mut widths = vec![0; n];
    let mut avail = line.saturating_sub(3 * n).saturating_add(1);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| content[i]);
    for (k, &i) in order.iter().enumerate() {
        let share = avail / (n - k);
        let w = content[i].min(share).max(word[i]).max(1);
        widths[i] = w;
        avail = avail.saturating_sub(w);
    }
    widths
}

fn heading(out: &mut String, title: &str, colour: bool) {
    if colour {
        let _ = writeln!(out, "\n{}", title.bold().underline());
    } else {
        let _ = writeln!(out, "\n== {title} ==");
    }
}

fn findings_table(out: &mut String, findings: &[&Finding], wide: bool, colour: bool) {
    if findings.is_empty() {
        let _ = writeln!(out, "(nothing to report)");
        return;
    }
    let mut t = if wide {
        table_coloured(&["VERDICT", "SUBJECT", "FINDING", "RULE"], colour)
    } else {
        table_coloured(&["VERDICT", "SUBJECT", "FINDING"], colour)
    };
    for f in findings {
        let mut row = vec![
            severity_cell(f.severity, colour),
            Cell::new(&f.subject),
            Cell::new(&f.message),
        ];
        if wide {
            row.push(Cell::new(&f.rule));
        }
        t.add_row(row);
    }
    print_table(out, t);
}

/// The human report. `wide` adds a row per node and the rule column.
fn cluster_section(out: &mut String, r: &CheckReport, colour: bool) {
    let c = &r.cluster;
    if r.scope == crate::report::Scope::Manifests {
        heading(out, "Manifests", colour);
        let mut t = table(&["FACT", "VALUE"]);
        t.add_row(vec!["source".to_string(), r.source.clone()]);
        t.add_row(vec![
            "cluster starts at".to_string(),
            c.server_version
                .clone()
                .unwrap_or_else(|| "not given (--apiserver-version)".into()),
        ]);
        t.add_row(vec!["API data as of".to_string(), c.api_data_as_of.clone()]);
        for n in &c.notes {
            t.add_row(vec!["note".to_string(), n.clone()]);
        }
        print_table(out, t);
        return;
    }
    heading(out, "Cluster", colour);
    let mut t = table(&["FACT", "VALUE"]);
    t.add_row(vec!["source".to_string(), r.source.clone()]);
    t.add_row(vec![
        "apiserver (/version)".to_string(),
        c.server_version.clone().unwrap_or_else(|| "unknown".into()),
    ]);
    t.add_row(vec![
        "control plane (oldest apiserver)".to_string(),
        c.control_plane_version
            .clone()
            .unwrap_or_else(|| "unknown".into()),
    ]);
    t.add_row(vec![
        "set up by".to_string(),
        format!("{} ({})", c.setup.kind.label(), c.setup.evidence.join("; ")),
    ]);
    if let Some(k) = &c.kubeadm_version {
        t.add_row(vec!["kubeadm ClusterConfiguration".to_string(), k.clone()]);
    }
    t.add_row(vec![
        "objects".to_string(),
        format!(
            "{} nodes, {} pods, {} PodDisruptionBudgets",
            c.node_count, c.pod_count, c.pdb_count
        ),
    ]);
    t.add_row(vec![
        "release data as of".to_string(),
        format!("{} (verdicts for {})", c.release_data_as_of, r.today),
    ]);
    t.add_row(vec!["API data as of".to_string(), c.api_data_as_of.clone()]);
    for n in &c.notes {
        t.add_row(vec!["note".to_string(), n.clone()]);
    }
    print_table(out, t);
}

fn path_section(out: &mut String, r: &CheckReport, wide: bool, colour: bool) {
    heading(out, "Path", colour);
    let width = usize::from(output_width());
    match &r.plan {
        None => {
            let _ = writeln!(out, "(no path: the upgrade-path finding below says why)");
        }
        Some(plan) => {
            let _ = writeln!(
                out,
                "{} -> {}, one minor at a time ({} hop(s))",
                plan.from,
                plan.to,
                plan.hops.len()
            );
            for note in &plan.notes {
                let _ = writeln!(out, "{}", wrap(note, width, "  note: ", "        "));
            }
            for (i, hop) in plan.hops.iter().enumerate() {
                let title = format!(
                    "hop {}: {} -> {} (v{})",
                    i + 1,
                    hop.from,
                    hop.to,
                    hop.to_version
                );
                if colour {
                    let _ = writeln!(out, "\n{}", title.bold());
                } else {
                    let _ = writeln!(out, "\n{title}");
                }
                if !hop.kubelets_first.is_empty() {
                    let text = format!(
                        "first upgrade these kubelets, they would fall outside the skew window: {}",
                        crate::findings::counted("kubelets", "node", &hop.kubelets_first)
                    );
                    let _ = writeln!(out, "{}", wrap(&text, width, "  ", "    "));
                }
                for (j, step) in hop.steps.iter().enumerate() {
                    let first = format!("  {:>2}. ", j + 1);
                    let _ = writeln!(out, "{}", wrap(step, width, &first, "      "));
                }
            }
        }
    }
    let path_findings: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.section == Section::Path)
        .collect();
    if !path_findings.is_empty() {
        let _ = writeln!(out);
        findings_table(out, &path_findings, wide, colour);
    }
}

/// Removed APIs, flags and feature gates, runtimes and add-ons: the findings, then (wide) every usage row.
fn apis_section(out: &mut String, r: &CheckReport, wide: bool, colour: bool) {
    heading(out, "APIs, flags, runtimes and add-ons", colour);
    let fs: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.section == Section::Apis)
        .collect();
    if fs.is_empty() {
        let _ = writeln!(
            out,
            "(no removed API version, flag or gate, runtime or proxy mode in the way)"
        );
    } else {
        findings_table(out, &fs, wide, colour);
    }
    if wide && !r.apis.is_empty() {
        let mut t = table(&["API", "KIND", "OBJECT", "SOURCE", "REMOVED", "HOP"]);
        for a in &r.apis {
            let api = a.api_version();
            let obj = match &a.namespace {
                Some(ns) => format!("{ns}/{}", a.name),
                None => a.name.clone(),
            };
            t.add_row(vec![
                api,
                a.kind.clone(),
                obj,
                a.source.label(),
                a.removed_in.map(|m| m.to_string()).unwrap_or_default(),
                a.hop.clone().unwrap_or_default(),
            ]);
        }
        print_table(out, t);
    }
}

fn summary_line(out: &mut String, r: &CheckReport, colour: bool) {
    let s = &r.summary;
    let line = format!("\nSummary: {}", s.line);
    let _ = writeln!(
        out,
        "{}",
        if !colour {
            line
        } else if s.violation > 0 {
            line.red().bold().to_string()
        } else if s.warn > 0 {
            line.yellow().bold().to_string()
        } else {
            line.green().bold().to_string()
        }
    );
}

pub fn human(r: &CheckReport, wide: bool, colour: bool) -> String {
    let mut out = String::new();
    cluster_section(&mut out, r, colour);
    if r.scope == crate::report::Scope::Manifests {
        apis_section(&mut out, r, wide, colour);
        summary_line(&mut out, r, colour);
        return out;
    }
    heading(&mut out, "Components", colour);
    let mut t = table(&["COMPONENT", "VERSION", "INSTANCES", "NODES"]);
    for row in &r.components {
        t.add_row(vec![
            row.component.clone(),
            row.version.clone(),
            row.instances.to_string(),
            join_more(&row.nodes, row.instances),
        ]);
    }
    print_table(&mut out, t);

    heading(&mut out, "Nodes", colour);
    if wide {
        let mut t = table(&[
            "NAME",
            "ROLES",
            "KUBELET",
            "KUBE-PROXY",
            "RUNTIME",
            "OS",
            "KERNEL",
            "ARCH",
            "STATUS",
        ]);
        for n in &r.nodes {
            let mut status = if n.ready { "Ready" } else { "NotReady" }.to_string();
            if n.unschedulable {
                status.push_str(",SchedulingDisabled");
            }
            if n.progress.is_some() {
                status.push_str(",DrainInProgress");
            }
            t.add_row(vec![
                n.name.clone(),
                if n.roles.is_empty() {
                    "<none>".into()
                } else {
                    n.roles.join(",")
                },
                n.kubelet_version.clone(),
                n.kube_proxy_version.clone().unwrap_or_else(|| "-".into()),
                n.container_runtime.clone(),
                n.os_image.clone(),
                n.kernel_version.clone(),
                n.architecture.clone(),
                status,
            ]);
        }
        print_table(&mut out, t);
    } else {
        let mut t = table(&[
            "KUBELET",
            "NODES",
            "CONTROL-PLANE",
            "NOT-READY",
            "CORDONED",
            "NAMES",
        ]);
        for g in &r.node_groups {
            t.add_row(vec![
                g.kubelet_version.clone(),
                g.count.to_string(),
                g.control_plane.to_string(),
                g.not_ready.to_string(),
                g.cordoned.to_string(),
                join_more(&g.nodes, g.count),
            ]);
        }
        print_table(&mut out, t);
    }

    let node_findings: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.section == Section::Nodes)
        .collect();
    if !node_findings.is_empty() {
        findings_table(&mut out, &node_findings, wide, colour);
    }

    for (section, title) in [(Section::Skew, "Skew"), (Section::Support, "Support")] {
        heading(&mut out, title, colour);
        let fs: Vec<&Finding> = r.findings.iter().filter(|f| f.section == section).collect();
        findings_table(&mut out, &fs, wide, colour);
    }

    path_section(&mut out, r, wide, colour);
    apis_section(&mut out, r, wide, colour);

    heading(&mut out, "Drain preview", colour);
    let fs: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.section == Section::Drain)
        .collect();
    findings_table(&mut out, &fs, wide, colour);

    summary_line(&mut out, r, colour);
    out
}

/// A table cell's first names of `total` (empty for cluster-wide rows, which name no node).
fn join_more(names: &[String], total: usize) -> String {
    if names.is_empty() {
        return String::new();
    }
    crate::findings::listed_of(names, total)
}

/// A drain's text: its message, the pods it left alone and why, the 429s it rode out.
pub fn drain_summary(s: &crate::drain::model::DrainSummary) -> String {
    let mut out = s.message.clone();
    if matches!(
        s.outcome,
        crate::drain::model::Outcome::Drained | crate::drain::model::Outcome::DryRun
    ) && !s.skipped.is_empty()
    {
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

/// `simulate`'s prediction: one line of verdict, a row per step (with `wide`, every pod that
/// moves), where and why it stops, the largest safe batch, what is not modelled.
pub fn simulation(s: &crate::rollout::simulate::Simulation, wide: bool, colour: bool) -> String {
    use crate::findings::{bounded, count, duration_text, NAMES_SHOWN};
    let width = usize::from(output_width());
    let mut out = String::new();
    let strategy = match s.strategy {
        crate::rollout::plan::Strategy::OneAtATime => "one at a time",
        crate::rollout::plan::Strategy::Replace => "replace",
        crate::rollout::plan::Strategy::AllAtOnce => "all at once",
    };
    let verdict = match (s.blocked_at, s.pending_at_end.len()) {
        (None, 0) => format!("completes in {}", count(s.steps.len(), "step")),
        (None, n) => format!(
            "completes in {}, leaving {} with no node",
            count(s.steps.len(), "step"),
            count(n, "pod")
        ),
        (Some(n), _) => format!("stops at step {n}"),
    };
    let verdict = if colour {
        match (s.blocked_at, s.pending_at_end.is_empty()) {
            (None, true) => verdict.green().to_string(),
            (None, false) => verdict.yellow().bold().to_string(),
            (Some(_), _) => verdict.red().bold().to_string(),
        }
    } else {
        verdict
    };
    let _ = writeln!(
        out,
        "Simulated rollout to {} ({strategy}, {} per step): {}; drains about {} (replacements Ready in {}, {}), node upgrades not included",
        s.target,
        count(s.batch_size, "node"),
        verdict,
        duration_text(std::time::Duration::from_secs(s.estimate.seconds)),
        duration_text(std::time::Duration::from_secs(s.estimate.pod_ready_seconds)),
        s.estimate.source,
    );
    if s.downtime {
        let _ = writeln!(
            out,
            "downtime: every selected worker at once; workloads with no room elsewhere are down"
        );
    }
    let mut t = table(&[
        "STEP",
        "NODES",
        "PODS MOVING",
        "NO NODE",
        "BUDGET TURNS",
        "EST.",
        "RESULT",
    ]);
    for st in &s.steps {
        let pending = st.moves.iter().filter(|m| m.to.is_none()).count();
        let turns: Vec<String> = st
            .turns
            .iter()
            .map(|t| format!("{} ({}x{})", t.pdb, t.rounds, t.allows))
            .collect();
        let result = match &st.blocked {
            None => "ok".to_string(),
            Some(b) => format!("stops ({}, {})", b.kind, b.stops),
        };
        t.add_row(vec![
            st.step.to_string(),
            bounded(&st.nodes, NAMES_SHOWN),
            st.moves.len().to_string(),
            pending.to_string(),
            bounded(&turns, 2),
            duration_text(std::time::Duration::from_secs(st.seconds)),
            result,
        ]);
    }
    print_table(&mut out, t);
    if wide {
        for st in &s.steps {
            for m in &st.moves {
                let to = m.to.as_deref().unwrap_or("(no node)");
                let _ = writeln!(out, "  step {}: {} {} -> {to}", st.step, m.pod, m.from);
            }
        }
    }
    if let Some(b) = s.steps.iter().find_map(|st| st.blocked.as_ref()) {
        let text = format!(
            "stops at {} ({}): {}: {}",
            b.node, b.stops, b.subject, b.reason
        );
        let _ = writeln!(out, "{}", wrap(&text, width, "", "  "));
    }
    for p in &s.pending_at_end {
        let text = format!(
            "left Pending after the last step (drain-next validates only before a new node): {p}"
        );
        let _ = writeln!(out, "{}", wrap(&text, width, "", "  "));
    }
    let safe = match s.largest_safe_max_unavailable {
        Some(n) => format!("largest --max-unavailable that completes: {n}"),
        None => {
            "largest --max-unavailable that completes: none (not even one node at a time)".into()
        }
    };
    let _ = writeln!(out, "{safe}");
    if s.at_target > 0 {
        let _ = writeln!(out, "already at the target: {}", count(s.at_target, "node"));
    }
    for k in &s.skipped {
        let _ = writeln!(out, "skipped {}: {}", k.node, k.reason);
    }
    let text = format!("not modelled: {}", s.not_modelled.join("; "));
    let _ = writeln!(out, "{}", wrap(&text, width, "", "  "));
    for n in &s.notes {
        let _ = writeln!(out, "{}", wrap(&format!("note: {n}"), width, "", "  "));
    }
    out
}

/// The fleet summary: one row per context, worst first; `details` appends every report.
pub fn fleet(
    f: &crate::fleet::FleetReport,
    calendar: &crate::policy::releases::Calendar,
    details: bool,
    wide: bool,
    colour: bool,
) -> String {
    let mut out = String::new();
    heading(&mut out, "Fleet", colour);
    let mut t = table(&[
        "CONTEXT",
        "VERSION",
        "SETUP",
        "SUPPORT",
        "SKEW",
        "NEXT HOP",
        "REMOVED APIS",
        "DRAIN BLOCKERS",
        "EXIT",
    ]);
    for c in &f.contexts {
        let r = crate::fleet::row(c, calendar);
        t.add_row(vec![
            r.context,
            r.version,
            r.setup,
            r.support,
            r.skew,
            r.next_hop,
            r.removed_apis,
            r.drain_blockers,
            r.exit_code.to_string(),
        ]);
    }
    print_table(&mut out, t);
    let s = &f.summary;
    let _ = writeln!(
        out,
        "\nFleet: {} context(s): {} ok, {} with warnings, {} with violations, {} not checked (errors); exit {}",
        s.contexts, s.ok, s.warnings, s.violations, s.errors, s.exit_code
    );
    if details {
        for c in &f.contexts {
            let title = format!("context {} ({})", c.context, c.server);
            let _ = writeln!(out, "\n{}", "=".repeat(title.len()));
            let _ = writeln!(out, "{title}");
            let _ = writeln!(out, "{}", "=".repeat(title.len()));
            match (&c.report, &c.error) {
                (Some(r), _) => out.push_str(&human(r, wide, colour)),
                (None, Some(e)) => {
                    let _ = writeln!(out, "error: {e}");
                }
                (None, None) => {}
            }
        }
    }
    out
}

/// The rollout view of `status`.
pub fn rollout(r: &crate::rollout::status::Rollout, colour: bool) -> String {
    use crate::rollout::status::State;
    let mut out = String::new();
    heading(&mut out, &format!("Rollout to {}", r.target), colour);
    let _ = writeln!(
        out,
        "{} node(s): {} at target, {} in progress, {} stopped, {} waiting, {} blocked, {} drained for removal{}",
        r.nodes,
        r.counts.at_target,
        r.counts.in_progress,
        r.counts.stopped,
        r.counts.waiting,
        r.counts.blocked,
        r.counts.replaced,
        if r.done { " (done)" } else { "" }
    );
    let _ = writeln!(out, "Rollout lock: {}", r.lock.detail);
    for p in &r.pools {
        let _ = writeln!(
            out,
            "\n{} ({} at target, {} in progress, {} stopped, {} waiting, {} blocked)",
            p.name,
            p.counts.at_target,
            p.counts.in_progress,
            p.counts.stopped,
            p.counts.waiting,
            p.counts.blocked
        );
        let mut t = table(&["NODE", "STATE", "KUBELET", "STEP", "SINCE", "BY", "DETAIL"]);
        for n in &p.nodes {
            let state = match n.state {
                State::AtTarget => "at target",
                State::InProgress => "in progress",
                State::Stopped => "stopped",
                State::Waiting => "waiting",
                State::Blocked => "blocked",
                State::Replaced => "replaced",
            };
            t.add_row(vec![
                n.name.clone(),
                state.to_string(),
                n.kubelet.clone(),
                n.step.clone().unwrap_or_default(),
                n.since.clone().unwrap_or_default(),
                n.by.clone().unwrap_or_default(),
                n.detail.clone(),
            ]);
        }
        print_table(&mut out, t);
    }
    let _ = writeln!(
        out,
        "\nNext: {}{}",
        r.next
            .node
            .as_deref()
            .map(|n| format!("{n}: "))
            .unwrap_or_default(),
        r.next.reason
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report that cannot be serialized is our bug (70), not the user's input (64).
    #[test]
    fn a_render_error_is_an_internal_error_not_a_usage_error() {
        let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let e = machine(&bad, Machine::Json).unwrap_err();
        let e = crate::exit::CliError::from(e);
        assert_eq!(e.code, crate::exit::Code::Internal);
        assert!(
            e.message.starts_with("internal error: cannot render JSON"),
            "{}",
            e.message
        );
    }

    /// Colour on a terminal only, never with NO_COLOR (non-empty) or TERM=dumb.
    #[test]
    fn colour_rules() {
        use std::ffi::OsStr;
        let o = |s: &'static str| Some(OsStr::new(s));
        assert!(colour_allowed(true, None, o("xterm-256color")));
        assert!(colour_allowed(true, o(""), None));
        assert!(!colour_allowed(false, None, o("xterm")));
        assert!(!colour_allowed(true, o("1"), o("xterm")));
        assert!(!colour_allowed(true, None, o("dumb")));
    }

    /// The text as a terminal shows it: SGR escape sequences removed.
    fn visible(line: &str) -> String {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn a_report_that_cannot_be_serialized_is_a_render_error() {
        let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let e = machine(&bad, Machine::Json).unwrap_err();
        assert_eq!(e.format, "JSON");
        assert!(e.to_string().starts_with("cannot render JSON: "), "{e}");
    }

    #[test]
    fn wrap_keeps_words_whole_with_a_hanging_indent() {
        let text = "kubectl upgrade drain-next --to v1.24.17; then: kubectl upgrade uncordon NODE";
        let w = wrap(text, 30, "   1. ", "      ");
        for line in w.lines() {
            assert!(
                line.chars().count() <= 30 || !line.trim().contains(' '),
                "{line:?}"
            );
        }
        assert!(w.starts_with("   1. kubectl upgrade"));
        assert!(w.lines().skip(1).all(|l| l.starts_with("      ")));
        let words: Vec<&str> = w.split_whitespace().collect();
        assert_eq!(words[1..], text.split_whitespace().collect::<Vec<_>>()[..]);
        // A word longer than the line stays whole on a line of its own.
        let long = wrap(
            "see https://kubernetes.io/releases/version-skew-policy/ now",
            20,
            "",
            "",
        );
        assert_eq!(
            long.lines().collect::<Vec<_>>(),
            [
                "see",
                "https://kubernetes.io/releases/version-skew-policy/",
                "now"
            ]
        );
    }

    #[test]
    fn columns_fit_the_line_and_never_cut_a_word() {
        // VERDICT, SUBJECT, FINDING: the small columns get all they need.
        let w = column_widths(&[9, 4, 12], &[9, 16, 300], 80);
        assert_eq!(w[0], 9);
        assert_eq!(w[1], 16);
        assert_eq!(w.iter().sum::<usize>() + 3 * 3 - 1, 80);
        // Words wider than the line: the table is wider, no word is cut.
        let w = column_widths(&[30, 30, 30], &[30, 30, 30], 40);
        assert_eq!(w, [30, 30, 30]);
    }

    #[test]
    fn coloured_cells_are_measured_on_their_visible_text() {
        let findings: Vec<Finding> = [Severity::Violation, Severity::Warn, Severity::Ok]
            .into_iter()
            .map(|sev| {
                Finding::new(
                    Section::Skew,
                    sev,
                    "kubelet v1.29.4 (3 nodes: a, b, c)",
                    "kubelet 1.29 is 3 minors older than kube-apiserver 1.32; the policy allows 3 since 1.28 but the next hop would leave it 4 behind",
                    "kubernetes.io/releases/version-skew-policy",
                )
            })
            .collect();
        let refs: Vec<&Finding> = findings.iter().collect();
        for width in [50usize, 72, 100] {
            let mut t = table_coloured(&["VERDICT", "SUBJECT", "FINDING"], true);
            for f in &refs {
                t.add_row(vec![
                    severity_cell(f.severity, true),
                    Cell::new(&f.subject),
                    Cell::new(&f.message),
                ]);
            }
            let mut out = String::new();
            print_table_at(&mut out, t, width);
            assert!(out.contains('\u{1b}'), "styling is applied");
            for line in out.lines() {
                let shown = visible(line);
                assert!(
                    shown.trim_end().chars().count() <= width,
                    "{width}: {shown:?}"
                );
                // Whatever a line turns on, it turns off before it ends.
                if let Some(last) = line.rfind('\u{1b}') {
                    let resets = ["\u{1b}[0m", "\u{1b}[39m", "\u{1b}[22m", "\u{1b}[49m"];
                    assert!(
                        resets.iter().any(|r| line[last..].starts_with(r)),
                        "{line:?}"
                    );
                }
            }
            assert!(visible(&out).contains("VIOLATION") && visible(&out).contains("WARN"));
        }
    }
}
