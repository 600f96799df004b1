//! The upgrade path: one minor at a time from the control plane's minor to the target, with
//! the commands for this kind of setup at each hop and the kubelets that must be upgraded
//! before a hop so they stay inside the skew window. Pure.

use crate::facts::inventory::Inventory;
use crate::findings::{Finding, Section, Severity};
use crate::policy::releases::Calendar;
use crate::policy::setup::{Setup, SetupKind};
use crate::policy::skew::{self, POLICY};
use crate::policy::version::{self, Minor};
use serde::Serialize;

/// Names listed in step text and findings; the full lists are in the plan.
const MAX_NAMES: usize = 5;

/// One minor-version hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    pub from: Minor,
    pub to: Minor,
    /// Newest patch of `to` from the calendar, e.g. `1.31.14`.
    pub to_version: String,
    /// What to run, in order, for this setup kind.
    pub steps: Vec<String>,
    /// Nodes whose kubelet must be upgraded before this hop (listed at the first hop they
    /// would block).
    pub kubelets_first: Vec<String>,
}

/// The whole path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub from: Minor,
    pub to: Minor,
    pub setup: SetupKind,
    pub hops: Vec<Hop>,
    pub notes: Vec<String>,
}

/// Why no plan can be made for the requested target: said to the user as a usage error
/// (bad `--to`, release data without the needed minors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl PlanError {
    fn new(message: impl Into<String>) -> Self {
        PlanError(message.into())
    }
}

/// Plans the path from the oldest kube-apiserver's minor to `target` (default: the newest
/// minor in the calendar).
///
/// Usage errors: target older than the control plane ("downgrades are not supported"),
/// target beyond the calendar, a calendar gap on the way, or no readable control-plane
/// version in the inventory.
pub fn plan(
    inv: &Inventory,
    cal: &Calendar,
    setup: &Setup,
    target: Option<Minor>,
) -> Result<Plan, PlanError> {
    let current = skew::oldest_apiserver(inv)
        .or_else(|| {
            inv.kubeadm
                .as_ref()
                .and_then(|k| k.kubernetes_version.as_deref())
                .and_then(|v| version::parse(v).ok())
        })
        .ok_or_else(|| {
            PlanError::new(
                "cannot plan the upgrade: the control-plane version is unknown \
                 (no readable kube-apiserver image, /version or kubeadm-config)",
            )
        })?;
    let from = current.minor();
    let newest = cal.newest().ok_or_else(|| {
        PlanError::new("cannot plan the upgrade: the release data lists no releases")
    })?;
    let mut notes = Vec::new();

    let to = match target {
        Some(t) => t,
        None if from > newest.minor => {
            notes.push(format!(
                "the control plane ({from}) is newer than the release data (newest {}); pass --releases FILE with current data",
                newest.minor
            ));
            from
        }
        None => newest.minor,
    };
    if to < from {
        return Err(PlanError::new(format!(
            "downgrades are not supported: the control plane is at {from}, the target {to} is older"
        )));
    }
    if to > newest.minor && to > from {
        return Err(PlanError::new(format!(
            "target {to} is beyond the release data (newest known {}); pass --releases FILE with newer data",
            newest.minor
        )));
    }

    let mut mid_upgrade = false;
    if let Some(api) = skew::apiservers(inv) {
        if api.newest.minor() != from {
            mid_upgrade = true;
            notes.push(format!(
                "the kube-apiservers are mid-upgrade ({from} and {}): finish the hop to {} first",
                api.newest.minor(),
                api.newest.minor()
            ));
        }
    }
    if setup.kind.is_managed() {
        notes.push(format!(
            "{} manages the control plane: it picks the patch release; commands take the minor ({}), and version strings below are upstream's newest patch for reference",
            setup.kind.label(),
            to
        ));
    }

    let mut hops = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    let mut hop_from = from;
    while hop_from < to {
        let hop_to = hop_from.next();
        let rel = cal.get(hop_to).ok_or_else(|| {
            PlanError::new(format!(
                "the release data has no entry for {hop_to} (needed for the hop {hop_from} -> {hop_to}); pass --releases FILE"
            ))
        })?;
        let kubelets_first: Vec<String> = skew::kubelets_outside_after(inv, hop_to)
            .into_iter()
            .filter(|n| !listed.contains(n))
            .collect();
        listed.extend(kubelets_first.iter().cloned());
        let from_version = if hop_from == from {
            cal.get(from)
                .map(|r| r.latest_patch.clone())
                .unwrap_or_else(|| current.core())
        } else {
            cal.get(hop_from)
                .map(|r| r.latest_patch.clone())
                .unwrap_or_else(|| format!("{hop_from}.0"))
        };
        let mut steps = Vec::new();
        if !kubelets_first.is_empty() {
            // Name the node: a bare drain-next would pick a control-plane node first.
            let first = &kubelets_first[0];
            let how = if kubelets_first.len() == 1 {
                format!("kubectl upgrade drain-next {first} --to v{from_version}")
            } else {
                format!("kubectl upgrade drain-next NODE --to v{from_version} for each of them, starting with `kubectl upgrade drain-next {first} --to v{from_version}`")
            };
            steps.push(format!(
                "Before this hop, upgrade the kubelets on {} to {hop_from} (they would be outside the skew window at {hop_to}), one node at a time: {how}",
                names(&kubelets_first)
            ));
        }
        steps.extend(steps_for(setup.kind, hop_from, hop_to, &rel.latest_patch));
        hops.push(Hop {
            from: hop_from,
            to: hop_to,
            to_version: rel.latest_patch.clone(),
            steps,
            kubelets_first,
        });
        hop_from = hop_to;
    }

    if hops.is_empty() {
        notes.push(format!(
            "the control plane is already at {to}; no minor upgrade to do"
        ));
        let lagging: Vec<String> = inv
            .nodes
            .iter()
            .filter(|n| version::parse(&n.kubelet_version).is_ok_and(|k| k.minor() < from))
            .map(|n| n.name.clone())
            .collect();
        if !lagging.is_empty() {
            let v = cal
                .get(from)
                .map(|r| r.latest_patch.clone())
                .unwrap_or_else(|| current.core());
            notes.push(format!(
                "kubelets older than {from} on {}: `kubectl upgrade drain-next --to v{v}` takes them one node at a time",
                names(&lagging)
            ));
        }
    } else if !setup.kind.is_managed() && !mid_upgrade {
        // Mid-upgrade the advice is to finish the hop (said above), not to patch the old minor.
        if let Some(rel) = cal.get(from) {
            if let Ok(latest) = version::parse(&rel.latest_patch) {
                if current.patch < latest.patch {
                    notes.push(format!(
                        "the control plane runs {}; the skew policy recommends moving to the newest {from} patch ({}) before the first hop",
                        current.core(),
                        latest.core()
                    ));
                }
            }
        }
    }

    Ok(Plan {
        from,
        to,
        setup: setup.kind,
        hops,
        notes,
    })
}

/// `a, b, c, d, e, ... (12 nodes)` / `a, b (2 nodes)` / `a (1 node)`.
fn names(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(MAX_NAMES).map(String::as_str).collect();
    let more = if list.len() > MAX_NAMES { ", ..." } else { "" };
    let count = if list.len() == 1 {
        "1 node".to_string()
    } else {
        format!("{} nodes", list.len())
    };
    format!("{}{more} ({count})", shown.join(", "))
}

/// The commands of one hop `from -> to` (`z` = newest patch of `to`) for a setup kind.
fn steps_for(kind: SetupKind, from: Minor, to: Minor, z: &str) -> Vec<String> {
    let verify = "Verify: kubectl upgrade check".to_string();
    match kind {
        SetupKind::Kubeadm => vec![
            format!(
                "On every node, switch the package repository to v{to}: https://pkgs.k8s.io/core:/stable:/v{to}/deb/ in /etc/apt/sources.list.d/kubernetes.list (rpm: https://pkgs.k8s.io/core:/stable:/v{to}/rpm/ in /etc/yum.repos.d/kubernetes.repo)"
            ),
            format!(
                "On the first control-plane node, upgrade kubeadm to {z}: sudo apt-mark unhold kubeadm && sudo apt-get update && sudo apt-get install -y kubeadm='{z}-*' && sudo apt-mark hold kubeadm (yum: sudo yum install -y kubeadm-'{z}-*' --disableexcludes=kubernetes); check: kubeadm version"
            ),
            format!("On the first control-plane node: sudo kubeadm upgrade plan v{z}"),
            format!("On the first control-plane node: sudo kubeadm upgrade apply v{z}"),
            format!(
                "On each other control-plane node: upgrade kubeadm to {z} the same way, then: sudo kubeadm upgrade node"
            ),
            format!(
                "Control-plane kubelets, one node at a time: kubectl upgrade drain-next --to v{z} (control-plane nodes come first); on that node: sudo apt-mark unhold kubelet kubectl && sudo apt-get install -y kubelet='{z}-*' kubectl='{z}-*' && sudo apt-mark hold kubelet kubectl && sudo systemctl daemon-reload && sudo systemctl restart kubelet; then: kubectl upgrade uncordon NODE"
            ),
            format!(
                "Workers, one node at a time: kubectl upgrade drain-next --to v{z}; on that node: upgrade kubeadm to {z}, sudo kubeadm upgrade node, upgrade kubelet and kubectl to {z} as above, sudo systemctl daemon-reload && sudo systemctl restart kubelet; then: kubectl upgrade uncordon NODE; repeat until drain-next has no node left"
            ),
            verify,
        ],
        SetupKind::Eks => vec![
            format!(
                "Upgrade the control plane: eksctl upgrade cluster --name CLUSTER --version {to} --approve (or: aws eks update-cluster-version --name CLUSTER --kubernetes-version {to}, then aws eks wait cluster-active --name CLUSTER)"
            ),
            format!(
                "Upgrade each managed node group (rolling, PDB-aware): eksctl upgrade nodegroup --cluster CLUSTER --name NODEGROUP --kubernetes-version {to} (or: aws eks update-nodegroup-version --cluster-name CLUSTER --nodegroup-name NODEGROUP --kubernetes-version {to}); self-managed nodes: launch {to} nodes, then kubectl upgrade drain-next --to v{to}.0 for each old node"
            ),
            format!(
                "Update the add-ons for {to}: eksctl utils update-kube-proxy --cluster CLUSTER --approve; eksctl utils update-coredns --cluster CLUSTER --approve; eksctl utils update-aws-node --cluster CLUSTER --approve (EKS managed add-ons: aws eks update-addon --cluster-name CLUSTER --addon-name kube-proxy|coredns|vpc-cni --addon-version VERSION, versions from aws eks describe-addon-versions --kubernetes-version {to})"
            ),
            verify,
        ],
        SetupKind::Gke => vec![
            format!(
                "Upgrade the control plane: gcloud container clusters upgrade CLUSTER --master --cluster-version {to} --location LOCATION (available versions: gcloud container get-server-config --location LOCATION)"
            ),
            format!(
                "Upgrade each node pool (surge upgrade, PDB-aware): gcloud container clusters upgrade CLUSTER --node-pool POOL --cluster-version {to} --location LOCATION"
            ),
            verify,
        ],
        SetupKind::Aks => vec![
            format!(
                "List the {to} patches AKS offers: az aks get-upgrades --resource-group RG --name CLUSTER --output table"
            ),
            format!(
                "Upgrade the control plane: az aks upgrade --resource-group RG --name CLUSTER --control-plane-only --kubernetes-version {to}.PATCH"
            ),
            format!(
                "Upgrade each node pool (surge, PDB-aware): az aks nodepool upgrade --resource-group RG --cluster-name CLUSTER --name POOL --kubernetes-version {to}.PATCH"
            ),
            verify,
        ],
        SetupKind::K3s => vec![
            format!(
                "Servers first, one at a time: re-run the installer with the options used at install: curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v{z}+k3s1 sh -s - server (or INSTALL_K3S_CHANNEL=v{to} for the newest k3s {to} release)"
            ),
            format!(
                "Then agents, one at a time: kubectl upgrade drain-next --to v{z}; on that node: curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v{z}+k3s1 K3S_URL=https://SERVER:6443 K3S_TOKEN=TOKEN sh -; then: kubectl upgrade uncordon NODE"
            ),
            format!(
                "Or automate it with system-upgrade-controller: a Plan (upgrade.cattle.io/v1) with version v{z}+k3s1 for servers (nodeSelector node-role.kubernetes.io/control-plane) and one for agents with drain and a prepare step waiting for the server Plan"
            ),
            verify,
        ],
        SetupKind::Rke2 => vec![
            format!(
                "Servers first, one at a time: curl -sfL https://get.rke2.io | INSTALL_RKE2_VERSION=v{z}+rke2r1 sh - && sudo systemctl restart rke2-server (or INSTALL_RKE2_CHANNEL=v{to} for the newest RKE2 {to} release)"
            ),
            format!(
                "Then agents, one at a time: kubectl upgrade drain-next --to v{z}; on that node: curl -sfL https://get.rke2.io | INSTALL_RKE2_TYPE=agent INSTALL_RKE2_VERSION=v{z}+rke2r1 sh - && sudo systemctl restart rke2-agent; then: kubectl upgrade uncordon NODE"
            ),
            format!(
                "Or automate it with system-upgrade-controller: a Plan (upgrade.cattle.io/v1) with version v{z}+rke2r1 for servers (nodeSelector node-role.kubernetes.io/control-plane) and one for agents with drain and a prepare step waiting for the server Plan"
            ),
            verify,
        ],
        SetupKind::Unknown => vec![
            format!(
                "Upgrade every kube-apiserver from {from} to v{z}, one instance at a time (never skip a minor)"
            ),
            format!(
                "Then kube-controller-manager, kube-scheduler and cloud-controller-manager to v{z} (after all apiservers are at {to})"
            ),
            format!(
                "Then kubelets, one node at a time with a drain: kubectl upgrade drain-next --to v{z}; install kubelet {z} on that node and restart it; then: kubectl upgrade uncordon NODE"
            ),
            format!(
                "Then kube-proxy to v{z}, e.g. kubectl -n kube-system set image daemonset/kube-proxy kube-proxy=registry.k8s.io/kube-proxy:v{z}"
            ),
            verify,
        ],
    }
}

/// Findings for the Path section: the route, and a warning per hop that needs kubelets
/// upgraded first.
pub fn path_findings(plan: &Plan) -> Vec<Finding> {
    let mut out = Vec::new();
    let order = format!(
        "kube-apiserver: upgrade one minor at a time, never skip; then controller-manager/scheduler, kubelets (drain first), kube-proxy ({POLICY})"
    );
    if plan.hops.is_empty() {
        out.push(Finding::new(
            Section::Path,
            Severity::Ok,
            format!("path to {}", plan.to),
            format!("the control plane is at {}; nothing to upgrade", plan.to),
            order.clone(),
        ));
    } else {
        let route: Vec<String> = std::iter::once(plan.from.to_string())
            .chain(plan.hops.iter().map(|h| h.to.to_string()))
            .collect();
        let n = plan.hops.len();
        out.push(Finding::new(
            Section::Path,
            Severity::Info,
            format!("path {} -> {}", plan.from, plan.to),
            format!(
                "{} ({n} hop{}, one minor at a time; {} steps)",
                route.join(" -> "),
                if n == 1 { "" } else { "s" },
                plan.setup_label()
            ),
            order,
        ));
    }
    for h in &plan.hops {
        if h.kubelets_first.is_empty() {
            continue;
        }
        out.push(Finding::new(
            Section::Path,
            Severity::Warn,
            format!("hop {} -> {}", h.from, h.to),
            format!(
                "upgrade these kubelets before hop {} -> {}: {}",
                h.from,
                h.to,
                names(&h.kubelets_first)
            ),
            format!(
                "kubelet: never newer than kube-apiserver; at most {} minors older at {} ({POLICY})",
                skew::kubelet_max_skew(h.to),
                h.to
            ),
        ));
    }
    out
}

impl Plan {
    fn setup_label(&self) -> &'static str {
        self.setup.label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::node::NodeFacts;
    use crate::facts::pod::Component;
    use crate::policy::releases::builtin;

    fn inv(api: &str, kubelets: &[(&str, &str)]) -> Inventory {
        Inventory {
            apiservers: vec![Component {
                namespace: "kube-system".into(),
                pod: "kube-apiserver-cp1".into(),
                node: Some("cp1".into()),
                image: format!("registry.k8s.io/kube-apiserver:{api}"),
            }],
            nodes: kubelets
                .iter()
                .map(|(n, v)| NodeFacts {
                    name: n.to_string(),
                    kubelet_version: v.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn setup(kind: SetupKind) -> Setup {
        Setup {
            kind,
            evidence: vec![],
        }
    }

    fn m(s: &str) -> Minor {
        s.parse().unwrap()
    }

    #[test]
    fn three_hops_with_versions_and_kubelets_first() {
        let cal = builtin();
        let i = inv(
            "v1.30.2",
            &[
                ("cp1", "v1.30.2"),
                ("w1", "v1.28.9"),
                ("w2", "v1.27.3"),
                ("w3", "v1.30.2"),
            ],
        );
        let p = plan(&i, &cal, &setup(SetupKind::Kubeadm), Some(m("1.33"))).unwrap();
        assert_eq!((p.from, p.to), (m("1.30"), m("1.33")));
        let got: Vec<(String, String, &str, Vec<String>)> = p
            .hops
            .iter()
            .map(|h| {
                (
                    h.from.to_string(),
                    h.to.to_string(),
                    h.to_version.as_str(),
                    h.kubelets_first.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "1.30".into(),
                    "1.31".into(),
                    "1.31.14",
                    vec!["w2".to_string()]
                ),
                (
                    "1.31".into(),
                    "1.32".into(),
                    "1.32.13",
                    vec!["w1".to_string()]
                ),
                // 1.30 kubelets are 3 behind 1.33: still inside the window.
                ("1.32".into(), "1.33".into(), "1.33.13", vec![]),
            ]
        );
        // The first step of a hop with lagging kubelets says so.
        assert!(p.hops[0].steps[0]
            .starts_with("Before this hop, upgrade the kubelets on w2 (1 node) to 1.30"));
        assert!(
            p.hops[0].steps[0].contains("kubectl upgrade drain-next w2 --to v1.30.14"),
            "the lagging node is named, else drain-next picks a control-plane node first: {}",
            p.hops[0].steps[0]
        );
        // Newest patch of 1.30 is 1.30.14: recommend it first.
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("newest 1.30 patch (1.30.14)")));

        let fs = path_findings(&p);
        assert_eq!(fs[0].severity, Severity::Info);
        assert!(
            fs[0]
                .message
                .starts_with("1.30 -> 1.31 -> 1.32 -> 1.33 (3 hops"),
            "{}",
            fs[0].message
        );
        let warns: Vec<_> = fs.iter().filter(|f| f.severity == Severity::Warn).collect();
        assert_eq!(warns.len(), 2);
        assert_eq!(
            warns[0].message,
            "upgrade these kubelets before hop 1.30 -> 1.31: w2 (1 node)"
        );
        assert!(warns[0].rule.contains(POLICY));
    }

    #[test]
    fn default_target_is_newest_and_single_hop_boundary() {
        let cal = builtin();
        let p = plan(&inv("v1.36.1", &[]), &cal, &setup(SetupKind::Unknown), None).unwrap();
        assert_eq!(p.to, m("1.37"));
        assert_eq!(p.hops.len(), 1);
        assert_eq!(p.hops[0].to_version, "1.37.1");
        // 1.27 -> 1.28: kubelets 1.25 are fine at 1.28 (3 allowed), 1.24 are not.
        let p = plan(
            &inv("v1.27.16", &[("a", "v1.25.0"), ("b", "v1.24.0")]),
            &cal,
            &setup(SetupKind::Kubeadm),
            Some(m("1.28")),
        )
        .unwrap();
        assert_eq!(p.hops[0].kubelets_first, ["b"]);
    }

    #[test]
    fn errors_and_no_op() {
        let cal = builtin();
        let i = inv("v1.31.4", &[("w1", "v1.30.0")]);
        let s = setup(SetupKind::Kubeadm);
        let err = plan(&i, &cal, &s, Some(m("1.30"))).unwrap_err();
        assert!(err.0.contains("downgrades are not supported"), "{}", err.0);
        let err = plan(&i, &cal, &s, Some(m("1.40"))).unwrap_err();
        assert!(err.0.contains("newest known 1.37"), "{}", err.0);
        let err = plan(&Inventory::default(), &cal, &s, None).unwrap_err();
        assert!(err.0.contains("control-plane version is unknown"));

        let p = plan(&i, &cal, &s, Some(m("1.31"))).unwrap();
        assert!(p.hops.is_empty());
        assert!(p.notes.iter().any(|n| n.contains("already at 1.31")));
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("w1 (1 node)") && n.contains("drain-next --to v1.31.14")));
        let fs = path_findings(&p);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].severity, Severity::Ok);

        // A calendar gap is a clear error.
        let mut gap = builtin();
        gap.releases.retain(|r| r.minor != m("1.32"));
        let err = plan(&i, &gap, &s, Some(m("1.33"))).unwrap_err();
        assert!(err.0.contains("no entry for 1.32"), "{}", err.0);

        // Running newer than the data: no hops, a note, no error.
        let p = plan(&inv("v1.38.0", &[]), &cal, &s, None).unwrap();
        assert!(p.hops.is_empty());
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("newer than the release data")));
    }

    #[test]
    fn steps_per_setup_kind() {
        let cal = builtin();
        let i = inv("v1.30.14", &[]);
        let table: [(SetupKind, &[&str]); 7] = [
            (
                SetupKind::Kubeadm,
                &[
                    "pkgs.k8s.io/core:/stable:/v1.31/deb/",
                    "kubeadm='1.31.14-*'",
                    "sudo kubeadm upgrade plan v1.31.14",
                    "sudo kubeadm upgrade apply v1.31.14",
                    "sudo kubeadm upgrade node",
                    "kubectl upgrade drain-next --to v1.31.14",
                    "kubectl upgrade uncordon NODE",
                    "systemctl restart kubelet",
                ],
            ),
            (
                SetupKind::Eks,
                &[
                    "eksctl upgrade cluster --name CLUSTER --version 1.31 --approve",
                    "aws eks update-cluster-version --name CLUSTER --kubernetes-version 1.31",
                    "eksctl upgrade nodegroup --cluster CLUSTER --name NODEGROUP --kubernetes-version 1.31",
                    "eksctl utils update-kube-proxy",
                    "update-coredns",
                    "update-aws-node",
                ],
            ),
            (
                SetupKind::Gke,
                &[
                    "gcloud container clusters upgrade CLUSTER --master --cluster-version 1.31",
                    "--node-pool POOL --cluster-version 1.31",
                ],
            ),
            (
                SetupKind::Aks,
                &[
                    "az aks upgrade --resource-group RG --name CLUSTER --control-plane-only --kubernetes-version 1.31.PATCH",
                    "az aks nodepool upgrade --resource-group RG --cluster-name CLUSTER --name POOL --kubernetes-version 1.31.PATCH",
                ],
            ),
            (SetupKind::K3s, &["INSTALL_K3S_VERSION=v1.31.14+k3s1", "system-upgrade-controller", "Servers first"]),
            (SetupKind::Rke2, &["INSTALL_RKE2_VERSION=v1.31.14+rke2r1", "rke2-server", "rke2-agent"]),
            (
                SetupKind::Unknown,
                &["Upgrade every kube-apiserver", "kube-scheduler", "drain-next --to v1.31.14", "kube-proxy:v1.31.14"],
            ),
        ];
        for (kind, wants) in table {
            let p = plan(&i, &cal, &setup(kind), Some(m("1.31"))).unwrap();
            assert_eq!(p.setup, kind);
            let text = p.hops[0].steps.join("\n");
            for w in wants {
                assert!(text.contains(w), "{kind:?}: want {w:?} in\n{text}");
            }
            assert!(p.hops[0]
                .steps
                .last()
                .unwrap()
                .contains("kubectl upgrade check"));
            assert_eq!(
                kind.is_managed(),
                p.notes
                    .iter()
                    .any(|n| n.contains("manages the control plane"))
            );
        }
        // Order in the kubeadm hop: repo, kubeadm, plan, apply, other CPs, CP kubelets, workers.
        let p = plan(&i, &cal, &setup(SetupKind::Kubeadm), Some(m("1.31"))).unwrap();
        let pos = |s: &str| p.hops[0].steps.iter().position(|x| x.contains(s)).unwrap();
        assert!(pos("package repository") < pos("upgrade kubeadm to"));
        assert!(pos("upgrade plan") < pos("upgrade apply"));
        assert!(pos("upgrade apply") < pos("sudo kubeadm upgrade node"));
        assert!(pos("Control-plane kubelets") < pos("Workers"));
    }

    #[test]
    fn plan_serializes_with_stable_names() {
        let cal = builtin();
        let p = plan(
            &inv("v1.35.0", &[]),
            &cal,
            &setup(SetupKind::Kubeadm),
            Some(m("1.36")),
        )
        .unwrap();
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["from"], "1.35");
        assert_eq!(j["to"], "1.36");
        assert_eq!(j["setup"], "kubeadm");
        assert_eq!(j["hops"][0]["toVersion"], "1.36.4");
        assert!(j["hops"][0]["kubeletsFirst"].as_array().unwrap().is_empty());
    }
}
