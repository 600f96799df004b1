//! `deploy/rbac.yaml` on the real control plane: the roles applied as written, each command
//! run as a user bound to exactly its roles, and the API server's audit log read back. A role
//! is **sufficient** when the command succeeds and the log shows no request of that user
//! denied (403); it is **minimal** when every rule of the role shows in the log as a request
//! the command made and was allowed, but for the rules the log names as not used on this
//! cluster and why (kinds this release no longer serves, a fault path).

mod backend;

use backend::{real_version, Backend, Live};
use kube::api::{Api, PostParams};
use kube_testserver::builders;
use kube_testserver::k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube_testserver::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::Cluster;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// (apiGroup, resource[/subresource] or non-resource URL, verb).
type Grant = (String, String, String);

/// The roles of deploy/rbac.yaml by (kind, name): their rules.
fn roles() -> Vec<(String, String, Vec<PolicyRule>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml"))
        .expect("rbac.yaml");
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).expect("yaml");
        if v.is_null() {
            continue;
        }
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rules: Vec<PolicyRule> = serde_yaml::from_value(v["rules"].clone()).expect("rules");
        out.push((kind, name, rules));
    }
    out
}

fn grants(rules: &[PolicyRule]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for r in rules {
        for verb in &r.verbs {
            for g in r.api_groups.iter().flatten() {
                for res in r.resources.iter().flatten() {
                    out.insert((g.clone(), res.clone(), verb.clone()));
                }
            }
            for url in r.non_resource_urls.iter().flatten() {
                out.insert((String::new(), url.clone(), verb.clone()));
            }
        }
    }
    out
}

/// A binding made by an earlier scenario on the same plane is the one wanted.
fn already_there<T: Default>(e: kube::Error) -> Result<T, kube::Error> {
    match e {
        kube::Error::Api(s) if s.code == 409 => Ok(T::default()),
        e => Err(e),
    }
}

/// Apply the named roles as written and bind them to `user`.
fn bind(live: &Live, user: &str, wanted: &[(&str, &str)]) -> BTreeSet<Grant> {
    let session = live.real().expect("real");
    let client = session.plane.client.clone();
    let mut all = BTreeSet::new();
    for (kind, name, rules) in roles() {
        if !wanted.contains(&(kind.as_str(), name.as_str())) {
            continue;
        }
        all.extend(grants(&rules));
        let binding = format!("{name}-{user}");
        let subject = Subject {
            kind: "User".into(),
            name: user.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Subject::default()
        };
        let role_ref = RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: kind.clone(),
            name: name.clone(),
        };
        session.plane.block_on(async {
            let pp = PostParams::default();
            if kind == "ClusterRole" {
                let role = ClusterRole {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        ..ObjectMeta::default()
                    },
                    rules: Some(rules.clone()),
                    ..ClusterRole::default()
                };
                let _ = Api::<ClusterRole>::all(client.clone())
                    .create(&pp, &role)
                    .await;
                Api::<ClusterRoleBinding>::all(client.clone())
                    .create(
                        &pp,
                        &ClusterRoleBinding {
                            metadata: ObjectMeta {
                                name: Some(binding),
                                ..ObjectMeta::default()
                            },
                            role_ref,
                            subjects: Some(vec![subject]),
                        },
                    )
                    .await
                    .or_else(already_there)
                    .expect("binding");
            } else {
                let role = Role {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some("kube-system".into()),
                        ..ObjectMeta::default()
                    },
                    rules: Some(rules.clone()),
                };
                let _ = Api::<Role>::namespaced(client.clone(), "kube-system")
                    .create(&pp, &role)
                    .await;
                Api::<RoleBinding>::namespaced(client.clone(), "kube-system")
                    .create(
                        &pp,
                        &RoleBinding {
                            metadata: ObjectMeta {
                                name: Some(binding),
                                namespace: Some("kube-system".into()),
                                ..ObjectMeta::default()
                            },
                            role_ref,
                            subjects: Some(vec![subject]),
                        },
                    )
                    .await
                    .or_else(already_there)
                    .expect("binding");
            }
        });
    }
    // RBAC caches catch up within a moment.
    std::thread::sleep(Duration::from_millis(1500));
    all
}

/// What `user` asked, read from the audit log: allowed grants used, and denied requests.
fn audit(live: &Live, user: &str) -> (BTreeSet<Grant>, Vec<String>) {
    std::thread::sleep(Duration::from_millis(1500)); // the log is written after the response
    let session = live.real().expect("real");
    let text = std::fs::read_to_string(session.plane.dir.join("logs/audit-kube-apiserver.log"))
        .expect("audit log");
    let (mut used, mut denied) = (BTreeSet::new(), Vec::new());
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if e["user"]["username"] != user || e["stage"] != "ResponseComplete" {
            continue;
        }
        let code = e["responseStatus"]["code"].as_i64().unwrap_or(0);
        let verb = e["verb"].as_str().unwrap_or_default().to_string();
        let grant = match e.get("objectRef") {
            Some(o) if !o.is_null() => {
                let res = match o["subresource"].as_str() {
                    Some(s) if !s.is_empty() => {
                        format!("{}/{s}", o["resource"].as_str().unwrap_or_default())
                    }
                    _ => o["resource"].as_str().unwrap_or_default().to_string(),
                };
                (
                    o["apiGroup"].as_str().unwrap_or_default().to_string(),
                    res,
                    verb,
                )
            }
            _ => {
                let uri = e["requestURI"].as_str().unwrap_or_default();
                (
                    String::new(),
                    uri.split('?').next().unwrap_or(uri).to_string(),
                    verb,
                )
            }
        };
        // Authorized (whatever the answer: a 404 for an object or a kind this release does
        // not serve still used the grant), or denied.
        if code == 403 {
            denied.push(format!("{grant:?}"));
        } else if code != 401 {
            used.insert(grant);
        }
    }
    (used, denied)
}

fn cluster() -> Cluster {
    let v = real_version();
    let mut c = Cluster::new();
    c.add_node(builders::control_plane_node("cp-1", &v));
    c.add_pod(builders::static_pod(
        "kube-apiserver",
        "cp-1",
        &format!("registry.k8s.io/kube-apiserver:{v}"),
    ));
    c.add_configmap(builders::kubeadm_config(&v));
    c.add_configmap(
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "mode: iptables\n"}
        }))
        .expect("cm"),
    );
    for w in ["w-1", "w-2", "w-3"] {
        c.add_node(builders::node(w, "v1.36.3"));
    }
    for (i, n) in ["w-1", "w-1", "w-2"].iter().enumerate() {
        c.add_pod(
            builders::pod("shop", &format!("web-{i}"), n)
                .owner("ReplicaSet", "web-rs")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    // A node at the target, for a replace step.
    c.add_node(builders::node("new-1", &real_version()));
    // Pods on every worker that claim a volume (so simulate and a replace step read where
    // volumes reach).
    c.add_object(
        "v1",
        "persistentvolumes",
        serde_json::json!({
            "metadata": {"name": "rbac-cache"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "",
                     "hostPath": {"path": "/tmp/cache"}},
        }),
    );
    c.add_object(
        "v1",
        "persistentvolumeclaims",
        serde_json::json!({
            "metadata": {"name": "cache", "namespace": "shop"},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": "rbac-cache",
                     "resources": {"requests": {"storage": "1Gi"}}},
        }),
    );
    for (i, n) in ["w-1", "w-2", "w-3"].iter().enumerate() {
        let mut p = builders::pod("shop", &format!("cache-{i}"), n)
            .owner("ReplicaSet", "cache-rs")
            .labels(&[("app", "cache")])
            .build();
        if let Some(s) = p.spec.as_mut() {
            s.volumes = Some(vec![serde_json::from_value(serde_json::json!({
                "name": "cache", "persistentVolumeClaim": {"claimName": "cache"},
            }))
            .expect("volume")]);
        }
        c.add_pod(p);
    }
    c.add_pdb(builders::pdb_max_unavailable(
        "shop",
        "web",
        &[("app", "web")],
        IntOrString::Int(1),
    ));
    // A webhook that fails closed on pod creation, scoped so that it never applies here
    // (objectSelector), by a namespace label other than the name (so the namespaces are
    // read), its Service's endpoints read: what the webhook check asks of the cluster.
    c.add_object(
        "v1",
        "services",
        serde_json::json!({
            "metadata": {"name": "guard", "namespace": "shop"},
            "spec": {"selector": {"app": "guard"}, "ports": [{"port": 443}]},
        }),
    );
    c.add_object(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        serde_json::json!({
            "metadata": {"name": "guard"},
            "webhooks": [{
                "name": "guard.kubectl-upgrade.test",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"service": {"namespace": "shop", "name": "guard"}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
                "objectSelector": {"matchLabels": {"kubectl-upgrade.test/never": "true"}},
                "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["none"]}]},
            }],
        }),
    );
    c
}

/// Rules the log cannot show as used on this cluster, and why: kinds of the removed-API scan
/// that this release does not serve (the scan asks only for what discovery lists), and the
/// fault paths of a drain.
fn unused_here(granted: &BTreeSet<Grant>) -> BTreeSet<Grant> {
    use kubectl_upgrade::facts::version::Minor;
    use kubectl_upgrade::policy::apis;
    let minor: Vec<u64> = real_version()
        .trim_start_matches('v')
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    let served: BTreeSet<(String, String)> = apis::builtin()
        .scan_targets(Minor::new(minor[0], minor[1]))
        .into_iter()
        .map(|t| (t.group, t.resource))
        .collect();
    granted
        .iter()
        .filter(|(g, r, v)| {
            let scan_kind =
                v == "list" && !["nodes", "pods", "poddisruptionbudgets"].contains(&r.as_str());
            (scan_kind && !served.contains(&(g.clone(), r.clone())))
                // A pod is re-read only before an eviction is sent again after a lost answer.
                || (r == "pods" && v == "get")
        })
        .cloned()
        .collect()
}

#[test]
fn the_check_roles_are_sufficient_and_minimal() {
    let live = Live::start(Backend::Real, cluster());
    let roles = [
        ("ClusterRole", "kubectl-upgrade-check"),
        ("Role", "kubectl-upgrade-check"),
        ("ClusterRole", "kubectl-upgrade-kubelet-configz"),
    ];
    let granted = bind(&live, "alice", &roles);
    let me = live.real().expect("real").plane.user_kubeconfig("alice");
    let r = live.run_as(
        &me,
        &[
            "check",
            "--now",
            "2026-12-06",
            "-o",
            "json",
            "--kubelet-configz",
        ],
    );
    assert!(matches!(r.code, 0..=2), "{}", r.all());
    assert!(
        !r.stdout.contains("forbidden") && !r.stderr.contains("forbidden"),
        "{}",
        r.all()
    );
    // simulate with the same roles: where the claimed volumes reach is read too.
    let sim = live.run_as(&me, &["simulate", "--to", &real_version(), "-o", "json"]);
    assert!(matches!(sim.code, 0..=2), "{}", sim.all());
    assert!(!sim.stderr.contains("forbidden"), "{}", sim.all());
    let s = live.run_as(&me, &["status", "-o", "json"]);
    assert_eq!(s.code, 0, "{}", s.all());
    assert_ne!(
        s.json()["lock"]["state"],
        "unknown",
        "the check Role reads the lock"
    );
    let (used, denied) = audit(&live, "alice");
    assert!(denied.is_empty(), "denied with the check roles: {denied:?}");
    let unused: BTreeSet<Grant> = granted.difference(&used).cloned().collect();
    let expected = unused_here(&granted);
    let surplus: Vec<&Grant> = unused.difference(&expected).collect();
    assert!(
        surplus.is_empty(),
        "granted but never used by check and status: {surplus:?}"
    );
    assert!(!used.is_empty());
}

#[test]
fn the_drain_roles_are_sufficient_and_minimal() {
    let live = Live::start(Backend::Real, cluster());
    let roles = [
        ("ClusterRole", "kubectl-upgrade-drain"),
        ("Role", "kubectl-upgrade-lock"),
    ];
    let granted = bind(&live, "bob", &roles);
    let me = live.real().expect("real").plane.user_kubeconfig("bob");
    for args in [
        &["drain", "w-1", "--timeout", "60s"][..],
        &[
            "drain-next",
            "--no-validate",
            "--allow-another",
            "--timeout",
            "60s",
        ],
        &["cordon", "w-3"],
        &["uncordon", "w-3"],
    ] {
        let r = live.run_as(&me, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.all());
        assert!(!r.stderr.contains("forbidden"), "{args:?}: {}", r.all());
    }
    // A replace step's capacity preview (dry run) reads where the leaving pods' volumes
    // reach before it says they fit on the node at the target.
    let r = live.run_as(
        &me,
        &[
            "drain-next",
            "--strategy",
            "replace",
            "--to",
            &real_version(),
            "--dry-run",
            "--allow-another",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !r.stderr.contains("forbidden") && r.all().contains("capacity: the"),
        "{}",
        r.all()
    );
    let (used, denied) = audit(&live, "bob");
    assert!(denied.is_empty(), "denied with the drain roles: {denied:?}");
    let unused: BTreeSet<Grant> = granted.difference(&used).cloned().collect();
    let expected = unused_here(&granted);
    let surplus: Vec<&Grant> = unused.difference(&expected).collect();
    assert!(
        surplus.is_empty(),
        "granted but never used by drain, drain-next, cordon, uncordon: {surplus:?}"
    );
    // The check roles alone cannot drain: the refusal names a grant the drain roles add.
    let check_only = [
        ("ClusterRole", "kubectl-upgrade-check"),
        ("Role", "kubectl-upgrade-check"),
    ];
    bind(&live, "carol", &check_only);
    let carol = live.real().expect("real").plane.user_kubeconfig("carol");
    let r = live.run_as(&carol, &["drain", "w-3"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("grant verb") && r.stderr.contains("deploy/rbac.yaml"),
        "{}",
        r.all()
    );
    assert!(!live.cordoned("w-3"), "refused before the node was touched");
}

/// `simulate` reads only: run as a user bound to the read-only check roles, every request it
/// made was a read (get, list, watch) and none was denied.
#[test]
fn simulate_reads_only() {
    let live = Live::start(Backend::Real, cluster());
    let roles = [
        ("ClusterRole", "kubectl-upgrade-check"),
        ("Role", "kubectl-upgrade-check"),
    ];
    bind(&live, "carol", &roles);
    let me = live.real().expect("real").plane.user_kubeconfig("carol");
    let r = live.run_as(&me, &["simulate", "--to", &real_version(), "-o", "json"]);
    assert!(matches!(r.code, 0..=2), "{}", r.all());
    assert!(
        r.json()["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "{}",
        r.all()
    );
    let (used, denied) = audit(&live, "carol");
    assert!(denied.is_empty(), "simulate was denied: {denied:?}");
    let writes: Vec<&Grant> = used
        .iter()
        .filter(|(_, _, verb)| !matches!(verb.as_str(), "get" | "list" | "watch"))
        .collect();
    assert!(writes.is_empty(), "simulate wrote: {writes:?}");
    assert!(used.iter().any(|(_, r, v)| r == "pods" && v == "list"));
}
