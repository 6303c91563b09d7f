//! Dialog state (RFC 3261 §12) kept by the engine on behalf of apps, and the building of
//! requests inside a dialog from it (§12.2.1.1): the app says what it wants to send, the dialog
//! supplies Request-URI, tags, Call-ID, CSeq, Route set and Contact.

use super::apps::AppId;
use super::build::Draft;
use super::transport::Protocol;
use crate::sip::HeaderName;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::time::delay_queue;

#[derive(Debug)]
pub struct Dialog {
    pub id: String,
    pub app: AppId,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our From/To value (with our tag) and the far end's (with its tag, once known).
    pub local_uri: String,
    pub remote_uri: String,
    pub local_seq: u32,
    pub remote_target: String,
    /// Route headers for requests we send, in order.
    pub route_set: Vec<String>,
    pub local_contact: String,
    /// Where in-dialog requests go.
    pub protocol: Protocol,
    pub peer: SocketAddr,
    /// CSeq of the INVITE that formed (or last refreshed) the session, for its ACK.
    pub invite_cseq: u32,
    pub confirmed: bool,
    /// UAS: our 2xx, retransmitted until the ACK arrives (§13.3.1.4).
    pub pending_2xx: Option<Pending2xx>,
    /// UAC: the ACK we sent, re-sent when the far end retransmits its 2xx.
    pub last_ack: Option<Bytes>,
    /// Formed by a SUBSCRIBE (RFC 6665): a terminating NOTIFY, not a BYE, ends it.
    pub subscription: bool,
    /// The app's Dialog answers the far end's BYE with a plain 200 anyway: the engine sends
    /// it and the app hears of the BYE as already answered (`Command::Sip`'s answer_bye, on
    /// our 2xx or our ACK).
    pub answer_bye: bool,
    /// UAS: the INVITE transaction whose reliable 1xx the far end's PRACK names (RFC 3262).
    pub reliable_txn: Option<String>,
}

#[derive(Debug)]
pub struct Pending2xx {
    pub bytes: Bytes,
    pub interval: Duration,
    pub retransmit: Option<delay_queue::Key>,
    pub give_up: delay_queue::Key,
}

/// True for a NOTIFY whose Subscription-State is `terminated` (RFC 6665 §4.1.3).
pub fn is_terminating_notify(method: &str, subscription_state: Option<&str>) -> bool {
    method == "NOTIFY" && subscription_state.is_some_and(|s| s.trim_start().get(..10).is_some_and(|v| v.eq_ignore_ascii_case("terminated")))
}

/// `<Call-ID>;from-tag=<tag of the dialog-forming request's From>` (wire-protocol.md §5).
pub fn dialog_id(call_id: &str, from_tag: &str) -> String {
    format!("{call_id};from-tag={from_tag}")
}

impl Dialog {
    /// The app's Dialog will answer the far end's BYE with a plain 200 (`asked`, from our 2xx
    /// or our ACK): from now on the engine does. Subscription dialogs end by NOTIFY instead.
    pub fn engine_answers_bye(&mut self, asked: bool) {
        self.answer_bye |= asked && !self.subscription;
    }

    /// Completes an app's in-dialog request.
    pub fn build_request(&mut self, mut d: Draft, via: String) -> Draft {
        let method = d.method().to_owned();
        if method == "ACK" || d.request_uri().contains("placeholder") {
            let target = self.remote_target.clone();
            d.set_request_uri(&target);
        }
        let seq = if method == "ACK" {
            self.invite_cseq
        } else {
            self.local_seq = self.local_seq.wrapping_add(1);
            self.local_seq
        };
        if method == "INVITE" {
            self.invite_cseq = seq;
        }
        for h in [HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq] {
            d.take(h);
        }
        d.prepend(HeaderName::CSeq, format!("{seq} {method}"));
        d.prepend(HeaderName::CallId, self.call_id.clone());
        d.prepend(HeaderName::To, self.remote_uri.clone());
        d.prepend(HeaderName::From, self.local_uri.clone());
        for route in self.route_set.iter().rev() {
            d.prepend(HeaderName::Route, route.clone());
        }
        d.set_if_absent(HeaderName::MaxForwards, || "70".into());
        d.prepend(HeaderName::Via, via);
        if matches!(method.as_str(), "INVITE" | "SUBSCRIBE" | "REFER" | "UPDATE") {
            let contact = self.local_contact.clone();
            d.set_if_absent(HeaderName::Contact, || contact);
        }
        d.detect_sdp();
        d
    }
}
