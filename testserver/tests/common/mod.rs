//! Helpers shared by the test server's own tests: a tiny blocking HTTP client (exact status
//! codes, headers and bodies) and a kube client built from the server's kubeconfig.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kube_testserver::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_testserver::{builders, Cluster, TestServer};
use serde_json::Value;

/// A response read to the end.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where the raw client connects: the port, and the CA to trust when the server speaks TLS.
#[derive(Clone)]
pub struct Target {
    pub port: u16,
    pub ca_pem: Option<String>,
}

pub fn target(server: &TestServer) -> Target {
    Target {
        port: server.port(),
        ca_pem: server.ca_pem(),
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn connect(t: &Target) -> std::io::Result<Box<dyn Stream>> {
    let s = TcpStream::connect(("127.0.0.1", t.port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let Some(pem) = &t.ca_pem else {
        return Ok(Box::new(s));
    };
    let mut roots = rustls::RootCertStore::empty();
    let der = pem_to_der(pem);
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .map_err(std::io::Error::other)?;
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name)
        .map_err(std::io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(conn, s)))
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM body is base64")
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn try_request(
    port: &Target,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<&Value>,
) -> std::io::Result<Resp> {
    try_request_accept(port, method, path, content_type, "application/json", body)
}

/// Like [`try_request`] with an explicit Accept header.
pub fn try_request_accept(
    port: &Target,
    method: &str,
    path: &str,
    content_type: &str,
    accept: &str,
    body: Option<&Value>,
) -> std::io::Result<Resp> {
    let mut s = connect(port)?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-token\r\nAccept: {accept}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    // A TLS peer closing without close_notify is still the end of the response.
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let text = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(Resp {
        status,
        headers,
        text,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn request(
    port: &Target,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<&Value>,
) -> Resp {
    try_request(port, method, path, content_type, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn get(server: &TestServer, path: &str) -> Resp {
    request(&target(server), "GET", path, "application/json", None)
}

pub fn post(server: &TestServer, path: &str, body: &Value) -> Resp {
    request(
        &target(server),
        "POST",
        path,
        "application/json",
        Some(body),
    )
}

pub fn delete(server: &TestServer, path: &str, body: Option<&Value>) -> Resp {
    request(&target(server), "DELETE", path, "application/json", body)
}

pub fn patch(server: &TestServer, path: &str, content_type: &str, body: &Value) -> Resp {
    request(&target(server), "PATCH", path, content_type, Some(body))
}

/// POSTs a policy/v1 Eviction for `ns/name` with optional deleteOptions.
pub fn evict(server: &TestServer, ns: &str, name: &str, delete_options: Option<Value>) -> Resp {
    let mut body = serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": { "name": name, "namespace": ns },
    });
    if let Some(d) = delete_options {
        body["deleteOptions"] = d;
    }
    post(
        server,
        &format!("/api/v1/namespaces/{ns}/pods/{name}/eviction"),
        &body,
    )
}

/// Three Ready workers `w1..w3`, app `web` (3 ReplicaSet pods, one per node) in `default`.
pub fn three_node_web() -> Cluster {
    let mut c = Cluster::new();
    for (i, n) in ["w1", "w2", "w3"].iter().enumerate() {
        c.add_node(builders::node(n, "v1.33.2"));
        c.add_pod(
            builders::pod("default", &format!("web-{i}"), n)
                .owner("ReplicaSet", "web-abc")
                .labels(&[("app", "web")])
                .build(),
        );
    }
    c
}

pub fn int(i: i32) -> IntOrString {
    IntOrString::Int(i)
}

pub fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.to_string())
}

/// Polls `f` every 20 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A kube client configured from the server's kubeconfig (the product's path).
pub async fn kube_client(server: &TestServer) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}
