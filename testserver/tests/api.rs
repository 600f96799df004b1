//! Discovery, list/get, consistent pagination, patches and watches, over HTTP and through kube.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube_testserver::{builders, k8s_openapi, Cluster, Options, TestServer};
use serde_json::json;

#[test]
fn version_and_discovery() {
    let server = TestServer::start(Cluster::new());
    let v = get(&server, "/version").json();
    assert_eq!(
        (
            v["major"].as_str(),
            v["minor"].as_str(),
            v["gitVersion"].as_str()
        ),
        (Some("1"), Some("33"), Some("v1.33.2"))
    );

    // Plain discovery even when the aggregated form is asked for (kubectl falls back).
    let aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let r = try_request_accept(
        &target(&server),
        "GET",
        "/apis",
        "application/json",
        aggregated,
        None,
    )
    .unwrap();
    assert_eq!(r.json()["kind"], "APIGroupList");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let groups: Vec<String> = r.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    assert!(groups.contains(&"policy".to_string()));

    let v1 = get(&server, "/api/v1").json();
    let ev = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .unwrap()
        .clone();
    // kubectl's CheckEvictionSupport needs kind Eviction with group and version.
    assert_eq!(
        (
            ev["kind"].as_str(),
            ev["group"].as_str(),
            ev["version"].as_str()
        ),
        (Some("Eviction"), Some("policy"), Some("v1"))
    );
    for name in [
        "nodes",
        "nodes/status",
        "pods",
        "pods/status",
        "namespaces",
        "configmaps",
    ] {
        assert!(
            v1["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == name),
            "{name}"
        );
    }
    let policy = get(&server, "/apis/policy/v1").json();
    assert_eq!(policy["resources"][0]["name"], "poddisruptionbudgets");
    assert_eq!(get(&server, "/openapi/v2").status, 404);
    assert_eq!(server.count("get", "/version"), 1);
}

#[test]
fn get_and_list_with_selectors() {
    let mut c = three_node_web();
    c.add_pod(
        builders::pod("kube-system", "kp-w1", "w1")
            .owner("DaemonSet", "kube-proxy")
            .labels(&[("k8s-app", "kube-proxy")])
            .build(),
    );
    c.add_pod(
        builders::pod("other", "job-1", "w1")
            .labels(&[("app", "batch"), ("tier", "low")])
            .phase("Succeeded")
            .build(),
    );
    c.add_configmap(builders::kubeadm_config("v1.33.2"));
    let server = TestServer::start(c);

    let names = |path: &str| -> Vec<String> {
        let v = get(&server, path).json();
        v["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("/api/v1/pods?fieldSelector=spec.nodeName%3Dw1"),
        vec!["web-0", "kp-w1", "job-1"]
    );
    assert_eq!(
        names("/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dw1"),
        vec!["web-0"]
    );
    assert_eq!(
        names("/api/v1/pods?fieldSelector=spec.nodeName%3Dw1,status.phase!%3DSucceeded"),
        vec!["web-0", "kp-w1"]
    );
    assert_eq!(
        names("/api/v1/pods?fieldSelector=metadata.name%3Dweb-2"),
        vec!["web-2"]
    );
    assert_eq!(
        names("/api/v1/pods?labelSelector=app%20in%20(web,batch),tier!%3Dlow"),
        vec!["web-0", "web-1", "web-2"]
    );
    assert_eq!(
        names("/api/v1/pods?labelSelector=app%20notin%20(web),!k8s-app"),
        vec!["job-1"]
    );
    assert_eq!(names("/api/v1/pods?labelSelector=k8s-app"), vec!["kp-w1"]);
    assert_eq!(
        get(&server, "/api/v1/pods?fieldSelector=spec.bogus%3Dx").status,
        400
    );

    let list = get(&server, "/api/v1/nodes").json();
    assert_eq!(list["kind"], "NodeList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv > 0);

    let p = get(&server, "/api/v1/namespaces/default/pods/web-0").json();
    assert_eq!(p["kind"], "Pod");
    assert!(p["metadata"]["uid"].is_string() && p["metadata"]["creationTimestamp"].is_string());
    let r = get(&server, "/api/v1/namespaces/default/pods/missing");
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some(r#"pods "missing" not found"#))
    );
    let cm = get(
        &server,
        "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
    )
    .json();
    assert!(cm["data"]["ClusterConfiguration"]
        .as_str()
        .unwrap()
        .contains("kubernetesVersion: v1.33.2"));
    let ns = names("/api/v1/namespaces");
    assert!(ns.contains(&"other".to_string()) && ns.contains(&"kube-system".to_string()));
    assert_eq!(server.count("list", "pods"), 8);
    assert_eq!(server.count("get", "pods"), 2);
}

#[test]
fn pagination_is_consistent_while_pods_change() {
    let mut c = Cluster::new();
    for n in ["w1", "w2"] {
        c.add_node(builders::node(n, "v1.33.2"));
    }
    for i in 0..500 {
        let node = if i % 2 == 0 { "w1" } else { "w2" };
        c.add_pod(
            builders::pod(&format!("ns-{}", i % 5), &format!("p-{i:04}"), node)
                .labels(&[("app", "x")])
                .build(),
        );
    }
    let server = TestServer::start(c);
    for query in [
        "",
        "&fieldSelector=spec.nodeName%3Dw1",
        "&labelSelector=app%3Dx",
    ] {
        let expected: Vec<(String, String)> = server.with_state(|c| {
            c.pods()
                .filter(|p| {
                    !query.contains("w1")
                        || p.spec.as_ref().unwrap().node_name.as_deref() == Some("w1")
                })
                .map(|p| {
                    (
                        p.metadata.namespace.clone().unwrap(),
                        p.metadata.name.clone().unwrap(),
                    )
                })
                .collect()
        });
        let mut seen = Vec::new();
        let mut cont = String::new();
        let mut list_rv = None;
        let mut page = 0;
        loop {
            let v = get(
                &server,
                &format!("/api/v1/pods?limit=37&continue={cont}{query}"),
            )
            .json();
            let rv = v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(
                list_rv.get_or_insert(rv.clone()),
                &rv,
                "every page reports the first page's resourceVersion"
            );
            let items = v["items"].as_array().unwrap();
            assert!(items.len() <= 37);
            for i in items {
                seen.push((
                    i["metadata"]["namespace"].as_str().unwrap().to_string(),
                    i["metadata"]["name"].as_str().unwrap().to_string(),
                ));
            }
            // Churn between pages: delete a pod not yet listed and one already listed, add
            // pods before and after the cursor, relabel one.
            page += 1;
            server.with_state(|c| {
                c.delete_pod("ns-4", &format!("p-{:04}", 499 - 5 * page));
                c.delete_pod("ns-0", &format!("p-{:04}", 5 * (page - 1)));
                c.add_pod(
                    builders::pod("ns-0", &format!("a-new-{page}"), "w1")
                        .labels(&[("app", "x")])
                        .build(),
                );
                c.add_pod(
                    builders::pod("ns-4", &format!("z-new-{page}"), "w1")
                        .labels(&[("app", "x")])
                        .build(),
                );
                c.set_pod_ready("ns-3", "p-0003", page % 2 == 0);
            });
            match v["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => break,
            }
        }
        assert!(page > 5);
        assert_eq!(
            seen, expected,
            "pages of query {query:?} form exactly the first page's snapshot, in order"
        );
        let unique: BTreeSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len());
    }
}

#[tokio::test]
async fn kube_client_lists_pages_and_patches_nodes() {
    let server = TestServer::start(three_node_web());
    let client = kube_client(&server).await;
    let pods: Api<Pod> = Api::all(client.clone());
    let first = pods.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().unwrap();
    let rest = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest
        .metadata
        .continue_
        .as_deref()
        .unwrap_or_default()
        .is_empty());

    let nodes: Api<Node> = Api::all(client);
    use kube::api::{Patch, PatchParams};
    let n = nodes
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    assert_eq!(n.spec.unwrap().unschedulable, Some(true));
    assert!(server
        .with_state(|c| c.node("w1").unwrap().spec.as_ref().unwrap().unschedulable == Some(true)));
    nodes
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"unschedulable": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        server.with_state(|c| c.node("w1").unwrap().spec.as_ref().unwrap().unschedulable),
        None
    );
    nodes
        .patch(
            "w2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    assert!(server
        .with_state(|c| c.node("w2").unwrap().spec.as_ref().unwrap().unschedulable == Some(true)));
    assert_eq!(server.count("patch", "nodes"), 3);
}

#[test]
fn json_patch_and_status_subresource() {
    let server = TestServer::start(three_node_web());
    let r = patch(
        &server,
        "/api/v1/nodes/w3",
        "application/json-patch+json",
        &json!([{"op": "add", "path": "/spec/unschedulable", "value": true}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["spec"]["unschedulable"], true);
    // The main resource ignores status; nodes/status changes only status.
    let r = patch(
        &server,
        "/api/v1/nodes/w3",
        "application/merge-patch+json",
        &json!({"status": {"nodeInfo": {"kubeletVersion": "v9"}}}),
    );
    assert_eq!(r.json()["status"]["nodeInfo"]["kubeletVersion"], "v1.33.2");
    let r = patch(
        &server,
        "/api/v1/nodes/w3/status",
        "application/merge-patch+json",
        &json!({"status": {"nodeInfo": {"kubeletVersion": "v1.34.0"}}, "spec": {"unschedulable": false}}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"]["nodeInfo"]["kubeletVersion"], "v1.34.0");
    assert_eq!(r.json()["spec"]["unschedulable"], true);
    assert_eq!(server.count("patch", "nodes/status"), 1);
    // Stale resourceVersion in the patch -> 409.
    let r = patch(
        &server,
        "/api/v1/nodes/w3",
        "application/merge-patch+json",
        &json!({"metadata": {"resourceVersion": "1"}, "spec": {"unschedulable": false}}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
    let r = patch(
        &server,
        "/api/v1/nodes/w3",
        "application/apply-patch+yaml",
        &json!({}),
    );
    assert_eq!(r.status, 415);
}

#[test]
fn delete_honours_grace_preconditions_and_dry_run() {
    let server = TestServer::start_with(
        three_node_web(),
        Options {
            recreate: false,
            grace_cap: Duration::from_millis(150),
            ..Default::default()
        },
    );
    let r = delete(
        &server,
        "/api/v1/namespaces/default/pods/web-0",
        Some(&json!({"preconditions": {"uid": "nope"}})),
    );
    assert_eq!(r.status, 409);
    let r = delete(
        &server,
        "/api/v1/namespaces/default/pods/web-0?dryRun=All",
        None,
    );
    assert_eq!(r.status, 200);
    assert!(server.with_state(|c| c
        .pod("default", "web-0")
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none()));
    let r = delete(
        &server,
        "/api/v1/namespaces/default/pods/web-0",
        Some(&json!({"gracePeriodSeconds": 30})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["metadata"]["deletionGracePeriodSeconds"], 30);
    // Gone after the grace cap (150 ms), not 30 s.
    assert!(wait_until(Duration::from_secs(3), || server
        .with_state(|c| c.pod("default", "web-0").is_none())));
    let r = delete(&server, "/api/v1/namespaces/default/pods/web-0", None);
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn watch_sees_added_modified_deleted_and_bookmarks() {
    let server = TestServer::start_with(
        three_node_web(),
        Options {
            recreate: false,
            bookmark_interval: Duration::from_millis(100),
            grace_cap: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let client = kube_client(&server).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let list = pods.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = pods
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();

    server.with_state(|c| c.add_pod(builders::pod("default", "new", "w1").build()));
    delete(&server, "/api/v1/namespaces/default/pods/web-1", None);
    server.with_state(|c| c.add_pod(builders::pod("elsewhere", "ignored", "w1").build()));

    let mut seen = Vec::new();
    let mut bookmarks = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event")
            .expect("ok")
            .expect("open");
        match ev {
            WatchEvent::Added(p) => seen.push(format!("ADDED {}", p.metadata.name.unwrap())),
            WatchEvent::Modified(p) => {
                let name = p.metadata.name.unwrap();
                if seen.last() != Some(&format!("MODIFIED {name}")) {
                    seen.push(format!("MODIFIED {name}"));
                }
            }
            WatchEvent::Deleted(p) => seen.push(format!("DELETED {}", p.metadata.name.unwrap())),
            WatchEvent::Bookmark(b) => {
                bookmarks += 1;
                assert!(!b.metadata.resource_version.is_empty());
            }
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
        if seen.contains(&"DELETED web-1".to_string()) && bookmarks > 0 {
            break;
        }
    }
    assert_eq!(seen, vec!["ADDED new", "MODIFIED web-1", "DELETED web-1"]);
    assert!(bookmarks > 0);
    assert_eq!(server.count("watch", "pods"), 1);
}

#[test]
fn watch_with_selectors_and_initial_events() {
    let server = TestServer::start_with(
        three_node_web(),
        Options {
            recreate: false,
            ..Default::default()
        },
    );
    let port = target(&server);
    // Watch pods on w1 from "now" (no resourceVersion): synthetic ADDED for web-0 first.
    let h = std::thread::spawn(move || {
        request(
            &port,
            "GET",
            "/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dw1&timeoutSeconds=1",
            "application/json",
            None,
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    server.with_state(|c| {
        c.add_pod(builders::pod("default", "on-w1", "w1").build());
        c.add_pod(builders::pod("default", "on-w2", "w2").build());
        c.delete_pod("default", "web-0");
    });
    let r = h.join().unwrap();
    assert_eq!(r.status, 200);
    let events: Vec<String> = r
        .text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["type"].as_str().unwrap(),
                v["object"]["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(events, vec!["ADDED web-0", "ADDED on-w1", "DELETED web-0"]);
}
