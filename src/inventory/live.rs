//! Live reader: pages through the API (PDBs first, then nodes and pods concurrently) and
//! hands each object to a [`Sink`] as soon as its page arrives. Pages are reduced and
//! dropped; the whole cluster's JSON is never held.

use super::snapshot::{SnapshotMeta, SnapshotWriter};
use super::Reducer;
use crate::client::connect::{api_error, Connection};
use crate::client::error::ClientError;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, ObjectList};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::io::Write;
use std::time::Duration;
use tokio::sync::mpsc;

/// Page size for list calls (kubectl uses 500 too).
pub use crate::client::paging::PAGE_SIZE;

/// One object read from the cluster, in the order the sink must see them.
// Every variant is moved once from its page to the sink; boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    Node(Node),
    Pod(Pod),
    Pdb(PodDisruptionBudget),
    ConfigMap(ConfigMap),
    /// Every PDB has been delivered (pods can be matched against them on arrival).
    PdbsDone,
    /// An object of a kind the API scan reads: its kind, the version it was read with, and
    /// its metadata reduced by [`crate::facts::apiusage::reduce_meta`].
    Api {
        kind: String,
        served: String,
        meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    },
    Crd(crate::facts::apiusage::CrdFacts),
    /// A usage with no object behind it in the cluster (Helm release, metric).
    Usage(crate::facts::apiusage::Usage),
    /// A webhook configuration, EndpointSlice or Namespace the webhook check reads.
    Admission(crate::facts::webhook::AdmissionObject),
    /// A deployed Helm release's chart (`--helm`).
    HelmChart(crate::facts::helm::ChartFacts),
}

/// Receives objects as they are read.
pub trait Sink {
    fn object(&mut self, obj: Object) -> Result<(), ClientError>;
}

impl Sink for Reducer {
    fn object(&mut self, obj: Object) -> Result<(), ClientError> {
        match obj {
            Object::Node(n) => self.node(n),
            Object::Pod(p) => self.pod(p),
            Object::Pdb(p) => self.pdb(p),
            Object::ConfigMap(c) => self.configmap(c),
            Object::PdbsDone => self.pdbs_done(),
            Object::Api { kind, served, meta } => self.api_object(&kind, &served, &meta),
            Object::Crd(c) => self.crd(c),
            Object::Usage(u) => self.api_usage(u),
            Object::Admission(a) => self.admission(a),
            Object::HelmChart(c) => self.helm_chart(c),
        }
        Ok(())
    }
}

impl<W: Write> Sink for SnapshotWriter<W> {
    fn object(&mut self, obj: Object) -> Result<(), ClientError> {
        let written = match &obj {
            Object::Node(n) => self.node(n),
            Object::Pod(p) => self.pod(p),
            Object::Pdb(p) => self.pdb(p),
            Object::ConfigMap(c) => self.configmap(c),
            Object::PdbsDone => Ok(()),
            Object::Api { kind, served, meta } => self.api_object(kind, served, meta),
            Object::Crd(c) => self.crd(c),
            Object::Usage(u) => {
                self.usage(u);
                Ok(())
            }
            Object::Admission(a) => self.admission(a),
            Object::HelmChart(c) => {
                self.helm_chart(c.clone());
                Ok(())
            }
        };
        written.map_err(ClientError::Output)
    }
}

/// Read the live cluster behind `connect` into an inventory: the core objects, the removed-API
/// scan (and Helm releases with `helm`), the server's and kubectl's versions.
pub async fn inventory(
    connect: &crate::client::connect::ConnectOpts,
    apis: &crate::policy::apis::ApiData,
    helm: bool,
    kubelet_configz: bool,
) -> Result<crate::facts::inventory::Inventory, ClientError> {
    let conn = connect.connect().await?;
    let mut reducer = Reducer::new(conn.description.clone());
    let (meta, (kubectl, kubectl_note), (certs, cert_notes)) = tokio::join!(
        read(&conn, &mut reducer),
        kubectl_client_version(),
        crate::client::certs::read(&conn.config)
    );
    let mut meta = meta?;
    meta.notes.extend(cert_notes);
    reducer.certificates(certs);
    meta.notes
        .extend(super::scan::scan(&conn, apis, helm, &mut reducer).await?);
    if kubelet_configz {
        let nodes = reducer.node_names();
        let (configs, notes) = crate::client::configz::read(&conn, &nodes).await;
        for c in configs {
            reducer.component_config(c);
        }
        meta.notes.extend(notes);
    }
    reducer.set_server_version(meta.server_version);
    reducer.set_kubectl_version(kubectl);
    for n in meta.notes.into_iter().chain(kubectl_note) {
        reducer.note(n);
    }
    Ok(reducer.finish())
}

/// One cluster's snapshot (what `check --snapshot` reads), written to `out` as it is read.
pub async fn snapshot(
    connect: &crate::client::connect::ConnectOpts,
    helm: bool,
    out: impl Write,
) -> Result<(), ClientError> {
    let conn = connect.connect().await?;
    let mut writer = SnapshotWriter::begin(out).map_err(ClientError::Output)?;
    let (meta, (kubectl, kubectl_note), (certs, cert_notes)) = tokio::join!(
        read(&conn, &mut writer as &mut dyn Sink),
        kubectl_client_version(),
        crate::client::certs::read(&conn.config)
    );
    let mut meta = meta?;
    meta.notes.extend(cert_notes);
    meta.certificates = certs;
    let data = crate::policy::apis::builtin();
    meta.notes
        .extend(super::scan::scan(&conn, &data, helm, &mut writer as &mut dyn Sink).await?);
    meta.notes.extend(kubectl_note);
    writer
        .finish(&meta.into_snapshot_meta(kubectl))
        .map_err(ClientError::Output)?;
    Ok(())
}

/// What the live reader learned besides the objects.
#[derive(Debug, Default)]
pub struct LiveMeta {
    pub server_version: String,
    pub notes: Vec<String>,
    pub certificates: Vec<crate::facts::cert::CertFacts>,
}

impl LiveMeta {
    pub fn into_snapshot_meta(self, kubectl_version: Option<String>) -> SnapshotMeta {
        SnapshotMeta {
            server_version: Some(self.server_version),
            kubectl_version,
            captured_at: Some(jiff::Timestamp::now().to_string()),
            notes: self.notes,
            usages: Vec::new(),
            certificates: self.certificates,
            helm_charts: Vec::new(),
        }
    }
}

/// Apply the per-request time limit (kube 4 has no read timeout by default).
async fn timed<T>(
    conn: &Connection,
    what: &str,
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<Result<T, kube::Error>, ClientError> {
    match conn.request_timeout {
        None => Ok(fut.await),
        Some(limit) => tokio::time::timeout(limit, fut).await.map_err(|_| {
            ClientError::Request(format!(
                "{what} on {} timed out after {}; raise --request-timeout or check the API server",
                conn.description,
                crate::findings::duration_text(limit)
            ))
        }),
    }
}

/// Page through a list, sending each page's items (mapped to [`Object`]) to `tx`.
async fn list_pages<K>(
    conn: Connection,
    api: Api<K>,
    resource: &'static str,
    wrap: fn(K) -> Object,
    tx: mpsc::Sender<Vec<Object>>,
) -> Result<(), ClientError>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page: ObjectList<K> = timed(&conn, &format!("list {resource}"), api.list(&params))
            .await?
            .map_err(|e| api_error(e, "list", resource, None, &conn.description))?;
        let more = crate::client::paging::advance(&mut params, &page.metadata);
        let items: Vec<Object> = page.items.into_iter().map(wrap).collect();
        if tx.send(items).await.is_err() {
            return Ok(()); // consumer stopped on an error of its own
        }
        if !more {
            return Ok(());
        }
    }
}

/// Read everything `check` needs into `sink`.
pub async fn read(conn: &Connection, sink: &mut dyn Sink) -> Result<LiveMeta, ClientError> {
    let client = conn.client.clone();
    let mut meta = LiveMeta {
        server_version: conn.server_version.clone(),
        notes: Vec::new(),
        certificates: Vec::new(),
    };

    // PDBs first, so pods are matched on arrival and their labels dropped.
    let (tx, mut rx) = mpsc::channel::<Vec<Object>>(4);
    let pdb_api: Api<PodDisruptionBudget> = Api::all(client.clone());
    let consume = async {
        while let Some(page) = rx.recv().await {
            for obj in page {
                sink.object(obj)?;
            }
        }
        Ok::<(), ClientError>(())
    };
    let (listed, consumed) = tokio::join!(
        list_pages(
            conn.clone(),
            pdb_api,
            "poddisruptionbudgets",
            Object::Pdb,
            tx
        ),
        consume
    );
    listed?;
    consumed?;
    sink.object(Object::PdbsDone)?;

    // Admission webhooks before the pods, so each pod is judged against them on arrival.
    let admission = crate::client::admission::read(&conn.client, &conn.description).await?;
    meta.notes.extend(admission.notes);
    for o in admission.objects {
        sink.object(Object::Admission(o))?;
    }

    // kubeadm-config: optional evidence; absence or a 403 is a note, not a failure.
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    match timed(conn, "get configmap", cm_api.get_opt("kubeadm-config")).await? {
        Ok(Some(cm)) => sink.object(Object::ConfigMap(cm))?,
        Ok(None) => {}
        Err(e) if crate::client::connect::is_forbidden(&e) => meta.notes.push(
            "cannot read ConfigMap kube-system/kubeadm-config (forbidden): setup detection uses other evidence".into(),
        ),
        Err(e) => return Err(api_error(e, "get", "configmaps", Some("kube-system/kubeadm-config"), &conn.description).into()),
    }

    // Nodes and pods concurrently, each list in a task of its own so that pages are parsed on
    // the runtime's workers while this task reduces; one consumer keeps the sink single-threaded.
    let (tx, mut rx) = mpsc::channel::<Vec<Object>>(4);
    let node_api: Api<Node> = Api::all(client.clone());
    let pod_api: Api<Pod> = Api::all(client);
    let nodes = tokio::spawn(list_pages(
        conn.clone(),
        node_api,
        "nodes",
        Object::Node,
        tx.clone(),
    ));
    let pods = tokio::spawn(list_pages(conn.clone(), pod_api, "pods", Object::Pod, tx));
    let producers = async {
        let joined = |r: Result<Result<(), ClientError>, tokio::task::JoinError>| {
            r.unwrap_or_else(|e| {
                Err(ClientError::Request(format!(
                    "reading the cluster failed: {e}"
                )))
            })
        };
        joined(nodes.await).and(joined(pods.await))
    };
    let mut apiserver_pods = 0usize;
    let consume = async {
        while let Some(page) = rx.recv().await {
            for obj in page {
                if let Object::Pod(p) = &obj {
                    if p.metadata.namespace.as_deref() == Some("kube-system")
                        && p.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("component"))
                            .is_some_and(|c| c == "kube-apiserver")
                    {
                        apiserver_pods += 1;
                    }
                }
                sink.object(obj)?;
            }
        }
        Ok::<(), ClientError>(())
    };
    let (listed, consumed) = tokio::join!(producers, consume);
    listed?;
    consumed?;
    if apiserver_pods == 0 {
        meta.notes.push(
            "no kube-apiserver pods visible in kube-system (managed control plane, or not run as static pods): only the /version answer is known, other apiserver instances cannot be checked".into(),
        );
    }
    Ok(meta)
}

/// `kubectl version --client` of the caller, when kubectl is on PATH (it usually is: it runs us).
pub async fn kubectl_client_version() -> (Option<String>, Option<String>) {
    let run = tokio::process::Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(5), run).await {
        Ok(Ok(out)) if out.status.success() => out,
        Ok(Ok(_)) => {
            return (
                None,
                Some("`kubectl version --client` failed: kubectl's version is not checked".into()),
            )
        }
        Ok(Err(_)) => {
            return (
                None,
                Some("kubectl not found on PATH: its version skew is not checked".into()),
            )
        }
        Err(_) => {
            return (
                None,
                Some(
                    "`kubectl version --client` timed out: kubectl's version is not checked".into(),
                ),
            )
        }
    };
    let version = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| {
            v.pointer("/clientVersion/gitVersion")
                .and_then(|g| g.as_str())
                .map(str::to_string)
        });
    match version {
        Some(v) if v.contains("dispatcher") => (
            None,
            Some(format!(
                "kubectl {v} is a version dispatcher that runs a client matching the server's minor: its skew is not checked"
            )),
        ),
        Some(v) => (Some(v), None),
        None => (None, Some("could not parse `kubectl version --client -o json`".into())),
    }
}
