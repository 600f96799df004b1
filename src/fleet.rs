//! The fleet report: one `check` per kubeconfig context, each context's report or its
//! error, one summary row per context, worst first. Pure: results in, document and rows out.

use crate::findings::{Section, Severity};
use crate::policy::releases::Calendar;
use crate::report::CheckReport;
use serde::Serialize;

/// Version of the `-o json|yaml` fleet schema.
pub const SCHEMA: &str = "kubectl-upgrade.io/fleet/v1";

/// Exit code of a context that could not be checked (connection, credentials, RBAC, timeout):
/// `exit.rs`'s code for an unreachable cluster.
pub fn error_exit() -> i32 {
    crate::exit::Code::Api.as_i32()
}

/// One context's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextResult {
    pub context: String,
    /// The cluster's server URL from the kubeconfig.
    pub server: String,
    pub exit_code: i32,
    pub seconds: f64,
    /// The `kubectl-upgrade.io/check/v1` report; absent when `error` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<CheckReport>,
    /// The one-line error that stopped this context's check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    pub schema: &'static str,
    pub today: String,
    /// Worst first (see [`order`]).
    pub contexts: Vec<ContextResult>,
    pub summary: FleetSummary,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSummary {
    pub contexts: usize,
    pub ok: usize,
    pub warnings: usize,
    pub violations: usize,
    pub errors: usize,
    /// The worst exit code of all contexts: the process exit code.
    pub exit_code: i32,
}

/// Worse first: an error (3) above violations (2) above warnings (1) above ok (0).
fn badness(code: i32) -> i32 {
    match code {
        0..=2 => code,
        _ => error_exit(),
    }
}

/// Sorts worst first, then by context name.
pub fn order(results: &mut [ContextResult]) {
    results.sort_by(|a, b| {
        badness(b.exit_code)
            .cmp(&badness(a.exit_code))
            .then_with(|| a.context.cmp(&b.context))
    });
}

pub fn build(mut results: Vec<ContextResult>, today: &str) -> FleetReport {
    order(&mut results);
    let count = |c: i32| results.iter().filter(|r| badness(r.exit_code) == c).count();
    let summary = FleetSummary {
        contexts: results.len(),
        ok: count(0),
        warnings: count(1),
        violations: count(2),
        errors: count(error_exit()),
        exit_code: results
            .iter()
            .map(|r| badness(r.exit_code))
            .max()
            .unwrap_or(0),
    };
    FleetReport {
        schema: SCHEMA,
        today: today.to_string(),
        contexts: results,
        summary,
    }
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub context: String,
    pub version: String,
    pub setup: String,
    /// `52 days left`, `EOL since 2025-11-11`, `?`.
    pub support: String,
    /// The worst skew verdict.
    pub skew: String,
    /// `1.31 -> 1.32`, `at target`, `-`.
    pub next_hop: String,
    /// Removed-API violations (usages that bite at a hop of the plan).
    pub removed_apis: String,
    /// Drain-preview violations.
    pub drain_blockers: String,
    pub exit_code: i32,
}

pub fn row(r: &ContextResult, calendar: &Calendar) -> Row {
    let Some(rep) = &r.report else {
        let err = r.error.clone().unwrap_or_default();
        return Row {
            context: r.context.clone(),
            version: "-".into(),
            setup: "-".into(),
            support: format!("error: {err}"),
            skew: "-".into(),
            next_hop: "-".into(),
            removed_apis: "-".into(),
            drain_blockers: "-".into(),
            exit_code: r.exit_code,
        };
    };
    let today: Option<jiff::civil::Date> = rep.today.parse().ok();
    let cp = rep
        .cluster
        .control_plane_version
        .as_deref()
        .and_then(|v| crate::facts::version::parse(v).ok());
    let support = match (cp.as_ref().and_then(|v| calendar.get(v.minor())), today) {
        (Some(rel), Some(t)) if t >= rel.end_of_life => format!("EOL since {}", rel.end_of_life),
        (Some(rel), Some(t)) => format!("{} days left", (rel.end_of_life - t).get_days()),
        _ => match &cp {
            Some(v) if calendar.oldest().is_some_and(|o| v.minor() < o.minor) => "EOL".into(),
            _ => "?".into(),
        },
    };
    let worst = |section: Section| {
        rep.findings
            .iter()
            .filter(|f| f.section == section)
            .map(|f| f.severity)
            .max()
    };
    let violations = |section: Section| {
        rep.findings
            .iter()
            .filter(|f| f.section == section && f.severity == Severity::Violation)
            .count()
    };
    let next_hop = match &rep.plan {
        Some(p) => match p.hops.first() {
            Some(h) => format!("{} -> {}", h.from, h.to),
            None => "at target".into(),
        },
        None => "-".into(),
    };
    let biting = rep.apis.iter().filter(|a| a.hop.is_some()).count();
    Row {
        context: r.context.clone(),
        version: rep
            .cluster
            .control_plane_version
            .clone()
            .or_else(|| rep.cluster.server_version.clone())
            .unwrap_or_else(|| "?".into()),
        setup: rep.cluster.setup.kind.label().to_string(),
        support,
        skew: worst(Section::Skew)
            .map(|s| s.label().to_string())
            .unwrap_or_else(|| "-".into()),
        next_hop,
        removed_apis: match (biting, violations(Section::Apis)) {
            (0, 0) => "0".into(),
            (n, _) => format!("{n} in use"),
        },
        drain_blockers: violations(Section::Drain).to_string(),
        exit_code: r.exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(context: &str, code: i32) -> ContextResult {
        ContextResult {
            context: context.into(),
            server: "https://x".into(),
            exit_code: code,
            seconds: 0.1,
            report: None,
            error: (code == 3).then(|| "cannot reach".into()),
        }
    }

    #[test]
    fn worst_first_and_the_worst_exit_code() {
        let f = build(
            vec![
                res("b-ok", 0),
                res("a-warn", 1),
                res("z-down", 3),
                res("c-bad", 2),
                res("a-ok", 0),
            ],
            "2026-12-03",
        );
        let names: Vec<&str> = f.contexts.iter().map(|c| c.context.as_str()).collect();
        assert_eq!(names, ["z-down", "c-bad", "a-warn", "a-ok", "b-ok"]);
        assert_eq!(f.summary.exit_code, 3);
        assert_eq!(
            (
                f.summary.ok,
                f.summary.warnings,
                f.summary.violations,
                f.summary.errors
            ),
            (2, 1, 1, 1)
        );
        let f = build(vec![res("a", 1), res("b", 0)], "2026-12-03");
        assert_eq!(f.summary.exit_code, 1);
        assert_eq!(build(vec![], "2026-12-03").summary.exit_code, 0);
    }

    #[test]
    fn an_error_row_says_the_error() {
        let cal = crate::policy::releases::builtin();
        let r = row(&res("down", 3), &cal);
        assert_eq!(r.support, "error: cannot reach");
        assert_eq!(r.exit_code, 3);
    }
}
