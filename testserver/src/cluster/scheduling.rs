//! The simulated scheduler's filters, as kube-scheduler's (the real control plane showed them
//! keeping replacements Pending where the simulation used to place them): the node is Ready
//! and schedulable, its NoSchedule/NoExecute taints are tolerated, the pod's `nodeSelector`
//! matches its labels, the pod's requests fit in its allocatable beside the pods bound to
//! it, and no required pod anti-affinity term with the `kubernetes.io/hostname` topology
//! (the pod's own, or a pod's on the node) is broken, and no topology spread constraint
//! with `whenUnsatisfiable: DoNotSchedule` is (PodTopologySpread: the pods its selector
//! selects in the node's domain, plus the pod, less those of the emptiest domain, at most
//! `maxSkew`; every node with the key and matching the pod's nodeSelector is a domain,
//! cordoned ones included; `minDomains` honoured; `matchLabelKeys` and the inclusion
//! policies other than the defaults are not), and every PersistentVolumeClaim it mounts is
//! bound to a PersistentVolume whose required node affinity the node matches
//! (VolumeBinding; a claim not found keeps it Pending, an unbound one is taken to bind
//! anywhere). Among the nodes that pass, the least loaded
//! without a PreferNoSchedule taint wins (the TaintToleration and LeastAllocated scores,
//! roughly).

use super::*;

/// CPU millicores, memory bytes and one pod slot a pod needs.
fn requests(spec: &PodSpec) -> (u64, u64) {
    let mut cpu = 0;
    let mut mem = 0;
    for c in &spec.containers {
        let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        cpu += req
            .and_then(|r| r.get("cpu"))
            .and_then(|q| cpu_millis(&q.0))
            .unwrap_or(0);
        mem += req
            .and_then(|r| r.get("memory"))
            .and_then(|q| bytes(&q.0))
            .unwrap_or(0);
    }
    (cpu, mem)
}

fn cpu_millis(q: &str) -> Option<u64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().map(|c| (c * 1000.0).round() as u64),
    }
}

fn bytes(q: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, mult) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * mult);
        }
    }
    q.parse::<f64>().ok().map(|b| b as u64)
}

/// Does one of `tolerations` tolerate `taint`?
fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = t.operator.as_deref() == Some("Exists")
            || t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("");
        effect_ok && key_ok && value_ok
    })
}

/// The required pod anti-affinity terms with the hostname topology, as label selectors.
fn hostname_anti(spec: &PodSpec) -> Vec<LabelSel> {
    spec.affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|t| t.topology_key == "kubernetes.io/hostname")
        .filter_map(|t| LabelSel::from_label_selector(t.label_selector.as_ref()))
        .collect()
}

impl Cluster {
    /// Would `pod` on `node` break a hostname anti-affinity term (its own against the node's
    /// pods, or theirs against it)? Terms select pods of the same namespace.
    fn repelled(&self, node: &str, pod: &Pod) -> bool {
        let ns = pod.metadata.namespace.as_deref();
        let mine = pod.spec.as_ref().map(hostname_anti).unwrap_or_default();
        self.pods_by_node
            .get(node)
            .into_iter()
            .flatten()
            .any(|key| {
                let Some(p) = self.pods.get(key) else {
                    return false;
                };
                if p.metadata.deletion_timestamp.is_some() || p.metadata.namespace.as_deref() != ns
                {
                    return false;
                }
                let theirs = p.spec.as_ref().map(hostname_anti).unwrap_or_default();
                mine.iter().any(|s| s.matches(p.metadata.labels.as_ref()))
                    || theirs
                        .iter()
                        .any(|s| s.matches(pod.metadata.labels.as_ref()))
            })
    }

    /// Would `pod` on `node` keep its DoNotSchedule topology spread constraints?
    fn spread_ok(&self, node: &Node, pod: &Pod) -> bool {
        let default = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&default);
        let ns = pod.metadata.namespace.as_deref();
        let selector = spec.node_selector.clone().unwrap_or_default();
        spec.topology_spread_constraints
            .iter()
            .flatten()
            .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
            .all(|c| {
                let key = &c.topology_key;
                let Some(domain) = node.metadata.labels.as_ref().and_then(|l| l.get(key)) else {
                    return false;
                };
                let sel = LabelSel::from_label_selector(c.label_selector.as_ref());
                let selects = |labels: Option<&BTreeMap<String, String>>| {
                    sel.as_ref().is_some_and(|s| s.matches(labels))
                };
                let mut count: BTreeMap<String, i64> = BTreeMap::new();
                for n in self.nodes.values() {
                    let labels = n.metadata.labels.clone().unwrap_or_default();
                    let Some(v) = labels.get(key) else {
                        continue;
                    };
                    if !selector.iter().all(|(k, want)| labels.get(k) == Some(want)) {
                        continue;
                    }
                    let name = n.metadata.name.clone().unwrap_or_default();
                    let here = self
                        .pods_by_node
                        .get(&name)
                        .into_iter()
                        .flatten()
                        .filter_map(|k| self.pods.get(k))
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .filter(|p| p.metadata.namespace.as_deref() == ns)
                        .filter(|p| selects(p.metadata.labels.as_ref()))
                        .count();
                    *count.entry(v.clone()).or_default() += here as i64;
                }
                let few = c
                    .min_domains
                    .is_some_and(|m| (count.len() as i64) < i64::from(m));
                let min = if few {
                    0
                } else {
                    count.values().copied().min().unwrap_or(0)
                };
                let own = i64::from(selects(pod.metadata.labels.as_ref()));
                count.get(domain).copied().unwrap_or(0) + own - min <= i64::from(c.max_skew)
            })
    }

    /// May every volume the pod claims be used on `node`?
    fn volumes_reach(&self, node: &Node, pod: &Pod) -> bool {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let get = |resource: &str, ns: &str, name: &str| {
            self.generic
                .get(&(String::new(), resource.to_string()))
                .and_then(|r| r.objects.get(&(ns.to_string(), name.to_string())))
                .cloned()
        };
        let term_matches = |t: &serde_json::Value| {
            t["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|e| {
                    let key = e["key"].as_str().unwrap_or_default();
                    let values: Vec<&str> = e["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str())
                        .collect();
                    let have = labels.get(key).map(String::as_str);
                    match e["operator"].as_str() {
                        Some("In") => have.is_some_and(|h| values.contains(&h)),
                        Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                        Some("Exists") => have.is_some(),
                        Some("DoesNotExist") => have.is_none(),
                        _ => false,
                    }
                })
        };
        pod.spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .all(|c| {
                let Some(pvc) = get("persistentvolumeclaims", &ns, &c.claim_name) else {
                    return false; // the claim is not there: the pod stays Pending
                };
                let Some(pv) = pvc.pointer("/spec/volumeName").and_then(|v| v.as_str()) else {
                    return true;
                };
                let terms = get("persistentvolumes", "", pv).and_then(|v| {
                    v.pointer("/spec/nodeAffinity/required/nodeSelectorTerms")
                        .and_then(|t| t.as_array().cloned())
                });
                match terms {
                    Some(ts) if !ts.is_empty() => ts.iter().any(term_matches),
                    _ => true,
                }
            })
    }

    /// Would `pod` fit on `node` (filters only)?
    fn fits(&self, node: &Node, pod: &Pod) -> bool {
        let default = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&default);
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let tolerations = spec.tolerations.as_deref().unwrap_or_default();
        let taints_ok = node
            .spec
            .iter()
            .flat_map(|s| s.taints.iter().flatten())
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .all(|t| tolerates(tolerations, t));
        let labels = node.metadata.labels.as_ref();
        let selector_ok = spec
            .node_selector
            .iter()
            .flatten()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !taints_ok
            || !selector_ok
            || self.repelled(name, pod)
            || !self.spread_ok(node, pod)
            || !self.volumes_reach(node, pod)
        {
            return false;
        }
        let alloc = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let limit = |k: &str, f: fn(&str) -> Option<u64>| {
            alloc.and_then(|a| a.get(k)).and_then(|q| f(&q.0))
        };
        let (want_cpu, want_mem) = requests(spec);
        let (mut cpu, mut mem, mut pods) = (want_cpu, want_mem, 1u64);
        for key in self.pods_by_node.get(name).into_iter().flatten() {
            let Some(p) = self.pods.get(key) else {
                continue;
            };
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let (c, m) = p.spec.as_ref().map(requests).unwrap_or_default();
            cpu += c;
            mem += m;
            pods += 1;
        }
        limit("cpu", cpu_millis).is_none_or(|l| cpu <= l)
            && limit("memory", bytes).is_none_or(|l| mem <= l)
            && limit("pods", |q| q.parse().ok()).is_none_or(|l| pods <= l)
    }

    /// The node the simulated scheduler binds `pod` to, or `None` (it stays Pending, and is
    /// tried again on each tick).
    pub(super) fn pick_node(&self, exclude: Option<&str>, pod: &Pod) -> Option<String> {
        self.nodes
            .values()
            .filter(|n| {
                let name = n.metadata.name.as_deref().unwrap_or_default();
                Some(name) != exclude
                    && !is_unschedulable(n)
                    && node_is_ready(n)
                    && self.fits(n, pod)
            })
            // kube-scheduler's TaintToleration score: a node with a PreferNoSchedule taint is
            // avoided while another has room.
            .map(|n| {
                let avoided = n
                    .spec
                    .iter()
                    .flat_map(|s| s.taints.iter().flatten())
                    .any(|t| t.effect == "PreferNoSchedule");
                (avoided, n.metadata.name.clone().unwrap_or_default())
            })
            .min_by_key(|(avoided, name)| {
                (
                    *avoided,
                    self.pods_by_node.get(name).map_or(0, |s| s.len()),
                    name.clone(),
                )
            })
            .map(|(_, name)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("1.5"), Some(1500));
        assert_eq!(bytes("16Gi"), Some(16 << 30));
        assert_eq!(bytes("100M"), Some(100_000_000));
    }
}
