//! `NativeListener`: listen mode as JS sees it (`srf.listen`). Commands name the session
//! (server connection) they belong to; events come out in batches as with `NativeClient`,
//! each carrying its session id.

use super::client::{err, proxy_spec, pump, EventCallback, ProxyOptions};
use super::runtime;
use crate::app::Command;
use crate::client::{self, ListenCommand, ListenConfig, ListenEvent, ListenSink, SessionId, SessionIds, TlsServerOptions};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[napi(object)]
pub struct TlsListenOptions {
    pub cert: String,
    pub key: String,
    pub ca: Option<String>,
    pub request_cert: Option<bool>,
    pub reject_unauthorized: Option<bool>,
}

#[napi(object)]
pub struct ListenOptions {
    /// Where to listen; absent when the app supplies its own server (sessions are attached).
    pub host: Option<String>,
    pub port: Option<u32>,
    pub secret: String,
    pub tags: Option<Vec<String>>,
    pub tls: Option<TlsListenOptions>,
    /// Milliseconds between pings on each session; no pings when absent.
    pub ping_interval: Option<u32>,
}

struct NodeListenSink(mpsc::Sender<(SessionId, ListenEvent)>);

impl ListenSink for NodeListenSink {
    async fn emit(&self, session: SessionId, event: ListenEvent) {
        // Fails only when the pump has stopped, i.e. nobody listens any more.
        let _ = self.0.send((session, event)).await;
    }
}

#[napi]
pub struct NativeListener {
    commands: Option<mpsc::Sender<ListenCommand>>,
    ids: Option<Arc<SessionIds>>,
    closed: bool,
}

#[napi]
impl NativeListener {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeListener { commands: None, ids: None, closed: false }
    }

    /// Starts listening; `listening` (or `stopped` with the error) follows as an event.
    #[napi(ts_args_type = "opts: ListenOptions, onEvents: (batch: JsBatch) => void")]
    pub fn listen(&mut self, opts: ListenOptions, on_events: EventCallback) -> napi::Result<()> {
        if self.commands.is_some() {
            return Err(err("already listening"));
        }
        let bind = match (opts.host, opts.port) {
            (_, None) => None,
            (host, Some(port)) => {
                let port = u16::try_from(port).map_err(|_| err(format!("invalid port {port}")))?;
                Some((host.unwrap_or_else(|| "0.0.0.0".into()), port))
            }
        };
        let mut config = ListenConfig::new(bind, opts.secret);
        config.tags = opts.tags.unwrap_or_default();
        config.ping_interval = opts.ping_interval.map(|ms| Duration::from_millis(u64::from(ms)));
        config.tls = opts.tls.map(|t| TlsServerOptions {
            cert: t.cert,
            key: t.key,
            ca: t.ca,
            request_cert: t.request_cert.unwrap_or(false),
            reject_unauthorized: t.reject_unauthorized.unwrap_or(true),
        });
        if let Some(tls) = &config.tls {
            // Bad certificates are the caller's mistake: report them now, not as an event.
            tls.server_config().map_err(|e| err(format!("srf.listen: {e}")))?;
        }
        let rt = runtime::handle()?;
        let (tx, rx) = mpsc::channel(super::client::EVENT_QUEUE);
        rt.spawn(pump(rx, on_events));
        let listener = client::spawn_listener(&rt, config, Arc::new(NodeListenSink(tx)));
        self.commands = Some(listener.commands);
        self.ids = Some(listener.ids);
        Ok(())
    }

    fn send(&self, cmd: ListenCommand) -> napi::Result<()> {
        let tx = self.commands.as_ref().ok_or_else(|| err("not listening: call listen() first"))?;
        tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                napi::Error::new(napi::Status::GenericFailure, "ERR_BACKPRESSURE: too many commands queued for drachtio server sessions")
            }
            mpsc::error::TrySendError::Closed(_) => err("the listener has been closed"),
        })
    }

    /// Sends a SIP request or response on a session; its outcome arrives as a `reply` or
    /// `failed` event carrying `cmd`.
    #[napi]
    pub fn send_sip(&self, session: u32, cmd: u32, txn_id: String, dialog_id: String, route_uri: Option<String>, raw: String) -> napi::Result<()> {
        self.send(ListenCommand::Session { session, cmd: Command::Sip { cmd, txn_id, dialog_id, route_uri, raw: raw.into_bytes(), answer_bye: false } })
    }

    #[napi]
    pub fn send_proxy(&self, session: u32, cmd: u32, txn_id: String, opts: ProxyOptions, raw: String) -> napi::Result<()> {
        self.send(ListenCommand::Session { session, cmd: Command::Proxy { cmd, txn_id, spec: proxy_spec(opts), raw: raw.into_bytes() } })
    }

    /// Ends a session: what was sent on it is answered first (briefly), then it closes.
    #[napi]
    pub fn end_session(&self, session: u32) -> napi::Result<()> {
        self.send(ListenCommand::Session { session, cmd: Command::Disconnect })
    }

    /// Runs a session over a socket Node accepted (a server the app supplied); returns its id.
    /// Its bytes go in with `feed` and come out as `bytes` events.
    #[napi]
    pub fn attach(&self, remote: String, local: String) -> napi::Result<u32> {
        let ids = self.ids.as_ref().ok_or_else(|| err("not listening: call listen() first"))?;
        let session = ids.next();
        self.send(ListenCommand::Attach { session, remote, local })?;
        Ok(session)
    }

    /// Bytes an attached socket received; `null` when it closed.
    #[napi]
    pub fn feed(&self, session: u32, data: Option<Buffer>) -> napi::Result<()> {
        self.send(ListenCommand::Feed { session, data: data.map(|b| b.to_vec()) })
    }

    /// Stops accepting; with `endSessions` ends every session too. A `stopped` event follows
    /// once the last session has closed; then the process may exit.
    #[napi]
    pub fn close(&mut self, end_sessions: bool) -> napi::Result<()> {
        // Sessions outlive a plain close (as with net.Server#close): keep the sender for them.
        let Some(tx) = self.commands.clone() else { return Ok(()) };
        if self.closed && !end_sessions {
            return Ok(());
        }
        self.closed = true;
        let cmd = ListenCommand::Close { end_sessions };
        if let Err(mpsc::error::TrySendError::Full(cmd)) = tx.try_send(cmd) {
            runtime::handle()?.spawn(async move { tx.send(cmd).await });
        }
        Ok(())
    }
}

impl Default for NativeListener {
    fn default() -> Self {
        Self::new()
    }
}
