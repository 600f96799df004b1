//! Findings: the verdicts every policy module returns and the report shows, and the one
//! bounded name-list formatter that keeps a 5,000-node cluster's report readable. Pure.

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Ok < Info < Warn < Violation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warn,
    Violation,
}

impl Severity {
    /// The upper-case label the table shows.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Violation => "VIOLATION",
        }
    }
}

/// Which part of the report a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Cluster,
    Components,
    Nodes,
    Skew,
    Support,
    Path,
    Apis,
    Drain,
}

impl Section {
    /// The section's name as the JSON report spells it (the serde names above; a test
    /// holds the two together), for SARIF rule ids and JUnit suite names.
    pub fn name(self) -> &'static str {
        match self {
            Section::Cluster => "cluster",
            Section::Components => "components",
            Section::Nodes => "nodes",
            Section::Skew => "skew",
            Section::Support => "support",
            Section::Path => "path",
            Section::Apis => "apis",
            Section::Drain => "drain",
        }
    }
}

/// One verdict, citing the rule it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub section: Section,
    pub severity: Severity,
    /// What the finding is about: a component, a node, a minor, a PDB (`ns/name`).
    pub subject: String,
    /// One sentence for a human.
    pub message: String,
    /// The rule applied, e.g. `kubelet: never newer than kube-apiserver; at most 3 minors older (apiserver >= 1.28)`.
    pub rule: String,
    /// Files given with `--file` where what it is about is written (SARIF locations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

impl Finding {
    pub fn new(
        section: Section,
        severity: Severity,
        subject: impl Into<String>,
        message: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Finding {
            section,
            severity,
            subject: subject.into(),
            message: message.into(),
            rule: rule.into(),
            files: vec![],
        }
    }

    /// The same finding, located in these files.
    pub fn in_files(mut self, files: Vec<String>) -> Self {
        self.files = files;
        self
    }
}

/// At most this many names are listed in a group; the rest are counted.
pub const NAMES_SHOWN: usize = 5;

/// `a, b, c (+N more)`: at most `shown` names, then how many were left out. The one style of
/// every name list the tool prints (findings, tables, progress lines).
pub fn bounded<S: AsRef<str>>(names: &[S], shown: usize) -> String {
    listed_of(&names[..names.len().min(shown)], names.len())
}

/// `a, b (+N more)` for names already cut to those shown, out of `total` (a table row that
/// keeps the first few names and a count).
pub fn listed_of<S: AsRef<str>>(shown: &[S], total: usize) -> String {
    let mut out = shown
        .iter()
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(", ");
    if total > shown.len() {
        if !shown.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("(+{} more)", total - shown.len()));
    }
    out
}

/// A duration as people read it and as the flags take it: `500ms`, `45s`, `2m05s`, `1h02m`.
pub fn duration_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s == 0 || (s < 60 && d.subsec_millis() != 0) {
        return format!("{}ms", d.as_millis());
    }
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `1 node` / `3 nodes` (`noun` is the singular).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `what (N nouns: a, b, c, d, e (+2 more))`, the subject of a grouped finding.
pub fn counted<S: AsRef<str>>(what: &str, noun: &str, names: &[S]) -> String {
    format!(
        "{what} ({}: {})",
        count(names.len(), noun),
        bounded(names, NAMES_SHOWN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_are_bounded() {
        assert_eq!(bounded(&["a"], 3), "a");
        assert_eq!(bounded(&["a", "b", "c", "d"], 3), "a, b, c (+1 more)");
        assert_eq!(bounded::<&str>(&[], 3), "");
        assert_eq!(counted("x", "node", &["a"]), "x (1 node: a)");
        assert_eq!(
            counted("x", "node", &["a", "b", "c", "d", "e", "f", "g"]),
            "x (7 nodes: a, b, c, d, e (+2 more))"
        );
        assert_eq!(count(0, "pod"), "0 pods");
        assert_eq!(listed_of(&["a", "b"], 5), "a, b (+3 more)");
        assert_eq!(listed_of(&["a", "b"], 2), "a, b");
        assert_eq!(listed_of::<&str>(&[], 2), "(+2 more)");
    }

    #[test]
    fn section_names_are_the_json_names() {
        for s in [
            Section::Cluster,
            Section::Components,
            Section::Nodes,
            Section::Skew,
            Section::Support,
            Section::Path,
            Section::Apis,
            Section::Drain,
        ] {
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.name()))
            );
        }
    }
}
