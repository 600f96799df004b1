//! Label and field selectors as kube-apiserver parses them from `labelSelector=` and
//! `fieldSelector=` query parameters, plus `metav1.LabelSelector` matching for PDBs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelReq {
    fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        match self {
            LabelReq::Eq(k, v) => get(k) == Some(v),
            // `!=` matches objects without the label, like the real server.
            LabelReq::NotEq(k, v) => get(k) != Some(v),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        }
    }
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSel(pub Vec<LabelReq>);

impl LabelSel {
    /// Parses the string form (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_req(part)?);
        }
        Ok(LabelSel(reqs))
    }

    /// Converts a `metav1.LabelSelector`; `None` (an empty or nil selector) matches nothing
    /// for PDBs, as in the disruption controller and the eviction handler.
    pub(crate) fn from_label_selector(sel: Option<&LabelSelector>) -> Option<Self> {
        let sel = sel?;
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(LabelReq::Eq(k.clone(), v.clone()));
        }
        for e in sel.match_expressions.iter().flatten() {
            let vals = e.values.clone().unwrap_or_default();
            reqs.push(match e.operator.as_str() {
                "In" => LabelReq::In(e.key.clone(), vals),
                "NotIn" => LabelReq::NotIn(e.key.clone(), vals),
                "Exists" => LabelReq::Exists(e.key.clone()),
                "DoesNotExist" => LabelReq::NotExists(e.key.clone()),
                // An invalid selector matches nothing.
                _ => return None,
            });
        }
        if reqs.is_empty() {
            None
        } else {
            Some(LabelSel(reqs))
        }
    }

    /// True when every requirement holds.
    pub(crate) fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    /// The `(key, value)` of the first equality requirement, usable with a label index.
    pub(crate) fn first_eq(&self) -> Option<(&str, &str)> {
        self.0.iter().find_map(|r| match r {
            LabelReq::Eq(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            format!("unable to parse requirement: expected a set in parentheses, found {rest:?}")
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn valid_key(k: &str) -> Result<String, String> {
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return Err(format!(
            "unable to parse requirement: invalid label key {k:?}"
        ));
    }
    Ok(k.to_string())
}

fn parse_req(part: &str) -> Result<LabelReq, String> {
    if let Some(k) = part.strip_prefix('!') {
        return Ok(LabelReq::NotExists(valid_key(k)?));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(LabelReq::NotEq(valid_key(k)?, v.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(LabelReq::Eq(valid_key(k)?, v.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(LabelReq::Eq(valid_key(k)?, v.trim().to_string()));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim_start();
    if let Some(r) = rest.strip_prefix("notin") {
        return Ok(LabelReq::NotIn(valid_key(key)?, parse_set(r)?));
    }
    if let Some(r) = rest.strip_prefix("in") {
        return Ok(LabelReq::In(valid_key(key)?, parse_set(r)?));
    }
    if rest.is_empty() {
        return Ok(LabelReq::Exists(valid_key(key)?));
    }
    Err(format!("unable to parse requirement: {part:?}"))
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldReq {
    pub field: String,
    pub value: String,
    pub negate: bool,
}

/// A parsed field selector (`spec.nodeName=x,status.phase!=Succeeded`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSel(pub Vec<FieldReq>);

impl FieldSel {
    /// Parses the string form; only `=`, `==` and `!=` exist for fields.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, value, negate) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            reqs.push(FieldReq {
                field: field.trim().to_string(),
                value: value.trim().to_string(),
                negate,
            });
        }
        Ok(FieldSel(reqs))
    }

    /// The value of a `field=value` term, if any (used to pick an index).
    pub(crate) fn eq_value(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.field == field && !r.negate)
            .map(|r| r.value.as_str())
    }

    /// Checks every term with `get` (which returns `None` for an unsupported field).
    pub(crate) fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match get(&r.field) {
            Some(v) => (v == r.value) != r.negate,
            None => false,
        })
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
    fn label_selector_table() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("app notin (web,db)", false),
            ("missing notin (x)", true),
            ("tier", true),
            ("missing", false),
            ("!missing", true),
            ("!tier", false),
            ("app=web,tier in (front,back)", true),
            ("app=web,tier=back", false),
        ];
        for (s, want) in cases {
            let sel = LabelSel::parse(s).unwrap();
            assert_eq!(sel.matches(Some(&l)), *want, "selector {s:?}");
        }
        assert!(LabelSel::parse("app in web").is_err());
        assert!(LabelSel::parse("a b c").is_err());
    }

    #[test]
    fn field_selector_table() {
        let get = |f: &str| match f {
            "spec.nodeName" => Some("n1".to_string()),
            "status.phase" => Some("Running".to_string()),
            _ => None,
        };
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("spec.nodeName=n1", true),
            ("spec.nodeName==n1", true),
            ("spec.nodeName=n2", false),
            ("spec.nodeName=n1,status.phase!=Succeeded", true),
            ("status.phase!=Running", false),
        ];
        for (s, want) in cases {
            assert_eq!(
                FieldSel::parse(s).unwrap().matches(get),
                *want,
                "selector {s:?}"
            );
        }
        assert_eq!(
            FieldSel::parse("spec.nodeName=n1")
                .unwrap()
                .eq_value("spec.nodeName"),
            Some("n1")
        );
        assert!(FieldSel::parse("nonsense").is_err());
    }

    #[test]
    fn pdb_selector_empty_matches_nothing() {
        assert!(LabelSel::from_label_selector(None).is_none());
        assert!(LabelSel::from_label_selector(Some(&LabelSelector::default())).is_none());
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["front".into()]),
            }]),
        };
        let s = LabelSel::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(Some(&labels(&[("app", "web"), ("tier", "front")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web")]))));
    }
}
