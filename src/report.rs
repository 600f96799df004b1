//! Report: the pure result of `check` — findings with severity plus the plan — that the
//! renderers (`render`) turn into a table, JSON or YAML. Field names here are the stable
//! `-o json|yaml` schema documented in the README.

use crate::facts::inventory::Inventory;
use crate::facts::pod::Component;
use crate::facts::progress::Progress;
use crate::facts::version::{self, Minor, Version};
use crate::findings::counted;
pub use crate::findings::{Finding, Section, Severity, NAMES_SHOWN};
use crate::policy::order::{self, Standing};
use crate::policy::path::Plan;
use crate::policy::releases::Calendar;
use crate::policy::setup::Setup;
use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the `-o json|yaml` schema. Bumped only on incompatible changes.
pub const SCHEMA: &str = "kubectl-upgrade.io/check/v1";

/// Everything `check` reports. This is the documented machine-readable schema.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub schema: &'static str,
    /// `cluster` (a live cluster or a dump) or `manifests` (`check --file` alone).
    pub scope: Scope,
    pub source: String,
    /// The day verdicts were computed for (`--now`, default today, UTC).
    pub today: String,
    pub cluster: ClusterSummary,
    pub components: Vec<ComponentRow>,
    pub node_groups: Vec<NodeGroup>,
    /// One row per node; rendered in `-o wide`, always present in JSON/YAML.
    pub nodes: Vec<NodeRow>,
    pub findings: Vec<Finding>,
    pub plan: Option<Plan>,
    /// Every use of an API version listed in data/apis.yaml, with the hop where it bites.
    pub apis: Vec<crate::policy::apis::ApiRow>,
    pub summary: Summary,
}

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    Cluster,
    Manifests,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSummary {
    /// `/version` of the apiserver answering (None from a plain list snapshot).
    pub server_version: Option<String>,
    /// The oldest apiserver's version: the reference for skew, support and the path.
    pub control_plane_version: Option<String>,
    pub setup: Setup,
    pub kubeadm_version: Option<String>,
    pub node_count: usize,
    pub pod_count: usize,
    pub pdb_count: usize,
    pub release_data_as_of: String,
    /// As-of date of data/apis.yaml (or `--apis FILE`).
    pub api_data_as_of: String,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRow {
    pub component: String,
    pub version: String,
    pub instances: usize,
    /// Nodes the instances run on (at most NAMES_SHOWN), empty for cluster-wide facts.
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroup {
    pub kubelet_version: String,
    pub count: usize,
    pub control_plane: usize,
    pub not_ready: usize,
    pub cordoned: usize,
    /// First NAMES_SHOWN node names.
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    pub name: String,
    pub roles: Vec<String>,
    pub kubelet_version: String,
    pub kube_proxy_version: Option<String>,
    pub container_runtime: String,
    pub os_image: String,
    pub kernel_version: String,
    pub architecture: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub taints: Vec<String>,
    /// The drain progress annotation (raw JSON) while the node is cordoned by a drain or
    /// drain-next; absent once the node is schedulable again (a leftover record is stale).
    pub progress: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub ok: usize,
    pub info: usize,
    pub warn: usize,
    pub violation: usize,
    /// `ok`, `warnings` or `violations`.
    pub verdict: &'static str,
    /// The process exit code this report maps to (0, 1, 2).
    pub exit_code: i32,
    pub line: String,
}

/// Inputs besides the inventory.
pub struct Context<'a> {
    pub calendar: &'a Calendar,
    pub apis: &'a crate::policy::apis::ApiData,
    pub today: jiff::civil::Date,
    pub target: Option<Minor>,
    /// `--to` with a patch (`v1.34.3`): the last hop goes there exactly.
    pub target_version: Option<Version>,
}

/// The control plane's version for support and the path: the oldest apiserver instance's,
/// else the `/version` answer, else kubeadm-config's `kubernetesVersion`.
pub fn control_plane_version(inv: &Inventory) -> Option<Version> {
    crate::policy::path::current_version(inv)
}

fn image_version(image: &str) -> String {
    match version::from_image(image) {
        Ok(v) => v.raw,
        Err(_) => format!("unknown ({image})"),
    }
}

fn component_rows(name: &str, comps: &[Component], out: &mut Vec<ComponentRow>) {
    let mut groups: BTreeMap<String, Vec<&Component>> = BTreeMap::new();
    for c in comps {
        groups.entry(image_version(&c.image)).or_default().push(c);
    }
    for (version, members) in groups {
        out.push(ComponentRow {
            component: name.to_string(),
            version,
            instances: members.len(),
            // Each node once, even with several instances on it (e.g. two CoreDNS pods).
            nodes: members
                .iter()
                .filter_map(|c| c.node.clone())
                .collect::<std::collections::BTreeSet<String>>()
                .into_iter()
                .take(NAMES_SHOWN)
                .collect(),
        });
    }
}

/// Components by version, one row per (component, version).
pub fn components(inv: &Inventory) -> Vec<ComponentRow> {
    let mut rows = Vec::new();
    if let Some(v) = &inv.server_version {
        rows.push(ComponentRow {
            component: "kube-apiserver (/version)".into(),
            version: v.clone(),
            instances: 1,
            nodes: Vec::new(),
        });
    }
    component_rows("kube-apiserver", &inv.apiservers, &mut rows);
    component_rows(
        "kube-controller-manager",
        &inv.controller_managers,
        &mut rows,
    );
    component_rows("kube-scheduler", &inv.schedulers, &mut rows);
    component_rows(
        "cloud-controller-manager",
        &inv.cloud_controller_managers,
        &mut rows,
    );
    component_rows("etcd", &inv.etcd, &mut rows);
    component_rows("kube-proxy", &inv.kube_proxies, &mut rows);
    component_rows("coredns", &inv.coredns, &mut rows);
    if let Some(v) = &inv.kubectl_version {
        rows.push(ComponentRow {
            component: "kubectl (client)".into(),
            version: v.clone(),
            instances: 1,
            nodes: Vec::new(),
        });
    }
    rows
}

/// Nodes grouped by kubelet version, oldest first.
pub fn node_groups(inv: &Inventory) -> Vec<NodeGroup> {
    let mut groups: BTreeMap<(u64, u64, u64, String), NodeGroup> = BTreeMap::new();
    for n in &inv.nodes {
        let key = match version::parse(&n.kubelet_version) {
            Ok(v) => (v.major, v.minor, v.patch, n.kubelet_version.clone()),
            Err(_) => (u64::MAX, 0, 0, n.kubelet_version.clone()),
        };
        let g = groups.entry(key).or_insert_with(|| NodeGroup {
            kubelet_version: n.kubelet_version.clone(),
            count: 0,
            control_plane: 0,
            not_ready: 0,
            cordoned: 0,
            nodes: Vec::new(),
        });
        g.count += 1;
        g.control_plane += usize::from(n.is_control_plane());
        g.not_ready += usize::from(!n.ready);
        g.cordoned += usize::from(n.unschedulable);
        if g.nodes.len() < NAMES_SHOWN {
            g.nodes.push(n.name.clone());
        }
    }
    groups.into_values().collect()
}

fn node_rows(inv: &Inventory) -> Vec<NodeRow> {
    let proxy_by_node: BTreeMap<&str, &str> = inv
        .kube_proxies
        .iter()
        .filter_map(|c| c.node.as_deref().map(|n| (n, c.image.as_str())))
        .collect();
    inv.nodes
        .iter()
        .map(|n| NodeRow {
            name: n.name.clone(),
            roles: n.roles.clone(),
            kubelet_version: n.kubelet_version.clone(),
            kube_proxy_version: proxy_by_node
                .get(n.name.as_str())
                .map(|img| image_version(img))
                .or_else(|| {
                    (!n.kube_proxy_version.is_empty()).then(|| n.kube_proxy_version.clone())
                }),
            container_runtime: n.container_runtime.clone(),
            os_image: n.os_image.clone(),
            kernel_version: n.kernel_version.clone(),
            architecture: n.architecture.clone(),
            ready: n.ready,
            unschedulable: n.unschedulable,
            taints: n.taints.clone(),
            // Only a current record: one left on a schedulable node is stale.
            progress: n.progress.clone().filter(|_| n.unschedulable),
        })
        .collect()
}

/// Findings about nodes themselves: NotReady, cordoned, drain-next in progress.
fn node_findings(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    let not_ready: Vec<&str> = inv
        .nodes
        .iter()
        .filter(|n| !n.ready)
        .map(|n| n.name.as_str())
        .collect();
    if !not_ready.is_empty() {
        out.push(Finding::new(
            Section::Nodes,
            Severity::Warn,
            counted("NotReady", "node", &not_ready),
            "nodes are NotReady: fix them before upgrading; drain-next skips them unless named",
            "upgrade a healthy cluster: every node Ready before the control plane moves",
        ));
    }
    // Progress records count only while the node is cordoned: one left on a node uncordoned
    // with plain `kubectl uncordon` is stale and ignored.
    let mut by_drain: Vec<&str> = Vec::new();
    let mut cordoned: Vec<&str> = Vec::new();
    for n in inv.nodes.iter().filter(|n| n.unschedulable) {
        let Some(p) = Progress::parse(n.progress.as_deref()) else {
            cordoned.push(&n.name);
            continue;
        };
        let goal = p.target_text().unwrap_or("the target");
        let message = match order::standing(n, &p, None) {
            None => {
                // Written by plain `drain`: no target to wait for, not drain-next's concern.
                by_drain.push(&n.name);
                continue;
            }
            Some(Standing::Unfinished) => format!(
                "drain-next in progress: its drain stopped in state '{}' ({}, {}); `kubectl upgrade drain-next {}` resumes it",
                p.state.as_str(),
                p.by(),
                p.time,
                n.name
            ),
            Some(Standing::Blocked) => format!(
                "drain-next passed it over as blocked ({}; {}, {}): it stays cordoned; `kubectl upgrade drain-next {}` tries it again",
                p.reason.as_deref().unwrap_or("no reason recorded"),
                p.by(),
                p.time,
                n.name
            ),
            Some(Standing::AwaitingUpgrade) => format!(
                "drain-next in progress: drained for {goal} ({}, {}); upgrade it, then `kubectl upgrade uncordon {}`",
                p.by(), p.time, n.name
            ),
            Some(Standing::Upgraded) => format!(
                "back Ready at {goal} after drain-next but still cordoned: `kubectl upgrade uncordon {}`",
                n.name
            ),
            Some(Standing::ForRemoval) => format!(
                "drained for removal by drain-next --strategy replace ({}, {}): remove the instance, then the Node (`kubectl delete node {}`)",
                p.by(),
                p.time,
                n.name
            ),
        };
        out.push(Finding::new(
            Section::Nodes,
            Severity::Info,
            n.name.clone(),
            message,
            "one node at a time: finish this node (upgrade, then `kubectl upgrade uncordon`) before the next",
        ));
    }
    if !by_drain.is_empty() {
        out.push(Finding::new(
            Section::Nodes,
            Severity::Info,
            counted("drained by `kubectl upgrade drain`", "node", &by_drain),
            "cordoned by a plain drain: `kubectl upgrade uncordon` when done; drain-next does not count them as in progress and skips them unless named",
            "nothing touches a node the user did not select",
        ));
    }
    if !cordoned.is_empty() {
        out.push(Finding::new(
            Section::Nodes,
            Severity::Info,
            counted("cordoned", "node", &cordoned),
            "cordoned by someone else: drain-next skips them unless named",
            "nothing touches a node the user did not select",
        ));
    }
    out
}

/// Assemble the whole report. Pure: same inventory, calendar and day give the same report.
pub fn build(
    inv: &Inventory,
    ctx: &Context,
) -> Result<CheckReport, crate::policy::path::PlanError> {
    let setup = crate::policy::setup::detect(inv);
    let cp = control_plane_version(inv);
    let mut findings = Vec::new();
    findings.extend(node_findings(inv));
    findings.extend(crate::policy::skew::evaluate(inv));
    match &cp {
        Some(v) => {
            findings.extend(crate::policy::support::evaluate(ctx.calendar, v, ctx.today));
            findings.extend(crate::policy::support::newer_apiservers(
                ctx.calendar,
                inv,
                v,
                ctx.today,
            ));
        }
        None => findings.push(crate::policy::support::unknown_control_plane(
            ctx.calendar,
            inv,
            ctx.today,
        )),
    }
    findings.extend(crate::policy::support::eol_kubelets(
        ctx.calendar,
        inv,
        cp.as_ref().map(|v| v.minor()),
        ctx.today,
    ));
    let plan = match crate::policy::path::plan_pinned(
        inv,
        ctx.calendar,
        &setup,
        ctx.target,
        ctx.target_version.as_ref(),
    ) {
        Ok(mut plan) => {
            let kubeadm = plan.setup == crate::policy::setup::SetupKind::Kubeadm;
            for hop in &mut plan.hops {
                hop.steps
                    .extend(crate::policy::apis::hop_steps(ctx.apis, hop.to, kubeadm));
            }
            findings.extend(crate::policy::path::path_findings(&plan));
            if plan.to > plan.from {
                findings.extend(crate::policy::support::target(
                    ctx.calendar,
                    plan.to,
                    ctx.today,
                ));
            }
            Some(plan)
        }
        Err(e @ crate::policy::path::PlanError::Usage(_)) => return Err(e),
        Err(crate::policy::path::PlanError::Unanswerable(m)) => {
            // An unknown control plane is already the support finding's subject.
            if cp.is_some() {
                findings.push(Finding::new(
                    Section::Path,
                    Severity::Warn,
                    "upgrade path",
                    m,
                    "the path needs the control plane's minor and release data reaching the target",
                ));
            }
            None
        }
    };
    let from = cp.as_ref().map(|v| v.minor());
    let to = plan.as_ref().map(|p| p.to);
    let (mut apis, api_findings) =
        crate::policy::apis::judge_usages(ctx.apis, &inv.api_usages, from, to);
    findings.extend(api_findings);
    findings.extend(crate::policy::config::judge(
        crate::policy::config::builtin(),
        &inv.component_configs,
        from,
        to,
    ));
    findings.extend(crate::policy::helm::judge(
        &inv.helm_charts,
        cp.as_ref().map(|v| v.raw.as_str()),
        &crate::policy::helm::hops_of(plan.as_ref()),
    ));
    findings.extend(crate::policy::certs::judge(
        &inv.certificates,
        ctx.today,
        inv.kubeadm.is_some(),
    ));
    let (crd_rows, crd_findings) = crate::policy::apis::judge_crds(&inv.crds);
    apis.extend(crd_rows);
    findings.extend(crd_findings);
    findings.extend(crate::policy::apis::judge_runtimes(
        ctx.apis, &inv.nodes, to,
    ));
    findings.extend(crate::policy::apis::judge_kube_proxy(
        ctx.apis,
        inv.kube_proxy_mode.as_deref(),
        from,
        to,
    ));
    findings.extend(crate::policy::preview::preview(inv));
    findings.sort_by(|a, b| a.section.cmp(&b.section).then(b.severity.cmp(&a.severity)));
    let summary = summarize(&findings);
    Ok(CheckReport {
        schema: SCHEMA,
        scope: Scope::Cluster,
        source: inv.source.clone(),
        today: ctx.today.to_string(),
        cluster: ClusterSummary {
            server_version: inv.server_version.clone(),
            control_plane_version: cp.map(|v| v.raw),
            setup,
            kubeadm_version: inv
                .kubeadm
                .as_ref()
                .and_then(|k| k.kubernetes_version.clone()),
            node_count: inv.nodes.len(),
            pod_count: inv.pods_seen,
            pdb_count: inv.pdbs.len(),
            release_data_as_of: ctx.calendar.as_of.to_string(),
            api_data_as_of: ctx.apis.as_of.to_string(),
            notes: inv.notes.clone(),
        },
        components: components(inv),
        node_groups: node_groups(inv),
        nodes: node_rows(inv),
        findings,
        plan,
        apis,
        summary,
    })
}

/// The report of `check --file` without a cluster: only the API usages of the manifests,
/// judged for the hops up to `ctx.target` (default: the newest minor in the release data),
/// from `from` (`--apiserver-version`) when given.
pub fn build_manifests(inv: &Inventory, ctx: &Context) -> CheckReport {
    // `--apiserver-version`, else the oldest version the files themselves give (a static
    // pod's image tag, kubeadm's kubernetesVersion).
    let from = inv
        .server_version
        .as_deref()
        .and_then(|v| version::parse(v).ok())
        .map(|v| v.minor())
        .or_else(|| {
            inv.component_configs
                .iter()
                .filter_map(|c| c.version.as_deref())
                .filter_map(|v| version::parse(v).ok())
                .map(|v| v.minor())
                .min()
        });
    let to = ctx
        .target
        .or_else(|| ctx.calendar.newest().map(|r| r.minor));
    let (apis, mut findings) =
        crate::policy::apis::judge_usages(ctx.apis, &inv.api_usages, from, to);
    findings.extend(crate::policy::config::judge(
        crate::policy::config::builtin(),
        &inv.component_configs,
        from,
        to,
    ));
    // Helm release Secrets given as files: their charts against each hop from where the
    // files start (no hops without a start).
    let hops = match (from, to) {
        (Some(f), Some(t)) => crate::policy::helm::hops_between(ctx.calendar, f, t),
        _ => Vec::new(),
    };
    findings.extend(crate::policy::helm::judge(&inv.helm_charts, None, &hops));
    let files = inv.api_usages.len() + inv.component_configs.len() + inv.helm_charts.len();
    let target = to.map(|t| t.to_string()).unwrap_or_else(|| "?".into());
    let mut notes = inv.notes.clone();
    notes.push(format!(
        "manifests only (no cluster read): {files} API usage(s), component configuration(s) and Helm release(s) judged for every minor up to {target}{}",
        from.map(|f| format!(" from {f}")).unwrap_or_default()
    ));
    if apis.is_empty() {
        findings.push(Finding::new(
            Section::Apis,
            Severity::Ok,
            "manifests",
            format!("no manifest uses an API version removed up to {target}"),
            "data/apis.yaml",
        ));
    }
    findings.sort_by(|a, b| a.section.cmp(&b.section).then(b.severity.cmp(&a.severity)));
    let summary = summarize(&findings);
    CheckReport {
        schema: SCHEMA,
        scope: Scope::Manifests,
        source: inv.source.clone(),
        today: ctx.today.to_string(),
        cluster: ClusterSummary {
            server_version: inv.server_version.clone(),
            control_plane_version: None,
            setup: crate::policy::setup::detect(inv),
            kubeadm_version: None,
            node_count: 0,
            pod_count: 0,
            pdb_count: 0,
            release_data_as_of: ctx.calendar.as_of.to_string(),
            api_data_as_of: ctx.apis.as_of.to_string(),
            notes,
        },
        components: Vec::new(),
        node_groups: Vec::new(),
        nodes: Vec::new(),
        findings,
        plan: None,
        apis,
        summary,
    }
}

pub fn summarize(findings: &[Finding]) -> Summary {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (ok, info, warn, violation) = (
        count(Severity::Ok),
        count(Severity::Info),
        count(Severity::Warn),
        count(Severity::Violation),
    );
    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    let code = crate::exit::Code::from(worst);
    let verdict = match code {
        crate::exit::Code::Violations => "violations",
        crate::exit::Code::Warnings => "warnings",
        _ => "ok",
    };
    let exit_code = code.as_i32();
    let line =
        format!("{verdict}: {violation} violation(s), {warn} warning(s), {ok} ok, {info} note(s)");
    Summary {
        ok,
        info,
        warn,
        violation,
        verdict,
        exit_code,
        line,
    }
}

#[cfg(test)]
mod component_row_tests {
    use super::*;

    #[test]
    fn each_node_is_named_once() {
        let c = |pod: &str, node: &str| Component {
            namespace: "kube-system".into(),
            pod: pod.into(),
            node: Some(node.into()),
            image: "registry.k8s.io/coredns/coredns:v1.11.1".into(),
        };
        let mut rows = Vec::new();
        component_rows(
            "coredns",
            &[c("a", "n1"), c("b", "n1"), c("d", "n2")],
            &mut rows,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].instances, 3);
        assert_eq!(rows[0].nodes, ["n1", "n2"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst severity decides; the exit code comes from `exit.rs`'s one mapping.
    #[test]
    fn the_summary_carries_the_worst_severity() {
        let f = |sev| Finding::new(Section::Skew, sev, "x", "y", "z");
        let s = summarize(&[f(Severity::Ok), f(Severity::Warn), f(Severity::Info)]);
        assert_eq!((s.verdict, s.exit_code), ("warnings", 1));
        let s = summarize(&[]);
        assert_eq!((s.verdict, s.exit_code), ("ok", 0));
    }

    fn f(sev: Severity) -> Finding {
        Finding::new(Section::Skew, sev, "x", "y", "z")
    }

    #[test]
    fn summary_maps_worst_severity_to_exit_code() {
        let cases = [
            (vec![], "ok", 0),
            (vec![f(Severity::Ok), f(Severity::Info)], "ok", 0),
            (vec![f(Severity::Ok), f(Severity::Warn)], "warnings", 1),
            (
                vec![f(Severity::Warn), f(Severity::Violation)],
                "violations",
                2,
            ),
        ];
        for (findings, verdict, code) in cases {
            let s = summarize(&findings);
            assert_eq!((s.verdict, s.exit_code), (verdict, code));
        }
    }

    #[test]
    fn progress_notes_only_for_nodes_still_cordoned() {
        use crate::facts::node::NodeFacts;
        use crate::facts::progress::{ProgressState, Writer};
        let record = crate::facts::progress::record;
        let t = Some("v1.33.2");
        let node =
            |name: &str, kubelet: &str, cordoned: bool, progress: Option<String>| NodeFacts {
                name: name.into(),
                kubelet_version: kubelet.into(),
                ready: true,
                unschedulable: cordoned,
                progress,
                ..NodeFacts::default()
            };
        let inv = Inventory {
            nodes: vec![
                node(
                    "resuming",
                    "v1.32.0",
                    true,
                    record(ProgressState::Cordoned, t, Writer::DrainNext),
                ),
                node(
                    "waiting",
                    "v1.32.0",
                    true,
                    record(ProgressState::Drained, t, Writer::DrainNext),
                ),
                node(
                    "upgraded",
                    "v1.33.2",
                    true,
                    record(ProgressState::Drained, t, Writer::DrainNext),
                ),
                // Uncordoned with plain `kubectl uncordon`: the record is stale.
                node(
                    "stale",
                    "v1.32.0",
                    false,
                    record(ProgressState::Drained, t, Writer::DrainNext),
                ),
                node(
                    "plain",
                    "v1.32.0",
                    true,
                    record(ProgressState::Drained, None, Writer::Drain),
                ),
                node("manual", "v1.32.0", true, None),
                node("garbled", "v1.32.0", true, Some("not json".into())),
            ],
            ..Inventory::default()
        };
        let f = node_findings(&inv);
        let about = |s: &str| -> Vec<&Finding> { f.iter().filter(|x| x.subject == s).collect() };
        let in_progress: Vec<&str> = f
            .iter()
            .filter(|x| x.message.starts_with("drain-next in progress"))
            .map(|x| x.subject.as_str())
            .collect();
        assert_eq!(in_progress, ["resuming", "waiting"], "{f:#?}");
        assert!(
            about("resuming")[0].message.contains("'cordoned'"),
            "{f:#?}"
        );
        assert!(
            about("waiting")[0]
                .message
                .contains("`kubectl upgrade uncordon waiting`"),
            "{f:#?}"
        );
        let up = &about("upgraded")[0].message;
        assert!(
            up.contains("still cordoned") && up.contains("uncordon upgraded"),
            "{up}"
        );
        assert!(f.iter().all(|x| !x.subject.contains("stale")), "{f:#?}");
        let drained = f
            .iter()
            .find(|x| x.subject.starts_with("drained by `kubectl upgrade drain`"))
            .expect("plain drain group");
        assert_eq!(
            drained.subject,
            "drained by `kubectl upgrade drain` (1 node: plain)"
        );
        let foreign = f
            .iter()
            .find(|x| x.subject.starts_with("cordoned"))
            .expect("foreign cordons");
        assert_eq!(foreign.subject, "cordoned (2 nodes: manual, garbled)");
        assert!(f.iter().all(|x| x.severity == Severity::Info));
        // The node rows keep a record only while it is current.
        let rows = node_rows(&inv);
        let progress_of = |n: &str| {
            rows.iter()
                .find(|r| r.name == n)
                .unwrap()
                .progress
                .is_some()
        };
        assert!(progress_of("waiting") && progress_of("plain"));
        assert!(!progress_of("stale") && !progress_of("manual"));
    }
}
