//! Admission webhooks as a drain meets them: which webhooks can refuse an eviction
//! (`CREATE pods/eviction`) or the evicted pods' replacements (`CREATE pods`) when they are
//! down (`failurePolicy: Fail`, the default of admissionregistration.k8s.io/v1), where their
//! Service's ready endpoints run (EndpointSlices), and the namespace labels their
//! `namespaceSelector` reads. Reduced from the objects the live reader, a snapshot or a dump
//! gives; judged by [`crate::policy::webhooks`]. Pure.
//!
//! Matching follows the admission chain: a rule matches an operation, API group, version
//! (matchPolicy Equivalent, the default, matches a request through any version: evictions
//! arrive as `pods/eviction` in the core group whatever version the client used) and
//! resource (`*` any resource, `*/*` any resource and subresource, `pods/*` any pod
//! subresource, `*/eviction`). An Eviction object carries no labels, so an `objectSelector`
//! that asks for labels never selects an eviction; a pod's replacement is selected by its
//! template's labels, the ones the evicted pod carries.

use crate::facts::selector::{Requirement, Selector};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// The label every namespace carries with its own name (set by the API server since 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The label an EndpointSlice names its Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One of the objects the webhook check reads, as listed or given in a file.
#[derive(Debug, Clone)]
pub enum AdmissionObject {
    Validating(ValidatingWebhookConfiguration),
    Mutating(MutatingWebhookConfiguration),
    Slice(EndpointSlice),
    Namespace(Namespace),
}

/// A webhook that can stop a drain: `failurePolicy: Fail` and intercepting evictions or pod
/// creation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Webhook {
    /// `ValidatingWebhookConfiguration NAME` or `MutatingWebhookConfiguration NAME`.
    pub config: String,
    /// The webhook's own name (`deny.example.com`).
    pub name: String,
    /// Intercepts `CREATE pods/eviction`.
    pub evictions: bool,
    /// Intercepts `CREATE pods` (the replacements a ReplicaSet or StatefulSet makes).
    pub pod_creation: bool,
    /// Its Service (`ns/name`); `None` when it is called at a URL (outside the cluster's view).
    pub service: Option<String>,
    pub namespace_selector: Selector,
    pub object_selector: Selector,
    /// It has `matchConditions` (CEL), which may exempt some requests.
    pub conditions: bool,
}

impl Webhook {
    /// `ValidatingWebhookConfiguration cfg / webhook`.
    pub fn display(&self) -> String {
        format!("{} ({})", self.name, self.config)
    }
}

/// One endpoint of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub node: Option<String>,
    /// `conditions.ready` (unset means ready, as the API documents).
    pub ready: bool,
    /// The pod behind it (`ns/name`), when it names one.
    pub pod: Option<String>,
}

/// What the webhook check knows of a cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admission {
    /// Whether webhook configurations were read at all (a snapshot or dump may not have them).
    pub read: bool,
    /// Webhooks that can stop a drain (others are not kept).
    pub webhooks: Vec<Webhook>,
    /// Endpoints per Service (`ns/name`), for the Services those webhooks call.
    pub endpoints: BTreeMap<String, Vec<Endpoint>>,
    /// Namespace labels, when namespaces were read.
    pub namespaces: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// Does a rule's resource pattern cover `resource` (`pods` or `pods/eviction`)?
fn resource_matches(pattern: &str, resource: &str) -> bool {
    let (res, sub) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (resource, None),
    };
    if pattern == "*/*" {
        return true; // every resource and every subresource
    }
    match pattern.split_once('/') {
        None => sub.is_none() && (pattern == "*" || pattern == res),
        Some((pr, ps)) => sub.is_some_and(|s| ps == "*" || ps == s) && (pr == "*" || pr == res),
    }
}

/// Does the rule intercept `CREATE` of the core group's `resource`?
fn intercepts(r: &RuleWithOperations, resource: &str) -> bool {
    let any =
        |v: &Option<Vec<String>>, want: &str| v.iter().flatten().any(|x| x == "*" || x == want);
    any(&r.operations, "CREATE")
        && any(&r.api_groups, "")
        && !r.api_versions.as_ref().is_none_or(Vec::is_empty)
        && r.scope
            .as_deref()
            .is_none_or(|s| s == "*" || s == "Namespaced")
        && r.resources
            .iter()
            .flatten()
            .any(|p| resource_matches(p, resource))
}

/// A nil selector on a webhook selects everything (unlike a PDB's).
fn webhook_selector(s: Option<&LabelSelector>) -> Selector {
    match s {
        None => Selector::everything(),
        Some(s) => Selector::from_label_selector(Some(s)),
    }
}

struct Parts<'a> {
    config: String,
    name: &'a str,
    failure_policy: Option<&'a str>,
    client: &'a WebhookClientConfig,
    rules: Option<&'a Vec<RuleWithOperations>>,
    namespace_selector: Option<&'a LabelSelector>,
    object_selector: Option<&'a LabelSelector>,
    conditions: bool,
}

fn reduce(p: Parts<'_>) -> Option<Webhook> {
    // admissionregistration.k8s.io/v1 defaults failurePolicy to Fail.
    if p.failure_policy.is_some_and(|f| f != "Fail") {
        return None;
    }
    let rules = p.rules.map(Vec::as_slice).unwrap_or_default();
    let evictions = rules.iter().any(|r| intercepts(r, "pods/eviction"));
    let pod_creation = rules.iter().any(|r| intercepts(r, "pods"));
    if !evictions && !pod_creation {
        return None;
    }
    Some(Webhook {
        config: p.config,
        name: p.name.to_string(),
        evictions,
        pod_creation,
        service: p
            .client
            .service
            .as_ref()
            .map(|s| format!("{}/{}", s.namespace, s.name)),
        namespace_selector: webhook_selector(p.namespace_selector),
        object_selector: webhook_selector(p.object_selector),
        conditions: p.conditions,
    })
}

/// The webhooks of a configuration (validating or mutating: the same fields) that can stop
/// a drain.
macro_rules! reduce_config {
    ($kind:literal, $c:expr) => {{
        let config = format!(
            "{} {}",
            $kind,
            $c.metadata.name.as_deref().unwrap_or_default()
        );
        $c.webhooks
            .iter()
            .flatten()
            .filter_map(|w| {
                reduce(Parts {
                    config: config.clone(),
                    name: &w.name,
                    failure_policy: w.failure_policy.as_deref(),
                    client: &w.client_config,
                    rules: w.rules.as_ref(),
                    namespace_selector: w.namespace_selector.as_ref(),
                    object_selector: w.object_selector.as_ref(),
                    conditions: w.match_conditions.as_ref().is_some_and(|m| !m.is_empty()),
                })
            })
            .collect()
    }};
}

/// The webhooks of a configuration that can stop a drain.
pub fn validating(c: &ValidatingWebhookConfiguration) -> Vec<Webhook> {
    reduce_config!("ValidatingWebhookConfiguration", c)
}

/// The webhooks of a configuration that can stop a drain.
pub fn mutating(c: &MutatingWebhookConfiguration) -> Vec<Webhook> {
    reduce_config!("MutatingWebhookConfiguration", c)
}

/// The Service (`ns/name`) a slice belongs to, and its endpoints.
pub fn slice_endpoints(s: &EndpointSlice) -> Option<(String, Vec<Endpoint>)> {
    let ns = s.metadata.namespace.as_deref()?;
    let svc = s.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let eps = s
        .endpoints
        .iter()
        .flatten()
        .map(|e| Endpoint {
            node: e.node_name.clone(),
            ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
            pod: e
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .map(|r| {
                    format!(
                        "{}/{}",
                        r.namespace.as_deref().unwrap_or(ns),
                        r.name.as_deref().unwrap_or_default()
                    )
                }),
        })
        .collect();
    Some((format!("{ns}/{svc}"), eps))
}

/// Whether a webhook intercepts a drain's requests for the pods of one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applies {
    /// Their evictions.
    pub evictions: bool,
    /// Their replacements' creation (controller-owned pods only have replacements).
    pub creation: bool,
}

impl Admission {
    /// Take in one object.
    pub fn add(&mut self, obj: &AdmissionObject) {
        match obj {
            AdmissionObject::Validating(c) => {
                self.read = true;
                self.webhooks.extend(validating(c));
            }
            AdmissionObject::Mutating(c) => {
                self.read = true;
                self.webhooks.extend(mutating(c));
            }
            AdmissionObject::Slice(s) => {
                if let Some((svc, eps)) = slice_endpoints(s) {
                    self.endpoints.entry(svc).or_default().extend(eps);
                }
            }
            AdmissionObject::Namespace(n) => {
                let name = n.metadata.name.clone().unwrap_or_default();
                let mut labels = n.metadata.labels.clone().unwrap_or_default();
                labels
                    .entry(NAMESPACE_NAME_LABEL.to_string())
                    .or_insert_with(|| name.clone());
                self.namespaces
                    .get_or_insert_with(BTreeMap::new)
                    .insert(name, labels);
            }
        }
    }

    /// Does the webhook's `namespaceSelector` select `ns`? Without the namespaces' labels
    /// only the name label is known: a selector on any other key is taken to select it.
    fn selects_namespace(&self, w: &Webhook, ns: &str) -> bool {
        let known = self.namespaces.as_ref().and_then(|m| m.get(ns));
        match known {
            Some(labels) => w.namespace_selector.matches(labels),
            None => {
                let only_name = w
                    .namespace_selector
                    .requirements
                    .iter()
                    .all(|r| key_of(r).is_none_or(|k| k == NAMESPACE_NAME_LABEL));
                if !only_name {
                    return true;
                }
                let labels = BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())]);
                w.namespace_selector.matches(&labels)
            }
        }
    }

    /// What the webhook intercepts of draining a pod in `ns` with `labels` (`owned`: a
    /// controller makes a replacement).
    pub fn applies(
        &self,
        w: &Webhook,
        ns: &str,
        labels: &BTreeMap<String, String>,
        owned: bool,
    ) -> Applies {
        if !self.selects_namespace(w, ns) {
            return Applies::default();
        }
        Applies {
            evictions: w.evictions && w.object_selector.matches(&BTreeMap::new()),
            creation: w.pod_creation && owned && w.object_selector.matches(labels),
        }
    }

    /// Whether judging a `namespaceSelector` needs namespace labels other than the name.
    pub fn needs_namespaces(&self) -> bool {
        self.webhooks.iter().any(|w| {
            w.namespace_selector
                .requirements
                .iter()
                .any(|r| key_of(r).is_some_and(|k| k != NAMESPACE_NAME_LABEL))
        })
    }

    /// The Service's ready endpoints (empty when it has none, or no slice was read).
    pub fn ready_endpoints(&self, service: &str) -> Vec<&Endpoint> {
        self.endpoints
            .get(service)
            .map(|eps| eps.iter().filter(|e| e.ready).collect())
            .unwrap_or_default()
    }
}

pub fn key_of(r: &Requirement) -> Option<&str> {
    match r {
        Requirement::Equals(k, _)
        | Requirement::NotEquals(k, _)
        | Requirement::In(k, _)
        | Requirement::NotIn(k, _)
        | Requirement::Exists(k)
        | Requirement::DoesNotExist(k)
        | Requirement::GreaterThan(k, _)
        | Requirement::LessThan(k, _) => Some(k),
        Requirement::Invalid(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(webhooks: serde_json::Value) -> ValidatingWebhookConfiguration {
        serde_json::from_value(json!({
            "metadata": {"name": "policy"},
            "webhooks": webhooks,
        }))
        .expect("config")
    }

    fn hook(rules: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
        let mut w = json!({
            "name": "check.example.com",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {"service": {"namespace": "guard", "name": "hook"}},
            "rules": rules,
        });
        if let (Some(m), Some(e)) = (w.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        w
    }

    fn rule(resources: &[&str], ops: &[&str]) -> serde_json::Value {
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ops, "resources": resources}])
    }

    #[test]
    fn rules_match_as_the_admission_chain_matches_them() {
        let cases: &[(&[&str], &[&str], bool, bool)] = &[
            (&["pods/eviction"], &["CREATE"], true, false),
            (&["pods"], &["CREATE"], false, true),
            (&["pods"], &["*"], false, true),
            (&["*"], &["CREATE"], false, true),
            (&["*/*"], &["CREATE"], true, true),
            (&["pods/*"], &["CREATE"], true, false),
            (&["*/eviction"], &["CREATE"], true, false),
            (&["pods"], &["UPDATE", "DELETE"], false, false),
            (&["pods/status"], &["CREATE"], false, false),
            (&["deployments"], &["CREATE"], false, false),
        ];
        for (resources, ops, evictions, creation) in cases {
            let got = validating(&config(json!([hook(rule(resources, ops), json!({}))])));
            let got = got.first().map(|w| (w.evictions, w.pod_creation));
            let want = (*evictions || *creation).then_some((*evictions, *creation));
            assert_eq!(got, want, "{resources:?} {ops:?}");
        }
        // Another API group's pods are not the core group's.
        let apps = json!([{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["*"], "resources": ["*/*"]}]);
        assert!(validating(&config(json!([hook(apps, json!({}))]))).is_empty());
    }

    #[test]
    fn only_webhooks_that_fail_closed_are_kept() {
        let r = rule(&["pods/eviction"], &["CREATE"]);
        let ignore = hook(r.clone(), json!({"failurePolicy": "Ignore"}));
        let fail = hook(r.clone(), json!({"failurePolicy": "Fail"}));
        let default = hook(r, json!({}));
        let got = validating(&config(json!([ignore, fail, default])));
        assert_eq!(got.len(), 2, "Fail and the v1 default (Fail)");
        assert_eq!(got[0].service.as_deref(), Some("guard/hook"));
        assert_eq!(got[0].config, "ValidatingWebhookConfiguration policy");
    }

    #[test]
    fn selectors_decide_what_a_webhook_intercepts() {
        let r = json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods", "pods/eviction"]}]);
        let scoped = hook(
            r,
            json!({
                "namespaceSelector": {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": ["kube-system"]}]},
                "objectSelector": {"matchLabels": {"guarded": "yes"}},
            }),
        );
        let mut adm = Admission::default();
        adm.add(&AdmissionObject::Validating(config(json!([scoped]))));
        let w = adm.webhooks[0].clone();
        let guarded = BTreeMap::from([("guarded".to_string(), "yes".to_string())]);
        let plain = BTreeMap::new();
        // An Eviction has no labels: a selector asking for some never selects it.
        assert_eq!(
            adm.applies(&w, "shop", &guarded, true),
            Applies {
                evictions: false,
                creation: true
            }
        );
        assert_eq!(adm.applies(&w, "shop", &plain, true), Applies::default());
        assert_eq!(adm.applies(&w, "shop", &guarded, false), Applies::default());
        assert_eq!(
            adm.applies(&w, "kube-system", &guarded, true),
            Applies::default()
        );
        // A selector on another namespace label: unknown without the namespaces, taken to
        // select; known once they are read.
        let mut w2 = w.clone();
        w2.namespace_selector = Selector::from_label_selector(Some(&LabelSelector {
            match_labels: Some(BTreeMap::from([("team".into(), "a".into())])),
            ..LabelSelector::default()
        }));
        assert!(adm.applies(&w2, "shop", &guarded, true).creation);
        adm.add(&AdmissionObject::Namespace(Namespace {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("shop".into()),
                labels: Some(BTreeMap::from([("team".into(), "b".into())])),
                ..Default::default()
            },
            ..Namespace::default()
        }));
        assert!(!adm.applies(&w2, "shop", &guarded, true).creation);
    }

    #[test]
    fn endpoints_come_from_slices_by_service_name() {
        let s: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "hook-abc", "namespace": "guard", "labels": {SERVICE_NAME_LABEL: "hook"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "nodeName": "w1", "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "hook-1", "namespace": "guard"}},
                {"addresses": ["10.0.0.2"], "nodeName": "w2", "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"], "nodeName": "w3"},
            ],
        }))
        .expect("slice");
        let mut adm = Admission::default();
        adm.add(&AdmissionObject::Slice(s));
        let ready: Vec<Option<&str>> = adm
            .ready_endpoints("guard/hook")
            .iter()
            .map(|e| e.node.as_deref())
            .collect();
        assert_eq!(ready, vec![Some("w1"), Some("w3")]);
        assert_eq!(
            adm.endpoints["guard/hook"][0].pod.as_deref(),
            Some("guard/hook-1")
        );
        assert!(adm.ready_endpoints("guard/other").is_empty());
    }
}
