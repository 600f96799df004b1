//! Version-skew verdicts, following kubernetes.io/releases/version-skew-policy for the
//! apiserver version the cluster runs. Pure: reads only the [`Inventory`].
//!
//! The apiserver bounds: nothing may be newer than the *oldest* kube-apiserver (components
//! may talk to any instance through a load balancer), and the "how much older" limits count
//! from the *newest* one (the policy's HA examples). A controller-manager or scheduler that
//! runs on a node with its own kube-apiserver is judged against that local instance, as
//! kubeadm configures it. Node findings are grouped by (component, version, verdict) so a
//! 5,000-node cluster gives a handful of lines, each naming at most `findings::NAMES_SHOWN` nodes.
//!
//! Verdicts: Ok; Warn when allowed now but the next apiserver hop would push it out (or a
//! mid-upgrade state); Violation when outside the policy.

use crate::facts::inventory::Inventory;
use crate::facts::version::{self, Minor, Version};
use crate::findings::{counted, Finding, Section, Severity};
use std::collections::{BTreeMap, HashMap};

/// The policy page every skew finding cites.
pub const POLICY: &str = "kubernetes.io/releases/version-skew-policy";

/// How many minors a kubelet (or kube-proxy) may lag behind `apiserver`: 3 when the
/// apiserver is >= 1.28 (kubelets >= 1.25), 2 before.
pub fn kubelet_max_skew(apiserver: Minor) -> i64 {
    if apiserver >= Minor::new(1, 28) {
        3
    } else {
        2
    }
}

/// How many minors kube-proxy may differ from the kubelet on its node, either way:
/// 3, or 2 when kube-proxy is older than 1.25.
pub fn proxy_kubelet_max_skew(proxy: Minor) -> i64 {
    if proxy >= Minor::new(1, 25) {
        3
    } else {
        2
    }
}

/// The versions the skew rules count from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apiservers {
    /// Oldest instance: nothing may be newer.
    pub oldest: Version,
    /// Newest instance: "at most N older" counts from here.
    pub newest: Version,
    /// Minor of the kube-apiserver pod on each node (static pods).
    pub by_node: HashMap<String, Minor>,
    /// `true` when read from apiserver pods, `false` when only `/version` was available.
    pub from_pods: bool,
}

/// The apiserver versions: from `inv.apiservers` images when any parse, else from
/// `inv.server_version`. `None` when neither gives a version.
pub fn apiservers(inv: &Inventory) -> Option<Apiservers> {
    apiservers_of(&inv.apiservers, inv.server_version.as_deref())
}

/// The apiserver versions from the kube-apiserver pods' images when any parse, else from
/// the `/version` answer: what `check` reads from an inventory and what `drain-next` and
/// `uncordon` read live (the oldest instance is the reference for both).
pub fn apiservers_of(
    pods: &[crate::facts::pod::Component],
    server_version: Option<&str>,
) -> Option<Apiservers> {
    let mut parsed: Vec<(Version, Option<&String>)> = pods
        .iter()
        .filter_map(|c| {
            version::from_image(&c.image)
                .ok()
                .map(|v| (v, c.node.as_ref()))
        })
        .collect();
    let from_pods = !parsed.is_empty();
    if parsed.is_empty() {
        let v = version::parse(server_version?).ok()?;
        parsed.push((v, None));
    }
    let by_node = parsed
        .iter()
        .filter_map(|(v, n)| n.map(|n| (n.clone(), v.minor())))
        .collect();
    let oldest = parsed
        .iter()
        .map(|(v, _)| v)
        .min_by(|a, b| a.cmp_precedence(b))?
        .clone();
    let newest = parsed
        .iter()
        .map(|(v, _)| v)
        .max_by(|a, b| a.cmp_precedence(b))?
        .clone();
    Some(Apiservers {
        oldest,
        newest,
        by_node,
        from_pods,
    })
}

/// The oldest kube-apiserver version (the control plane's version for support and path).
pub fn oldest_apiserver(inv: &Inventory) -> Option<Version> {
    apiservers(inv).map(|a| a.oldest)
}

/// Whether a kubelet at `kubelet` is outside the policy for an apiserver at `apiserver`:
/// newer than it, or [`kubelet_too_old`].
pub fn kubelet_outside(apiserver: Minor, kubelet: Minor) -> bool {
    apiserver.diff(kubelet) < 0 || kubelet_too_old(apiserver, kubelet)
}

/// Whether a kubelet at `kubelet` lags an apiserver at `apiserver` by more than the policy
/// allows (the path's "upgrade these kubelets first").
pub fn kubelet_too_old(apiserver: Minor, kubelet: Minor) -> bool {
    apiserver.diff(kubelet) > kubelet_max_skew(apiserver)
}

fn rule_ha() -> String {
    format!("kube-apiserver: HA instances within one minor of each other ({POLICY})")
}
fn rule_control() -> String {
    format!(
        "kube-controller-manager, kube-scheduler, cloud-controller-manager: never newer than the \
         kube-apiserver they talk to; same minor or one older ({POLICY})"
    )
}
fn rule_node(component: &str, newest: Minor) -> String {
    let max = kubelet_max_skew(newest);
    let when = if newest >= Minor::new(1, 28) {
        ">= 1.28"
    } else {
        "< 1.28"
    };
    format!(
        "{component}: never newer than kube-apiserver; at most {max} minors older (apiserver {when}) ({POLICY})"
    )
}
fn rule_proxy_kubelet() -> String {
    format!(
        "kube-proxy: within 3 minors of the kubelet on its node, older or newer (2 when kube-proxy < 1.25) ({POLICY})"
    )
}
fn rule_kubectl() -> String {
    format!("kubectl: within one minor of kube-apiserver, older or newer ({POLICY})")
}

/// One instance's verdict, before grouping.
struct Item {
    rank: u8,
    component: &'static str,
    version: String,
    minor: Option<Minor>,
    severity: Severity,
    message: String,
    rule: String,
    /// Node name (or pod name when the node is unknown).
    who: String,
    on_node: bool,
}

fn unknown_item(
    rank: u8,
    component: &'static str,
    raw: &str,
    err: &dyn std::fmt::Display,
    who: String,
    on_node: bool,
) -> Item {
    Item {
        rank,
        component,
        version: format!("'{raw}'"),
        minor: None,
        severity: Severity::Warn,
        message: format!("unknown version '{raw}' ({err}); cannot judge its skew"),
        rule: format!("{component}: version must be readable to judge skew ({POLICY})"),
        who,
        on_node,
    }
}

fn minors(n: i64) -> String {
    if n == 1 {
        "1 minor".into()
    } else {
        format!("{n} minors")
    }
}

/// All skew verdicts for the inventory, grouped.
pub fn evaluate(inv: &Inventory) -> Vec<Finding> {
    let mut items: Vec<Item> = Vec::new();

    // Unreadable apiserver images.
    for c in &inv.apiservers {
        if let Err(e) = version::from_image(&c.image) {
            let (who, on_node) = who(c.node.as_deref(), &c.pod);
            items.push(unknown_item(
                0,
                "kube-apiserver",
                &c.image,
                &e,
                who,
                on_node,
            ));
        }
    }

    let Some(api) = apiservers(inv) else {
        let mut out = group(items);
        let seen = inv.server_version.as_deref().unwrap_or("none");
        out.push(Finding::new(
            Section::Skew,
            Severity::Warn,
            "kube-apiserver",
            format!(
                "unknown version: no readable kube-apiserver version (server version '{seen}', {} apiserver pods); skew not evaluated",
                inv.apiservers.len()
            ),
            format!("skew rules count from the kube-apiserver version ({POLICY})"),
        ));
        return out;
    };
    apiserver_items(inv, &api, &mut items);
    control_plane_items(inv, &api, &mut items);
    let kubelet_by_node = kubelet_items(inv, &api, &mut items);
    proxy_items(inv, &api, &kubelet_by_node, &mut items);
    kubectl_items(inv, &api, &mut items);
    group(items)
}

/// kube-apiserver: HA instances within one minor (or the one `/version` answer).
fn apiserver_items(inv: &Inventory, api: &Apiservers, items: &mut Vec<Item>) {
    let oldest = api.oldest.minor();
    let newest = api.newest.minor();
    if api.from_pods {
        let spread = newest.diff(oldest);
        for c in &inv.apiservers {
            let Ok(v) = version::from_image(&c.image) else {
                continue;
            };
            let (who, on_node) = who(c.node.as_deref(), &c.pod);
            let m = v.minor();
            let (severity, message) = match spread {
                0 => (
                    Severity::Ok,
                    if inv.apiservers.len() > 1 {
                        format!("all kube-apiserver instances at {m}")
                    } else {
                        format!("kube-apiserver at {m}")
                    },
                ),
                1 => (
                    Severity::Warn,
                    format!(
                        "kube-apiservers span {oldest} and {newest} (mid-upgrade): allowed; finish upgrading the {oldest} instances before the next hop"
                    ),
                ),
                _ if newest.diff(m) > 1 => (
                    Severity::Violation,
                    format!(
                        "{} older than the newest kube-apiserver ({newest}); HA instances must be within one minor",
                        minors(newest.diff(m))
                    ),
                ),
                _ => (
                    Severity::Violation,
                    format!("kube-apiservers span {oldest} to {newest}; HA instances must be within one minor"),
                ),
            };
            items.push(Item {
                rank: 0,
                component: "kube-apiserver",
                version: v.raw.clone(),
                minor: Some(m),
                severity,
                message,
                rule: rule_ha(),
                who,
                on_node,
            });
        }
    } else {
        items.push(Item {
            rank: 0,
            component: "kube-apiserver",
            version: api.oldest.raw.clone(),
            minor: Some(oldest),
            severity: Severity::Ok,
            message: format!(
                "kube-apiserver at {oldest} (from /version; apiserver pods not visible, e.g. a managed control plane)"
            ),
            rule: rule_ha(),
            who: String::new(),
            on_node: false,
        });
    }
}

/// kube-controller-manager, kube-scheduler, cloud-controller-manager: same minor as the
/// apiserver (on their node, else every one) or one older.
fn control_plane_items(inv: &Inventory, api: &Apiservers, items: &mut Vec<Item>) {
    let oldest = api.oldest.minor();
    let newest = api.newest.minor();
    for (rank, component, list) in [
        (1, "kube-controller-manager", &inv.controller_managers),
        (2, "kube-scheduler", &inv.schedulers),
        (
            3,
            "cloud-controller-manager",
            &inv.cloud_controller_managers,
        ),
    ] {
        for c in list {
            let (who, on_node) = who(c.node.as_deref(), &c.pod);
            let v = match version::from_image(&c.image) {
                Ok(v) => v,
                Err(e) => {
                    items.push(unknown_item(rank, component, &c.image, &e, who, on_node));
                    continue;
                }
            };
            let m = v.minor();
            let local = c.node.as_ref().and_then(|n| api.by_node.get(n)).copied();
            let (upper, lower, against) = match local {
                Some(l) => (l, l, format!("the kube-apiserver on its node ({l})")),
                None if oldest == newest => (oldest, newest, format!("kube-apiserver {oldest}")),
                None => (oldest, newest, format!("kube-apiservers {oldest}/{newest}")),
            };
            let (severity, message) = if m > upper {
                (
                    Severity::Violation,
                    format!(
                        "{m} is newer than {against}; upgrade the apiservers first or roll back"
                    ),
                )
            } else if lower.diff(m) > 1 {
                (
                    Severity::Violation,
                    format!(
                        "{m} is {} older than {against}; at most one allowed",
                        minors(lower.diff(m))
                    ),
                )
            } else if lower.diff(m) == 1 {
                (
                    Severity::Warn,
                    format!("{m} is one minor older than {against}: allowed during an upgrade; upgrade it before the next apiserver hop"),
                )
            } else {
                (Severity::Ok, format!("{m} matches {against}"))
            };
            items.push(Item {
                rank,
                component,
                version: v.raw.clone(),
                minor: Some(m),
                severity,
                message,
                rule: rule_control(),
                who,
                on_node,
            });
        }
    }
}

/// Kubelets: never newer than the apiserver, at most 3 minors older (2 before 1.28). Returns
/// each node's kubelet minor, which kube-proxy is judged against.
fn kubelet_items<'a>(
    inv: &'a Inventory,
    api: &Apiservers,
    items: &mut Vec<Item>,
) -> HashMap<&'a str, Minor> {
    let oldest = api.oldest.minor();
    let newest = api.newest.minor();
    let mut kubelet_by_node: HashMap<&str, Minor> = HashMap::new();
    for n in &inv.nodes {
        let v = match version::parse(&n.kubelet_version) {
            Ok(v) => v,
            Err(e) => {
                items.push(unknown_item(
                    4,
                    "kubelet",
                    &n.kubelet_version,
                    &e,
                    n.name.clone(),
                    true,
                ));
                continue;
            }
        };
        kubelet_by_node.insert(n.name.as_str(), v.minor());
        let local = api.by_node.get(&n.name).copied();
        let (severity, message) = node_verdict("kubelet", v.minor(), oldest, newest, local);
        items.push(Item {
            rank: 4,
            component: "kubelet",
            version: v.raw.clone(),
            minor: Some(v.minor()),
            severity,
            message,
            rule: rule_node("kubelet", newest),
            who: n.name.clone(),
            on_node: true,
        });
    }

    kubelet_by_node
}

/// kube-proxy: its DaemonSet pods (nodeInfo.kubeProxyVersion only when no pod was seen),
/// against the apiserver and against the kubelet on its node.
fn proxy_items(
    inv: &Inventory,
    api: &Apiservers,
    kubelet_by_node: &HashMap<&str, Minor>,
    items: &mut Vec<Item>,
) {
    let oldest = api.oldest.minor();
    let newest = api.newest.minor();
    // kube-proxy: DaemonSet pods; nodeInfo.kubeProxyVersion only when no pod was seen.
    // (pod or node name, node, raw, parsed, from nodeInfo)
    type Proxy<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        Result<Version, version::VersionError>,
        bool,
    );
    let mut proxies: Vec<Proxy> = inv
        .kube_proxies
        .iter()
        .map(|c| {
            (
                c.pod.as_str(),
                c.node.as_deref(),
                c.image.as_str(),
                version::from_image(&c.image),
                false,
            )
        })
        .collect();
    if proxies.is_empty() {
        proxies = inv
            .nodes
            .iter()
            .filter(|n| !n.kube_proxy_version.is_empty())
            .map(|n| {
                let raw = n.kube_proxy_version.as_str();
                (
                    n.name.as_str(),
                    Some(n.name.as_str()),
                    raw,
                    version::parse(raw),
                    true,
                )
            })
            .collect();
    }
    for (pod, node, raw, parsed, from_node_info) in proxies {
        let (who, on_node) = who(node, pod);
        let v = match parsed {
            Ok(v) => v,
            Err(e) => {
                items.push(unknown_item(5, "kube-proxy", raw, &e, who, on_node));
                continue;
            }
        };
        let m = v.minor();
        let (severity, mut message) = node_verdict("kube-proxy", m, oldest, newest, None);
        if from_node_info {
            message.push_str(" (from nodeInfo.kubeProxyVersion, deprecated)");
        }
        items.push(Item {
            rank: 5,
            component: "kube-proxy",
            version: v.raw.clone(),
            minor: Some(m),
            severity,
            message,
            rule: rule_node("kube-proxy", newest),
            who: who.clone(),
            on_node,
        });
        if let Some(k) = node.and_then(|n| kubelet_by_node.get(n)) {
            let d = m.diff(*k);
            let max = proxy_kubelet_max_skew(m);
            if d.abs() > max {
                let dir = if d > 0 { "newer" } else { "older" };
                items.push(Item {
                    rank: 5,
                    component: "kube-proxy",
                    version: v.raw.clone(),
                    minor: Some(m),
                    severity: Severity::Violation,
                    message: format!(
                        "{m} is {} {dir} than the kubelet on its node ({k}); at most {max} allowed",
                        minors(d.abs())
                    ),
                    rule: rule_proxy_kubelet(),
                    who,
                    on_node,
                });
            }
        }
    }
}

/// kubectl, the caller's client: within one minor of every apiserver (a warning at most).
fn kubectl_items(inv: &Inventory, api: &Apiservers, items: &mut Vec<Item>) {
    let oldest = api.oldest.minor();
    let newest = api.newest.minor();
    let next = newest.next();
    if let Some(raw) = &inv.kubectl_version {
        match version::parse(raw) {
            Err(e) => items.push(unknown_item(6, "kubectl", raw, &e, String::new(), false)),
            Ok(v) => {
                let m = v.minor();
                // kubectl is the caller's client, not part of the cluster: a warning at most.
                // Advice: a minor within one of every apiserver (the middle one when they
                // span two minors).
                let advice = if newest.diff(oldest) >= 2 {
                    oldest.next()
                } else {
                    newest
                };
                let (severity, message) = if newest.diff(m) > 1 || m.diff(oldest) > 1 {
                    (
                        Severity::Warn,
                        format!("kubectl {m} is more than one minor away from kube-apiserver {}: this client is outside the supported skew (the cluster is not affected); install kubectl {advice}", span(oldest, newest)),
                    )
                } else if next.diff(m) > 1 {
                    (
                        Severity::Warn,
                        format!("kubectl {m} is allowed with kube-apiserver {}, but not after the next hop to {next}; install kubectl {advice} or {next}", span(oldest, newest)),
                    )
                } else {
                    (
                        Severity::Ok,
                        format!(
                            "kubectl {m} is within one minor of kube-apiserver {}",
                            span(oldest, newest)
                        ),
                    )
                };
                items.push(Item {
                    rank: 6,
                    component: "kubectl",
                    version: v.raw.clone(),
                    minor: Some(m),
                    severity,
                    message,
                    rule: rule_kubectl(),
                    who: String::new(),
                    on_node: false,
                });
            }
        }
    }
}

fn span(oldest: Minor, newest: Minor) -> String {
    if oldest == newest {
        oldest.to_string()
    } else {
        format!("{oldest}/{newest}")
    }
}

fn who(node: Option<&str>, pod: &str) -> (String, bool) {
    match node {
        Some(n) if !n.is_empty() => (n.to_string(), true),
        _ => (pod.to_string(), false),
    }
}

/// Verdict for a kubelet or kube-proxy at `m`, given the apiserver range and the minor of
/// the apiserver on the same node (if any).
fn node_verdict(
    component: &str,
    m: Minor,
    oldest: Minor,
    newest: Minor,
    local: Option<Minor>,
) -> (Severity, String) {
    let max = kubelet_max_skew(newest);
    let behind = newest.diff(m);
    let next = newest.next();
    if m > oldest {
        if local.is_some_and(|l| m <= l) {
            return (
                Severity::Warn,
                format!(
                    "{m} is newer than the oldest kube-apiserver ({oldest}) but not than the one on its node: allowed only while it talks to that local apiserver; finish the control-plane upgrade"
                ),
            );
        }
        return (
            Severity::Violation,
            format!("{m} is newer than kube-apiserver {oldest}; a {component} must never be newer"),
        );
    }
    if behind > max {
        return (
            Severity::Violation,
            format!(
                "{m} is {} older than kube-apiserver {newest}; at most {max} allowed: upgrade it{} before anything else",
                minors(behind),
                if component == "kubelet" { " (drain first)" } else { "" }
            ),
        );
    }
    if next.diff(m) > kubelet_max_skew(next) {
        return (
            Severity::Warn,
            format!(
                "{m} is {} older than kube-apiserver {newest}: allowed, but out of policy after the next hop to {next}; upgrade it first",
                minors(behind)
            ),
        );
    }
    let msg = if behind == 0 {
        format!("{m} matches kube-apiserver {newest}")
    } else {
        format!(
            "{m} is {} older than kube-apiserver {newest}; at most {max} allowed",
            minors(behind)
        )
    };
    (Severity::Ok, msg)
}

/// Groups items by (component, version, verdict) into one finding each, listing at most
/// `findings::NAMES_SHOWN` names. Order: component, worst first, then version.
fn group(items: Vec<Item>) -> Vec<Finding> {
    type Key = (
        u8,
        std::cmp::Reverse<Severity>,
        Option<Minor>,
        String,
        String,
        String,
    );
    let mut groups: BTreeMap<Key, (&'static str, Vec<String>, bool)> = BTreeMap::new();
    for it in items {
        let key = (
            it.rank,
            std::cmp::Reverse(it.severity),
            it.minor,
            it.version,
            it.message,
            it.rule,
        );
        let g = groups
            .entry(key)
            .or_insert((it.component, Vec::new(), true));
        g.1.push(it.who);
        g.2 &= it.on_node;
    }
    groups
        .into_iter()
        .map(
            |((_, sev, _, version, message, rule), (component, mut names, on_node))| {
                names.sort();
                let subject = if names.iter().all(String::is_empty) {
                    format!("{component} {version}")
                } else {
                    let noun = if on_node { "node" } else { "pod" };
                    counted(&format!("{component} {version}"), noun, &names)
                };
                Finding::new(Section::Skew, sev.0, subject, message, rule)
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::node::NodeFacts;
    use crate::facts::pod::Component;

    fn comp(pod: &str, node: Option<&str>, image: &str) -> Component {
        Component {
            namespace: "kube-system".into(),
            pod: pod.into(),
            node: node.map(String::from),
            image: image.into(),
        }
    }

    fn node(name: &str, kubelet: &str) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            kubelet_version: kubelet.into(),
            ..Default::default()
        }
    }

    /// A cluster with one apiserver (via /version) and the given kubelets.
    fn with_kubelets(api: &str, kubelets: &[(&str, &str)]) -> Inventory {
        Inventory {
            server_version: Some(api.into()),
            nodes: kubelets.iter().map(|(n, v)| node(n, v)).collect(),
            ..Default::default()
        }
    }

    fn only(fs: &[Finding], component: &str) -> Vec<Finding> {
        fs.iter()
            .filter(|f| f.subject.starts_with(&format!("{component} ")))
            .cloned()
            .collect()
    }

    #[test]
    fn kubelet_max_skew_boundary() {
        assert_eq!(kubelet_max_skew(Minor::new(1, 27)), 2);
        assert_eq!(kubelet_max_skew(Minor::new(1, 28)), 3);
        assert_eq!(kubelet_max_skew(Minor::new(1, 36)), 3);
        assert_eq!(proxy_kubelet_max_skew(Minor::new(1, 24)), 2);
        assert_eq!(proxy_kubelet_max_skew(Minor::new(1, 25)), 3);
    }

    #[test]
    fn kubelet_rule_both_sides_of_each_boundary() {
        use Severity::*;
        let table = [
            // apiserver >= 1.28: 3 older allowed.
            ("v1.28.0", "v1.25.16", Warn), // 3 older: allowed; the next hop (1.29) makes it 4
            ("v1.28.0", "v1.24.17", Violation),
            // apiserver 1.27: only 2.
            ("v1.27.9", "v1.25.0", Ok), // 2 older; after hop to 1.28 it is 3: still ok
            ("v1.27.9", "v1.24.0", Violation), // 3 older with apiserver 1.27: only 2 allowed
            ("v1.26.0", "v1.24.0", Warn), // 2 older; after hop to 1.27 it is 3 > 2
            ("v1.26.0", "v1.25.0", Ok),
            // never newer
            ("v1.30.2", "v1.30.9", Ok),
            ("v1.30.2", "v1.31.0", Violation),
            // edge: 3 older with apiserver 1.31 -> next hop out
            ("v1.31.1", "v1.28.3", Warn),
            ("v1.31.1", "v1.29.0", Ok),
            ("v1.31.1", "v1.27.0", Violation),
            // distro suffixes do not matter
            ("v1.29.3-eks-adc7111", "v1.26.12-eks-5e0fdde", Warn),
            ("v1.29.3-eks-adc7111", "v1.25.0-eks-1", Violation),
        ];
        for (api, kubelet, want) in table {
            let fs = evaluate(&with_kubelets(api, &[("n1", kubelet)]));
            let k = only(&fs, "kubelet");
            assert_eq!(k.len(), 1, "{api}/{kubelet}: {fs:?}");
            assert_eq!(k[0].severity, want, "{api}/{kubelet}: {}", k[0].message);
            assert!(k[0].rule.contains(POLICY));
            assert!(k[0].subject.contains(kubelet));
        }
        // The brief's headline pair: 3 older is allowed (not a violation) at 1.28, not at 1.27.
        let at_128 = evaluate(&with_kubelets("v1.28.0", &[("n", "v1.25.0")]));
        assert_ne!(only(&at_128, "kubelet")[0].severity, Violation);
        assert!(only(&at_128, "kubelet")[0]
            .rule
            .contains("at most 3 minors older (apiserver >= 1.28)"));
        let at_127 = evaluate(&with_kubelets("v1.27.0", &[("n", "v1.24.0")]));
        assert_eq!(only(&at_127, "kubelet")[0].severity, Violation);
        assert!(only(&at_127, "kubelet")[0]
            .rule
            .contains("at most 2 minors older (apiserver < 1.28)"));
    }

    #[test]
    fn ha_apiservers() {
        use Severity::*;
        let inv = |images: &[&str]| Inventory {
            apiservers: images
                .iter()
                .enumerate()
                .map(|(i, img)| {
                    comp(
                        &format!("kube-apiserver-cp{i}"),
                        Some(&format!("cp{i}")),
                        img,
                    )
                })
                .collect(),
            ..Default::default()
        };
        let table: [(&[&str], &[Severity]); 4] = [
            (
                &["r/kube-apiserver:v1.30.2", "r/kube-apiserver:v1.30.1"],
                &[Ok],
            ),
            (
                &["r/kube-apiserver:v1.30.2", "r/kube-apiserver:v1.31.0"],
                &[Warn],
            ),
            (
                &["r/kube-apiserver:v1.29.2", "r/kube-apiserver:v1.31.0"],
                &[Violation],
            ),
            (
                &[
                    "r/kube-apiserver:v1.29.2",
                    "r/kube-apiserver:v1.30.0",
                    "r/kube-apiserver:v1.31.0",
                ],
                &[Violation],
            ),
        ];
        for (images, sevs) in table {
            let fs = only(&evaluate(&inv(images)), "kube-apiserver");
            let worst = fs.iter().map(|f| f.severity).max().unwrap();
            assert_eq!(worst, sevs[0], "{images:?}: {fs:?}");
            assert!(fs.iter().all(|f| f.rule.contains("within one minor")));
        }
        // Reference is the oldest apiserver: a kubelet at the newest is too new.
        let mut i = inv(&["r/kube-apiserver:v1.30.2", "r/kube-apiserver:v1.31.0"]);
        i.nodes = vec![node("w1", "v1.31.0"), node("w2", "v1.28.0")];
        let k = only(&evaluate(&i), "kubelet");
        let by = |n: &str| k.iter().find(|f| f.subject.contains(n)).unwrap().severity;
        assert_eq!(by("w1"), Violation);
        // 3 older than newest 1.31: allowed, but the next hop (1.32) pushes it out.
        assert_eq!(by("w2"), Warn);
        // ...but a kubelet on the node of the upgraded apiserver is only a warning.
        i.nodes = vec![node("cp1", "v1.31.0")];
        assert_eq!(only(&evaluate(&i), "kubelet")[0].severity, Warn);
    }

    #[test]
    fn control_plane_components() {
        use Severity::*;
        let table = [
            ("v1.30.2", "v1.30.0", Ok),
            ("v1.30.2", "v1.29.5", Warn),
            ("v1.30.2", "v1.28.5", Violation),
            ("v1.30.2", "v1.31.0", Violation),
        ];
        for (api, cm, want) in table {
            for (field, name) in [
                (0, "kube-controller-manager"),
                (1, "kube-scheduler"),
                (2, "cloud-controller-manager"),
            ] {
                let mut inv = Inventory {
                    apiservers: vec![comp(
                        "kube-apiserver-cp1",
                        Some("cp1"),
                        &format!("r/kube-apiserver:{api}"),
                    )],
                    ..Default::default()
                };
                let c = vec![comp("x-cp1", None, &format!("r/{name}:{cm}"))];
                match field {
                    0 => inv.controller_managers = c,
                    1 => inv.schedulers = c,
                    _ => inv.cloud_controller_managers = c,
                }
                let fs = only(&evaluate(&inv), name);
                assert_eq!(fs.len(), 1, "{name}");
                assert_eq!(
                    fs[0].severity, want,
                    "{name} {cm} vs {api}: {}",
                    fs[0].message
                );
                assert!(fs[0].rule.contains("same minor or one older"));
            }
        }
        // HA mid-upgrade: a controller-manager beside the upgraded apiserver is fine; one
        // without a node is judged against the oldest apiserver.
        let inv = Inventory {
            apiservers: vec![
                comp(
                    "kube-apiserver-cp1",
                    Some("cp1"),
                    "r/kube-apiserver:v1.31.0",
                ),
                comp(
                    "kube-apiserver-cp2",
                    Some("cp2"),
                    "r/kube-apiserver:v1.30.2",
                ),
            ],
            controller_managers: vec![
                comp("kcm-cp1", Some("cp1"), "r/kube-controller-manager:v1.31.0"),
                comp("kcm-cp2", Some("cp2"), "r/kube-controller-manager:v1.30.2"),
                comp("kcm-x", None, "r/kube-controller-manager:v1.31.0"),
            ],
            ..Default::default()
        };
        let fs = only(&evaluate(&inv), "kube-controller-manager");
        let by = |n: &str| fs.iter().find(|f| f.subject.contains(n)).unwrap().severity;
        assert_eq!(by("cp1"), Ok);
        assert_eq!(by("cp2"), Ok);
        assert_eq!(by("kcm-x"), Violation);
    }

    #[test]
    fn kube_proxy_rules() {
        use Severity::*;
        let mk = |api: &str, kubelet: &str, proxy: &str| Inventory {
            server_version: Some(api.into()),
            nodes: vec![node("n1", kubelet)],
            kube_proxies: vec![comp(
                "kube-proxy-abc",
                Some("n1"),
                &format!("registry.k8s.io/kube-proxy:{proxy}"),
            )],
            ..Default::default()
        };
        let table = [
            ("v1.31.0", "v1.31.0", "v1.31.0", vec![Ok]),
            ("v1.31.0", "v1.31.0", "v1.32.0", vec![Violation]),
            ("v1.31.0", "v1.31.0", "v1.28.0", vec![Warn]),
            ("v1.31.0", "v1.31.0", "v1.27.0", vec![Violation, Violation]), // 4 behind apiserver and kubelet
            ("v1.27.0", "v1.27.0", "v1.24.0", vec![Violation, Violation]), // 3 behind at 1.27; and < 1.25: only 2 from kubelet
            ("v1.28.0", "v1.28.0", "v1.25.0", vec![Warn]), // 3 behind at 1.28 ok; kubelet pair 3 ok
        ];
        for (api, kubelet, proxy, want) in table {
            let fs = only(&evaluate(&mk(api, kubelet, proxy)), "kube-proxy");
            let mut got: Vec<Severity> = fs.iter().map(|f| f.severity).collect();
            got.sort();
            let mut want = want;
            want.sort();
            assert_eq!(got, want, "{api}/{kubelet}/{proxy}: {fs:?}");
        }
        // The kubelet pair on its own: 3 apart is fine, 4 is not (apiserver bound still ok).
        let mut inv = mk("v1.30.0", "v1.31.0", "v1.28.0");
        let fs = only(&evaluate(&inv), "kube-proxy");
        assert!(
            fs.iter()
                .all(|f| !f.message.contains("kubelet on its node")),
            "{fs:?}"
        );
        inv.kube_proxies[0].image = "r/kube-proxy:v1.27.0".into();
        let fs = only(&evaluate(&inv), "kube-proxy");
        let pair: Vec<_> = fs
            .iter()
            .filter(|f| f.message.contains("kubelet on its node"))
            .collect();
        assert_eq!(pair.len(), 1);
        assert_eq!(pair[0].severity, Violation);
        assert!(pair[0].rule.contains("within 3 minors of the kubelet"));
    }

    #[test]
    fn kube_proxy_falls_back_to_node_info() {
        let mut inv = with_kubelets("v1.30.0", &[("n1", "v1.30.0"), ("n2", "v1.30.0")]);
        inv.nodes[0].kube_proxy_version = "v1.27.0".into();
        let fs = only(&evaluate(&inv), "kube-proxy");
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].severity, Severity::Warn);
        assert!(fs[0].message.contains("nodeInfo.kubeProxyVersion"));
        assert!(fs[0].subject.contains("n1"));
        // With DaemonSet pods present, nodeInfo is ignored.
        inv.kube_proxies = vec![comp("kube-proxy-x", Some("n2"), "r/kube-proxy:v1.30.0")];
        let fs = only(&evaluate(&inv), "kube-proxy");
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].severity, Severity::Ok);
    }

    #[test]
    fn kubectl_within_one_minor() {
        use Severity::*;
        let table = [
            ("v1.31.0", Ok),
            ("v1.30.0", Ok),
            ("v1.29.9", Warn),
            ("v1.28.0", Warn),
            ("v1.32.0", Warn),
            ("nonsense", Warn),
        ];
        for (kubectl, want) in table {
            let mut inv = with_kubelets("v1.30.4", &[]);
            inv.kubectl_version = Some(kubectl.into());
            let fs = only(&evaluate(&inv), "kubectl");
            assert_eq!(fs.len(), 1, "{kubectl}");
            assert_eq!(fs[0].severity, want, "{kubectl}: {}", fs[0].message);
        }
    }

    /// Apiservers mid-upgrade at 1.31 and 1.33: kubectl 1.33 is two minors from 1.31, and the
    /// only client within one minor of both is 1.32 (version skew policy, kubectl).
    #[test]
    fn kubectl_advice_fits_every_apiserver() {
        let inv = Inventory {
            apiservers: vec![
                comp(
                    "cp-1",
                    Some("cp-1"),
                    "registry.k8s.io/kube-apiserver:v1.31.4",
                ),
                comp(
                    "cp-2",
                    Some("cp-2"),
                    "registry.k8s.io/kube-apiserver:v1.33.1",
                ),
            ],
            kubectl_version: Some("v1.33.0".into()),
            ..Default::default()
        };
        let fs = only(&evaluate(&inv), "kubectl");
        assert_eq!(fs.len(), 1, "{fs:?}");
        assert_eq!(fs[0].severity, Severity::Warn, "client skew is a warning");
        assert!(
            fs[0].message.contains("install kubectl 1.32"),
            "{}",
            fs[0].message
        );
    }

    #[test]
    fn groups_nodes_by_version() {
        let mut kubelets: Vec<(String, String)> = (0..12)
            .map(|i| (format!("node-{i:02}"), "v1.30.2".to_string()))
            .collect();
        kubelets.push(("old-1".into(), "v1.26.0".into()));
        kubelets.push(("weird".into(), "banana".into()));
        let refs: Vec<(&str, &str)> = kubelets
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let fs = only(&evaluate(&with_kubelets("v1.30.5", &refs)), "kubelet");
        assert_eq!(fs.len(), 3, "{fs:?}");
        // Worst first.
        assert_eq!(fs[0].severity, Severity::Violation);
        assert_eq!(fs[0].subject, "kubelet v1.26.0 (1 node: old-1)");
        let ok = fs.iter().find(|f| f.severity == Severity::Ok).unwrap();
        assert_eq!(
            ok.subject,
            "kubelet v1.30.2 (12 nodes: node-00, node-01, node-02, node-03, node-04 (+7 more))"
        );
        let unknown = fs
            .iter()
            .find(|f| f.message.contains("unknown version"))
            .unwrap();
        assert_eq!(unknown.severity, Severity::Warn);
        assert!(unknown.message.contains("unknown version 'banana'"));
    }

    #[test]
    fn scales_to_5000_nodes_in_few_findings() {
        let names: Vec<String> = (0..5000).map(|i| format!("n{i}")).collect();
        let refs: Vec<(&str, &str)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), if i % 2 == 0 { "v1.31.1" } else { "v1.30.9" }))
            .collect();
        let fs = only(&evaluate(&with_kubelets("v1.31.4", &refs)), "kubelet");
        assert_eq!(fs.len(), 2);
        assert!(fs.iter().all(|f| f.subject.contains("(2500 nodes: ")));
    }

    #[test]
    fn unknown_apiserver_version_is_a_finding_not_a_panic() {
        let table = [
            Inventory::default(),
            Inventory {
                server_version: Some("garbage".into()),
                ..Default::default()
            },
            Inventory {
                apiservers: vec![comp(
                    "kube-apiserver-cp1",
                    Some("cp1"),
                    "r/kube-apiserver@sha256:abc",
                )],
                nodes: vec![node("cp1", "v1.30.0")],
                ..Default::default()
            },
        ];
        for inv in table {
            let fs = evaluate(&inv);
            assert!(
                fs.iter().any(|f| f.message.contains("unknown version")),
                "{fs:?}"
            );
            assert!(fs.iter().all(|f| f.section == Section::Skew));
            assert!(oldest_apiserver(&inv).is_none());
        }
        // Unreadable pod image, but /version works: the pod is reported, the rest evaluated.
        let inv = Inventory {
            server_version: Some("v1.30.0".into()),
            apiservers: vec![comp(
                "kube-apiserver-cp1",
                Some("cp1"),
                "r/kube-apiserver@sha256:abc",
            )],
            nodes: vec![node("cp1", "v1.30.0")],
            ..Default::default()
        };
        let fs = evaluate(&inv);
        assert!(fs.iter().any(|f| f
            .message
            .contains("unknown version 'r/kube-apiserver@sha256:abc'")));
        assert_eq!(only(&fs, "kubelet")[0].severity, Severity::Ok);
    }

    #[test]
    fn kubelets_outside_after_hops() {
        let m = Minor::new;
        let outside = |api: Minor, ks: &[Minor]| -> Vec<Minor> {
            ks.iter()
                .copied()
                .filter(|k| kubelet_outside(api, *k))
                .collect()
        };
        let ks = [m(1, 30), m(1, 27), m(1, 28)];
        assert!(outside(m(1, 30), &ks).is_empty());
        assert_eq!(outside(m(1, 31), &ks), [m(1, 27)]);
        assert_eq!(outside(m(1, 32), &ks), [m(1, 27), m(1, 28)]);
        assert_eq!(outside(m(1, 29), &ks), [m(1, 30)]); // newer than apiserver
        assert!(!kubelet_too_old(m(1, 29), m(1, 30)));
        // apiserver 1.27 allows only 2
        let ks = [m(1, 25), m(1, 24)];
        assert_eq!(outside(m(1, 27), &ks), [m(1, 24)]);
        assert!(outside(m(1, 28), &ks).contains(&m(1, 24)));
        assert!(kubelet_too_old(m(1, 27), m(1, 24)));
    }
}
