//! `metav1.Status` error bodies as kube-apiserver writes them
//! (`k8s.io/apimachinery/pkg/api/errors`).

use serde_json::{json, Value};

/// An API error answered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub code: u16,
    /// `reason` of the Status; empty for the eviction's bare 500.
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for the `Retry-After` header (only when > 0, like the real server).
    pub retry_after: Option<u64>,
}

/// Resource name as the errors package prints a `GroupResource` (`pods`, `poddisruptionbudgets.policy`).
pub(crate) fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(group: &str, resource: &str, name: &str) -> Value {
    let mut d = json!({ "kind": resource });
    if !name.is_empty() {
        d["name"] = json!(name);
    }
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

impl ApiError {
    /// The JSON Status body.
    pub(crate) fn body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            v["reason"] = json!(self.reason);
        }
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }

    /// 404 `pods "x" not found`.
    pub(crate) fn not_found(group: &str, resource: &str, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} {name:?} not found", qualified(group, resource)),
            details: Some(details(group, resource, name)),
            retry_after: None,
        }
    }

    /// 404 for a path the server does not serve.
    pub(crate) fn path_not_found() -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(json!({})),
            retry_after: None,
        }
    }

    /// 409 `Operation cannot be fulfilled on pods "x": <why>`.
    pub(crate) fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                qualified(group, resource)
            ),
            details: Some(details(group, resource, name)),
            retry_after: None,
        }
    }

    /// 409 `pods "x" already exists`.
    pub(crate) fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} {name:?} already exists", qualified(group, resource)),
            details: Some(details(group, resource, name)),
            retry_after: None,
        }
    }

    /// 403 with the RBAC authorizer's message (`responsewriters.forbiddenMessage`).
    pub(crate) fn forbidden_rbac(
        user: &str,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        let full = match subresource {
            Some(s) => format!("{resource}/{s}"),
            None => resource.to_string(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_string(),
        };
        let why =
            format!("User {user:?} cannot {verb} resource {full:?} in API group {group:?} {scope}");
        let q = qualified(group, resource);
        let message = if name.is_empty() {
            format!("{q} is forbidden: {why}")
        } else {
            format!("{q} {name:?} is forbidden: {why}")
        };
        ApiError {
            code: 403,
            reason: "Forbidden",
            message,
            details: Some(details(group, resource, name)),
            retry_after: None,
        }
    }

    /// 403 `poddisruptionbudget.policy "x" is forbidden: <why>` (eviction with a negative budget).
    pub(crate) fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{} {name:?} is forbidden: {why}",
                qualified(group, resource)
            ),
            details: Some(details(group, resource, name)),
            retry_after: None,
        }
    }

    /// 400 BadRequest.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 405 MethodNotAllowed.
    pub(crate) fn method_not_allowed(group: &str, resource: &str) -> Self {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".into(),
            details: Some(details(group, resource, "")),
            retry_after: None,
        }
    }

    /// 410 Expired (continue token or watch resourceVersion older than the kept history).
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        ApiError {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 415 for bodies that are not JSON (protobuf, apply-patch YAML).
    pub(crate) fn unsupported_media_type(ct: &str) -> Self {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!("the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json (got {ct:?})"),
            details: None,
            retry_after: None,
        }
    }

    /// 429 from the eviction handler, with a `DisruptionBudget` cause.
    pub(crate) fn too_many_requests_pdb(cause: String, retry_after: u64) -> Self {
        let mut d = json!({ "causes": [ { "reason": "DisruptionBudget", "message": cause } ] });
        if retry_after > 0 {
            d["retryAfterSeconds"] = json!(retry_after);
        }
        ApiError {
            code: 429,
            reason: "TooManyRequests",
            message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            details: Some(d),
            retry_after: (retry_after > 0).then_some(retry_after),
        }
    }

    /// The admission chain's 500 when a webhook that fails closed cannot be called
    /// (`apierrors.NewInternalError`: reason InternalError, the message in a cause).
    pub(crate) fn webhook_unreachable(why: String) -> Self {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: format!("Internal error occurred: {why}"),
            details: Some(json!({"causes": [{"message": why}]})),
            retry_after: None,
        }
    }

    /// The eviction handler's 500 for several matching PDBs (a Status without reason).
    pub(crate) fn multiple_pdbs() -> Self {
        ApiError {
            code: 500,
            reason: "",
            message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
            details: None,
            retry_after: None,
        }
    }

    /// 401 from the authenticator: the body says only "Unauthorized", as the real server's
    /// (the reason is in its log, not in the answer).
    pub(crate) fn unauthorized() -> Self {
        ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: None,
            retry_after: None,
        }
    }

    /// 403 on a non-resource path (`forbidden: User "system:anonymous" cannot get path "/api"`).
    pub(crate) fn forbidden_path(user: &str, path: &str) -> Self {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!("forbidden: User {user:?} cannot get path {path:?}"),
            details: Some(json!({})),
            retry_after: None,
        }
    }

    /// 429 from API Priority and Fairness (`apf_filter`: "Too many requests, please try again
    /// later."), with `Retry-After`.
    pub(crate) fn too_many_requests_apf(retry_after: u64) -> Self {
        ApiError {
            code: 429,
            reason: "TooManyRequests",
            message: "Too many requests, please try again later.".into(),
            details: Some(json!({"retryAfterSeconds": retry_after})),
            retry_after: Some(retry_after),
        }
    }

    /// 503 during a simulated control-plane outage.
    pub(crate) fn service_unavailable() -> Self {
        ApiError {
            code: 503,
            reason: "ServiceUnavailable",
            message: "the server is currently unable to handle the request".into(),
            details: None,
            retry_after: Some(1),
        }
    }

    /// An injected error (see `TestServer::fail_next_evictions`).
    pub(crate) fn injected(code: u16) -> Self {
        let reason = match code {
            400 => "BadRequest",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "",
        };
        ApiError {
            code,
            reason,
            message: format!("injected failure (HTTP {code})"),
            details: None,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_match_the_real_server() {
        let e = ApiError::forbidden_rbac(
            "test",
            "create",
            "",
            "pods",
            Some("eviction"),
            Some("ns"),
            "x",
        );
        assert_eq!(
            e.message,
            r#"pods "x" is forbidden: User "test" cannot create resource "pods/eviction" in API group "" in the namespace "ns""#
        );
        let e = ApiError::forbidden_rbac("test", "list", "", "nodes", None, None, "");
        assert_eq!(
            e.message,
            r#"nodes is forbidden: User "test" cannot list resource "nodes" in API group "" at the cluster scope"#
        );
        let e = ApiError::forbidden_rbac(
            "test",
            "list",
            "policy",
            "poddisruptionbudgets",
            None,
            None,
            "",
        );
        assert!(e.message.starts_with("poddisruptionbudgets.policy is forbidden: User \"test\" cannot list resource \"poddisruptionbudgets\" in API group \"policy\""));
        assert_eq!(e.body()["reason"], "Forbidden");
        assert_eq!(e.body()["code"], 403);
    }

    #[test]
    fn not_found_and_500_bodies() {
        let b = ApiError::not_found("", "pods", "x").body();
        assert_eq!(b["message"], r#"pods "x" not found"#);
        assert_eq!(b["details"]["name"], "x");
        assert_eq!(b["details"]["kind"], "pods");
        let b = ApiError::multiple_pdbs().body();
        assert!(b.get("reason").is_none());
        assert_eq!(b["code"], 500);
    }
}
