//! Will the pods fit? Where the pods a drain moves could go, as far as the API shows what
//! the scheduler would do: requests against allocatable minus what already runs there,
//! `nodeSelector`, required node affinity (`matchExpressions` on labels), NoSchedule/NoExecute
//! taints against tolerations, required pod anti-affinity (both ways: the moving pod's
//! terms against a node's pods, and their terms against it) over any topology key, and
//! topology spread constraints with `whenUnsatisfiable: DoNotSchedule` (the scheduler's
//! PodTopologySpread filter: the skew of the pod's domain against the emptiest domain, over
//! every node that has the key and matches the pod's node selection, cordoned ones
//! included, as the default `nodeTaintsPolicy: Ignore` counts them). Used by
//! `drain-next --strategy replace`'s capacity preview and by `simulate`. Pure.
//!
//! The [`Placer`] spreads pods as the scheduler's least-allocated scoring tends to: each
//! scheduling shape (selector, affinity, tolerations) takes its eligible nodes in turn, so a
//! pod lands on the next node with room rather than piling onto the first.
//!
//! Bound volumes count too: a pod whose PersistentVolumeClaims are bound to
//! PersistentVolumes with required node affinity (zonal disks, local volumes) may only go
//! where every such volume's terms match ([`Volumes`], the VolumeBinding filter).
//!
//! What it cannot see: extended resources, priorities and preemption, preferred (soft)
//! rules, `ScheduleAnyway` spread, claims still waiting for their first consumer. A pod placed here may still
//! not schedule; a pod left Pending here will not.

use crate::facts::resources::Resources;
use crate::facts::selector::{Requirement, Selector};
use k8s_openapi::api::core::v1::{Pod, Toleration};
use std::collections::{BTreeMap, HashMap};

/// A required pod anti-affinity term: no pod matching `selector` (in `namespaces`, or the
/// pod's own namespace when empty) may run in the same `topology_key` domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AntiTerm {
    pub topology_key: String,
    pub selector: Selector,
    pub namespaces: Vec<String>,
}

impl AntiTerm {
    /// Does the term (of a pod in `own_ns`) select a pod in `ns` with `labels`?
    fn selects(&self, own_ns: &str, ns: &str, labels: &BTreeMap<String, String>) -> bool {
        let ns_ok = if self.namespaces.is_empty() {
            ns == own_ns
        } else {
            self.namespaces.iter().any(|n| n == ns)
        };
        ns_ok && self.selector.matches(labels)
    }
}

/// A topology spread constraint with `whenUnsatisfiable: DoNotSchedule`: in the pod's
/// domain of `topology_key`, the pods `selector` selects (in its namespace; `matchLabelKeys`
/// already folded in) may exceed the emptiest domain's by at most `max_skew`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpreadTerm {
    pub topology_key: String,
    pub max_skew: i64,
    pub selector: Selector,
    /// Fewer domains than this count the emptiest as 0.
    pub min_domains: Option<i64>,
    /// `nodeAffinityPolicy` (default Honor): only nodes matching the pod's nodeSelector and
    /// required node affinity are domains.
    pub honor_affinity: bool,
    /// `nodeTaintsPolicy` (default Ignore): only nodes whose taints the pod tolerates.
    pub honor_taints: bool,
}

/// A pod that must move (or one already in place, as an occupant), with what decides where
/// it may go.
#[derive(Debug, Clone, Default)]
pub struct Moving {
    /// `ns/name`.
    pub key: std::sync::Arc<str>,
    /// Shared between the pods of a namespace where the reader interns it.
    pub namespace: std::sync::Arc<str>,
    /// Shared: the replicas of one workload carry the same labels (interned by the reader).
    pub labels: std::sync::Arc<BTreeMap<String, String>>,
    pub requests: Resources,
    /// Its scheduling rules; shared where a reader interns them (replicas carry the same).
    pub rules: std::sync::Arc<Rules>,
    /// Its PersistentVolumeClaims (names in its namespace; generic ephemeral volumes'
    /// claims included).
    pub claims: Vec<String>,
}

/// What decides where a pod may go, besides room and its claims.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity: any one term must hold (each a selector over node labels).
    pub affinity: Vec<Selector>,
    pub tolerations: Vec<Toleration>,
    /// Required pod anti-affinity.
    pub anti: Vec<AntiTerm>,
    /// Topology spread constraints that filter (DoNotSchedule).
    pub spread: Vec<SpreadTerm>,
    /// Where its bound volumes may be used: per volume, any one term must hold
    /// ([`Volumes::apply`]).
    pub volume_affinity: Vec<Vec<Selector>>,
}

impl Rules {
    /// Rules that place alike, as text: equal texts, equal rules (for interning and
    /// [`shapes`]).
    pub fn text(&self) -> String {
        format!("{self:?}")
    }
}

/// Bound volumes' node affinity, by claim: what the scheduler's VolumeBinding filter reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volumes {
    /// `ns/claim` -> the PersistentVolume it is bound to.
    bound: HashMap<String, String>,
    /// PersistentVolume -> its required node affinity terms (none: usable anywhere).
    terms: HashMap<String, Vec<Selector>>,
}

impl Volumes {
    pub fn add_claim(&mut self, c: &k8s_openapi::api::core::v1::PersistentVolumeClaim) {
        let volume = c.spec.as_ref().and_then(|s| s.volume_name.clone());
        if let (Some(ns), Some(name), Some(pv)) = (
            c.metadata.namespace.as_deref(),
            c.metadata.name.as_deref(),
            volume,
        ) {
            self.bound.insert(format!("{ns}/{name}"), pv);
        }
    }

    pub fn add_volume(&mut self, v: &k8s_openapi::api::core::v1::PersistentVolume) {
        let Some(name) = v.metadata.name.clone() else {
            return;
        };
        let terms = v
            .spec
            .as_ref()
            .and_then(|s| s.node_affinity.as_ref())
            .and_then(|a| a.required.as_ref())
            .map(|r| r.node_selector_terms.iter().map(node_term).collect())
            .unwrap_or_default();
        self.terms.insert(name, terms);
    }

    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }

    /// Fill `m.volume_affinity` from its claims (claims not bound, or bound to a volume
    /// without node affinity, do not restrict it).
    pub fn apply(&self, m: &mut Moving) {
        std::sync::Arc::make_mut(&mut m.rules).volume_affinity = m
            .claims
            .iter()
            .filter_map(|c| self.bound.get(&format!("{}/{c}", m.namespace)))
            .filter_map(|pv| self.terms.get(pv))
            .filter(|t| !t.is_empty())
            .cloned()
            .collect();
    }
}

fn claims(p: &Pod) -> Vec<String> {
    let pod_name = p.metadata.name.as_deref().unwrap_or_default();
    p.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                return Some(c.claim_name.clone());
            }
            // A generic ephemeral volume's claim is named after the pod and the volume.
            v.ephemeral
                .as_ref()
                .map(|_| format!("{pod_name}-{}", v.name))
        })
        .collect()
}

fn spread_terms(p: &Pod) -> Vec<SpreadTerm> {
    let labels = p.metadata.labels.clone().unwrap_or_default();
    p.spec
        .iter()
        .flat_map(|s| s.topology_spread_constraints.iter().flatten())
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
        .map(|c| {
            let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
            // matchLabelKeys: the incoming pod's values of those keys join the selector.
            for k in c.match_label_keys.iter().flatten() {
                if let Some(v) = labels.get(k) {
                    selector
                        .requirements
                        .push(Requirement::Equals(k.clone(), v.clone()));
                }
            }
            SpreadTerm {
                topology_key: c.topology_key.clone(),
                max_skew: i64::from(c.max_skew),
                selector,
                min_domains: c.min_domains.map(i64::from),
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            }
        })
        .collect()
}

fn node_term(t: &k8s_openapi::api::core::v1::NodeSelectorTerm) -> Selector {
    Selector {
        requirements: t
            .match_expressions
            .iter()
            .flatten()
            .map(|e| {
                let values = e.values.clone().unwrap_or_default();
                match e.operator.as_str() {
                    "In" => Requirement::In(e.key.clone(), values),
                    "NotIn" => Requirement::NotIn(e.key.clone(), values),
                    "Exists" => Requirement::Exists(e.key.clone()),
                    "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                    "Gt" => e
                        .values
                        .as_ref()
                        .and_then(|v| v.first())
                        .and_then(|v| v.parse().ok())
                        .map_or_else(
                            || Requirement::Invalid("Gt".into()),
                            |n| Requirement::GreaterThan(e.key.clone(), n),
                        ),
                    "Lt" => e
                        .values
                        .as_ref()
                        .and_then(|v| v.first())
                        .and_then(|v| v.parse().ok())
                        .map_or_else(
                            || Requirement::Invalid("Lt".into()),
                            |n| Requirement::LessThan(e.key.clone(), n),
                        ),
                    other => Requirement::Invalid(other.to_string()),
                }
            })
            .collect(),
        everything: true,
    }
}

impl Moving {
    pub fn from_pod(p: &Pod) -> Moving {
        let spec = p.spec.as_ref();
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let node_affinity = affinity
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|r| r.node_selector_terms.iter().map(node_term).collect())
            .unwrap_or_default();
        let anti = affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|terms| {
                terms
                    .iter()
                    .map(|t| AntiTerm {
                        topology_key: t.topology_key.clone(),
                        selector: Selector::from_label_selector(t.label_selector.as_ref()),
                        namespaces: t.namespaces.clone().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let namespace = p.metadata.namespace.as_deref().unwrap_or_default();
        Moving {
            key: format!(
                "{namespace}/{}",
                p.metadata.name.as_deref().unwrap_or_default()
            )
            .into(),
            namespace: namespace.into(),
            labels: std::sync::Arc::new(p.metadata.labels.clone().unwrap_or_default()),
            requests: Resources::requested_by(p),
            rules: std::sync::Arc::new(Rules {
                node_selector: spec
                    .and_then(|s| s.node_selector.clone())
                    .unwrap_or_default(),
                affinity: node_affinity,
                tolerations: spec.and_then(|s| s.tolerations.clone()).unwrap_or_default(),
                anti,
                spread: spread_terms(p),
                volume_affinity: Vec::new(),
            }),
            claims: claims(p),
        }
    }
}

/// A node the pods may move to, and its room.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub name: String,
    /// Shared: a placer is cloned for each trial of a simulation.
    pub labels: std::sync::Arc<BTreeMap<String, String>>,
    /// `key=value:Effect` / `key:Effect`, as [`crate::facts::node::NodeFacts`] keeps them.
    pub taints: std::sync::Arc<Vec<String>>,
    pub free: Resources,
    /// Takes no pods (cordoned, not Ready, not at the target), but counts as a topology
    /// spread domain with its pods.
    pub closed: bool,
}

/// Whether `t` (a `key=value:Effect` taint) is tolerated.
fn tolerated(t: &str, tolerations: &[Toleration]) -> bool {
    let (kv, effect) = t.rsplit_once(':').unwrap_or((t, ""));
    if !matches!(effect, "NoSchedule" | "NoExecute") {
        return true; // PreferNoSchedule does not keep a pod off
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    tolerations.iter().any(|tol| {
        let effect_ok = tol
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == effect);
        let key_ok = match tol.key.as_deref() {
            None | Some("") => tol.operator.as_deref() == Some("Exists"),
            Some(k) => k == key,
        };
        let value_ok = match tol.operator.as_deref() {
            Some("Exists") => true,
            _ => tol.value.as_deref().unwrap_or("") == value,
        };
        effect_ok && key_ok && value_ok
    })
}

/// Does `d` match the pod's nodeSelector and required node affinity?
fn selected(pod: &Moving, d: &Destination) -> bool {
    pod.rules
        .node_selector
        .iter()
        .all(|(k, v)| d.labels.get(k) == Some(v))
        && (pod.rules.affinity.is_empty()
            || pod.rules.affinity.iter().any(|t| t.matches(&d.labels)))
}

/// May every bound volume of the pod be used on `d`?
fn volumes_reach(pod: &Moving, d: &Destination) -> bool {
    pod.rules
        .volume_affinity
        .iter()
        .all(|terms| terms.iter().any(|t| t.matches(&d.labels)))
}

fn taints_tolerated(pod: &Moving, d: &Destination) -> bool {
    d.taints
        .iter()
        .all(|t| tolerated(t, &pod.rules.tolerations))
}

/// May `pod` go to `d` at all (ignoring room and other pods)?
pub fn eligible(pod: &Moving, d: &Destination) -> bool {
    selected(pod, d) && taints_tolerated(pod, d) && volumes_reach(pod, d)
}

/// Why a pod found no node.
pub const NO_MATCH: &str =
    "no destination matches its nodeSelector, required node affinity, tolerations or its volumes' node affinity";

/// Each pod's scheduling shape (its `nodeSelector`, required node affinity and
/// tolerations) as a number: pods of one shape may go to the same nodes, so a [`Placer`]
/// works out their eligible nodes once.
pub fn shapes<T: AsRef<Moving>>(pods: &[T]) -> Vec<u32> {
    let mut ids: HashMap<String, u32> = HashMap::new();
    pods.iter()
        .map(|p| {
            let p = p.as_ref();
            let r = &p.rules;
            let key = format!(
                "{:?}|{:?}|{:?}|{:?}",
                r.node_selector, r.affinity, r.tolerations, r.volume_affinity
            );
            let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
            *ids.entry(key).or_insert(next)
        })
        .collect()
}

impl AsRef<Moving> for Moving {
    fn as_ref(&self) -> &Moving {
        self
    }
}

/// Places pods (indices into a slice of them) on destinations one at a time, keeping each
/// destination's free room and its pods (for anti-affinity). Destinations can be closed
/// (cordoned, being drained) and opened again; pods can be taken off.
#[derive(Clone)]
pub struct Placer<'p, T: AsRef<Moving>> {
    pods: &'p [T],
    shape_of: &'p [u32],
    dests: Vec<Destination>,
    index: HashMap<String, usize>,
    open: Vec<bool>,
    /// Destinations tried first (the rest only when none of these has room: a
    /// PreferNoSchedule taint is a preference, not a filter).
    preferred: Vec<bool>,
    /// Pods on each destination (occupants), for anti-affinity.
    on: Vec<Vec<u32>>,
    /// Per shape: the destinations it may use, those of them open (kept current by
    /// `set_open`, so a search never walks closed nodes), and where its turn is.
    shapes: HashMap<u32, ShapeState>,
    /// Topology key -> value -> destinations in that domain (for keys terms use).
    domains: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Occupants with anti-affinity terms, per destination, and every key their terms use.
    anti_on: Vec<Vec<u32>>,
    anti_keys: Vec<String>,
    /// Destinations no longer in the cluster (deleted): not even spread domains.
    gone: Vec<bool>,
}

/// One spread term's domains for one placement: pods selected per domain, and the floor.
struct Domains {
    count: HashMap<String, i64>,
    min: i64,
}

#[derive(Clone)]
struct ShapeState {
    eligible: Vec<bool>,
    open: std::collections::BTreeSet<usize>,
    turn: usize,
}

/// The topology key whose domain is the node itself.
const HOSTNAME: &str = "kubernetes.io/hostname";

impl<'p, T: AsRef<Moving>> Placer<'p, T> {
    /// `shapes` is [`shapes`] of `pods`.
    pub fn new(dests: Vec<Destination>, pods: &'p [T], shapes: &'p [u32]) -> Self {
        let n = dests.len();
        let index = dests
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        Placer {
            pods,
            shape_of: shapes,
            dests,
            index,
            open: vec![true; n],
            preferred: vec![true; n],
            on: vec![Vec::new(); n],
            shapes: HashMap::new(),
            domains: HashMap::new(),
            anti_on: vec![Vec::new(); n],
            anti_keys: Vec::new(),
            gone: vec![false; n],
        }
        .with_closed()
    }

    fn with_closed(mut self) -> Self {
        for i in 0..self.dests.len() {
            if self.dests[i].closed {
                self.open[i] = false;
            }
        }
        self
    }

    /// The destination is gone (its Node deleted): it takes no pods and is no spread domain.
    pub fn set_gone(&mut self, i: usize) {
        self.set_open(i, false);
        self.gone[i] = true;
    }

    /// A spread term's domains as the scheduler counts them for `pod` now.
    fn domains(&self, pod: &Moving, t: &SpreadTerm) -> Domains {
        let mut count: HashMap<String, i64> = HashMap::new();
        for (j, d) in self.dests.iter().enumerate() {
            if self.gone[j] {
                continue;
            }
            let Some(v) = d.labels.get(&t.topology_key) else {
                continue;
            };
            if (t.honor_affinity && !selected(pod, d))
                || (t.honor_taints && !taints_tolerated(pod, d))
            {
                continue;
            }
            let n = self.on[j]
                .iter()
                .filter(|&&o| {
                    let o = self.pod(o);
                    o.namespace == pod.namespace && t.selector.matches(&o.labels)
                })
                .count();
            *count.entry(v.clone()).or_default() += i64::try_from(n).unwrap_or(i64::MAX);
        }
        let few = t
            .min_domains
            .is_some_and(|m| i64::try_from(count.len()).unwrap_or(0) < m);
        let min = if few {
            0
        } else {
            count.values().copied().min().unwrap_or(0)
        };
        Domains { count, min }
    }

    /// Would `pod` on `i` keep every spread term within its skew?
    fn spread_ok(&self, pod: &Moving, i: usize, domains: &[Domains]) -> bool {
        pod.rules.spread.iter().zip(domains).all(|(t, d)| {
            let Some(v) = self.dests[i].labels.get(&t.topology_key) else {
                return false; // a node without the key is no domain: the filter fails
            };
            let own = i64::from(t.selector.matches(&pod.labels));
            d.count.get(v).copied().unwrap_or(0) + own - d.min <= t.max_skew
        })
    }

    fn pod(&self, i: u32) -> &'p Moving {
        self.pods[i as usize].as_ref()
    }

    pub fn destinations(&self) -> &[Destination] {
        &self.dests
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Open or close a destination (a closed one takes no pods).
    pub fn set_open(&mut self, i: usize, open: bool) {
        self.open[i] = open;
        for s in self.shapes.values_mut() {
            if s.eligible[i] {
                if open {
                    s.open.insert(i);
                } else {
                    s.open.remove(&i);
                }
            }
        }
    }

    /// Mark a destination as one to try only when no preferred one has room.
    pub fn set_preferred(&mut self, i: usize, preferred: bool) {
        self.preferred[i] = preferred;
    }

    /// Keep the domains of a topology key a term uses.
    fn know_key(&mut self, key: &str) {
        if key == HOSTNAME || self.domains.contains_key(key) {
            return;
        }
        let mut m: HashMap<String, Vec<usize>> = HashMap::new();
        for (j, d) in self.dests.iter().enumerate() {
            if let Some(v) = d.labels.get(key) {
                m.entry(v.clone()).or_default().push(j);
            }
        }
        self.domains.insert(key.to_string(), m);
    }

    /// Put pod `pod` on destination `i` as it already runs there (its room is in `free`
    /// already when `counted`; else it is taken now).
    pub fn occupy(&mut self, i: usize, pod: u32, counted: bool) {
        let m = self.pod(pod);
        if !counted {
            self.dests[i].free = self.dests[i].free.minus(m.requests);
        }
        if !m.rules.anti.is_empty() {
            self.anti_on[i].push(pod);
            for t in &m.rules.anti {
                if !self.anti_keys.contains(&t.topology_key) {
                    self.anti_keys.push(t.topology_key.clone());
                    self.know_key(&t.topology_key);
                }
            }
        }
        self.on[i].push(pod);
    }

    /// Take every pod off destination `i` for which `leaves` holds; their room comes back.
    pub fn vacate(&mut self, i: usize, leaves: impl Fn(u32) -> bool) {
        let pods = self.pods;
        let (free, anti) = (&mut self.dests[i].free, &mut self.anti_on[i]);
        self.on[i].retain(|&p| {
            if !leaves(p) {
                return true;
            }
            let m = pods[p as usize].as_ref();
            free.add(m.requests);
            if !m.rules.anti.is_empty() {
                anti.retain(|&o| o != p);
            }
            false
        });
    }

    /// Pods on destination `i`.
    pub fn pods_on(&self, i: usize) -> &[u32] {
        &self.on[i]
    }

    /// Would `pod` on `i` break a required anti-affinity term of `key`, its own or another
    /// pod's?
    fn repelled_by(&self, pod: &Moving, i: usize, key: &str) -> bool {
        let mine = pod.rules.anti.iter().any(|t| t.topology_key == key);
        let conflict_on = |j: usize| {
            // Its own terms against every occupant; the occupants' terms against it.
            (mine
                && self.on[j].iter().any(|&o| {
                    let o = self.pod(o);
                    pod.rules.anti.iter().any(|t| {
                        t.topology_key == key && t.selects(&pod.namespace, &o.namespace, &o.labels)
                    })
                }))
                || self.anti_on[j].iter().any(|&o| {
                    let o = self.pod(o);
                    o.rules.anti.iter().any(|t| {
                        t.topology_key == key
                            && t.selects(&o.namespace, &pod.namespace, &pod.labels)
                    })
                })
        };
        if key == HOSTNAME {
            return conflict_on(i);
        }
        let domain = self.dests[i]
            .labels
            .get(key)
            .and_then(|v| self.domains.get(key).and_then(|m| m.get(v)));
        match domain {
            Some(js) => js.iter().any(|&j| conflict_on(j)),
            None => conflict_on(i),
        }
    }

    fn repelled(&self, pod: &Moving, i: usize) -> bool {
        pod.rules
            .anti
            .iter()
            .any(|t| self.repelled_by(pod, i, &t.topology_key))
            || self
                .anti_keys
                .iter()
                .filter(|k| !pod.rules.anti.iter().any(|t| &t.topology_key == *k))
                .any(|k| self.repelled_by(pod, i, k))
    }

    /// Place pod `idx`: the next open, eligible destination (in its shape's turn) with room
    /// and no anti-affinity conflict, a preferred one if any has room. The destination's
    /// index and whether it is preferred, or why there is none.
    pub fn place(&mut self, idx: u32) -> Result<(usize, bool), String> {
        let pod = self.pod(idx);
        let shape = self.shape_of[idx as usize];
        for t in &pod.rules.anti {
            self.know_key(&t.topology_key);
        }
        if !self.shapes.contains_key(&shape) {
            let eligible: Vec<bool> = self.dests.iter().map(|d| eligible(pod, d)).collect();
            let open = (0..self.dests.len())
                .filter(|&i| eligible[i] && self.open[i])
                .collect();
            self.shapes.insert(
                shape,
                ShapeState {
                    eligible,
                    open,
                    turn: 0,
                },
            );
        }
        let Some(state) = self.shapes.get(&shape) else {
            return Err(NO_MATCH.to_string());
        };
        if state.open.is_empty() {
            return Err(NO_MATCH.to_string());
        }
        let turn = state.turn;
        let check_anti = !pod.rules.anti.is_empty() || !self.anti_keys.is_empty();
        let domains: Vec<Domains> = pod
            .rules
            .spread
            .iter()
            .map(|t| self.domains(pod, t))
            .collect();
        let mut repelled = false;
        let mut skewed = false;
        let mut found = None;
        'search: for preferred in [true, false] {
            for &i in state.open.range(turn..).chain(state.open.range(..turn)) {
                if self.preferred[i] != preferred || !self.dests[i].free.holds(pod.requests) {
                    continue;
                }
                if check_anti && self.repelled(pod, i) {
                    repelled = true;
                    continue;
                }
                if !domains.is_empty() && !self.spread_ok(pod, i, &domains) {
                    skewed = true;
                    continue;
                }
                found = Some((i, preferred));
                break 'search;
            }
        }
        if let Some((i, preferred)) = found {
            if let Some(s) = self.shapes.get_mut(&shape) {
                s.turn = i + 1;
            }
            self.occupy(i, idx, false);
            return Ok((i, preferred));
        }
        Err(if skewed {
            let t = &pod.rules.spread[0];
            format!(
                "no eligible destination has room for {} within its topology spread constraint (maxSkew {} over {}; cordoned and drained nodes count as domains)",
                pod.requests.text(),
                t.max_skew,
                t.topology_key
            )
        } else if repelled {
            format!(
                "no eligible destination has room for {} without breaking a required pod anti-affinity",
                pod.requests.text()
            )
        } else {
            format!(
                "no eligible destination has room for {}",
                pod.requests.text()
            )
        })
    }
}

/// Place the pods, largest CPU request first. Returns the pods left without a node (they
/// would stay Pending), each with why. `occupants` are the pods already on each destination
/// (by destination index), for anti-affinity.
pub fn place(
    pods: &[Moving],
    destinations: &[Destination],
    occupants: Vec<(usize, Moving)>,
) -> Vec<(String, String)> {
    let (at, mut all): (Vec<usize>, Vec<Moving>) = occupants.into_iter().unzip();
    let first_moving = all.len();
    all.extend(pods.iter().cloned());
    let shapes = shapes(&all);
    let mut placer = Placer::new(destinations.to_vec(), &all, &shapes);
    for (k, i) in at.into_iter().enumerate() {
        placer.occupy(i, k as u32, true);
    }
    let mut order: Vec<usize> = (first_moving..all.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&all[a].requests, &all[b].requests);
        (b.cpu_millis, b.memory_bytes).cmp(&(a.cpu_millis, a.memory_bytes))
    });
    let mut pending = Vec::new();
    for k in order {
        if let Err(why) = placer.place(k as u32) {
            pending.push((all[k].key.to_string(), why));
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpu: u64, mib: u64) -> Resources {
        Resources {
            cpu_millis: cpu,
            memory_bytes: mib << 20,
            pods: 1,
        }
    }

    fn dest(name: &str, labels: &[(&str, &str)], taints: &[&str], free: Resources) -> Destination {
        Destination {
            name: name.into(),
            labels: std::sync::Arc::new(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            taints: std::sync::Arc::new(taints.iter().map(|t| t.to_string()).collect()),
            free,
            closed: false,
        }
    }

    #[test]
    fn topology_spread_counts_every_domain_cordoned_ones_included() {
        let pod = |name: &str, zone_key: &str, extra: serde_json::Value| -> Moving {
            let mut spec = serde_json::json!({
                "containers": [{"name": "c"}],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": zone_key,
                    "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "s"}}}],
            });
            if let (Some(m), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
                m.extend(e.clone());
            }
            let p: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": "app", "name": name, "labels": {"app": "s"}},
                "spec": spec,
            }))
            .expect("pod");
            Moving::from_pod(&p)
        };
        let host = "kubernetes.io/hostname";
        let node = |n: &str, closed: bool| {
            let mut d = dest(n, &[(host, n), ("zone", n)], &[], r(4000, 4096));
            d.closed = closed;
            d
        };
        // a is cordoned and empty, b and c hold one each: the skew against a's 0 forbids both.
        let dests = vec![node("a", true), node("b", false), node("c", false)];
        let occupants = vec![
            (1, pod("s-1", host, serde_json::json!({}))),
            (2, pod("s-2", host, serde_json::json!({}))),
        ];
        let pending = place(
            &[pod("s-0", host, serde_json::json!({}))],
            &dests,
            occupants.clone(),
        );
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert!(
            pending[0]
                .1
                .contains("topology spread constraint (maxSkew 1"),
            "{pending:?}"
        );
        // a schedulable again: the pod goes there.
        let open = vec![node("a", false), node("b", false), node("c", false)];
        assert!(place(
            &[pod("s-0", host, serde_json::json!({}))],
            &open,
            occupants.clone()
        )
        .is_empty());
        // ScheduleAnyway does not filter.
        let soft: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "app", "name": "s-0", "labels": {"app": "s"}},
            "spec": {"containers": [{"name": "c"}], "topologySpreadConstraints": [{"maxSkew": 1,
                "topologyKey": host, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "s"}}}]},
        }))
        .expect("pod");
        assert!(place(&[Moving::from_pod(&soft)], &dests, occupants.clone()).is_empty());
        // A domain key no node has: no node passes.
        assert_eq!(
            place(
                &[pod("s-0", "rack", serde_json::json!({}))],
                &open,
                occupants.clone()
            )
            .len(),
            1
        );
        // nodeAffinityPolicy Honor (default): a domain the pod may not use does not count.
        let only_bc = serde_json::json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b", "c"]}]}]}}}});
        let pending = place(&[pod("s-0", host, only_bc)], &dests, occupants);
        assert!(
            pending.is_empty(),
            "a is no domain for it: b and c are level at 1, 1+1-1 <= 1: {pending:?}"
        );
    }

    #[test]
    fn bound_volumes_keep_a_pod_where_they_reach() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "db", "name": "db-0"},
            "spec": {"containers": [{"name": "c"}], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "tmp", "emptyDir": {}},
            ]},
        }))
        .expect("pod");
        let mut m = Moving::from_pod(&pod);
        assert_eq!(m.claims, vec!["data-db-0", "db-0-scratch"]);
        let mut v = Volumes::default();
        v.add_claim(
            &serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "db", "name": "data-db-0"}, "spec": {"volumeName": "pv-1"}}))
            .expect("pvc"),
        );
        v.add_claim(&serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "db", "name": "db-0-scratch"}, "spec": {"volumeName": "pv-2"}})).expect("pvc"));
        v.add_volume(&serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pv-1"}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}})).expect("pv"));
        v.add_volume(
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "pv-2"}, "spec": {}}))
                .expect("pv"),
        );
        v.apply(&mut m);
        assert_eq!(
            m.rules.volume_affinity.len(),
            1,
            "the volume without affinity does not restrict"
        );
        let dests = vec![
            dest("b-1", &[("zone", "b")], &[], r(4000, 4096)),
            dest("a-1", &[("zone", "a")], &[], r(4000, 4096)),
        ];
        assert!(place(std::slice::from_ref(&m), &dests, vec![]).is_empty());
        let pending = place(std::slice::from_ref(&m), &dests[..1], vec![]);
        assert!(
            pending[0].1.contains("volumes' node affinity"),
            "{pending:?}"
        );
    }

    #[test]
    fn pods_are_placed_by_room_selectors_affinity_and_taints() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "app", "name": "gpu-0"},
            "spec": {
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
                "nodeSelector": {"pool": "gpu"},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
            }
        }))
        .unwrap();
        let gpu = Moving::from_pod(&pod);
        assert_eq!(gpu.requests.cpu_millis, 500);
        let room = Resources {
            cpu_millis: 4000,
            memory_bytes: 8 << 30,
            pods: 110,
        };
        let good = dest(
            "g1",
            &[("pool", "gpu"), ("zone", "a")],
            &["dedicated=gpu:NoSchedule"],
            room,
        );
        let wrong_zone = dest("g2", &[("pool", "gpu"), ("zone", "c")], &[], room);
        let untolerated = dest(
            "g3",
            &[("pool", "gpu"), ("zone", "b")],
            &["other=x:NoExecute"],
            room,
        );
        let soft_taint = dest(
            "g4",
            &[("pool", "gpu"), ("zone", "b")],
            &["x:PreferNoSchedule"],
            room,
        );
        assert!(eligible(&gpu, &good));
        assert!(!eligible(&gpu, &wrong_zone));
        assert!(!eligible(&gpu, &untolerated));
        assert!(eligible(&gpu, &soft_taint));
        assert!(place(
            std::slice::from_ref(&gpu),
            std::slice::from_ref(&good),
            vec![]
        )
        .is_empty());
        let pending = place(
            std::slice::from_ref(&gpu),
            &[wrong_zone, untolerated],
            vec![],
        );
        assert_eq!(pending.len(), 1);
        assert!(pending[0].1.contains("nodeSelector"), "{pending:?}");

        // Room: two 600m pods and one destination with 1000m free: the second stays Pending.
        let web = |n: &str| Moving {
            key: format!("app/{n}").into(),
            requests: r(600, 100),
            ..Moving::default()
        };
        let small = dest(
            "w1",
            &[],
            &[],
            Resources {
                cpu_millis: 1000,
                memory_bytes: 1 << 30,
                pods: 10,
            },
        );
        let pending = place(&[web("a"), web("b")], &[small], vec![]);
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert!(pending[0].1.contains("room"), "{pending:?}");
    }

    /// Required pod anti-affinity, both ways and by topology domain: a second `db` pod may
    /// not join the first's node (hostname) nor its zone (zone key), and a pod the occupant's
    /// term selects is kept off too.
    #[test]
    fn anti_affinity_keeps_pods_apart() {
        let room = Resources {
            cpu_millis: 4000,
            memory_bytes: 8 << 30,
            pods: 110,
        };
        let term = |key: &str| AntiTerm {
            topology_key: key.into(),
            selector: crate::facts::selector::parse("app=db").unwrap(),
            namespaces: vec![],
        };
        let db = |n: &str, key: &str| Moving {
            key: format!("shop/{n}").into(),
            namespace: "shop".into(),
            labels: std::sync::Arc::new([("app".to_string(), "db".to_string())].into()),
            rules: std::sync::Arc::new(Rules {
                anti: vec![term(key)],
                ..Rules::default()
            }),
            ..Moving::default()
        };
        let host = |n: &str, zone: &str| {
            dest(
                n,
                &[("kubernetes.io/hostname", n), ("zone", zone)],
                &[],
                room,
            )
        };
        let nodes = vec![host("a", "z1"), host("b", "z1"), host("c", "z2")];
        let host_pods = vec![
            db("db-0", "kubernetes.io/hostname"),
            db("db-1", "kubernetes.io/hostname"),
        ];
        let sh = shapes(&host_pods);
        let mut p = Placer::new(nodes.clone(), &host_pods, &sh);
        p.occupy(0, 0, true);
        // Hostname: anywhere but a.
        assert_eq!(p.place(1), Ok((1, true)));
        // Zone: z1 holds db pods, so only c; then nowhere.
        let zone_pods = vec![db("db-0", "zone"), db("db-1", "zone"), db("db-2", "zone")];
        let sh = shapes(&zone_pods);
        let mut z = Placer::new(nodes.clone(), &zone_pods, &sh);
        z.occupy(0, 0, true);
        assert_eq!(z.place(1), Ok((2, true)));
        assert!(z.place(2).unwrap_err().contains("anti-affinity"));
        // The occupant's term keeps a plain db pod (no terms of its own) off its node; a pod
        // of another namespace is not selected.
        let plain = Moving {
            rules: Default::default(),
            ..db("db-9", "kubernetes.io/hostname")
        };
        let other = Moving {
            namespace: "other".into(),
            key: "other/db".into(),
            ..db("x", "kubernetes.io/hostname")
        };
        let mixed = vec![db("db-0", "kubernetes.io/hostname"), plain, other];
        let sh = shapes(&mixed);
        let mut o = Placer::new(vec![host("a", "z1")], &mixed, &sh);
        o.occupy(0, 0, true);
        assert!(o.place(1).is_err());
        assert_eq!(o.place(2), Ok((0, true)));
    }

    /// Pods of one shape take the nodes in turn (spread), preferred nodes first, and a
    /// closed node takes none.
    #[test]
    fn pods_spread_and_closed_nodes_take_none() {
        let room = Resources {
            cpu_millis: 4000,
            memory_bytes: 8 << 30,
            pods: 110,
        };
        let pods: Vec<Moving> = (0..6)
            .map(|n| Moving {
                key: n.to_string().into(),
                requests: r(100, 10),
                ..Moving::default()
            })
            .collect();
        let sh = shapes(&pods);
        assert!(sh.iter().all(|&s| s == sh[0]), "one shape");
        let mut p = Placer::new(
            vec![dest("a", &[], &[], room), dest("b", &[], &[], room)],
            &pods,
            &sh,
        );
        assert_eq!(p.place(0), Ok((0, true)));
        assert_eq!(p.place(1), Ok((1, true)));
        assert_eq!(p.place(2), Ok((0, true)));
        // A node not preferred takes pods only when no preferred one has room.
        p.set_preferred(1, false);
        assert_eq!(p.place(3), Ok((0, true)));
        p.set_preferred(1, true);
        p.set_open(0, false);
        assert_eq!(p.place(4), Ok((1, true)));
        p.set_open(1, false);
        assert_eq!(p.place(5), Err(NO_MATCH.to_string()));
        let before = p.destinations()[0].free;
        p.vacate(0, |m| m == 0);
        assert_eq!(p.pods_on(0), &[2, 3], "2 and 3 stay");
        let mut back = before;
        back.add(pods[0].requests);
        assert_eq!(p.destinations()[0].free, back, "its room comes back");
        assert_eq!(p.index_of("b"), Some(1));
    }
}
