//! `drachtio-rs serve`: the embedded engine behind drachtio-server's TCP control protocol.
//! Each app connection is a peer (peer.rs) attached to the one shared engine, so unmodified
//! drachtio-srf apps, and many processes at once, use it as they would drachtio-server.

pub mod args;
pub mod config;
mod handlers;
mod peer;
mod tls;

use crate::engine::conn_limit::{Bounded, PerAddress};
use crate::engine::{Engine, EngineConfig, Protocol, SessionTimerConfig, Timers, MAX_PENDING_REQUESTS, MIN_SE, TCP_MESSAGE_TIMEOUT};
use crate::sip::Limits;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Connections accepted on the admin port at most; further ones are closed at once.
const MAX_APP_CONNECTIONS: usize = 1024;
/// Connections one address may hold open before authenticating (they have 10 s to); past this
/// its new connections are closed at once. Apps that authenticated count only in the total, so
/// many app processes on one host are fine.
const MAX_UNAUTHENTICATED_PER_ADDRESS: usize = 16;

pub struct Server {
    /// The admin TCP address (the TLS one when serve listens on TLS only).
    pub admin: SocketAddr,
    pub admin_tls: Option<SocketAddr>,
    pub sip: String,
    /// Where Prometheus scrapes (`--prometheus-scrape-port`).
    pub prometheus: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    engine: Engine,
}

impl Server {
    pub async fn start(config: args::ServeConfig) -> Result<Server, String> {
        let defaults = Timers::default();
        let metrics = config.prometheus.map(|_| Arc::new(crate::engine::metrics::Metrics::new()));
        let timers = Timers { t1: config.t1.unwrap_or(defaults.t1), t2: config.t2.unwrap_or(defaults.t2), t4: config.t4.unwrap_or(defaults.t4) };
        let secure_contacts = config.contacts.iter().any(|(p, _)| matches!(p, Protocol::Tls | Protocol::Wss));
        let tls = if secure_contacts { Some(tls::sip_context(&config.tls)?) } else { None };
        let engine = Engine::start(EngineConfig {
            listen: config.contacts.clone(),
            external_ip: config.external_ip.clone(),
            local_nets: config.local_nets.clone(),
            timers,
            limits: Limits::default(),
            exclusive: false,
            max_pending_requests: MAX_PENDING_REQUESTS,
            tcp_message_timeout: config.tcp_message_timeout.unwrap_or(TCP_MESSAGE_TIMEOUT),
            session_timers: SessionTimerConfig {
                min_se: config.min_se.unwrap_or(MIN_SE),
                default_refresher: config.default_refresher.unwrap_or(None),
            },
            metrics: metrics.clone(),
            tls,
            // serve keeps the dialogs of an app that leaves (detach), so none are unknown.
            adopt_dialogs: false,
        })
        .await?;
        for note in &config.notes {
            tracing::info!("configuration: {note}");
        }
        let listeners = match bind_admin(&config).await {
            Ok(l) => l,
            Err(e) => {
                engine.shutdown().await;
                return Err(e);
            }
        };
        let (tcp, tls) = listeners;
        let admin_tcp = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let admin_tls = tls.as_ref().and_then(|(l, _)| l.local_addr().ok());
        let Some(admin) = admin_tcp.or(admin_tls) else {
            engine.shutdown().await;
            return Err("no admin port".into());
        };
        let (stop, stopped) = watch::channel(false);
        let prometheus = match (config.prometheus, metrics) {
            (Some(addr), Some(metrics)) => match crate::metrics_http::start(addr, metrics, stopped.clone()).await {
                Ok(bound) => {
                    tracing::info!(%bound, "responding to Prometheus on /metrics");
                    Some(bound)
                }
                Err(e) => {
                    engine.shutdown().await;
                    return Err(e);
                }
            },
            _ => None,
        };
        let shared = Arc::new(peer::Shared { engine: engine.clone(), secret: config.secret, cdrs: config.cdrs });
        if !config.handlers.is_empty() {
            handlers::start(config.handlers, shared.clone(), stopped.clone()).await;
        }
        // One budget of connections and unauthenticated slots across both admin ports.
        let limits = Arc::new(AdminLimits { active: Bounded::new(MAX_APP_CONNECTIONS), unauthenticated: PerAddress::new(MAX_UNAUTHENTICATED_PER_ADDRESS) });
        if let Some(listener) = tcp {
            tokio::spawn(accept(listener, None, shared.clone(), limits.clone(), stopped.clone()));
        }
        if let Some((listener, acceptor)) = tls {
            tokio::spawn(accept(listener, Some(acceptor), shared, limits, stopped));
        }
        tracing::info!(admin = ?admin_tcp, admin_tls = ?admin_tls, sip = %engine.hostports, "drachtio-rs serve listening");
        Ok(Server { admin, admin_tls, sip: engine.hostports.clone(), prometheus, stop, engine })
    }

    /// Stops accepting apps, closes their connections and the engine's sockets.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.engine.shutdown().await;
    }
}

/// The admin listeners: TCP, TLS (with its acceptor), or both.
async fn bind_admin(config: &args::ServeConfig) -> Result<(Option<TcpListener>, Option<(TcpListener, TlsAcceptor)>), String> {
    let acceptor = match config.admin_tls {
        Some(_) => Some(tls::acceptor(&config.tls)?),
        None => None,
    };
    let bind = |addr: SocketAddr| async move { TcpListener::bind(addr).await.map_err(|e| format!("cannot bind the admin port {addr}: {e}")) };
    let tcp = match config.admin {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let tls = match (config.admin_tls, acceptor) {
        (Some(addr), Some(acceptor)) => Some((bind(addr).await?, acceptor)),
        _ => None,
    };
    Ok((tcp, tls))
}

/// Connection limits shared by the admin ports.
struct AdminLimits {
    active: Bounded,
    unauthenticated: PerAddress,
}

/// How long a TLS client has for its handshake (part of its time to authenticate).
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<peer::Shared>, limits: Arc<AdminLimits>, mut stopped: watch::Receiver<bool>) {
    let (active, unauthenticated) = (&limits.active, &limits.unauthenticated);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let Some(place) = active.claim() else {
            tracing::warn!(peer = %peer, "too many app connections; closing");
            continue;
        };
        let Some(slot) = unauthenticated.claim(peer.ip()) else {
            tracing::warn!(peer = %peer, "too many unauthenticated connections from this address; closing");
            continue;
        };
        let (shared, stopped, tls) = (shared.clone(), stopped.clone(), tls.clone());
        tokio::spawn(async move {
            let _place = place;
            match tls {
                None => peer::run(stream, peer, shared, stopped, slot).await,
                Some(acceptor) => {
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let (reader, writer) = tokio::io::split(tls);
                            peer::serve_app(reader, writer, peer, shared, stopped, peer::Mode::Inbound(slot)).await;
                        }
                        Ok(Err(e)) => tracing::warn!(peer = %peer, error = %e, "TLS handshake failed on the admin port; closing"),
                        Err(_) => tracing::warn!(peer = %peer, "no TLS handshake within the time limit; closing"),
                    }
                }
            }
        });
    }
}
