//! `drachtio-rs serve`: the embedded engine behind drachtio-server's TCP control protocol.
//! Each app connection is a peer (peer.rs) attached to the one shared engine, so unmodified
//! drachtio-srf apps, and many processes at once, use it as they would drachtio-server.

pub mod args;
pub mod config;
mod handlers;
mod peer;

use crate::engine::conn_limit::PerAddress;
use crate::engine::{Engine, EngineConfig, SessionTimerConfig, Timers, MAX_PENDING_REQUESTS, MIN_SE, TCP_MESSAGE_TIMEOUT};
use crate::sip::Limits;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Connections accepted on the admin port at most; further ones are closed at once.
const MAX_APP_CONNECTIONS: usize = 1024;
/// Connections one address may hold open before authenticating (they have 10 s to); past this
/// its new connections are closed at once. Apps that authenticated count only in the total, so
/// many app processes on one host are fine.
const MAX_UNAUTHENTICATED_PER_ADDRESS: usize = 16;

pub struct Server {
    pub admin: SocketAddr,
    pub sip: String,
    stop: watch::Sender<bool>,
    engine: Engine,
}

impl Server {
    pub async fn start(config: args::ServeConfig) -> Result<Server, String> {
        let defaults = Timers::default();
        let timers = Timers { t1: config.t1.unwrap_or(defaults.t1), t2: config.t2.unwrap_or(defaults.t2), t4: config.t4.unwrap_or(defaults.t4) };
        let engine = Engine::start(EngineConfig {
            listen: config.contacts.clone(),
            external_ip: config.external_ip.clone(),
            timers,
            limits: Limits::default(),
            exclusive: false,
            max_pending_requests: MAX_PENDING_REQUESTS,
            tcp_message_timeout: config.tcp_message_timeout.unwrap_or(TCP_MESSAGE_TIMEOUT),
            session_timers: SessionTimerConfig {
                min_se: config.min_se.unwrap_or(MIN_SE),
                default_refresher: config.default_refresher.unwrap_or(None),
            },
        })
        .await?;
        for note in &config.notes {
            tracing::info!("configuration: {note}");
        }
        let Some(admin_addr) = config.admin else {
            return Err("no admin TCP port configured".into());
        };
        let listener = match TcpListener::bind(admin_addr).await {
            Ok(l) => l,
            Err(e) => {
                engine.shutdown().await;
                return Err(format!("cannot bind the admin port {admin_addr}: {e}"));
            }
        };
        let admin = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(peer::Shared { engine: engine.clone(), secret: config.secret, cdrs: config.cdrs });
        if !config.handlers.is_empty() {
            handlers::start(config.handlers, shared.clone(), stopped.clone()).await;
        }
        tokio::spawn(accept(listener, shared, stopped));
        tracing::info!(admin = %admin, sip = %engine.hostports, "drachtio-rs serve listening");
        Ok(Server { admin, sip: engine.hostports.clone(), stop, engine })
    }

    /// Stops accepting apps, closes their connections and the engine's sockets.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.engine.shutdown().await;
    }
}

async fn accept(listener: TcpListener, shared: Arc<peer::Shared>, mut stopped: watch::Receiver<bool>) {
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let unauthenticated = PerAddress::new(MAX_UNAUTHENTICATED_PER_ADDRESS);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, peer)) = accepted else { continue };
        if active.load(std::sync::atomic::Ordering::Relaxed) >= MAX_APP_CONNECTIONS {
            tracing::warn!(peer = %peer, "too many app connections; closing");
            continue;
        }
        let Some(slot) = unauthenticated.claim(peer.ip()) else {
            tracing::warn!(peer = %peer, "too many unauthenticated connections from this address; closing");
            continue;
        };
        active.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (shared, stopped, active) = (shared.clone(), stopped.clone(), active.clone());
        tokio::spawn(async move {
            peer::run(stream, peer, shared, stopped, slot).await;
            active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}
