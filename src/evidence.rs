//! CI evidence (pure): a check report as SARIF 2.1.0, for code scanning (one rule per kind of
//! finding, with the rule's text as help and its source as `helpUri`; one result per finding;
//! each removed-API use found in a `--file` manifest as a result located in that file) and as
//! JUnit XML, for test report views (one test suite per report section, one test case per
//! finding, a failure per violation; warnings pass, with their text as output).

use crate::findings::{Finding, Section, Severity};
use crate::report::CheckReport;
use serde_json::{json, Value};

/// Version of the SARIF format written.
pub const SARIF_VERSION: &str = "2.1.0";
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/kubectl-upgrade/kubectl-upgrade";

/// `skew/kubelet-never-newer-than-kube-apiserver`: the section and the rule text's first
/// words, so that one policy is one rule.
fn slug(section: Section, rule: &str) -> String {
    // `extensions/v1beta1 Ingress: deprecated ...` names itself before the colon;
    // `kubelet: never newer ...` needs what follows it.
    let before_colon = rule.split(':').next().unwrap_or(rule);
    let head = if before_colon.split_whitespace().count() >= 2 && before_colon.len() < rule.len() {
        before_colon
    } else {
        rule.split(['(', ';']).next().unwrap_or(rule)
    }
    .to_ascii_lowercase();
    let words: Vec<String> = head
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| w.trim_matches('.').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let body = if words.is_empty() {
        "finding".to_string()
    } else {
        words.join("-")
    };
    format!("{}/{body}", section.name())
}

/// The first web address a rule cites (`kubernetes.io/docs/...`, with or without a scheme).
fn help_uri(rule: &str) -> Option<String> {
    rule.split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '(' | ')' | ',' | ';' | '.' | '"')))
        .find_map(|w| {
            if w.starts_with("https://") || w.starts_with("http://") {
                Some(w.to_string())
            } else if w.contains("kubernetes.io/") || w.starts_with("github.com/") {
                Some(format!("https://{w}"))
            } else {
                None
            }
        })
}

/// The rules of a report: each distinct (section, rule text) once, with a unique id.
struct Rules {
    ids: Vec<(Section, String, String)>,
}

impl Rules {
    fn of(findings: &[Finding]) -> Rules {
        let mut ids: Vec<(Section, String, String)> = Vec::new();
        for f in findings {
            if ids.iter().any(|(s, r, _)| *s == f.section && *r == f.rule) {
                continue;
            }
            let base = slug(f.section, &f.rule);
            let mut id = base.clone();
            let mut n = 2;
            while ids.iter().any(|(_, _, i)| *i == id) {
                id = format!("{base}-{n}");
                n += 1;
            }
            ids.push((f.section, f.rule.clone(), id));
        }
        Rules { ids }
    }

    fn index(&self, f: &Finding) -> usize {
        self.ids
            .iter()
            .position(|(s, r, _)| *s == f.section && *r == f.rule)
            .unwrap_or(0)
    }
}

fn level(s: Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Violation => ("error", "fail"),
        Severity::Warn => ("warning", "fail"),
        Severity::Info => ("note", "informational"),
        Severity::Ok => ("none", "pass"),
    }
}

/// The rule id of a removed API used in a file (one rule; its data is in each result).
const FILE_API_RULE: &str = "apis/removed-api-version-in-file";

/// A file path as a SARIF artifact URI: relative paths stay relative (to the directory the
/// check ran in, the repository root in CI), forward slashes.
fn artifact_uri(path: &str) -> String {
    let p = path.replace('\\', "/");
    if p.starts_with('/') {
        format!("file://{p}")
    } else {
        p.trim_start_matches("./").to_string()
    }
}

/// A finding's SARIF locations: the files given with `--file` where it is written, else
/// what it is about (a logical location).
fn locations(f: &crate::findings::Finding) -> Value {
    if f.files.is_empty() {
        return json!([{"logicalLocations": [{"name": f.subject, "kind": "resource"}]}]);
    }
    f.files
        .iter()
        .map(|p| json!({"physicalLocation": {"artifactLocation": {"uri": artifact_uri(p)}}}))
        .collect()
}

/// The report as one SARIF 2.1.0 log.
pub fn sarif(report: &CheckReport) -> Value {
    let rules = Rules::of(&report.findings);
    let mut rule_objects: Vec<Value> = rules
        .ids
        .iter()
        .map(|(section, text, id)| {
            let short = text.split(['(', ';']).next().unwrap_or(text).trim();
            let mut r = json!({
                "id": id,
                "shortDescription": {"text": short},
                "fullDescription": {"text": text},
                "help": {"text": text},
                "properties": {"section": section.name(), "tags": ["kubernetes-upgrade", section.name()]},
            });
            if let Some(uri) = help_uri(text) {
                r["helpUri"] = json!(uri);
            }
            r
        })
        .collect();
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let (level, kind) = level(f.severity);
            let i = rules.index(f);
            json!({
                "ruleId": rules.ids[i].2,
                "ruleIndex": i,
                "kind": kind,
                "level": level,
                "message": {"text": format!("{}: {}", f.subject, f.message)},
                "locations": locations(f),
                "properties": {"section": f.section.name(), "severity": f.severity},
            })
        })
        .collect();
    let file_rows: Vec<&crate::policy::apis::ApiRow> = report
        .apis
        .iter()
        .filter(|a| matches!(a.source, crate::facts::apiusage::UsageSource::File(_)))
        .collect();
    if !file_rows.is_empty() {
        let index = rule_objects.len();
        rule_objects.push(json!({
            "id": FILE_API_RULE,
            "shortDescription": {"text": "A manifest uses an API version that a Kubernetes release removes"},
            "fullDescription": {"text": "Each Kubernetes release stops serving some API versions (data/apis.yaml, from the official deprecation guide): a manifest written with one fails to apply once the cluster runs that release. Change it to the replacement version before the hop."},
            "help": {"text": "Rewrite the manifest with the replacement API version (and any changed fields) before upgrading past the release that removes it."},
            "helpUri": "https://kubernetes.io/docs/reference/using-api/deprecation-guide/",
            "properties": {"section": "apis", "tags": ["kubernetes-upgrade", "apis"]},
        }));
        for a in file_rows {
            let crate::facts::apiusage::UsageSource::File(path) = &a.source else {
                continue;
            };
            let api = a.api_version();
            let level = match (a.status, a.stale.is_some()) {
                (_, true) => "note",
                ("removedAtHop", _) => "error",
                ("alreadyRemoved", _) => "warning",
                _ => "note",
            };
            let removed = a
                .removed_in
                .map(|m| format!("removed in {m}"))
                .unwrap_or_else(|| "deprecated".into());
            let hop = a
                .hop
                .as_deref()
                .map(|h| format!(", at hop {h} of this plan"))
                .unwrap_or_default();
            results.push(json!({
                "ruleId": FILE_API_RULE,
                "ruleIndex": index,
                "kind": "fail",
                "level": level,
                "message": {"text": format!("{} {} uses {api}, {removed} ({}){hop}; use {}", a.kind, a.name, a.status, a.replacement)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(path)}}}],
                "properties": {"section": "apis", "status": a.status},
            }));
        }
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "kubectl-upgrade",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rule_objects,
            }},
            "invocations": [{"executionSuccessful": true, "exitCode": report.summary.exit_code}],
            "results": results,
            "properties": {
                "source": report.source,
                "controlPlaneVersion": report.cluster.control_plane_version,
                "verdict": report.summary.verdict,
            },
        }],
    })
}

/// The report as JUnit XML: a test suite per section, a test case per finding.
pub fn junit(report: &CheckReport) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let rules = Rules::of(&report.findings);
    let mut out = Report::new("kubectl-upgrade check");
    let mut sections: Vec<Section> = report.findings.iter().map(|f| f.section).collect();
    sections.sort();
    sections.dedup();
    for s in sections {
        let mut suite = TestSuite::new(format!("kubectl-upgrade.{}", s.name()));
        for f in report.findings.iter().filter(|f| f.section == s) {
            let id = &rules.ids[rules.index(f)].2;
            let status = if f.severity == Severity::Violation {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(f.message.clone());
                st.set_type(id.clone());
                st.set_description(format!("{}\nrule: {}", f.message, f.rule));
                st
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("{} [{}]", f.subject, id), status);
            case.set_classname(format!("kubectl-upgrade.{}", s.name()));
            if f.severity != Severity::Violation {
                case.set_system_out(format!("{}: {}", f.severity.label(), f.message));
            }
            suite.add_test_case(case);
        }
        out.add_test_suite(suite);
    }
    out.to_string().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_policy_with_its_source() {
        let f = |section, rule: &str| Finding::new(section, Severity::Warn, "x", "m", rule);
        let findings = vec![
            f(Section::Skew, "kubelet: never newer than kube-apiserver; at most 3 minors older (kubernetes.io/releases/version-skew-policy/)"),
            f(Section::Skew, "kubelet: never newer than kube-apiserver; at most 3 minors older (kubernetes.io/releases/version-skew-policy/)"),
            f(Section::Skew, "kubelet: something else"),
        ];
        let r = Rules::of(&findings);
        let ids: Vec<&str> = r.ids.iter().map(|(_, _, i)| i.as_str()).collect();
        assert_eq!(
            ids,
            [
                "skew/kubelet-never-newer-than-kube-apiserver",
                "skew/kubelet-something-else"
            ]
        );
        assert_eq!(
            help_uri(&findings[0].rule).as_deref(),
            Some("https://kubernetes.io/releases/version-skew-policy/")
        );
        assert_eq!(
            slug(Section::Drain, "scheduler: a pod fits"),
            "drain/scheduler-a-pod-fits"
        );
        assert_eq!(
            slug(
                Section::Apis,
                "extensions/v1beta1 Ingress: deprecated in 1.14"
            ),
            "apis/extensions-v1beta1-ingress"
        );
        assert_eq!(artifact_uri("./manifests/a.yaml"), "manifests/a.yaml");
        assert_eq!(artifact_uri("/srv/a.yaml"), "file:///srv/a.yaml");
    }
}
