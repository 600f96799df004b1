//! Certificates' remaining validity: the API server's serving certificate (from the TLS
//! handshake) and the kubeconfig's client certificate, parsed with `x509-parser`. Pure.

use serde::Serialize;

/// One certificate's subject and end of validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertFacts {
    /// What it is: `apiserver serving certificate`, `kubeconfig client certificate`.
    pub what: String,
    pub subject: String,
    /// RFC 3339.
    pub not_after: String,
    /// Seconds since the Unix epoch (for the arithmetic).
    pub not_after_unix: i64,
}

/// A DER certificate.
pub fn from_der(what: &str, der: &[u8]) -> Option<CertFacts> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let unix = cert.validity().not_after.timestamp();
    let not_after = jiff::Timestamp::from_second(unix).ok()?.to_string();
    Some(CertFacts {
        what: what.to_string(),
        subject: cert.subject().to_string(),
        not_after,
        not_after_unix: unix,
    })
}

/// The first certificate of a PEM bundle (a kubeconfig's client certificate, its leaf).
pub fn from_pem(what: &str, pem: &[u8]) -> Option<CertFacts> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    from_der(what, &block.contents)
}

/// Whole days from `now` (Unix seconds) to its end of validity (negative once expired).
pub fn days_left(c: &CertFacts, now: i64) -> i64 {
    (c.not_after_unix - now).div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_says_when_it_ends() {
        let mut params = rcgen::CertificateParams::new(vec!["kubernetes".into()]).expect("params");
        params.not_after = rcgen::date_time_ymd(2027, 1, 5);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let c = from_der("apiserver serving certificate", cert.der()).expect("parsed");
        assert_eq!(c.not_after, "2027-01-05T00:00:00Z");
        let now = jiff::Timestamp::from_second(c.not_after_unix - 30 * 86_400 - 5)
            .expect("time")
            .as_second();
        assert_eq!(days_left(&c, now), 30);
        let pem = cert.pem();
        assert_eq!(
            from_pem("client", pem.as_bytes()).map(|c| c.not_after),
            Some(c.not_after)
        );
        assert!(from_der("x", b"not a certificate").is_none());
    }
}
