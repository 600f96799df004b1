//! Upgrade blockers beyond skew, per hop: API versions the next minors stop serving (from
//! `data/apis.yaml`, compiled in, `--apis FILE` at run time), node runtimes the new kubelet
//! drops, kube-proxy modes, CRD stored versions, and the manual checks the API cannot answer.
//! Pure: facts in, rows and findings out.

use crate::facts::apiusage::{split_api_version, CrdFacts, Usage, UsageSource};
use crate::facts::node::NodeFacts;
use crate::facts::version::{self, Minor};
use crate::findings::{bounded, Finding, Section, Severity, NAMES_SHOWN};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The compiled-in data.
pub const BUILTIN_YAML: &str = include_str!("../../data/apis.yaml");

/// What happens to stored objects of a removed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StoredObjects {
    /// Readable through the replacement: only manifests and clients must change.
    Served,
    /// Alpha data the server cannot convert: delete before the hop, recreate after.
    Delete,
}

/// One removed API version of one group, for the listed kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub group: String,
    pub version: String,
    /// kind -> plural resource.
    pub kinds: BTreeMap<String, String>,
    pub deprecated_in: Option<Minor>,
    pub removed_in: Minor,
    /// `group/version` to use instead; empty when there is none.
    pub replacement: String,
    pub replacement_since: Option<Minor>,
    pub stored_objects: StoredObjects,
    pub note: Option<String>,
}

impl Removal {
    pub fn api_version(&self) -> String {
        crate::facts::apiusage::join_api_version(&self.group, &self.version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeRule {
    /// `containerRuntimeVersion` prefix, e.g. `docker://`.
    pub prefix: String,
    /// The first minor whose kubelet cannot run with it.
    pub blocked_from: Minor,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManualCheck {
    pub from: Minor,
    pub check: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyMode {
    pub mode: String,
    pub deprecated_in: Minor,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeadmAddons {
    pub minor: Minor,
    pub coredns: Option<String>,
    pub etcd: Option<String>,
}

/// The whole data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiData {
    pub as_of: Date,
    pub sources: Vec<String>,
    pub removals: Vec<Removal>,
    pub runtimes: Vec<RuntimeRule>,
    /// (minor, minimum containerd version) pairs.
    pub minimum_containerd: Vec<(Minor, String)>,
    pub manual_checks: Vec<ManualCheck>,
    pub kube_proxy_modes: Vec<ProxyMode>,
    pub kubeadm_addons: Vec<KubeadmAddons>,
}

// The file's shape, before validation (minors may be "" where none applies).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawData {
    as_of: Date,
    #[serde(default)]
    sources: Vec<String>,
    removals: Vec<RawRemoval>,
    #[serde(default)]
    runtimes: Vec<RawRuntime>,
    #[serde(default)]
    minimum_containerd: Vec<RawMinimum>,
    #[serde(default)]
    manual_checks: Vec<RawCheck>,
    #[serde(default)]
    kube_proxy_modes: Vec<RawMode>,
    #[serde(default)]
    kubeadm_addons: Vec<RawAddons>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRemoval {
    group: String,
    version: String,
    kinds: BTreeMap<String, String>,
    #[serde(default)]
    deprecated_in: String,
    removed_in: String,
    replacement: String,
    #[serde(default)]
    replacement_since: String,
    stored_objects: StoredObjects,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRuntime {
    prefix: String,
    blocked_from: String,
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMinimum {
    minor: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    from: String,
    check: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMode {
    mode: String,
    deprecated_in: String,
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddons {
    minor: String,
    #[serde(default)]
    coredns: Option<String>,
    #[serde(default)]
    etcd: Option<String>,
}

/// The data compiled into the binary. A parse error here is a bug (tested).
pub fn builtin() -> ApiData {
    match parse_str(BUILTIN_YAML) {
        Ok(d) => d,
        Err(e) => panic!("bug: data/apis.yaml does not parse: {e}"),
    }
}

fn minor(what: &str, s: &str) -> Result<Minor, String> {
    s.parse::<Minor>()
        .map_err(|e| format!("{what}: '{s}' is not a minor ({e})"))
}

fn opt_minor(what: &str, s: &str) -> Result<Option<Minor>, String> {
    if s.trim().is_empty() {
        Ok(None)
    } else {
        minor(what, s).map(Some)
    }
}

/// Parses and validates the data: every replacement is served before the removal, every
/// deprecation precedes it, every removal names kinds.
pub fn parse_str(text: &str) -> Result<ApiData, String> {
    let raw: RawData =
        serde_yaml::from_str(text).map_err(|e| crate::policy::releases::yaml_error(&e))?;
    let mut removals = Vec::new();
    for r in raw.removals {
        let what = format!("{}/{}", r.group, r.version);
        let removed_in = minor(&format!("{what} removedIn"), &r.removed_in)?;
        let deprecated_in = opt_minor(&format!("{what} deprecatedIn"), &r.deprecated_in)?;
        let replacement_since =
            opt_minor(&format!("{what} replacementSince"), &r.replacement_since)?;
        if r.kinds.is_empty() {
            return Err(format!("{what}: no kinds listed"));
        }
        if let Some(d) = deprecated_in {
            if d > removed_in {
                return Err(format!(
                    "{what}: deprecatedIn {d} is after removedIn {removed_in}"
                ));
            }
        }
        match (r.replacement.is_empty(), replacement_since) {
            (false, None) => return Err(format!("{what}: replacement without replacementSince")),
            (false, Some(s)) if s > removed_in => {
                return Err(format!(
                "{what}: replacement {} is served only from {s}, after the removal in {removed_in}",
                r.replacement
            ))
            }
            _ => {}
        }
        removals.push(Removal {
            group: r.group,
            version: r.version,
            kinds: r.kinds,
            deprecated_in,
            removed_in,
            replacement: r.replacement,
            replacement_since,
            stored_objects: r.stored_objects,
            note: r.note,
        });
    }
    let runtimes = raw
        .runtimes
        .into_iter()
        .map(|r| {
            Ok(RuntimeRule {
                blocked_from: minor(&format!("runtime {}", r.prefix), &r.blocked_from)?,
                prefix: r.prefix,
                why: r.why,
            })
        })
        .collect::<Result<_, String>>()?;
    let minimum_containerd = raw
        .minimum_containerd
        .into_iter()
        .map(|m| Ok((minor("minimumContainerd", &m.minor)?, m.version)))
        .collect::<Result<_, String>>()?;
    let manual_checks = raw
        .manual_checks
        .into_iter()
        .map(|c| {
            Ok(ManualCheck {
                from: minor("manualChecks from", &c.from)?,
                check: c.check,
            })
        })
        .collect::<Result<_, String>>()?;
    let kube_proxy_modes = raw
        .kube_proxy_modes
        .into_iter()
        .map(|m| {
            Ok(ProxyMode {
                deprecated_in: minor(&format!("kube-proxy mode {}", m.mode), &m.deprecated_in)?,
                mode: m.mode,
                why: m.why,
            })
        })
        .collect::<Result<_, String>>()?;
    let kubeadm_addons = raw
        .kubeadm_addons
        .into_iter()
        .map(|a| {
            Ok(KubeadmAddons {
                minor: minor("kubeadmAddons minor", &a.minor)?,
                coredns: a.coredns,
                etcd: a.etcd,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(ApiData {
        as_of: raw.as_of,
        sources: raw.sources,
        removals,
        runtimes,
        minimum_containerd,
        manual_checks,
        kube_proxy_modes,
        kubeadm_addons,
    })
}

/// One kind to list from a live cluster: with which group/version and resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScanTarget {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub kind: String,
}

impl ApiData {
    /// The removal entry for `api_version` + `kind`, if listed. Group, version and kind must
    /// all match: a CRD kind named like a built-in one is a different API.
    pub fn removal(&self, api_version: &str, kind: &str) -> Option<&Removal> {
        let (group, version) = split_api_version(api_version);
        self.removals
            .iter()
            .find(|r| r.group == group && r.version == version && r.kinds.contains_key(kind))
    }

    /// The kind of `resource` in `api_version` (for the metric, which names resources).
    pub fn kind_of(&self, api_version: &str, resource: &str) -> Option<&str> {
        let (group, version) = split_api_version(api_version);
        self.removals
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .flat_map(|r| r.kinds.iter())
            .find(|(_, res)| res.as_str() == resource)
            .map(|(k, _)| k.as_str())
    }

    /// What a live scan lists on a cluster at `current`: each kind with a listed removal,
    /// read through the replacement when `current` serves it (the objects are the same),
    /// else through the listed version while `current` still serves that. Short-lived or
    /// non-persisted kinds (Events, reviews, Leases, EndpointSlices written by controllers)
    /// are left to the metric and to manifests. Deduplicated, sorted.
    pub fn scan_targets(&self, current: Minor) -> Vec<ScanTarget> {
        const SKIP: &[&str] = &[
            "Event",
            "TokenReview",
            "SubjectAccessReview",
            "LocalSubjectAccessReview",
            "SelfSubjectAccessReview",
            "Lease",
            "EndpointSlice",
            "CSIStorageCapacity",
            "ReplicaSet",
            // Read in full by check already; the reducer takes their usages from there.
            "PodDisruptionBudget",
        ];
        // Candidate versions per (group, resource, kind), each served at `current`.
        let mut best: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for r in &self.removals {
            for (kind, resource) in &r.kinds {
                if SKIP.contains(&kind.as_str()) {
                    continue;
                }
                let mut candidates = Vec::new();
                if !r.replacement.is_empty() && r.replacement_since.is_some_and(|s| s <= current) {
                    candidates.push(r.replacement.clone());
                }
                if current < r.removed_in {
                    candidates.push(r.api_version());
                }
                for via in candidates {
                    let (g, v) = split_api_version(&via);
                    let removed = self
                        .removals
                        .iter()
                        .any(|x| x.group == g && x.version == v && x.removed_in <= current);
                    if removed {
                        continue;
                    }
                    let key = (g.to_string(), resource.clone(), kind.clone());
                    let better = best
                        .get(&key)
                        .is_none_or(|have| version_rank(v) > version_rank(have));
                    if better {
                        best.insert(key, v.to_string());
                    }
                }
            }
        }
        best.into_iter()
            .map(|((group, resource, kind), version)| ScanTarget {
                group,
                version,
                resource,
                kind,
            })
            .collect()
    }
}

/// Kubernetes' version priority: GA above beta above alpha, then by number (`v2` > `v1`,
/// `v1beta3` > `v1beta2`).
fn version_rank(v: &str) -> (u32, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let num = |t: &str| t.parse().unwrap_or(0);
    if tail.is_empty() {
        (3, major, 0)
    } else if let Some(b) = tail.strip_prefix("beta") {
        (2, major, num(b))
    } else if let Some(a) = tail.strip_prefix("alpha") {
        (1, major, num(a))
    } else {
        (0, major, 0)
    }
}

/// One row of the report's `apis[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRow {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub source: UsageSource,
    pub deprecated_in: Option<Minor>,
    pub removed_in: Option<Minor>,
    pub replacement: String,
    /// `1.31 -> 1.32`: the hop of the plan where it bites; None when it does not bite in
    /// this plan (already removed, or removed beyond the target).
    pub hop: Option<String>,
    /// Where the removal falls, for CI to branch on: `removedAtHop` (a hop of this plan
    /// removes it), `alreadyRemoved` (the cluster's minor no longer serves it),
    /// `beyondPlan` (removed after the plan's target), `deprecated` (deprecated, no plan
    /// target known to place the removal against).
    pub status: &'static str,
    /// The last-applied annotation or manager entry is stale: the object was written since
    /// through another version (the reason, from managedFields); its findings are INFO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

impl ApiRow {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        crate::facts::apiusage::join_api_version(&self.group, &self.version)
    }
}

impl Bite {
    fn status(self, to: Option<Minor>) -> &'static str {
        match self {
            Bite::Hop(_) => "removedAtHop",
            Bite::Already => "alreadyRemoved",
            Bite::Later if to.is_some() => "beyondPlan",
            Bite::Later => "deprecated",
        }
    }
}

/// Where a removal falls relative to the plan (API versions here, flags and feature gates in
/// [`crate::policy::config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Bite {
    /// In a hop of this plan: the hop's violation.
    Hop(Minor),
    /// Not served any more by the cluster's minor: re-applying what uses it fails.
    Already,
    /// Removed after the target (or no target): deprecated, plan the change.
    Later,
}

/// With no `from` (manifests alone), every removal up to the target bites at its hop.
pub(crate) fn bite(removed_in: Minor, from: Option<Minor>, to: Option<Minor>) -> Bite {
    match from {
        Some(f) if removed_in <= f => Bite::Already,
        _ if to.is_some_and(|t| removed_in <= t) => Bite::Hop(removed_in),
        _ => Bite::Later,
    }
}

pub(crate) fn hop_label(to: Minor) -> String {
    format!("{} -> {}", to.prev(), to)
}

/// Rows and findings for the API usages: each usage of a listed removal attached to the hop
/// where it bites (a violation), or said as already removed (re-applying fails) or coming
/// later (deprecated). Findings group usages of one API and kind per hop, naming a few.
pub fn judge_usages(
    data: &ApiData,
    usages: &[Usage],
    from: Option<Minor>,
    to: Option<Minor>,
) -> (Vec<ApiRow>, Vec<Finding>) {
    let mut rows = Vec::new();
    let mut groups: BTreeMap<(bool, Bite, String, String), Vec<&Usage>> = BTreeMap::new();
    for u in usages {
        let Some(r) = data.removal(&u.api_version, &u.kind) else {
            continue;
        };
        let b = bite(r.removed_in, from, to);
        // Written since through a version this data does not remove: the old apiVersion
        // is history, not what clients send.
        let stale = u
            .rewritten
            .as_ref()
            .filter(|rw| data.removal(&rw.api_version, &u.kind).is_none())
            .map(|rw| {
                format!(
                    "written since through {} by {} at {}",
                    rw.api_version, rw.manager, rw.time
                )
            });
        rows.push(ApiRow {
            group: r.group.clone(),
            version: r.version.clone(),
            kind: u.kind.clone(),
            namespace: u.namespace.clone(),
            name: u.name.clone(),
            source: u.source.clone(),
            deprecated_in: r.deprecated_in,
            removed_in: Some(r.removed_in),
            replacement: r.replacement.clone(),
            hop: match b {
                Bite::Hop(m) => Some(hop_label(m)),
                _ => None,
            },
            status: b.status(to),
            stale: stale.clone(),
        });
        groups
            .entry((stale.is_some(), b, u.api_version.clone(), u.kind.clone()))
            .or_default()
            .push(u);
    }
    let mut findings = Vec::new();
    for ((stale, b, api, kind), us) in groups {
        let Some(r) = data.removal(&api, &kind) else {
            continue;
        };
        let mut names: Vec<String> = us
            .iter()
            .map(|u| {
                let obj = match &u.namespace {
                    Some(ns) => format!("{ns}/{}", u.name),
                    None => u.name.clone(),
                };
                format!("{obj} ({})", u.source.label())
            })
            .collect();
        names.sort();
        names.dedup();
        let listed = bounded(&names, NAMES_SHOWN);
        let instead = if r.replacement.is_empty() {
            r.note
                .clone()
                .unwrap_or_else(|| "it has no replacement".to_string())
        } else {
            format!("use {}", r.replacement)
        };
        let stored = match r.stored_objects {
            StoredObjects::Delete => {
                "; stored objects of an alpha version cannot be converted: delete them before the hop and recreate them after"
            }
            StoredObjects::Served => "",
        };
        let n = names.len();
        let rule = format!(
            "{api} {kind}: deprecated in {}, removed in {} (data/apis.yaml, official deprecation guide)",
            r.deprecated_in
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            r.removed_in
        );
        let (severity, subject, message) = match b {
            Bite::Hop(m) => (
                Severity::Violation,
                format!("hop {}", hop_label(m)),
                format!(
                    "{n} {kind} object(s) use {api}, which {m} no longer serves; {instead}{stored}: {listed}"
                ),
            ),
            Bite::Already => {
                // Only an old field manager's entry: history, not a manifest to fix.
                let only_history = us.iter().all(|u| u.source == UsageSource::ManagedFields);
                (
                    if only_history {
                        Severity::Info
                    } else {
                        Severity::Warn
                    },
                    format!("{api} {kind}"),
                    format!(
                        "{n} {kind} object(s) were last written with {api}, removed in {} (this cluster no longer serves it): re-applying those manifests fails; {instead}: {listed}",
                        r.removed_in
                    ),
                )
            }
            Bite::Later => (
                if from.is_some_and(|f| r.removed_in == f.next()) {
                    Severity::Warn
                } else {
                    Severity::Info
                },
                format!("{api} {kind}"),
                format!(
                    "{n} {kind} object(s) use {api}, removed in {} (beyond this plan); {instead}: {listed}",
                    r.removed_in
                ),
            ),
        };
        let (severity, message) = if stale {
            (
                Severity::Info,
                format!("stale, not a risk: {message} (each was written since through a version that stays served, per its managedFields; the old apiVersion is history)"),
            )
        } else {
            (severity, message)
        };
        findings.push(Finding::new(
            Section::Apis,
            severity,
            subject,
            message,
            rule,
        ));
    }
    (rows, findings)
}

/// CRDs whose `status.storedVersions` holds a version that is no longer served, or is
/// deprecated: storage must be migrated (rewrite every object, then drop the version from
/// `status.storedVersions`) before the version can be removed. Not tied to a Kubernetes hop:
/// the CRD's owner removes versions when it upgrades.
pub fn judge_crds(crds: &[CrdFacts]) -> (Vec<ApiRow>, Vec<Finding>) {
    let mut rows = Vec::new();
    let mut findings = Vec::new();
    for crd in crds {
        for stored in &crd.stored_versions {
            let spec = crd.versions.iter().find(|v| &v.name == stored);
            let storage = crd
                .versions
                .iter()
                .find(|v| v.storage)
                .map(|v| v.name.as_str())
                .unwrap_or("?");
            let (severity, why) = match spec {
                None => (Severity::Violation, "is no longer in spec.versions"),
                Some(v) if !v.served => (Severity::Violation, "is no longer served"),
                Some(v) if v.deprecated => (Severity::Warn, "is deprecated"),
                _ => continue,
            };
            rows.push(ApiRow {
                group: crd.group.clone(),
                version: stored.clone(),
                kind: crd.kind.clone(),
                namespace: None,
                name: crd.name.clone(),
                source: UsageSource::StoredVersions,
                deprecated_in: None,
                removed_in: None,
                replacement: format!("{}/{storage}", crd.group),
                hop: None,
                status: if severity == Severity::Violation {
                    "alreadyRemoved"
                } else {
                    "deprecated"
                },
                stale: None,
            });
            findings.push(Finding::new(
                Section::Apis,
                severity,
                format!("crd {}", crd.name),
                format!(
                    "objects of {} may still be stored as {}/{stored}, which {why}: migrate storage to {storage} (rewrite every object, e.g. with kube-storage-version-migrator or a no-op update), then remove {stored} from status.storedVersions",
                    crd.kind, crd.group
                ),
                "a CRD version may be removed only when no object is stored in it (status.storedVersions)",
            ));
        }
    }
    (rows, findings)
}

/// Node runtimes the kubelet of a hop in the plan no longer supports, named per hop: each
/// node is judged from its own kubelet's minor, since a node behind the control plane meets
/// the blocking minor later.
pub fn judge_runtimes(data: &ApiData, nodes: &[NodeFacts], to: Option<Minor>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(to) = to else {
        return out;
    };
    for rule in &data.runtimes {
        let blocked: Vec<&str> = nodes
            .iter()
            .filter(|n| n.container_runtime.starts_with(&rule.prefix))
            .filter(|n| {
                version::parse(&n.kubelet_version)
                    .is_ok_and(|v| v.minor() < rule.blocked_from && rule.blocked_from <= to)
            })
            .map(|n| n.name.as_str())
            .collect();
        if blocked.is_empty() {
            continue;
        }
        out.push(Finding::new(
            Section::Apis,
            Severity::Violation,
            format!("hop {}", hop_label(rule.blocked_from)),
            format!(
                "{} node(s) run {}*: {}: {}",
                blocked.len(),
                rule.prefix,
                rule.why,
                bounded(&blocked, NAMES_SHOWN)
            ),
            format!(
                "kubelet {} and newer cannot run on {} (data/apis.yaml)",
                rule.blocked_from, rule.prefix
            ),
        ));
    }
    out.extend(judge_containerd_minimum(data, nodes, to));
    out
}

/// Nodes whose containerd is older than the documented minimum of a minor on the way.
fn judge_containerd_minimum(data: &ApiData, nodes: &[NodeFacts], to: Minor) -> Vec<Finding> {
    let mut out = Vec::new();
    for (minor, min) in &data.minimum_containerd {
        let Ok(min_v) = version::parse(min) else {
            continue;
        };
        let old: Vec<String> = nodes
            .iter()
            .filter_map(|n| {
                let (name, v) = crate::facts::node::runtime_name_version(&n.container_runtime)?;
                if name != "containerd" {
                    return None;
                }
                let parsed = version::parse(v).ok()?;
                let kubelet = version::parse(&n.kubelet_version).ok()?.minor();
                (kubelet < *minor
                    && *minor <= to
                    && parsed.cmp_precedence(&min_v) == std::cmp::Ordering::Less)
                    .then(|| format!("{} ({v})", n.name))
            })
            .collect();
        if !old.is_empty() {
            out.push(Finding::new(
                Section::Apis,
                Severity::Warn,
                format!("hop {}", hop_label(*minor)),
                format!(
                    "{} node(s) run containerd older than {min}, the minimum for {minor}: {}",
                    old.len(),
                    bounded(&old, NAMES_SHOWN)
                ),
                "containerd RELEASES.md: Kubernetes support matrix",
            ));
        }
    }
    out
}

/// kube-proxy's mode (from its ConfigMap) against the modes deprecated on the way.
pub fn judge_kube_proxy(
    data: &ApiData,
    mode: Option<&str>,
    from: Option<Minor>,
    to: Option<Minor>,
) -> Vec<Finding> {
    let Some(mode) = mode else {
        return Vec::new();
    };
    data.kube_proxy_modes
        .iter()
        .filter(|m| m.mode.eq_ignore_ascii_case(mode))
        .filter_map(|m| {
            let subject = match bite(m.deprecated_in, from, to) {
                Bite::Hop(h) => format!("hop {}", hop_label(h)),
                Bite::Already => "kube-proxy".to_string(),
                Bite::Later => return None,
            };
            Some(Finding::new(
                Section::Apis,
                Severity::Warn,
                subject,
                format!("kube-proxy runs in {mode} mode: {}", m.why),
                format!(
                    "kube-proxy {} mode deprecated in {}",
                    m.mode, m.deprecated_in
                ),
            ))
        })
        .collect()
}

/// Steps a hop to `to` gains: the manual checks that start at `to`, and for kubeadm the
/// add-on versions its kubeadm installs.
pub fn hop_steps(data: &ApiData, to: Minor, kubeadm: bool) -> Vec<String> {
    let mut out: Vec<String> = data
        .manual_checks
        .iter()
        .filter(|c| c.from == to)
        .map(|c| format!("check by hand (the API cannot show it): {}", c.check))
        .collect();
    if kubeadm {
        if let Some(a) = data.kubeadm_addons.iter().find(|a| a.minor == to) {
            let mut parts = Vec::new();
            if let Some(c) = &a.coredns {
                parts.push(format!("CoreDNS {c}"));
            }
            if let Some(e) = &a.etcd {
                parts.push(format!("etcd {e}"));
            }
            if !parts.is_empty() {
                out.push(format!(
                    "kubeadm {to} installs {} (see the COMPONENT table of `kubeadm upgrade plan`)",
                    parts.join(" and ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Minor {
        s.parse().unwrap()
    }

    fn usage(api: &str, kind: &str, name: &str, source: UsageSource) -> Usage {
        Usage {
            api_version: api.into(),
            kind: kind.into(),
            namespace: Some("ns".into()),
            name: name.into(),
            source,
            rewritten: None,
        }
    }

    #[test]
    fn builtin_data_is_complete_and_consistent() {
        let d = builtin();
        assert!(d.sources.iter().any(|s| s.contains("deprecation-guide")));
        // Every removal the official guide lists from 1.16 to 1.32, and alpha ones after.
        for (api, kind, removed) in [
            ("extensions/v1beta1", "Deployment", "1.16"),
            ("apps/v1beta2", "DaemonSet", "1.16"),
            ("extensions/v1beta1", "Ingress", "1.22"),
            ("networking.k8s.io/v1beta1", "Ingress", "1.22"),
            (
                "apiextensions.k8s.io/v1beta1",
                "CustomResourceDefinition",
                "1.22",
            ),
            ("rbac.authorization.k8s.io/v1beta1", "ClusterRole", "1.22"),
            ("policy/v1beta1", "PodDisruptionBudget", "1.25"),
            ("policy/v1beta1", "PodSecurityPolicy", "1.25"),
            ("batch/v1beta1", "CronJob", "1.25"),
            ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26"),
            ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", "1.26"),
            ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27"),
            ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "1.29"),
            (
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "PriorityLevelConfiguration",
                "1.32",
            ),
            ("resource.k8s.io/v1alpha3", "ResourceClaim", "1.34"),
        ] {
            let r = d
                .removal(api, kind)
                .unwrap_or_else(|| panic!("{api} {kind}"));
            assert_eq!(r.removed_in, m(removed), "{api} {kind}");
        }
        // Every replacement is served by the removal (validated at parse, asserted here).
        for r in &d.removals {
            if !r.replacement.is_empty() {
                assert!(
                    r.replacement_since.unwrap() <= r.removed_in,
                    "{}",
                    r.api_version()
                );
            }
            assert!(r.deprecated_in.is_none_or(|x| x <= r.removed_in));
        }
        assert!(d
            .removals
            .iter()
            .any(|r| r.stored_objects == StoredObjects::Delete));
    }

    #[test]
    fn invalid_data_is_rejected_with_the_reason() {
        let bad = "asOf: 2026-12-01\nremovals:\n  - { group: x.io, version: v1beta1, kinds: { A: as }, removedIn: \"1.30\", replacement: x.io/v1, replacementSince: \"1.31\", storedObjects: served }\n";
        assert!(parse_str(bad)
            .unwrap_err()
            .contains("served only from 1.31"));
        let bad = "asOf: 2026-12-01\nremovals:\n  - { group: x.io, version: v1beta1, kinds: {}, removedIn: \"1.30\", replacement: \"\", storedObjects: served }\n";
        assert!(parse_str(bad).unwrap_err().contains("no kinds"));
        assert!(parse_str("asOf: 2026-12-01\nremovals: []\nbogus: 1\n").is_err());
    }

    #[test]
    fn a_crd_kind_named_like_a_builtin_is_not_flagged() {
        let d = builtin();
        assert!(d.removal("example.com/v1beta1", "Ingress").is_none());
        assert!(d.removal("networking.k8s.io/v1", "Ingress").is_none());
        assert!(d.removal("networking.k8s.io/v1beta1", "Ingress").is_some());
    }

    /// A FlowSchema a 1.32 hop removes, an Ingress removed in 1.22, an alpha claim in a file
    /// removed in 1.34.
    fn three_usages() -> Vec<Usage> {
        vec![
            usage(
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "FlowSchema",
                "fs",
                UsageSource::LastApplied,
            ),
            usage(
                "extensions/v1beta1",
                "Ingress",
                "old",
                UsageSource::LastApplied,
            ),
            usage(
                "resource.k8s.io/v1alpha3",
                "ResourceClaim",
                "gpu",
                UsageSource::File("x.yaml".into()),
            ),
        ]
    }

    #[test]
    fn usages_bite_at_their_hop() {
        let d = builtin();
        let mut us = three_usages();
        us.push(usage(
            "extensions/v1beta1",
            "Ingress",
            "hist",
            UsageSource::ManagedFields,
        ));
        us.push(usage(
            "apps/v1",
            "Deployment",
            "fine",
            UsageSource::LastApplied,
        ));
        let (rows, f) = judge_usages(&d, &us, Some(m("1.31")), Some(m("1.33")));
        assert_eq!(rows.len(), 4, "apps/v1 is no finding");
        let fs = rows.iter().find(|r| r.name == "fs").unwrap();
        assert_eq!(fs.hop.as_deref(), Some("1.31 -> 1.32"));
        let v: Vec<&Finding> = f
            .iter()
            .filter(|f| f.severity == Severity::Violation)
            .collect();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].subject, "hop 1.31 -> 1.32");
        assert!(
            v[0].message.contains("use flowcontrol.apiserver.k8s.io/v1"),
            "{}",
            v[0].message
        );
        // Already removed: a warning (re-applying fails); the alpha claim bites in 1.34,
        // beyond the target 1.33: said, not a violation.
        let ingress = f
            .iter()
            .find(|f| f.subject == "extensions/v1beta1 Ingress")
            .unwrap();
        assert_eq!(ingress.severity, Severity::Warn);
        assert!(ingress.message.contains("re-applying"));
        let claim = f
            .iter()
            .find(|f| f.subject.starts_with("resource.k8s.io"))
            .unwrap();
        assert_eq!(claim.severity, Severity::Info);
        // With the target at 1.34 it bites, and says the objects must be deleted first.
        let (_, f) = judge_usages(&d, &us, Some(m("1.31")), Some(m("1.34")));
        let claim = f.iter().find(|f| f.subject == "hop 1.33 -> 1.34").unwrap();
        assert_eq!(claim.severity, Severity::Violation);
        assert!(claim.message.contains("delete them before the hop"));
    }

    #[test]
    fn each_row_says_where_its_removal_falls_and_stale_ones_are_info() {
        let d = builtin();
        let mut us = three_usages();
        let status =
            |rows: &[ApiRow], name: &str| rows.iter().find(|r| r.name == name).map(|r| r.status);
        let (rows, _) = judge_usages(&d, &us, Some(m("1.31")), Some(m("1.33")));
        assert_eq!(status(&rows, "fs"), Some("removedAtHop"));
        assert_eq!(status(&rows, "old"), Some("alreadyRemoved"));
        assert_eq!(status(&rows, "gpu"), Some("beyondPlan"));
        let (rows, _) = judge_usages(&d, &us, Some(m("1.31")), None);
        assert_eq!(
            status(&rows, "gpu"),
            Some("deprecated"),
            "no target to place it against"
        );
        // The FlowSchema written since through v1 (a version that stays): stale, INFO.
        us[0].rewritten = Some(crate::facts::apiusage::Rewritten {
            api_version: "flowcontrol.apiserver.k8s.io/v1".into(),
            manager: "kube-apiserver".into(),
            time: "2026-01-01T00:00:00Z".into(),
        });
        let (rows, f) = judge_usages(&d, &us, Some(m("1.31")), Some(m("1.33")));
        let fs = rows.iter().find(|r| r.name == "fs").unwrap();
        assert_eq!(fs.status, "removedAtHop");
        assert!(fs.stale.as_deref().is_some_and(
            |s| s.contains("through flowcontrol.apiserver.k8s.io/v1 by kube-apiserver")
        ));
        let hop = f.iter().find(|f| f.subject == "hop 1.31 -> 1.32").unwrap();
        assert_eq!(hop.severity, Severity::Info);
        assert!(
            hop.message.starts_with("stale, not a risk"),
            "{}",
            hop.message
        );
        // Written since through another version this data removes too: not stale.
        us[0].rewritten.as_mut().unwrap().api_version =
            "flowcontrol.apiserver.k8s.io/v1beta2".into();
        let (rows, _) = judge_usages(&d, &us, Some(m("1.31")), Some(m("1.33")));
        assert!(rows
            .iter()
            .find(|r| r.name == "fs")
            .unwrap()
            .stale
            .is_none());
    }

    #[test]
    fn scan_targets_read_through_the_served_version() {
        let d = builtin();
        let t = d.scan_targets(m("1.30"));
        let fs: Vec<&ScanTarget> = t.iter().filter(|t| t.resource == "flowschemas").collect();
        assert_eq!(fs.len(), 1);
        assert_eq!(
            (fs[0].group.as_str(), fs[0].version.as_str()),
            ("flowcontrol.apiserver.k8s.io", "v1")
        );
        assert!(t
            .iter()
            .any(|t| t.resource == "ingresses" && t.version == "v1"));
        assert!(!t.iter().any(|t| t.kind == "Event"));
        // PSP has no replacement: listed through policy/v1beta1 only while it is served.
        assert!(d
            .scan_targets(m("1.24"))
            .iter()
            .any(|t| t.resource == "podsecuritypolicies"));
        assert!(!t.iter().any(|t| t.resource == "podsecuritypolicies"));
        assert!(version_rank("v1") > version_rank("v1beta3"));
        assert!(version_rank("v2") > version_rank("v1"));
        assert!(version_rank("v1beta1") > version_rank("v1alpha3"));
    }

    #[test]
    fn runtimes_block_the_hop_of_each_nodes_kubelet() {
        let d = builtin();
        let node = |name: &str, kubelet: &str, rt: &str| NodeFacts {
            name: name.into(),
            kubelet_version: kubelet.into(),
            container_runtime: rt.into(),
            ..NodeFacts::default()
        };
        let nodes = vec![
            node("dock", "v1.23.17", "docker://20.10.24"),
            node("ctd1", "v1.34.2", "containerd://1.7.27"),
            node("ctd2", "v1.34.2", "containerd://2.1.4"),
            node("oldctd", "v1.28.3", "containerd://1.7.2"),
        ];
        let f = judge_runtimes(&d, &nodes, Some(m("1.36")));
        let subj: Vec<&str> = f.iter().map(|f| f.subject.as_str()).collect();
        assert!(subj.contains(&"hop 1.23 -> 1.24"), "{subj:?}");
        let c1 = f.iter().find(|f| f.subject == "hop 1.35 -> 1.36").unwrap();
        assert!(
            c1.message.contains("ctd1")
                && c1.message.contains("oldctd")
                && !c1.message.contains("ctd2,")
        );
        assert!(f
            .iter()
            .any(|f| f.subject == "hop 1.28 -> 1.29" && f.message.contains("oldctd (1.7.2)")));
        assert!(judge_runtimes(&d, &nodes, Some(m("1.23"))).is_empty());
    }

    #[test]
    fn kube_proxy_ipvs_and_manual_checks() {
        let d = builtin();
        let f = judge_kube_proxy(&d, Some("ipvs"), Some(m("1.33")), Some(m("1.36")));
        assert_eq!(f[0].subject, "hop 1.34 -> 1.35");
        assert!(
            judge_kube_proxy(&d, Some("iptables"), Some(m("1.33")), Some(m("1.36"))).is_empty()
        );
        assert!(judge_kube_proxy(&d, Some("ipvs"), Some(m("1.30")), Some(m("1.33"))).is_empty());
        let steps = hop_steps(&d, m("1.35"), false);
        assert!(steps[0].contains("cgroup v2"), "{steps:?}");
        assert!(hop_steps(&d, m("1.34"), true)
            .iter()
            .any(|s| s.contains("etcd 3.6.4-0")));
        assert!(hop_steps(&d, m("1.34"), false).is_empty());
    }

    #[test]
    fn crd_stored_versions_need_migration() {
        use crate::facts::apiusage::CrdVersion;
        let v = |name: &str, served: bool, storage: bool, deprecated: bool| CrdVersion {
            name: name.into(),
            served,
            storage,
            deprecated,
        };
        let crd = CrdFacts {
            name: "widgets.example.com".into(),
            group: "example.com".into(),
            kind: "Widget".into(),
            versions: vec![
                v("v1", true, true, false),
                v("v1beta1", false, false, true),
                v("v1beta2", true, false, true),
            ],
            stored_versions: vec![
                "v1alpha1".into(),
                "v1beta1".into(),
                "v1beta2".into(),
                "v1".into(),
            ],
        };
        let (rows, f) = judge_crds(&[crd]);
        assert_eq!(rows.len(), 3);
        let sev: Vec<Severity> = f.iter().map(|f| f.severity).collect();
        assert_eq!(
            sev,
            [Severity::Violation, Severity::Violation, Severity::Warn]
        );
        assert!(f[0].message.contains("migrate storage to v1"));
    }
}
