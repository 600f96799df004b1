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
use tokio_rustls::TlsAcceptor;

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

fn spawn_conn(
    stream: TcpStream,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    mut kill: watch::Receiver<u64>,
) {
    let _ = stream.set_nodelay(true);
    tokio::spawn(async move {
        match tls {
            None => {
                let conn = serve(TokioIo::new(stream), shared, None);
                tokio::select! {
                    _ = conn => {}
                    _ = kill.changed() => {}
                }
            }
            Some(acceptor) => {
                // Like Go's TLS server (and so kube-apiserver): a plain HTTP request gets a
                // plain 400 that says so, not a TLS alert.
                let mut first = [0u8; 1];
                if matches!(stream.peek(&mut first).await, Ok(1) if first[0] != 0x16) {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut stream = stream;
                    // Read the request head first: closing with unread input would reset.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    let read_head = async {
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(2), read_head).await;
                    let _ = stream
                        .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                        .await;
                    let _ = stream.shutdown().await;
                    return;
                }
                // A client that does not speak TLS (or rejects our certificate) ends here,
                // as with kube-apiserver: the handshake fails and the connection closes.
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                let Ok(Ok(tls)) = handshake.await else {
                    return;
                };
                let peer: Option<Arc<[u8]>> = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Arc::from(c.as_ref()));
                let conn = serve(TokioIo::new(tls), shared, peer);
                tokio::select! {
                    _ = conn => {}
                    _ = kill.changed() => {}
                }
            }
        }
    });
}

async fn serve<I>(io: I, shared: Arc<Shared>, peer: Option<Arc<[u8]>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let sh = shared.clone();
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(crate::api::handle(sh, req, peer.as_deref()).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc)
        .await;
}

/// Serves until shutdown. Sends the bound port (or the bind error) on `port_tx` first.
pub(crate) async fn run(
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
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
    let acceptor = tls.map(TlsAcceptor::from);
    let (kill_tx, _) = watch::channel(0u64);
    let mut listener = listener;
    loop {
        tokio::select! {
            r = listener.accept() => {
                if let Ok((stream, _)) = r {
                    spawn_conn(stream, shared.clone(), acceptor.clone(), kill_tx.subscribe());
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
