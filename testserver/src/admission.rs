//! Admission webhooks, as far as the test server plays them: the EndpointSlice controller
//! (one slice per Service with a selector, its endpoints the selected pods that are on a
//! node: ready when the pod is Ready and not terminating), and the admission chain's
//! `failurePolicy: Fail` for evictions: a validating or mutating webhook that matches
//! `CREATE pods/eviction` and whose Service has no ready endpoint refuses every eviction
//! with the real server's 500. A webhook with ready endpoints is taken to allow (nothing
//! here calls it), and its `namespaceSelector`, `objectSelector` and `matchConditions` are
//! not evaluated (the scenarios that use it have none); the real control plane, where the
//! call really fails, is the reference (testserver/README.md).

use crate::cluster::Cluster;
use crate::status::ApiError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const SLICES: (&str, &str) = ("discovery.k8s.io", "endpointslices");
const SERVICES: (&str, &str) = ("", "services");
const SERVICE_NAME: &str = "kubernetes.io/service-name";

impl Cluster {
    /// Keep one EndpointSlice per Service with a selector, as the EndpointSlice controller
    /// does. Cheap when there are no Services (every commit calls it).
    pub(crate) fn sync_endpoint_slices(&mut self) {
        let services: Vec<(String, String, BTreeMap<String, String>)> = match self
            .generic
            .get(&(SERVICES.0.to_string(), SERVICES.1.to_string()))
        {
            None => return,
            Some(r) => r
                .objects
                .iter()
                .filter_map(|((ns, name), o)| {
                    let sel: BTreeMap<String, String> =
                        serde_json::from_value(o.pointer("/spec/selector")?.clone()).ok()?;
                    Some((ns.clone(), name.clone(), sel))
                })
                .collect(),
        };
        for (ns, name, sel) in services {
            let endpoints: Vec<Value> = self
                .pods
                .iter()
                .filter(|((pns, _), _)| *pns == ns)
                .filter(|(_, p)| {
                    let labels = p.metadata.labels.clone().unwrap_or_default();
                    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
                .filter_map(|((pns, pname), p)| {
                    let node = p.spec.as_ref()?.node_name.clone()?;
                    let ready = crate::cluster::pod_is_healthy(p);
                    Some(json!({
                        "addresses": [p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_else(|| "10.0.0.1".into())],
                        "conditions": {"ready": ready, "serving": ready, "terminating": p.metadata.deletion_timestamp.is_some()},
                        "nodeName": node,
                        "targetRef": {"kind": "Pod", "namespace": pns, "name": pname},
                    }))
                })
                .collect();
            let slice_name = format!("{name}-sim");
            let current = self
                .generic
                .get(&(SLICES.0.to_string(), SLICES.1.to_string()))
                .and_then(|r| r.objects.get(&(ns.clone(), slice_name.clone())))
                .and_then(|o| o.get("endpoints").cloned());
            if current.as_ref() == Some(&Value::Array(endpoints.clone())) {
                continue;
            }
            self.add_object(
                "discovery.k8s.io/v1",
                SLICES.1,
                json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {"name": slice_name, "namespace": ns, "labels": {SERVICE_NAME: name}},
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                }),
            );
        }
    }

    fn ready_endpoints(&self, ns: &str, service: &str) -> usize {
        self.generic
            .get(&(SLICES.0.to_string(), SLICES.1.to_string()))
            .map(|r| {
                r.objects
                    .iter()
                    .filter(|((sns, _), o)| {
                        sns == ns
                            && o.pointer(&format!(
                                "/metadata/labels/{}",
                                SERVICE_NAME.replace('/', "~1")
                            ))
                            .and_then(Value::as_str)
                                == Some(service)
                    })
                    .flat_map(|(_, o)| o["endpoints"].as_array().cloned().unwrap_or_default())
                    .filter(|e| {
                        e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// The admission chain for an eviction: the refusal of the first webhook that fails
    /// closed, matches it and cannot be reached.
    pub(crate) fn eviction_admission(&self) -> Result<(), ApiError> {
        let matches = |rule: &Value| {
            let has = |field: &str, want: &[&str]| {
                rule[field].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|x| x.as_str().is_some_and(|x| want.contains(&x)))
                })
            };
            has("operations", &["CREATE", "*"])
                && has("apiGroups", &["", "*"])
                && has(
                    "resources",
                    &["pods/eviction", "pods/*", "*/eviction", "*/*"],
                )
        };
        for kind in [
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
        ] {
            let Some(r) = self
                .generic
                .get(&("admissionregistration.k8s.io".to_string(), kind.to_string()))
            else {
                continue;
            };
            for cfg in r.objects.values() {
                for w in cfg["webhooks"].as_array().into_iter().flatten() {
                    let fails_closed = w["failurePolicy"].as_str().is_none_or(|f| f == "Fail");
                    let hit = w["rules"]
                        .as_array()
                        .is_some_and(|rs| rs.iter().any(matches));
                    let Some(svc) = w.pointer("/clientConfig/service") else {
                        continue;
                    };
                    let (ns, name) = (
                        svc["namespace"].as_str().unwrap_or_default(),
                        svc["name"].as_str().unwrap_or_default(),
                    );
                    if fails_closed && hit && self.ready_endpoints(ns, name) == 0 {
                        let hook = w["name"].as_str().unwrap_or_default();
                        let path = svc["path"].as_str().unwrap_or("/");
                        let timeout = w["timeoutSeconds"].as_u64().unwrap_or(10);
                        return Err(ApiError::webhook_unreachable(format!(
                            "failed calling webhook \"{hook}\": failed to call webhook: Post \"https://{name}.{ns}.svc:443{path}?timeout={timeout}s\": no endpoints available for service \"{name}\""
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
