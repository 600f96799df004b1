//! CPU, memory and pod slots: a node's allocatable and what pods request, with Kubernetes
//! quantity parsing (`940m`, `2`, `2702176Ki`, `8Gi`, `1e9`). Pure.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An amount of the three resources a drain moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub pods: u64,
}

impl Resources {
    pub fn add(&mut self, o: Resources) {
        self.cpu_millis += o.cpu_millis;
        self.memory_bytes += o.memory_bytes;
        self.pods += o.pods;
    }

    /// `self - o`, never below zero.
    pub fn minus(self, o: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(o.memory_bytes),
            pods: self.pods.saturating_sub(o.pods),
        }
    }

    /// Every resource of `need` fits in `self`.
    pub fn holds(self, need: Resources) -> bool {
        need.cpu_millis <= self.cpu_millis
            && need.memory_bytes <= self.memory_bytes
            && need.pods <= self.pods
    }

    /// `cpu 1500m, memory 3.2Gi, 12 pods`.
    pub fn text(self) -> String {
        let gib = self.memory_bytes as f64 / (1u64 << 30) as f64;
        format!(
            "cpu {}m, memory {gib:.1}Gi, {} pod(s)",
            self.cpu_millis, self.pods
        )
    }

    /// From a node's `status.allocatable` (`None` when it does not say cpu and memory).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Option<Resources> {
        Some(Resources {
            cpu_millis: cpu_millis(&list.get("cpu")?.0)?,
            memory_bytes: bytes(&list.get("memory")?.0)?,
            pods: list.get("pods").and_then(|q| bytes(&q.0)).unwrap_or(110),
        })
    }

    /// What a pod asks the scheduler for: its containers' requests, or its largest init
    /// container's when that is larger; one pod slot.
    pub fn requested_by(pod: &Pod) -> Resources {
        let Some(spec) = pod.spec.as_ref() else {
            return Resources::default();
        };
        let of = |c: &k8s_openapi::api::core::v1::Container| {
            let req = c.resources.as_ref().and_then(|r| r.requests.as_ref());
            let get = |k: &str, f: fn(&str) -> Option<u64>| {
                req.and_then(|r| r.get(k))
                    .and_then(|q| f(&q.0))
                    .unwrap_or(0)
            };
            (get("cpu", cpu_millis), get("memory", bytes))
        };
        let (mut cpu, mut mem) = (0u64, 0u64);
        for c in &spec.containers {
            let (c, m) = of(c);
            cpu += c;
            mem += m;
        }
        for c in spec.init_containers.iter().flatten() {
            let (c, m) = of(c);
            cpu = cpu.max(c);
            mem = mem.max(m);
        }
        Resources {
            cpu_millis: cpu,
            memory_bytes: mem,
            pods: 1,
        }
    }
}

/// `940m` -> 940, `2` -> 2000, `0.5` -> 500.
pub fn cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse::<f64>().ok().map(|v| v.ceil() as u64);
    }
    let v = number(q)?;
    Some((v * 1000.0).ceil() as u64)
}

/// `2702176Ki`, `8Gi`, `500M`, `1e9`, `128974848` -> bytes.
pub fn bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("m", 1e-3),
    ];
    for (s, f) in SUFFIXES {
        if let Some(n) = q.strip_suffix(s) {
            return n.parse::<f64>().ok().map(|v| (v * f).ceil() as u64);
        }
    }
    number(q).map(|v| v.ceil() as u64)
}

/// A plain or exponent number (`1e9`, `1E3`, `12`).
fn number(q: &str) -> Option<f64> {
    q.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        assert_eq!(cpu_millis("940m"), Some(940));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.5"), Some(500));
        assert_eq!(cpu_millis("bogus"), None);
        assert_eq!(bytes("2702176Ki"), Some(2702176 * 1024));
        assert_eq!(bytes("8Gi"), Some(8 << 30));
        assert_eq!(bytes("500M"), Some(500_000_000));
        assert_eq!(bytes("1e9"), Some(1_000_000_000));
        assert_eq!(bytes("110"), Some(110));
    }

    #[test]
    fn a_pod_requests_its_containers_or_its_largest_init_container() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "250m"}}}
                ],
                "initContainers": [
                    {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "64Mi"}}}
                ]
            }
        }))
        .unwrap();
        let r = Resources::requested_by(&pod);
        assert_eq!(r.cpu_millis, 1000);
        assert_eq!(r.memory_bytes, 256 << 20);
        assert_eq!(r.pods, 1);
        let free = Resources {
            cpu_millis: 1000,
            memory_bytes: 256 << 20,
            pods: 1,
        };
        assert!(free.holds(r) && !free.minus(r).holds(r));
    }
}
