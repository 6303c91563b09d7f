//! The embedded SIP engine: an in-process SIP stack that behaves toward apps as drachtio-server
//! does. Transports read and frame (transport.rs); one core task owns every transaction, dialog
//! and timer (core.rs, server.rs, client.rs), so state machines need no locks and tests can run
//! them on a paused clock. Apps attach through the same `app::Command` / `app::Event` interface
//! as the remote backend, so the JS layer cannot tell the two apart.

mod apps;
mod build;
mod client;
pub mod conn_limit;
mod core;
mod dialog;
mod dns;
mod echo;
mod memory;
pub mod nat;
pub mod metrics;
mod handlers;
mod proxy;
mod resolving;
mod server;
mod session_timer;
mod table;
mod transport;
mod util;

pub use handlers::{Decision, HeldRequest, RequestRouter};
pub use session_timer::{Refresher, SessionTimerConfig, MIN_SE};
pub use transport::{Protocol, TlsContext, TCP_MESSAGE_TIMEOUT};

use crate::app::{Command, Event};
use crate::sip::Limits;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The version apps see in 'connect': drachtio-srf code compares it with v0.8.2, and we speak
/// the protocol of drachtio-server 0.9.10.
pub const VERSION: &str = concat!("v0.9.10-drachtio-srf-rs-", env!("CARGO_PKG_VERSION"));

/// RFC 3261 timer bases (§17.1.1.1): T1 RTT estimate, T2 maximum retransmit interval for
/// non-INVITE requests and INVITE responses, T4 maximum time a message stays in the network.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub listen: Vec<(Protocol, SocketAddr)>,
    /// Address to advertise in Via/Contact instead of the bound one (behind NAT).
    pub external_ip: Option<String>,
    /// Networks that reach us by the bound address, not the external one.
    pub local_nets: Vec<nat::LocalNet>,
    pub timers: Timers,
    pub limits: Limits,
    /// Stop the engine when its last app leaves (the embedded case: one engine per Srf).
    pub exclusive: bool,
    /// New requests an app may hold unanswered; past this the engine answers 503 with
    /// Retry-After (RFC 3261 §21.5.4) instead of queueing more work for an app that is behind.
    pub max_pending_requests: usize,
    /// How long a TCP peer may take over one message (and over its first one on a connection it
    /// opened) before the connection is closed: `TCP_MESSAGE_TIMEOUT` unless configured.
    pub tcp_message_timeout: Duration,
    /// RFC 4028 session timers: our Min-SE and the default refresher.
    pub session_timers: SessionTimerConfig,
    /// Prometheus counters the core keeps (metrics.rs); none: not kept.
    pub metrics: Option<Arc<metrics::Metrics>>,
    /// Requests inside dialogs this engine does not know go to an app (which may hold the
    /// dialog in a session store, seed 003) instead of being answered 481.
    pub adopt_dialogs: bool,
    /// Certificates for tls and wss contacts, and how servers we connect to over TLS are
    /// verified; none: no tls/wss contacts, and outgoing TLS trusts the Mozilla roots.
    pub tls: Option<TlsContext>,
}

/// The default for `max_pending_requests`: far above a healthy app's backlog (an app
/// answering 5,000 calls/s within 100 ms holds about 500), low enough to shed early.
pub const MAX_PENDING_REQUESTS: usize = 2_000;

pub(crate) enum CoreMsg {
    Attach { id: apps::AppId, events: mpsc::Sender<Event>, routes: Vec<String>, tags: Vec<String> },
    /// An app serve connected to for a held request (handlers.rs): attach it, then hand it
    /// the request.
    AttachFor { id: apps::AppId, events: mpsc::Sender<Event>, tags: Vec<String>, txn: String },
    /// Request handlers: which methods are held, and where (none: every request to apps).
    Router(Option<RequestRouter>),
    /// The decision on a held request.
    Routed { txn: String, decision: Decision },
    Command { id: apps::AppId, cmd: Command },
    Detach { id: apps::AppId },
    Shutdown,
}

/// A running engine. Dropping it does not stop it; `shutdown` (or, when exclusive, the last
/// app leaving) does.
#[derive(Clone)]
pub struct Engine {
    core: mpsc::Sender<CoreMsg>,
    next_app: Arc<AtomicU64>,
    /// The bound listening points, e.g. `udp/127.0.0.1:5060`.
    pub hostports: String,
}

const CORE_QUEUE: usize = 8192;
const APP_COMMAND_QUEUE: usize = 4096;

impl Engine {
    pub async fn start(config: EngineConfig) -> Result<Engine, String> {
        if config.listen.is_empty() {
            return Err("the engine needs at least one contact to listen on".into());
        }
        let (inbound_tx, inbound_rx) = mpsc::channel(CORE_QUEUE);
        let tls = match config.tls.clone() {
            Some(tls) => tls,
            None => TlsContext { server: None, client: Arc::new(crate::tls::TlsOptions { reject_unauthorized: true, ..Default::default() }.client_config()?) },
        };
        let (transports, bound) = transport::Transports::bind(&config.listen, Some(tls), inbound_tx, config.limits, config.tcp_message_timeout).await?;
        let hostports = bound.iter().map(|(p, a)| format!("{}/{}", p.as_str(), a)).collect::<Vec<_>>().join(",");
        let (core_tx, core_rx) = mpsc::channel(CORE_QUEUE);
        let core = core::Core::new(config, transports, bound, hostports.clone());
        tokio::spawn(core.run(core_rx, inbound_rx));
        Ok(Engine { core: core_tx, next_app: Arc::new(AtomicU64::new(1)), hostports })
    }

    /// Attaches one application: its events go to `events`; its commands to the returned
    /// sender. Dropping the sender detaches it. `routes` are in force before it hears
    /// `Connected`.
    pub fn attach(&self, events: mpsc::Sender<Event>, routes: Vec<String>) -> mpsc::Sender<Command> {
        self.attach_with(events, routes, Vec::new(), None)
    }

    /// `attach` with the app's tags (a handler's `route` by tag picks among them), and, for an
    /// app serve connected to for a held request, that request (`txn`), handed to it once
    /// attached.
    pub fn attach_with(&self, events: mpsc::Sender<Event>, routes: Vec<String>, tags: Vec<String>, txn: Option<String>) -> mpsc::Sender<Command> {
        let id = self.next_app.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel(APP_COMMAND_QUEUE);
        let core = self.core.clone();
        tokio::spawn(async move {
            let attach = match txn {
                Some(txn) => CoreMsg::AttachFor { id, events, tags, txn },
                None => CoreMsg::Attach { id, events, routes, tags },
            };
            if core.send(attach).await.is_err() {
                return;
            }
            while let Some(cmd) = rx.recv().await {
                let disconnect = matches!(cmd, Command::Disconnect);
                if core.send(CoreMsg::Command { id, cmd }).await.is_err() || disconnect {
                    break;
                }
            }
            let _ = core.send(CoreMsg::Detach { id }).await;
        });
        tx
    }

    /// Holds new requests of `router.methods` for a decision (request handlers).
    pub async fn set_router(&self, router: Option<RequestRouter>) {
        let _ = self.core.send(CoreMsg::Router(router)).await;
    }

    /// The decision on held request `txn`.
    pub async fn route_held(&self, txn: String, decision: Decision) {
        let _ = self.core.send(CoreMsg::Routed { txn, decision }).await;
    }

    pub async fn shutdown(&self) {
        let _ = self.core.send(CoreMsg::Shutdown).await;
    }
}
