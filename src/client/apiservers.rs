//! The kube-apiserver instances a mutating command compares versions with: the static pods
//! of kube-system (kubeadm and other static-pod control planes show every HA instance
//! through the API, as mirror pods), else the `/version` answer alone (a managed control
//! plane hides them). The oldest instance is the reference, as in `check`
//! ([`crate::policy::skew::apiservers_of`]): `/version` may be answered by the newest one.

use crate::client::connect::{api_error, is_forbidden, Connection};
use crate::client::error::ClientError;
use crate::facts::pod::component_of;
use crate::policy::skew::{apiservers_of, Apiservers};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

/// The oldest kube-apiserver's version as its pod or `/version` wrote it: the default target
/// of drain-next and status, the reference of their skew checks.
pub async fn oldest_version(conn: &Connection) -> Result<String, ClientError> {
    Ok(read(conn)
        .await?
        .map_or_else(|| conn.server_version.clone(), |a| a.oldest.raw))
}

/// The apiservers; `None` when not even `/version` parses. A list of kube-system pods that
/// is forbidden falls back to `/version` (said on stderr).
pub async fn read(conn: &Connection) -> Result<Option<Apiservers>, ClientError> {
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), "kube-system");
    let listed = api
        .list(&ListParams::default().labels("component=kube-apiserver"))
        .await;
    let pods = match listed {
        Ok(list) => list.items,
        Err(e) if is_forbidden(&e) => {
            eprintln!(
                "note: cannot list pods in kube-system (forbidden): comparing with the /version answer only ({}), which in an HA control plane mid-upgrade may be the newest instance",
                conn.server_version
            );
            vec![]
        }
        Err(e) => return Err(api_error(e, "list", "pods", None, &conn.description).into()),
    };
    let components: Vec<_> = pods
        .iter()
        .filter_map(component_of)
        .map(|(_, c)| c)
        .collect();
    Ok(apiservers_of(&components, Some(&conn.server_version)))
}
