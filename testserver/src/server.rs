//! The accept loop (with refuse-style outages) and the simulation ticker.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::{lock, Shared};

/// Control messages from `TestServer`.
pub(crate) enum Ctl {
    /// Close the listener and cut connections for the duration, ack once closed.
    Refuse(Duration, std::sync::mpsc::Sender<()>),
}

fn bind(port: u16) -> std::io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    sock.listen(1024)
}

async fn rebind(port: u16) -> Option<TcpListener> {
    for _ in 0..200 {
        if let Ok(l) = bind(port) {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

fn spawn_conn(stream: TcpStream, shared: Arc<Shared>, mut kill: watch::Receiver<u64>) {
    let _ = stream.set_nodelay(true);
    tokio::spawn(async move {
        let svc = service_fn(move |req| {
            let sh = shared.clone();
            async move { Ok::<_, Infallible>(crate::api::handle(sh, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), svc);
        tokio::select! {
            _ = conn => {}
            _ = kill.changed() => {}
        }
    });
}

/// Serves until shutdown. Sends the bound port (or the bind error) on `port_tx` first.
pub(crate) async fn run(
    shared: Arc<Shared>,
    port_tx: std::sync::mpsc::Sender<std::io::Result<u16>>,
    mut shutdown: watch::Receiver<bool>,
    mut ctl: mpsc::UnboundedReceiver<Ctl>,
) {
    let listener = match bind(0) {
        Ok(l) => l,
        Err(e) => {
            let _ = port_tx.send(Err(e));
            return;
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            let _ = port_tx.send(Err(e));
            return;
        }
    };
    shared.port.store(port, Ordering::Relaxed);
    let _ = port_tx.send(Ok(port));
    tokio::spawn(simulate(shared.clone(), shutdown.clone()));
    let (kill_tx, _) = watch::channel(0u64);
    let mut listener = listener;
    loop {
        tokio::select! {
            r = listener.accept() => {
                if let Ok((stream, _)) = r {
                    spawn_conn(stream, shared.clone(), kill_tx.subscribe());
                }
            }
            Some(Ctl::Refuse(dur, ack)) = ctl.recv() => {
                drop(listener);
                kill_tx.send_modify(|g| *g += 1);
                let _ = ack.send(());
                let until = tokio::time::Instant::now() + dur;
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    _ = shutdown.changed() => return,
                }
                match rebind(port).await {
                    Some(l) => listener = l,
                    None => return,
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    kill_tx.send_modify(|g| *g += 1);
}

/// The simulated kubelets and controllers, ticking every 10 ms while something is pending.
async fn simulate(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            _ = shutdown.changed() => return,
        }
        let mut c = lock(&shared.state);
        if c.busy() {
            c.tick(Instant::now());
            shared.commit(&mut c);
        }
    }
}
