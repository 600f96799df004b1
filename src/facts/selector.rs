//! Label selectors: the string form users type (`-l pool=blue,tier notin (a,b)`), parsed with
//! the grammar of apimachinery's `labels.Parse`, and the structured form PodDisruptionBudgets
//! carry (`matchLabels` + `matchExpressions`), both reduced to one [`Selector`] with one
//! matcher. Pure.
//!
//! Mutating commands refuse an empty selector: the API server reads `labelSelector=` as "every
//! object", so an unset `$POOL` in `-l "$POOL"` would otherwise select the whole cluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;
use std::fmt;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value` / matchLabels.
    Equals(String, String),
    /// `key!=value`: the label is absent or has another value.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`: absent or not one of them.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>N` (integer labels).
    GreaterThan(String, i64),
    /// `key<N`.
    LessThan(String, i64),
    /// A `matchExpressions` operator this code does not know: matches nothing, like the API
    /// server, which rejects such a selector.
    Invalid(String),
}

/// A label selector: every requirement must hold. `everything` is the empty structured
/// selector `{}` (PDB: every pod of the namespace); a selector with no requirements and
/// `everything == false` matches nothing (a PDB without a selector).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
    pub everything: bool,
}

/// Why a selector string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("empty selector: it would select everything; give a non-empty one, e.g. app=web")]
    Empty,
    #[error("invalid selector '{input}': {why}")]
    Invalid { input: String, why: String },
}

impl Selector {
    /// The selector that matches every object (structured `{}`).
    pub fn everything() -> Selector {
        Selector {
            requirements: Vec::new(),
            everything: true,
        }
    }

    /// Does the selector select an object with these labels?
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.requirements.is_empty() {
            return self.everything;
        }
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// From a structured selector as PodDisruptionBudgets carry it: `matchLabels` AND every
    /// `matchExpressions` entry. `None` (no selector) matches nothing; `{}` matches everything.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Selector {
        let Some(sel) = selector else {
            return Selector::default();
        };
        let mut requirements: Vec<Requirement> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
            .collect();
        for e in sel.match_expressions.iter().flatten() {
            let (key, values) = (e.key.clone(), e.values.clone().unwrap_or_default());
            requirements.push(match e.operator.as_str() {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => Requirement::Invalid(other.to_string()),
            });
        }
        Selector {
            everything: requirements.is_empty(),
            requirements,
        }
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let int = |k: &str| labels.get(k).and_then(|v| v.parse::<i64>().ok());
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::GreaterThan(k, n) => int(k).is_some_and(|v| v > *n),
            Requirement::LessThan(k, n) => int(k).is_some_and(|v| v < *n),
            Requirement::Invalid(_) => false,
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical string form, as sent in `labelSelector=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
                Requirement::GreaterThan(k, n) => format!("{k}>{n}"),
                Requirement::LessThan(k, n) => format!("{k}<{n}"),
                Requirement::Invalid(op) => format!("<invalid operator {op}>"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses a selector string as kubectl does. Empty (or blank) input is an error: see the
/// module documentation.
pub fn parse(input: &str) -> Result<Selector, SelectorError> {
    if input.trim().is_empty() {
        return Err(SelectorError::Empty);
    }
    let invalid = |why: String| SelectorError::Invalid {
        input: input.to_string(),
        why,
    };
    let mut requirements = Vec::new();
    for part in split_top_level(input).map_err(invalid)? {
        requirements.push(requirement(part.trim()).map_err(invalid)?);
    }
    Ok(Selector {
        requirements,
        everything: false,
    })
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".into());
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&s[start..]);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err("empty requirement (stray comma?)".into());
    }
    Ok(parts)
}

fn requirement(p: &str) -> Result<Requirement, String> {
    if let Some(key) = p.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement::DoesNotExist(key.to_string()));
    }
    // Set-based: `key in (..)` / `key notin (..)`.
    for (word, notin) in [(" in ", false), (" notin ", true)] {
        if let Some(i) = p.find(word) {
            let key = p[..i].trim();
            let rest = p[i + word.len()..].trim();
            check_key(key)?;
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("expected '(' values ')' after '{}'", word.trim()))?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            for v in &values {
                check_value(v)?;
            }
            return Ok(if notin {
                Requirement::NotIn(key.to_string(), values)
            } else {
                Requirement::In(key.to_string(), values)
            });
        }
    }
    for (op, kind) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((key, value)) = p.split_once(op) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            return match kind {
                0 => check_value(value).map(|_| Requirement::NotEquals(key.into(), value.into())),
                1 => check_value(value).map(|_| Requirement::Equals(key.into(), value.into())),
                _ => {
                    let n: i64 = value
                        .parse()
                        .map_err(|_| format!("'{value}' after '{op}' is not an integer"))?;
                    Ok(if kind == 2 {
                        Requirement::GreaterThan(key.into(), n)
                    } else {
                        Requirement::LessThan(key.into(), n)
                    })
                }
            };
        }
    }
    check_key(p)?;
    Ok(Requirement::Exists(p.to_string()))
}

/// A label key: `[prefix/]name`, name at most 63 characters of `[A-Za-z0-9_.-]` starting and
/// ending alphanumeric; prefix a DNS subdomain of at most 253 characters.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let ok = !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            return Err(format!("'{key}': prefix '{p}' is not a DNS subdomain"));
        }
    }
    if name.is_empty() || !is_label_name(name) {
        return Err(format!(
            "'{key}' is not a label key (at most 63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric, optional DNS prefix/)"
        ));
    }
    Ok(())
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A label value: empty, or a label name.
fn check_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_label_name(v) {
        Ok(())
    } else {
        Err(format!(
            "'{v}' is not a label value (at most 63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_what_kubectl_accepts() {
        let l = labels(&[("pool", "blue"), ("tier", "web"), ("gen", "3")]);
        let table: [(&str, bool); 16] = [
            ("pool=blue", true),
            ("pool==blue", true),
            ("pool!=blue", false),
            ("pool=green", false),
            ("pool in (blue,green)", true),
            ("pool in ( green , red )", false),
            ("pool notin (green)", true),
            ("zone notin (a)", true),
            ("pool", true),
            ("!pool", false),
            ("!zone", true),
            ("pool=blue,tier=web", true),
            ("pool=blue, tier in (db)", false),
            ("gen>2", true),
            ("gen<3", false),
            ("node-role.kubernetes.io/worker", false),
        ];
        for (input, want) in table {
            let s = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(s.matches(&l), want, "{input}");
        }
        assert_eq!(
            parse("a=b, c in (d,e),!f").unwrap().to_string(),
            "a=b,c in (d,e),!f"
        );
        assert_eq!(parse("pool=").unwrap().to_string(), "pool=");
    }

    #[test]
    fn refuses_empty_and_malformed_input() {
        assert_eq!(parse(""), Err(SelectorError::Empty));
        assert_eq!(parse("   "), Err(SelectorError::Empty));
        for bad in [
            "!!bad",
            "a=b,",
            ",a=b",
            "a in b",
            "a in (b",
            "a=(b)",
            "-a=b",
            "a b=c",
            "a==b==c",
            "gen>x",
            "a/=b",
            "Example.com/a=b",
            "a=b)",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(
                matches!(&e, SelectorError::Invalid { input, .. } if input == bad),
                "{bad}: {e}"
            );
        }
        assert!(parse("!!bad").unwrap_err().to_string().contains("'!bad'"));
    }

    #[test]
    fn structured_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let expr = |op: &str, v: &[&str]| LabelSelectorRequirement {
            key: "tier".into(),
            operator: op.into(),
            values: Some(v.iter().map(|s| s.to_string()).collect()),
        };
        let sel = |ml: &[(&str, &str)], ex: Vec<LabelSelectorRequirement>| LabelSelector {
            match_labels: Some(labels(ml)),
            match_expressions: Some(ex),
        };
        let cases = [
            (Some(sel(&[("app", "web")], vec![])), true),
            (
                Some(sel(&[("app", "web")], vec![expr("In", &["back"])])),
                false,
            ),
            (Some(sel(&[], vec![expr("NotIn", &["back"])])), true),
            (Some(sel(&[], vec![expr("Matches", &[])])), false),
            (Some(LabelSelector::default()), true),
            (None, false),
        ];
        for (i, (s, want)) in cases.iter().enumerate() {
            assert_eq!(
                Selector::from_label_selector(s.as_ref()).matches(&l),
                *want,
                "case {i}"
            );
        }
    }
}
