//! The server's PKI (a CA generated per server, a serving certificate for 127.0.0.1 and
//! localhost, client certificates issued on demand) and authentication as kube-apiserver does
//! it: a bearer token or a client certificate names the user; a request without credentials
//! is `system:anonymous`; credentials that do not check out are 401, never anonymous.

use std::collections::BTreeMap;
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName as TlsName, SignatureScheme};

/// The user of requests without credentials.
pub(crate) const ANONYMOUS: &str = "system:anonymous";
/// The token the exec plugin script prints.
pub(crate) const EXEC_TOKEN: &str = "exec-token";

/// When a certificate is valid, relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validity {
    /// 2020-01-01 to 2099-01-01.
    #[default]
    Current,
    /// 2001-01-01 to 2002-01-01.
    Expired,
    /// 2090-01-01 to 2099-01-01.
    NotYetValid,
}

impl Validity {
    fn apply(self, p: &mut CertificateParams) {
        let (from, to) = match self {
            Validity::Current => ((2020, 1, 1), (2099, 1, 1)),
            Validity::Expired => ((2001, 1, 1), (2002, 1, 1)),
            Validity::NotYetValid => ((2090, 1, 1), (2099, 1, 1)),
        };
        p.not_before = date_time_ymd(from.0, from.1, from.2);
        p.not_after = date_time_ymd(to.0, to.1, to.2);
    }
}

/// A certificate and its PKCS#8 key, PEM encoded (as kubeconfigs carry them).
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// `-----BEGIN CERTIFICATE-----` ...
    pub cert_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` ...
    pub key_pem: String,
}

/// A certificate authority: its certificate and the means to issue.
pub(crate) struct Authority {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

fn err(e: rcgen::Error) -> String {
    format!("kube-testserver: generating certificates: {e}")
}

impl Authority {
    /// A fresh CA named `name` (kubeadm names its CA `kubernetes`).
    pub fn new(name: &str) -> Result<Authority, String> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        Validity::Current.apply(&mut params);
        let key = KeyPair::generate().map_err(err)?;
        let pem = params.self_signed(&key).map_err(err)?.pem();
        Ok(Authority { params, key, pem })
    }

    fn issue(
        &self,
        mut params: CertificateParams,
        validity: Validity,
    ) -> Result<(IssuedCert, Vec<u8>, KeyPair), String> {
        validity.apply(&mut params);
        let key = KeyPair::generate().map_err(err)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        let issued = IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok((issued, cert.der().to_vec(), key))
    }

    /// The serving certificate for 127.0.0.1 and localhost (kube-apiserver's has the service
    /// IP, the node IP and `kubernetes.default.svc` besides).
    pub fn serving(
        &self,
        validity: Validity,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let mut params = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let (_, der, key) = self.issue(params, validity)?;
        Ok((
            vec![CertificateDer::from(der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }

    /// A client certificate with CN `user` and O `groups` (kubeadm's admin.conf: CN
    /// `kubernetes-admin`, O `system:masters`). Returns the PEMs and the DER.
    pub fn client(
        &self,
        user: &str,
        groups: &[&str],
        validity: Validity,
    ) -> Result<(IssuedCert, Vec<u8>), String> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let (issued, der, _) = self.issue(params, validity)?;
        Ok((issued, der))
    }
}

/// Who a request is from, as the authenticator decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authn {
    /// No credentials at all.
    Anonymous,
    /// A known token or a client certificate this server issued, valid now.
    User(String),
    /// Credentials were presented and failed; the reason is logged, the client sees 401.
    Rejected(String),
}

/// The credentials the server accepts.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// Bearer token -> user.
    pub tokens: BTreeMap<String, String>,
    /// Client certificate DER -> (user, validity).
    pub certs: BTreeMap<Vec<u8>, (String, Validity)>,
}

impl Credentials {
    /// The authenticator chain: the Authorization header first, then the client certificate.
    pub fn authenticate(&self, authorization: Option<&str>, peer_cert: Option<&[u8]>) -> Authn {
        if let Some(h) = authorization {
            let Some(token) = h.strip_prefix("Bearer ").map(str::trim) else {
                return Authn::Rejected("unsupported Authorization scheme".into());
            };
            return match self.tokens.get(token) {
                Some(user) => Authn::User(user.clone()),
                None => Authn::Rejected("invalid bearer token".into()),
            };
        }
        if let Some(der) = peer_cert {
            return match self.certs.get(der) {
                Some((user, Validity::Current)) => Authn::User(user.clone()),
                Some((_, Validity::Expired)) => {
                    Authn::Rejected("x509: certificate has expired or is not yet valid".into())
                }
                Some((_, Validity::NotYetValid)) => {
                    Authn::Rejected("x509: certificate has expired or is not yet valid".into())
                }
                None => Authn::Rejected("x509: certificate signed by unknown authority".into()),
            };
        }
        Authn::Anonymous
    }
}

/// Asks for a client certificate and accepts any at the handshake (proof of the key is
/// still checked); [`Credentials::authenticate`] decides afterwards, so a bad certificate
/// is a 401, as kube-apiserver answers it, not a TLS alert.
#[derive(Debug)]
pub(crate) struct RequestClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
    hints: Vec<TlsName>,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[TlsName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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

/// The rustls server configuration for a serving certificate.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(RequestClientCert {
        provider: provider.clone(),
        hints: Vec::new(),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("kube-testserver: TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("kube-testserver: serving certificate: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticator_chain() {
        let ca = Authority::new("kubernetes").unwrap();
        let (_, good) = ca
            .client("alice", &["system:masters"], Validity::Current)
            .unwrap();
        let (_, old) = ca.client("bob", &[], Validity::Expired).unwrap();
        let other = Authority::new("other").unwrap();
        let (_, foreign) = other.client("eve", &[], Validity::Current).unwrap();
        let mut c = Credentials::default();
        c.tokens.insert("t1".into(), "sa".into());
        c.certs
            .insert(good.clone(), ("alice".into(), Validity::Current));
        c.certs
            .insert(old.clone(), ("bob".into(), Validity::Expired));
        assert_eq!(c.authenticate(None, None), Authn::Anonymous);
        assert_eq!(
            c.authenticate(Some("Bearer t1"), None),
            Authn::User("sa".into())
        );
        assert!(matches!(
            c.authenticate(Some("Bearer nope"), Some(&good)),
            Authn::Rejected(_)
        ));
        assert!(matches!(
            c.authenticate(Some("Basic YTpi"), None),
            Authn::Rejected(_)
        ));
        assert_eq!(
            c.authenticate(None, Some(&good)),
            Authn::User("alice".into())
        );
        assert!(
            matches!(c.authenticate(None, Some(&old)), Authn::Rejected(r) if r.contains("expired"))
        );
        assert!(
            matches!(c.authenticate(None, Some(&foreign)), Authn::Rejected(r) if r.contains("unknown authority"))
        );
    }
}
