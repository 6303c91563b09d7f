//! TLS for serve's admin (control) port and its SIP tls/wss contacts, with drachtio-server's
//! settings: a private key and a
//! certificate (`--cert-file`), a chain (`--chain-file`), or both (the certificate, then the
//! chain's certificates). rustls; no client certificates. drachtio-server's `dh-param` is not
//! needed (rustls uses ECDHE only); `min-tls-version` 1.3 allows only TLS 1.3, anything lower
//! gives rustls' floor, TLS 1.2.

use super::args::TlsFiles;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The largest PEM file read.
const MAX_PEM: u64 = 1024 * 1024;

fn read_pem(path: &str, what: &str) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the TLS {what} {path}: {e}"))?;
    if meta.len() > MAX_PEM {
        return Err(format!("the TLS {what} {path} is larger than {MAX_PEM} bytes"));
    }
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {path}: {e}"))
}

fn certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(path, what)?;
    let list = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().map_err(|e| format!("the TLS {what} {path}: {e}"))?;
    if list.is_empty() {
        return Err(format!("the TLS {what} {path} holds no PEM certificate"));
    }
    Ok(list)
}

/// The acceptor for the admin TLS port.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    Ok(TlsAcceptor::from(server_config(files)?))
}

/// Our side of SIP over TLS and WSS: the certificate apps' peers see, and, as drachtio-server
/// does by default, no verification of the servers we connect to.
pub fn sip_context(files: &TlsFiles) -> Result<crate::engine::TlsContext, String> {
    let client = crate::tls::TlsOptions { reject_unauthorized: false, ..Default::default() }.client_config()?;
    Ok(crate::engine::TlsContext { server: Some(server_config(files)?), client: Arc::new(client) })
}

fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let key_path = files.key.as_deref().ok_or("TLS needs --key-file (<sip><tls><key-file>)")?;
    let mut chain = match (&files.cert, &files.chain) {
        (Some(cert), _) => certs(cert, "certificate file")?,
        (None, Some(chain)) => certs(chain, "chain file")?,
        (None, None) => return Err("TLS needs --cert-file or --chain-file (<sip><tls><cert-file>)".into()),
    };
    if let (Some(_), Some(chain_path)) = (&files.cert, &files.chain) {
        for c in certs(chain_path, "chain file")? {
            if !chain.contains(&c) {
                chain.push(c);
            }
        }
    }
    let pem = read_pem(key_path, "key file")?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("the TLS key file {key_path}: {e}"))?
        .ok_or_else(|| format!("the TLS key file {key_path} holds no PEM private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        if files.min_version.is_some_and(|v| v >= 1.3) { &[&rustls::version::TLS13] } else { rustls::DEFAULT_VERSIONS };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS: the key does not fit the certificate, or is unusable: {e}"))?;
    Ok(Arc::new(config))
}
