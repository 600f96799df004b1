//! The cluster's simulated controllers: the disruption controller (PDB status), pod deletion
//! and the eviction subresource's rules, and the simulated kubelets, scheduler and
//! ReplicaSet-like recreation that advance with time.

use super::*;

impl Cluster {
    // ----- disruption controller --------------------------------------------------------

    /// PDBs in the pod's namespace whose selector matches it.
    pub(crate) fn matching_pdbs(&self, pod: &Pod) -> Vec<Arc<PodDisruptionBudget>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        self.pdbs
            .range(ns_range(Some(ns)))
            .filter(|(_, pdb)| {
                LabelSel::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
                    .is_some_and(|sel| sel.matches(pod.metadata.labels.as_ref()))
            })
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Recomputes the status of PDBs in namespaces whose pods or PDBs changed.
    pub(crate) fn recompute_pdbs(&mut self) {
        let dirty = std::mem::take(&mut self.dirty_pdb_ns);
        // (pdb key, controllers of matched pods with their pod counts, uncontrolled, matched, healthy)
        type Seen = (Key, BTreeMap<(String, String), i32>, i32, i32, i32);
        let mut seen: Vec<Seen> = Vec::new();
        for ns in &dirty {
            if self.pdbs.range(ns_range(Some(ns))).next().is_none() {
                continue;
            }
            let pods: Vec<&Arc<Pod>> = self
                .pods
                .range(ns_range(Some(ns)))
                .map(|(_, p)| p)
                .collect();
            let mut by_label: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
            for (i, p) in pods.iter().enumerate() {
                for (k, v) in p.metadata.labels.iter().flatten() {
                    by_label
                        .entry((k.as_str(), v.as_str()))
                        .or_default()
                        .push(i);
                }
            }
            for (key, pdb) in self.pdbs.range(ns_range(Some(ns))) {
                if self.held_pdbs.contains(key) {
                    continue;
                }
                let sel = LabelSel::from_label_selector(
                    pdb.spec.as_ref().and_then(|s| s.selector.as_ref()),
                );
                let matched: Vec<&Arc<Pod>> = match &sel {
                    None => Vec::new(),
                    Some(sel) => {
                        let candidates: Box<dyn Iterator<Item = &Arc<Pod>>> = match sel.first_eq() {
                            Some(kv) => {
                                Box::new(by_label.get(&kv).into_iter().flatten().map(|i| pods[*i]))
                            }
                            None => Box::new(pods.iter().copied()),
                        };
                        candidates
                            .filter(|p| sel.matches(p.metadata.labels.as_ref()))
                            .collect()
                    }
                };
                let mut owners: BTreeMap<(String, String), i32> = BTreeMap::new();
                let mut loose = 0;
                for p in &matched {
                    match controller_ref(p) {
                        Some(o) => {
                            *owners.entry((o.kind.clone(), o.name.clone())).or_insert(0) += 1
                        }
                        None => loose += 1,
                    }
                }
                let healthy = matched.iter().filter(|p| pod_is_healthy(p)).count() as i32;
                seen.push((key.clone(), owners, loose, matched.len() as i32, healthy));
            }
        }
        let mut updates = Vec::new();
        for (key, owners, loose, matched, healthy) in seen {
            // The controllers' scale, simulated as the most pods each controller ever had.
            let known = self.pdb_owners.entry(key.clone()).or_default();
            for (owner, n) in owners {
                let s = self
                    .owner_scale
                    .entry((key.0.clone(), owner.0.clone(), owner.1.clone()))
                    .or_insert(0);
                *s = (*s).max(n);
                known.insert(owner);
            }
            let scale: i32 = known
                .iter()
                .map(|(k, n)| {
                    self.owner_scale
                        .get(&(key.0.clone(), k.clone(), n.clone()))
                        .copied()
                        .unwrap_or(0)
                })
                .sum::<i32>()
                + loose;
            let Some(pdb) = self.pdbs.get(&key) else {
                continue;
            };
            let spec = pdb.spec.clone().unwrap_or_default();
            let Ok(b) = budget::compute(
                spec.min_available.as_ref(),
                spec.max_unavailable.as_ref(),
                matched,
                scale,
                healthy,
            ) else {
                // Like a failed controller sync: the status stays unobserved.
                continue;
            };
            let old = pdb.status.clone().unwrap_or_default();
            let generation = pdb.metadata.generation.unwrap_or(1);
            let same = old.expected_pods == Some(b.expected)
                && old.desired_healthy == Some(b.desired)
                && old.current_healthy == Some(b.healthy)
                && old.disruptions_allowed == Some(b.allowed)
                && old.observed_generation == Some(generation)
                && old.disrupted_pods.is_none();
            if same {
                continue;
            }
            let mut new = (**pdb).clone();
            new.status = Some(pdb_status(&old, b, generation));
            updates.push(new);
        }
        for pdb in updates {
            self.put(pdb);
        }
        // Our own status writes marked the namespaces dirty again; they are up to date.
        for ns in dirty {
            self.dirty_pdb_ns.remove(&ns);
        }
    }

    /// True when a healthy pod is covered by a PDB that has no disruptions left.
    pub(super) fn budget_exhausted(&self, pod: &Pod) -> bool {
        self.matching_pdbs(pod).iter().any(|pdb| {
            pdb.status
                .as_ref()
                .and_then(|s| s.disruptions_allowed)
                .unwrap_or(0)
                <= 0
        })
    }

    // ----- pods: delete and evict -------------------------------------------------------

    pub(super) fn check_preconditions(pod: &Pod, opts: &DeleteOpts) -> Result<(), ApiError> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        if let Some(uid) = &opts.uid {
            let actual = pod.metadata.uid.as_deref().unwrap_or_default();
            if uid != actual {
                return Err(ApiError::conflict(
                    "",
                    "pods",
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            let actual = pod.metadata.resource_version.as_deref().unwrap_or_default();
            if rv != actual {
                return Err(ApiError::conflict(
                    "",
                    "pods",
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"),
                ));
            }
        }
        Ok(())
    }

    /// DELETE of a pod with `DeleteOptions` semantics: preconditions (409), dryRun, grace
    /// period (immediate for unscheduled or finished pods), terminating state.
    pub(crate) fn delete_pod_with(
        &mut self,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
        now: Instant,
        count_violation: bool,
    ) -> Result<Arc<Pod>, ApiError> {
        let key = (ns.to_string(), name.to_string());
        let pod = self
            .pods
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        Self::check_preconditions(&pod, opts)?;
        if opts.dry_run {
            return Ok(pod);
        }
        let default_grace = pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        let mut grace = opts.grace.unwrap_or(default_grace);
        if grace < 0 {
            grace = 1;
        }
        let phase = pod_phase(&pod);
        if pod_node(&pod).is_none() || phase == "Succeeded" || phase == "Failed" {
            grace = 0;
        }
        let cap = self.sim.grace_cap;
        let deadline = now + Duration::from_secs(grace as u64).min(cap);
        if pod.metadata.deletion_timestamp.is_some() {
            // Already terminating: a shorter grace period shortens the wait.
            let current = pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(default_grace);
            if grace < current {
                if grace == 0 {
                    return Ok(self.remove_pod_now(&key, now).unwrap_or(pod));
                }
                let mut p = (*pod).clone();
                p.metadata.deletion_grace_period_seconds = Some(grace);
                let p = self.put(p);
                let d = self.terminating.entry(key).or_insert(deadline);
                *d = (*d).min(deadline);
                return Ok(p);
            }
            return Ok(pod);
        }
        if count_violation && pod_is_healthy(&pod) && self.budget_exhausted(&pod) {
            self.pdb_violations += 1;
        }
        if grace == 0 {
            return Ok(self.remove_pod_now(&key, now).unwrap_or(pod));
        }
        let mut p = (*pod).clone();
        let ts = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(grace))
            .unwrap_or_else(|_| jiff::Timestamp::now());
        p.metadata.deletion_timestamp = Some(Time(ts));
        p.metadata.deletion_grace_period_seconds = Some(grace);
        let p = self.put(p);
        self.terminating.insert(key, deadline);
        Ok(p)
    }

    pub(super) fn remove_pod_now(&mut self, key: &Key, now: Instant) -> Option<Arc<Pod>> {
        self.terminating.remove(key);
        self.becoming_ready.remove(key);
        self.unscheduled.remove(key);
        let old = self.remove::<Pod>(key)?;
        self.recreate(&old, now);
        Some(old)
    }

    /// The eviction subresource, like `pkg/registry/core/pod/storage/eviction.go`.
    pub(crate) fn evict(
        &mut self,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
        now: Instant,
    ) -> Result<(), ApiError> {
        let key = (ns.to_string(), name.to_string());
        let pod = self
            .pods
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        let phase = pod_phase(&pod);
        let can_ignore_pdb = matches!(phase, "Succeeded" | "Failed" | "Pending")
            || pod.metadata.deletion_timestamp.is_some();
        if !can_ignore_pdb {
            let pdbs = self.matching_pdbs(&pod);
            if pdbs.len() > 1 {
                return Err(ApiError::multiple_pdbs());
            }
            if let Some(pdb) = pdbs.first() {
                let pdb_name = pdb.metadata.name.clone().unwrap_or_default();
                let st = pdb.status.clone().unwrap_or_default();
                let (current, desired, allowed) = (
                    st.current_healthy.unwrap_or(0),
                    st.desired_healthy.unwrap_or(0),
                    st.disruptions_allowed.unwrap_or(0),
                );
                // An unready pod does not count as healthy: with `AlwaysAllow` it goes
                // whatever the budget; with the default `IfHealthyBudget` while the budget
                // is met.
                let always = pdb
                    .spec
                    .as_ref()
                    .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
                    == Some("AlwaysAllow");
                let unready_admitted =
                    !pod_is_ready(&pod) && (always || (current >= desired && desired > 0));
                if !unready_admitted {
                    if st.observed_generation.unwrap_or(0) < pdb.metadata.generation.unwrap_or(0) {
                        return Err(ApiError::too_many_requests_pdb(
                            format!("The disruption budget {pdb_name} is still being processed by the server."),
                            10,
                        ));
                    }
                    if allowed < 0 {
                        return Err(ApiError::forbidden(
                            "policy",
                            "poddisruptionbudget",
                            &pdb_name,
                            "pdb disruptions allowed is negative",
                        ));
                    }
                    if allowed == 0 {
                        return Err(ApiError::too_many_requests_pdb(
                            format!(
                                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                                desired, current
                            ),
                            0,
                        ));
                    }
                    Self::check_preconditions(&pod, opts)?;
                    if !opts.dry_run {
                        let mut new = (**pdb).clone();
                        let s = new.status.get_or_insert_with(Default::default);
                        s.disruptions_allowed = Some(allowed - 1);
                        s.disrupted_pods
                            .get_or_insert_with(BTreeMap::new)
                            .insert(name.to_string(), now_time());
                        self.put(new);
                    }
                }
            }
        }
        self.delete_pod_with(ns, name, opts, now, false)?;
        Ok(())
    }

    // ----- simulated kubelets and controllers -------------------------------------------

    /// The ReplicaSet/StatefulSet controller: a replacement for a pod that went away.
    pub(super) fn recreate(&mut self, old: &Pod, now: Instant) {
        if !self.sim.recreate {
            return;
        }
        let Some(owner) = controller_ref(old).cloned() else {
            return;
        };
        let ns = old.metadata.namespace.clone().unwrap_or_default();
        let name = match owner.kind.as_str() {
            "StatefulSet" => old.metadata.name.clone().unwrap_or_default(),
            "ReplicaSet" => loop {
                let n = format!("{}-{}", owner.name, self.name_suffix());
                if !self.pods.contains_key(&(ns.clone(), n.clone())) {
                    break n;
                }
            },
            _ => return,
        };
        let mut spec = old.spec.clone().unwrap_or_default();
        spec.node_name = None;
        let mut p = Pod {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: old.metadata.labels.clone(),
                annotations: old.metadata.annotations.clone(),
                owner_references: old.metadata.owner_references.clone(),
                generate_name: (owner.kind == "ReplicaSet").then(|| format!("{}-", owner.name)),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        };
        let node = self.pick_node(pod_node(old), &p);
        if let Some(s) = p.spec.as_mut() {
            s.node_name = node.clone();
        }
        let key = (ns, name);
        match node {
            Some(_) => {
                set_pod_status(&mut p, "Running", false);
                let p = self.put(p);
                let uid = p.metadata.uid.clone().unwrap_or_default();
                self.becoming_ready
                    .insert(key, (now + self.sim.ready_delay, uid));
            }
            None => {
                set_pod_status(&mut p, "Pending", false);
                self.put(p);
                self.unscheduled.insert(key);
            }
        }
    }

    /// Advances the simulation to `now`: terminating pods past their deadline vanish (and are
    /// recreated by their controller), new pods become Ready, pending pods get scheduled.
    pub(crate) fn tick(&mut self, now: Instant) {
        let due: Vec<Key> = self
            .terminating
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.terminating.remove(&key);
            if self
                .pods
                .get(&key)
                .is_some_and(|p| p.metadata.deletion_timestamp.is_some())
            {
                self.remove_pod_now(&key, now);
            }
        }
        let ready: Vec<(Key, String)> = self
            .becoming_ready
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(k, (_, uid))| (k.clone(), uid.clone()))
            .collect();
        for (key, uid) in ready {
            self.becoming_ready.remove(&key);
            if let Some(p) = self.pods.get(&key) {
                if p.metadata.uid.as_deref() == Some(uid.as_str())
                    && p.metadata.deletion_timestamp.is_none()
                {
                    let mut p = (**p).clone();
                    set_pod_status(&mut p, "Running", true);
                    self.put(p);
                }
            }
        }
        if !self.unscheduled.is_empty() {
            let pending: Vec<Key> = self.unscheduled.iter().cloned().collect();
            for key in pending {
                let Some(pod) = self.pods.get(&key).cloned() else {
                    self.unscheduled.remove(&key);
                    continue;
                };
                let Some(node) = self.pick_node(None, &pod) else {
                    continue;
                };
                self.unscheduled.remove(&key);
                if let Some(p) = self.pods.get(&key) {
                    if p.metadata.deletion_timestamp.is_some() || pod_node(p).is_some() {
                        continue;
                    }
                    let mut p = (**p).clone();
                    p.spec.get_or_insert_with(Default::default).node_name = Some(node);
                    set_pod_status(&mut p, "Running", false);
                    let p = self.put(p);
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    self.becoming_ready
                        .insert(key, (now + self.sim.ready_delay, uid));
                }
            }
        }
        self.upgrade_drained_nodes(now);
        self.taint_nodes_by_condition();
        self.recompute_pdbs();
    }

    /// The node lifecycle controller's TaintNodesByCondition, as a real cluster does it: a
    /// cordoned node carries `node.kubernetes.io/unschedulable:NoSchedule`, a NotReady one
    /// `node.kubernetes.io/not-ready:NoSchedule` (the NoExecute taint and its evictions after
    /// 300 s are not simulated), removed again when the condition ends.
    fn taint_nodes_by_condition(&mut self) {
        const MANAGED: [&str; 2] = [
            "node.kubernetes.io/unschedulable",
            "node.kubernetes.io/not-ready",
        ];
        let changed: Vec<Node> = self
            .nodes
            .values()
            .filter_map(|n| {
                let mut want: Vec<&str> = Vec::new();
                if is_unschedulable(n) {
                    want.push(MANAGED[0]);
                }
                if !node_is_ready(n) {
                    want.push(MANAGED[1]);
                }
                let taints = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.clone())
                    .unwrap_or_default();
                let have: Vec<&str> = taints
                    .iter()
                    .filter(|t| MANAGED.contains(&t.key.as_str()) && t.effect == "NoSchedule")
                    .map(|t| t.key.as_str())
                    .collect();
                if have == want {
                    return None;
                }
                let mut node = (**n).clone();
                let mut kept: Vec<Taint> = taints
                    .into_iter()
                    .filter(|t| !(MANAGED.contains(&t.key.as_str()) && t.effect == "NoSchedule"))
                    .collect();
                for key in want {
                    kept.push(Taint {
                        key: key.to_string(),
                        effect: "NoSchedule".into(),
                        time_added: Some(crate::cluster::now_time()),
                        ..Taint::default()
                    });
                }
                node.spec.get_or_insert_with(Default::default).taints =
                    (!kept.is_empty()).then_some(kept);
                Some(node)
            })
            .collect();
        for n in changed {
            self.put(n);
        }
    }

    /// True when the simulation has timers pending.
    pub(crate) fn busy(&self) -> bool {
        !self.terminating.is_empty()
            || !self.becoming_ready.is_empty()
            || !self.unscheduled.is_empty()
            || !self.upgrading.is_empty()
            || !self.drained_below_target().is_empty()
    }

    /// With [`crate::KubeletUpgrade`]: cordoned nodes below its version that hold no pod
    /// but DaemonSet and mirror pods, not already being upgraded.
    fn drained_below_target(&self) -> Vec<String> {
        let Some(up) = &self.sim.kubelet_upgrade else {
            return vec![];
        };
        self.nodes
            .values()
            .filter(|n| is_unschedulable(n))
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.node_info.as_ref())
                    .is_some_and(|i| i.kubelet_version != up.to)
            })
            .filter_map(|n| n.metadata.name.clone())
            .filter(|name| !self.upgrading.contains_key(name))
            .filter(|name| {
                self.pods_by_node.get(name).is_none_or(|keys| {
                    keys.iter().filter_map(|k| self.pods.get(k)).all(|p| {
                        controller_ref(p).is_some_and(|o| o.kind == "DaemonSet")
                            || p.metadata
                                .annotations
                                .as_ref()
                                .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
                    })
                })
            })
            .collect()
    }

    /// The in-place upgrade of drained nodes: NotReady at once, back Ready at the new kubelet
    /// version after the downtime (the node stays cordoned: uncordoning is the rollout's job).
    fn upgrade_drained_nodes(&mut self, now: Instant) {
        let Some(up) = self.sim.kubelet_upgrade.clone() else {
            return;
        };
        for name in self.drained_below_target() {
            self.set_node_ready(&name, false);
            self.upgrading.insert(name, now + up.downtime);
        }
        let back: Vec<String> = self
            .upgrading
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in back {
            self.upgrading.remove(&name);
            self.set_node_kubelet_version(&name, &up.to);
            self.set_node_ready(&name, true);
        }
    }
}
