//! Renderers: the same `CheckReport` as a human table (comfy-table, colour only on a TTY and
//! never with NO_COLOR), JSON or YAML. Data goes to stdout; nothing here does I/O itself.

use crate::cli::OutputFormat;
use crate::exit::CliError;
use crate::report::{CheckReport, Finding, Section, Severity};
use comfy_table::{presets, Cell, ContentArrangement, Table, TableComponent};
use owo_colors::OwoColorize;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset (https://no-color.org).
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Serialize any report for `-o json|yaml`.
pub fn machine<T: serde::Serialize>(value: &T, format: OutputFormat) -> Result<String, CliError> {
    match format {
        OutputFormat::Yaml => serde_yaml::to_string(value)
            .map_err(|e| CliError::usage(format!("cannot render YAML: {e}"))),
        _ => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| CliError::usage(format!("cannot render JSON: {e}"))),
    }
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

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    // Borderless like `kubectl get`, one rule under the header.
    t.load_preset(presets::NOTHING)
        .set_style(TableComponent::HeaderLines, '-')
        .set_style(TableComponent::MiddleHeaderIntersections, ' ')
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !std::io::stdout().is_terminal() {
        t.set_width(140);
    }
    t.set_header(header.iter().map(Cell::new));
    t
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
        table(&["VERDICT", "SUBJECT", "FINDING", "RULE"])
    } else {
        table(&["VERDICT", "SUBJECT", "FINDING"])
    };
    for f in findings {
        let mut row = vec![
            severity_label(f.severity, colour),
            f.subject.clone(),
            f.message.clone(),
        ];
        if wide {
            row.push(f.rule.clone());
        }
        t.add_row(row);
    }
    let _ = writeln!(out, "{t}");
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
        let _ = writeln!(out, "{t}");
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
    let _ = writeln!(out, "{t}");
}

fn path_section(out: &mut String, r: &CheckReport, wide: bool, colour: bool) {
    heading(out, "Path", colour);
    match &r.plan {
        None => {
            let _ = writeln!(out, "(no path: the control-plane version is unknown)");
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
                let _ = writeln!(out, "  note: {note}");
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
                    let names: Vec<&str> = hop.kubelets_first.iter().map(String::as_str).collect();
                    let _ = writeln!(
                        out,
                        "  first upgrade these kubelets, they would fall outside the skew window: {}",
                        crate::report::name_list("kubelets", &names)
                    );
                }
                for (j, step) in hop.steps.iter().enumerate() {
                    let _ = writeln!(out, "  {:>2}. {step}", j + 1);
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

/// Removed APIs, runtimes and add-ons: the findings, then (wide) every usage row.
fn apis_section(out: &mut String, r: &CheckReport, wide: bool, colour: bool) {
    heading(out, "APIs, runtimes and add-ons", colour);
    let fs: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.section == Section::Apis)
        .collect();
    if fs.is_empty() {
        let _ = writeln!(
            out,
            "(no removed API version, runtime or kube-proxy mode in the way)"
        );
    } else {
        findings_table(out, &fs, wide, colour);
    }
    if wide && !r.apis.is_empty() {
        let mut t = table(&["API", "KIND", "OBJECT", "SOURCE", "REMOVED", "HOP"]);
        for a in &r.apis {
            let api = if a.group.is_empty() {
                a.version.clone()
            } else {
                format!("{}/{}", a.group, a.version)
            };
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
        let _ = writeln!(out, "{t}");
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
    let _ = writeln!(out, "{t}");

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
        let _ = writeln!(out, "{t}");
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
        let _ = writeln!(out, "{t}");
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

fn join_more(names: &[String], total: usize) -> String {
    let mut s = names.join(", ");
    if total > names.len() && !names.is_empty() {
        let _ = write!(s, ", ... ({} more)", total - names.len());
    }
    s
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
    let _ = writeln!(out, "{t}");
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
pub fn rollout(r: &crate::policy::rollout::Rollout, colour: bool) -> String {
    use crate::policy::rollout::State;
    let mut out = String::new();
    heading(&mut out, &format!("Rollout to {}", r.target), colour);
    let _ = writeln!(
        out,
        "{} node(s): {} at target, {} in progress, {} waiting, {} blocked, {} drained for removal{}",
        r.nodes,
        r.at_target,
        r.in_progress,
        r.waiting,
        r.blocked,
        r.replaced,
        if r.done { " (done)" } else { "" }
    );
    for p in &r.pools {
        let _ = writeln!(
            out,
            "\n{} ({} at target, {} in progress, {} waiting, {} blocked)",
            p.name, p.at_target, p.in_progress, p.waiting, p.blocked
        );
        let mut t = table(&["NODE", "STATE", "KUBELET", "STEP", "SINCE", "BY", "DETAIL"]);
        for n in &p.nodes {
            let state = match n.state {
                State::AtTarget => "at target",
                State::InProgress => "in progress",
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
        let _ = writeln!(out, "{t}");
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
