//! Reading what the webhook check judges (I/O): the validating and mutating webhook
//! configurations; then, only for the webhooks that can stop a drain
//! ([`crate::facts::webhook`]), the EndpointSlices of their Services (one labelled list per
//! Service) and, when a `namespaceSelector` reads a namespace label other than the name,
//! the namespaces. Shared by `check`/`simulate` (the inventory reader) and the drain's
//! preflight. A 403 or a kind the server does not serve is a note, not a failure.

use crate::client::connect::{api_error, is_forbidden, is_not_served};
use crate::client::error::ClientError;
use crate::facts::webhook::{Admission, AdmissionObject, SERVICE_NAME_LABEL};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use std::collections::BTreeSet;

/// What was read, in the order the reducer wants it (configurations first), and what could
/// not be.
#[derive(Debug, Default)]
pub struct Read {
    pub objects: Vec<AdmissionObject>,
    pub notes: Vec<String>,
}

impl Read {
    /// The facts, reduced.
    pub fn admission(&self) -> Admission {
        let mut a = Admission::default();
        for o in &self.objects {
            a.add(o);
        }
        a
    }
}

/// A list that may be refused: `Ok(None)` with a note on 403 or when not served.
async fn list_or_note<K>(
    cluster: &str,
    api: Api<K>,
    lp: ListParams,
    resource: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<K>>, ClientError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match crate::client::paging::list_all(&api, lp).await {
        Ok((items, _)) => Ok(Some(items)),
        Err(e) if is_forbidden(&e) => {
            notes.push(format!(
                "cannot list {resource} (forbidden): admission webhooks that can stop a drain were not checked fully; grant it (deploy/rbac.yaml)"
            ));
            Ok(None)
        }
        Err(e) if is_not_served(&e) => Ok(None),
        Err(e) => Err(api_error(e, "list", resource, None, cluster).into()),
    }
}

/// Read the webhook configurations and what judging them needs.
pub async fn read(client: &kube::Client, cluster: &str) -> Result<Read, ClientError> {
    let mut out = Read::default();
    let client = client.clone();
    let all = ListParams::default();
    if let Some(items) = list_or_note(
        cluster,
        Api::<ValidatingWebhookConfiguration>::all(client.clone()),
        all.clone(),
        "validatingwebhookconfigurations",
        &mut out.notes,
    )
    .await?
    {
        out.objects
            .extend(items.into_iter().map(AdmissionObject::Validating));
    }
    if let Some(items) = list_or_note(
        cluster,
        Api::<MutatingWebhookConfiguration>::all(client.clone()),
        all.clone(),
        "mutatingwebhookconfigurations",
        &mut out.notes,
    )
    .await?
    {
        out.objects
            .extend(items.into_iter().map(AdmissionObject::Mutating));
    }
    let adm = out.admission();
    let services: BTreeSet<&str> = adm
        .webhooks
        .iter()
        .filter_map(|w| w.service.as_deref())
        .collect();
    for svc in services {
        let Some((ns, name)) = svc.split_once('/') else {
            continue;
        };
        let lp = ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={name}"));
        if let Some(items) = list_or_note(
            cluster,
            Api::<EndpointSlice>::namespaced(client.clone(), ns),
            lp,
            "endpointslices",
            &mut out.notes,
        )
        .await?
        {
            out.objects
                .extend(items.into_iter().map(AdmissionObject::Slice));
        }
    }
    if adm.needs_namespaces() {
        if let Some(items) = list_or_note(
            cluster,
            Api::<Namespace>::all(client),
            all,
            "namespaces",
            &mut out.notes,
        )
        .await?
        {
            out.objects
                .extend(items.into_iter().map(AdmissionObject::Namespace));
        }
    }
    Ok(out)
}
