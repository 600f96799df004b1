//! Stopping a long-running command cleanly: SIGINT (Ctrl-C), SIGTERM (what CI runners,
//! `timeout` and systemd send) and SIGHUP (a closed terminal) all mean the same: stop
//! starting anything new, let what is in flight finish, write the summary, release the
//! rollout lock, exit 130. A second signal exits at once (the lock then expires on its own).
//! The rollout lock stops a run the same way when it is lost.

use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A stop request shared by everything a command runs: the signal listener and the lock's
/// renewal can stop it; the drain engine, waits and loops watch it.
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<bool>>,
    why: Arc<Mutex<Option<String>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// A stop nobody has asked for yet, listening to no signal (tests, dry runs).
    pub fn new() -> Stop {
        let (tx, _) = watch::channel(false);
        Stop {
            tx: Arc::new(tx),
            why: Arc::new(Mutex::new(None)),
        }
    }

    /// A stop that SIGINT, SIGTERM and SIGHUP trigger; `said` is printed on stderr when the
    /// first one arrives (what stopping means for this command).
    pub fn on_signals(said: &'static str) -> Stop {
        let stop = Stop::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let first = next_signal().await;
            eprintln!("{first} received: {said}");
            s.stop(format!("interrupted ({first})"));
            let second = next_signal().await;
            eprintln!("{second} received again: exiting now");
            std::process::exit(crate::exit::Code::Interrupted.as_i32());
        });
        stop
    }

    /// Ask everything to stop, saying why (the first reason is kept).
    pub fn stop(&self, why: impl Into<String>) {
        if let Ok(mut w) = self.why.lock() {
            w.get_or_insert_with(|| why.into());
        }
        self.tx.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow()
    }

    /// Why it was stopped (`interrupted (SIGTERM)`, or the lock lost).
    pub fn reason(&self) -> Option<String> {
        self.why.lock().ok().and_then(|w| w.clone())
    }

    /// The channel the drain engine watches (true once stopped).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Resolves once stopped.
    pub async fn stopped(&self) {
        let mut rx = self.receiver();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// The name of the next termination signal to arrive.
#[cfg(unix)]
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (term, hup) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    );
    let (Ok(mut term), Ok(mut hup)) = (term, hup) else {
        // Cannot listen (should not happen): Ctrl-C still works.
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

#[cfg(not(unix))]
async fn next_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_is_kept_and_waiters_wake() {
        let stop = Stop::new();
        assert!(!stop.is_stopped());
        let waiter = {
            let s = stop.clone();
            tokio::spawn(async move { s.stopped().await })
        };
        stop.stop("lost the rollout lock");
        stop.stop("interrupted (SIGTERM)");
        waiter.await.unwrap();
        assert!(stop.is_stopped());
        assert_eq!(stop.reason().as_deref(), Some("lost the rollout lock"));
        assert!(*stop.receiver().borrow());
    }
}
