//! Certificates the connection shows (I/O): the API server's serving certificate, read from
//! a TLS handshake of our own to the server (nothing is sent but the ClientHello; the chain
//! is recorded, not trusted: kube's own connection verified it), and the kubeconfig's
//! client certificate. Failures are notes: a report is never lost to a certificate.

use crate::facts::cert::{self, CertFacts};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records the server's leaf certificate; verification is kube's connection's job.
#[derive(Debug)]
struct Record {
    leaf: Mutex<Option<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Record {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut l) = self.leaf.lock() {
            *l = Some(end_entity.to_vec());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The serving certificate of `https://host:port`, by a handshake of our own (blocking,
/// bounded by `limit`).
fn serving_blocking(host: &str, port: u16, sni: &str, limit: Duration) -> Result<Vec<u8>, String> {
    use std::net::ToSocketAddrs;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let record = Arc::new(Record {
        leaf: Mutex::new(None),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(record.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let mut sock = std::net::TcpStream::connect_timeout(&addr, limit).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let leaf = record.leaf.lock().ok().and_then(|mut l| l.take());
    leaf.ok_or_else(|| "the server sent no certificate".to_string())
}

/// What the connection's certificates say, and what could not be read.
pub async fn read(config: &kube::Config) -> (Vec<CertFacts>, Vec<String>) {
    let mut certs = Vec::new();
    let mut notes = Vec::new();
    let url = &config.cluster_url;
    if url.scheme_str() == Some("https") && config.proxy_url.is_none() {
        let host = url
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port_u16().unwrap_or(443);
        let sni = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let limit = config.connect_timeout.unwrap_or(Duration::from_secs(10));
        let got = tokio::task::spawn_blocking(move || serving_blocking(&host, port, &sni, limit))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match got.map(|der| cert::from_der("apiserver serving certificate", &der)) {
            Ok(Some(c)) => certs.push(c),
            Ok(None) => notes.push("the API server's serving certificate could not be parsed: its expiry is not judged".into()),
            Err(e) => notes.push(format!(
                "the API server's serving certificate could not be read ({e}): its expiry is not judged"
            )),
        }
    }
    let pem = client_certificate_pem(&config.auth_info);
    if let Some(pem) = pem {
        match cert::from_pem("kubeconfig client certificate", &pem) {
            Some(c) => certs.push(c),
            None => notes.push(
                "the kubeconfig's client certificate could not be parsed: its expiry is not judged"
                    .into(),
            ),
        }
    }
    (certs, notes)
}

/// The kubeconfig user's client certificate (inline data or file), when it has one.
fn client_certificate_pem(auth: &kube::config::AuthInfo) -> Option<Vec<u8>> {
    use base64::Engine;
    if let Some(data) = &auth.client_certificate_data {
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok();
    }
    let path = auth.client_certificate.as_ref()?;
    std::fs::read(path).ok()
}
