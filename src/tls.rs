//! TLS settings in the shapes Node apps know (the options of `tls.connect` and
//! `tls.createServer`), turned into rustls configurations: for the connection to drachtio-server,
//! for `srf.listen`, and for SIP over TLS and WSS in the engine.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM text of trusted CA certificates; the Mozilla roots when absent.
    pub ca: Option<String>,
    /// PEM client certificate chain and key, for servers that ask for one.
    pub cert: Option<String>,
    pub key: Option<String>,
    /// Name to send as SNI and to verify; the host when absent.
    pub servername: Option<String>,
    /// As in Node: `false` accepts any server certificate (test setups only).
    pub reject_unauthorized: bool,
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let list: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_bytes()).collect();
    let list = list.map_err(|e| format!("invalid PEM certificate: {e}"))?;
    if list.is_empty() {
        return Err("no certificate found in PEM text".into());
    }
    Ok(list)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsOptions {
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = if self.reject_unauthorized {
            let mut roots = RootCertStore::empty();
            match &self.ca {
                Some(pem) => {
                    for cert in certs(pem)? {
                        roots.add(cert).map_err(|e| format!("unusable CA certificate: {e}"))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let key = rustls_pemfile::private_key(&mut key.as_bytes())
                    .map_err(|e| format!("invalid PEM key: {e}"))?
                    .ok_or("no private key found in PEM text")?;
                builder.with_client_auth_cert(certs(cert)?, key).map_err(|e| format!("unusable client certificate: {e}"))
            }
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err("tls.cert and tls.key must be given together".into()),
        }
    }

    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, String> {
        let name = self.servername.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned()).map_err(|_| format!("invalid TLS server name '{name}'"))
    }
}

/// `rejectUnauthorized: false`: the handshake still runs (so the link is encrypted) but the
/// server's certificate is not checked.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TLS for `srf.listen({ tls })`: the options of Node's `tls.createServer` that matter for a
/// drachtio server connecting to us: our certificate chain and key, and optionally client
/// certificates verified against `ca` (`requestCert`).
#[derive(Debug, Clone, Default)]
pub struct TlsServerOptions {
    /// PEM certificate chain (leaf first) and its private key.
    pub cert: String,
    pub key: String,
    /// PEM CA certificates client certificates must chain to (with `request_cert`).
    pub ca: Option<String>,
    /// Ask the connecting server for a certificate.
    pub request_cert: bool,
    /// With `request_cert`: refuse a server that presents none or an untrusted one.
    pub reject_unauthorized: bool,
}

impl TlsServerOptions {
    pub fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = if self.request_cert {
            let mut roots = RootCertStore::empty();
            let pem = self.ca.as_deref().ok_or("tls.requestCert needs tls.ca: the CA certificates client certificates must chain to")?;
            for cert in certs(pem)? {
                roots.add(cert).map_err(|e| format!("unusable CA certificate: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if self.reject_unauthorized { verifier } else { verifier.allow_unauthenticated() };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("TLS client verification setup failed: {e}"))?)
        } else {
            builder.with_no_client_auth()
        };
        let key = rustls_pemfile::private_key(&mut self.key.as_bytes())
            .map_err(|e| format!("invalid PEM key in tls.key: {e}"))?
            .ok_or("no private key found in tls.key")?;
        builder.with_single_cert(certs(&self.cert)?, key).map_err(|e| format!("unusable TLS certificate or key: {e}"))
    }
}
