//! Request handlers (drachtio-server's `<request-handlers>`, wire-protocol.md §3.2): new
//! requests of some methods are not offered to inbound apps but held on their server
//! transaction while someone outside the core (serve's router task) decides where they go. The
//! core never waits for that decision: it hands the request over as a [`HeldRequest`] and later
//! applies a [`Decision`] (or an outbound app attaches to take it), like any other message.
//! Until then the transaction behaves as one an app holds: 100 Trying after 100 ms, CANCEL
//! answered with 487, a 500 if nothing is decided within the app deadline.

use super::apps::AppId;
use super::build::Draft;
use super::core::{Core, Source, Timer};
use super::transport::Protocol;
use super::util;
use crate::app::Event;
use crate::sip::Message;
use crate::wire::{CdrKind, ProxySpec};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// A held request gets an answer within this (the deadline an app has too).
const DECISION_DEADLINE: Duration = Duration::from_secs(64);

/// Which new requests are held, and where they are announced.
#[derive(Debug, Clone)]
pub struct RequestRouter {
    /// Upper-case method names; `*` holds every method.
    pub methods: Vec<String>,
    pub held: mpsc::Sender<HeldRequest>,
}

impl RequestRouter {
    fn wants(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == "*" || m.eq_ignore_ascii_case(method))
    }
}

/// A new request waiting for a routing decision.
#[derive(Debug, Clone)]
pub struct HeldRequest {
    pub txn_id: String,
    pub method: String,
    pub protocol: Protocol,
    pub remote: SocketAddr,
    /// The request as received.
    pub raw: Vec<u8>,
}

/// What becomes of a held request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// A final response from us: a handler's `reject` or `redirect`, or a failure (480, 500).
    Respond { status: u16, reason: String, headers: Vec<(String, String)> },
    /// The stateful proxy, with no app involved.
    Proxy(ProxySpec),
    /// An inbound app that registered this tag and routed the method.
    Tag(String),
}

impl Core {
    pub(super) fn set_router(&mut self, router: Option<RequestRouter>) {
        self.router = router;
    }

    /// Holds a new request whose method has a handler; false when it has none (the request
    /// goes to inbound apps as usual).
    pub(super) fn hold_for_router(&mut self, msg: &Message<'_>, src: Source, key: &super::server::ServerKey, method: &str) -> bool {
        let Some(router) = self.router.as_ref().filter(|r| r.wants(method)) else { return false };
        let held = router.held.clone();
        let id = self.create_server_txn(msg, src, key.clone(), None, method, None);
        let timeout = self.arm(Timer::ServerTimeout(id.clone()), DECISION_DEADLINE);
        let request = self.raw_bytes(msg);
        if let Some(t) = self.server.get_mut(&id) {
            t.timeout = Some(timeout);
            t.request = Some(request);
        }
        if method == "INVITE" {
            self.session_note_offer(&id, msg);
            self.trying_soon(&id);
            self.cdr(CdrKind::Attempt, "network", None, msg.as_bytes());
        }
        let request = HeldRequest { txn_id: id.clone(), method: method.to_owned(), protocol: src.protocol, remote: src.remote, raw: msg.as_bytes().to_vec() };
        if held.try_send(request).is_err() {
            // The router is behind (or gone): shed, as for an app that cannot keep up.
            tracing::warn!(method, "request handler queue full; answering 503");
            self.respond_held(&id, 503, "Service Unavailable", vec![("Retry-After".into(), "5".into())]);
        }
        true
    }

    /// True while `txn` is held: nothing answered it and no app or proxy took it.
    fn is_held(&self, txn: &str) -> bool {
        self.server.get(txn).is_some_and(|t| t.app.is_none() && !t.final_sent && !t.proxied && t.request.is_some())
    }

    /// Applies the decision on held request `txn` (gone or answered meanwhile: nothing to do).
    pub(super) fn routed(&mut self, txn: &str, decision: Decision) {
        if !self.is_held(txn) {
            return;
        }
        match decision {
            Decision::Respond { status, reason, headers } => self.respond_held(txn, status, &reason, headers),
            Decision::Proxy(spec) => self.proxy_held(txn, spec),
            Decision::Tag(tag) => {
                let method = self.server.get(txn).map(|t| t.method.to_ascii_lowercase()).unwrap_or_default();
                match self.apps.choose_tagged(&method, &tag) {
                    Some(app) if self.apps.has_room(app, self.config.max_pending_requests) => self.hand_to_app(txn, app),
                    Some(_) => self.respond_held(txn, 503, "Service Unavailable", vec![("Retry-After".into(), "5".into())]),
                    None => {
                        tracing::info!(tag, method, "no app with this tag routes the method");
                        self.respond_held(txn, 480, "Temporarily Unavailable", Vec::new());
                    }
                }
            }
        }
    }

    /// An app that serve connected to for held request `txn` has authenticated: it is attached
    /// and gets the request. When the request is no longer held (the caller cancelled, or the
    /// deadline passed) the app hears `Closed`, so its connection ends.
    pub(super) fn attach_for(&mut self, id: AppId, events: mpsc::Sender<Event>, tags: Vec<String>, txn: &str) {
        self.attach_app(id, events, Vec::new(), tags);
        if self.is_held(txn) {
            self.hand_to_app(txn, id);
        } else {
            self.apps.deliver(id, Event::Closed);
        }
    }

    /// Gives held request `txn` to `app`, as a new request is given (wire-protocol.md §4.1).
    fn hand_to_app(&mut self, txn: &str, app: AppId) {
        let Some(t) = self.server.get_mut(txn) else { return };
        t.app = Some(app);
        t.counted = true;
        let (src, raw) = (t.src, t.request.clone().unwrap_or_default());
        self.apps.count_pending(app, true);
        let mut meta = self.meta("network", src, raw.len(), txn, "");
        meta.received_on = Some((util::ip_text(src.local.ip()), src.local.port().to_string()));
        self.deliver_sip(app, meta, raw);
    }

    /// A final response of ours on held request `id`, with extra headers (a redirect's Contacts).
    pub(super) fn respond_held(&mut self, id: &str, status: u16, reason: &str, headers: Vec<(String, String)>) {
        let Some(t) = self.server.get_mut(id) else { return };
        if t.final_sent {
            return;
        }
        if status > 100 && t.local_tag.is_none() {
            t.local_tag = Some(util::tag());
        }
        let headers = headers.into_iter().map(|(n, v)| (n.into(), v)).collect();
        let d = Draft { start_line: format!("SIP/2.0 {status} {reason}"), headers, body: Vec::new() };
        let bytes = self.response_bytes(&self.server[id], &d, status);
        self.call_cdr(id, status, &bytes);
        self.after_response(id, status, bytes);
    }
}
