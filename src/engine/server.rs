//! The UAS side: server transactions (RFC 3261 §17.2) for requests from the network, and the
//! responses apps send on them, completed as drachtio-server completes them (§4.2 of
//! wire-protocol.md): Via/From/To/Call-ID/CSeq from the request, the local tag, Contact,
//! RSeq for reliable provisionals (RFC 3262), Content-Type for SDP.

use super::apps::AppId;
use super::build::{with_tag, Draft};
use super::core::{response_draft, Core, Source, Timer, UNSOLICITED};
use super::echo::EchoHeaders;
use super::dialog::{dialog_id, is_terminating_notify, Dialog, Pending2xx};
use super::transport::Protocol;
use super::util;
use crate::app::CmdId;
use crate::wire::CdrKind;
use crate::sip::name_addr::parse_contacts;
use crate::sip::via::Via;
use crate::sip::serialize::{written_len, MessageWriter};
use crate::sip::{HeaderName, Message};
use bytes::Bytes;
use std::time::Duration;
use tokio_util::time::delay_queue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Proceeding,
    Completed,
    Confirmed,
    /// A 2xx to INVITE was sent (RFC 6026): INVITE retransmissions are absorbed.
    Accepted,
}

#[derive(Debug)]
pub struct ServerTxn {
    pub id: String,
    pub key: ServerKey,
    /// None for transactions the engine answers itself (CANCEL).
    pub app: Option<AppId>,
    pub method: String,
    pub src: Source,
    /// What its responses copy from the request.
    pub echo: EchoHeaders,
    pub remote_contact: Option<String>,
    pub supports_100rel: bool,
    pub state: ServerState,
    pub final_sent: bool,
    pub last: Option<Bytes>,
    pub local_tag: Option<String>,
    pub dialog_id: Option<String>,
    pub in_dialog: bool,
    pub rseq: u32,
    /// A reliable 1xx awaiting its PRACK (RSeq, bytes).
    pub reliable: Option<(u32, Bytes)>,
    pub interval: Duration,
    /// When the request arrived, until its app's first response (metrics only).
    pub arrived: Option<std::time::Instant>,
    pub retransmit: Option<delay_queue::Key>,
    pub timeout: Option<delay_queue::Key>,
    /// The 100 Trying an INVITE gets unless something is answered first (see TRYING_DELAY).
    pub trying: Option<delay_queue::Key>,
    /// Counted in its app's pending requests until the final response.
    pub counted: bool,
    /// A NOTIFY with `Subscription-State: terminated`: its 2xx ends a subscription dialog.
    pub terminating_notify: bool,
    /// The request as received, while an app may still proxy it (new requests only).
    pub request: Option<Bytes>,
    /// Forwarded by the proxy (proxy.rs): responses are relayed, no dialog is formed here.
    pub proxied: bool,
}

impl ServerTxn {
    /// After the final response a transaction only absorbs retransmissions (Timers G to L):
    /// it needs its key, source and last response, not the request's headers. Calls spend
    /// most of their transactions' lifetime in these states, so this is most of their memory.
    fn compact(&mut self) {
        self.echo = EchoHeaders::default();
        self.remote_contact = None;
        self.local_tag = None;
        self.reliable = None;
        self.request = None;
    }
}

/// drachtio-server drops a request the app never answers after 64 s; we answer it instead, so
/// the caller is not left waiting.
const APP_ANSWER_DEADLINE: Duration = Duration::from_secs(64);

/// How long an INVITE waits for its first response before the engine sends 100 Trying
/// itself. RFC 3261 §17.2.1 lets a server skip the 100 when the TU answers within 200 ms; an
/// app that answers at once (the common case) saves a message per call.
const TRYING_DELAY: Duration = Duration::from_millis(100);

/// Methods that may start a transaction offered to apps (wire-protocol.md §4.1) besides
/// extension methods an app routes explicitly.
const OUT_OF_DIALOG_481: [&str; 3] = ["BYE", "UPDATE", "PRACK"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}


impl Core {
    pub(super) fn on_request(&mut self, msg: &Message<'_>, src: Source) {
        let method = text(msg.method().unwrap_or_default());
        let Some(top) = msg.header(HeaderName::Via).and_then(|v| crate::sip::via::parse_list(v).next()).and_then(Result::ok) else {
            return;
        };
        let key = server_key(msg, &top, if method == "ACK" { "INVITE" } else { &method });
        if let Some(id) = self.server_keys.get(&key).cloned() {
            if method == "ACK" {
                self.ack_for_final(&id);
            } else {
                self.retransmitted(&id);
            }
            return;
        }
        if method != "ACK" && self.is_loop(msg) {
            return self.stateless(msg, src, 482, "Loop Detected");
        }
        if method != "CANCEL" && self.routed_through_us(msg) {
            return self.proxy_in_dialog(msg, src, key, &method);
        }
        match method.as_str() {
            "ACK" => self.on_2xx_ack(msg, src),
            "CANCEL" => self.on_cancel(msg, src, &top),
            _ => match msg.tag(HeaderName::To) {
                Some(tag) => self.in_dialog_from_network(msg, src, key, &method, &text(tag)),
                None => self.new_from_network(msg, src, key, &method),
            },
        }
    }

    /// §16.3 step 4 and §8.2.2.2: a request carrying one of our own branches has looped.
    fn is_loop(&self, msg: &Message<'_>) -> bool {
        msg.values(HeaderName::Via).flat_map(|(_, v)| crate::sip::via::parse_list(v)).filter_map(Result::ok).any(|v| self.is_our_via(&v))
    }

    fn new_from_network(&mut self, msg: &Message<'_>, src: Source, key: ServerKey, method: &str) {
        if OUT_OF_DIALOG_481.contains(&method) {
            return self.stateless(msg, src, 481, "Call/Transaction Does Not Exist");
        }
        if method == "INVITE" && self.session_screen(msg, src, None) {
            return; // 422: below our Min-SE
        }
        if self.router.is_some() && self.hold_for_router(msg, src, &key, method) {
            return; // a request handler decides (handlers.rs)
        }
        let Some(app) = self.apps.choose(&method.to_ascii_lowercase()) else {
            self.count_drop(super::metrics::Drop::NoApp);
            return self.stateless(msg, src, 503, "Service Unavailable");
        };
        if !self.apps.has_room(app, self.config.max_pending_requests) {
            self.count_drop(super::metrics::Drop::Overload);
            // The app is behind: shed the new request rather than queue it (§21.5.4).
            let draft = response_draft(msg, 503, "Service Unavailable", Some(&util::tag()), &[("Retry-After", "5".into())], src);
            return self.send(src.protocol, src.remote, Some(src.local), draft.to_bytes());
        }
        let id = self.create_server_txn(msg, src, key, Some(app), method, None);
        self.apps.count_pending(app, true);
        let raw = self.raw_bytes(msg);
        if let Some(t) = self.server.get_mut(&id) {
            t.counted = true;
            t.request = Some(raw.clone());
        }
        if method == "INVITE" {
            self.session_note_offer(&id, msg);
            self.trying_soon(&id);
            self.cdr(CdrKind::Attempt, "network", None, msg.as_bytes());
        }
        let mut meta = self.meta("network", src, msg.as_bytes().len(), &id, "");
        meta.received_on = Some((util::ip_text(src.local.ip()), src.local.port().to_string()));
        self.deliver_sip(app, meta, raw);
    }

    fn in_dialog_from_network(&mut self, msg: &Message<'_>, src: Source, key: ServerKey, method: &str, to_tag: &str) {
        let call_id = text(msg.call_id().unwrap_or_default());
        let Some(dialog_id) = self.dialog_keys.get(&(call_id, to_tag.to_owned())).cloned() else {
            if self.config.adopt_dialogs {
                return self.unknown_dialog_to_app(msg, src, key, method);
            }
            return self.stateless(msg, src, 481, "Call/Transaction Does Not Exist");
        };
        let Some((mut app, formed_by, answer_bye)) = self.dialogs.get(&dialog_id).map(|d| (d.app, if d.subscription { "subscribe" } else { "invite" }, d.answer_bye)) else { return };
        if !self.apps.contains(app) {
            // Its app is gone: another app that takes the requests forming such dialogs takes
            // it over and finds its state by the dialog id (seed 003).
            let Some(heir) = self.apps.choose(formed_by) else {
                self.forget_dialog(&dialog_id);
                return self.stateless(msg, src, 481, "Call/Transaction Does Not Exist");
            };
            tracing::info!(dialog = %dialog_id, from = app, to = heir, "dialog taken over by another app");
            app = heir;
            if let Some(d) = self.dialogs.get_mut(&dialog_id) {
                d.app = heir;
            }
        }
        if matches!(method, "INVITE" | "UPDATE") && self.session_screen(msg, src, Some(&dialog_id)) {
            return; // 422: below our Min-SE
        }
        if method == "PRACK" {
            self.prack_received(msg, &dialog_id);
        }
        // A target-refresh request updates the remote target (§12.2.2).
        if matches!(method, "INVITE" | "UPDATE" | "SUBSCRIBE" | "NOTIFY") {
            if let (Some(d), Some(c)) = (self.dialogs.get_mut(&dialog_id), first_contact_uri(msg)) {
                d.remote_target = c;
            }
        }
        let id = self.create_server_txn(msg, src, key, Some(app), method, Some(dialog_id.clone()));
        if matches!(method, "INVITE" | "UPDATE") {
            self.session_note_offer(&id, msg);
        }
        if method == "INVITE" {
            self.trying_soon(&id);
        }
        let mut txn = id.as_str();
        if method == "BYE" {
            // The far end has ended the dialog; only the BYE's own transaction remains.
            self.forget_dialog(&dialog_id);
            self.cdr(CdrKind::Stop, "network", Some("normal-release"), msg.as_bytes());
            if answer_bye {
                self.respond_engine(&id, 200, "OK");
                txn = UNSOLICITED;
            }
        }
        let meta = self.meta("network", src, msg.as_bytes().len(), txn, &dialog_id);
        self.deliver_sip(app, meta, self.raw_bytes(msg));
    }

    /// A request inside a dialog another process made (seed 003): to an app that takes calls,
    /// which looks the dialog up in its session store and adopts it (`adopt_dialog`) or
    /// answers 481 itself.
    fn unknown_dialog_to_app(&mut self, msg: &Message<'_>, src: Source, key: ServerKey, method: &str) {
        let Some(app) = self.apps.choose("invite").or_else(|| self.apps.choose(&method.to_ascii_lowercase())) else {
            return self.stateless(msg, src, 481, "Call/Transaction Does Not Exist");
        };
        let id = self.create_server_txn(msg, src, key, Some(app), method, None);
        if let Some(t) = self.server.get_mut(&id) {
            t.in_dialog = true; // no dialog is formed by answering it
        }
        let meta = self.meta("network", src, msg.as_bytes().len(), &id, "");
        self.deliver_sip(app, meta, self.raw_bytes(msg));
    }

    /// An app took on a dialog another process made: it is ours from now on, as if we had
    /// formed it. Our requests go to its first Route, else its target, else where the request
    /// that brought it came from.
    pub(super) fn adopt_dialog(&mut self, app: AppId, a: crate::app::AdoptedDialog) {
        // Nothing to take on for a dialog whose BYE brought it here: it ends with that BYE.
        if self.dialogs.contains_key(&a.id) || self.server.get(&a.txn_id).is_some_and(|t| t.method == "BYE") {
            return;
        }
        let flow = self.server.get(&a.txn_id).map(|t| (t.src.protocol, t.src.remote));
        let Some((protocol, peer)) = self.dialog_first_hop(&a.route_set, Some(&a.remote_target), flow) else {
            return tracing::warn!(dialog = %a.id, "cannot adopt a dialog: no way to reach its far end");
        };
        let local_contact = match self.transports.local_for(protocol, peer) {
            Some(local) => format!("<sip:{}{}>", self.hostport(local, peer.ip()), protocol.uri_param()),
            None => String::new(),
        };
        tracing::info!(dialog = %a.id, "dialog adopted from a session store");
        let dialog = Dialog {
            id: a.id.clone(),
            app,
            call_id: a.call_id.clone(),
            local_tag: a.local_tag.clone(),
            remote_tag: a.remote_tag,
            local_uri: a.local_uri,
            remote_uri: a.remote_uri,
            local_seq: a.local_seq.unwrap_or_else(util::initial_cseq),
            remote_target: a.remote_target,
            route_set: a.route_set,
            local_contact,
            protocol,
            peer,
            invite_cseq: 0,
            confirmed: true,
            pending_2xx: None,
            answer_bye: false,
            reliable_txn: None,
            last_ack: None,
            subscription: a.subscription,
        };
        self.dialog_keys.insert((a.call_id, a.local_tag), a.id.clone());
        self.dialogs.insert(a.id.clone(), Box::new(dialog));
        if let Some(t) = self.server.get_mut(&a.txn_id) {
            t.dialog_id = Some(a.id);
        }
    }

    pub(super) fn create_server_txn(&mut self, msg: &Message<'_>, src: Source, key: ServerKey, app: Option<AppId>, method: &str, dialog: Option<String>) -> String {
        let id = util::txn_id();
        let supports = |h: HeaderName| msg.values(h).any(|(_, v)| String::from_utf8_lossy(v).split(',').any(|o| o.trim().eq_ignore_ascii_case("100rel")));
        let txn = ServerTxn {
            id: id.clone(),
            key: key.clone(),
            app,
            method: method.to_owned(),
            src,
            echo: EchoHeaders::of(msg, src),
            remote_contact: first_contact_uri(msg),
            supports_100rel: supports(HeaderName::Supported) || supports(HeaderName::Require),
            state: ServerState::Proceeding,
            final_sent: false,
            last: None,
            local_tag: msg.tag(HeaderName::To).map(text),
            in_dialog: dialog.is_some(),
            dialog_id: dialog,
            rseq: 0,
            reliable: None,
            interval: self.t1(),
            arrived: (app.is_some() && self.config.metrics.is_some()).then(std::time::Instant::now),
            retransmit: None,
            timeout: None,
            trying: None,
            counted: false,
            terminating_notify: is_terminating_notify(method, msg.header_str(HeaderName::SubscriptionState).as_deref()),
            request: None,
            proxied: false,
        };
        self.server.insert(id.clone(), Box::new(txn));
        self.server_keys.insert(key, id.clone());
        if app.is_some() {
            let k = self.arm(Timer::ServerTimeout(id.clone()), APP_ANSWER_DEADLINE);
            if let Some(t) = self.server.get_mut(&id) {
                t.timeout = Some(k);
            }
        }
        id
    }

    /// A retransmitted request: send the last response again (§17.2.1, §17.2.2). Once the
    /// ACK has confirmed a non-2xx final, copies are only absorbed.
    fn retransmitted(&mut self, id: &str) {
        if let Some(t) = self.server.get(id).filter(|t| t.state != ServerState::Confirmed) {
            if let Some(last) = t.last.clone() {
                self.send(t.src.protocol, t.src.remote, Some(t.src.local), last);
            }
        }
    }

    /// ACK for our non-2xx final: stop retransmitting; Timer I absorbs further ACKs.
    fn ack_for_final(&mut self, id: &str) {
        let Some(t) = self.server.get_mut(id) else { return };
        if t.state != ServerState::Completed {
            return;
        }
        t.state = ServerState::Confirmed;
        let (retransmit, timeout) = (t.retransmit.take(), t.timeout.take());
        let wait = if t.src.protocol == Protocol::Udp { self.config.timers.t4 } else { Duration::ZERO };
        self.disarm(retransmit);
        self.disarm(timeout);
        self.arm(Timer::ServerCleanup(id.to_owned()), wait);
    }

    /// ACK for a 2xx: its own transaction (§17.1.1.3), matched to the dialog, handed to the app.
    fn on_2xx_ack(&mut self, msg: &Message<'_>, src: Source) {
        let call_id = text(msg.call_id().unwrap_or_default());
        let Some(tag) = msg.tag(HeaderName::To).map(text) else { return };
        let Some(dialog_id) = self.dialog_keys.get(&(call_id, tag)).cloned() else { return };
        let Some(d) = self.dialogs.get_mut(&dialog_id) else { return };
        d.confirmed = true;
        let app = d.app;
        if let Some(p) = d.pending_2xx.take() {
            self.disarm(p.retransmit);
            self.disarm(Some(p.give_up));
        }
        let meta = self.meta("network", src, msg.as_bytes().len(), &util::txn_id(), &dialog_id);
        self.deliver_sip(app, meta, self.raw_bytes(msg));
    }

    /// A CANCEL: 200 to it and 487 to the INVITE, then the app hears of it (§9.2).
    fn on_cancel(&mut self, msg: &Message<'_>, src: Source, top: &Via<'_>) {
        let branch = top.branch().unwrap_or_default();
        let invite_key = key_text(branch, top, "INVITE");
        let Some(invite) = self.server_keys.get(&invite_key).cloned() else {
            return self.stateless(msg, src, 481, "Call/Transaction Does Not Exist");
        };
        let cancel_key = key_text(branch, top, "CANCEL");
        let cancel = self.create_server_txn(msg, src, cancel_key, None, "CANCEL", None);
        // The 200 to CANCEL carries the To tag the INVITE's final will carry (§9.2).
        let invite_tag = self.server.get_mut(&invite).filter(|t| !t.final_sent).map(|t| t.local_tag.get_or_insert_with(util::tag).clone());
        if let Some(c) = self.server.get_mut(&cancel) {
            c.local_tag = invite_tag;
        }
        self.respond_engine(&cancel, 200, "OK");
        let Some(t) = self.server.get(&invite) else { return };
        if t.final_sent {
            return;
        }
        if t.proxied {
            return self.proxy_cancelled(&invite);
        }
        let (app, dialog) = (t.app, t.dialog_id.clone().unwrap_or_default());
        // drachtio-server reports the call as cancelled with the INVITE, and its 487 not at all.
        if let Some(request) = t.request.clone().filter(|_| t.method == "INVITE" && !t.in_dialog) {
            self.cdr(CdrKind::Stop, "network", Some("call-canceled"), &request);
        }
        if let Some(bytes) = self.engine_response(&invite, 487, "Request Terminated") {
            self.after_response(&invite, 487, bytes);
        }
        if let Some(app) = app {
            let meta = self.meta("network", src, msg.as_bytes().len(), &invite, &dialog);
            self.deliver_sip(app, meta, self.raw_bytes(msg));
        }
    }

    /// Arms the 100 Trying of INVITE transaction `id` (TRYING_DELAY).
    pub(super) fn trying_soon(&mut self, id: &str) {
        let k = self.arm(Timer::Trying(id.to_owned()), TRYING_DELAY);
        if let Some(t) = self.server.get_mut(id) {
            t.trying = Some(k);
        }
    }

    /// Nothing answered INVITE `id` within TRYING_DELAY: 100 Trying, so the caller stops
    /// retransmitting (§17.2.1).
    pub(super) fn trying_due(&mut self, id: &str) {
        let Some(t) = self.server.get_mut(id) else { return };
        t.trying = None; // spent
        if t.last.is_none() && !t.final_sent {
            self.respond_engine(id, 100, "Trying");
        }
    }

    /// A response the engine sends itself (100 Trying, 487, 200 to CANCEL, 480 for a gone app).
    pub(super) fn respond_engine(&mut self, id: &str, status: u16, reason: &str) {
        if let Some(bytes) = self.engine_response(id, status, reason) {
            self.call_cdr(id, status, &bytes);
            self.after_response(id, status, bytes);
        }
    }

    /// The CDR a final response to an initial INVITE writes (wire-protocol.md §7): the call
    /// started (a 2xx), or was rejected (anything else, ours or the app's, 487 included).
    pub(super) fn call_cdr(&mut self, id: &str, status: u16, bytes: &[u8]) {
        let Some(t) = self.server.get(id) else { return };
        if t.method != "INVITE" || t.in_dialog || t.final_sent || status < 200 {
            return;
        }
        let (kind, extra) = match (status, t.proxied) {
            (200..=299, false) => (CdrKind::Start, "uas"),
            (200..=299, true) => (CdrKind::Start, "proxy-uas"),
            // A 487 a proxied target sent (or ours, after the caller's CANCEL).
            (487, true) => (CdrKind::Stop, "call-canceled"),
            _ => (CdrKind::Stop, "call-rejected"),
        };
        self.cdr(kind, "application", Some(extra), bytes);
    }

    /// The bytes of a response the engine makes itself on transaction `id`, not yet sent.
    pub(super) fn engine_response(&mut self, id: &str, status: u16, reason: &str) -> Option<Bytes> {
        let t = self.server.get_mut(id)?;
        // Every response but 100 carries our To tag (§8.2.6.2), also when the app sent none.
        if status > 100 && t.local_tag.is_none() {
            t.local_tag = Some(util::tag());
        }
        let d = Draft { start_line: format!("SIP/2.0 {status} {reason}"), headers: Vec::new(), body: Vec::new() };
        Some(self.response_bytes(&self.server[id], &d, status).into())
    }

    /// The response `d` on transaction `t` as sent: Via, From, To (with our tag past 100),
    /// Call-ID and CSeq from the request, written straight from the transaction's copies,
    /// then `d`'s own headers and body.
    pub(super) fn response_bytes(&self, t: &ServerTxn, d: &Draft, status: u16) -> Vec<u8> {
        // §12.1.1: a response that establishes a dialog carries the request's Record-Route, in
        // order, so the far end routes its in-dialog requests through the same proxies.
        let record_route = (101..300).contains(&status) && matches!(t.method.as_str(), "INVITE" | "SUBSCRIBE" | "REFER" | "NOTIFY");
        let e = &t.echo;
        let to = match (&t.local_tag, status > 100) {
            (Some(tag), true) => std::borrow::Cow::Owned(with_tag(e.to(), tag)),
            _ => std::borrow::Cow::Borrowed(e.to()),
        };
        let own = written_len(&d.headers, &d.body);
        let mut w = MessageWriter::new(&d.start_line, e.written_len() + 24 + own);
        for v in e.vias() {
            w.header("Via", v);
        }
        w.header("From", e.from());
        w.header("To", &to);
        w.header("Call-ID", e.call_id());
        w.header("CSeq", e.cseq());
        for r in e.record_route().filter(|_| record_route) {
            w.header("Record-Route", r);
        }
        for (n, v) in &d.headers {
            w.header(n, v);
        }
        w.finish(&d.body)
    }

    /// An app's response on transaction `txn_id`.
    pub(super) fn respond(&mut self, app: AppId, cmd: CmdId, txn_id: &str, mut d: Draft, answer_bye: bool) {
        let Some(t) = self.server.get(txn_id) else {
            return self.nok(app, cmd, "Response not sent due to unknown transaction".into());
        };
        if t.method == "CANCEL" {
            return self.nok(app, cmd, "200 OK to incoming CANCEL is automatically generated by the stack".into());
        }
        if t.final_sent {
            return self.nok(app, cmd, "a final response was already sent for this transaction".into());
        }
        if t.proxied {
            return self.nok(app, cmd, "Response not sent: the request was proxied".into());
        }
        let status: u16 = d.start_line.split(' ').nth(1).and_then(|s| s.parse().ok()).filter(|s| (100..700).contains(s)).unwrap_or(0);
        if status == 0 {
            return self.nok(app, cmd, "malformed status line".into());
        }
        let reliable = t.method == "INVITE" && (101..200).contains(&status) && requires_100rel(&d);
        if reliable && !t.supports_100rel {
            return self.nok(app, cmd, "Remote endpoint does not support 100rel".into());
        }
        // Only the tag of the app's To matters: it becomes our local tag (§4.2).
        let app_tag = d.take(HeaderName::To).and_then(|v| {
            crate::sip::name_addr::header_params(v.as_bytes())
                .split(|&b| b == b';')
                .find_map(|p| p.strip_prefix(b"tag=").map(text))
                .filter(|t| !t.is_empty())
        });
        for h in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
            d.take(h);
        }
        let local = t.src.local;
        let hostport = self.hostport(local, t.src.remote.ip());
        let dialog_forming = matches!(t.method.as_str(), "INVITE" | "SUBSCRIBE");
        let wants_contact = dialog_forming && ((200..300).contains(&status) || reliable) || (t.in_dialog && dialog_forming && status < 300);
        let contact = format!("<sip:{hostport}{}>", t.src.protocol.uri_param());
        if wants_contact {
            d.set_if_absent(HeaderName::Contact, || contact.clone());
        }
        d.replace_localhost(&hostport);
        d.detect_sdp();
        let session = self.session_answer(txn_id, status, &mut d);
        let Some(t) = self.server.get_mut(txn_id) else { return };
        if let (Some(m), Some(at)) = (&self.config.metrics, t.arrived.take()) {
            m.app_answered(at.elapsed());
        }
        if status > 100 && t.local_tag.is_none() {
            t.local_tag = Some(app_tag.unwrap_or_else(util::tag));
        }
        if reliable {
            t.rseq += 1;
            d.headers.push(("RSeq".into(), t.rseq.to_string()));
        }
        let rseq = t.rseq;
        let bytes = Bytes::from(self.response_bytes(&self.server[txn_id], &d, status));
        let local_contact = d.get(HeaderName::Contact).map(str::to_owned).unwrap_or(contact);
        self.call_cdr(txn_id, status, &bytes);
        let dialog = self.after_response(txn_id, status, bytes.clone());
        self.session_answered(txn_id, dialog.as_deref(), status, &d, session);
        if let (Some(dialog), true) = (&dialog, wants_contact) {
            if let Some(dl) = self.dialogs.get_mut(dialog) {
                dl.local_contact = local_contact;
                dl.engine_answers_bye(answer_bye);
            }
        }
        if reliable {
            if let Some(t) = self.server.get_mut(txn_id) {
                t.reliable = Some((rseq, bytes.clone()));
            }
            if let Some(dl) = dialog.as_deref().and_then(|id| self.dialogs.get_mut(id)) {
                dl.reliable_txn = Some(txn_id.to_owned());
            }
            let k = self.arm(Timer::ServerRetransmit(txn_id.to_owned()), self.t1());
            if let Some(t) = self.server.get_mut(txn_id) {
                t.retransmit = Some(k);
            }
        }
        let dest = self.server.get(txn_id).map(|t| t.src).unwrap_or(Source { protocol: Protocol::Udp, local, remote: local });
        self.ok_sent(app, cmd, dest, bytes, txn_id, Some(dialog.as_deref().unwrap_or("")));
    }

    /// Sends a response on a server transaction and moves its state machine; returns the
    /// dialog the response created or belongs to.
    pub(super) fn after_response(&mut self, id: &str, status: u16, bytes: impl Into<Bytes>) -> Option<String> {
        let bytes = bytes.into();
        let t1 = self.t1();
        let t = self.server.get_mut(id)?;
        let (protocol, remote, local) = (t.src.protocol, t.src.remote, t.src.local);
        t.last = Some(bytes.clone());
        let trying = t.trying.take();
        self.disarm(trying);
        let t = self.server.get_mut(id)?;
        let uncount = (status >= 200 && t.counted).then_some(t.app).flatten();
        if uncount.is_some() {
            t.counted = false;
        }
        let invite = t.method == "INVITE";
        // A proxied request's dialog is between the far ends, not ours.
        let dialog_forming = (invite || t.method == "SUBSCRIBE") && !t.proxied;
        let mut dialog = t.dialog_id.clone();
        if status >= 200 {
            t.final_sent = true;
        }
        if dialog_forming && !t.in_dialog && status > 100 && status < 300 && (status >= 200 || t.local_tag.is_some()) && dialog.is_none() {
            dialog = Some(self.create_uas_dialog(id));
        }
        if let Some(app) = uncount {
            self.apps.count_pending(app, false);
        }
        self.send(protocol, remote, Some(local), bytes.clone());
        let Some(t) = self.server.get_mut(id) else { return dialog };
        t.dialog_id = dialog.clone();
        let udp = protocol == Protocol::Udp;
        let (old_retransmit, old_timeout) = if status >= 200 { (t.retransmit.take(), t.timeout.take()) } else { (None, None) };
        if status >= 200 {
            t.compact();
        }
        self.disarm(old_retransmit);
        self.disarm(old_timeout);
        match (invite, status) {
            (_, 100..=199) => {}
            (true, 200..=299) => {
                if let Some(t) = self.server.get_mut(id) {
                    t.state = ServerState::Accepted;
                    // Retransmitting the 2xx is the dialog's job until the ACK (§13.3.1.4);
                    // retransmitted INVITEs are only absorbed (RFC 6026 §7.1).
                    t.last = None;
                }
                // Timer L: keep absorbing INVITE retransmissions for 64×T1 (RFC 6026).
                self.arm(Timer::ServerCleanup(id.to_owned()), t1 * 64);
                if let Some(d) = &dialog {
                    self.start_2xx_retransmission(d, bytes, udp);
                }
            }
            (true, _) => {
                if let Some(t) = self.server.get_mut(id) {
                    t.state = ServerState::Completed;
                    t.interval = t1;
                }
                if let Some(d) = dialog.take() {
                    self.forget_dialog(&d);
                }
                let retransmit = udp.then(|| self.arm(Timer::ServerRetransmit(id.to_owned()), t1));
                let timeout = self.arm(Timer::ServerTimeout(id.to_owned()), t1 * 64);
                if let Some(t) = self.server.get_mut(id) {
                    t.retransmit = retransmit;
                    t.timeout = Some(timeout);
                }
            }
            (false, _) => {
                if let Some(t) = self.server.get_mut(id) {
                    t.state = ServerState::Completed;
                }
                // Timer J: absorb retransmitted requests over UDP.
                self.arm(Timer::ServerCleanup(id.to_owned()), if udp { t1 * 64 } else { Duration::ZERO });
                if status < 300 {
                    self.after_non_invite_success(id);
                }
            }
        }
        dialog
    }

    /// A 2xx to BYE ends its dialog; a 2xx to a terminating NOTIFY ends a subscription dialog.
    fn after_non_invite_success(&mut self, id: &str) {
        let Some(t) = self.server.get(id) else { return };
        let Some(d) = t.dialog_id.clone() else { return };
        let subscription = self.dialogs.get(&d).is_some_and(|dl| dl.subscription);
        if t.method == "BYE" || (t.terminating_notify && subscription) {
            self.forget_dialog(&d);
        }
    }

    fn create_uas_dialog(&mut self, id: &str) -> String {
        let t = &self.server[id];
        let local_tag = t.local_tag.clone().unwrap_or_else(util::tag);
        let e = &t.echo;
        let dialog_id = dialog_id(e.call_id(), e.remote_tag());
        let route_set: Vec<String> = e.record_route().map(str::to_owned).collect();
        let remote_target = t.remote_contact.clone().unwrap_or_else(|| format!("sip:{}", t.src.remote));
        // Our requests go to the first Record-Route entry (the proxy nearest to us); without a
        // route set, back where the request came from (the flow: NAT, WebSocket), not to the
        // Contact.
        let flow = (t.src.protocol, t.src.remote);
        let (protocol, peer) = self.dialog_first_hop(&route_set, None, Some(flow)).unwrap_or(flow);
        let dialog = Dialog {
            id: dialog_id.clone(),
            app: t.app.unwrap_or_default(),
            call_id: e.call_id().to_owned(),
            local_tag: local_tag.clone(),
            remote_tag: e.remote_tag().to_owned(),
            local_uri: with_tag(e.to(), &local_tag),
            remote_uri: e.from().to_owned(),
            local_seq: util::initial_cseq(),
            remote_target,
            route_set,
            local_contact: String::new(),
            protocol,
            peer,
            invite_cseq: 0,
            confirmed: false,
            pending_2xx: None,
            answer_bye: false,
            reliable_txn: None,
            last_ack: None,
            subscription: t.method == "SUBSCRIBE",
        };
        self.dialog_keys.insert((e.call_id().to_owned(), local_tag), dialog_id.clone());
        self.dialogs.insert(dialog_id.clone(), Box::new(dialog));
        dialog_id
    }

    fn start_2xx_retransmission(&mut self, dialog: &str, bytes: Bytes, udp: bool) {
        let t1 = self.t1();
        let retransmit = udp.then(|| self.arm(Timer::Retransmit2xx(dialog.to_owned()), t1));
        let give_up = self.arm(Timer::AckTimeout(dialog.to_owned()), t1 * 64);
        if let Some(d) = self.dialogs.get_mut(dialog) {
            if let Some(old) = d.pending_2xx.replace(Pending2xx { bytes, interval: t1, retransmit, give_up }) {
                self.disarm(old.retransmit);
                self.disarm(Some(old.give_up));
            }
        }
    }

    pub(super) fn retransmit_2xx(&mut self, dialog: &str) {
        let t2 = self.config.timers.t2;
        let Some(d) = self.dialogs.get_mut(dialog) else { return };
        let Some(p) = d.pending_2xx.as_mut() else { return };
        p.retransmit = None; // spent
        p.interval = (p.interval * 2).min(t2);
        let (bytes, interval, protocol, peer) = (p.bytes.clone(), p.interval, d.protocol, d.peer);
        self.send(protocol, peer, None, bytes);
        let k = self.arm(Timer::Retransmit2xx(dialog.to_owned()), interval);
        if let Some(p) = self.dialogs.get_mut(dialog).and_then(|d| d.pending_2xx.as_mut()) {
            p.retransmit = Some(k);
        }
    }

    /// No ACK for our 2xx: end the call as drachtio-server does, telling the app with an
    /// "unsolicited" BYE (wire-protocol.md §6).
    pub(super) fn ack_timeout(&mut self, dialog: &str) {
        let Some(d) = self.dialogs.get_mut(dialog) else { return };
        let Some(pending) = d.pending_2xx.take() else { return };
        self.disarm(pending.retransmit); // `give_up` is this timer, spent
        self.end_dialog(dialog, "ACK timeout");
    }

    pub(super) fn server_retransmit(&mut self, id: &str) {
        let t2 = self.config.timers.t2;
        let Some(t) = self.server.get_mut(id) else { return };
        // This timer is spent: its key may already name another timer, so it is never
        // disarmed again (here and in each timer handler).
        t.retransmit = None;
        let bytes = match (&t.reliable, t.state) {
            (Some((_, b)), _) => b.clone(),
            (None, ServerState::Completed) => match &t.last {
                Some(b) => b.clone(),
                None => return,
            },
            _ => return,
        };
        // Reliable 1xx double without cap (RFC 3262 §3); finals cap at T2 (Timer G).
        t.interval = if t.reliable.is_some() { t.interval * 2 } else { (t.interval * 2).min(t2) };
        let (protocol, remote, local, interval) = (t.src.protocol, t.src.remote, t.src.local, t.interval);
        if t.reliable.is_some() && interval > self.config.timers.t1 * 64 {
            t.reliable = None; // RFC 3262: give up on the PRACK after 64×T1
            return;
        }
        if protocol == Protocol::Udp {
            self.send(protocol, remote, Some(local), bytes);
        }
        let k = self.arm(Timer::ServerRetransmit(id.to_owned()), interval);
        if let Some(t) = self.server.get_mut(id) {
            t.retransmit = Some(k);
        }
    }

    pub(super) fn server_timeout(&mut self, id: &str) {
        let Some(t) = self.server.get_mut(id) else { return };
        t.timeout = None; // spent
        if t.final_sent {
            // Timer H: no ACK for our final; the transaction is over.
            self.remove_server(id);
        } else {
            // The app never answered.
            self.respond_engine(id, 500, "Server Internal Error");
        }
    }

    pub(super) fn remove_server(&mut self, id: &str) {
        self.session_txn_gone(id);
        if let Some(t) = self.server.remove(id) {
            if let (true, Some(app)) = (t.counted, t.app) {
                self.apps.count_pending(app, false);
            }
            if self.server_keys.get(&t.key).is_some_and(|k| k == id) {
                self.server_keys.remove(&t.key);
            }
            self.disarm(t.retransmit);
            self.disarm(t.timeout);
            self.disarm(t.trying);
        }
    }

    /// A PRACK acknowledges the reliable 1xx whose RSeq it names (RFC 3262 §3).
    fn prack_received(&mut self, msg: &Message<'_>, dialog: &str) {
        let rack = msg.values_by_name("RAck").next().map(text).unwrap_or_default();
        let rseq: u32 = rack.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let Some(txn) = self.dialogs.get(dialog).and_then(|d| d.reliable_txn.clone()) else { return };
        let acked = self.server.get_mut(&txn).filter(|t| t.reliable.as_ref().is_some_and(|(r, _)| *r == rseq)).map(|t| {
            t.reliable = None;
            t.retransmit.take()
        });
        if let Some(k) = acked {
            self.disarm(k);
        }
    }

    pub(super) fn forget_dialog(&mut self, id: &str) {
        self.session_forget(id);
        if let Some(d) = self.dialogs.remove(id) {
            self.dialog_keys.remove(&(d.call_id.clone(), d.local_tag.clone()));
            if let Some(p) = d.pending_2xx {
                self.disarm(p.retransmit);
                self.disarm(Some(p.give_up));
            }
        }
    }
}

fn requires_100rel(d: &Draft) -> bool {
    d.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("Require") && v.split(',').any(|o| o.trim().eq_ignore_ascii_case("100rel")))
}

/// A server transaction's key (§17.2.3): branch, sent-by and method in one string, looked
/// up for every request.
pub(super) type ServerKey = String;

/// §17.2.3: branch + sent-by + method; RFC 2543 peers (no cookie) fall back to the dialog and
/// sequence identifiers.
fn server_key(msg: &Message<'_>, top: &Via<'_>, method: &str) -> ServerKey {
    if top.has_rfc3261_branch() {
        return key_text(top.branch().unwrap_or_default(), top, method);
    }
    let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
    let legacy = format!("{}|{}|{}", text(msg.call_id().unwrap_or_default()), cseq, text(msg.tag(HeaderName::From).unwrap_or_default()));
    key_text(legacy.as_bytes(), top, method)
}

/// `first`, the sent-by of `top` and `method`, separated by spaces (which none of them holds).
fn key_text(first: &[u8], top: &Via<'_>, method: &str) -> ServerKey {
    let host = String::from_utf8_lossy(top.host);
    let mut k = String::with_capacity(first.len() + host.len() + method.len() + 8);
    k.push_str(&String::from_utf8_lossy(first));
    k.push(' ');
    k.push_str(&host);
    k.push(':');
    k.push_str(itoa::Buffer::new().format(top.port.unwrap_or(5060)));
    k.push(' ');
    k.push_str(method);
    k
}

fn first_contact_uri(msg: &Message<'_>) -> Option<String> {
    let v = msg.header(HeaderName::Contact)?;
    let list = parse_contacts(v).ok()??;
    list.first().map(|c| text(c.uri_raw))
}
