//! Helm charts' `kubeVersion` constraints against the plan (pure). Helm refuses to install or
//! upgrade a chart whose `Chart.yaml` `kubeVersion` does not admit the cluster's version
//! ("chart requires kubeVersion: ... which is incompatible with Kubernetes ..."): a deployed
//! release whose chart excludes a hop's version cannot be upgraded (or rolled back) after
//! that hop until the chart is. Constraints are read as Helm reads them (Masterminds semver):
//! `||` alternatives of comparisons joined by `,` or spaces; `=`, `!=`, `>`, `>=`, `<`, `<=`,
//! `~` (same minor), `^` (same major), `x`/`*` wildcards, `a - b` ranges; a pre-release
//! suffix such as `-0` (written so that `v1.28.3-eks-...` matches) is ignored, which keeps
//! every bound where it is for release versions.

use crate::facts::helm::ChartFacts;
use crate::findings::{bounded, Finding, Section, Severity, NAMES_SHOWN};
use crate::policy::path::Plan;
use std::collections::BTreeMap;

pub const RULE: &str = "helm: a chart's kubeVersion constraint must admit the cluster's version, or `helm upgrade`/`install`/`rollback` of its release fails (helm.sh/docs/topics/charts/#the-kubeversion-field)";

type V = (u64, u64, u64);

/// `1.28`, `v1.28.3`, `1.28.0-0`, `1.x`: the version with wildcards as `None`.
fn parse(v: &str) -> Option<[Option<u64>; 3]> {
    let v = v.trim().trim_start_matches(['v', 'V', '=']);
    let v = v.split(['-', '+']).next().unwrap_or(v);
    if v.is_empty() {
        return None;
    }
    let mut out = [None, None, None];
    for (i, p) in v.split('.').enumerate() {
        if i > 2 {
            return None;
        }
        out[i] = match p {
            "x" | "X" | "*" => None,
            n => Some(n.parse().ok()?),
        };
        if i == 0 && out[0].is_none() {
            return Some([None, None, None]);
        }
    }
    Some(out)
}

fn lo(p: &[Option<u64>; 3]) -> V {
    (p[0].unwrap_or(0), p[1].unwrap_or(0), p[2].unwrap_or(0))
}

/// The first version above everything `p` covers (`1.2` -> `1.3.0`), `None` for `*`.
fn hi(p: &[Option<u64>; 3]) -> Option<V> {
    match p {
        [Some(a), Some(b), Some(c)] => Some((*a, *b, *c + 1)),
        [Some(a), Some(b), None] => Some((*a, b + 1, 0)),
        [Some(a), None, _] => Some((a + 1, 0, 0)),
        _ => None,
    }
}

/// One comparison, e.g. `>=1.19.0-0`.
fn comparison(c: &str, v: V) -> Option<bool> {
    let ops = [">=", "<=", "!=", ">", "<", "=", "~", "^"];
    let (op, rest) = ops
        .iter()
        .find_map(|o| c.strip_prefix(o).map(|r| (*o, r)))
        .unwrap_or(("", c));
    let p = parse(rest)?;
    let (l, h) = (lo(&p), hi(&p));
    let within = v >= l && h.is_none_or(|h| v < h);
    Some(match op {
        ">=" => v >= l,
        ">" => h.is_none_or(|h| v >= h) && p[0].is_some(),
        "<=" => h.is_none_or(|h| v < h),
        "<" => v < l,
        "!=" => !within,
        "~" => {
            let h = match p {
                [Some(a), Some(b), _] => (a, b + 1, 0),
                [Some(a), None, _] => (a + 1, 0, 0),
                _ => return Some(true),
            };
            v >= l && v < h
        }
        "^" => match p {
            [Some(0), Some(b), _] => v >= l && v < (0, b + 1, 0),
            [Some(a), _, _] => v >= l && v < (a + 1, 0, 0),
            _ => true,
        },
        _ => within,
    })
}

/// Does `constraint` admit `v`? `None` when it does not parse.
pub fn admits(constraint: &str, v: V) -> Option<bool> {
    let mut any = false;
    for alt in constraint.split("||") {
        // `>= 1.19` -> `>=1.19`; then comparisons split on commas and spaces.
        let mut s = alt.trim().to_string();
        for op in [">=", "<=", "!=", ">", "<", "=", "~", "^"] {
            s = s.replace(&format!("{op} "), op);
        }
        let words: Vec<&str> = s.split([',', ' ']).filter(|w| !w.is_empty()).collect();
        let mut all = true;
        let mut i = 0;
        while i < words.len() {
            // A hyphen range: `a - b`.
            if words.get(i + 1) == Some(&"-") {
                let (a, b) = (parse(words[i])?, parse(words.get(i + 2)?)?);
                all &= v >= lo(&a) && hi(&b).is_none_or(|h| v < h);
                i += 3;
                continue;
            }
            all &= comparison(words[i], v)?;
            i += 1;
        }
        any |= all;
    }
    Some(any)
}

fn version(s: &str) -> Option<V> {
    let p = parse(s)?;
    Some((p[0]?, p[1]?, p[2].unwrap_or(0)))
}

/// Findings: each release whose chart's constraint excludes a hop's version, at the first
/// such hop; one excluding the cluster's own version already is a warning.
/// A hop a chart is held against: where it goes (minor) and the version it lands on.
pub struct HelmHop {
    pub to: crate::facts::version::Minor,
    /// The hop's version, e.g. `1.31.14` (the plan's, or the calendar's newest patch).
    pub to_version: String,
}

/// The plan's hops.
pub fn hops_of(plan: Option<&Plan>) -> Vec<HelmHop> {
    plan.map(|p| {
        p.hops
            .iter()
            .map(|h| HelmHop {
                to: h.to,
                to_version: h.to_version.clone(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The hops from `from` to `to` with no cluster (`check --file`): each minor's newest patch
/// from the release calendar (minors it does not list are left out).
pub fn hops_between(
    cal: &crate::policy::releases::Calendar,
    from: crate::facts::version::Minor,
    to: crate::facts::version::Minor,
) -> Vec<HelmHop> {
    let mut hops = Vec::new();
    let mut m = from.next();
    while m <= to {
        if let Some(r) = cal.get(m) {
            hops.push(HelmHop {
                to: m,
                to_version: r.latest_patch.clone(),
            });
        }
        m = m.next();
    }
    hops
}

pub fn judge(charts: &[ChartFacts], current: Option<&str>, hops: &[HelmHop]) -> Vec<Finding> {
    // (hop label, chart constraint) -> releases
    let mut at_hop: BTreeMap<(crate::facts::version::Minor, String, String), Vec<String>> =
        BTreeMap::new();
    let mut now: Vec<String> = Vec::new();
    let mut unread: Vec<String> = Vec::new();
    for c in charts.iter().filter(|c| !c.kube_version.trim().is_empty()) {
        let label = format!("{} ({})", c.release, c.chart);
        if current
            .and_then(version)
            .and_then(|v| admits(&c.kube_version, v))
            == Some(false)
        {
            now.push(format!("{label}: kubeVersion '{}'", c.kube_version));
            continue;
        }
        for h in hops {
            let Some(v) = version(&h.to_version) else {
                continue;
            };
            match admits(&c.kube_version, v) {
                None => {
                    unread.push(format!("{label}: '{}'", c.kube_version));
                    break;
                }
                Some(true) => {}
                Some(false) => {
                    at_hop
                        .entry((h.to, h.to_version.clone(), c.kube_version.clone()))
                        .or_default()
                        .push(label.clone());
                    break;
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((to, to_version, constraint), releases) in at_hop {
        out.push(Finding::new(
            Section::Path,
            Severity::Violation,
            format!("hop {}", crate::policy::apis::hop_label(to)),
            format!(
                "{} Helm release(s) have a chart whose kubeVersion '{constraint}' excludes {to_version}: after this hop `helm upgrade` and `helm rollback` of them fail; upgrade the chart to a version that admits it first: {}",
                releases.len(),
                bounded(&releases, NAMES_SHOWN)
            ),
            RULE,
        ));
    }
    if !now.is_empty() {
        out.push(Finding::new(
            Section::Path,
            Severity::Warn,
            "helm charts",
            format!(
                "{} Helm release(s) have a chart whose kubeVersion excludes the cluster's version already (the next `helm upgrade` fails): {}",
                now.len(),
                bounded(&now, NAMES_SHOWN)
            ),
            RULE,
        ));
    }
    if !unread.is_empty() {
        out.push(Finding::new(
            Section::Path,
            Severity::Info,
            "helm charts",
            format!(
                "kubeVersion constraint(s) not understood, not judged: {}",
                bounded(&unread, NAMES_SHOWN)
            ),
            RULE,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_as_helm_reads_them() {
        let v = |s: &str| version(s).expect("version");
        let cases: &[(&str, &str, bool)] = &[
            (">= 1.19.0-0", "1.34.11", true),
            (">=1.21.0-0 <1.30.0-0", "1.29.15", true),
            (">=1.21.0-0 <1.30.0-0", "1.30.0", false),
            (">=1.21.0-0, <1.30.0-0", "1.30.14", false),
            ("<1.35.0-0", "1.35.8", false),
            ("~1.26", "1.26.9", true),
            ("~1.26", "1.27.0", false),
            ("^1.20", "1.37.1", true),
            ("1.2", "1.2.0", true),
            ("1.28.x", "1.28.4", true),
            ("1.28.x", "1.29.0", false),
            (">=1.20 || <1.10", "1.9.0", true),
            (">=1.20 || <1.10", "1.15.0", false),
            ("1.25 - 1.30", "1.30.9", true),
            ("1.25 - 1.30", "1.31.0", false),
            ("!=1.27.0", "1.27.0", false),
            (">1.25", "1.25.7", false),
            (">1.25", "1.26.0", true),
            ("<=1.30", "1.30.5", true),
            ("*", "1.37.0", true),
        ];
        for (c, at, want) in cases {
            assert_eq!(admits(c, v(at)), Some(*want), "'{c}' at {at}");
        }
        assert_eq!(admits(">= banana", v("1.30.0")), None);
    }
}
