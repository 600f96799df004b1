//! `deploy/rbac.yaml` parses as typed RBAC objects and keeps its promises: `check` is
//! read-only, `drain` adds only the writes a drain makes, nothing is a wildcard, and pods
//! are never deleted directly. [`granted`] turns the roles into the (verb, resource) pairs
//! the test API server's RBAC mode takes (`TestServer::rbac_allow_only`).

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use serde::Deserialize;
use std::collections::BTreeSet;

/// Every document of deploy/rbac.yaml: (kind, name, rules).
fn documents() -> Vec<(String, String, Vec<PolicyRule>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(doc).unwrap();
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let (name, rules) = match kind.as_str() {
            "ClusterRole" => {
                let r: ClusterRole = serde_yaml::from_value(value).unwrap();
                (
                    r.metadata.name.unwrap_or_default(),
                    r.rules.unwrap_or_default(),
                )
            }
            "Role" => {
                let r: Role = serde_yaml::from_value(value).unwrap();
                assert_eq!(r.metadata.namespace.as_deref(), Some("kube-system"));
                (
                    r.metadata.name.unwrap_or_default(),
                    r.rules.unwrap_or_default(),
                )
            }
            other => panic!(
                "unexpected kind {other} in deploy/rbac.yaml (bindings are examples in comments)"
            ),
        };
        out.push((kind, name, rules));
    }
    out
}

/// (verb, resource) pairs granted by the named roles, spelled like the test API server's
/// RBAC mode: `pods`, `pods/eviction`, `poddisruptionbudgets`, `configmaps`, and
/// non-resource URLs as themselves (`/version`).
fn granted(names: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (kind, name, rules) in documents() {
        if !names.contains(&(kind.as_str(), name.as_str())) {
            continue;
        }
        for rule in rules {
            let targets: Vec<String> = rule
                .resources
                .clone()
                .unwrap_or_default()
                .into_iter()
                .chain(rule.non_resource_urls.clone().unwrap_or_default())
                .collect();
            for verb in &rule.verbs {
                for t in &targets {
                    out.insert((verb.clone(), t.clone()));
                }
            }
        }
    }
    out
}

fn pairs(p: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    p.iter()
        .map(|(v, r)| (v.to_string(), r.to_string()))
        .collect()
}

const CHECK: &[(&str, &str)] = &[
    ("ClusterRole", "kubectl-upgrade-check"),
    ("Role", "kubectl-upgrade-check"),
];
const CHECK_CLUSTER: &[(&str, &str)] = &[("ClusterRole", "kubectl-upgrade-check")];
const DRAIN: &[(&str, &str)] = &[
    ("ClusterRole", "kubectl-upgrade-drain"),
    ("Role", "kubectl-upgrade-lock"),
];
const DRAIN_DELETE: &[(&str, &str)] = &[("ClusterRole", "kubectl-upgrade-drain-delete")];
const HELM: &[(&str, &str)] = &[("ClusterRole", "kubectl-upgrade-helm")];

/// (apiGroup, resource, verb) triples a role grants, group-aware.
fn granted_in_groups(names: &[(&str, &str)]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (kind, name, rules) in documents() {
        if !names.contains(&(kind.as_str(), name.as_str())) {
            continue;
        }
        for rule in rules {
            for g in rule.api_groups.iter().flatten() {
                for r in rule.resources.iter().flatten() {
                    for v in &rule.verbs {
                        out.insert((g.clone(), r.clone(), v.clone()));
                    }
                }
            }
        }
    }
    out
}

/// The check role covers exactly what the removed-API scan lists on any cluster the release
/// data knows (from `data/apis.yaml`, the same function the scan calls), plus CRDs, plus
/// what the webhook check reads besides the webhook configurations (EndpointSlices,
/// Namespaces): no more, no less.
#[test]
fn check_role_covers_the_api_scan_and_nothing_else() {
    use kubectl_upgrade::facts::version::Minor;
    use kubectl_upgrade::policy::apis;
    let data = apis::builtin();
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    for minor in 19..=37 {
        for t in data.scan_targets(Minor::new(1, minor)) {
            wanted.insert((t.group, t.resource));
        }
    }
    wanted.insert((
        "apiextensions.k8s.io".into(),
        "customresourcedefinitions".into(),
    ));
    let core_reads: BTreeSet<(String, String)> = [
        ("", "nodes"),
        ("", "pods"),
        ("policy", "poddisruptionbudgets"),
        ("", "namespaces"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "persistentvolumeclaims"),
        ("", "persistentvolumes"),
    ]
    .iter()
    .map(|(g, r)| (g.to_string(), r.to_string()))
    .collect();
    let listed: BTreeSet<(String, String)> = granted_in_groups(CHECK_CLUSTER)
        .into_iter()
        .filter(|(_, _, v)| v == "list")
        .map(|(g, r, _)| (g, r))
        .filter(|k| !core_reads.contains(k))
        .collect();
    assert_eq!(listed, wanted, "rbac.yaml check role vs the scan's lists");
    assert!(granted(CHECK).contains(&("get".into(), "/metrics".into())));
    // Secrets only through the opt-in Helm role.
    assert!(!granted(CHECK)
        .iter()
        .chain(&granted(DRAIN))
        .any(|(_, r)| r == "secrets"));
    assert_eq!(
        granted(HELM),
        pairs(&[("get", "secrets"), ("list", "secrets")])
    );
}

#[test]
fn roles_parse_and_are_named() {
    let names: Vec<(String, String)> = documents().into_iter().map(|(k, n, _)| (k, n)).collect();
    let want = [
        ("ClusterRole", "kubectl-upgrade-check"),
        ("Role", "kubectl-upgrade-check"),
        ("Role", "kubectl-upgrade-lock"),
        ("ClusterRole", "kubectl-upgrade-drain"),
        ("ClusterRole", "kubectl-upgrade-drain-delete"),
        ("ClusterRole", "kubectl-upgrade-helm"),
        ("ClusterRole", "kubectl-upgrade-kubelet-configz"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    assert_eq!(names, want);
}

#[test]
fn check_is_read_only() {
    let check = granted(CHECK);
    assert!(!check.is_empty());
    for (verb, resource) in &check {
        assert!(
            ["get", "list", "watch"].contains(&verb.as_str()),
            "check grants {verb} {resource}"
        );
    }
    assert!(check.contains(&("list".into(), "nodes".into())));
    assert!(check.contains(&("get".into(), "/version".into())));
}

#[test]
fn drain_adds_only_the_writes_of_a_drain() {
    // drain-next runs check's node, pod and PDB reads and the webhook check's (not the
    // removed-API scan).
    let check: BTreeSet<(String, String)> = granted(CHECK_CLUSTER)
        .into_iter()
        .filter(|(_, r)| {
            [
                "nodes",
                "pods",
                "poddisruptionbudgets",
                "/version",
                "validatingwebhookconfigurations",
                "mutatingwebhookconfigurations",
                "endpointslices",
                "namespaces",
            ]
            .contains(&r.as_str())
        })
        .collect();
    let drain = granted(DRAIN);
    let missing: Vec<_> = check.difference(&drain).collect();
    assert!(
        missing.is_empty(),
        "drain-next reads what check reads of nodes, pods and PDBs: {missing:?}"
    );
    let writes: BTreeSet<_> = drain
        .iter()
        .filter(|(v, _)| !["get", "list", "watch"].contains(&v.as_str()))
        .cloned()
        .collect();
    assert_eq!(
        writes,
        pairs(&[
            ("patch", "nodes"),
            ("create", "pods/eviction"),
            // The rollout lock.
            ("create", "leases"),
            ("update", "leases"),
        ])
    );
    // Pods are deleted directly only with --disable-eviction, through a separate role.
    assert_eq!(granted(DRAIN_DELETE), pairs(&[("delete", "pods")]));
    assert!(!granted(CHECK)
        .iter()
        .chain(&drain)
        .any(|(v, _)| v == "delete"));
}

#[test]
fn no_wildcards_and_narrow_configmap_access() {
    for (kind, name, rules) in documents() {
        for rule in &rules {
            let all: Vec<&String> = rule
                .verbs
                .iter()
                .chain(rule.resources.iter().flatten())
                .chain(rule.api_groups.iter().flatten())
                .chain(rule.non_resource_urls.iter().flatten())
                .collect();
            assert!(
                all.iter().all(|s| !s.contains('*')),
                "{kind} {name}: wildcard in {rule:?}"
            );
            if rule.resources.iter().flatten().any(|r| r == "configmaps") {
                assert_eq!(kind, "Role", "configmaps only through the kube-system Role");
                assert_eq!(
                    rule.resource_names.as_deref(),
                    Some(
                        &[
                            "kubeadm-config".to_string(),
                            "kube-proxy".to_string(),
                            "kubelet-config".to_string()
                        ][..]
                    )
                );
                assert_eq!(rule.verbs, ["get"]);
            }
        }
    }
}

mod against_the_test_server {
    use super::*;
    use kube_testserver::builders::{
        control_plane_node, kubeadm_config, node, pdb_max_unavailable, pod,
    };
    use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use kube_testserver::{Cluster, TestServer};
    use std::process::{Command, Output};

    fn server() -> TestServer {
        let mut c = Cluster::new();
        c.add_node(control_plane_node("cp-1", "v1.33.2"));
        c.add_node(node("worker-1", "v1.33.2"));
        c.add_node(node("worker-2", "v1.33.2"));
        c.add_configmap(kubeadm_config("v1.33.2"));
        for (name, on) in [("web-1", "worker-1"), ("web-2", "worker-2")] {
            c.add_pod(
                pod("default", name, on)
                    .owner("ReplicaSet", "web-5d8f")
                    .labels(&[("app", "web")])
                    .build(),
            );
        }
        c.add_pdb(pdb_max_unavailable(
            "default",
            "web",
            &[("app", "web")],
            IntOrString::Int(1),
        ));
        TestServer::start(c)
    }

    fn run(server: &TestServer, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kubectl-upgrade"))
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn allow(server: &TestServer, roles: &[(&str, &str)]) {
        server.rbac_allow_only(granted(roles).into_iter().collect());
    }

    #[test]
    fn check_runs_with_the_check_roles_and_changes_nothing() {
        let s = server();
        allow(&s, CHECK);
        let out = run(&s, &["check"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "exit {:?}: {stderr}",
            out.status.code()
        );
        assert!(!stderr.contains("forbidden"), "{stderr}");
        // Nothing the scan needs was refused (a refusal would be a note in the report).
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("forbidden"), "{stdout}");
        let writes: Vec<_> = s
            .counters()
            .into_keys()
            .filter(|(v, _)| !["get", "list", "watch"].contains(&v.as_str()))
            .collect();
        assert!(writes.is_empty(), "check must not write: {writes:?}");
        assert!(
            s.count("get", "configmaps") >= 1,
            "kubeadm-config read through the Role: {:?}",
            s.counters()
        );
    }

    #[test]
    fn drain_runs_with_the_drain_role() {
        let s = server();
        allow(&s, DRAIN);
        let out = run(&s, &["drain", "worker-1", "--timeout", "60s"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            s.count("create", "pods/eviction") >= 1,
            "{:?}",
            s.counters()
        );
        assert_eq!(s.count("delete", "pods"), 0);
        assert_eq!(s.pdb_violations(), 0);
        assert!(
            s.with_state(|c| c
                .node("worker-1")
                .and_then(|n| n.spec.as_ref()?.unschedulable))
                == Some(true)
        );
    }

    /// A Succeeded Job pod and a Failed bare pod are evicted too (the API server removes them
    /// without a PDB check): the drain role, which has no `delete pods`, is enough.
    #[test]
    fn drain_removes_completed_pods_with_the_drain_role() {
        let s = server();
        s.with_state(|c| {
            c.add_pod(
                pod("batch", "report-28912", "worker-1")
                    .owner("Job", "report")
                    .phase("Succeeded")
                    .build(),
            );
            c.add_pod(pod("batch", "oneoff", "worker-1").phase("Failed").build());
        });
        allow(&s, DRAIN);
        let out = run(&s, &["drain", "worker-1", "--timeout", "60s"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(!stderr.contains("forbidden"), "{stderr}");
        let left: Vec<String> = s.with_state(|c| {
            c.pods_on_node("worker-1")
                .filter_map(|p| p.metadata.name.clone())
                .collect()
        });
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(s.count("delete", "pods"), 0, "{:?}", s.counters());
        assert_eq!(s.count("create", "pods/eviction"), 3, "{:?}", s.counters());
        assert_eq!(s.pdb_violations(), 0);
    }

    #[test]
    fn drain_with_only_the_check_roles_names_the_missing_grant() {
        let s = server();
        allow(&s, CHECK);
        let out = run(&s, &["drain", "worker-2", "--timeout", "60s"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("deploy/rbac.yaml"), "{stderr}");
        // `grant verb "V" on resource "R"`: a grant the drain role has and check's lack.
        let grant = |key: &str| {
            let at = stderr.find(key).map(|i| i + key.len())?;
            let rest = &stderr[at..];
            rest.find('"').map(|end| rest[..end].to_string())
        };
        let named = (
            grant("verb \"").unwrap_or_default(),
            grant("resource \"").unwrap_or_default(),
        );
        let only_drain: BTreeSet<_> = granted(DRAIN)
            .difference(&granted(CHECK))
            .cloned()
            .collect();
        assert!(
            only_drain.contains(&named),
            "{named:?} should be one of {only_drain:?}: {stderr}"
        );
    }
}
