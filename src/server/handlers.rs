//! Request handlers (wire-protocol.md §3.2, drachtio-server's request-handler.cpp and
//! pending-request-controller.cpp): the engine holds each new request whose method has a
//! handler; here, on tasks of their own, we ask the handler's web callback where it goes and
//! tell the engine. `route` with a `uri` opens an outbound connection to the app (peer.rs in
//! outbound mode), with a `tag` picks an inbound app; `reject`, `redirect` and `proxy` are
//! done by the engine. A `tcp://host:port` handler skips HTTP and routes straight to the app.
//! An unusable reply or a failed HTTP request gives the caller a 500; an app we cannot reach,
//! or no app with the tag, a 480.

use super::config::{Handler, HttpMethod};
use super::peer::{self, Mode, Shared};
use crate::engine::conn_limit::Bounded;
use crate::engine::{Decision, HeldRequest, RequestRouter};
use crate::sip::name_addr::NameAddr;
use crate::sip::uri::SipUri;
use crate::sip::{parse, Framing, HeaderName, Limits};
use crate::wire::ProxySpec;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};

/// As drachtio-server's curl handles: 2 s to connect, 3 s for the whole exchange.
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const HTTP_TOTAL_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest web callback reply read.
const MAX_REPLY: usize = 64 * 1024;
/// Redirects (3xx with Location) followed, as curl's FOLLOWLOCATION does.
const MAX_HTTP_REDIRECTS: usize = 5;
/// Requests held for the router at most before the engine sheds new ones with 503.
const HELD_QUEUE: usize = 4096;
/// Routing decisions in progress at once; past this a request is answered 503 at once.
const MAX_IN_FLIGHT: usize = 1024;
/// Connecting to an app named by a `route` action.
const APP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Outbound app connections open at once; past this new requests get 480.
const MAX_OUTBOUND: usize = 4096;

/// Installs the handlers in the engine and runs the router task.
pub async fn start(handlers: Vec<Handler>, shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let (held_tx, held_rx) = mpsc::channel(HELD_QUEUE);
    let methods = handlers.iter().map(|h| h.sip_method.clone()).collect();
    shared.engine.set_router(Some(RequestRouter { methods, held: held_tx })).await;
    for h in &handlers {
        tracing::info!(sip_method = %h.sip_method, http_method = ?h.http_method, url = %h.url, "request handler");
    }
    tokio::spawn(router(Arc::new(handlers), held_rx, shared, stopped));
}

async fn router(handlers: Arc<Vec<Handler>>, mut held: mpsc::Receiver<HeldRequest>, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let outbound = Bounded::new(MAX_OUTBOUND);
    loop {
        let request = tokio::select! {
            r = held.recv() => match r { Some(r) => r, None => return },
            _ = stopped.changed() => return,
        };
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tracing::warn!("too many routing decisions in progress; answering 503");
            let decision = respond(503, "Service Unavailable");
            shared.engine.route_held(request.txn_id, decision).await;
            continue;
        };
        let (handlers, shared, stopped, outbound) = (handlers.clone(), shared.clone(), stopped.clone(), outbound.clone());
        tokio::spawn(async move {
            let txn = request.txn_id.clone();
            let decision = decide(&handlers, request, &shared, stopped, &outbound).await;
            drop(permit);
            if let Some(d) = decision {
                shared.engine.route_held(txn, d).await;
            }
        });
    }
}

fn respond(status: u16, reason: &str) -> Decision {
    Decision::Respond { status, reason: reason.to_owned(), headers: Vec::new() }
}

/// The handler for `method`: its own, else `*` (request-router.cpp).
fn handler_for<'a>(handlers: &'a [Handler], method: &str) -> Option<&'a Handler> {
    handlers.iter().find(|h| h.sip_method.eq_ignore_ascii_case(method)).or_else(|| handlers.iter().find(|h| h.sip_method == "*"))
}

/// Where the request goes; `None` when an outbound connection took it over (peer.rs answers).
async fn decide(handlers: &[Handler], request: HeldRequest, shared: &Arc<Shared>, stopped: watch::Receiver<bool>, outbound: &Bounded) -> Option<Decision> {
    let Some(handler) = handler_for(handlers, &request.method) else { return Some(respond(500, "Server Internal Error")) };
    let action = if let Some(direct) = direct_route(&handler.url) {
        Action::RouteUri(direct)
    } else {
        let url = format!("{}/?{}", handler.url, query(&request));
        let body = match handler.http_method {
            HttpMethod::Post => Some(request.raw.clone()),
            HttpMethod::Get => None,
        };
        let reply = match tokio::time::timeout(HTTP_TOTAL_TIMEOUT, http_call(&url, body, handler.verify_peer)).await {
            Ok(Ok((status, body))) => {
                tracing::info!(status, url = %handler.url, "web callback answered");
                body
            }
            Ok(Err(e)) => {
                tracing::warn!(url = %handler.url, error = %e, "web callback failed; answering 500");
                return Some(respond(500, "Server Internal Error"));
            }
            Err(_) => {
                tracing::warn!(url = %handler.url, "web callback timed out; answering 500");
                return Some(respond(500, "Server Internal Error"));
            }
        };
        // As drachtio-server, the body decides, whatever the HTTP status.
        match parse_reply(&reply) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(url = %handler.url, error = %e, "unusable web callback reply; answering 500");
                return Some(respond(500, "Server Internal Error"));
            }
        }
    };
    match action {
        Action::Reject { status, reason } => {
            let reason = reason.unwrap_or_else(|| default_reason(status).to_owned());
            Some(Decision::Respond { status, reason, headers: Vec::new() })
        }
        Action::Redirect(contacts) => {
            let headers = contacts.into_iter().map(|c| ("Contact".to_owned(), c)).collect();
            Some(Decision::Respond { status: 302, reason: "Moved".into(), headers })
        }
        Action::Proxy(spec) => Some(Decision::Proxy(spec)),
        Action::RouteTag(tag) => Some(Decision::Tag(tag)),
        Action::RouteUri(uri) => connect_app(&uri, request.txn_id, shared, stopped, outbound).await,
    }
}

/// `tcp://host:port` (or `tls://`): no web callback, straight to that app.
fn direct_route(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("tcp://").map(|_| &url[6..]) {
        return Some(format!("{};transport=tcp", rest.trim_end_matches('/')));
    }
    lower.strip_prefix("tls://").map(|_| format!("{};transport=tls", url[6..].trim_end_matches('/')))
}

/// Opens the outbound connection to an app (`host:port[;transport=tcp|tls]`) and lets peer.rs
/// run it; the app gets the request after it authenticates. A failure is a 480.
async fn connect_app(uri: &str, txn: String, shared: &Arc<Shared>, stopped: watch::Receiver<bool>, outbound: &Bounded) -> Option<Decision> {
    let unavailable = || Some(respond(480, "Temporarily Unavailable"));
    let Some((host, port, tls)) = parse_app_uri(uri) else {
        tracing::warn!(uri, "route: invalid uri; answering 480");
        return unavailable();
    };
    // Held until the connection ends; given back on every way out before that.
    let Some(place) = outbound.claim() else {
        tracing::warn!(uri, "too many outbound app connections; answering 480");
        return unavailable();
    };
    let connected = tokio::time::timeout(APP_CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port))).await;
    let stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(uri, error = %e, "route: cannot connect to the app; answering 480");
            return unavailable();
        }
        Err(_) => {
            tracing::warn!(uri, "route: connecting to the app timed out; answering 480");
            return unavailable();
        }
    };
    let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], port)));
    tracing::debug!(peer = %peer, "outbound connection to an app");
    let _ = stream.set_nodelay(true);
    let shared = shared.clone();
    if tls {
        // As drachtio-server: the app's certificate is not verified.
        let stream = match tokio::time::timeout(APP_CONNECT_TIMEOUT, tls_connect(stream, &host, false)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!(uri, error = %e, "route: TLS to the app failed; answering 480");
                return unavailable();
            }
            Err(_) => {
                tracing::warn!(uri, "route: TLS to the app timed out; answering 480");
                return unavailable();
            }
        };
        let (reader, writer) = tokio::io::split(stream);
        tokio::spawn(async move {
            let _place = place;
            peer::serve_app(reader, writer, peer, shared, stopped, Mode::Outbound { txn }).await;
        });
        return None;
    }
    let (reader, writer) = stream.into_split();
    tokio::spawn(async move {
        let _place = place;
        peer::serve_app(reader, writer, peer, shared, stopped, Mode::Outbound { txn }).await;
    });
    None
}

/// `host:port[;transport=tcp|tls]` (drachtio-server's pattern; the port is required).
fn parse_app_uri(uri: &str) -> Option<(String, u16, bool)> {
    let (hostport, params) = uri.trim().split_once(';').unwrap_or((uri.trim(), ""));
    let tls = match params.split(';').find_map(|p| p.trim().strip_prefix("transport=")) {
        None | Some("tcp") => false,
        Some("tls") => true,
        Some(_) => return None,
    };
    let (host, port) = hostport.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?, tls))
}

/// drachtio-server's urlencode: unreserved characters as they are, the rest %xx (lower case).
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn user_of(uri: &[u8]) -> String {
    SipUri::parse(uri).ok().and_then(|u| u.user.map(|u| String::from_utf8_lossy(u).into_owned())).unwrap_or_default()
}

fn header_user(msg: &crate::sip::Message<'_>, h: HeaderName) -> String {
    msg.header(h).and_then(|v| NameAddr::parse(v).ok()).map(|n| user_of(n.uri_raw)).unwrap_or_default()
}

/// The web callback's query string, in drachtio-server's order: method, domain, protocol,
/// source_address, fromUser, toUser, uriUser, contentType, uri, then each Request-URI
/// parameter.
fn query(request: &HeldRequest) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let limits = Limits::default();
    let msg = parse(&request.raw, Framing::Datagram, &limits).ok();
    let ruri = msg.as_ref().and_then(|m| m.request_uri()).unwrap_or_default();
    let sip = SipUri::parse(ruri).ok();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    pairs.push(("method".into(), request.method.clone()));
    pairs.push(("domain".into(), sip.as_ref().map(|u| text(u.host)).unwrap_or_default()));
    pairs.push(("protocol".into(), request.protocol.as_str().to_owned()));
    pairs.push(("source_address".into(), request.remote.ip().to_string()));
    pairs.push(("fromUser".into(), msg.as_ref().map(|m| header_user(m, HeaderName::From)).unwrap_or_default()));
    pairs.push(("toUser".into(), msg.as_ref().map(|m| header_user(m, HeaderName::To)).unwrap_or_default()));
    pairs.push(("uriUser".into(), sip.as_ref().and_then(|u| u.user.map(text)).unwrap_or_default()));
    let content_type = msg.as_ref().and_then(|m| m.header_str(HeaderName::ContentType)).map(|c| c.split(';').next().unwrap_or_default().trim().to_owned());
    pairs.push(("contentType".into(), content_type.unwrap_or_default()));
    pairs.push(("uri".into(), text(ruri)));
    if let Some(params) = sip.as_ref().map(|u| text(u.params)) {
        for p in params.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            pairs.push((k.to_owned(), v.to_owned()));
        }
    }
    pairs.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&")
}

/// A web callback's instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Reject { status: u16, reason: Option<String> },
    Redirect(Vec<String>),
    Proxy(ProxySpec),
    RouteUri(String),
    RouteTag(String),
}

fn strings(v: &serde_json::Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        serde_json::Value::String(s) => Ok(vec![s.clone()]),
        serde_json::Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_owned).ok_or_else(|| format!("'{what}' array must contain strings"))).collect(),
        _ => Err(format!("'{what}' must be a string or an array of strings")),
    }
}

/// The JSON reply, read as drachtio-server reads it (controller.cpp httpCallRoutingComplete).
fn parse_reply(body: &[u8]) -> Result<Action, String> {
    let root: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    let obj = root.as_object().ok_or("expected a JSON object")?;
    let action = obj.get("action").and_then(|a| a.as_str()).ok_or("missing or invalid 'action' attribute")?;
    let data = obj.get("data").and_then(|d| d.as_object()).ok_or("missing 'data' object")?;
    let flag = |name: &str, default: bool| data.get(name).and_then(|v| v.as_bool()).unwrap_or(default);
    let text = |name: &str, default: &str| data.get(name).and_then(|v| v.as_str()).unwrap_or(default).to_owned();
    match action {
        "reject" => {
            let status = data.get("status").and_then(|s| s.as_u64()).ok_or("'status' is missing or is not a number")?;
            let status = u16::try_from(status).ok().filter(|s| (300..700).contains(s)).ok_or("'status' must be a final non-2xx status (300-699)")?;
            let reason = data.get("reason").and_then(|r| r.as_str()).map(str::to_owned);
            if reason.as_deref().is_some_and(|r| r.contains(['\r', '\n'])) {
                return Err("'reason' must be one line".into());
            }
            Ok(Action::Reject { status, reason })
        }
        "redirect" => {
            let contacts = strings(data.get("contact").unwrap_or(&serde_json::Value::Null), "contact")?;
            if contacts.iter().any(|c| c.contains(['\r', '\n'])) {
                return Err("'contact' values must be one line".into());
            }
            Ok(Action::Redirect(contacts))
        }
        "proxy" => {
            let destinations = match data.get("destination") {
                None => Vec::new(),
                Some(d) => strings(d, "destination")?,
            };
            Ok(Action::Proxy(ProxySpec {
                record_route: flag("recordRoute", false),
                full_response: false,
                follow_redirects: flag("followRedirects", true),
                simultaneous: flag("simultaneous", false),
                provisional_timeout: text("provisionalTimeout", "5s"),
                final_timeout: text("finalTimeout", "60s"),
                destinations,
            }))
        }
        "route" => match (data.get("uri").and_then(|u| u.as_str()), data.get("tag").and_then(|t| t.as_str())) {
            (Some(uri), _) => Ok(Action::RouteUri(uri.to_owned())),
            (None, Some(tag)) => Ok(Action::RouteTag(tag.to_owned())),
            _ => Err("'uri' is missing or is not a string".into()),
        },
        other => Err(format!("invalid 'action' value '{other}': valid values are 'reject', 'proxy', 'redirect' and 'route'")),
    }
}

/// A reason phrase for a reject without one.
fn default_reason(status: u16) -> &'static str {
    match status {
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

/// One HTTP/1.1 exchange (GET, or POST with the SIP request as text/plain), following up to
/// five redirects; the reply's status and body (at most MAX_REPLY bytes).
async fn http_call(url: &str, body: Option<Vec<u8>>, verify_peer: bool) -> Result<(u16, Vec<u8>), String> {
    let mut url = url.to_owned();
    let mut body = body;
    for _ in 0..=MAX_HTTP_REDIRECTS {
        let (status, location, reply) = http_once(&url, body.clone(), verify_peer).await?;
        match location {
            Some(next) if (300..400).contains(&status) => {
                url = resolve_location(&url, &next)?;
                if !matches!(status, 307 | 308) {
                    body = None; // as curl: 301/302/303 continue with GET
                }
            }
            _ => return Ok((status, reply)),
        }
    }
    Err("too many HTTP redirects".into())
}

fn resolve_location(base: &str, location: &str) -> Result<String, String> {
    if location.contains("://") {
        return Ok(location.to_owned());
    }
    let uri: hyper::Uri = base.parse().map_err(|e| format!("invalid URL: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if location.starts_with('/') {
        Ok(format!("{scheme}://{authority}{location}"))
    } else {
        Err(format!("unsupported HTTP redirect location '{location}'"))
    }
}

async fn http_once(url: &str, body: Option<Vec<u8>>, verify_peer: bool) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("invalid URL {url}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(format!("unsupported URL scheme in {url} (http, https, tcp or tls)")),
    };
    let host = uri.host().ok_or_else(|| format!("no host in {url}"))?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let stream = tokio::time::timeout(HTTP_CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_else(|| host.clone());
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let mut builder = hyper::Request::builder()
        .method(if body.is_some() { "POST" } else { "GET" })
        .uri(path)
        .header("Host", authority)
        .header("Accept", "application/json")
        .header("User-Agent", concat!("drachtio-rs/", env!("CARGO_PKG_VERSION")));
    if body.is_some() {
        builder = builder.header("Content-Type", "text/plain; charset=UTF-8");
    }
    let request = builder.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| format!("cannot build the request: {e}"))?;
    if https {
        let tls = tls_connect(stream, &host, verify_peer).await?;
        exchange(hyper_util::rt::TokioIo::new(tls), request).await
    } else {
        exchange(hyper_util::rt::TokioIo::new(stream), request).await
    }
}

async fn exchange<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<(u16, Option<String>, Vec<u8>), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let response = sender.send_request(request).await.map_err(|e| format!("HTTP request: {e}"))?;
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        let collected = Limited::new(response.into_body(), MAX_REPLY).collect().await.map_err(|e| format!("HTTP reply body: {e}"))?;
        Ok((status, location, collected.to_bytes().to_vec()))
    }
    .await;
    // The connection is not reused: dropping the sender lets the driver end; abort makes sure.
    drop(sender);
    driver.abort();
    result
}

async fn tls_connect(stream: TcpStream, host: &str, verify_peer: bool) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let config = if verify_peer {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        // As drachtio-server with verify-peer false (its default).
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider))).with_no_client_auth()
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| format!("invalid TLS server name {host}: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream).await.map_err(|e| format!("TLS: {e}"))
}

/// Accepts any server certificate (still checking the handshake signatures).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Protocol;

    const INVITE: &str = "INVITE sip:+15085551212@sip.example.com;tgrp=acme;trunk-context=x%20y;lr SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-1\r\n\
From: \"Alice\" <sip:alice@example.org>;tag=1\r\n\
To: <sip:+15085551212@sip.example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:alice@10.0.0.9>\r\n\
Content-Type: application/sdp; charset=utf-8\r\n\
Content-Length: 0\r\n\r\n";

    fn held(raw: &str) -> HeldRequest {
        HeldRequest { txn_id: "t".into(), method: "INVITE".into(), protocol: Protocol::Udp, remote: "10.0.0.9:5060".parse().expect("addr"), raw: raw.as_bytes().to_vec() }
    }

    #[test]
    fn query_in_drachtio_server_order() {
        assert_eq!(
            query(&held(INVITE)),
            "method=INVITE&domain=sip.example.com&protocol=udp&source_address=10.0.0.9&fromUser=alice&toUser=%2b15085551212\
&uriUser=%2b15085551212&contentType=application%2fsdp\
&uri=sip%3a%2b15085551212%40sip.example.com%3btgrp%3dacme%3btrunk-context%3dx%2520y%3blr\
&tgrp=acme&trunk-context=x%2520y&lr="
        );
        // Unparseable: the fields it cannot read are empty.
        assert!(query(&held("garbage")).starts_with("method=INVITE&domain=&protocol=udp&source_address=10.0.0.9&fromUser=&"));
    }

    #[test]
    fn replies() {
        let p = |s: &str| parse_reply(s.as_bytes());
        assert_eq!(p(r#"{"action":"reject","data":{"status":486,"reason":"Busy"}}"#), Ok(Action::Reject { status: 486, reason: Some("Busy".into()) }));
        assert_eq!(p(r#"{"action":"reject","data":{"status":404}}"#), Ok(Action::Reject { status: 404, reason: None }));
        assert_eq!(p(r#"{"action":"redirect","data":{"contact":["sip:a@b","sip:c@d"]}}"#), Ok(Action::Redirect(vec!["sip:a@b".into(), "sip:c@d".into()])));
        assert_eq!(p(r#"{"action":"redirect","data":{"contact":"sip:a@b"}}"#), Ok(Action::Redirect(vec!["sip:a@b".into()])));
        assert_eq!(p(r#"{"action":"route","data":{"uri":"127.0.0.1:3001"}}"#), Ok(Action::RouteUri("127.0.0.1:3001".into())));
        assert_eq!(p(r#"{"action":"route","data":{"tag":"blue"}}"#), Ok(Action::RouteTag("blue".into())));
        let Ok(Action::Proxy(spec)) = p(r#"{"action":"proxy","data":{"destination":"sip:10.0.0.1","recordRoute":true}}"#) else { panic!("proxy") };
        assert_eq!(
            spec,
            ProxySpec {
                record_route: true,
                full_response: false,
                follow_redirects: true,
                simultaneous: false,
                provisional_timeout: "5s".into(),
                final_timeout: "60s".into(),
                destinations: vec!["sip:10.0.0.1".into()]
            }
        );
        for bad in [
            "",
            "<html>oops</html>",
            "[]",
            r#"{"action":"reject"}"#,
            r#"{"action":"reject","data":{"status":"486"}}"#,
            r#"{"action":"reject","data":{"status":200}}"#,
            r#"{"action":"redirect","data":{"contact":[1]}}"#,
            r#"{"action":"redirect","data":{}}"#,
            r#"{"action":"route","data":{}}"#,
            r#"{"action":"dance","data":{}}"#,
            r#"{"action":"reject","data":{"status":486,"reason":"a\r\nX-Evil: 1"}}"#,
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_uris_and_direct_handlers() {
        assert_eq!(parse_app_uri("127.0.0.1:3001"), Some(("127.0.0.1".into(), 3001, false)));
        assert_eq!(parse_app_uri("app.example:3001;transport=tls"), Some(("app.example".into(), 3001, true)));
        assert_eq!(parse_app_uri("[::1]:3001;transport=tcp"), Some(("::1".into(), 3001, false)));
        assert_eq!(parse_app_uri("127.0.0.1"), None);
        assert_eq!(parse_app_uri("127.0.0.1:3001;transport=udp"), None);
        assert_eq!(direct_route("tcp://127.0.0.1:3001"), Some("127.0.0.1:3001;transport=tcp".into()));
        assert_eq!(direct_route("http://127.0.0.1:3001"), None);
        assert_eq!(urlencode("a b/ü~"), "a%20b%2f%c3%bc~");
        assert_eq!(resolve_location("http://h:1/x?y", "/z"), Ok("http://h:1/z".into()));
    }

    #[test]
    fn handler_choice() {
        let h = |m: &str| Handler { sip_method: m.into(), http_method: HttpMethod::Get, url: format!("http://{m}"), verify_peer: false };
        let list = vec![h("*"), h("INVITE")];
        assert_eq!(handler_for(&list, "INVITE").map(|h| h.url.as_str()), Some("http://INVITE"));
        assert_eq!(handler_for(&list, "OPTIONS").map(|h| h.url.as_str()), Some("http://*"));
        assert!(handler_for(&[h("INVITE")], "OPTIONS").is_none());
    }
}
