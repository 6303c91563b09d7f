//! One app's connection to drachtio-server (wire-protocol.md §3.1): connect over TCP or TLS,
//! authenticate, register routes, ping, and reconnect with drachtio-srf's backoff when the
//! link drops. Every command waiting for a reply fails at once when the link goes.

use super::proto::{self, new_id, Stream, Wire, MISSED_PINGS, READ_CHUNK};
use crate::tls::TlsOptions;
use crate::app::{Command, Event, EventSink};
use crate::wire::{AppMsg, ReplyStatus, ServerMsg, MAX_RECEIVE_FRAME};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

#[derive(Debug, Clone)]
pub struct Reconnect {
    /// Upper bound on one delay; none by default, as in drachtio-srf.
    pub retry_max_delay: Option<Duration>,
    pub max_attempts: Option<u32>,
    /// Stop once the delays waited add up to this.
    pub connect_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub host: String,
    pub port: u16,
    pub secret: String,
    pub tags: Vec<String>,
    pub tls: Option<TlsOptions>,
    pub ping_interval: Option<Duration>,
    /// `None`: do not reconnect after the link drops.
    pub reconnect: Option<Reconnect>,
    pub max_frame: usize,
}

impl ClientConfig {
    pub fn new(host: impl Into<String>, port: u16, secret: impl Into<String>) -> Self {
        ClientConfig {
            host: host.into(),
            port,
            secret: secret.into(),
            tags: Vec::new(),
            tls: None,
            ping_interval: None,
            reconnect: Some(Reconnect { retry_max_delay: None, max_attempts: None, connect_timeout: None }),
            max_frame: MAX_RECEIVE_FRAME,
        }
    }
}

/// drachtio-srf's backoff: start at 150 ms and grow by 1.7 each attempt (first wait 255 ms).
const FIRST_DELAY_MS: u64 = 150;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the connection task on `rt`; commands go in through the returned sender.
pub fn spawn<S: EventSink>(rt: &tokio::runtime::Handle, config: ClientConfig, sink: Arc<S>) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(4096);
    rt.spawn(run(config, sink, rx));
    tx
}

/// State that outlives one TCP connection.
struct Client<S> {
    config: ClientConfig,
    sink: Arc<S>,
    commands: mpsc::Receiver<Command>,
    /// Verbs routed so far, in the order the app registered them (re-sent on reconnect).
    routes: Vec<String>,
    closing: bool,
}

enum SessionEnd {
    /// The app asked to disconnect.
    Disconnect,
    /// The link dropped (or was closed for a protocol error); maybe reconnect.
    Lost,
}

async fn run<S: EventSink>(config: ClientConfig, sink: Arc<S>, commands: mpsc::Receiver<Command>) {
    let mut client = Client { config, sink, commands, routes: Vec::new(), closing: false };
    let mut delay_ms = FIRST_DELAY_MS;
    let mut attempt = 0u32;
    let mut waited = Duration::ZERO;
    loop {
        match client.open().await {
            Ok(stream) => {
                delay_ms = FIRST_DELAY_MS;
                attempt = 0;
                waited = Duration::ZERO;
                let end = client.session(stream).await;
                client.sink.emit(Event::Closed).await;
                if matches!(end, SessionEnd::Disconnect) {
                    return;
                }
            }
            Err(message) => client.sink.emit(Event::Error { message }).await,
        }
        let Some(policy) = client.config.reconnect.clone() else { return };
        if client.closing {
            return;
        }
        delay_ms = delay_ms * 17 / 10;
        if let Some(max) = policy.retry_max_delay {
            delay_ms = delay_ms.min(max.as_millis() as u64);
        }
        attempt += 1;
        let exhausted = policy.max_attempts.is_some_and(|m| attempt > m)
            || policy.connect_timeout.is_some_and(|t| waited >= t);
        if exhausted {
            let message = format!("giving up reconnecting to {}:{} after {} attempts", client.config.host, client.config.port, attempt - 1);
            client.sink.emit(Event::Error { message }).await;
            return;
        }
        client.sink.emit(Event::Reconnecting { delay_ms, attempt }).await;
        let delay = Duration::from_millis(delay_ms);
        waited += delay;
        if !client.idle_for(delay).await {
            return;
        }
    }
}

impl<S: EventSink> Client<S> {
    /// Connects (TCP, then TLS if configured) with a time limit.
    async fn open(&self) -> Result<Box<dyn Stream>, String> {
        let c = &self.config;
        let target = format!("{}:{}", c.host, c.port);
        let tcp = match timeout(CONNECT_TIMEOUT, TcpStream::connect((c.host.as_str(), c.port))).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("connect to {target} failed: {e}")),
            Err(_) => return Err(format!("connect to {target} timed out")),
        };
        // As drachtio-srf does: no Nagle delay on small frames, and keepalive probes so a
        // vanished peer is noticed even without pings.
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&tcp).set_keepalive(true);
        let Some(tls) = &c.tls else { return Ok(Box::new(tcp)) };
        let config = tls.client_config()?;
        let name = tls.server_name(&c.host)?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        match timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
            Ok(Ok(s)) => Ok(Box::new(s)),
            Ok(Err(e)) => Err(format!("TLS handshake with {target} failed: {e}")),
            Err(_) => Err(format!("TLS handshake with {target} timed out")),
        }
    }

    /// Waits out a reconnect delay while still taking commands. False when told to stop.
    async fn idle_for(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Disconnect) => return false,
                    Some(other) => self.offline(other).await,
                },
            }
        }
    }

    /// A command while there is no authenticated link: routes are remembered, the rest fail.
    async fn offline(&mut self, cmd: Command) {
        tracing::debug!(?cmd, "command while offline");
        match cmd {
            Command::Route { verb, .. } => {
                self.add_route(verb);
            }
            Command::RemoveRoute(verb) => self.routes.retain(|v| *v != verb),
            Command::Disconnect => self.closing = true,
            other => proto::fail_offline(&*self.sink, other, "not connected to a drachtio server").await,
        }
    }

    /// Remembers a verb; false when it was routed already.
    fn add_route(&mut self, verb: String) -> bool {
        let new = !self.routes.contains(&verb);
        if new {
            self.routes.push(verb);
        }
        new
    }

    async fn session(&mut self, stream: Box<dyn Stream>) -> SessionEnd {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut link = Link { wire: Wire::new(self.config.max_frame), awaiting_routes: Vec::new(), held_connected: None };
        let auth_id = proto::authenticate(&mut link.wire, &self.config.secret, &self.config.tags);
        if let Err(e) = link.wire.flush(&mut writer).await {
            self.sink.emit(Event::Error { message: e }).await;
            return SessionEnd::Lost;
        }
        let mut buf = vec![0u8; READ_CHUNK];
        let mut authenticated = false;
        let auth_deadline = Instant::now() + AUTH_TIMEOUT;
        let ping_every = self.config.ping_interval.unwrap_or(Duration::from_secs(3600));
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut unanswered_pings = 0u32;
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        let end = loop {
            // Set when told to stop, after what came before it has been written.
            let mut stop = None;
            // Commands first: a route registered before connect() waits in the channel when
            // the session starts, and must be recorded before the authenticate answer is read
            // (else 'connect' fires with the route not yet sent: a request right after it
            // finds no app).
            tokio::select! {
                biased;
                cmd = self.commands.recv() => {
                    let Some(mut cmd) = cmd else { break SessionEnd::Disconnect };
                    // Every command already waiting goes out in the same write (one send per
                    // batch the app hands over, not one per command).
                    loop {
                        match cmd {
                            Command::Disconnect => {
                                stop = Some(SessionEnd::Disconnect);
                                break;
                            }
                            cmd if !authenticated => self.offline(cmd).await,
                            cmd => self.online(&mut link, cmd).await,
                        }
                        match self.commands.try_recv() {
                            Ok(waiting) => cmd = waiting,
                            Err(_) => break,
                        }
                    }
                },
                read = reader.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => {
                            self.sink.emit(Event::Error { message: "connection closed by the drachtio server".into() }).await;
                            break SessionEnd::Lost;
                        }
                        Ok(n) => n,
                        Err(e) => {
                            self.sink.emit(Event::Error { message: format!("read from drachtio server failed: {e}") }).await;
                            break SessionEnd::Lost;
                        }
                    };
                    unanswered_pings = 0;
                    link.wire.decoder.feed(&buf[..n]);
                    match self.drain_frames(&mut link, &auth_id, &mut authenticated).await {
                        Ok(()) => {}
                        Err(message) => {
                            self.sink.emit(Event::Error { message }).await;
                            break SessionEnd::Lost;
                        }
                    }
                }
                _ = ping.tick(), if authenticated && self.config.ping_interval.is_some() => {
                    if unanswered_pings >= MISSED_PINGS {
                        self.sink.emit(Event::Error { message: format!("no answer to {MISSED_PINGS} pings: the link to the drachtio server is dead") }).await;
                        break SessionEnd::Lost;
                    }
                    unanswered_pings += 1;
                    link.wire.queue(&AppMsg::Ping { id: new_id() });
                }
                _ = sweep.tick() => {
                    // A server that never answers route frames still gets its app connected.
                    if link.held_connected.as_ref().is_some_and(|(_, since)| since.elapsed() >= ROUTE_REPLY_WAIT) {
                        self.release_connected(&mut link).await;
                    }
                    if !authenticated && Instant::now() >= auth_deadline {
                        self.sink.emit(Event::Error { message: "no answer to authenticate from the drachtio server".into() }).await;
                        break SessionEnd::Lost;
                    }
                    link.wire.expire(&*self.sink).await;
                }
            }
            if let Err(message) = link.wire.flush(&mut writer).await {
                self.sink.emit(Event::Error { message }).await;
                break SessionEnd::Lost;
            }
            if let Some(end) = stop {
                break end;
            }
        };
        tracing::debug!(pending = link.wire.pending.len(), disconnect = matches!(end, SessionEnd::Disconnect), "session ended");
        if matches!(end, SessionEnd::Disconnect) {
            self.closing = true;
            let _ = writer.shutdown().await;
        }
        link.wire.fail_pending(&*self.sink).await;
        end
    }

    async fn drain_frames(&mut self, link: &mut Link, auth_id: &str, authenticated: &mut bool) -> Result<(), String> {
        while let Some(msg) = link.wire.next_msg()? {
            match msg {
                ServerMsg::Response { request_id, status, args, .. } if request_id == auth_id => {
                    if status != ReplyStatus::Ok {
                        let reason = args.first().cloned().unwrap_or_else(|| "authentication refused".into());
                        self.sink.emit(Event::AuthFailed { reason }).await;
                        continue;
                    }
                    *authenticated = true;
                    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
                    for verb in &self.routes {
                        let id = new_id();
                        link.wire.queue(&AppMsg::Route { id: id.clone(), verb: verb.clone() });
                        link.awaiting_routes.push(id);
                    }
                    let connected = Event::Connected { hostports: arg(0), version: arg(1), local_hostports: arg(2) };
                    if link.awaiting_routes.is_empty() {
                        self.sink.emit(connected).await;
                    } else {
                        link.held_connected = Some((connected, Instant::now()));
                    }
                }
                ServerMsg::Response { request_id, .. } if link.awaiting_routes.contains(&request_id) => {
                    link.awaiting_routes.retain(|id| *id != request_id);
                    if link.awaiting_routes.is_empty() {
                        self.release_connected(link).await;
                    }
                }
                // Anything else the server sends comes after 'connect', as it did without routes.
                other => {
                    self.release_connected(link).await;
                    link.wire.deliver(&*self.sink, other).await;
                }
            }
        }
        Ok(())
    }

    /// Emits the Connected held back while route frames were unanswered.
    async fn release_connected(&mut self, link: &mut Link) {
        link.awaiting_routes.clear();
        if let Some((connected, _)) = link.held_connected.take() {
            self.sink.emit(connected).await;
        }
    }

    async fn online(&mut self, link: &mut Link, cmd: Command) {
        tracing::debug!(?cmd, "command");
        match link.wire.command(&*self.sink, cmd).await {
            Some(Command::Route { verb, .. }) if self.add_route(verb.clone()) => {
                link.wire.queue(&AppMsg::Route { id: new_id(), verb });
            }
            Some(Command::RemoveRoute(verb)) => {
                self.routes.retain(|v| *v != verb);
                link.wire.queue(&AppMsg::RemoveRoute { id: new_id(), verb });
            }
            _ => {}
        }
    }
}

/// How long 'connect' waits for the answers to the route frames sent on authenticating.
const ROUTE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Per-connection state: the protocol state, and the routes awaiting their answers.
struct Link {
    wire: Wire,
    /// After authenticating: the ids of the route frames not yet answered, and the Connected
    /// event held until they are, so the app's routes are in force when it sees 'connect'.
    awaiting_routes: Vec<String>,
    held_connected: Option<(Event, Instant)>,
}
