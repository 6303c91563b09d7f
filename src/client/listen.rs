//! Outbound mode (wire-protocol.md §3.2, `srf.listen`): drachtio servers connect to us. Every
//! socket they open is an independent session: we send `authenticate` first, then the server
//! sends requests as ordinary `sip` frames (no routes in this mode), and everything belonging to
//! those requests (responses, their dialogs' requests) goes back over the same socket. A
//! session ends when the app ends it (`endSession`: our pending replies are awaited briefly,
//! then the socket closes) or the server closes it; it is never reconnected.
//!
//! One task owns the listening socket and a table of sessions (each a task of its own with a
//! bounded command queue), so a server that stops reading stalls only its own session. Sessions
//! share the protocol code of the connection we open ourselves (proto.rs).

use super::proto::{self, new_id, Stream, Wire, MISSED_PINGS, READ_CHUNK};
use crate::tls::TlsServerOptions;
use crate::app::{Command, Event, EventSink, FailureCode};
use crate::wire::{AppMsg, ReplyStatus, ServerMsg, MAX_RECEIVE_FRAME};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

pub type SessionId = u32;

/// Sessions open at once (accepted sockets beyond it are closed at once).
pub const MAX_SESSIONS: usize = 4096;
/// Commands queued for one session.
const SESSION_QUEUE: usize = 1024;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A server must answer our authenticate within this.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// After the app ends a session: how long the server's replies to what we sent are awaited.
const END_GRACE: Duration = Duration::from_secs(5);
/// Buffer of the in-process pipe that carries an attached (Node-accepted) socket's bytes.
const ATTACH_PIPE: usize = 64 * 1024;
/// Chunks from JS queued for one attached session.
const FEED_QUEUE: usize = 256;

#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Host and port to listen on; `None` when sessions only come attached (a caller's server).
    pub bind: Option<(String, u16)>,
    pub secret: String,
    pub tags: Vec<String>,
    pub tls: Option<TlsServerOptions>,
    pub ping_interval: Option<Duration>,
    pub max_frame: usize,
    pub max_sessions: usize,
}

impl ListenConfig {
    pub fn new(bind: Option<(String, u16)>, secret: impl Into<String>) -> Self {
        ListenConfig { bind, secret: secret.into(), tags: Vec::new(), tls: None, ping_interval: None, max_frame: MAX_RECEIVE_FRAME, max_sessions: MAX_SESSIONS }
    }
}

#[derive(Debug)]
pub enum ListenCommand {
    /// SIP traffic for one session; `Command::Disconnect` ends it (endSession).
    Session { session: SessionId, cmd: Command },
    /// A connection accepted elsewhere (a Node `net.Server` the app supplied): its bytes come
    /// in through `Feed` and go out as `ListenEvent::Bytes`.
    Attach { session: SessionId, remote: String, local: String },
    /// Bytes received on an attached connection; `None` when it has closed.
    Feed { session: SessionId, data: Option<Vec<u8>> },
    /// Stop accepting; with `end_sessions` also end every session. The listener reports
    /// `Stopped` once the last session has ended.
    Close { end_sessions: bool },
}

/// `Session` is as large as `Event` itself; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ListenEvent {
    Listening { address: String, port: u16 },
    /// A server connected (for TLS: completed its handshake). Addresses as `ip:port`.
    Accepted { remote: String, local: String },
    /// Traffic and state of one session; `Event::Closed` is its last event.
    Session(Event),
    /// Bytes to write to an attached connection.
    Bytes(Vec<u8>),
    /// The listener is done: after `Close` and its sessions, or at once when it failed.
    Stopped { error: Option<String> },
}

/// Where the listener delivers its events, each naming its session (0 for the listener).
pub trait ListenSink: Send + Sync + 'static {
    fn emit(&self, session: SessionId, event: ListenEvent) -> impl std::future::Future<Output = ()> + Send;
}

/// Session ids, shared by the listener and its front (which numbers attached connections).
#[derive(Debug, Default)]
pub struct SessionIds(AtomicU32);

impl SessionIds {
    pub fn next(&self) -> SessionId {
        loop {
            let id = self.0.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 {
                return id;
            }
        }
    }
}

pub struct Listener {
    pub commands: mpsc::Sender<ListenCommand>,
    pub ids: Arc<SessionIds>,
}

/// Starts the listener task on `rt`.
pub fn spawn<S: ListenSink>(rt: &tokio::runtime::Handle, config: ListenConfig, sink: Arc<S>) -> Listener {
    let (tx, rx) = mpsc::channel(4096);
    let ids = Arc::new(SessionIds::default());
    rt.spawn(run(config, sink, rx, ids.clone()));
    Listener { commands: tx, ids }
}

/// One session's events, tagged with its id.
struct SessionSink<S> {
    id: SessionId,
    sink: Arc<S>,
}

impl<S: ListenSink> EventSink for SessionSink<S> {
    async fn emit(&self, event: Event) {
        self.sink.emit(self.id, ListenEvent::Session(event)).await;
    }
}

struct Session {
    commands: mpsc::Sender<Command>,
    /// Attached connections: where their incoming bytes go.
    feed: Option<mpsc::Sender<Option<Vec<u8>>>>,
}

async fn run<S: ListenSink>(config: ListenConfig, sink: Arc<S>, mut commands: mpsc::Receiver<ListenCommand>, ids: Arc<SessionIds>) {
    let tls = match config.tls.as_ref().map(TlsServerOptions::server_config) {
        Some(Ok(c)) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(c))),
        Some(Err(e)) => return sink.emit(0, ListenEvent::Stopped { error: Some(format!("srf.listen: {e}")) }).await,
        None => None,
    };
    let mut listener = None;
    if let Some((host, port)) = &config.bind {
        match TcpListener::bind((host.as_str(), *port)).await {
            Ok(l) => {
                let (address, port) = l.local_addr().map_or_else(|_| (host.clone(), *port), |a| (a.ip().to_string(), a.port()));
                tracing::debug!(%address, port, tls = tls.is_some(), "listening for drachtio server connections");
                sink.emit(0, ListenEvent::Listening { address, port }).await;
                listener = Some(l);
            }
            Err(e) => {
                let error = format!("srf.listen: cannot listen on {host}:{port}: {e}");
                return sink.emit(0, ListenEvent::Stopped { error: Some(error) }).await;
            }
        }
    }
    let config = Arc::new(config);
    let mut sessions: HashMap<SessionId, Session> = HashMap::new();
    let mut tasks: JoinSet<SessionId> = JoinSet::new();
    let mut closing = false;
    let mut front_gone = false;
    loop {
        tokio::select! {
            accepted = accept(listener.as_ref()) => {
                let Some((tcp, remote)) = accepted else { continue };
                if sessions.len() >= config.max_sessions {
                    tracing::warn!(%remote, max = config.max_sessions, "too many drachtio server sessions: connection refused");
                    continue;
                }
                let id = next_free(&ids, &sessions);
                let (tx, rx) = mpsc::channel(SESSION_QUEUE);
                sessions.insert(id, Session { commands: tx, feed: None });
                let ctx = SessionCtx { config: config.clone(), sink: SessionSink { id, sink: sink.clone() } };
                tasks.spawn(accepted_session(ctx, tcp, remote, tls.clone(), rx));
            }
            cmd = commands.recv(), if !front_gone => match cmd {
                Some(ListenCommand::Session { session, cmd }) => route(&sessions, &sink, session, cmd).await,
                Some(ListenCommand::Attach { session, remote, local }) => {
                    let ssink = SessionSink { id: session, sink: sink.clone() };
                    if closing || sessions.len() >= config.max_sessions || sessions.contains_key(&session) {
                        tracing::warn!(session, "attached connection refused (listener closing, full, or id in use)");
                        ssink.emit(Event::Closed).await;
                        continue;
                    }
                    let (tx, rx) = mpsc::channel(SESSION_QUEUE);
                    let (feed_tx, feed_rx) = mpsc::channel(FEED_QUEUE);
                    sessions.insert(session, Session { commands: tx, feed: Some(feed_tx) });
                    let ctx = SessionCtx { config: config.clone(), sink: ssink };
                    tasks.spawn(attached_session(ctx, remote, local, feed_rx, rx));
                }
                Some(ListenCommand::Feed { session, data }) => {
                    if let Some(feed) = sessions.get(&session).and_then(|s| s.feed.as_ref()) {
                        if feed.try_send(data).is_err() {
                            tracing::warn!(session, "attached connection: too much unread data, ending the session");
                            end(&sessions, session);
                        }
                    }
                }
                Some(ListenCommand::Close { end_sessions }) => {
                    closing = true;
                    listener = None;
                    if end_sessions {
                        for id in sessions.keys().copied().collect::<Vec<_>>() {
                            end(&sessions, id);
                        }
                    }
                }
                // The front is gone: nobody can use the sessions any more.
                None => {
                    front_gone = true;
                    closing = true;
                    listener = None;
                    for id in sessions.keys().copied().collect::<Vec<_>>() {
                        end(&sessions, id);
                    }
                }
            },
            done = tasks.join_next(), if !tasks.is_empty() => match done {
                Some(Ok(id)) => { sessions.remove(&id); }
                // A session task that panicked: drop whatever no longer has a task.
                Some(Err(e)) => {
                    tracing::error!(error = %e, "a drachtio server session task failed");
                    sessions.retain(|_, s| !s.commands.is_closed());
                }
                None => {}
            },
        }
        if closing && tasks.is_empty() {
            tracing::debug!("listener closed");
            sink.emit(0, ListenEvent::Stopped { error: None }).await;
            return;
        }
    }
}

/// The next connection, or never when there is no listening socket. Accept errors (such as
/// running out of file descriptors) are logged and retried after a pause.
async fn accept(listener: Option<&TcpListener>) -> Option<(TcpStream, SocketAddr)> {
    let Some(l) = listener else { return std::future::pending().await };
    match l.accept().await {
        Ok(pair) => Some(pair),
        Err(e) => {
            tracing::warn!(error = %e, "accepting a drachtio server connection failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

fn next_free(ids: &SessionIds, sessions: &HashMap<SessionId, Session>) -> SessionId {
    loop {
        let id = ids.next();
        if !sessions.contains_key(&id) {
            return id;
        }
    }
}

/// Asks a session to end (best effort: a session whose queue is full is ended by the task).
fn end(sessions: &HashMap<SessionId, Session>, id: SessionId) {
    if let Some(s) = sessions.get(&id) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) = s.commands.try_send(Command::Disconnect) {
            let tx = s.commands.clone();
            tokio::spawn(async move { tx.send(cmd).await });
        }
    }
}

/// Hands a command to its session; one for a session that is gone fails at once.
async fn route<S: ListenSink>(sessions: &HashMap<SessionId, Session>, sink: &Arc<S>, session: SessionId, cmd: Command) {
    let ssink = SessionSink { id: session, sink: sink.clone() };
    let Some(s) = sessions.get(&session) else {
        return proto::fail_offline(&ssink, cmd, &format!("drachtio server session {session} has ended")).await;
    };
    match s.commands.try_send(cmd) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(cmd)) => {
            if let Command::Sip { cmd, .. } | Command::Proxy { cmd, .. } | Command::Stats { cmd } = cmd {
                let reason = format!("too many commands queued for drachtio server session {session}");
                ssink.emit(Event::Failed { cmd, code: FailureCode::Backpressure, reason }).await;
            }
        }
        Err(mpsc::error::TrySendError::Closed(cmd)) => {
            proto::fail_offline(&ssink, cmd, &format!("drachtio server session {session} has ended")).await;
        }
    }
}

struct SessionCtx<S> {
    config: Arc<ListenConfig>,
    sink: SessionSink<S>,
}

async fn accepted_session<S: ListenSink>(ctx: SessionCtx<S>, tcp: TcpStream, remote: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>, commands: mpsc::Receiver<Command>) -> SessionId {
    let id = ctx.sink.id;
    // As drachtio-srf does: no Nagle delay on small frames, keepalive probes.
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(&tcp).set_keepalive(true);
    let local = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(acceptor) => match timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "TLS handshake with a drachtio server failed");
                return id;
            }
            Err(_) => {
                tracing::debug!(%remote, "TLS handshake with a drachtio server timed out");
                return id;
            }
        },
    };
    tracing::debug!(session = id, %remote, "drachtio server connected");
    ctx.sink.sink.emit(id, ListenEvent::Accepted { remote: remote.to_string(), local }).await;
    session(&ctx, stream, commands).await;
    id
}

/// A connection Node accepted: its bytes cross an in-process pipe.
async fn attached_session<S: ListenSink>(ctx: SessionCtx<S>, remote: String, local: String, mut feed: mpsc::Receiver<Option<Vec<u8>>>, commands: mpsc::Receiver<Command>) -> SessionId {
    let id = ctx.sink.id;
    let (ours, theirs) = tokio::io::duplex(ATTACH_PIPE);
    let (mut from_js, mut to_js) = tokio::io::split(theirs);
    let sink = ctx.sink.sink.clone();
    // JS → session: the bytes Node read from its socket.
    let inbound = tokio::spawn(async move {
        while let Some(Some(data)) = feed.recv().await {
            if to_js.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = to_js.shutdown().await;
    });
    // Session → JS: bytes for Node to write to its socket.
    let outbound = tokio::spawn(async move {
        let mut buf = vec![0u8; READ_CHUNK];
        while let Ok(n) = from_js.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.emit(id, ListenEvent::Bytes(buf[..n].to_vec())).await;
        }
    });
    ctx.sink.sink.emit(id, ListenEvent::Accepted { remote, local }).await;
    session(&ctx, Box::new(ours) as Box<dyn Stream>, commands).await;
    inbound.abort();
    // Everything the session wrote reaches JS before its Closed event.
    let _ = outbound.await;
    id
}

/// Runs one session until the server closes it, the app ends it, or it fails; then reports
/// `Closed` and fails whatever was still waiting.
async fn session<S: ListenSink>(ctx: &SessionCtx<S>, stream: Box<dyn Stream>, mut commands: mpsc::Receiver<Command>) {
    let sink = &ctx.sink;
    let config = &ctx.config;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut wire = Wire::new(config.max_frame);
    let auth_id = proto::authenticate(&mut wire, &config.secret, &config.tags);
    let mut authenticated = false;
    // Set when the app ended the session: replies are awaited until then.
    let mut ending: Option<Instant> = None;
    let mut buf = vec![0u8; READ_CHUNK];
    let auth_deadline = Instant::now() + AUTH_TIMEOUT;
    let ping_every = config.ping_interval.unwrap_or(Duration::from_secs(3600));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut unanswered_pings = 0u32;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    let mut result = wire.flush(&mut writer).await;
    while result.is_ok() {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => {
                    tracing::debug!(session = sink.id, "the drachtio server closed the session");
                    break;
                }
                Ok(n) => {
                    unanswered_pings = 0;
                    wire.decoder.feed(&buf[..n]);
                    result = frames(sink, &mut wire, &auth_id, &mut authenticated).await;
                }
                Err(e) => result = Err(format!("read from drachtio server failed: {e}")),
            },
            cmd = commands.recv(), if ending.is_none() => {
                // Every command already waiting goes out in the same write (see conn.rs).
                let mut next = cmd;
                loop {
                    match next {
                        None | Some(Command::Disconnect) => {
                            tracing::debug!(session = sink.id, pending = wire.pending.len(), "ending the session");
                            ending = Some(Instant::now() + END_GRACE);
                            // What was queued goes out first; then the server sees our end of the stream.
                            result = wire.flush(&mut writer).await;
                            let _ = writer.shutdown().await;
                            break;
                        }
                        Some(cmd) if !authenticated => proto::fail_offline(sink, cmd, "the drachtio server has not authenticated this session yet").await,
                        Some(cmd) => {
                            if let Some(other) = wire.command(sink, cmd).await {
                                tracing::debug!(?other, "not used on outbound connections (no routes in listen mode)");
                            }
                        }
                    }
                    match commands.try_recv() {
                        Ok(cmd) => next = Some(cmd),
                        Err(_) => break,
                    }
                }
            },
            _ = ping.tick(), if authenticated && ending.is_none() && config.ping_interval.is_some() => {
                if unanswered_pings >= MISSED_PINGS {
                    result = Err(format!("no answer to {MISSED_PINGS} pings: the drachtio server session is dead"));
                } else {
                    unanswered_pings += 1;
                    wire.queue(&AppMsg::Ping { id: new_id() });
                }
            }
            _ = sweep.tick() => {
                if !authenticated && Instant::now() >= auth_deadline {
                    result = Err("no answer to authenticate from the drachtio server".into());
                }
                wire.expire(sink).await;
                if ending.is_some_and(|deadline| Instant::now() >= deadline) {
                    break;
                }
            }
        }
        match ending {
            Some(_) if wire.pending.len() == 0 => break,
            Some(_) => {}
            None if result.is_ok() => result = wire.flush(&mut writer).await,
            None => {}
        }
    }
    if let Err(message) = result {
        tracing::debug!(session = sink.id, %message, "drachtio server session failed");
        sink.emit(Event::Error { message }).await;
    }
    if ending.is_none() {
        let _ = writer.shutdown().await;
    }
    wire.fail_pending(sink).await;
    // Commands that arrived after the end fail instead of waiting forever.
    commands.close();
    while let Ok(cmd) = commands.try_recv() {
        proto::fail_offline(sink, cmd, &format!("drachtio server session {} has ended", sink.id)).await;
    }
    sink.emit(Event::Closed).await;
}

/// Handles the frames decoded so far: the answer to authenticate, then traffic.
async fn frames<S: EventSink>(sink: &S, wire: &mut Wire, auth_id: &str, authenticated: &mut bool) -> Result<(), String> {
    while let Some(msg) = wire.next_msg()? {
        match msg {
            ServerMsg::Response { request_id, status, args, .. } if request_id == auth_id => {
                let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
                if status == ReplyStatus::Ok {
                    *authenticated = true;
                    sink.emit(Event::Connected { hostports: arg(0), version: arg(1), local_hostports: arg(2) }).await;
                } else {
                    let reason = args.first().cloned().unwrap_or_else(|| "authentication refused".into());
                    sink.emit(Event::AuthFailed { reason }).await;
                }
            }
            other => wire.deliver(sink, other).await,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FrameDecoder;

    struct Sink(mpsc::Sender<(SessionId, ListenEvent)>);

    impl ListenSink for Sink {
        async fn emit(&self, session: SessionId, event: ListenEvent) {
            let _ = self.0.send((session, event)).await;
        }
    }

    /// The scripted drachtio server's side of one connection.
    struct Server {
        tcp: TcpStream,
        decoder: FrameDecoder,
    }

    impl Server {
        async fn send(&mut self, payload: &str) {
            let frame = format!("{}#{payload}", payload.len());
            self.tcp.write_all(frame.as_bytes()).await.expect("write");
        }

        /// The app's next frame, or None when it closed the connection.
        async fn next(&mut self) -> Option<AppMsg> {
            let mut buf = [0u8; 4096];
            loop {
                if let Some(frame) = self.decoder.next_frame().expect("framing") {
                    return Some(AppMsg::parse(&frame).expect("app frame"));
                }
                let n = timeout(Duration::from_secs(5), self.tcp.read(&mut buf)).await.expect("frame in time").expect("read");
                if n == 0 {
                    return None;
                }
                self.decoder.feed(&buf[..n]);
            }
        }
    }

    async fn event(rx: &mut mpsc::Receiver<(SessionId, ListenEvent)>) -> (SessionId, ListenEvent) {
        timeout(Duration::from_secs(5), rx.recv()).await.expect("event in time").expect("listener running")
    }

    const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[tokio::test]
    async fn a_session_authenticates_first_answers_on_its_socket_and_ends_when_asked() {
        let (tx, mut rx) = mpsc::channel(64);
        let mut config = ListenConfig::new(Some(("127.0.0.1".into(), 0)), "cymru");
        config.tags = vec!["t1".into()];
        let listener = spawn(&tokio::runtime::Handle::current(), config, Arc::new(Sink(tx)));
        let port = match event(&mut rx).await {
            (0, ListenEvent::Listening { port, .. }) => port,
            other => panic!("expected listening, got {other:?}"),
        };
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        let mut server = Server { tcp, decoder: FrameDecoder::new(1 << 20) };

        // authenticate comes first, unasked.
        let Some(AppMsg::Authenticate { id, secret, tags }) = server.next().await else { panic!("authenticate expected") };
        assert_eq!((secret.as_str(), tags), ("cymru", vec!["t1".to_owned()]));
        let session = match event(&mut rx).await {
            (id, ListenEvent::Accepted { remote, .. }) if id != 0 => {
                assert!(remote.starts_with("127.0.0.1:"));
                id
            }
            other => panic!("expected accepted, got {other:?}"),
        };
        server.send(&format!("s1|response|{id}|OK|udp/127.0.0.1:5060|v0.9-test|udp/127.0.0.1:5060")).await;
        assert!(matches!(event(&mut rx).await, (s, ListenEvent::Session(Event::Connected { .. })) if s == session));

        // A request arrives as a sip frame; the answer goes back on this socket.
        server.send(&format!("s2|sip|network|100|udp|127.0.0.1|5090|12:00:00.0|t1||127.0.0.1|5060|\r\n{OPTIONS}")).await;
        assert!(matches!(event(&mut rx).await, (s, ListenEvent::Session(Event::Sip { .. })) if s == session));
        let answer = Command::Sip { cmd: 7, txn_id: "t1".into(), dialog_id: String::new(), route_uri: None, raw: b"SIP/2.0 200 OK\r\n\r\n".to_vec(), answer_bye: false };
        listener.commands.send(ListenCommand::Session { session, cmd: answer }).await.expect("send");
        let Some(AppMsg::Sip { id: sent, txn_id, .. }) = server.next().await else { panic!("the 200 expected") };
        assert_eq!(txn_id, "t1");

        // endSession: the reply to the 200 is still delivered, then the socket closes.
        listener.commands.send(ListenCommand::Session { session, cmd: Command::Disconnect }).await.expect("send");
        server.send(&format!("s3|response|{sent}|OK|application|100|udp|127.0.0.1|5090|12:00:00.1|t1|||Msg sent:|")).await;
        assert!(matches!(event(&mut rx).await, (_, ListenEvent::Session(Event::Reply { cmd: 7, .. }))));
        assert!(server.next().await.is_none(), "the app closed the session");
        assert!(matches!(event(&mut rx).await, (s, ListenEvent::Session(Event::Closed)) if s == session));

        // A command for a session that is gone fails at once.
        let late = Command::Sip { cmd: 8, txn_id: String::new(), dialog_id: String::new(), route_uri: None, raw: Vec::new(), answer_bye: false };
        listener.commands.send(ListenCommand::Session { session, cmd: late }).await.expect("send");
        assert!(matches!(event(&mut rx).await, (_, ListenEvent::Session(Event::Failed { cmd: 8, code: FailureCode::NotConnected, .. }))));

        listener.commands.send(ListenCommand::Close { end_sessions: true }).await.expect("send");
        assert!(matches!(event(&mut rx).await, (0, ListenEvent::Stopped { error: None })));
    }

    #[tokio::test]
    async fn a_port_in_use_stops_the_listener_with_the_reason() {
        let taken = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let (tx, mut rx) = mpsc::channel(8);
        let _listener = spawn(&tokio::runtime::Handle::current(), ListenConfig::new(Some(("127.0.0.1".into(), port)), "s"), Arc::new(Sink(tx)));
        match event(&mut rx).await {
            (0, ListenEvent::Stopped { error: Some(e) }) => assert!(e.contains("cannot listen on"), "{e}"),
            other => panic!("expected stopped, got {other:?}"),
        }
    }
}
