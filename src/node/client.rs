//! `NativeClient`: the remote backend as JS sees it. Commands go in through cheap synchronous
//! calls (a full queue is an immediate error, never a blocking wait); events come out in
//! batches through one thread-safe function, with at most two batches in flight so a stalled
//! event loop slows the connection down instead of growing memory.

use super::batch::{BatchRoom, Batchable, BatchWriter, JsBatch};
use super::runtime;
use crate::app::{AdoptedDialog, Command, Event, EventSink};
use crate::client::{self, ClientConfig, Reconnect, TlsOptions, TlsServerOptions};
use crate::engine::{Engine, EngineConfig, Refresher, SessionTimerConfig, Timers, TlsContext, MAX_PENDING_REQUESTS, MIN_SE, TCP_MESSAGE_TIMEOUT};
use crate::engine::nat::LocalNet;
use crate::server::args::parse_contact;
use crate::sip::Limits;
use crate::wire::ProxySpec;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

pub(super) const EVENT_QUEUE: usize = 4096;
const JS_BATCH: usize = 64;
const JS_BATCHES_IN_FLIGHT: usize = 2;

#[napi(object)]
pub struct TlsConnectOptions {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub servername: Option<String>,
    pub reject_unauthorized: Option<bool>,
}

#[napi(object)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u32,
    pub secret: String,
    pub tags: Option<Vec<String>>,
    pub tls: Option<TlsConnectOptions>,
    /// Milliseconds between pings; no pings when absent.
    pub ping_interval: Option<u32>,
    pub reconnect: Option<bool>,
    pub retry_max_delay: Option<u32>,
    pub max_attempts: Option<u32>,
    pub connect_timeout: Option<u32>,
}

/// `connect({ embedded })`: where the in-process engine listens, and its timers (ms).
#[napi(object)]
pub struct EmbeddedOptions {
    /// e.g. `sip:127.0.0.1:5060;transport=udp` (IP literals; IPv6 in brackets).
    pub contacts: Vec<String>,
    pub external_ip: Option<String>,
    /// Networks (CIDR) that reach us by our bound address rather than `external_ip`.
    pub local_net: Option<Vec<String>>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
    pub t4: Option<u32>,
    /// New requests the app may hold unanswered before the engine answers 503.
    pub max_pending_requests: Option<u32>,
    /// Ms a TCP peer may take over one message (and its first one) before it is disconnected.
    pub tcp_message_timeout: Option<u32>,
    /// Session timers (RFC 4028): our Min-SE in seconds (default 90).
    #[napi(js_name = "minSE")]
    pub min_se: Option<u32>,
    /// Who refreshes when a UAC offers Session-Expires without a refresher: 'uac', 'uas' or
    /// 'none' (the default: no session timer is answered).
    pub default_refresher: Option<String>,
    /// Verbs routed before connect(): in force before 'connect' is reported, so a request
    /// arriving right after it reaches the app.
    pub routes: Option<Vec<String>>,
    /// Prometheus metrics on `http://host:port/metrics` (as serve's `--prometheus-scrape-port`).
    pub prometheus: Option<PrometheusOptions>,
    /// For tls and wss contacts, and requests sent over TLS.
    pub tls: Option<EmbeddedTlsOptions>,
    /// Requests inside dialogs the engine does not know go to the app (it has a session
    /// store and may adopt them) instead of being answered 481.
    pub adopt_dialogs: Option<bool>,
}

/// `adoptDialog`: a dialog rebuilt from a session store, for the engine to take on.
#[napi(object)]
pub struct AdoptDialogOptions {
    pub id: String,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    pub local_uri: String,
    pub remote_uri: String,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_seq: Option<u32>,
    pub subscription: bool,
    pub txn_id: Option<String>,
}

/// `embedded.tls`, PEM text (the JS layer reads `keyFile`, `certFile`, `chainFile`, `caFile`).
#[napi(object)]
pub struct EmbeddedTlsOptions {
    pub key: Option<String>,
    /// Our certificate, followed by its chain.
    pub cert: Option<String>,
    /// CAs servers we connect to over TLS must chain to; the Mozilla roots when absent.
    pub ca: Option<String>,
    /// false: servers we connect to are not verified (test setups).
    pub reject_unauthorized: Option<bool>,
}

/// `embedded.prometheus`: where the scrape endpoint listens.
#[napi(object)]
pub struct PrometheusOptions {
    pub port: u32,
    /// An IP address; 0.0.0.0 (every interface) unless given, as in drachtio-server.
    pub host: Option<String>,
}

#[napi(object)]
pub struct ProxyOptions {
    pub record_route: bool,
    pub follow_redirects: bool,
    pub simultaneous: bool,
    pub provisional_timeout: String,
    pub final_timeout: String,
    pub destinations: Vec<String>,
}

pub(super) type EventCallback = ThreadsafeFunction<JsBatch, napi::bindgen_prelude::Unknown<'static>, JsBatch, napi::Status, false>;

struct NodeSink(mpsc::Sender<Event>);

impl EventSink for NodeSink {
    async fn emit(&self, event: Event) {
        // Fails only when the pump has stopped, i.e. nobody listens any more.
        let _ = self.0.send(event).await;
    }
}

#[napi]
pub struct NativeClient {
    commands: Option<mpsc::Sender<Command>>,
    /// SIP and proxy commands since the last `flush`. JS hands a tick's commands over at once,
    /// so the backend's thread is woken once for all of them rather than once per command
    /// (the B2BUA A/B in bench/RESULTS.md).
    queued: Vec<Command>,
}

/// A queued command the backend could not take (its queue full, or the link gone).
#[napi(object)]
pub struct FlushFailure {
    pub cmd: u32,
    pub reason: String,
}

pub(super) fn err(msg: impl Into<String>) -> napi::Error {
    napi::Error::from_reason(msg.into())
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeClient { commands: None, queued: Vec::new() }
    }

    /// Starts connecting; events arrive in batches on `on_events`.
    #[napi(ts_args_type = "opts: ConnectOptions, onEvents: (batch: JsBatch) => void")]
    pub fn connect(&mut self, opts: ConnectOptions, on_events: EventCallback) -> napi::Result<()> {
        if self.commands.is_some() {
            return Err(err("already connected or connecting"));
        }
        let port = u16::try_from(opts.port).map_err(|_| err(format!("invalid port {}", opts.port)))?;
        let mut config = ClientConfig::new(opts.host, port, opts.secret);
        config.tags = opts.tags.unwrap_or_default();
        config.ping_interval = opts.ping_interval.map(|ms| Duration::from_millis(u64::from(ms)));
        config.tls = opts.tls.map(|t| TlsOptions {
            ca: t.ca,
            cert: t.cert,
            key: t.key,
            servername: t.servername,
            reject_unauthorized: t.reject_unauthorized.unwrap_or(true),
        });
        config.reconnect = opts.reconnect.unwrap_or(true).then(|| Reconnect {
            retry_max_delay: opts.retry_max_delay.map(|ms| Duration::from_millis(u64::from(ms))),
            max_attempts: opts.max_attempts,
            connect_timeout: opts.connect_timeout.map(|ms| Duration::from_millis(u64::from(ms))),
        });
        let rt = runtime::handle()?;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        rt.spawn(pump(rx, on_events));
        self.commands = Some(client::spawn(&rt, config, Arc::new(NodeSink(tx))));
        Ok(())
    }

    /// Starts an engine in this process and attaches to it; events arrive as with `connect`.
    #[napi(ts_args_type = "opts: EmbeddedOptions, onEvents: (batch: JsBatch) => void")]
    pub fn start_embedded(&mut self, opts: EmbeddedOptions, on_events: EventCallback) -> napi::Result<()> {
        if self.commands.is_some() {
            return Err(err("already connected or connecting"));
        }
        let routes = opts.routes.clone().unwrap_or_default();
        let scrape = opts.prometheus.as_ref().map(prometheus_addr).transpose().map_err(err)?;
        let mut config = embedded_config(opts).map_err(err)?;
        config.metrics = scrape.map(|_| Arc::new(crate::engine::metrics::Metrics::new()));
        let rt = runtime::handle()?;
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        rt.spawn(pump(events_rx, on_events));
        let (tx, mut rx) = mpsc::channel::<Command>(EVENT_QUEUE);
        let config_metrics = config.metrics.clone();
        rt.spawn(async move {
            let engine = match Engine::start(config).await {
                Ok(e) => e,
                Err(message) => {
                    let _ = events_tx.send(Event::Error { message }).await;
                    let _ = events_tx.send(Event::Closed).await;
                    return;
                }
            };
            // The scrape endpoint lives as long as this task: `_stop` ends it.
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            if let (Some(addr), Some(metrics)) = (scrape, config_metrics) {
                if let Err(message) = crate::metrics_http::start(addr, metrics, stopped).await {
                    engine.shutdown().await;
                    let _ = events_tx.send(Event::Error { message }).await;
                    let _ = events_tx.send(Event::Closed).await;
                    return;
                }
            }
            let app = engine.attach(events_tx, routes);
            while let Some(cmd) = rx.recv().await {
                if app.send(cmd).await.is_err() {
                    break;
                }
            }
        });
        self.commands = Some(tx);
        Ok(())
    }

    fn send(&self, cmd: Command) -> napi::Result<()> {
        let tx = self.commands.as_ref().ok_or_else(|| err("not connected: call connect() first"))?;
        tx.try_send(cmd).map_err(|e| err(refusal(&e)))
    }

    /// Holds a command until `flush`.
    fn queue(&mut self, cmd: Command) -> napi::Result<()> {
        if self.commands.is_none() {
            return Err(err("not connected: call connect() first"));
        }
        self.queued.push(cmd);
        Ok(())
    }

    /// Hands the queued commands to the backend, in order; returns those it refused.
    #[napi]
    pub fn flush(&mut self) -> Vec<FlushFailure> {
        let queued = std::mem::take(&mut self.queued);
        let Some(tx) = self.commands.as_ref() else {
            return queued.iter().filter_map(command_id).map(|cmd| FlushFailure { cmd, reason: "the connection has been closed".into() }).collect();
        };
        queued
            .into_iter()
            .filter_map(|cmd| {
                let id = command_id(&cmd);
                tx.try_send(cmd).err().and_then(|e| id.map(|cmd| FlushFailure { cmd, reason: refusal(&e) }))
            })
            .collect()
    }

    #[napi]
    pub fn route(&self, verb: String) -> napi::Result<()> {
        self.send(Command::Route { verb, ack: None })
    }

    #[napi]
    pub fn remove_route(&self, verb: String) -> napi::Result<()> {
        self.send(Command::RemoveRoute(verb))
    }

    /// Hands the engine a dialog rebuilt from a session store (a drachtio server ignores it).
    #[napi]
    pub fn adopt_dialog(&self, d: AdoptDialogOptions) -> napi::Result<()> {
        self.send(Command::AdoptDialog(AdoptedDialog {
            id: d.id,
            call_id: d.call_id,
            local_tag: d.local_tag,
            remote_tag: d.remote_tag,
            local_uri: d.local_uri,
            remote_uri: d.remote_uri,
            remote_target: d.remote_target,
            route_set: d.route_set,
            local_seq: d.local_seq,
            subscription: d.subscription,
            txn_id: d.txn_id.unwrap_or_default(),
        }))
    }

    /// Asks the backend for its counts; they arrive as a `reply` event carrying `cmd`.
    #[napi]
    pub fn stats(&self, cmd: u32) -> napi::Result<()> {
        self.send(Command::Stats { cmd })
    }

    /// Sends a SIP request or response; its outcome arrives as a `reply` or `failed` event
    /// carrying `cmd`.
    /// Queued until `flush`. `answer_bye`: see `Command::Sip`.
    #[napi]
    pub fn send_sip(&mut self, cmd: u32, txn_id: String, dialog_id: String, route_uri: Option<String>, raw: String, answer_bye: Option<bool>) -> napi::Result<()> {
        self.queue(Command::Sip { cmd, txn_id, dialog_id, route_uri, raw: raw.into_bytes(), answer_bye: answer_bye.unwrap_or(false) })
    }

    /// Queued until `flush`.
    #[napi]
    pub fn send_proxy(&mut self, cmd: u32, txn_id: String, opts: ProxyOptions, raw: String) -> napi::Result<()> {
        self.queue(Command::Proxy { cmd, txn_id, spec: proxy_spec(opts), raw: raw.into_bytes() })
    }

    /// Closes the connection and stops reconnecting; the process may exit afterwards.
    #[napi]
    pub fn disconnect(&mut self) -> napi::Result<()> {
        if let Some(tx) = self.commands.take() {
            if tx.try_send(Command::Disconnect).is_err() {
                // Queue full: deliver the disconnect as soon as there is room.
                runtime::handle()?.spawn(async move { tx.send(Command::Disconnect).await });
            }
        }
        Ok(())
    }
}

fn command_id(cmd: &Command) -> Option<u32> {
    match cmd {
        Command::Sip { cmd, .. } | Command::Proxy { cmd, .. } | Command::Stats { cmd } => Some(*cmd),
        _ => None,
    }
}

fn refusal(e: &mpsc::error::TrySendError<Command>) -> String {
    match e {
        mpsc::error::TrySendError::Full(_) => "ERR_BACKPRESSURE: too many commands queued for the drachtio server".into(),
        mpsc::error::TrySendError::Closed(_) => "the connection has been closed".into(),
    }
}

pub(super) fn proxy_spec(opts: ProxyOptions) -> ProxySpec {
    ProxySpec {
        record_route: opts.record_route,
        full_response: true,
        follow_redirects: opts.follow_redirects,
        simultaneous: opts.simultaneous,
        provisional_timeout: opts.provisional_timeout,
        final_timeout: opts.final_timeout,
        destinations: opts.destinations,
    }
}

impl Default for NativeClient {
    fn default() -> Self {
        Self::new()
    }
}

fn embedded_config(opts: EmbeddedOptions) -> Result<EngineConfig, String> {
    let ms = |v: Option<u32>, default: Duration| v.map_or(default, |ms| Duration::from_millis(u64::from(ms)));
    let defaults = Timers::default();
    let timers = Timers { t1: ms(opts.t1, defaults.t1), t2: ms(opts.t2, defaults.t2), t4: ms(opts.t4, defaults.t4) };
    if timers.t1.is_zero() || timers.t2 < timers.t1 {
        return Err("embedded: t1 must be positive and t2 at least t1".into());
    }
    let listen = opts.contacts.iter().map(|c| parse_contact(c).map_err(|e| format!("embedded: {e}"))).collect::<Result<Vec<_>, _>>()?;
    if listen.is_empty() {
        return Err("embedded: at least one contact is required, e.g. 'sip:127.0.0.1:5060;transport=udp'".into());
    }
    let max_pending_requests = opts.max_pending_requests.map_or(MAX_PENDING_REQUESTS, |n| n as usize);
    let tcp_message_timeout = ms(opts.tcp_message_timeout, TCP_MESSAGE_TIMEOUT);
    if tcp_message_timeout.is_zero() {
        return Err("embedded: tcpMessageTimeout must be positive".into());
    }
    if opts.min_se == Some(0) {
        return Err("embedded: minSE must be a positive number of seconds".into());
    }
    let default_refresher = match opts.default_refresher.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("none") => None,
        Some(r) => Some(Refresher::parse(r).ok_or("embedded: defaultRefresher must be 'none', 'uac' or 'uas'")?),
    };
    let session_timers = SessionTimerConfig { min_se: opts.min_se.unwrap_or(MIN_SE), default_refresher };
    let tls = opts.tls.map(embedded_tls).transpose()?;
    let local_nets = opts.local_net.unwrap_or_default().iter().map(|n| LocalNet::parse(n).map_err(|e| format!("embedded.localNet: {e}"))).collect::<Result<_, _>>()?;
    let adopt_dialogs = opts.adopt_dialogs.unwrap_or(false);
    Ok(EngineConfig { listen, external_ip: opts.external_ip, local_nets, timers, limits: Limits::default(), exclusive: true, max_pending_requests, tcp_message_timeout, session_timers, metrics: None, tls, adopt_dialogs })
}

fn embedded_tls(t: EmbeddedTlsOptions) -> Result<TlsContext, String> {
    let server = match (t.key, t.cert) {
        (Some(key), Some(cert)) => Some(Arc::new(TlsServerOptions { cert, key, ..Default::default() }.server_config().map_err(|e| format!("embedded.tls: {e}"))?)),
        (None, None) => None,
        _ => return Err("embedded.tls: key and cert (or keyFile and certFile) go together".into()),
    };
    let client = TlsOptions { ca: t.ca, reject_unauthorized: t.reject_unauthorized.unwrap_or(true), ..Default::default() };
    Ok(TlsContext { server, client: Arc::new(client.client_config().map_err(|e| format!("embedded.tls: {e}"))?) })
}

fn prometheus_addr(p: &PrometheusOptions) -> Result<std::net::SocketAddr, String> {
    let port = u16::try_from(p.port).ok().filter(|p| *p > 0).ok_or_else(|| format!("embedded: prometheus.port must be a port number, got {}", p.port))?;
    let host = p.host.as_deref().unwrap_or("0.0.0.0");
    let ip: std::net::IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| format!("embedded: prometheus.host must be an IP address, got '{host}'"))?;
    Ok(std::net::SocketAddr::new(ip, port))
}

/// Moves events to JS in batches. Ends (releasing the thread-safe function, so Node may exit)
/// when the connection task has finished and dropped its sender.
pub(super) async fn pump<T: Batchable>(mut rx: mpsc::Receiver<T>, callback: EventCallback) {
    let permits = Arc::new(Semaphore::new(JS_BATCHES_IN_FLIGHT));
    let mut room = BatchRoom::default();
    while let Some(first) = rx.recv().await {
        let mut batch = BatchWriter::with_room(room);
        first.write_to(&mut batch);
        while batch.len() < JS_BATCH {
            match rx.try_recv() {
                Ok(e) => e.write_to(&mut batch),
                Err(_) => break,
            }
        }
        room = batch.room_used();
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        callback.call_with_return_value(batch.finish(), ThreadsafeFunctionCallMode::NonBlocking, move |_, _| {
            drop(permit);
            Ok(())
        });
    }
    // Let the last batches reach JS before the function is released.
    let _ = permits.acquire_many(JS_BATCHES_IN_FLIGHT as u32).await;
}
