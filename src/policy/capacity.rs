//! Will the pods fit? The capacity preview of `drain-next --strategy replace`: the pods a
//! drain moves, placed on the destination nodes as far as the API shows what the scheduler
//! would do: requests against allocatable minus what already runs there, `nodeSelector`,
//! required node affinity (`matchExpressions` on labels) and NoSchedule/NoExecute taints
//! against tolerations. First fit, largest first; pods left without a node would stay
//! Pending. Pure.
//!
//! What it cannot see: pod (anti-)affinity, topology spread, volumes bound to a zone, extended
//! resources, priorities and preemption. A pod placed here may still not schedule; a pod left
//! Pending here will not.

use crate::facts::resources::Resources;
use crate::facts::selector::{Requirement, Selector};
use k8s_openapi::api::core::v1::{Pod, Toleration};
use std::collections::BTreeMap;

/// A pod that must move, with what decides where it may go.
#[derive(Debug, Clone, Default)]
pub struct Moving {
    /// `ns/name`.
    pub key: String,
    pub requests: Resources,
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity: any one term must hold (each a selector over node labels).
    pub affinity: Vec<Selector>,
    pub tolerations: Vec<Toleration>,
}

impl Moving {
    pub fn from_pod(p: &Pod) -> Moving {
        let spec = p.spec.clone().unwrap_or_default();
        let affinity = spec
            .affinity
            .and_then(|a| a.node_affinity)
            .and_then(|n| n.required_during_scheduling_ignored_during_execution)
            .map(|r| {
                r.node_selector_terms
                    .iter()
                    .map(|t| Selector {
                        requirements: t
                            .match_expressions
                            .iter()
                            .flatten()
                            .map(|e| {
                                let values = e.values.clone().unwrap_or_default();
                                match e.operator.as_str() {
                                    "In" => Requirement::In(e.key.clone(), values),
                                    "NotIn" => Requirement::NotIn(e.key.clone(), values),
                                    "Exists" => Requirement::Exists(e.key.clone()),
                                    "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                                    other => Requirement::Invalid(other.to_string()),
                                }
                            })
                            .collect(),
                        everything: true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Moving {
            key: format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            ),
            requests: Resources::requested_by(p),
            node_selector: spec.node_selector.unwrap_or_default(),
            affinity,
            tolerations: spec.tolerations.unwrap_or_default(),
        }
    }
}

/// A node the pods may move to, and its room.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `key=value:Effect` / `key:Effect`, as [`crate::facts::node::NodeFacts`] keeps them.
    pub taints: Vec<String>,
    pub free: Resources,
}

/// Whether `t` (a `key=value:Effect` taint) is tolerated.
fn tolerated(t: &str, tolerations: &[Toleration]) -> bool {
    let (kv, effect) = t.rsplit_once(':').unwrap_or((t, ""));
    if !matches!(effect, "NoSchedule" | "NoExecute") {
        return true; // PreferNoSchedule does not keep a pod off
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    tolerations.iter().any(|tol| {
        let effect_ok = tol
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == effect);
        let key_ok = match tol.key.as_deref() {
            None | Some("") => tol.operator.as_deref() == Some("Exists"),
            Some(k) => k == key,
        };
        let value_ok = match tol.operator.as_deref() {
            Some("Exists") => true,
            _ => tol.value.as_deref().unwrap_or("") == value,
        };
        effect_ok && key_ok && value_ok
    })
}

/// May `pod` go to `d` at all (ignoring room)?
pub fn eligible(pod: &Moving, d: &Destination) -> bool {
    pod.node_selector
        .iter()
        .all(|(k, v)| d.labels.get(k) == Some(v))
        && (pod.affinity.is_empty() || pod.affinity.iter().any(|t| t.matches(&d.labels)))
        && d.taints.iter().all(|t| tolerated(t, &pod.tolerations))
}

/// Place the pods, largest CPU request first, each on the first eligible destination with
/// room. Returns the pods left without a node (they would stay Pending), each with why.
pub fn place(pods: &[Moving], destinations: &[Destination]) -> Vec<(String, String)> {
    let mut free: Vec<Resources> = destinations.iter().map(|d| d.free).collect();
    let mut order: Vec<&Moving> = pods.iter().collect();
    order.sort_by(|a, b| {
        (b.requests.cpu_millis, b.requests.memory_bytes)
            .cmp(&(a.requests.cpu_millis, a.requests.memory_bytes))
    });
    let mut pending = Vec::new();
    for pod in order {
        let eligible: Vec<usize> = (0..destinations.len())
            .filter(|&i| eligible(pod, &destinations[i]))
            .collect();
        match eligible.iter().find(|&&i| free[i].holds(pod.requests)) {
            Some(&i) => free[i] = free[i].minus(pod.requests),
            None if eligible.is_empty() => pending.push((
                pod.key.clone(),
                "no destination matches its nodeSelector, required node affinity or tolerations"
                    .to_string(),
            )),
            None => pending.push((
                pod.key.clone(),
                format!(
                    "no eligible destination has room for {}",
                    pod.requests.text()
                ),
            )),
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpu: u64, mib: u64) -> Resources {
        Resources {
            cpu_millis: cpu,
            memory_bytes: mib << 20,
            pods: 1,
        }
    }

    fn dest(name: &str, labels: &[(&str, &str)], taints: &[&str], free: Resources) -> Destination {
        Destination {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            taints: taints.iter().map(|t| t.to_string()).collect(),
            free,
        }
    }

    #[test]
    fn pods_are_placed_by_room_selectors_affinity_and_taints() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "app", "name": "gpu-0"},
            "spec": {
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
                "nodeSelector": {"pool": "gpu"},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
            }
        }))
        .unwrap();
        let gpu = Moving::from_pod(&pod);
        assert_eq!(gpu.requests.cpu_millis, 500);
        let room = Resources {
            cpu_millis: 4000,
            memory_bytes: 8 << 30,
            pods: 110,
        };
        let good = dest(
            "g1",
            &[("pool", "gpu"), ("zone", "a")],
            &["dedicated=gpu:NoSchedule"],
            room,
        );
        let wrong_zone = dest("g2", &[("pool", "gpu"), ("zone", "c")], &[], room);
        let untolerated = dest(
            "g3",
            &[("pool", "gpu"), ("zone", "b")],
            &["other=x:NoExecute"],
            room,
        );
        let soft_taint = dest(
            "g4",
            &[("pool", "gpu"), ("zone", "b")],
            &["x:PreferNoSchedule"],
            room,
        );
        assert!(eligible(&gpu, &good));
        assert!(!eligible(&gpu, &wrong_zone));
        assert!(!eligible(&gpu, &untolerated));
        assert!(eligible(&gpu, &soft_taint));
        assert!(place(std::slice::from_ref(&gpu), std::slice::from_ref(&good)).is_empty());
        let pending = place(std::slice::from_ref(&gpu), &[wrong_zone, untolerated]);
        assert_eq!(pending.len(), 1);
        assert!(pending[0].1.contains("nodeSelector"), "{pending:?}");

        // Room: two 600m pods and one destination with 1000m free: the second stays Pending.
        let web = |n: &str| Moving {
            key: format!("app/{n}"),
            requests: r(600, 100),
            ..Moving::default()
        };
        let small = dest(
            "w1",
            &[],
            &[],
            Resources {
                cpu_millis: 1000,
                memory_bytes: 1 << 30,
                pods: 10,
            },
        );
        let pending = place(&[web("a"), web("b")], &[small]);
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert!(pending[0].1.contains("room"), "{pending:?}");
    }
}
