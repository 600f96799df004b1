//! Admission webhooks that stop a drain (pure): a webhook that fails closed and intercepts
//! evictions refuses every eviction while its Service has no ready endpoint; one that
//! intercepts pod creation refuses the evicted pods' replacements. And a webhook whose only
//! ready endpoints run on the nodes being drained loses them during the drain: when it must
//! admit its own pods' replacements, nothing it intercepts can be created again (the
//! deadlock); otherwise evictions or creations it intercepts fail until a replacement of its
//! backend is Ready elsewhere.
//!
//! One judgement for `check`'s drain preview, `simulate` and the preflight of `drain` and
//! `drain-next` (which refuse to start on a blocking one; `--ignore-blockers` goes ahead).

use crate::facts::webhook::{Admission, Applies};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The rule every webhook finding cites.
pub const RULE: &str = "admission webhooks: a webhook with failurePolicy Fail is called for every request it matches; when it cannot be reached the request is refused (kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#failure-policy)";

/// What draining some nodes meets from one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRisk {
    /// `name (ValidatingWebhookConfiguration cfg)`.
    pub webhook: String,
    pub service: String,
    /// `down`: its Service has no ready endpoint; `onlyOnDrained`: every ready endpoint runs
    /// on the nodes being drained.
    pub state: &'static str,
    /// The drain cannot finish (refused before it starts).
    pub blocks: bool,
    pub message: String,
}

/// What the pods a drain moves expose to each webhook (indexed like `Admission::webhooks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposure {
    pub applies: Vec<Applies>,
    /// The webhook must admit the replacement of one of its own endpoint pods that moves.
    pub self_admits: Vec<bool>,
}

impl Exposure {
    pub fn new(adm: &Admission) -> Exposure {
        Exposure {
            applies: vec![Applies::default(); adm.webhooks.len()],
            self_admits: vec![false; adm.webhooks.len()],
        }
    }

    /// Every webhook taken to intercept everything it can (when the pods are not known).
    pub fn all(adm: &Admission) -> Exposure {
        Exposure {
            applies: adm
                .webhooks
                .iter()
                .map(|w| Applies {
                    evictions: w.evictions,
                    creation: w.pod_creation,
                })
                .collect(),
            self_admits: vec![false; adm.webhooks.len()],
        }
    }

    /// One pod the drain moves (`owned`: a controller replaces it).
    pub fn add(
        &mut self,
        adm: &Admission,
        key: &str,
        ns: &str,
        labels: &BTreeMap<String, String>,
        owned: bool,
    ) {
        for (i, w) in adm.webhooks.iter().enumerate() {
            let a = adm.applies(w, ns, labels, owned);
            self.applies[i].evictions |= a.evictions;
            self.applies[i].creation |= a.creation;
            if a.creation && !self.self_admits[i] {
                let backs = w
                    .service
                    .as_ref()
                    .and_then(|s| adm.endpoints.get(s))
                    .is_some_and(|eps| eps.iter().any(|e| e.pod.as_deref() == Some(key)));
                self.self_admits[i] = backs;
            }
        }
    }

    pub fn merge(&mut self, other: &Exposure) {
        for (a, b) in self.applies.iter_mut().zip(&other.applies) {
            a.evictions |= b.evictions;
            a.creation |= b.creation;
        }
        for (a, b) in self.self_admits.iter_mut().zip(&other.self_admits) {
            *a |= *b;
        }
    }
}

/// The webhooks draining `nodes` meets, given what the moved pods expose.
pub fn risks(adm: &Admission, nodes: &BTreeSet<&str>, exposure: &Exposure) -> Vec<WebhookRisk> {
    let mut out = Vec::new();
    for (i, w) in adm.webhooks.iter().enumerate() {
        let Some(service) = w.service.as_deref() else {
            continue; // called at a URL: its reachability is not visible here
        };
        let a = exposure.applies.get(i).copied().unwrap_or_default();
        let self_admits = exposure.self_admits.get(i).copied().unwrap_or(false);
        if !a.evictions && !a.creation {
            continue;
        }
        let refused = match (a.evictions, a.creation) {
            (true, true) => "every eviction it matches and the evicted pods' replacements",
            (true, false) => "every eviction it matches",
            _ => "the evicted pods' replacements",
        };
        let maybe = if w.conditions {
            " (its matchConditions may exempt some)"
        } else {
            ""
        };
        let ready = adm.ready_endpoints(service);
        if ready.is_empty() {
            out.push(WebhookRisk {
                webhook: w.display(),
                service: service.to_string(),
                state: "down",
                blocks: true,
                message: format!(
                    "webhook {} fails closed and its Service {service} has no ready endpoint: the API server refuses {refused}{maybe}; bring its backend up or set failurePolicy: Ignore before draining",
                    w.display()
                ),
            });
            continue;
        }
        let on: BTreeSet<&str> = ready.iter().filter_map(|e| e.node.as_deref()).collect();
        let all_drained = ready
            .iter()
            .all(|e| e.node.as_deref().is_some_and(|n| nodes.contains(n)));
        if !all_drained {
            continue;
        }
        let where_ = on.iter().copied().collect::<Vec<_>>().join(", ");
        let (blocks, message) = if self_admits {
            (
                true,
                format!(
                    "webhook {} fails closed and every ready endpoint of its Service {service} runs on {where_}: the drain evicts them, and their replacements are pods this webhook must admit, so nothing it matches can be created until it is fixed{maybe}; run a replica elsewhere first (or exclude its own pods with an objectSelector)",
                    w.display()
                ),
            )
        } else {
            (
                false,
                format!(
                    "webhook {} fails closed and every ready endpoint of its Service {service} runs on {where_}: once the drain evicts them, the API server refuses {refused} until a replacement is Ready elsewhere{maybe}; run a replica on another node first",
                    w.display()
                ),
            )
        };
        out.push(WebhookRisk {
            webhook: w.display(),
            service: service.to_string(),
            state: "onlyOnDrained",
            blocks,
            message,
        });
    }
    out
}

/// Webhooks called at a URL, which this check cannot see behind (said once per report).
pub fn unseen(adm: &Admission) -> Vec<String> {
    adm.webhooks
        .iter()
        .filter(|w| w.service.is_none())
        .map(|w| w.display())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::selector::Selector;
    use crate::facts::webhook::{Endpoint, Webhook};

    fn adm(evictions: bool, creation: bool, endpoints: &[(&str, bool, &str)]) -> Admission {
        Admission {
            read: true,
            webhooks: vec![Webhook {
                config: "ValidatingWebhookConfiguration policy".into(),
                name: "check.example.com".into(),
                evictions,
                pod_creation: creation,
                service: Some("guard/hook".into()),
                namespace_selector: Selector::everything(),
                object_selector: Selector::everything(),
                conditions: false,
            }],
            endpoints: BTreeMap::from([(
                "guard/hook".to_string(),
                endpoints
                    .iter()
                    .map(|(node, ready, pod)| Endpoint {
                        node: Some(node.to_string()),
                        ready: *ready,
                        pod: Some(pod.to_string()),
                    })
                    .collect(),
            )]),
            namespaces: None,
        }
    }

    fn exposure(a: &Admission, pods: &[(&str, &str, bool)]) -> Exposure {
        let mut e = Exposure::new(a);
        for (key, ns, owned) in pods {
            e.add(a, key, ns, &BTreeMap::new(), *owned);
        }
        e
    }

    fn nodes<'a>(n: &[&'a str]) -> BTreeSet<&'a str> {
        n.iter().copied().collect()
    }

    #[test]
    fn a_webhook_without_ready_endpoints_blocks_what_it_intercepts() {
        let a = adm(true, false, &[("w2", false, "guard/hook-1")]);
        let e = exposure(&a, &[("shop/web-1", "shop", true)]);
        let r = risks(&a, &nodes(&["w1"]), &e);
        assert_eq!(r.len(), 1);
        assert!(r[0].blocks && r[0].state == "down", "{r:?}");
        assert!(
            r[0].message.contains("every eviction it matches"),
            "{}",
            r[0].message
        );
        // A drain that moves nothing meets no webhook.
        assert!(risks(&a, &nodes(&["w1"]), &Exposure::new(&a)).is_empty());
        // Pod creation only: bare pods have no replacement to refuse.
        let c = adm(false, true, &[]);
        assert!(risks(
            &c,
            &nodes(&["w1"]),
            &exposure(&c, &[("shop/bare", "shop", false)])
        )
        .is_empty());
        let r = risks(
            &c,
            &nodes(&["w1"]),
            &exposure(&c, &[("shop/web-1", "shop", true)]),
        );
        assert!(
            r[0].blocks && r[0].message.contains("replacements"),
            "{r:?}"
        );
    }

    #[test]
    fn endpoints_only_on_the_drained_nodes_warn_or_deadlock() {
        // Evictions only, its backend on w1: a window, not a deadlock.
        let a = adm(true, false, &[("w1", true, "guard/hook-1")]);
        let e = exposure(
            &a,
            &[
                ("guard/hook-1", "guard", true),
                ("shop/web-1", "shop", true),
            ],
        );
        let r = risks(&a, &nodes(&["w1"]), &e);
        assert_eq!((r[0].state, r[0].blocks), ("onlyOnDrained", false), "{r:?}");
        // Another node with a ready endpoint: nothing to say.
        let a2 = adm(
            true,
            false,
            &[("w1", true, "guard/hook-1"), ("w2", true, "guard/hook-2")],
        );
        assert!(risks(
            &a2,
            &nodes(&["w1"]),
            &exposure(&a2, &[("shop/web-1", "shop", true)])
        )
        .is_empty());
        // ...unless both are drained together.
        assert_eq!(
            risks(
                &a2,
                &nodes(&["w1", "w2"]),
                &exposure(&a2, &[("shop/web-1", "shop", true)])
            )
            .len(),
            1
        );
        // Pod creation, and it admits its own replacement: the deadlock.
        let c = adm(false, true, &[("w1", true, "guard/hook-1")]);
        let e = exposure(&c, &[("guard/hook-1", "guard", true)]);
        let r = risks(&c, &nodes(&["w1"]), &e);
        assert!(
            r[0].blocks && r[0].message.contains("nothing it matches can be created"),
            "{r:?}"
        );
        // An unready endpoint elsewhere does not help.
        let c2 = adm(
            false,
            true,
            &[("w1", true, "guard/hook-1"), ("w2", false, "guard/hook-2")],
        );
        let e = exposure(&c2, &[("guard/hook-1", "guard", true)]);
        assert!(risks(&c2, &nodes(&["w1"]), &e)[0].blocks);
    }

    #[test]
    fn webhooks_at_a_url_are_said_not_judged() {
        let mut a = adm(true, true, &[]);
        a.webhooks[0].service = None;
        let e = Exposure::all(&a);
        assert!(risks(&a, &nodes(&["w1"]), &e).is_empty());
        assert_eq!(
            unseen(&a),
            vec!["check.example.com (ValidatingWebhookConfiguration policy)"]
        );
    }
}
