//! The upgrade path: one minor at a time from the control plane's minor to the target, with
//! the commands for this kind of setup at each hop and the kubelets that must be upgraded
//! before a hop so they stay inside the skew window. Pure.

use crate::facts::inventory::Inventory;
use crate::facts::version::{self, Minor};
use crate::findings::{counted, Finding, Section, Severity};
use crate::policy::releases::Calendar;
use crate::policy::setup::{Setup, SetupKind};
use crate::policy::skew::{self, POLICY};
use serde::Serialize;

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

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The request itself is wrong (a `--to` older than the control plane): a usage error.
    #[error("{0}")]
    Usage(String),
    /// The inventory or the release data cannot answer (unknown control plane, a target
    /// beyond the data): said as a finding, the rest of the report stands.
    #[error("{0}")]
    Unanswerable(String),
}

impl PlanError {
    pub fn message(&self) -> &str {
        match self {
            PlanError::Usage(m) | PlanError::Unanswerable(m) => m,
        }
    }
}

/// The control plane's version for planning: the oldest kube-apiserver, else kubeadm-config's
/// `kubernetesVersion`.
pub fn current_version(inv: &Inventory) -> Option<version::Version> {
    skew::oldest_apiserver(inv).or_else(|| {
        inv.kubeadm
            .as_ref()
            .and_then(|k| k.kubernetes_version.as_deref())
            .and_then(|v| version::parse(v).ok())
    })
}

/// Plans the path from the oldest kube-apiserver's minor to `target` (default: the newest
/// minor in the calendar).
///
/// Hops into minors the calendar does not list (a cluster older than the data) are planned
/// with `PATCH` in place of the patch number and a note. The kubelets are simulated hop by
/// hop: a hop's "kubelets first" is computed from the versions the earlier hops' steps leave
/// (every hop's steps move every kubelet to that hop's minor).
pub fn plan(
    inv: &Inventory,
    cal: &Calendar,
    setup: &Setup,
    target: Option<Minor>,
) -> Result<Plan, PlanError> {
    plan_pinned(inv, cal, setup, target, None)
}

/// [`plan`], with the last hop going to `pinned` exactly (`--to v1.34.3` as given, not the
/// newest 1.34 patch) when it names that hop's minor.
pub fn plan_pinned(
    inv: &Inventory,
    cal: &Calendar,
    setup: &Setup,
    target: Option<Minor>,
    pinned: Option<&version::Version>,
) -> Result<Plan, PlanError> {
    let current = current_version(inv).ok_or_else(|| {
        PlanError::Unanswerable(
            "cannot plan the upgrade: the control-plane version is unknown (no readable kube-apiserver image, /version or kubeadm-config); pass --apiserver-version vX.Y.Z with a dump, or add `kubectl version -o json` output to it".into(),
        )
    })?;
    let from = current.minor();
    let newest = cal.newest().ok_or_else(|| {
        PlanError::Unanswerable(
            "cannot plan the upgrade: the release data lists no releases".into(),
        )
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
        return Err(PlanError::Usage(format!(
            "downgrades are not supported: the control plane is at {from}, the target {to} is older"
        )));
    }
    if to > newest.minor && to > from {
        return Err(PlanError::Unanswerable(format!(
            "no path to {to}: it is beyond the release data (newest known {}); pass --releases FILE with newer data, or --to {} or older",
            newest.minor, newest.minor
        )));
    }

    let mid_upgrade = opening_notes(inv, setup.kind, from, to, &mut notes);
    let shape = Shape::of(inv, pinned);
    let (hops, unlisted) = hops(inv, cal, setup.kind, &shape, &current, from, to);
    notes.extend(pinned_note(cal, pinned, from, to));
    if !unlisted.is_empty() {
        let list: Vec<String> = unlisted.iter().map(Minor::to_string).collect();
        notes.push(format!(
            "the release data has no entry for {} (it starts at {}): PATCH in those hops' commands stands for that minor's newest patch, listed at https://github.com/kubernetes/kubernetes/releases; every one of those minors is long out of support",
            list.join(", "),
            cal.oldest().map(|r| r.minor.to_string()).unwrap_or_default()
        ));
    }
    if matches!(setup.kind, SetupKind::Kind | SetupKind::K3d) && hops.len() > 1 {
        notes.push(format!(
            "{} clusters are recreated, not upgraded in place: a new cluster can start at {to} directly; the hops show the one-minor-at-a-time path only for reference",
            setup.kind.label()
        ));
    }

    closing_notes(
        inv,
        cal,
        setup.kind,
        &current,
        &hops,
        mid_upgrade,
        &mut notes,
    );

    Ok(Plan {
        from,
        to,
        setup: setup.kind,
        hops,
        notes,
    })
}

/// Notes before the hops: an HA control plane mid-upgrade, a provider that picks patches.
/// Returns whether the apiservers are mid-upgrade.
fn opening_notes(
    inv: &Inventory,
    kind: SetupKind,
    from: Minor,
    to: Minor,
    notes: &mut Vec<String>,
) -> bool {
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
    if kind.is_managed() {
        notes.push(format!(
            "{} manages the control plane: it picks the patch release; commands take the minor ({}), and version strings below are upstream's newest patch for reference",
            kind.label(),
            to
        ));
    }
    mid_upgrade
}

/// Says so when `--to` pinned a patch other than the newest one the release data knows.
fn pinned_note(
    cal: &Calendar,
    pinned: Option<&version::Version>,
    from: Minor,
    to: Minor,
) -> Option<String> {
    let p = pinned.filter(|p| p.minor() == to && to > from)?;
    let rel = cal.get(to).filter(|r| r.latest_patch != p.release())?;
    let newest = version::parse(&rel.latest_patch).ok();
    if p.pre.is_some() {
        return Some(format!(
            "the last hop goes to the pre-release {} as asked (--to): pre-releases are for testing, not production clusters; the newest {to} release in the release data is {}",
            p.release(),
            rel.latest_patch
        ));
    }
    if newest.is_some_and(|n| p.patch > n.patch) {
        return Some(format!(
            "the last hop goes to {} as asked (--to), but that is not a known release: the newest {to} patch in the release data (as of {}) is {}; check that {} exists (https://kubernetes.io/releases), or pass --releases FILE with newer data",
            p.release(),
            cal.as_of,
            rel.latest_patch,
            p.release()
        ));
    }
    Some(format!(
        "the last hop goes to {} as asked (--to); the newest {to} patch in the release data is {}",
        p.release(),
        rel.latest_patch
    ))
}

/// The hops `from -> to`, each with its steps and the kubelets to upgrade first, simulating
/// the kubelets hop by hop; and the minors the calendar does not list.
fn hops(
    inv: &Inventory,
    cal: &Calendar,
    kind: SetupKind,
    shape: &Shape,
    current: &version::Version,
    from: Minor,
    to: Minor,
) -> (Vec<Hop>, Vec<Minor>) {
    // Simulated kubelet minors, node by node (None: unreadable, left to the skew findings).
    let mut kubelets: Vec<(String, Option<Minor>)> = inv
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                version::parse(&n.kubelet_version).ok().map(|v| v.minor()),
            )
        })
        .collect();
    let mut hops = Vec::new();
    let mut unlisted: Vec<Minor> = Vec::new();
    let mut hop_from = from;
    while hop_from < to {
        let hop_to = hop_from.next();
        let pinned = shape.pinned.as_ref().filter(|p| p.minor() == hop_to);
        let z = match (cal.get(hop_to), pinned) {
            (_, Some(p)) => p.release(),
            (Some(rel), None) => rel.latest_patch.clone(),
            (None, None) => {
                unlisted.push(hop_to);
                format!("{hop_to}.PATCH")
            }
        };
        let kubelets_first: Vec<String> = kubelets
            .iter()
            .filter(|(_, k)| k.is_some_and(|k| skew::kubelet_too_old(hop_to, k)))
            .map(|(n, _)| n.clone())
            .collect();
        let from_version = if hop_from == from {
            cal.get(from)
                .map(|r| r.latest_patch.clone())
                .unwrap_or_else(|| current.core())
        } else {
            cal.get(hop_from)
                .map(|r| r.latest_patch.clone())
                .unwrap_or_else(|| format!("{hop_from}.PATCH"))
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
                "Before this hop, upgrade {} to {hop_from} (they would be outside the skew window at {hop_to}), one node at a time: {how}",
                counted("the kubelets", "node", &kubelets_first)
            ));
        }
        steps.extend(steps_for(kind, shape, hop_from, hop_to, &z));
        // Every setup's steps leave every kubelet at the hop's minor.
        for (_, k) in kubelets.iter_mut() {
            if let Some(k) = k {
                if *k < hop_to {
                    *k = hop_to;
                }
            }
        }
        hops.push(Hop {
            from: hop_from,
            to: hop_to,
            to_version: z,
            steps,
            kubelets_first,
        });
        hop_from = hop_to;
    }
    (hops, unlisted)
}

/// Notes after the hops: nothing to do (and lagging kubelets), or the patch to move to first.
fn closing_notes(
    inv: &Inventory,
    cal: &Calendar,
    kind: SetupKind,
    current: &version::Version,
    hops: &[Hop],
    mid_upgrade: bool,
    notes: &mut Vec<String>,
) {
    let from = current.minor();
    let to = hops.last().map_or(from, |h| h.to);
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
                "{}: `kubectl upgrade drain-next --to v{v}` takes them one node at a time",
                counted(&format!("kubelets older than {from}"), "node", &lagging)
            ));
        }
    } else if !kind.is_managed() && !mid_upgrade {
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
}

/// What about the cluster's shape changes the steps.
#[derive(Debug, Clone, Default)]
struct Shape {
    /// The only node's name, on a single-node cluster: nothing can be drained onto another.
    single_node: Option<String>,
    /// The exact version the last hop goes to (`--to` with a patch).
    pinned: Option<version::Version>,
}

impl Shape {
    fn of(inv: &Inventory, pinned: Option<&version::Version>) -> Shape {
        Shape {
            single_node: match inv.nodes.as_slice() {
                [only] => Some(only.name.clone()),
                _ => None,
            },
            pinned: pinned.cloned(),
        }
    }
}

/// pkgs.k8s.io serves packages from v1.24 on; the legacy Google-hosted repositories
/// (apt.kubernetes.io, yum.kubernetes.io) were frozen on 2023-09-13 and removed on
/// 2024-03-04 (kubernetes.io/blog/2023/08/31/legacy-package-repository-deprecation).
const PKGS_K8S_IO_FROM: Minor = Minor::new(1, 24);

/// The package-repository step of a kubeadm hop to `to`.
fn repository_step(to: Minor, z: &str) -> String {
    if to >= PKGS_K8S_IO_FROM {
        format!(
            "On every node, switch the package repository to v{to}: https://pkgs.k8s.io/core:/stable:/v{to}/deb/ in /etc/apt/sources.list.d/kubernetes.list (rpm: https://pkgs.k8s.io/core:/stable:/v{to}/rpm/ in /etc/yum.repos.d/kubernetes.repo)"
        )
    } else {
        format!(
            "Packages for {to}: pkgs.k8s.io serves only v1.24 and newer, and the legacy apt.kubernetes.io / yum.kubernetes.io repositories were removed on 2024-03-04 (kubernetes.io/blog/2023/08/31/legacy-package-repository-deprecation): use a local mirror that still holds {z}, or install the binaries (kubeadm, kubelet, kubectl) from https://dl.k8s.io/release/v{z}/bin/linux/ARCH/ by hand"
        )
    }
}

/// The commands of one hop `from -> to` (`z` = newest patch of `to`) for a setup kind.
fn steps_for(kind: SetupKind, shape: &Shape, from: Minor, to: Minor, z: &str) -> Vec<String> {
    match kind {
        SetupKind::Kubeadm => kubeadm_steps(shape, to, z),
        SetupKind::Kind => vec![
            format!(
                "kind clusters are not upgraded in place: create a new cluster from the node image for {z} (kind create cluster --name NEW --image kindest/node:v{z}; the kind release notes list the images built for each kind version), move the workloads, then kind delete cluster --name OLD"
            ),
            verify(),
        ],
        SetupKind::K3d => vec![
            format!(
                "k3d clusters are not upgraded in place: create a new cluster with k3s {z} (k3d cluster create NEW --image rancher/k3s:v{z}-k3s1), move the workloads, then k3d cluster delete OLD"
            ),
            verify(),
        ],
        SetupKind::Minikube => vec![
            format!(
                "Upgrade in place, one minor at a time: minikube start --profile PROFILE --kubernetes-version=v{z} (minikube upgrades the running cluster; it refuses downgrades)"
            ),
            verify(),
        ],
        SetupKind::Microk8s => vec![
            rollout(shape, z,
                "Refresh the MicroK8s snap (control-plane nodes first)",
                &format!("sudo snap refresh microk8s --channel={to}/stable"),
            ),
            verify(),
        ],
        SetupKind::Openshift => openshift_steps(from, to),
        SetupKind::Talos => vec![
            format!(
                "Upgrade Kubernetes with talosctl (control plane, then kubelets and kube-proxy, node by node): talosctl --nodes CONTROL_PLANE_IP upgrade-k8s --to {z} (try --dry-run first); check that your Talos release supports Kubernetes {to}"
            ),
            verify(),
        ],
        SetupKind::Eks => eks_steps(to),
        SetupKind::Gke => vec![
            format!(
                "Upgrade the control plane: gcloud container clusters upgrade CLUSTER --master --cluster-version {to} --location LOCATION (available versions: gcloud container get-server-config --location LOCATION)"
            ),
            format!(
                "Upgrade each node pool (surge upgrade, PDB-aware): gcloud container clusters upgrade CLUSTER --node-pool POOL --cluster-version {to} --location LOCATION"
            ),
            verify(),
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
            verify(),
        ],
        SetupKind::Doks => vec![
            format!(
                "List the {to} versions DigitalOcean offers: doctl kubernetes options versions (slugs like {to}.PATCH-do.N)"
            ),
            format!(
                "Upgrade the cluster (control plane, then node pools by surge replacement, PDB-aware with a timeout): doctl kubernetes cluster upgrade CLUSTER --version SLUG"
            ),
            verify(),
        ],
        SetupKind::K3s => k3s_steps(shape, to, z),
        SetupKind::Rke2 => rke2_steps(shape, to, z),
        SetupKind::Unknown => by_hand_steps(shape, from, to, z),
    }
}

fn verify() -> String {
    "Verify: kubectl upgrade check".to_string()
}

/// Roll `on_node` over the nodes: drain-next one at a time, or in place on a single node
/// (there is nowhere to drain to: cordon only, and its workloads restart).
fn rollout(shape: &Shape, z: &str, what: &str, on_node: &str) -> String {
    match &shape.single_node {
        Some(node) => format!(
            "{what} on the only node {node}, in place (a drain would leave its pods Pending: there is no other node; expect its workloads to restart): kubectl upgrade cordon {node}; {on_node}; then: kubectl upgrade uncordon {node}"
        ),
        None => format!(
            "{what}, one node at a time: kubectl upgrade drain-next --to v{z}; on that node: {on_node}; then: kubectl upgrade uncordon NODE; repeat until drain-next has no node left"
        ),
    }
}

/// kubeadm: packages from the minor's repository, `kubeadm upgrade apply` on the first
/// control-plane node, `upgrade node` on the others, then kubelets node by node.
fn kubeadm_steps(shape: &Shape, to: Minor, z: &str) -> Vec<String> {
    let kubelet = format!("sudo apt-mark unhold kubelet kubectl && sudo apt-get install -y kubelet='{z}-*' kubectl='{z}-*' && sudo apt-mark hold kubelet kubectl && sudo systemctl daemon-reload && sudo systemctl restart kubelet");
    let mut steps = vec![
            repository_step(to, z),
            format!(
                "On the first control-plane node, upgrade kubeadm to {z}: sudo apt-mark unhold kubeadm && sudo apt-get update && sudo apt-get install -y kubeadm='{z}-*' && sudo apt-mark hold kubeadm (yum: sudo yum install -y kubeadm-'{z}-*' --disableexcludes=kubernetes); check: kubeadm version"
            ),
            format!("On the first control-plane node: sudo kubeadm upgrade plan v{z}"),
            format!("On the first control-plane node: sudo kubeadm upgrade apply v{z}"),
        ];
    if shape.single_node.is_some() {
        steps.push(rollout(shape, z, "Upgrade kubelet and kubectl", &kubelet));
    } else {
        steps.push(format!(
                "On each other control-plane node: upgrade kubeadm to {z} the same way, then: sudo kubeadm upgrade node"
            ));
        steps.push(format!(
                "Control-plane kubelets, one node at a time: kubectl upgrade drain-next --to v{z} (control-plane nodes come first); on that node: {kubelet}; then: kubectl upgrade uncordon NODE"
            ));
        steps.push(rollout(shape, z,
                "Workers",
                &format!("upgrade kubeadm to {z}, sudo kubeadm upgrade node, upgrade kubelet and kubectl to {z} as above, sudo systemctl daemon-reload && sudo systemctl restart kubelet"),
            ));
        steps.push(other_worker_strategies(z));
    }
    steps.push(verify());
    steps
}

/// The two other ways to move the workers, beside one node at a time.
fn other_worker_strategies(z: &str) -> String {
    format!(
        "Or move the workers another way: several at a time (kubectl upgrade drain-next --to v{z} --max-unavailable N, budgets shared by the batch are named first); add new workers at {z} and drain the old ones onto them (kubectl upgrade drain-next --strategy replace --to v{z} --delete-node, then remove their instances); or all at once with downtime (kubectl upgrade drain-next --strategy all-at-once --accept-downtime --to v{z}, upgrade them together, then kubectl upgrade drain-next --uncordon-upgraded): only where an outage is acceptable"
    )
}

/// OpenShift: the Cluster Version Operator moves the cluster (OpenShift 4.N ships Kubernetes
/// 1.(N+13)); nodes follow their MachineConfigPools.
fn openshift_steps(from: Minor, to: Minor) -> Vec<String> {
    // OpenShift 4.N ships Kubernetes 1.(N+13): 4.12 = 1.25, 4.16 = 1.29.
    let ocp = |m: Minor| format!("4.{}", m.minor.saturating_sub(13));
    vec![
            format!(
                "OpenShift upgrades through its Cluster Version Operator (no package or node-by-node steps here): OpenShift {} ships Kubernetes {to}. Check the update graph first: oc adm upgrade (and oc get clusterversion)",
                ocp(to)
            ),
            format!(
                "Switch the channel and start the update: oc adm upgrade channel stable-{} ; oc adm upgrade --to-latest=true (or --to=4.{}.z from the list); acknowledge removed APIs first where the update asks for it (oc -n openshift-config get cm admin-acks)",
                ocp(to),
                to.minor.saturating_sub(13)
            ),
            format!(
                "Nodes follow through the MachineConfigPools (drained by the Machine Config Operator, PDB-aware): watch oc get mcp; pause a pool (oc patch mcp worker --type merge -p '{{\"spec\":{{\"paused\":true}}}}') to hold its nodes at {from}"
            ),
            verify(),
        ]
}

/// EKS: control plane, managed node groups, then the add-ons.
fn eks_steps(to: Minor) -> Vec<String> {
    vec![
        format!(
            "Upgrade the control plane: eksctl upgrade cluster --name CLUSTER --version {to} --approve (or: aws eks update-cluster-version --name CLUSTER --kubernetes-version {to}, then aws eks wait cluster-active --name CLUSTER)"
        ),
        format!(
            "Upgrade each managed node group (rolling, PDB-aware): eksctl upgrade nodegroup --cluster CLUSTER --name NODEGROUP --kubernetes-version {to} (or: aws eks update-nodegroup-version --cluster-name CLUSTER --nodegroup-name NODEGROUP --kubernetes-version {to}); self-managed nodes: launch {to} nodes, then kubectl upgrade drain-next --to v{to}.0 for each old node"
        ),
        format!(
            "Update the add-ons for {to}: eksctl utils update-kube-proxy --cluster CLUSTER --approve; eksctl utils update-coredns --cluster CLUSTER --approve; eksctl utils update-aws-node --cluster CLUSTER --approve (EKS managed add-ons: aws eks update-addon --cluster-name CLUSTER --addon-name kube-proxy|coredns|vpc-cni --addon-version VERSION, versions from aws eks describe-addon-versions --kubernetes-version {to})"
        ),
        verify(),
    ]
}

/// k3s: servers first by re-running the installer, then agents; or system-upgrade-controller.
fn k3s_steps(shape: &Shape, to: Minor, z: &str) -> Vec<String> {
    let mut steps = vec![format!(
            "Servers first, one at a time: re-run the installer with the options used at install: curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v{z}+k3s1 sh -s - server (or INSTALL_K3S_CHANNEL=v{to} for the newest k3s {to} release)"
        )];
    if shape.single_node.is_none() {
        steps.push(format!(
                "Then agents, one at a time: kubectl upgrade drain-next --to v{z}; on that node: curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=v{z}+k3s1 K3S_URL=https://SERVER:6443 K3S_TOKEN=TOKEN sh -; then: kubectl upgrade uncordon NODE"
            ));
    }
    steps.push(format!(
            "Or automate it with system-upgrade-controller: a Plan (upgrade.cattle.io/v1) with version v{z}+k3s1 for servers (nodeSelector node-role.kubernetes.io/control-plane){}",
            if shape.single_node.is_some() { "" } else { " and one for agents with drain and a prepare step waiting for the server Plan" }
        ));
    steps.push(verify());
    steps
}

/// RKE2: like k3s, with its own installer and services.
fn rke2_steps(shape: &Shape, to: Minor, z: &str) -> Vec<String> {
    let mut steps = vec![format!(
            "Servers first, one at a time: curl -sfL https://get.rke2.io | INSTALL_RKE2_VERSION=v{z}+rke2r1 sh - && sudo systemctl restart rke2-server (or INSTALL_RKE2_CHANNEL=v{to} for the newest RKE2 {to} release)"
        )];
    if shape.single_node.is_none() {
        steps.push(format!(
                "Then agents, one at a time: kubectl upgrade drain-next --to v{z}; on that node: curl -sfL https://get.rke2.io | INSTALL_RKE2_TYPE=agent INSTALL_RKE2_VERSION=v{z}+rke2r1 sh - && sudo systemctl restart rke2-agent; then: kubectl upgrade uncordon NODE"
            ));
    }
    steps.push(format!(
            "Or automate it with system-upgrade-controller: a Plan (upgrade.cattle.io/v1) with version v{z}+rke2r1 for servers (nodeSelector node-role.kubernetes.io/control-plane){}",
            if shape.single_node.is_some() { "" } else { " and one for agents with drain and a prepare step waiting for the server Plan" }
        ));
    steps.push(verify());
    steps
}

/// A cluster set up by hand (or unknown): the components in the skew policy's order.
fn by_hand_steps(shape: &Shape, from: Minor, to: Minor, z: &str) -> Vec<String> {
    let mut steps = vec![
        format!(
            "Upgrade every kube-apiserver from {from} to v{z}, one instance at a time (never skip a minor)"
        ),
        format!(
            "Then kube-controller-manager, kube-scheduler and cloud-controller-manager to v{z} (after all apiservers are at {to})"
        ),
        rollout(shape, z,
            "Then kubelets",
            &format!("install kubelet {z} and restart it"),
        ),
        format!(
            "Then kube-proxy to v{z}, e.g. kubectl -n kube-system set image daemonset/kube-proxy kube-proxy=registry.k8s.io/kube-proxy:v{z}"
        ),
    ];
    if shape.single_node.is_none() {
        steps.push(other_worker_strategies(z));
    }
    steps.push(verify());
    steps
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
            counted(
                &format!("upgrade these kubelets before hop {} -> {}", h.from, h.to),
                "node",
                &h.kubelets_first,
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
                // Hop 1's worker step leaves w1 (1.28 today) at 1.31: inside the window at
                // 1.32, so it is not listed again (today's 1.28 would be 4 behind).
                ("1.31".into(), "1.32".into(), "1.32.13", vec![]),
                ("1.32".into(), "1.33".into(), "1.33.13", vec![]),
            ]
        );
        // The first step of a hop with lagging kubelets says so.
        assert!(p.hops[0].steps[0]
            .starts_with("Before this hop, upgrade the kubelets (1 node: w2) to 1.30"));
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
        assert_eq!(warns.len(), 1);
        assert_eq!(
            warns[0].message,
            "upgrade these kubelets before hop 1.30 -> 1.31 (1 node: w2)"
        );
        assert!(warns[0].rule.contains(POLICY));
    }

    /// `--to` oddities are said, never silently changed: a patch the release data does not
    /// know, and a pre-release (kept as given, not turned into the release).
    #[test]
    fn unknown_patches_and_pre_releases_are_said() {
        let cal = builtin();
        let plan_to = |to: &str| {
            let pin = version::parse(to).unwrap();
            plan_pinned(
                &inv("v1.32.5", &[]),
                &cal,
                &setup(SetupKind::Kubeadm),
                Some(pin.minor()),
                Some(&pin),
            )
            .unwrap()
        };
        let p = plan_to("v1.33.99");
        assert_eq!(p.hops[0].to_version, "1.33.99");
        assert!(
            p.notes.iter().any(|n| n
                .contains("1.33.99 as asked (--to), but that is not a known release")
                && n.contains("is 1.33.13")),
            "{:?}",
            p.notes
        );
        let p = plan_to("v1.34.0-rc.1");
        assert_eq!(p.hops[1].to_version, "1.34.0-rc.1");
        assert!(
            p.hops[1].steps.iter().any(|s| s.contains("1.34.0-rc.1")),
            "{:?}",
            p.hops[1].steps
        );
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("pre-release 1.34.0-rc.1") && n.contains("not production")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn a_target_patch_is_kept_as_given() {
        let cal = builtin();
        let pin = version::parse("v1.34.3").unwrap();
        let p = plan_pinned(
            &inv("v1.32.5", &[]),
            &cal,
            &setup(SetupKind::Kubeadm),
            Some(m("1.34")),
            Some(&pin),
        )
        .unwrap();
        let got: Vec<&str> = p.hops.iter().map(|h| h.to_version.as_str()).collect();
        assert_eq!(
            got,
            ["1.33.13", "1.34.3"],
            "intermediate hops take the newest patch"
        );
        assert!(
            p.hops[1].steps.iter().any(|s| s.contains("1.34.3")),
            "{:?}",
            p.hops[1].steps
        );
        assert!(
            !p.hops[1].steps.iter().any(|s| s.contains("1.34.11")),
            "{:?}",
            p.hops[1].steps
        );
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("1.34.3 as asked") && n.contains("1.34.11")));
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
        assert!(
            matches!(&err, PlanError::Usage(m) if m.contains("downgrades are not supported")),
            "{err}"
        );
        let err = plan(&i, &cal, &s, Some(m("1.40"))).unwrap_err();
        assert!(
            matches!(&err, PlanError::Unanswerable(m) if m.contains("newest known 1.37")),
            "{err}"
        );
        let err = plan(&Inventory::default(), &cal, &s, None).unwrap_err();
        assert!(
            matches!(&err, PlanError::Unanswerable(m) if m.contains("control-plane version is unknown"))
        );

        let p = plan(&i, &cal, &s, Some(m("1.31"))).unwrap();
        assert!(p.hops.is_empty());
        assert!(p.notes.iter().any(|n| n.contains("already at 1.31")));
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("(1 node: w1)") && n.contains("drain-next --to v1.31.14")));
        let fs = path_findings(&p);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].severity, Severity::Ok);

        // A calendar gap: the hop is planned with PATCH and a note says why.
        let mut gap = builtin();
        gap.releases.retain(|r| r.minor != m("1.32"));
        let p = plan(&i, &gap, &s, Some(m("1.33"))).unwrap();
        assert_eq!(p.hops[0].to_version, "1.32.PATCH");
        assert!(
            p.notes.iter().any(|n| n.contains("no entry for 1.32")),
            "{:?}",
            p.notes
        );

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
        // The other two ways to move the workers are named after the default one.
        assert!(pos("Workers") < pos("--strategy replace"));
        assert!(p.hops[0].steps[pos("--strategy replace")].contains("all at once with downtime"));
    }

    #[test]
    fn older_than_the_data_single_node_and_legacy_repositories() {
        let cal = builtin();
        // A single-node kubeadm 1.16 cluster (release data starts at 1.19).
        let i = inv("v1.16.15", &[("only", "v1.16.15")]);
        let p = plan(&i, &cal, &setup(SetupKind::Kubeadm), Some(m("1.20"))).unwrap();
        let got: Vec<&str> = p.hops.iter().map(|h| h.to_version.as_str()).collect();
        assert_eq!(got, ["1.17.PATCH", "1.18.PATCH", "1.19.16", "1.20.15"]);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("no entry for 1.17, 1.18")),
            "{:?}",
            p.notes
        );
        let text = p.hops[0].steps.join("\n");
        // No pkgs.k8s.io path that never existed; say where packages went.
        assert!(!text.contains("pkgs.k8s.io/core"), "{text}");
        assert!(text.contains("removed on 2024-03-04"), "{text}");
        // Nowhere to drain to.
        assert!(!text.contains("drain-next"), "{text}");
        assert!(text.contains("kubectl upgrade cordon only"), "{text}");
        // From 1.24 on, pkgs.k8s.io.
        let p = plan(
            &inv("v1.23.17", &[("a", "v1.23.17"), ("b", "v1.23.17")]),
            &cal,
            &setup(SetupKind::Kubeadm),
            Some(m("1.24")),
        )
        .unwrap();
        assert!(p.hops[0].steps[0].contains("pkgs.k8s.io/core:/stable:/v1.24/deb/"));
        assert!(p.hops[0].steps.join("\n").contains("drain-next"));
    }

    #[test]
    fn steps_for_more_setups() {
        let cal = builtin();
        let i = inv("v1.30.14", &[("a", "v1.30.14"), ("b", "v1.30.14")]);
        let table: [(SetupKind, &[&str], &[&str]); 6] = [
            (
                SetupKind::Kind,
                &["kindest/node:v1.31.14", "not upgraded in place"],
                &["apt-get", "drain-next"],
            ),
            (SetupKind::K3d, &["rancher/k3s:v1.31.14-k3s1"], &["apt-get"]),
            (
                SetupKind::Minikube,
                &["minikube start", "--kubernetes-version=v1.31.14"],
                &["apt-get"],
            ),
            (
                SetupKind::Openshift,
                &[
                    "OpenShift 4.18 ships Kubernetes 1.31",
                    "oc adm upgrade channel stable-4.18",
                ],
                &["kubeadm upgrade", "drain-next"],
            ),
            (
                SetupKind::Talos,
                &["talosctl", "upgrade-k8s --to 1.31.14"],
                &["apt-get"],
            ),
            (
                SetupKind::Doks,
                &["doctl kubernetes cluster upgrade"],
                &["apt-get"],
            ),
        ];
        for (kind, wants, never) in table {
            let p = plan(&i, &cal, &setup(kind), Some(m("1.31"))).unwrap();
            let text = p.hops[0].steps.join("\n");
            for w in wants {
                assert!(text.contains(w), "{kind:?}: want {w:?} in\n{text}");
            }
            for w in never {
                assert!(!text.contains(w), "{kind:?}: {w:?} in\n{text}");
            }
        }
        // A single-node k3s server is not told to drain its only node.
        let one = inv("v1.30.14+k3s1", &[("srv", "v1.30.14+k3s1")]);
        let p = plan(&one, &cal, &setup(SetupKind::K3s), Some(m("1.31"))).unwrap();
        let text = p.hops[0].steps.join("\n");
        assert!(!text.contains("drain-next"), "{text}");
        assert!(!text.contains("agents"), "{text}");
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
