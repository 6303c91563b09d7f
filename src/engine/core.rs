//! The core task: owns the transaction and dialog tables and every timer, and is the only
//! place they change. Messages from transports and commands from apps are handled one at a
//! time, in order; sending never waits (transports queue), so one slow peer cannot stall it.
//! Server-side handling is in server.rs, client-side in client.rs.

use super::apps::{AppId, Apps};
use super::build::Draft;
use super::client::ClientTxn;
use super::dialog::Dialog;
use super::proxy::ProxyTxn;
use super::server::ServerTxn;
use super::session_timer::Sessions;
use super::table::Table;
use super::transport::{Inbound, InboundKind, Protocol, Transports};
use super::{util, CoreMsg, EngineConfig, VERSION};
use crate::app::{CmdId, Command, Event};
use crate::sip::validate::{validate, validate_except_request_uri};
use crate::sip::{parse, ErrorKind, Framing, HeaderName, Message, ParseError};
use crate::wire::{CdrKind, ReplyStatus, SipMeta};
use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::time::{delay_queue, DelayQueue};

/// Where a message came from, and so where its answers go.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub protocol: Protocol,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

#[derive(Debug, Clone)]
pub enum Timer {
    /// Timer G (INVITE non-2xx final, reliable 1xx) on UDP.
    ServerRetransmit(String),
    /// An INVITE's 100 Trying, unless something was answered first.
    Trying(String),
    /// Timers H and L, and the wait for an app that never answers.
    ServerTimeout(String),
    /// Timers I and J: the absorbing period is over.
    ServerCleanup(String),
    /// Timers A and E.
    ClientRetransmit(String),
    /// Timers B and F.
    ClientTimeout(String),
    /// Timer C: an INVITE answered only provisionally for too long.
    ClientProceedingTimeout(String),
    /// Timers D and K.
    ClientCleanup(String),
    /// Our 2xx to an INVITE, until the ACK (§13.3.1.4).
    Retransmit2xx(String),
    /// No ACK for our 2xx within 64×T1: the call is torn down.
    AckTimeout(String),
    /// A dialog's session timer (RFC 4028): refresh it, or end it (session_timer.rs).
    Session(String),
    /// A proxy branch's `provisionalTimeout` or `finalTimeout` (proxy.rs).
    ProxyBranch { proxy: String, client: String, provisional: bool },
}

/// How often the engine looks whether memory can be given back (memory.rs).
const TRIM_CHECK: Duration = Duration::from_secs(5);

/// The transaction id an app gets with a BYE it must not answer: one the engine sent itself
/// (wire-protocol.md §6), or one it answered for the app's Dialog (`Command::Sip`'s answer_bye).
pub(super) const UNSOLICITED: &str = "unsolicited";

pub struct Core {
    pub(super) config: EngineConfig,
    pub(super) transports: Transports,
    pub(super) bound: Vec<(Protocol, SocketAddr)>,
    hostports: String,
    pub(super) apps: Apps,
    pub(super) timers: DelayQueue<Timer>,
    // Transactions and dialogs are boxed: tables grow by doubling, and a table of large
    // inline values holds that much memory in empty slots (tens of MB at 2,000 calls/s).
    pub(super) server: Table<String, Box<ServerTxn>>,
    /// (branch, sent-by, method) → server transaction id (§17.2.3).
    pub(super) server_keys: Table<super::server::ServerKey, String>,
    pub(super) client: Table<String, Box<ClientTxn>>,
    /// (branch, method) → client transaction id (§17.1.3).
    pub(super) client_keys: Table<(String, String), String>,
    pub(super) dialogs: Table<String, Box<Dialog>>,
    /// (Call-ID, our tag) → dialog id, to match requests arriving inside a dialog.
    pub(super) dialog_keys: Table<(String, String), String>,
    pub(super) sessions: Sessions,
    /// Proxy transactions by the id of the server transaction they forward (proxy.rs).
    pub(super) proxies: Table<String, Box<ProxyTxn>>,
    trim: super::memory::Trim,
    /// Request handlers: new requests of these methods are held for a decision (handlers.rs).
    pub(super) router: Option<super::RequestRouter>,
    /// DNS answers, and work waiting on lookups (resolving.rs).
    pub(super) resolver: super::resolving::Resolver,
    /// The datagram or frame being handled, so that what keeps or forwards its message shares
    /// the buffer it was read into rather than copying it (`raw_bytes`).
    inbound: Bytes,
}

impl Core {
    pub fn new(config: EngineConfig, transports: Transports, bound: Vec<(Protocol, SocketAddr)>, hostports: String) -> Core {
        Core {
            config,
            transports,
            bound,
            hostports,
            apps: Apps::default(),
            timers: DelayQueue::new(),
            server: Table::default(),
            server_keys: Table::default(),
            client: Table::default(),
            client_keys: Table::default(),
            dialogs: Table::default(),
            dialog_keys: Table::default(),
            sessions: Sessions::default(),
            proxies: Table::default(),
            trim: super::memory::Trim::default(),
            router: None,
            resolver: super::resolving::Resolver::new(std::sync::Arc::new(super::dns::SystemDns::new())),
            inbound: Bytes::new(),
        }
    }

    pub async fn run(mut self, mut control: mpsc::Receiver<CoreMsg>, mut inbound: mpsc::Receiver<Inbound>) {
        let mut flush = tokio::time::interval(Duration::from_millis(5));
        let mut trim = tokio::time::interval(TRIM_CHECK);
        let Some(mut resolved) = self.resolver.take_done() else { return };
        loop {
            tokio::select! {
                msg = control.recv() => match msg {
                    None | Some(CoreMsg::Shutdown) => break,
                    Some(CoreMsg::Attach { id, events, routes, tags }) => self.attach_app(id, events, routes, tags),
                    Some(CoreMsg::AttachFor { id, events, tags, txn }) => self.attach_for(id, events, tags, &txn),
                    Some(CoreMsg::Router(router)) => self.set_router(router),
                    Some(CoreMsg::Routed { txn, decision }) => self.routed(&txn, decision),
                    Some(CoreMsg::Command { id, cmd }) => self.on_command(id, cmd),
                    Some(CoreMsg::Detach { id }) => {
                        self.detach(id);
                        if self.config.exclusive && self.apps.is_empty() {
                            break;
                        }
                    }
                },
                Some(inb) = inbound.recv() => self.on_inbound(inb),
                Some((query, answer)) = resolved.recv() => self.on_resolved(query, answer),
                Some(expired) = std::future::poll_fn(|cx| self.timers.poll_expired(cx)), if !self.timers.is_empty() => {
                    self.on_timer(expired.into_inner());
                }
                _ = flush.tick(), if self.apps.has_overflow() => {}
                _ = trim.tick() => {
                    let live = self.server.len() + self.client.len() + self.dialogs.len() + self.proxies.len();
                    self.trim.observe(live);
                }
            }
            self.apps.flush();
            if let Some(m) = &self.config.metrics {
                m.state(self.dialogs.len(), self.server.len(), self.client.len(), self.proxies.len(), self.apps.len());
            }
        }
        self.transports.close();
        tracing::info!(hostports = %self.hostports, "engine stopped");
    }

    #[cfg(test)]
    fn attach(&mut self, id: AppId, events: mpsc::Sender<Event>, routes: Vec<String>) {
        self.attach_app(id, events, routes, Vec::new());
    }

    pub(super) fn attach_app(&mut self, id: AppId, events: mpsc::Sender<Event>, routes: Vec<String>, tags: Vec<String>) {
        self.apps.attach(id, events);
        self.apps.set_tags(id, tags);
        for verb in routes {
            self.apps.route(id, verb);
        }
        let hostports = self.advertised_hostports();
        self.apps.deliver(id, Event::Connected { hostports, version: VERSION.to_owned(), local_hostports: self.hostports.clone() });
    }

    /// The app is gone: answer what it left unanswered. Its calls stay up while other apps are
    /// connected: the next request in each goes to one of them, which takes the dialog over
    /// (seed 003, high availability; `in_dialog_from_network`). With no app left they end, so
    /// nothing hangs.
    fn detach(&mut self, id: AppId) {
        self.apps.deliver(id, Event::Closed);
        self.apps.flush();
        self.apps.detach(id);
        let pending: Vec<String> = self.server.values().filter(|t| t.app == Some(id) && !t.final_sent).map(|t| t.id.clone()).collect();
        for txn in pending {
            self.respond_engine(&txn, 480, "Temporarily Unavailable");
        }
        if !self.apps.is_empty() {
            return;
        }
        let dialogs: Vec<String> = self.dialogs.values().filter(|d| !self.apps.contains(d.app)).map(|d| d.id.clone()).collect();
        for dialog in dialogs {
            self.end_dialog(&dialog, "application gone");
        }
    }

    fn on_command(&mut self, app: AppId, cmd: Command) {
        match cmd {
            Command::Route { verb, ack } => {
                self.apps.route(app, verb);
                if let Some(cmd) = ack {
                    self.apps.deliver(app, Event::Reply { cmd, status: ReplyStatus::Ok, args: Vec::new(), raw: None, more: false });
                }
            }
            Command::RemoveRoute(_) => self.apps.unroute_all(app),
            Command::Sip { cmd, txn_id, dialog_id, route_uri, raw, answer_bye } => {
                let draft = match Draft::from_app(&raw) {
                    Ok(d) => d,
                    Err(reason) => return self.nok(app, cmd, reason),
                };
                if draft.is_response() {
                    self.respond(app, cmd, &txn_id, draft, answer_bye);
                } else if !dialog_id.is_empty() {
                    self.in_dialog_request(app, cmd, &dialog_id, draft, answer_bye);
                } else if !txn_id.is_empty() && draft.method() == "CANCEL" {
                    self.cancel_request(app, cmd, &txn_id, draft);
                } else {
                    self.new_request(app, cmd, route_uri.as_deref(), draft);
                }
            }
            Command::Proxy { cmd, txn_id, spec, raw } => self.proxy_request(app, cmd, &txn_id, spec, &raw),
            Command::AdoptDialog(d) => self.adopt_dialog(app, d),
            Command::Stats { cmd } => {
                let counts = [self.dialogs.len(), self.server.len(), self.client.len(), self.apps.pending(app), self.proxies.len()];
                let args = counts.iter().map(usize::to_string).collect();
                self.apps.deliver(app, Event::Reply { cmd, status: ReplyStatus::Ok, args, raw: None, more: false });
            }
            Command::Disconnect => {}
        }
    }

    fn on_inbound(&mut self, inb: Inbound) {
        let started = self.config.metrics.is_some().then(std::time::Instant::now);
        self.handle_inbound(inb);
        self.inbound = Bytes::new();
        if let (Some(m), Some(t)) = (&self.config.metrics, started) {
            m.processed(t.elapsed());
        }
    }

    fn handle_inbound(&mut self, inb: Inbound) {
        let Inbound { protocol, local, remote, mut bytes, kind } = inb;
        // A stream's message can come in the buffer several arrived in; what keeps this one
        // (its transaction, its event) should not keep the rest of that buffer's room.
        bytes.shrink_to_fit();
        let bytes = Bytes::from(bytes);
        self.inbound = bytes.clone();
        let src = Source { protocol, local, remote };
        match kind {
            InboundKind::Message => {}
            InboundKind::OversizedHead => return self.refuse_oversized(&bytes, src),
            InboundKind::Unreachable => return self.unreachable(protocol, remote),
        }
        let msg = match parse(&bytes, Framing::Datagram, &self.config.limits) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(peer = %remote, error = %e, "dropping unparseable message");
                self.count_drop(super::metrics::Drop::Unparseable);
                return;
            }
        };
        if let Err(e) = validate(&msg).or_else(|e| self.lenient_in_dialog(&msg, e)) {
            tracing::debug!(peer = %remote, error = %e, "invalid message");
            self.count_drop(super::metrics::Drop::Invalid);
            // A request that parsed far enough is answered (400/505); responses are dropped.
            if msg.is_request() && msg.method() != Some(b"ACK") && has_response_headers(&msg) {
                let reason = e.reason();
                self.stateless(&msg, src, e.status(), &reason);
            }
            return;
        }
        if let Some(m) = &self.config.metrics {
            let cseq = msg.cseq().map(|c| c.method).unwrap_or_default();
            m.message_in(msg.method(), msg.status(), cseq);
        }
        if msg.is_request() {
            self.on_request(&msg, src);
        } else {
            self.on_response(&msg, src);
        }
    }

    /// The header section of a request too large to take (the connection closes after this):
    /// 513 (§21.5.14), when it has what a response needs.
    fn refuse_oversized(&mut self, head: &[u8], src: Source) {
        self.count_drop(super::metrics::Drop::Unparseable);
        let Ok(msg) = parse(head, Framing::Head, &self.config.limits) else { return };
        if msg.is_request() && msg.method() != Some(b"ACK") && has_response_headers(&msg) {
            self.stateless(&msg, src, 513, "Message Too Large");
        }
    }

    /// A request whose only fault is its Request-URI still goes through when a dialog of ours
    /// identifies it (Call-ID and our tag), as drachtio-server lets it; otherwise `err` stands.
    fn lenient_in_dialog(&self, msg: &Message<'_>, err: ParseError) -> Result<(), ParseError> {
        if !matches!(err.kind, ErrorKind::BadRequestUri(_)) {
            return Err(err);
        }
        let call_id = String::from_utf8_lossy(msg.call_id().unwrap_or_default()).into_owned();
        let Some(tag) = msg.tag(HeaderName::To).map(|t| String::from_utf8_lossy(t).into_owned()) else { return Err(err) };
        if self.dialog_keys.contains_key(&(call_id, tag)) {
            validate_except_request_uri(msg)
        } else {
            Err(err)
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::ServerRetransmit(id) => self.server_retransmit(&id),
            Timer::Trying(id) => self.trying_due(&id),
            Timer::ServerTimeout(id) => self.server_timeout(&id),
            Timer::ServerCleanup(id) => self.remove_server(&id),
            Timer::ClientRetransmit(id) => self.client_retransmit(&id),
            Timer::ClientTimeout(id) => self.client_timeout(&id),
            Timer::ClientProceedingTimeout(id) => self.client_proceeding_timeout(&id),
            Timer::ClientCleanup(id) => self.remove_client(&id),
            Timer::Retransmit2xx(id) => self.retransmit_2xx(&id),
            Timer::AckTimeout(id) => self.ack_timeout(&id),
            Timer::Session(id) => self.session_timer_fired(&id),
            Timer::ProxyBranch { proxy, client, provisional } => self.proxy_branch_timer(&proxy, &client, provisional),
        }
    }

    // ---- helpers shared by server.rs and client.rs ----

    pub(super) fn t1(&self) -> Duration {
        self.config.timers.t1
    }

    pub(super) fn arm(&mut self, timer: Timer, after: Duration) -> delay_queue::Key {
        self.timers.insert(timer, after)
    }

    pub(super) fn disarm(&mut self, key: Option<delay_queue::Key>) {
        if let Some(k) = key {
            self.timers.try_remove(&k);
        }
    }

    pub(super) fn count_drop(&self, why: super::metrics::Drop) {
        if let Some(m) = &self.config.metrics {
            m.dropped(why);
        }
    }

    /// `bytes` is shared with whatever keeps the message for retransmission.
    pub(super) fn send(&self, protocol: Protocol, to: SocketAddr, local: Option<SocketAddr>, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if let Some(m) = &self.config.metrics {
            m.message_out(&bytes);
        }
        if let Err(e) = self.transports.send(protocol, to, local, bytes) {
            tracing::warn!(peer = %to, error = %e, "send failed");
        }
    }

    /// Our host:port as `to` should see it: the external address when configured, unless `to`
    /// is on one of our local networks (nat.rs).
    pub(super) fn hostport(&self, local: SocketAddr, to: IpAddr) -> String {
        match &self.config.external_ip {
            Some(ip) if super::nat::advertise_external(&self.config.local_nets, to) => util::host_port(ip, local.port()),
            _ => util::socket_text(local),
        }
    }

    fn advertised_hostports(&self) -> String {
        let public = |a: &SocketAddr| self.config.external_ip.as_ref().map_or_else(|| util::socket_text(*a), |ip| util::host_port(ip, a.port()));
        self.bound.iter().map(|(p, a)| format!("{}/{}", p.as_str(), public(a))).collect::<Vec<_>>().join(",")
    }

    /// True when `addr` is one of our own listening points (§4.4: never send to ourselves).
    pub(super) fn is_own(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        self.bound.iter().any(|(p, a)| {
            *p == protocol && a.port() == addr.port() && (a.ip() == addr.ip() || a.ip().is_unspecified())
        })
    }

    /// A Via we wrote: our branch prefix and one of our addresses as sent-by (§16.3 step 4 and
    /// §16.7 step 3 both ask this).
    pub(super) fn is_our_via(&self, v: &crate::sip::via::Via<'_>) -> bool {
        let ours = v.branch().is_some_and(|b| b.starts_with(util::BRANCH_PREFIX.as_bytes()));
        let host = String::from_utf8_lossy(v.host);
        ours && host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().is_ok_and(|ip| self.is_our_address(ip, v.port.unwrap_or(5060)))
    }

    /// `ip:port` names one of our listening points (or our external address).
    pub(super) fn is_our_address(&self, ip: IpAddr, port: u16) -> bool {
        let external = self.config.external_ip.as_deref().and_then(|e| e.parse::<IpAddr>().ok()) == Some(ip);
        self.bound.iter().any(|(_, a)| a.port() == port && (a.ip() == ip || external || (a.ip().is_unspecified() && ip.is_loopback())))
    }

    pub(super) fn deliver_sip(&mut self, app: AppId, meta: SipMeta, raw: impl Into<Bytes>) -> bool {
        self.apps.deliver(app, Event::Sip { meta, raw: raw.into() })
    }

    /// The bytes of `msg`: shared with the buffer it was read into when it is (part of) the
    /// message being handled, else a copy.
    pub(super) fn raw_bytes(&self, msg: &Message<'_>) -> Bytes {
        let raw = msg.as_bytes();
        let (base, at) = (self.inbound.as_ptr() as usize, raw.as_ptr() as usize);
        if !raw.is_empty() && at >= base && at + raw.len() <= base + self.inbound.len() {
            self.inbound.slice_ref(raw)
        } else {
            Bytes::copy_from_slice(raw)
        }
    }

    pub(super) fn meta(&self, source: &'static str, src: Source, bytes: usize, txn_id: &str, dialog_id: &str) -> SipMeta {
        SipMeta {
            source: source.into(),
            bytes: bytes.to_string(),
            protocol: src.protocol.as_str().into(),
            address: util::ip_text(src.remote.ip()),
            port: src.remote.port().to_string(),
            time: util::wall_clock(),
            txn_id: txn_id.to_owned(),
            dialog_id: dialog_id.to_owned(),
            received_on: None,
            session_token: None,
        }
    }

    /// `OK` for a command, with drachtio-server's meta tokens and the message as sent.
    /// `bytes` becomes the event's copy without a copy when nothing else shares it.
    pub(super) fn ok_sent(&mut self, app: AppId, cmd: CmdId, dest: Source, bytes: impl Into<Bytes>, txn_id: &str, dialog_id: Option<&str>) {
        let bytes = Vec::from(bytes.into());
        let mut args = Vec::with_capacity(11);
        args.extend([
            "application".to_owned(),
            bytes.len().to_string(),
            dest.protocol.as_str().to_owned(),
            util::ip_text(dest.remote.ip()),
            dest.remote.port().to_string(),
            util::wall_clock(),
            txn_id.to_owned(),
        ]);
        // Echoes of responses carry the dialog id and an empty token before the marker.
        if let Some(d) = dialog_id {
            args.extend([d.to_owned(), String::new()]);
        }
        args.extend(["Msg sent:".to_owned(), String::new()]);
        self.apps.deliver(app, Event::Reply { cmd, status: ReplyStatus::Ok, args, raw: Some(bytes), more: false });
    }

    /// A CDR to one of the apps that routed it (wire-protocol.md §7), round robin.
    pub(super) fn cdr(&mut self, kind: CdrKind, source: &str, extra: Option<&str>, raw: &[u8]) {
        let Some(app) = self.apps.choose(kind.as_str()) else { return };
        let event = Event::Cdr { kind, source: source.to_owned(), time: util::wall_clock(), extra: extra.map(str::to_owned), raw: raw.to_vec() };
        self.apps.deliver(app, event);
    }

    pub(super) fn nok(&mut self, app: AppId, cmd: CmdId, reason: String) {
        self.apps.deliver(app, Event::Reply { cmd, status: ReplyStatus::Nok, args: vec![reason], raw: None, more: false });
    }

    /// A response to `msg` built from its own headers (no transaction): 400s, 481, 482, 503.
    pub(super) fn stateless(&self, msg: &Message<'_>, src: Source, status: u16, reason: &str) {
        let draft = response_draft(msg, status, reason, Some(&util::tag()), &[], src);
        self.send(src.protocol, src.remote, Some(src.local), draft.to_bytes());
    }
}

/// True when a request has what a response must echo (§8.2.6.2).
fn has_response_headers(msg: &Message<'_>) -> bool {
    [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq].iter().all(|h| msg.header(*h).is_some())
}

/// A response draft echoing a request's Via, From, To, Call-ID and CSeq (§8.2.6.2), with the
/// top Via stamped with where the request really came from (§18.2.1, RFC 3581).
pub(super) fn response_draft(msg: &Message<'_>, status: u16, reason: &str, to_tag: Option<&str>, extra: &[(&str, String)], src: Source) -> Draft {
    let mut d = Draft { start_line: format!("SIP/2.0 {status} {reason}"), headers: Vec::new(), body: Vec::new() };
    let mut first_via = true;
    for h in msg.headers() {
        let value = crate::sip::unfold(msg.raw_value(h), h.folded);
        match h.name {
            HeaderName::Via => {
                for v in crate::sip::split_commas(value.as_bytes()) {
                    let v = String::from_utf8_lossy(v);
                    let v = if first_via { stamp_via(v.trim(), src) } else { v.trim().to_owned() };
                    first_via = false;
                    d.headers.push(("Via".into(), v));
                }
            }
            HeaderName::To if status > 100 => {
                let value = match to_tag {
                    Some(tag) => super::build::with_tag(&value, tag),
                    None => value.into_owned(),
                };
                d.headers.push(("To".into(), value));
            }
            HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq => {
                d.headers.push((h.name.as_str().into(), value.into_owned()));
            }
            _ => {}
        }
    }
    for (n, v) in extra {
        d.headers.push(((*n).to_owned().into(), v.clone()));
    }
    d
}

/// Adds `received` when the sent-by host is not where the request came from, and fills an
/// empty `rport` (RFC 3581 §4), so responses find their way back through NAT.
pub(super) fn stamp_via(via: &str, src: Source) -> String {
    let mut out = String::with_capacity(via.len() + 32);
    stamp_via_into(via, src, &mut out);
    out
}

/// `stamp_via`, appended to `out`.
pub(super) fn stamp_via_into(via: &str, src: Source, out: &mut String) {
    let Ok(v) = crate::sip::via::Via::parse(via.as_bytes()) else {
        return out.push_str(via);
    };
    let host = std::str::from_utf8(v.host).unwrap_or("").trim_matches(|c| c == '[' || c == ']');
    let received = v.param(b"received").is_none() && host.parse::<IpAddr>().ok() != Some(src.remote.ip());
    if v.param(b"rport") == Some(None) {
        push_with_rport(out, via, src.remote.port());
    } else {
        out.push_str(via);
    }
    if received {
        out.push_str(";received=");
        util::push_ip(out, src.remote.ip());
    }
}

/// Appends `via` to `out` with its bare `;rport` given the port (RFC 3581 §4).
fn push_with_rport(out: &mut String, via: &str, port: u16) {
    let b = via.as_bytes();
    let mut from = 0;
    while let Some(pos) = b[from..].windows(6).position(|w| w.eq_ignore_ascii_case(b";rport")).map(|p| p + from) {
        let end = pos + 6;
        if b.get(end).is_none_or(|c| matches!(c, b';' | b',') || c.is_ascii_whitespace()) {
            out.push_str(&via[..pos]);
            out.push_str(";rport=");
            out.push_str(itoa::Buffer::new().format(port));
            out.push_str(&via[end..]);
            return;
        }
        from = end;
    }
    out.push_str(via);
}

#[cfg(test)]
mod transaction_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_stamping() {
        let src = Source {
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().expect("addr"),
            remote: "10.1.1.1:5999".parse().expect("addr"),
        };
        assert_eq!(stamp_via("SIP/2.0/UDP host.example.com;branch=z9hG4bK1;rport", src), "SIP/2.0/UDP host.example.com;branch=z9hG4bK1;rport=5999;received=10.1.1.1");
        assert_eq!(stamp_via("SIP/2.0/UDP 10.1.1.1:5999;branch=z9hG4bK1", src), "SIP/2.0/UDP 10.1.1.1:5999;branch=z9hG4bK1");
    }
}
