//! Reading what the VolumeBinding filter reads (I/O): every PersistentVolumeClaim (which
//! volume it is bound to) and PersistentVolume (its required node affinity), reduced to
//! [`Volumes`]. Asked only when a pod that may move claims a volume. A 403 is a note: the
//! placement then does not see where volumes reach.

use crate::client::connect::{api_error, is_forbidden};
use crate::client::error::ClientError;
use crate::policy::capacity::Volumes;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, ListParams};

/// Every object of a kind, page by page into `f`; `Ok(false)` when forbidden.
async fn each<K>(
    client: &kube::Client,
    cluster: &str,
    resource: &str,
    f: impl FnMut(Vec<K>),
) -> Result<bool, ClientError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api = Api::<K>::all(client.clone());
    match crate::client::paging::each_page(&api, ListParams::default(), f).await {
        Ok(_) => Ok(true),
        Err(e) if is_forbidden(&e) => Ok(false),
        Err(e) => Err(api_error(e, "list", resource, None, cluster).into()),
    }
}

/// The bound volumes' node affinity, and what could not be read.
pub async fn read(
    client: &kube::Client,
    cluster: &str,
) -> Result<(Volumes, Vec<String>), ClientError> {
    let mut volumes = Volumes::default();
    let claims = each::<PersistentVolumeClaim>(client, cluster, "persistentvolumeclaims", |page| {
        page.iter().for_each(|c| volumes.add_claim(c))
    })
    .await?;
    let reached = each::<PersistentVolume>(client, cluster, "persistentvolumes", |page| {
        page.iter().for_each(|v| volumes.add_volume(v))
    })
    .await?;
    if claims && reached {
        return Ok((volumes, vec![]));
    }
    let missing = if claims {
        "persistentvolumes"
    } else {
        "persistentvolumeclaims"
    };
    Ok((
        Volumes::default(),
        vec![format!(
            "cannot list {missing} (forbidden): where bound volumes let pods run (zonal disks, local volumes) is not known; grant it (deploy/rbac.yaml)"
        )],
    ))
}
