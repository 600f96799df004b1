//! Removed command-line flags and feature gates (pure): `data/control-plane.yaml` (sources in
//! the file) judged against the components' configurations ([`ComponentConfig`]). A flag or
//! gate that a minor of the plan removes stops that component from starting at that hop: a
//! VIOLATION attached to the hop, naming where it was set. One already removed before the
//! cluster's minor (a manifest on disk that nothing runs) is a warning; one removed after the
//! target is said (INFO). A gate set in its last stage (GA, Deprecated) has no effect already:
//! removing it now is safe.

use crate::facts::config::ComponentConfig;
use crate::facts::version::Minor;
use crate::findings::{bounded, Finding, Section, Severity, NAMES_SHOWN};
use crate::policy::apis::{bite, hop_label, Bite};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The compiled-in data.
pub const BUILTIN_YAML: &str = include_str!("../../data/control-plane.yaml");

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GateRemoval {
    pub name: String,
    pub last_stage: String,
    pub since: Minor,
    pub last_usable: Minor,
    pub removed_in: Minor,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FlagRemoval {
    pub component: String,
    pub flag: String,
    pub deprecated_in: Minor,
    pub removed_in: Minor,
    pub source: String,
}

/// A feature gate locked to one value from a minor on: a component of that minor given the
/// other value does not start.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GateLock {
    pub name: String,
    pub value: bool,
    pub stage: String,
    pub locked_in: Minor,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigData {
    pub as_of: String,
    pub gates: Vec<GateRemoval>,
    #[serde(default)]
    pub locked: Vec<GateLock>,
    pub flags: Vec<FlagRemoval>,
}

/// The data of `data/control-plane.yaml`.
pub fn builtin() -> &'static ConfigData {
    static DATA: std::sync::OnceLock<ConfigData> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        // The file is part of the binary and tested (`builtin_data_is_consistent`).
        serde_yaml::from_str(BUILTIN_YAML).unwrap_or(ConfigData {
            as_of: String::new(),
            gates: vec![],
            locked: vec![],
            flags: vec![],
        })
    })
}

fn source_text(s: &str) -> String {
    match s {
        "removedPage" => "kubernetes/website feature-gates-removed.md @ 03655030".into(),
        "livePage" => {
            "kubernetes.io/docs/reference/command-line-tools-reference/feature-gates-removed/"
                .into()
        }
        other => match (
            other.strip_prefix("gateFile:"),
            other.strip_prefix("goModules:"),
        ) {
            (Some(f), _) => format!("kubernetes/website feature-gates/{f}"),
            (_, Some(m)) => format!("the components' source, {m}"),
            _ => other.to_string(),
        },
    }
}

/// Findings for every configured flag and gate the data lists, grouped per (hop, what).
pub fn judge(
    data: &ConfigData,
    configs: &[ComponentConfig],
    from: Option<Minor>,
    to: Option<Minor>,
) -> Vec<Finding> {
    // (removed minor, what) -> (rule, sources where it is set)
    let mut hits: BTreeMap<(Minor, String), (String, Vec<String>)> = BTreeMap::new();
    let mut hit = |minor: Minor, what: String, rule: String, source: &str| {
        hits.entry((minor, what))
            .or_insert_with(|| (rule, vec![]))
            .1
            .push(source.to_string());
    };
    for c in configs {
        for f in &c.flags {
            if let Some(r) = data
                .flags
                .iter()
                .find(|r| r.component == c.component && &r.flag == f)
            {
                let what = format!("{} flag {}", c.component, r.flag);
                let rule = format!(
                    "{}: {} deprecated in {}, removed in {} (data/control-plane.yaml: {})",
                    r.component,
                    r.flag,
                    r.deprecated_in,
                    r.removed_in,
                    source_text(&r.source)
                );
                hit(r.removed_in, what, rule, &c.source);
            }
        }
        for (g, on) in &c.gates {
            // Set to the other value than the one it is locked to: refused from that minor.
            if let Some(l) = data.locked.iter().find(|l| &l.name == g && l.value != *on) {
                let what = format!("feature gate {}={on} ({})", l.name, c.component);
                let rule = format!(
                    "feature gate {}: {}, locked to {} from {} on: setting it to {on} is refused (data/control-plane.yaml: {})",
                    l.name,
                    l.stage,
                    l.value,
                    l.locked_in,
                    source_text(&l.source)
                );
                hit(l.locked_in, what, rule, &c.source);
            }
            if let Some(r) = data.gates.iter().find(|r| &r.name == g) {
                let what = format!("feature gate {}={on} ({})", r.name, c.component);
                let rule = format!(
                    "feature gate {}: {} since {}, last accepted by {}, removed in {} (data/control-plane.yaml: {})",
                    r.name,
                    r.last_stage,
                    r.since,
                    r.last_usable,
                    r.removed_in,
                    source_text(&r.source)
                );
                hit(r.removed_in, what, rule, &c.source);
            }
        }
    }
    let mut out = Vec::new();
    for ((removed, what), (rule, mut sources)) in hits {
        sources.sort();
        sources.dedup();
        let at = bounded(&sources, NAMES_SHOWN);
        let (severity, subject, message) = match bite(removed, from, to) {
            Bite::Hop(m) => (
                Severity::Violation,
                format!("hop {}", hop_label(m)),
                format!(
                    "{what} is set ({at}), and {m} no longer accepts it: the component will not start after this hop; remove it first"
                ),
            ),
            Bite::Already => (
                Severity::Warn,
                what.clone(),
                format!(
                    "{what} is set ({at}), but {removed} already refuses it: a component of this cluster's minor would not start with it; remove it"
                ),
            ),
            Bite::Later => (
                Severity::Info,
                what.clone(),
                format!("{what} is set ({at}); {removed} refuses it, beyond this plan: remove it before then"),
            ),
        };
        out.push(
            Finding::new(Section::Apis, severity, subject, message, rule).in_files(
                sources
                    .iter()
                    .filter_map(|s| s.strip_prefix("file:"))
                    // `file:PATH` or, for kubeadm's configuration, `file:PATH apiServer.extraArgs`.
                    .map(|r| match r.rsplit_once(' ') {
                        Some((path, part)) if part.ends_with(".extraArgs") => path.to_string(),
                        _ => r.to_string(),
                    })
                    .collect(),
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::config::from_args;

    fn m(s: &str) -> Minor {
        s.parse().expect("minor")
    }

    #[test]
    fn builtin_data_is_consistent() {
        let d: ConfigData =
            serde_yaml::from_str(BUILTIN_YAML).expect("data/control-plane.yaml parses");
        assert_eq!(&d, builtin());
        for g in &d.gates {
            // GA and Deprecated gates go after their stage; an alpha or beta gate may go
            // without one, and only the components' source says so.
            match g.last_stage.as_str() {
                "GA" | "Deprecated" => {}
                "Alpha" | "Beta" => assert!(g.source.starts_with("goModules:"), "{}", g.name),
                other => panic!("{}: stage {other}", g.name),
            }
            assert!(g.since <= g.last_usable, "{}", g.name);
            assert_eq!(g.removed_in, g.last_usable.next(), "{}", g.name);
            assert!(!g.source.is_empty(), "{}: a source", g.name);
        }
        for l in &d.locked {
            assert!(l.source.starts_with("goModules:"), "{}", l.name);
            assert!(
                matches!(l.stage.as_str(), "GA" | "Deprecated" | "Beta"),
                "{}: {}",
                l.name,
                l.stage
            );
            // A gate removed later was locked before (or as) it went.
            if let Some(r) = d.gates.iter().find(|g| g.name == l.name) {
                assert!(l.locked_in <= r.last_usable, "{}", l.name);
            }
        }
        let mut locked: Vec<&str> = d.locked.iter().map(|l| l.name.as_str()).collect();
        locked.sort();
        let n = locked.len();
        locked.dedup();
        assert_eq!(locked.len(), n, "each lock once");
        // Every minor from 1.22 to 1.37 has its removals (none left out).
        let mut minor = m("1.22");
        while minor <= m("1.37") {
            assert!(
                d.gates.iter().any(|g| g.removed_in == minor),
                "no gate removed in {minor}"
            );
            minor = minor.next();
        }
        for f in &d.flags {
            assert!(
                f.deprecated_in < f.removed_in,
                "{} {}: removed after its deprecation",
                f.component,
                f.flag
            );
            assert!(
                crate::facts::config::COMPONENTS.contains(&f.component.as_str()),
                "{}",
                f.component
            );
        }
        let mut names: Vec<&str> = d.gates.iter().map(|g| g.name.as_str()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "each gate once");
        // The anchors.
        let insecure = d
            .flags
            .iter()
            .find(|f| f.component == "kube-apiserver" && f.flag == "--insecure-port")
            .expect("anchor");
        assert_eq!(insecure.removed_in, m("1.24"));
        let eph = d
            .gates
            .iter()
            .find(|g| g.name == "EphemeralContainers")
            .expect("anchor");
        assert_eq!(eph.removed_in, m("1.27"));
    }

    /// The removals found in the components' source bite where the source says: a kubelet
    /// still given the sandbox image flag at 1.35, a 1.36 apiserver's locked gate at 1.37.
    #[test]
    fn removals_from_the_components_source_bite_at_their_hop() {
        let d = builtin();
        let kubelet = from_args(
            "kubelet",
            "file kubeadm-flags.env",
            ["--pod-infra-container-image=registry.k8s.io/pause:3.10"],
        );
        let api = from_args(
            "kube-apiserver",
            "pod kube-system/kube-apiserver-cp-1",
            ["--feature-gates=SidecarContainers=true,InTreePluginPortworxUnregister=false"],
        );
        let f = judge(d, &[kubelet, api], Some(m("1.34")), Some(m("1.37")));
        let got: Vec<(&str, Severity)> =
            f.iter().map(|f| (f.subject.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            [
                ("hop 1.34 -> 1.35", Severity::Violation),
                ("hop 1.35 -> 1.36", Severity::Violation),
                ("hop 1.36 -> 1.37", Severity::Violation)
            ],
            "{f:#?}"
        );
        assert!(f[0]
            .message
            .contains("kubelet flag --pod-infra-container-image"));
        assert!(f[1]
            .rule
            .contains("InTreePluginPortworxUnregister: Alpha since 1.23"));
        assert!(f[2]
            .rule
            .contains("the components' source, k8s.io/kubernetes v1.36.3 -> v1.37.2"));
    }

    /// A gate set against its lock bites at the minor that locked it; set to the locked value
    /// it is said only where it is later removed.
    #[test]
    fn a_gate_set_against_its_lock_bites_where_the_lock_starts() {
        let d = builtin();
        let api = from_args(
            "kube-apiserver",
            "pod kube-system/kube-apiserver-cp-1",
            ["--feature-gates=SidecarContainers=false"],
        );
        let f = judge(d, &[api], Some(m("1.32")), Some(m("1.37")));
        let got: Vec<(&str, Severity)> =
            f.iter().map(|f| (f.subject.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            [
                ("hop 1.32 -> 1.33", Severity::Violation),
                ("hop 1.36 -> 1.37", Severity::Violation)
            ],
            "{f:#?}"
        );
        assert!(
            f[0].rule.contains("locked to true from 1.33 on"),
            "{}",
            f[0].rule
        );
        let on = from_args(
            "kube-apiserver",
            "x",
            ["--feature-gates=SidecarContainers=true"],
        );
        let f = judge(d, &[on], Some(m("1.32")), Some(m("1.37")));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].subject, "hop 1.36 -> 1.37");
    }

    #[test]
    fn a_removed_flag_or_gate_bites_at_its_hop() {
        let d = builtin();
        let api = from_args(
            "kube-apiserver",
            "pod kube-system/kube-apiserver-cp-1",
            [
                "--insecure-port=0",
                "--feature-gates=EphemeralContainers=true",
                "--secure-port=6443",
            ],
        );
        let f = judge(
            d,
            std::slice::from_ref(&api),
            Some(m("1.22")),
            Some(m("1.27")),
        );
        let subjects: Vec<(&str, Severity)> =
            f.iter().map(|f| (f.subject.as_str(), f.severity)).collect();
        assert_eq!(
            subjects,
            [
                ("hop 1.23 -> 1.24", Severity::Violation),
                ("hop 1.26 -> 1.27", Severity::Violation)
            ]
        );
        assert!(
            f[0].message.contains(
                "kube-apiserver flag --insecure-port is set (pod kube-system/kube-apiserver-cp-1)"
            ),
            "{}",
            f[0].message
        );
        assert!(
            f[1].rule.contains("EphemeralContainers: GA since 1.25"),
            "{}",
            f[1].rule
        );
        // Before the hop's plan reaches it: said, not a violation; the same flag of another
        // component is not this one.
        let f = judge(d, &[api], Some(m("1.22")), Some(m("1.23")));
        assert!(f.iter().all(|f| f.severity == Severity::Info), "{f:?}");
        let sched = from_args("kube-scheduler", "x", ["--insecure-port=0"]);
        assert!(judge(d, &[sched], Some(m("1.22")), Some(m("1.27"))).is_empty());
    }
}
