//! "Can I?" before a mutation: a SelfSubjectAccessReview (`authorization.k8s.io/v1`) per
//! permission a drain needs, so that a drain RBAC would refuse halfway stops before the node
//! is cordoned. Every authenticated user may create these reviews (`system:basic-user`).

use crate::client::error::ClientError;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// One permission, as RBAC spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    /// `pods`, `nodes`; with `subresource`, `pods/eviction`.
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Permission {
    /// `create pods/eviction in namespace shop`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.verb, self.rbac_resource());
        if let Some(n) = &self.name {
            s.push_str(&format!(" {n}"));
        }
        if let Some(ns) = &self.namespace {
            s.push_str(&format!(" in namespace {ns}"));
        }
        s
    }

    pub fn rbac_resource(&self) -> String {
        match self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.to_string(),
        }
    }
}

/// The first permission the server says is denied, with its reason; `Ok(None)` when every
/// one is allowed. When the server cannot answer (no authorization API, an error), the
/// permissions are not known: the caller goes ahead and the real request will say.
pub async fn first_denied(
    client: &kube::Client,
    wanted: &[Permission],
) -> Result<Option<(Permission, String)>, String> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for p in wanted {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(p.verb.to_string()),
                    resource: Some(p.resource.to_string()),
                    subresource: p.subresource.map(str::to_string),
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    group: Some(String::new()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        match api.create(&PostParams::default(), &review).await {
            Ok(answer) => {
                let status = answer.status.unwrap_or_default();
                if !status.allowed || status.denied == Some(true) {
                    let why = status
                        .reason
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| "no RBAC rule allows it".into());
                    return Ok(Some((p.clone(), why)));
                }
            }
            Err(e) => {
                return Err(crate::client::connect::one_line(&e.to_string()));
            }
        }
    }
    Ok(None)
}

/// The one-line refusal for a denied permission (exit 3, as the API's own 403 would be).
pub fn refusal(node: &str, p: &Permission, why: &str) -> ClientError {
    ClientError::Denied(format!(
        "drain of {node} refused before it started (node not touched): not allowed to {} ({why}); grant verb \"{}\" on resource \"{}\" (see deploy/rbac.yaml)",
        p.describe(),
        p.verb,
        p.rbac_resource()
    ))
}
