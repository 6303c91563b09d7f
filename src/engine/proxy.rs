//! RFC 3261 §16: the stateful proxy. A request an app hands over with `proxyRequest`, or an
//! in-dialog request that our Record-Route brought back, keeps its server transaction toward
//! the caller (server.rs) and gets one client transaction per target, a branch (client.rs).
//! Responses go upstream as §16.7 says: provisionals at once, every 2xx at once, otherwise the
//! best final once no branch is left. The proxying app hears each target's final response and
//! then `done` (wire-protocol.md §8); in-dialog requests never wake an app.

use super::apps::AppId;
use super::build::{Draft, Header};
use super::client::via;
use super::resolving::{Parked, Resolution};
use super::core::{stamp_via, Core, Source, Timer};
use super::transport::Protocol;
use super::util;
use crate::app::{CmdId, Event};
use crate::sip::name_addr::{parse_contacts, NameAddr};
use crate::sip::uri::{HostKind, SipUri};
use crate::sip::via::Via;
use crate::sip::{parse, Framing, HeaderName, Message};
use bytes::Bytes;
use crate::wire::{CdrKind, ProxySpec, ReplyStatus};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio_util::time::delay_queue;

/// How many 3xx responses one proxy transaction follows (`followRedirects`), so two targets
/// redirecting to each other cannot keep it going.
const MAX_REDIRECTS: usize = 5;

/// Headers an app's `headers` option may not change on a forwarded request: the transaction
/// and dialog identifiers, and what the proxy itself maintains.
const PROTECTED: [HeaderName; 10] = [
    HeaderName::Via, HeaderName::Route, HeaderName::RecordRoute, HeaderName::MaxForwards, HeaderName::CallId,
    HeaderName::CSeq, HeaderName::From, HeaderName::To, HeaderName::ContentLength, HeaderName::RSeq,
];

/// Headers whose values are lists: an app's value is added to the request's, not put in
/// its place.
const LISTS: [HeaderName; 6] = [
    HeaderName::Require, HeaderName::Supported, HeaderName::ProxyRequire, HeaderName::Allow, HeaderName::AllowEvents, HeaderName::Accept,
];

pub struct ProxyTxn {
    /// The app that proxied the request and its command; none for in-dialog requests.
    report: Option<(AppId, CmdId)>,
    /// `done` was reported: the app hears no more.
    reported_done: bool,
    method: String,
    /// The request as forwarded, before each branch adds its Via, Record-Route and target.
    template: Draft,
    /// The request was addressed to us: each target becomes the Request-URI (seed 002).
    retarget: bool,
    record_route: bool,
    upstream: Source,
    targets: VecDeque<String>,
    simultaneous: bool,
    follow_redirects: bool,
    redirects: usize,
    provisional_timeout: Option<Duration>,
    final_timeout: Option<Duration>,
    branches: Vec<Branch>,
    /// The best final so far (§16.7 step 6), our Via removed.
    best: Option<(u16, Bytes)>,
    /// WWW-/Proxy-Authenticate values of every 401/407 (§16.7 step 7).
    challenges: Vec<Header>,
    /// No new branches: a 2xx or 6xx arrived, or the caller cancelled.
    closed: bool,
    /// A final went upstream: a 2xx, or our 487 after the caller's CANCEL.
    answered: bool,
    /// The outcome is decided and reported; the transaction stays until every branch's client
    /// transaction has ended, so a late 2xx is still relayed and a late 1xx still cancelled.
    finished: bool,
    /// An initial INVITE: its outcome is a call, reported in CDRs.
    call: bool,
    /// Targets that could not be tried (unresolvable, unreachable, ourselves).
    unreachable: Vec<String>,
    /// Targets whose names are being looked up: their branches are still to come.
    resolving: usize,
}

impl ProxyTxn {
    /// Forwarding `template` from `upstream` to `targets` one at a time, with nobody to report
    /// to; `proxyRequest`'s options are set over this.
    fn new(method: String, template: Draft, upstream: Source, targets: VecDeque<String>) -> ProxyTxn {
        ProxyTxn {
            report: None,
            reported_done: true,
            method,
            template,
            retarget: false,
            record_route: false,
            upstream,
            targets,
            simultaneous: false,
            follow_redirects: false,
            redirects: 0,
            provisional_timeout: None,
            final_timeout: None,
            branches: Vec::new(),
            best: None,
            challenges: Vec::new(),
            closed: false,
            answered: false,
            finished: false,
            call: false,
            unreachable: Vec::new(),
            resolving: 0,
        }
    }
}

struct Branch {
    client: String,
    /// Any response yet: the provisional timeout no longer applies, and a CANCEL may be sent
    /// (§9.1).
    responded: bool,
    /// A final arrived, or the branch was given up or cancelled: it no longer counts toward
    /// the outcome.
    done: bool,
    /// Its client transaction has not ended (no final, no Timer B yet).
    open: bool,
    /// Given up before any response: CANCEL it when one arrives.
    cancel_on_response: bool,
    provisional_timer: Option<delay_queue::Key>,
    final_timer: Option<delay_queue::Key>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `'2s'`, `'1500ms'` (a bare number counts as milliseconds); empty or unreadable: none.
fn duration(spec: &str) -> Option<Duration> {
    let s = spec.trim();
    let (digits, scale) = match s.strip_suffix("ms") {
        Some(n) => (n, 1),
        None => s.strip_suffix('s').map_or((s, 1), |n| (n, 1000)),
    };
    digits.trim().parse::<u64>().ok().filter(|n| *n > 0).map(|n| Duration::from_millis(n * scale))
}

fn max_forwards(msg: &Message<'_>) -> Option<u32> {
    msg.header_str(HeaderName::MaxForwards).and_then(|v| v.trim().parse().ok())
}

/// §16.7 step 6 as drachtio-server ranks: a 6xx beats everything, then responses the caller
/// can act on (a challenge, an unsupported body or extension, an incomplete address), then
/// other 4xx, then 5xx, then the rest. A later response wins a tie (the last target tried).
fn rank(status: u16) -> u16 {
    match status {
        600..=699 => 0,
        401 | 407 | 415 | 420 | 484 => 1,
        400..=499 => 2,
        500..=599 => 3,
        _ => 4,
    }
}

/// The response as it goes upstream: our Via (the top one) removed (§16.7 step 3).
fn without_top_via(msg: &Message<'_>) -> Vec<u8> {
    let mut d = Draft::from_message(msg);
    let mut vias = d.values(HeaderName::Via);
    if !vias.is_empty() {
        vias.remove(0);
    }
    d.set_values(HeaderName::Via, vias);
    d.to_bytes()
}

impl Core {
    /// The app hands over new request `txn_id` (wire-protocol.md §8).
    pub(super) fn proxy_request(&mut self, app: AppId, cmd: CmdId, txn_id: &str, spec: ProxySpec, raw: &[u8]) {
        self.start_proxy(Some((app, cmd)), txn_id, spec, raw);
    }

    /// A request handler's `proxy` action on held request `txn_id` (handlers.rs): the same
    /// proxy with no app to report to.
    pub(super) fn proxy_held(&mut self, txn_id: &str, spec: ProxySpec) {
        self.start_proxy(None, txn_id, spec, &[]);
    }

    /// The proxy cannot start: the app hears why; with no app, the caller gets a 500.
    fn proxy_refused(&mut self, report: Option<(AppId, CmdId)>, txn_id: &str, reason: String) {
        match report {
            Some((app, cmd)) => self.nok(app, cmd, reason),
            None => {
                tracing::warn!(reason, "cannot proxy a held request");
                self.respond_engine(txn_id, 500, "Server Internal Error");
            }
        }
    }

    fn start_proxy(&mut self, report: Option<(AppId, CmdId)>, txn_id: &str, spec: ProxySpec, raw: &[u8]) {
        let owner = report.map(|(app, _)| app);
        let request = self.server.get(txn_id).filter(|t| t.app == owner && !t.final_sent && !t.proxied).and_then(|t| t.request.clone().map(|r| (r, t.src)));
        let Some((request, src)) = request else {
            return self.proxy_refused(report, txn_id, format!("Unknown transaction id: {txn_id}"));
        };
        let Ok(msg) = parse(&request, Framing::Datagram, &self.config.limits) else {
            return self.proxy_refused(report, txn_id, format!("Unknown transaction id: {txn_id}"));
        };
        if spec.destinations.is_empty() {
            return self.proxy_refused(report, txn_id, "error proxying request to ".into());
        }
        let mf = max_forwards(&msg);
        if mf == Some(0) {
            self.respond_engine(txn_id, 483, "Too Many Hops");
            if let Some((app, cmd)) = report {
                self.nok(app, cmd, "Rejected with 483 Too Many Hops due to Max-Forwards value of 0".into());
            }
            return;
        }
        let method = text(msg.method().unwrap_or_default());
        let mut template = forward_template(&msg, src, mf);
        // A preloaded Route naming us is spent (§16.4); the app names the next hop.
        let mut routes = template.values(HeaderName::Route);
        while routes.first().is_some_and(|r| self.is_our_uri(r)) {
            routes.remove(0);
        }
        template.set_values(HeaderName::Route, routes);
        if let Ok(extra) = Draft::from_app(raw) {
            apply_headers(&mut template, extra.headers);
        }
        let retarget = self.is_our_uri(template.request_uri());
        let call = method == "INVITE";
        self.hand_over(txn_id);
        let p = ProxyTxn {
            report,
            reported_done: report.is_none(),
            retarget,
            record_route: spec.record_route,
            simultaneous: spec.simultaneous,
            follow_redirects: spec.follow_redirects,
            provisional_timeout: duration(&spec.provisional_timeout),
            final_timeout: duration(&spec.final_timeout),
            call,
            ..ProxyTxn::new(method, template, src, spec.destinations.into_iter().collect())
        };
        self.proxies.insert(txn_id.to_owned(), Box::new(p));
        self.proxy_next(txn_id);
    }

    /// The app no longer owns server transaction `id`: the proxy answers it, whatever the app
    /// does (or if it goes away).
    fn hand_over(&mut self, id: &str) {
        let Some(t) = self.server.get_mut(id) else { return };
        t.proxied = true;
        t.request = None;
        let (app, counted, timeout) = (t.app.take(), std::mem::take(&mut t.counted), t.timeout.take());
        self.disarm(timeout);
        if let (Some(app), true) = (app, counted) {
            self.apps.count_pending(app, false);
        }
    }

    /// §16.4: an in-dialog request that is not for a dialog of ours and whose first Route is
    /// us came back along a Record-Route we added.
    pub(super) fn routed_through_us(&self, msg: &Message<'_>) -> bool {
        let Some(tag) = msg.tag(HeaderName::To) else { return false };
        let call_id = text(msg.call_id().unwrap_or_default());
        if self.dialog_keys.contains_key(&(call_id, text(tag))) {
            return false;
        }
        let first = msg.values(HeaderName::Route).flat_map(|(_, v)| crate::sip::split_commas(v)).next();
        first.is_some_and(|r| self.is_our_uri(&text(r)))
    }

    /// Forwards an in-dialog request routed through us (§16.4–§16.6): ACK statelessly, the
    /// rest on a transaction of their own, toward the next Route or the Request-URI.
    pub(super) fn proxy_in_dialog(&mut self, msg: &Message<'_>, src: Source, key: super::server::ServerKey, method: &str) {
        let mf = max_forwards(msg);
        if mf == Some(0) {
            if method != "ACK" {
                self.stateless(msg, src, 483, "Too Many Hops");
            }
            return;
        }
        let mut d = forward_template(msg, src, mf);
        let mut routes = d.values(HeaderName::Route);
        // Ours is first; a second of ours follows when we record-routed twice (two transports).
        while routes.first().is_some_and(|r| self.is_our_uri(r)) {
            routes.remove(0);
        }
        let target = routes.first().cloned().unwrap_or_else(|| d.request_uri().to_owned());
        d.set_values(HeaderName::Route, routes);
        if method == "ACK" {
            return self.forward_ack(d, &target);
        }
        let id = self.create_server_txn(msg, src, key, None, method, None);
        if let Some(t) = self.server.get_mut(&id) {
            t.proxied = true;
            t.in_dialog = true; // a dialog between the far ends: no CDRs of a new call
        }
        if method == "INVITE" {
            self.trying_soon(&id);
        }
        if method == "BYE" {
            // As drachtio-server: one for the BYE received, one for the BYE forwarded.
            let bye = d.to_bytes();
            self.cdr(CdrKind::Stop, "network", Some("normal-release"), &bye);
            self.cdr(CdrKind::Stop, "application", Some("normal-release"), &bye);
        }
        let p = ProxyTxn::new(method.to_owned(), d, src, VecDeque::from([target]));
        self.proxies.insert(id.clone(), Box::new(p));
        self.proxy_next(&id);
    }

    /// An ACK for a 2xx is its own transaction end to end (§16.11): forwarded, never answered.
    pub(super) fn forward_ack(&mut self, mut d: Draft, target: &str) {
        let (protocol, to) = match self.resolution(target) {
            Ok(Resolution::Now(t)) => match t.first() {
                Some(hop) => *hop,
                None => return,
            },
            Ok(Resolution::Later(q)) => {
                self.park(q, Parked::Ack { draft: d, target: target.to_owned() });
                return;
            }
            Err(_) => return,
        };
        let Some(local) = self.transports.local_for(protocol, to).filter(|_| !self.is_own(protocol, to)) else { return };
        d.prepend(HeaderName::Via, via(protocol, &self.hostport(local, to.ip()), &util::branch()));
        self.send(protocol, to, Some(local), d.to_bytes());
    }

    /// A target's name was looked up: its branch starts now, unless the proxy ended meanwhile.
    pub(super) fn branch_resolved(&mut self, pid: &str, target: &str) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        p.resolving -= 1;
        if !p.closed && !p.finished {
            self.start_branch(pid, target);
        }
        self.proxy_next(pid);
    }

    /// Starts branches while the mode allows (one at a time when serial, all when
    /// simultaneous); ends the transaction once no branch is left.
    fn proxy_next(&mut self, pid: &str) {
        loop {
            let Some(p) = self.proxies.get_mut(pid) else { return };
            let pending = p.resolving > 0 || p.branches.iter().any(|b| !b.done);
            if !p.closed && (p.simultaneous || !pending) {
                if let Some(target) = p.targets.pop_front() {
                    self.start_branch(pid, &target);
                    continue;
                }
            }
            if !pending && !p.finished {
                p.finished = true;
                self.proxy_finish(pid);
            }
            if self.proxies.get(pid).is_some_and(|p| p.finished && p.branches.iter().all(|b| !b.open)) {
                self.drop_proxy(pid);
            }
            return;
        }
    }

    /// Forwards the request to one target (§16.6). A target we cannot reach fails at once.
    fn start_branch(&mut self, pid: &str, target: &str) {
        let hop = match self.resolution(target) {
            Ok(Resolution::Now(t)) => t.first().copied(),
            Ok(Resolution::Later(q)) => {
                if self.park(q, Parked::Branch { proxy: pid.to_owned(), target: target.to_owned() }) {
                    if let Some(p) = self.proxies.get_mut(pid) {
                        p.resolving += 1;
                    }
                    return;
                }
                None
            }
            Err(_) => None,
        };
        let Some(p) = self.proxies.get(pid) else { return };
        let hop = hop.filter(|(protocol, to)| !self.is_own(*protocol, *to));
        let Some((protocol, to, local)) = hop.and_then(|(protocol, to)| self.transports.local_for(protocol, to).map(|l| (protocol, to, l))) else {
            tracing::debug!(target, "proxy target unreachable");
            if let Some(p) = self.proxies.get_mut(pid) {
                p.unreachable.push(target.to_owned());
            }
            return;
        };
        let mut d = p.template.clone();
        if p.retarget {
            d.set_request_uri(target.trim());
        }
        if p.record_route {
            let ours = |protocol: Protocol, local: SocketAddr, peer: SocketAddr| format!("<sip:{}{};lr>", self.hostport(local, peer.ip()), protocol.uri_param());
            let toward_target = ours(protocol, local, to);
            if p.method == "REGISTER" {
                // RFC 3327: Path instead of Record-Route, for requests the registrar's side
                // sends; drachtio-server requires the registrar to honour it.
                d.prepend(HeaderName::Path, toward_target);
                d.headers.push(("Require".into(), "path".into()));
            } else {
                // Two entries when the request changes transport (RFC 5658) or the two sides
                // know us by different addresses (one inside a local network), the one facing
                // the target on top.
                let toward_upstream = ours(p.upstream.protocol, p.upstream.local, p.upstream.remote);
                let mut rr = vec![toward_target];
                if rr[0] != toward_upstream {
                    rr.push(toward_upstream);
                }
                rr.extend(d.values(HeaderName::RecordRoute));
                d.set_values(HeaderName::RecordRoute, rr);
            }
        }
        let branch = util::branch();
        d.prepend(HeaderName::Via, via(protocol, &self.hostport(local, to.ip()), &branch));
        let (app, method, timeouts, call) = (p.report.map_or(0, |(a, _)| a), p.method.clone(), (p.provisional_timeout, p.final_timeout), p.call);
        let dest = Source { protocol, local, remote: to };
        if call {
            self.cdr(CdrKind::Attempt, "application", None, &d.to_bytes());
        }
        let client = self.start_client(app, &method, branch, d, dest, None, false);
        if let Some(t) = self.client.get_mut(&client) {
            t.proxy = Some(pid.to_owned());
        }
        let timer = |provisional| Timer::ProxyBranch { proxy: pid.to_owned(), client: client.clone(), provisional };
        let provisional_timer = timeouts.0.map(|after| self.arm(timer(true), after));
        let final_timer = timeouts.1.map(|after| self.arm(timer(false), after));
        let branch = Branch { client, responded: false, done: false, open: true, cancel_on_response: false, provisional_timer, final_timer };
        if let Some(p) = self.proxies.get_mut(pid) {
            p.branches.push(branch);
        }
    }

    /// A response on a branch (§16.7).
    pub(super) fn proxy_response(&mut self, pid: &str, client: &str, status: u16, msg: &Message<'_>, src: Source) {
        self.branch_response(pid, client, status, msg, src);
        self.proxy_next(pid);
    }

    fn branch_response(&mut self, pid: &str, client: &str, status: u16, msg: &Message<'_>, src: Source) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        let Some(i) = p.branches.iter().position(|b| b.client == client) else { return };
        let b = &mut p.branches[i];
        let mut disarm = vec![b.provisional_timer.take()];
        b.responded = true;
        let cancel = std::mem::take(&mut b.cancel_on_response) && status < 200;
        let late = b.done;
        if status >= 200 {
            b.done = true;
            b.open = false;
            disarm.push(b.final_timer.take());
        }
        let (answered, method) = (p.answered, p.method.clone());
        for k in disarm {
            self.disarm(k);
        }
        if cancel {
            self.cancel_invite(client, Vec::new());
        }
        if status < 200 {
            if status > 100 && !late && !answered {
                self.after_response(pid, status, without_top_via(msg));
            }
            return;
        }
        if late && (status >= 300 || method != "INVITE") {
            return;
        }
        let bytes = without_top_via(msg);
        if self.proxies.get(pid).is_some_and(|p| p.call) && !late {
            // Each target's final, as received (drachtio-server's CDRs for a proxied call).
            let (kind, extra) = match status {
                200..=299 => (CdrKind::Start, "proxy-uac"),
                487 => (CdrKind::Stop, "call-canceled"),
                _ => (CdrKind::Stop, "call-rejected"),
            };
            self.cdr(kind, "network", Some(extra), msg.as_bytes());
        }
        if status < 300 {
            // Every 2xx goes upstream, also a late one from a cancelled fork (§16.7 step 10).
            self.call_cdr(pid, status, &bytes);
            self.after_response(pid, status, bytes.clone());
            if late {
                return;
            }
            self.report_final(pid, status, &bytes, src);
            if !answered {
                if let Some(p) = self.proxies.get_mut(pid) {
                    p.answered = true;
                    p.closed = true;
                }
                self.cancel_branches(pid, "SIP;cause=200;text=\"Call completed elsewhere\"");
                self.report_done(pid);
            }
            return;
        }
        self.report_final(pid, status, &bytes, src);
        let redirect = (300..400).contains(&status) && self.follow_redirect(pid, msg);
        if !redirect {
            self.consider(pid, status, bytes, msg);
        }
        if status >= 600 {
            if let Some(p) = self.proxies.get_mut(pid) {
                p.closed = true;
            }
            self.cancel_branches(pid, "SIP;cause=600;text=\"Busy Everywhere\"");
        }
    }

    /// `followRedirects`: a 3xx's Contacts become the next targets, tried before the rest.
    fn follow_redirect(&mut self, pid: &str, msg: &Message<'_>) -> bool {
        let Some(p) = self.proxies.get_mut(pid) else { return false };
        if !p.follow_redirects || p.redirects >= MAX_REDIRECTS {
            return false;
        }
        let contacts: Vec<String> = msg
            .values(HeaderName::Contact)
            .filter_map(|(_, v)| parse_contacts(v).ok().flatten())
            .flat_map(|list| list.into_iter().map(|c| text(c.uri_raw)).collect::<Vec<_>>())
            .collect();
        if contacts.is_empty() {
            return false;
        }
        p.redirects += 1;
        for c in contacts.into_iter().rev() {
            p.targets.push_front(c);
        }
        true
    }

    /// Keeps a non-2xx final if it is the best so far, and every challenge.
    fn consider(&mut self, pid: &str, status: u16, bytes: Vec<u8>, msg: &Message<'_>) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        if matches!(status, 401 | 407) {
            for h in [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate] {
                p.challenges.extend(msg.values(h).map(|(_, v)| (h.as_str().into(), text(v))));
            }
        }
        if p.best.as_ref().is_none_or(|(old, _)| rank(status) <= rank(*old)) {
            p.best = Some((status, bytes.into()));
        }
    }

    /// A branch gave no (final) response in time: Timer B/F (its client transaction has
    /// `ended`), `provisionalTimeout` or `finalTimeout`. It counts as a 408 (§16.7 step 2), and
    /// is cancelled if it responded at all.
    fn branch_gave_up(&mut self, pid: &str, client: &str, ended: bool) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        let Some(b) = p.branches.iter_mut().find(|b| b.client == client) else { return };
        if ended {
            b.open = false;
        }
        if b.done {
            return self.proxy_next(pid);
        }
        b.done = true;
        let (keys, responded, invite) = ([b.provisional_timer.take(), b.final_timer.take()], b.responded, p.method == "INVITE");
        b.cancel_on_response = invite && !responded;
        for k in keys {
            self.disarm(k);
        }
        if invite && responded && !ended {
            self.cancel_invite(client, vec![("Reason".into(), "SIP;cause=408;text=\"Request Timeout\"".into())]);
        }
        // The app hears only finals a target sent (as from drachtio-server); this one is ours.
        if let Some(bytes) = self.engine_response(pid, 408, "Request Timeout") {
            if let Some(p) = self.proxies.get_mut(pid) {
                if p.best.as_ref().is_none_or(|(old, _)| rank(408) <= rank(*old)) {
                    p.best = Some((408, bytes));
                }
            }
        }
        self.proxy_next(pid);
    }

    pub(super) fn proxy_branch_timeout(&mut self, pid: &str, client: &str) {
        self.branch_gave_up(pid, client, true);
    }

    pub(super) fn proxy_branch_timer(&mut self, pid: &str, client: &str, provisional: bool) {
        let Some(b) = self.proxies.get_mut(pid).and_then(|p| p.branches.iter_mut().find(|b| b.client == client)) else { return };
        // This timer is spent.
        if provisional {
            b.provisional_timer = None;
        } else {
            b.final_timer = None;
        }
        if !(provisional && b.responded) {
            self.branch_gave_up(pid, client, false);
        }
    }

    /// The caller's CANCEL (§16.10): every pending branch is cancelled and no new one starts.
    /// As drachtio-server, the caller gets its 487 at once rather than after the branches'
    /// (one that never answered could keep it waiting for Timer B); the app hears each
    /// branch's final, then `done`.
    pub(super) fn proxy_cancelled(&mut self, pid: &str) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        p.closed = true;
        p.targets.clear();
        let first = !std::mem::replace(&mut p.answered, true);
        self.cancel_branches_keeping(pid, "");
        if !first {
            return;
        }
        if let Some(bytes) = self.engine_response(pid, 487, "Request Terminated") {
            self.call_cdr(pid, 487, &bytes);
            self.after_response(pid, 487, bytes);
        }
        self.proxy_next(pid);
    }

    /// After a 2xx or 6xx the other branches are cancelled and count no more.
    fn cancel_branches(&mut self, pid: &str, reason: &str) {
        self.cancel_branches_keeping(pid, reason);
        if let Some(p) = self.proxies.get_mut(pid) {
            for b in p.branches.iter_mut() {
                b.done = true;
            }
        }
    }

    /// CANCEL to every pending INVITE branch that has heard a response; the others are
    /// cancelled when their first response arrives (§9.1).
    fn cancel_branches_keeping(&mut self, pid: &str, reason: &str) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        if p.method != "INVITE" {
            return;
        }
        let mut now = Vec::new();
        for b in p.branches.iter_mut().filter(|b| !b.done) {
            if b.responded {
                now.push(b.client.clone());
            } else {
                b.cancel_on_response = true;
            }
        }
        let extra: Vec<Header> = if reason.is_empty() { Vec::new() } else { vec![("Reason".into(), reason.to_owned())] };
        for client in now {
            self.cancel_invite(&client, extra.clone());
        }
    }

    /// No branch left: the best final goes upstream unless a 2xx did (§16.7 step 6).
    fn proxy_finish(&mut self, pid: &str) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        if !p.answered {
            let (best, challenges) = (p.best.take(), std::mem::take(&mut p.challenges));
            let (status, bytes) = match best {
                Some((status, bytes)) if matches!(status, 401 | 407) && challenges.len() > 1 => (status, with_challenges(&bytes, challenges).into()),
                Some(b) => b,
                None => {
                    // No target could be tried at all: the app hears why, the caller gets a 500.
                    if let Some((app, cmd)) = p.report.filter(|_| !p.reported_done) {
                        p.reported_done = true;
                        let reason = format!("error proxying request to {}", p.unreachable.join(" "));
                        self.nok(app, cmd, reason);
                    }
                    match self.engine_response(pid, 500, "Server Internal Error") {
                        Some(b) => (500, b),
                        None => return,
                    }
                }
            };
            self.call_cdr(pid, status, &bytes);
            self.after_response(pid, status, bytes);
        }
        self.report_done(pid);
    }

    fn drop_proxy(&mut self, pid: &str) {
        if let Some(p) = self.proxies.remove(pid) {
            for b in p.branches {
                self.disarm(b.provisional_timer);
                self.disarm(b.final_timer);
            }
        }
    }

    /// One final response of one target, to the proxying app (`OK|network|…|continue`).
    fn report_final(&mut self, pid: &str, status: u16, bytes: &[u8], from: Source) {
        let Some(p) = self.proxies.get(pid) else { return };
        let Some((app, cmd)) = p.report.filter(|_| !p.reported_done) else { return };
        tracing::debug!(status, "proxy: final response");
        let args = vec![
            "network".to_owned(),
            bytes.len().to_string(),
            from.protocol.as_str().to_owned(),
            util::ip_text(from.remote.ip()),
            from.remote.port().to_string(),
            util::wall_clock(),
            String::new(),
            String::new(),
            "continue".to_owned(),
        ];
        self.apps.deliver(app, Event::Reply { cmd, status: ReplyStatus::Ok, args, raw: Some(bytes.to_vec()), more: true });
    }

    fn report_done(&mut self, pid: &str) {
        let Some(p) = self.proxies.get_mut(pid) else { return };
        let Some((app, cmd)) = p.report.filter(|_| !p.reported_done) else { return };
        p.reported_done = true;
        self.apps.deliver(app, Event::Reply { cmd, status: ReplyStatus::Ok, args: vec!["done".to_owned()], raw: None, more: false });
    }

    /// A response no transaction of ours matches but whose top Via is ours (a 2xx
    /// retransmitted to a proxied INVITE after its transaction ended): relayed statelessly to
    /// the next Via (§16.7, §18.2.2).
    pub(super) fn forward_stray_response(&self, msg: &Message<'_>) {
        let mut d = Draft::from_message(msg);
        let mut vias = d.values(HeaderName::Via);
        if vias.len() < 2 || !Via::parse(vias[0].as_bytes()).is_ok_and(|v| self.is_our_via(&v)) {
            return;
        }
        vias.remove(0);
        let Some((protocol, to)) = Via::parse(vias[0].as_bytes()).ok().and_then(|v| via_destination(&v)) else { return };
        d.set_values(HeaderName::Via, vias);
        self.send(protocol, to, None, d.to_bytes());
    }

    /// A SIP URI (bare or in a name-addr) naming one of our listening points.
    pub(super) fn is_our_uri(&self, uri: &str) -> bool {
        let raw = if uri.contains('<') { NameAddr::parse(uri.as_bytes()).map(|n| n.uri_raw).unwrap_or_default() } else { uri.trim().as_bytes() };
        let Ok(sip) = SipUri::parse(raw) else { return false };
        let port = sip.port.unwrap_or(if sip.secure { 5061 } else { 5060 });
        let host = text(sip.host);
        let host = host.trim_matches(|c| c == '[' || c == ']');
        match sip.host_kind {
            HostKind::Ipv4 | HostKind::Ipv6 => host.parse().is_ok_and(|ip| self.is_our_address(ip, port)),
            HostKind::Name => self.config.external_ip.as_deref() == Some(host) && self.bound.iter().any(|(_, a)| a.port() == port),
        }
    }

}

/// §16.6 steps 1–3: a copy of the request with the caller's Via stamped with where it came
/// from (so responses find their way back) and Max-Forwards decremented (70 when absent).
fn forward_template(msg: &Message<'_>, src: Source, max_forwards: Option<u32>) -> Draft {
    let mut d = Draft::from_message(msg);
    let mut vias = d.values(HeaderName::Via);
    if let Some(top) = vias.first_mut() {
        *top = stamp_via(top, src);
    }
    d.set_values(HeaderName::Via, vias);
    let mf = max_forwards.map_or(70, |n| n.saturating_sub(1));
    d.set_values(HeaderName::MaxForwards, vec![mf.to_string()]);
    d
}

/// The app's `headers`: a known single-valued header replaces the request's copy; list
/// headers and extension headers are added.
fn apply_headers(d: &mut Draft, headers: Vec<Header>) {
    for (name, value) in headers {
        let h = HeaderName::from_bytes(name.as_bytes());
        if PROTECTED.contains(&h) {
            continue;
        }
        if h != HeaderName::Other && !LISTS.contains(&h) {
            d.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        }
        d.headers.push((name, value));
    }
}

/// A 401/407 carrying every challenge the branches collected (§16.7 step 7).
fn with_challenges(bytes: &[u8], challenges: Vec<Header>) -> Vec<u8> {
    let Ok(msg) = parse(bytes, Framing::Datagram, &crate::sip::Limits::default()) else { return bytes.to_vec() };
    let mut d = Draft::from_message(&msg);
    d.take(HeaderName::WwwAuthenticate);
    d.take(HeaderName::ProxyAuthenticate);
    d.headers.extend(challenges);
    d.to_bytes()
}

/// Where a response goes by its Via (§18.2.2): `received` and `rport` when present.
fn via_destination(v: &Via<'_>) -> Option<(Protocol, SocketAddr)> {
    let protocol = Protocol::parse(&text(v.transport))?;
    let host = match v.param(b"received") {
        Some(Some(r)) => text(r),
        _ => text(v.host),
    };
    let ip: IpAddr = host.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    let port = match v.param(b"rport") {
        Some(Some(p)) => text(p).parse().ok()?,
        _ => v.port.unwrap_or(5060),
    };
    Some((protocol, SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_read_as_drachtio_writes_them() {
        assert_eq!(duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(duration(""), None);
        assert_eq!(duration("soon"), None);
    }

    #[test]
    fn best_response_ranking() {
        assert!(rank(603) < rank(302));
        assert!(rank(404) < rank(503));
        assert!(rank(486) == rank(408));
    }
}
