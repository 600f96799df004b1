//! Concise constructors of typed objects for tests and benchmarks. uids, resourceVersions and
//! creation timestamps are filled in when the object is inserted into a [`Cluster`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EmptyDirVolumeSource, Node, NodeAddress, NodeCondition, NodeSpec,
    NodeStatus, NodeSystemInfo, Pod, PodSpec, Taint, Volume,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cluster::{set_pod_status, Cluster};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// A deterministic pseudo-uid for builder-made owner references.
fn owner_uid(kind: &str, name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain(name.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// A Ready, schedulable worker node reporting `kubelet_version`.
pub fn node(name: &str, kubelet_version: &str) -> Node {
    let capacity: BTreeMap<String, Quantity> = [("cpu", "4"), ("memory", "16Gi"), ("pods", "110")]
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect();
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(map(&[
                ("kubernetes.io/hostname", name),
                ("kubernetes.io/os", "linux"),
                ("kubernetes.io/arch", "amd64"),
                ("beta.kubernetes.io/os", "linux"),
                ("beta.kubernetes.io/arch", "amd64"),
            ])),
            annotations: Some(map(&[(
                "kubeadm.alpha.kubernetes.io/cri-socket",
                "unix:///var/run/containerd/containerd.sock",
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "10.0.0.1".into(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: name.into(),
                },
            ]),
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: Some("KubeletReady".into()),
                message: Some("kubelet is posting ready status".into()),
                last_heartbeat_time: Some(now()),
                last_transition_time: Some(now()),
            }]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id: String::new(),
                container_runtime_version: "containerd://1.7.27".into(),
                kernel_version: "6.8.0-60-generic".into(),
                kube_proxy_version: String::new(),
                kubelet_version: kubelet_version.into(),
                machine_id: String::new(),
                operating_system: "linux".into(),
                os_image: "Ubuntu 24.04.2 LTS".into(),
                system_uuid: String::new(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// A control-plane node: label `node-role.kubernetes.io/control-plane=""` and the
/// `node-role.kubernetes.io/control-plane:NoSchedule` taint.
pub fn control_plane_node(name: &str, kubelet_version: &str) -> Node {
    let mut n = node(name, kubelet_version);
    n.metadata.labels.get_or_insert_with(BTreeMap::new).insert(
        "node-role.kubernetes.io/control-plane".into(),
        String::new(),
    );
    n.spec = Some(NodeSpec {
        taints: Some(vec![Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    n
}

/// Builds a pod; see [`pod`].
#[derive(Debug, Clone)]
pub struct PodBuilder {
    pod: Pod,
    phase: String,
}

/// A Running, Ready pod `ns/name` bound to `node` (empty `node` = unscheduled) with one
/// container `app` (image `registry.k8s.io/pause:3.10`).
pub fn pod(ns: &str, name: &str, node: &str) -> PodBuilder {
    PodBuilder {
        pod: Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("registry.k8s.io/pause:3.10".into()),
                    ..Default::default()
                }],
                restart_policy: Some("Always".into()),
                scheduler_name: Some("default-scheduler".into()),
                service_account_name: Some("default".into()),
                termination_grace_period_seconds: Some(30),
                ..Default::default()
            }),
            status: None,
        },
        phase: if node.is_empty() {
            "Pending"
        } else {
            "Running"
        }
        .to_string(),
    }
}

impl PodBuilder {
    /// Sets a controller owner reference (`ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job`, `Node`, ...).
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        let api_version = match kind {
            "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Deployment" => "apps/v1",
            "Job" => "batch/v1",
            _ => "v1",
        };
        self.pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: owner_uid(kind, name),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        self
    }

    /// Adds labels.
    pub fn labels(mut self, l: &[(&str, &str)]) -> Self {
        self.pod
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(map(l));
        self
    }

    /// Adds an annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.pod
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
        self
    }

    /// Adds an emptyDir volume `scratch`.
    pub fn empty_dir(mut self) -> Self {
        if let Some(spec) = self.pod.spec.as_mut() {
            spec.volumes.get_or_insert_with(Vec::new).push(Volume {
                name: "scratch".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
        }
        self
    }

    /// Marks it a mirror pod (annotation `kubernetes.io/config.mirror`).
    pub fn mirror(self) -> Self {
        self.annotation(
            "kubernetes.io/config.mirror",
            "0123456789abcdef0123456789abcdef",
        )
        .annotation("kubernetes.io/config.source", "file")
    }

    /// Sets the phase (`Pending`, `Running`, `Succeeded`, `Failed`); Ready only when Running.
    pub fn phase(mut self, p: &str) -> Self {
        self.phase = p.to_string();
        self
    }

    /// Sets the image of the first container.
    pub fn image(mut self, i: &str) -> Self {
        if let Some(c) = self
            .pod
            .spec
            .as_mut()
            .and_then(|s| s.containers.first_mut())
        {
            c.image = Some(i.to_string());
        }
        self
    }

    /// Sets `terminationGracePeriodSeconds`.
    pub fn grace_seconds(mut self, s: i64) -> Self {
        if let Some(spec) = self.pod.spec.as_mut() {
            spec.termination_grace_period_seconds = Some(s);
        }
        self
    }

    /// Running but not Ready.
    pub fn not_ready(mut self) -> Self {
        self.phase = "Running/NotReady".into();
        self
    }

    /// The pod.
    pub fn build(self) -> Pod {
        let mut pod = self.pod;
        match self.phase.as_str() {
            "Running/NotReady" => set_pod_status(&mut pod, "Running", false),
            p => set_pod_status(&mut pod, p, p == "Running"),
        }
        pod
    }
}

fn pdb(ns: &str, name: &str, selector: &[(&str, &str)]) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(map(selector)),
                match_expressions: None,
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// Required pod anti-affinity on the hostname: no two pods labelled `key=value` on one node.
pub fn hostname_anti_affinity(key: &str, value: &str) -> k8s_openapi::api::core::v1::Affinity {
    use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity};
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                topology_key: "kubernetes.io/hostname".into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some(map(&[(key, value)])),
                    match_expressions: None,
                }),
                ..PodAffinityTerm::default()
            }]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// A PDB with `minAvailable` (int or "N%") selecting `matchLabels`.
pub fn pdb_min_available(
    ns: &str,
    name: &str,
    selector: &[(&str, &str)],
    v: IntOrString,
) -> PodDisruptionBudget {
    let mut p = pdb(ns, name, selector);
    if let Some(s) = p.spec.as_mut() {
        s.min_available = Some(v);
    }
    p
}

/// A PDB with `maxUnavailable` (int or "N%") selecting `matchLabels`.
pub fn pdb_max_unavailable(
    ns: &str,
    name: &str,
    selector: &[(&str, &str)],
    v: IntOrString,
) -> PodDisruptionBudget {
    let mut p = pdb(ns, name, selector);
    if let Some(s) = p.spec.as_mut() {
        s.max_unavailable = Some(v);
    }
    p
}

/// `kube-system/kubeadm-config` with a ClusterConfiguration for `kubernetes_version`.
pub fn kubeadm_config(kubernetes_version: &str) -> ConfigMap {
    let cc = format!(
        "apiServer: {{}}\n\
         apiVersion: kubeadm.k8s.io/v1beta4\n\
         caCertificateValidityPeriod: 87600h0m0s\n\
         certificateValidityPeriod: 8760h0m0s\n\
         certificatesDir: /etc/kubernetes/pki\n\
         clusterName: kubernetes\n\
         controllerManager: {{}}\n\
         dns: {{}}\n\
         encryptionAlgorithm: RSA-2048\n\
         etcd:\n  local:\n    dataDir: /var/lib/etcd\n\
         imageRepository: registry.k8s.io\n\
         kind: ClusterConfiguration\n\
         kubernetesVersion: {kubernetes_version}\n\
         networking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n\
         proxy: {{}}\n\
         scheduler: {{}}\n"
    );
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("kubeadm-config".into()),
            namespace: Some("kube-system".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("ClusterConfiguration".to_string(), cc)])),
        ..Default::default()
    }
}

/// A static (mirror) control-plane pod `kube-system/{component}-{node}`: label
/// `component={component}`, `tier=control-plane`, mirror annotation, owner `Node/{node}`.
pub fn static_pod(component: &str, node: &str, image: &str) -> Pod {
    let mut p = pod("kube-system", &format!("{component}-{node}"), node)
        .labels(&[("component", component), ("tier", "control-plane")])
        .mirror()
        .image(image)
        .owner("Node", node)
        .build();
    if let Some(spec) = p.spec.as_mut() {
        spec.priority_class_name = Some("system-node-critical".into());
        spec.host_network = Some(true);
        if let Some(c) = spec.containers.first_mut() {
            c.name = component.into();
        }
    }
    p
}

/// A big cluster built without HTTP, for benchmarks: 3 control-plane nodes `cp-0..2` (static
/// pods for kube-apiserver, kube-controller-manager, kube-scheduler, etcd), `nodes - 3`
/// workers `node-00000...`, one kube-proxy DaemonSet pod per node, the kubeadm-config
/// ConfigMap, and ReplicaSet pods (apps of 10 replicas, label `app=app-N`, spread over 50
/// namespaces `team-NN`, round-robin over workers) with one PDB per app (maxUnavailable 1,
/// every third app minAvailable 50% instead) until `pods` pods exist in total. All nodes
/// report v1.33.2 except every tenth worker (v1.32.6).
pub fn big_cluster(nodes: usize, pods: usize) -> Cluster {
    const VERSION: &str = "v1.33.2";
    let mut c = Cluster::new();
    c.add_configmap(kubeadm_config(VERSION));
    let cps = nodes.min(3);
    let workers: Vec<String> = (0..nodes.saturating_sub(cps))
        .map(|i| format!("node-{i:05}"))
        .collect();
    let mut total = 0usize;
    for i in 0..cps {
        let name = format!("cp-{i}");
        c.add_node(control_plane_node(&name, VERSION));
        for comp in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ] {
            c.add_pod(static_pod(
                comp,
                &name,
                &format!("registry.k8s.io/{comp}:{VERSION}"),
            ));
            total += 1;
        }
        c.add_pod(static_pod("etcd", &name, "registry.k8s.io/etcd:3.5.21-0"));
        total += 1;
    }
    for (i, w) in workers.iter().enumerate() {
        let v = if i % 10 == 0 { "v1.32.6" } else { VERSION };
        c.add_node(node(w, v));
    }
    let all_nodes: Vec<String> = (0..cps)
        .map(|i| format!("cp-{i}"))
        .chain(workers.iter().cloned())
        .collect();
    for (i, n) in all_nodes.iter().enumerate() {
        c.add_pod(
            pod("kube-system", &format!("kube-proxy-{i:05}"), n)
                .owner("DaemonSet", "kube-proxy")
                .labels(&[("k8s-app", "kube-proxy")])
                .image(&format!("registry.k8s.io/kube-proxy:{VERSION}"))
                .build(),
        );
        total += 1;
    }
    if workers.is_empty() {
        return c;
    }
    let mut app = 0usize;
    let mut slot = 0usize;
    while total < pods {
        let ns = format!("team-{:02}", app % 50);
        let name = format!("app-{app}");
        let rs = format!("{name}-5d8f7c9b4");
        let budget = if app % 3 == 2 {
            pdb_min_available(
                &ns,
                &name,
                &[("app", &name)],
                IntOrString::String("50%".into()),
            )
        } else {
            pdb_max_unavailable(&ns, &name, &[("app", &name)], IntOrString::Int(1))
        };
        c.add_pdb(budget);
        for r in 0..10 {
            if total >= pods {
                break;
            }
            let node = &workers[slot % workers.len()];
            slot += 1;
            c.add_pod(
                pod(&ns, &format!("{rs}-{r:05}"), node)
                    .owner("ReplicaSet", &rs)
                    .labels(&[("app", &name), ("pod-template-hash", "5d8f7c9b4")])
                    .build(),
            );
            total += 1;
        }
        app += 1;
    }
    c.recompute_pdbs();
    c
}
