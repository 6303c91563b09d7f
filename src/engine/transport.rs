//! SIP transports (RFC 3261 §18): UDP sockets and TCP listeners/connections. Each socket or
//! connection runs in its own task that reads, frames (TCP) and hands raw messages to the core;
//! the core sends through `Transports`, which never blocks it.

use super::conn_limit::{PerAddress, Slot};
use crate::sip::stream::StreamDecoder;
use crate::sip::Limits;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }

    pub fn via_token(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        if s.eq_ignore_ascii_case("udp") {
            Some(Protocol::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Some(Protocol::Tcp)
        } else {
            None
        }
    }
}

/// A message read from the network.
#[derive(Debug)]
pub struct Inbound {
    pub protocol: Protocol,
    /// The listening point (UDP) or our end of the connection (TCP).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Bounds on connections: one peer cannot exhaust the engine.
const MAX_TCP_CONNECTIONS: usize = 4096;
/// Connections one remote address may have opened to us at once.
const MAX_TCP_PER_ADDRESS: usize = 256;
/// Default for how long a TCP peer may take over a message it has started, and over the first
/// message on a connection it opened: slow senders and idle floods cannot hold slots forever.
pub const TCP_MESSAGE_TIMEOUT: Duration = Duration::from_secs(32);
const TCP_WRITE_QUEUE: usize = 256;
const UDP_MAX_DATAGRAM: usize = 65_535;

struct TcpConn {
    writer: mpsc::Sender<Vec<u8>>,
}

/// The engine's sockets. Cheap to clone; shared between the core and transport tasks.
#[derive(Clone)]
pub struct Transports {
    /// UDP sockets with their bound addresses (asked once: `local_addr` is a system call).
    udp: Arc<Vec<(Arc<UdpSocket>, SocketAddr)>>,
    tcp_listen: Arc<Vec<SocketAddr>>,
    conns: Arc<Mutex<HashMap<SocketAddr, TcpConn>>>,
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
    pub async fn bind(points: &[(Protocol, SocketAddr)], inbound: mpsc::Sender<Inbound>, limits: Limits, message_timeout: Duration) -> Result<(Transports, Vec<(Protocol, SocketAddr)>), String> {
        let mut udp = Vec::new();
        let mut listeners = Vec::new();
        let mut bound = Vec::new();
        for &(protocol, addr) in points {
            match protocol {
                Protocol::Udp => {
                    let s = bind_udp(addr).map_err(|e| format!("cannot bind udp/{addr}: {e}"))?;
                    let local = s.local_addr().map_err(|e| e.to_string())?;
                    bound.push((Protocol::Udp, local));
                    udp.push((Arc::new(s), local));
                }
                Protocol::Tcp => {
                    let l = TcpListener::bind(addr).await.map_err(|e| format!("cannot bind tcp/{addr}: {e}"))?;
                    let local = l.local_addr().map_err(|e| e.to_string())?;
                    bound.push((Protocol::Tcp, local));
                    listeners.push(l);
                }
            }
        }
        let t = Transports {
            udp: Arc::new(udp),
            tcp_listen: Arc::new(listeners.iter().filter_map(|l| l.local_addr().ok()).collect()),
            conns: Arc::new(Mutex::new(HashMap::new())),
            inbound,
            limits,
            per_address: PerAddress::new(MAX_TCP_PER_ADDRESS),
            message_timeout,
            stop: tokio::sync::watch::channel(false).0,
            #[cfg(test)]
            capture: None,
        };
        for (socket, local) in t.udp.iter() {
            tokio::spawn(udp_reader(socket.clone(), *local, t.clone()));
        }
        for l in listeners {
            tokio::spawn(tcp_acceptor(l, t.clone()));
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
            Protocol::Tcp => self.tcp_listen.iter().find(|a| a.is_ipv4() == to.is_ipv4()).copied(),
        }
    }

    /// Sends one message. UDP goes out at once; TCP reuses a connection to the peer or opens
    /// one, without making the caller wait for the connect.
    pub fn send(&self, protocol: Protocol, to: SocketAddr, local: Option<SocketAddr>, bytes: Vec<u8>) -> Result<(), String> {
        #[cfg(test)]
        if let Some(c) = &self.capture {
            let sent = Sent { at: tokio::time::Instant::now(), protocol, to, bytes };
            c.sent.lock().map_err(|_| "capture poisoned")?.push(sent);
            return Ok(());
        }
        match protocol {
            Protocol::Udp => {
                let (socket, _) = self.udp_for(to, local).ok_or("no UDP listening point for this address family")?;
                match socket.try_send_to(&bytes, to) {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let socket = socket.clone();
                        tokio::spawn(async move { socket.send_to(&bytes, to).await });
                        Ok(())
                    }
                    Err(e) => Err(format!("send to udp/{to} failed: {e}")),
                }
            }
            Protocol::Tcp => self.send_tcp(to, bytes),
        }
    }

    fn send_tcp(&self, to: SocketAddr, bytes: Vec<u8>) -> Result<(), String> {
        let mut conns = self.conns.lock().map_err(|_| "connection table poisoned")?;
        if let Some(c) = conns.get(&to) {
            return c.writer.try_send(bytes).map_err(|_| format!("tcp/{to}: write queue full or closed"));
        }
        if conns.len() >= MAX_TCP_CONNECTIONS {
            return Err("too many TCP connections".into());
        }
        let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE);
        let _ = tx.try_send(bytes);
        conns.insert(to, TcpConn { writer: tx });
        let t = self.clone();
        tokio::spawn(async move {
            match TcpStream::connect(to).await {
                Ok(stream) => run_tcp(stream, to, rx, t, None).await,
                Err(e) => {
                    tracing::warn!(peer = %to, error = %e, "tcp connect failed");
                    t.forget(to);
                }
            }
        });
        Ok(())
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

    fn forget(&self, peer: SocketAddr) {
        if let Ok(mut c) = self.conns.lock() {
            c.remove(&peer);
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
            tcp_listen: Arc::new(points.iter().filter(|(p, _)| *p == Protocol::Tcp).map(|(_, a)| *a).collect()),
            conns: Arc::new(Mutex::new(HashMap::new())),
            inbound: mpsc::channel(1).0,
            limits: Limits::default(),
            per_address: PerAddress::new(MAX_TCP_PER_ADDRESS),
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
        let msg = Inbound { protocol: Protocol::Udp, local, remote, bytes: buf[..n].to_vec() };
        if t.inbound.send(msg).await.is_err() {
            return;
        }
    }
}

async fn tcp_acceptor(listener: TcpListener, t: Transports) {
    let mut stop = t.stopped();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, peer)) = accepted else { continue };
        // Dropping the stream closes it.
        let Some(slot) = t.per_address.claim(peer.ip()) else {
            tracing::warn!(peer = %peer, "too many tcp connections from this address; closing");
            continue;
        };
        let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE);
        {
            let Ok(mut conns) = t.conns.lock() else { return };
            if conns.len() >= MAX_TCP_CONNECTIONS {
                drop(conns);
                tracing::warn!(peer = %peer, "too many tcp connections; closing");
                continue;
            }
            conns.insert(peer, TcpConn { writer: tx });
        }
        tokio::spawn(run_tcp(stream, peer, rx, t.clone(), Some(slot)));
    }
}

/// One TCP connection: frames what it reads into messages, writes what the core queues.
/// `slot` is the per-address slot of a connection the peer opened (None for ours).
async fn run_tcp(stream: TcpStream, peer: SocketAddr, mut writes: mpsc::Receiver<Vec<u8>>, t: Transports, slot: Option<Slot>) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let (mut reader, mut writer) = stream.into_split();
    let mut decoder = StreamDecoder::new(t.limits);
    let mut buf = vec![0u8; 16 * 1024];
    let mut stop = t.stopped();
    // Armed while a message is due: the first one on a connection the peer opened, and any
    // message begun. Trickling bytes does not push it back; completing a message does.
    let deadline = tokio::time::sleep(t.message_timeout);
    tokio::pin!(deadline);
    let mut armed = slot.is_some();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = &mut deadline, if armed => {
                tracing::warn!(peer = %peer, "closing tcp connection: no complete message in time");
                break;
            }
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                decoder.feed(&buf[..n]);
                let mut completed = false;
                loop {
                    match decoder.next_message() {
                        Ok(Some(bytes)) => {
                            completed = true;
                            let msg = Inbound { protocol: Protocol::Tcp, local, remote: peer, bytes };
                            if t.inbound.send(msg).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // Framing can no longer be trusted: close the connection (§18.3).
                            tracing::warn!(peer = %peer, error = %e, "closing tcp connection");
                            t.forget(peer);
                            return;
                        }
                    }
                }
                // RFC 5626 §4.4.1: a CRLFCRLF ping gets a CRLF pong.
                for _ in 0..decoder.take_pings() {
                    if writer.write_all(b"\r\n").await.is_err() {
                        break;
                    }
                }
                let partial = decoder.buffered() > 0;
                if partial && (completed || !armed) {
                    deadline.as_mut().reset(tokio::time::Instant::now() + t.message_timeout);
                }
                armed = partial || (armed && !completed);
            }
            out = writes.recv() => match out {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    t.forget(peer);
}
