#!/usr/bin/env python3
"""Generate the bundled example snapshots (deterministic). Run: python3 examples/generate.py

Each file is a Kubernetes List like `kubectl upgrade snapshot` writes: nodes, pods (stripped),
PodDisruptionBudgets, the kubeadm-config ConfigMap, plus the `kubectlUpgrade` metadata field.
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))


def node(name, kubelet, cp=False, ready=True, unschedulable=False, labels=None, provider="", runtime="containerd://1.7.22", os_image="Ubuntu 22.04.4 LTS"):
    l = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    taints = []
    if cp:
        l["node-role.kubernetes.io/control-plane"] = ""
        taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    l.update(labels or {})
    spec = {"taints": taints} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    if provider:
        spec["providerID"] = provider
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": l},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
                       "nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": "", "containerRuntimeVersion": runtime,
                                    "osImage": os_image, "kernelVersion": "6.5.0-1025", "architecture": "amd64",
                                    "operatingSystem": "linux", "machineID": "", "systemUUID": "", "bootID": ""}}}


def pod(ns, name, node_name, image, labels=None, owner=None, mirror=False, empty_dir=False, phase="Running"):
    meta = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "abc"}
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": f"uid-{node_name}", "controller": True}]
    spec = {"nodeName": node_name, "containers": [{"name": name.split("-")[0] if not mirror else labels["component"], "image": image}]}
    if empty_dir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    status = {"phase": phase}
    if phase == "Running":
        # Running pods are Ready, as a snapshot keeps it: the Eviction API reads it.
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def static(component, node_name, version, registry="registry.k8s.io"):
    tag = version if component != "etcd" else "3.5.16-0"
    return pod("kube-system", f"{component}-{node_name}", node_name, f"{registry}/{component}:{tag}",
               labels={"component": component, "tier": "control-plane"}, mirror=True)


def pdb(ns, name, selector, current, desired, expected, allowed, min_available=None, max_unavailable=None):
    spec = {"selector": {"matchLabels": selector}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": ns, "generation": 1},
            "spec": spec,
            "status": {"observedGeneration": 1, "currentHealthy": current, "desiredHealthy": desired,
                       "expectedPods": expected, "disruptionsAllowed": allowed}}


def kubeadm_config(version):
    cc = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
          f"kubernetesVersion: {version}\ncontrolPlaneEndpoint: k8s-api.example.internal:6443\n"
          "imageRepository: registry.k8s.io\n")
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": cc}}


def workload(items, ns, app, replicas, nodes, image, kind="ReplicaSet", **kw):
    owner = (kind, f"{app}-7d9f8" if kind == "ReplicaSet" else app)
    for i in range(replicas):
        suffix = f"7d9f8-{i:05x}" if kind == "ReplicaSet" else str(i)
        items.append(pod(ns, f"{app}-{suffix}", nodes[i % len(nodes)], image, labels={"app": app}, owner=owner, **kw))


def daemon(items, name, nodes, image, label):
    for n in nodes:
        items.append(pod("kube-system", f"{name}-{n[-3:]}", n, image, labels={"k8s-app": label}, owner=("DaemonSet", name)))


def write(fname, items, meta):
    doc = {"apiVersion": "v1", "kind": "List", "items": items, "kubectlUpgrade": meta}
    with open(os.path.join(HERE, fname), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def kubeadm_mid_upgrade():
    """kubeadm HA cluster half-way from 1.32 to 1.33: control plane on cp-1/cp-2 upgraded, cp-3 not yet;
    worker-4 still runs a 1.29 kubelet (outside the skew window of 1.33) and payments/ledger has a
    single replica under minAvailable 1 (a PDB that can never allow an eviction)."""
    items = []
    cps = ["cp-1", "cp-2", "cp-3"]
    workers = ["worker-1", "worker-2", "worker-3", "worker-4"]
    kub = {"cp-1": "v1.33.5", "cp-2": "v1.33.5", "cp-3": "v1.32.9",
           "worker-1": "v1.32.9", "worker-2": "v1.32.9", "worker-3": "v1.31.12", "worker-4": "v1.29.10"}
    for n in cps:
        items.append(node(n, kub[n], cp=True))
    for n in workers:
        items.append(node(n, kub[n]))
    for n in cps:
        v = "v1.33.5" if n != "cp-3" else "v1.32.9"
        for c in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]:
            items.append(static(c, n, v))
    for n in cps + workers:
        v = "v1.32.9" if n != "worker-4" else "v1.29.10"
        items.append(pod("kube-system", f"kube-proxy-{n}", n, f"registry.k8s.io/kube-proxy:{v}",
                         labels={"k8s-app": "kube-proxy"}, owner=("DaemonSet", "kube-proxy")))
    workload(items, "kube-system", "coredns", 2, ["worker-1", "worker-2"], "registry.k8s.io/coredns/coredns:v1.11.3")
    items[-1]["metadata"]["labels"]["k8s-app"] = "kube-dns"
    items[-2]["metadata"]["labels"]["k8s-app"] = "kube-dns"
    items.append(pdb("kube-system", "coredns", {"app": "coredns"}, 2, 1, 2, 1, min_available=1))
    workload(items, "shop", "web", 6, workers, "ghcr.io/example/web:2.4.1")
    items.append(pdb("shop", "web", {"app": "web"}, 6, 5, 6, 1, max_unavailable="20%"))
    workload(items, "payments", "ledger", 1, ["worker-1"], "ghcr.io/example/ledger:1.9.0")
    items.append(pdb("payments", "ledger", {"app": "ledger"}, 1, 1, 1, 0, min_available=1))
    workload(items, "shop", "cart", 3, ["worker-2", "worker-3", "worker-4"], "ghcr.io/example/cart:1.2.0", kind="StatefulSet", empty_dir=True)
    items.append(pod("default", "debug-shell", "worker-2", "busybox:1.36", labels={"run": "debug"}))
    items.append(pod("batch", "report-28463520-x7k2p", "worker-3", "ghcr.io/example/report:1.0", labels={"job": "report"}, owner=("Job", "report-28463520"), phase="Succeeded"))
    daemon(items, "node-exporter", cps + workers, "quay.io/prometheus/node-exporter:v1.8.2", "node-exporter")
    items.append(kubeadm_config("v1.33.5"))
    write("kubeadm-mid-upgrade.json", items, {"serverVersion": "v1.33.5", "kubectlVersion": "v1.33.4",
                                              "capturedAt": "2026-11-23T08:00:00Z", "notes": []})


def eks_managed():
    """EKS: control plane hidden (no apiserver pods), two managed node groups, one still a minor behind."""
    items = []
    ng = {"ip-10-0-1-11.us-west-2.compute.internal": ("v1.35.2-eks-c39b1d0", "ng-general-a"),
          "ip-10-0-1-12.us-west-2.compute.internal": ("v1.35.2-eks-c39b1d0", "ng-general-a"),
          "ip-10-0-2-21.us-west-2.compute.internal": ("v1.34.6-eks-1e1cd0b", "ng-batch-b"),
          "ip-10-0-2-22.us-west-2.compute.internal": ("v1.34.6-eks-1e1cd0b", "ng-batch-b")}
    for i, (n, (v, group)) in enumerate(ng.items()):
        items.append(node(n, v, labels={"eks.amazonaws.com/nodegroup": group, "eks.amazonaws.com/capacityType": "ON_DEMAND",
                                         "node.kubernetes.io/instance-type": "m6i.xlarge"},
                          provider=f"aws:///us-west-2a/i-0{i}4f3c2b1a0e9d8c7", os_image="Amazon Linux 2023.6.20250115",
                          runtime="containerd://1.7.25"))
    for n, (v, _) in ng.items():
        items.append(pod("kube-system", f"kube-proxy-{n[3:12]}", n,
                         "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.34.6-minimal-eksbuild.2",
                         labels={"k8s-app": "kube-proxy"}, owner=("DaemonSet", "kube-proxy")))
        items.append(pod("kube-system", f"aws-node-{n[3:12]}", n,
                         "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1",
                         labels={"k8s-app": "aws-node"}, owner=("DaemonSet", "aws-node")))
    nodes = list(ng)
    workload(items, "kube-system", "coredns", 2, nodes[:2], "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns:v1.11.4-eksbuild.2")
    for it in items[-2:]:
        it["metadata"]["labels"]["k8s-app"] = "kube-dns"
    items.append(pdb("kube-system", "coredns", {"app": "coredns"}, 2, 1, 2, 1, max_unavailable=1))
    workload(items, "api", "gateway", 4, nodes, "ghcr.io/example/gateway:3.1.0")
    items.append(pdb("api", "gateway", {"app": "gateway"}, 4, 3, 4, 1, min_available="75%"))
    workload(items, "batch", "worker", 3, nodes[2:], "ghcr.io/example/worker:0.9.1")
    write("eks-managed.json", items, {"serverVersion": "v1.35.4-eks-f69f56f", "kubectlVersion": "v1.35.1",
                                      "capturedAt": "2026-11-23T08:00:00Z",
                                      "notes": ["no kube-apiserver pods visible in kube-system (managed control plane, or not run as static pods): only the /version answer is known, other apiserver instances cannot be checked"]})


def healthy():
    """kubeadm cluster fully on the newest patch of the newest minor, budgets with headroom."""
    items = []
    v = "v1.37.1"
    cps = ["cp-1"]
    workers = ["worker-1", "worker-2", "worker-3"]
    items.append(node("cp-1", v, cp=True))
    for n in workers:
        items.append(node(n, v))
    for c in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]:
        items.append(static(c, "cp-1", v))
    for n in cps + workers:
        items.append(pod("kube-system", f"kube-proxy-{n}", n, f"registry.k8s.io/kube-proxy:{v}",
                         labels={"k8s-app": "kube-proxy"}, owner=("DaemonSet", "kube-proxy")))
    workload(items, "kube-system", "coredns", 2, workers, "registry.k8s.io/coredns/coredns:v1.12.1")
    for it in items[-2:]:
        it["metadata"]["labels"]["k8s-app"] = "kube-dns"
    items.append(pdb("kube-system", "coredns", {"app": "coredns"}, 2, 1, 2, 1, min_available=1))
    workload(items, "shop", "web", 6, workers, "ghcr.io/example/web:2.4.1")
    items.append(pdb("shop", "web", {"app": "web"}, 6, 4, 6, 2, max_unavailable="30%"))
    items.append(kubeadm_config(v))
    write("healthy.json", items, {"serverVersion": v, "kubectlVersion": "v1.37.0",
                                  "capturedAt": "2026-11-23T08:00:00Z", "notes": []})


if __name__ == "__main__":
    kubeadm_mid_upgrade()
    eks_managed()
    healthy()
