//! SIP transports (RFC 3261 §18): UDP sockets, and listeners and connections for the stream
//! transports: TCP, TLS (§26), WebSocket and secure WebSocket (RFC 7118). Each socket or
//! connection runs in its own task that reads, frames and hands raw messages to the core; the
//! core sends through `Transports`, which never blocks it. How a connection frames messages is
//! in stream.rs (TCP, TLS) and ws.rs (WS, WSS).

mod stream;
mod ws;

use super::conn_limit::{PerAddress, Slot};
use crate::sip::Limits;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::Ws => "ws",
            Protocol::Wss => "wss",
        }
    }

    pub fn via_token(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Ws => "WS",
            Protocol::Wss => "WSS",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        [Protocol::Udp, Protocol::Tcp, Protocol::Tls, Protocol::Ws, Protocol::Wss].into_iter().find(|p| s.eq_ignore_ascii_case(p.as_str()))
    }

    /// UDP is the only unreliable transport: retransmission timers run only for it (§17).
    pub fn is_reliable(self) -> bool {
        self != Protocol::Udp
    }

    /// WebSocket peers can only be reached over the connection they opened.
    pub fn is_websocket(self) -> bool {
        matches!(self, Protocol::Ws | Protocol::Wss)
    }

    fn is_secure(self) -> bool {
        matches!(self, Protocol::Tls | Protocol::Wss)
    }

    /// The port of a URI that names none (RFC 3261 §19.1.2, RFC 7118 §5).
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Udp | Protocol::Tcp => 5060,
            Protocol::Tls => 5061,
            Protocol::Ws => 80,
            Protocol::Wss => 443,
        }
    }

    /// The transport a URI asks for: its `transport` parameter, made secure by `sips:`
    /// (RFC 3261 §26.2.2: sips over "tcp" is TLS), UDP (TLS for sips) when absent.
    pub fn for_uri(transport: Option<&str>, secure: bool) -> Option<Protocol> {
        let named = match transport {
            Some(t) => Protocol::parse(t)?,
            None => Protocol::Udp,
        };
        Some(match (named, secure) {
            (Protocol::Udp | Protocol::Tcp, true) => Protocol::Tls,
            (Protocol::Ws, true) => Protocol::Wss,
            (p, _) => p,
        })
    }

    /// The `;transport=` parameter of our URIs (Contact, Record-Route); none for UDP.
    pub fn uri_param(self) -> &'static str {
        match self {
            Protocol::Udp => "",
            Protocol::Tcp => ";transport=tcp",
            Protocol::Tls => ";transport=tls",
            Protocol::Ws => ";transport=ws",
            Protocol::Wss => ";transport=wss",
        }
    }
}

/// A message read from the network.
#[derive(Debug)]
pub struct Inbound {
    pub protocol: Protocol,
    /// The listening point (UDP) or our end of the connection (stream transports).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: Vec<u8>,
    pub kind: InboundKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundKind {
    Message,
    /// Only the header section of a message over the size limit, to be refused with 513.
    OversizedHead,
    /// No connection could be opened to `remote` (no bytes): what was sent there is lost, and
    /// requests waiting on it fail at once (§8.1.3.1) instead of timing out.
    Unreachable,
}

/// TLS for SIP over TLS and WSS: our certificate, for connections peers open (none: no tls or
/// wss contact can be served), and how the servers we connect to are verified.
#[derive(Clone)]
pub struct TlsContext {
    pub server: Option<Arc<rustls::ServerConfig>>,
    pub client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext").field("server", &self.server.is_some()).finish_non_exhaustive()
    }
}

/// Bounds on connections: one peer cannot exhaust the engine.
const MAX_CONNECTIONS: usize = 4096;
/// Connections one remote address may have opened to us at once.
const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Default for how long a stream peer may take over a message it has started, and over the
/// first message on a connection it opened (including a TLS handshake or WebSocket upgrade):
/// slow senders and idle floods cannot hold slots forever.
pub const TCP_MESSAGE_TIMEOUT: Duration = Duration::from_secs(32);
const WRITE_QUEUE: usize = 256;
/// How long a connection closing on an oversized request waits for the core's 513.
const OVERSIZED_ANSWER_WAIT: Duration = Duration::from_millis(500);
const UDP_MAX_DATAGRAM: usize = 65_535;

/// A connection's queue of messages to write.
struct Conn {
    writer: mpsc::Sender<Bytes>,
}

type ConnKey = (Protocol, SocketAddr);

/// The engine's sockets. Cheap to clone; shared between the core and transport tasks.
#[derive(Clone)]
pub struct Transports {
    /// UDP sockets with their bound addresses (asked once: `local_addr` is a system call).
    udp: Arc<Vec<(Arc<UdpSocket>, SocketAddr)>>,
    /// Listening points of the stream transports.
    stream_listen: Arc<Vec<(Protocol, SocketAddr)>>,
    conns: Arc<Mutex<HashMap<ConnKey, Conn>>>,
    tls: Option<TlsContext>,
    /// The names TLS peers were found by (DNS): what their certificates must name (RFC 5922
    /// §7.2); a peer not in here is verified by its IP address.
    tls_names: Arc<Mutex<HashMap<SocketAddr, String>>>,
    inbound: mpsc::Sender<Inbound>,
    limits: Limits,
    per_address: PerAddress,
    message_timeout: Duration,
    /// Set when the engine stops: every socket task ends and its socket closes.
    stop: tokio::sync::watch::Sender<bool>,
    /// Tests only: record what is sent instead of sending it (see `Transports::capture`).
    #[cfg(test)]
    capture: Option<Capture>,
}

impl Transports {
    /// Binds every listening point; any failure aborts the whole start.
    pub async fn bind(points: &[(Protocol, SocketAddr)], tls: Option<TlsContext>, inbound: mpsc::Sender<Inbound>, limits: Limits, message_timeout: Duration) -> Result<(Transports, Vec<(Protocol, SocketAddr)>), String> {
        let mut udp = Vec::new();
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for &(protocol, addr) in points {
            if protocol.is_secure() && tls.as_ref().and_then(|t| t.server.as_ref()).is_none() {
                return Err(format!("a {} contact needs a TLS certificate and key", protocol.as_str()));
            }
            if protocol == Protocol::Udp {
                let s = bind_udp(addr).map_err(|e| format!("cannot bind udp/{addr}: {e}"))?;
                let local = s.local_addr().map_err(|e| e.to_string())?;
                bound.push((Protocol::Udp, local));
                udp.push((Arc::new(s), local));
            } else {
                let l = TcpListener::bind(addr).await.map_err(|e| format!("cannot bind {}/{addr}: {e}", protocol.as_str()))?;
                let local = l.local_addr().map_err(|e| e.to_string())?;
                bound.push((protocol, local));
                listeners.push((protocol, l, local));
            }
        }
        let t = Transports {
            udp: Arc::new(udp),
            stream_listen: Arc::new(listeners.iter().map(|(p, _, a)| (*p, *a)).collect()),
            conns: Arc::new(Mutex::new(HashMap::new())),
            tls,
            tls_names: Arc::new(Mutex::new(HashMap::new())),
            inbound,
            limits,
            per_address: PerAddress::new(MAX_CONNECTIONS_PER_ADDRESS),
            message_timeout,
            stop: tokio::sync::watch::channel(false).0,
            #[cfg(test)]
            capture: None,
        };
        for (socket, local) in t.udp.iter() {
            tokio::spawn(udp_reader(socket.clone(), *local, t.clone()));
        }
        for (protocol, l, _) in listeners {
            tokio::spawn(acceptor(protocol, l, t.clone()));
        }
        Ok((t, bound))
    }

    /// The UDP socket to send from towards `to` (same address family), preferring `local`.
    fn udp_for(&self, to: SocketAddr, local: Option<SocketAddr>) -> Option<&(Arc<UdpSocket>, SocketAddr)> {
        local
            .and_then(|l| self.udp.iter().find(|(_, a)| *a == l))
            .or_else(|| self.udp.iter().find(|(_, a)| a.is_ipv4() == to.is_ipv4()))
    }

    /// Our address for messages sent over `protocol` towards `to`: what goes in Via and Contact.
    pub fn local_for(&self, protocol: Protocol, to: SocketAddr) -> Option<SocketAddr> {
        #[cfg(test)]
        if let Some(c) = &self.capture {
            return c.points.iter().find(|(p, a)| *p == protocol && a.is_ipv4() == to.is_ipv4()).map(|(_, a)| *a);
        }
        match protocol {
            Protocol::Udp => self.udp_for(to, None).map(|(_, a)| *a),
            _ => self.stream_listen.iter().find(|(p, a)| *p == protocol && a.is_ipv4() == to.is_ipv4()).map(|(_, a)| *a),
        }
    }

    /// Sends one message. UDP goes out at once; TCP and TLS reuse a connection to the peer or
    /// open one, without making the caller wait for the connect; WebSocket peers are reached
    /// only over a connection they opened.
    pub fn send(&self, protocol: Protocol, to: SocketAddr, local: Option<SocketAddr>, bytes: Bytes) -> Result<(), String> {
        #[cfg(test)]
        if let Some(c) = &self.capture {
            let sent = Sent { at: tokio::time::Instant::now(), protocol, to, bytes: bytes.to_vec() };
            c.sent.lock().map_err(|_| "capture poisoned")?.push(sent);
            return Ok(());
        }
        if protocol == Protocol::Udp {
            let (socket, _) = self.udp_for(to, local).ok_or("no UDP listening point for this address family")?;
            return match socket.try_send_to(&bytes, to) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let socket = socket.clone();
                    tokio::spawn(async move { socket.send_to(&bytes, to).await });
                    Ok(())
                }
                Err(e) => Err(format!("send to udp/{to} failed: {e}")),
            };
        }
        let mut conns = self.conns.lock().map_err(|_| "connection table poisoned")?;
        if let Some(c) = conns.get(&(protocol, to)) {
            return c.writer.try_send(bytes).map_err(|e| {
                if matches!(e, mpsc::error::TrySendError::Closed(_)) {
                    self.unreachable(protocol, to);
                }
                format!("{}/{to}: write queue full or closed", protocol.as_str())
            });
        }
        if protocol.is_websocket() {
            self.unreachable(protocol, to);
            return Err(format!("no {} connection from {to}", protocol.as_str()));
        }
        if conns.len() >= MAX_CONNECTIONS {
            return Err("too many connections".into());
        }
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let _ = tx.try_send(bytes);
        conns.insert((protocol, to), Conn { writer: tx });
        tokio::spawn(connect(protocol, to, rx, self.clone()));
        Ok(())
    }

    /// Remembers that `addr` was found by looking up `name`, for TLS connections to it.
    pub fn name_tls_peer(&self, addr: SocketAddr, name: &str) {
        if let Ok(mut names) = self.tls_names.lock() {
            if names.len() >= MAX_CONNECTIONS {
                names.clear();
            }
            names.insert(addr, name.to_owned());
        }
    }

    /// Tells the core that what was just sent to `to` cannot arrive: requests waiting on it
    /// fail at once (it is read after the send that failed, so their transactions exist).
    fn unreachable(&self, protocol: Protocol, to: SocketAddr) {
        let local = self.local_for(protocol, to).unwrap_or(to);
        let _ = self.inbound.try_send(Inbound { protocol, local, remote: to, bytes: Vec::new(), kind: InboundKind::Unreachable });
    }

    /// Closes every socket and connection.
    pub fn close(&self) {
        let _ = self.stop.send(true);
        if let Ok(mut c) = self.conns.lock() {
            c.clear();
        }
    }

    fn stopped(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Drops a connection's entry once its task has ended (its queue is closed), and not a
    /// newer connection to the same peer that took its place.
    fn forget(&self, protocol: Protocol, peer: SocketAddr) {
        if let Ok(mut c) = self.conns.lock() {
            if c.get(&(protocol, peer)).is_some_and(|c| c.writer.is_closed()) {
                c.remove(&(protocol, peer));
            }
        }
    }
}

/// A message a capturing `Transports` recorded instead of sending.
#[cfg(test)]
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: tokio::time::Instant,
    pub protocol: Protocol,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

#[cfg(test)]
#[derive(Clone)]
struct Capture {
    points: Vec<(Protocol, SocketAddr)>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

#[cfg(test)]
impl Transports {
    /// Transports without sockets, so the core's state machines can be driven on a paused
    /// clock: `points` are the listening points it reports; what is sent lands in the list.
    pub fn capture(points: &[(Protocol, SocketAddr)]) -> (Transports, Arc<Mutex<Vec<Sent>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let t = Transports {
            udp: Arc::new(Vec::new()),
            stream_listen: Arc::new(points.iter().filter(|(p, _)| p.is_reliable()).copied().collect()),
            conns: Arc::new(Mutex::new(HashMap::new())),
            tls: None,
            tls_names: Arc::new(Mutex::new(HashMap::new())),
            inbound: mpsc::channel(1).0,
            limits: Limits::default(),
            per_address: PerAddress::new(MAX_CONNECTIONS_PER_ADDRESS),
            message_timeout: TCP_MESSAGE_TIMEOUT,
            stop: tokio::sync::watch::channel(false).0,
            capture: Some(Capture { points: points.to_vec(), sent: sent.clone() }),
        };
        (t, sent)
    }
}

/// Bursts of thousands of calls a second overflow the default UDP receive buffer (~200 KiB)
/// while the reader task is between reads; the kernel then drops datagrams and peers
/// retransmit. Ask for a larger one (the kernel caps it at net.core.rmem_max).
const UDP_BUFFER: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

async fn udp_reader(socket: Arc<UdpSocket>, local: SocketAddr, t: Transports) {
    let mut buf = vec![0u8; UDP_MAX_DATAGRAM + 1];
    let mut stop = t.stopped();
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = stop.changed() => return,
        };
        let (n, remote) = match received {
            Ok(r) => r,
            // ICMP port-unreachable from an earlier send surfaces here on some systems.
            Err(_) => continue,
        };
        if n > t.limits.max_message {
            tracing::debug!(peer = %remote, bytes = n, "dropping oversized datagram");
            continue;
        }
        if buf[..n].iter().all(|b| matches!(b, b'\r' | b'\n' | 0)) {
            continue; // keep-alive
        }
        let msg = Inbound { protocol: Protocol::Udp, local, remote, bytes: buf[..n].to_vec(), kind: InboundKind::Message };
        if t.inbound.send(msg).await.is_err() {
            return;
        }
    }
}

async fn acceptor(protocol: Protocol, listener: TcpListener, t: Transports) {
    let mut stop = t.stopped();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, peer)) = accepted else { continue };
        // Dropping the stream closes it.
        let Some(slot) = t.per_address.claim(peer.ip()) else {
            tracing::warn!(peer = %peer, "too many {} connections from this address; closing", protocol.as_str());
            continue;
        };
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        {
            let Ok(mut conns) = t.conns.lock() else { return };
            if conns.len() >= MAX_CONNECTIONS {
                drop(conns);
                tracing::warn!(peer = %peer, "too many connections; closing");
                continue;
            }
            conns.insert((protocol, peer), Conn { writer: tx });
        }
        tokio::spawn(accepted_connection(protocol, tcp, peer, rx, t.clone(), slot));
    }
}

/// A connection a peer opened: the TLS handshake and WebSocket upgrade it owes us, bounded by
/// the message timeout, then its messages.
async fn accepted_connection(protocol: Protocol, tcp: TcpStream, peer: SocketAddr, writes: mpsc::Receiver<Bytes>, t: Transports, slot: Slot) {
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().unwrap_or(peer);
    let link = Link { protocol, local, peer, writes, t: t.clone(), slot: Some(slot) };
    let server = t.tls.as_ref().and_then(|c| c.server.clone());
    match (protocol, server) {
        (Protocol::Tcp, _) => stream::run(tcp, link).await,
        (Protocol::Ws, _) => ws::run(tcp, link).await,
        (Protocol::Tls | Protocol::Wss, Some(config)) => {
            let handshake = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
            match tokio::time::timeout(t.message_timeout, handshake).await {
                Ok(Ok(tls)) if protocol == Protocol::Tls => stream::run(tls, link).await,
                Ok(Ok(tls)) => ws::run(tls, link).await,
                Ok(Err(e)) => tracing::warn!(peer = %peer, error = %e, "closing {} connection: TLS handshake failed", protocol.as_str()),
                Err(_) => tracing::warn!(peer = %peer, "closing {} connection: no TLS handshake in time", protocol.as_str()),
            }
        }
        _ => {}
    }
    t.forget(protocol, peer);
}

/// A connection we open to send a request (TCP, TLS): connect, handshake, then as any other.
async fn connect(protocol: Protocol, to: SocketAddr, writes: mpsc::Receiver<Bytes>, t: Transports) {
    if let Err(e) = open(protocol, to, writes, &t).await {
        tracing::warn!(peer = %to, error = %e, "{} connect failed", protocol.as_str());
        t.forget(protocol, to);
        t.unreachable(protocol, to);
        return;
    }
    t.forget(protocol, to);
}

async fn open(protocol: Protocol, to: SocketAddr, writes: mpsc::Receiver<Bytes>, t: &Transports) -> Result<(), String> {
    let tcp = match tokio::time::timeout(t.message_timeout, TcpStream::connect(to)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("timed out".into()),
    };
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let link = Link { protocol, local, peer: to, writes, t: t.clone(), slot: None };
    if protocol != Protocol::Tls {
        stream::run(tcp, link).await;
        return Ok(());
    }
    let client = t.tls.as_ref().map(|c| c.client.clone()).ok_or("TLS is not configured")?;
    let known = t.tls_names.lock().ok().and_then(|n| n.get(&to).cloned());
    let name = match known.map(rustls::pki_types::ServerName::try_from) {
        Some(Ok(name)) => name,
        _ => rustls::pki_types::ServerName::IpAddress(to.ip().into()),
    };
    match tokio::time::timeout(t.message_timeout, tokio_rustls::TlsConnector::from(client).connect(name, tcp)).await {
        Ok(Ok(tls)) => {
            stream::run(tls, link).await;
            Ok(())
        }
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err("no TLS handshake in time".into()),
    }
}

/// What a connection task needs, whatever its framing.
struct Link {
    protocol: Protocol,
    /// Our end of the connection.
    local: SocketAddr,
    peer: SocketAddr,
    writes: mpsc::Receiver<Bytes>,
    t: Transports,
    /// The per-address slot of a connection the peer opened (None for ours).
    slot: Option<Slot>,
}

impl Link {
    /// Hands a message to the core; false when the engine has stopped.
    async fn deliver(&self, bytes: Vec<u8>) -> bool {
        let msg = Inbound { protocol: self.protocol, local: self.local, remote: self.peer, bytes, kind: InboundKind::Message };
        self.t.inbound.send(msg).await.is_ok()
    }

    /// Hands the core the header section of an oversized request, then waits briefly for its
    /// answer (513), which is what this connection writes before it closes.
    async fn refuse_oversized(&mut self, head: Vec<u8>) -> Option<Bytes> {
        let msg = Inbound { protocol: self.protocol, local: self.local, remote: self.peer, bytes: head, kind: InboundKind::OversizedHead };
        self.t.inbound.send(msg).await.ok()?;
        tokio::time::timeout(OVERSIZED_ANSWER_WAIT, self.writes.recv()).await.ok().flatten()
    }
}
