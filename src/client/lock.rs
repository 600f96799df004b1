//! The rollout lock's I/O ([`crate::facts::lock`] says what a Lease means): take it before
//! anything is cordoned, renew it while working (a task every
//! [`RENEW_EVERY`](crate::facts::lock::RENEW_EVERY)), say which nodes are being worked on,
//! release it at the end, on Ctrl-C and on SIGTERM. Optimistic concurrency does the rest: a
//! create of a Lease that exists is 409 AlreadyExists, an update carrying an old
//! resourceVersion is 409 Conflict, so of two runs taking it at the same moment exactly one
//! wins and the other reads the winner.
//!
//! Expiry is judged with this machine's clock against the holder's `renewTime`, as client-go's
//! leader election judges it on first sight: operators' clocks must agree within the lease
//! duration (60 s).

use crate::client::connect::{api_error, Connection};
use crate::client::error::ClientError;
use crate::facts::lock::{
    Holder, LockState, COMMAND_ANNOTATION, HOST_ANNOTATION, LEASE_SECONDS, LOCK_NAME,
    LOCK_NAMESPACE, NODES_ANNOTATION, RENEW_EVERY, USER_ANNOTATION,
};
use crate::signals::Stop;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a run waiting for the lock (`--wait-for-lock`) looks again.
const WAIT_POLL: Duration = Duration::from_secs(2);
/// Releasing must not hold the exit when the server is gone: the lease then expires.
const RELEASE_LIMIT: Duration = Duration::from_secs(5);

/// Who this run is, as the Lease records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// `holderIdentity`, unique per run.
    pub identity: String,
    pub user: String,
    /// `host (pid N)`.
    pub host: String,
    /// The command line (`kubectl upgrade drain-next ...`).
    pub command: String,
}

impl Me {
    /// This process, running `command`.
    pub fn current(command: String) -> Me {
        let user = crate::client::nodes::current_user();
        let host = hostname();
        let pid = std::process::id();
        let nonce = jiff::Timestamp::now().subsec_nanosecond();
        Me {
            identity: format!("{user}@{host}/{pid}/{nonce:09}"),
            user,
            host: format!("{host} (pid {pid})"),
            command,
        }
    }
}

fn hostname() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string());
    from_file
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown host".to_string())
}

/// The lock, held by this run until [`RolloutLock::release`].
pub struct RolloutLock {
    api: Api<Lease>,
    me: Me,
    cluster: String,
    nodes: Arc<Mutex<Vec<String>>>,
    renewer: tokio::task::JoinHandle<()>,
    /// Said when it was taken over from a holder that stopped renewing it.
    pub took_over: Option<String>,
}

/// Read the lock (for `status` and dry runs): `Ok(None)` when it cannot be read (forbidden,
/// or a server without coordination.k8s.io), which the caller says.
pub async fn read(conn: &Connection) -> Result<Option<LockState>, ClientError> {
    let api: Api<Lease> = Api::namespaced(conn.client.clone(), LOCK_NAMESPACE);
    match api.get_opt(LOCK_NAME).await {
        Ok(lease) => Ok(Some(LockState::of(lease.as_ref(), jiff::Timestamp::now()))),
        Err(e)
            if crate::client::connect::is_forbidden(&e)
                || crate::client::connect::is_not_served(&e) =>
        {
            Ok(None)
        }
        Err(e) => Err(lease_error(e, "get", &conn.description)),
    }
}

/// Take the rollout lock before anything is cordoned; `None` for a dry run, which changes
/// nothing and takes no lock but says (through `say`) when a real run would be refused now.
/// A takeover from a run that stopped renewing is said too.
pub async fn take(
    conn: &Connection,
    dry: crate::facts::dry_run::DryRun,
    wait: Option<Duration>,
    stop: &Stop,
    me: Me,
    say: &dyn Fn(&str),
) -> Result<Option<RolloutLock>, ClientError> {
    if dry.is_dry() {
        if let Ok(Some(state)) = read(conn).await {
            if let Some(h) = state.held() {
                say(&format!(
                    "note: another rollout holds the lock ({}): a real run would be refused now",
                    h.describe(jiff::Timestamp::now())
                ));
            }
        }
        return Ok(None);
    }
    let taken = acquire(conn, me, wait, stop).await?;
    if let Some(note) = &taken.took_over {
        say(note);
    }
    Ok(Some(taken))
}

/// Take the lock. Held by another run: refused at once ([`ClientError::Locked`], naming
/// the holder), or with `wait` re-read every 2 s until it is free or `wait` has passed.
/// Expired: taken over, and [`RolloutLock::took_over`] says from whom. `stop` (a signal)
/// ends a wait.
pub async fn acquire(
    conn: &Connection,
    me: Me,
    wait: Option<Duration>,
    stop: &Stop,
) -> Result<RolloutLock, ClientError> {
    let api: Api<Lease> = Api::namespaced(conn.client.clone(), LOCK_NAMESPACE);
    let cluster = conn.description.clone();
    let started = Instant::now();
    let mut said_waiting = false;
    loop {
        let lease = api
            .get_opt(LOCK_NAME)
            .await
            .map_err(|e| lease_error(e, "get", &cluster))?;
        let now = jiff::Timestamp::now();
        let state = LockState::of(lease.as_ref(), now);
        let took_over = match &state {
            LockState::Held(h) => {
                let waited_enough = wait.is_none_or(|w| started.elapsed() >= w);
                if waited_enough {
                    return Err(ClientError::Locked(refusal(h, now, wait)));
                }
                if !said_waiting {
                    eprintln!(
                        "waiting for the rollout lock (up to {}): held by {}",
                        crate::findings::duration_text(wait.unwrap_or_default()),
                        h.describe(now)
                    );
                    said_waiting = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(WAIT_POLL) => {}
                    _ = stop.stopped() => return Err(ClientError::Interrupted(
                        "interrupted while waiting for the rollout lock; nothing was changed".into(),
                    )),
                }
                continue;
            }
            LockState::Expired(h) => Some(format!(
                "took over the rollout lock: its holder stopped renewing it {} ago ({})",
                crate::findings::duration_text(Duration::from_secs(
                    h.silent_for(now).try_into().unwrap_or(0)
                )),
                h.describe(now)
            )),
            LockState::Free => None,
        };
        let created = lease.is_none();
        let taken = match lease {
            None => api
                .create(&PostParams::default(), &fresh_lease(&me, None, now))
                .await
                .map(|_| ()),
            Some(current) => api
                .replace(
                    LOCK_NAME,
                    &PostParams::default(),
                    &fresh_lease(&me, Some(&current), now),
                )
                .await
                .map(|_| ()),
        };
        match taken {
            Ok(()) => {
                let nodes = Arc::new(Mutex::new(Vec::new()));
                let renewer = tokio::spawn(renew_loop(
                    api.clone(),
                    me.clone(),
                    nodes.clone(),
                    stop.clone(),
                ));
                return Ok(RolloutLock {
                    api,
                    me,
                    cluster,
                    nodes,
                    renewer,
                    took_over,
                });
            }
            // Another run took it between our read and our write: read the winner.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => {
                let verb = if created { "create" } else { "update" };
                return Err(lease_error(e, verb, &cluster));
            }
        }
    }
}

impl RolloutLock {
    /// Say which nodes this run works on now (shown to anyone refused, and by `status`).
    pub async fn working_on(&self, nodes: &[String]) {
        if let Ok(mut n) = self.nodes.lock() {
            *n = nodes.to_vec();
        }
        let _ = renew(&self.api, &self.me, &self.nodes).await;
    }

    /// Release it (clear the holder), if this run still holds it. Best effort, bounded: a
    /// lock that cannot be released expires after its lease duration.
    pub async fn release(self) {
        self.renewer.abort();
        let released = tokio::time::timeout(RELEASE_LIMIT, async {
            let Ok(Some(mut lease)) = self.api.get_opt(LOCK_NAME).await else {
                return;
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.me.identity.as_str()) {
                return;
            }
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            if let Some(a) = lease.metadata.annotations.as_mut() {
                a.remove(NODES_ANNOTATION);
            }
            let _ = self
                .api
                .replace(LOCK_NAME, &PostParams::default(), &lease)
                .await;
        })
        .await;
        if released.is_err() {
            eprintln!(
                "warning: could not release the rollout lock at {} within {}; it expires {}s after the last heartbeat",
                self.cluster,
                crate::findings::duration_text(RELEASE_LIMIT),
                LEASE_SECONDS
            );
        }
    }
}

/// The Lease as this run holds it: taken now, renewed now; `current` keeps its
/// resourceVersion (optimistic concurrency) and counts a transition.
fn fresh_lease(me: &Me, current: Option<&Lease>, now: jiff::Timestamp) -> Lease {
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(LOCK_NAME.into()),
            namespace: Some(LOCK_NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let transitions = lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .map_or(0, |t| t + 1);
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(me.identity.clone()),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_duration_seconds: Some(LEASE_SECONDS),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    });
    let annotations = lease
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.insert(COMMAND_ANNOTATION.into(), me.command.clone());
    annotations.insert(USER_ANNOTATION.into(), me.user.clone());
    annotations.insert(HOST_ANNOTATION.into(), me.host.clone());
    annotations.remove(NODES_ANNOTATION);
    lease
}

/// What one renewal found.
enum Renewal {
    Renewed,
    /// Someone else holds it now (ours expired while we could not renew).
    Lost(Option<Holder>),
}

/// Renew the heartbeat and the node list, if we still hold it. A conflict (our own earlier
/// write raced) is retried once with the fresh object.
async fn renew(
    api: &Api<Lease>,
    me: &Me,
    nodes: &Arc<Mutex<Vec<String>>>,
) -> Result<Renewal, kube::Error> {
    for _ in 0..2 {
        let Some(mut lease) = api.get_opt(LOCK_NAME).await? else {
            return Ok(Renewal::Lost(None));
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(me.identity.as_str()) {
            return Ok(Renewal::Lost(Holder::of(&lease)));
        }
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        let list = nodes.lock().map(|n| n.join(",")).unwrap_or_default();
        let annotations = lease
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        if list.is_empty() {
            annotations.remove(NODES_ANNOTATION);
        } else {
            annotations.insert(NODES_ANNOTATION.into(), list);
        }
        match api.replace(LOCK_NAME, &PostParams::default(), &lease).await {
            Ok(_) => return Ok(Renewal::Renewed),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Renewal::Renewed)
}

/// Renew every [`RENEW_EVERY`] until aborted. Lost to another run, or not renewed for a
/// whole lease duration (the server gone: someone may have taken it over): stop the run.
async fn renew_loop(api: Api<Lease>, me: Me, nodes: Arc<Mutex<Vec<String>>>, stop: Stop) {
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match renew(&api, &me, &nodes).await {
            Ok(Renewal::Renewed) => last_ok = Instant::now(),
            Ok(Renewal::Lost(holder)) => {
                let who = holder.map_or_else(
                    || "the lock Lease was deleted".to_string(),
                    |h| format!("now held by {}", h.describe(jiff::Timestamp::now())),
                );
                eprintln!("lost the rollout lock ({who}): stopping new evictions");
                stop.stop(format!("lost the rollout lock ({who})"));
                return;
            }
            Err(e) => {
                if last_ok.elapsed() >= Duration::from_secs(LEASE_SECONDS.unsigned_abs().into()) {
                    let why = format!(
                        "could not renew the rollout lock for {LEASE_SECONDS}s ({}): another run may take it over",
                        crate::client::connect::one_line(&e.to_string())
                    );
                    eprintln!("{why}: stopping new evictions");
                    stop.stop(why);
                    return;
                }
            }
        }
    }
}

/// The refusal: who holds it, doing what, and what to do.
fn refusal(h: &Holder, now: jiff::Timestamp, wait: Option<Duration>) -> String {
    let waited = wait
        .map(|w| format!(" (waited {})", crate::findings::duration_text(w)))
        .unwrap_or_default();
    format!(
        "another rollout holds the lock (Lease {LOCK_NAMESPACE}/{LOCK_NAME}){waited}: {}; wait for it to finish (--wait-for-lock 30m), or if that run is dead, its lock expires {}s after its last heartbeat",
        h.describe(now),
        h.lease_seconds
    )
}

/// A failed call on the lock Lease; 403 names the Role to bind.
fn lease_error(e: kube::Error, verb: &str, cluster: &str) -> ClientError {
    if crate::client::connect::is_forbidden(&e) {
        return ClientError::Denied(format!(
            "forbidden: cannot {verb} the rollout lock (Lease {LOCK_NAMESPACE}/{LOCK_NAME}); grant verb \"{verb}\" on resource \"leases\" in {LOCK_NAMESPACE}: bind the Role kubectl-upgrade-lock (deploy/rbac.yaml)"
        ));
    }
    api_error(e, verb, "leases", Some(LOCK_NAME), cluster).into()
}
