//! Session timers (RFC 4028), run by the engine as drachtio-server runs them (wire-protocol.md
//! §4.2 and §6):
//!
//! * A 2xx to an initial INVITE arms a timer: from the app's own Session-Expires when it gave
//!   one, else from the UAC's offer, which the engine answers (`N;refresher=…`; an offer with no
//!   refresher gets the configured default, and none at all when that is "none"). The interval
//!   is never below our Min-SE.
//! * A 2xx to an INVITE we sent (the app's or the engine's own refresh) arms it from the
//!   response's Session-Expires: `refresher=uac` or none means we refresh.
//! * A re-INVITE or UPDATE from the far end cancels the timer and re-arms it from its
//!   Session-Expires (`refresher=uas` means we refresh, else they do); one below our Min-SE is
//!   refused with 422 and Min-SE, as is such an initial INVITE. The app's 2xx to it gets the
//!   Session-Expires that states the timer (drachtio-server sends the app's 2xx as it is, and
//!   a 2xx without one turns the far end's timer off: RFC 4028 §7.4).
//! * When we refresh, at half the interval the engine sends a re-INVITE with the session's
//!   current SDP and ACKs its 2xx itself; the app hears nothing of it. A 491 (glare) re-arms;
//!   any other failure ends the call.
//! * When they refresh and the interval passes without a refresh, the engine sends BYE with
//!   `Reason: SIP;cause=200;text="Session timer expired"` and reports it to the app as an
//!   unsolicited BYE.
//!
//! A 422 to an INVITE the app sent goes to the app, which may retry with the Min-SE it names
//! (drachtio-server leaves that to the app too).

use super::build::Draft;
use super::core::{response_draft, Core, Source, Timer};
use super::util;
use crate::sip::{HeaderName, Message};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::time::delay_queue;

/// RFC 4028 §4: the smallest session interval, and drachtio-server's Min-SE.
pub const MIN_SE: u32 = 90;

/// Which side of the dialog-forming (or refreshing) transaction refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    pub fn parse(s: &str) -> Option<Refresher> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Our Min-SE in seconds: offers below it get 422, intervals are raised to it.
    pub min_se: u32,
    /// Who refreshes when the UAC offers Session-Expires without a refresher; None (as
    /// drachtio-server's default config, `default-refresher="none"`) answers no timer at all.
    pub default_refresher: Option<Refresher>,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig { min_se: MIN_SE, default_refresher: None }
    }
}

/// A Session-Expires value: `delta-seconds *(;param)`, of which only `refresher` matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(value: &str) -> Option<SessionExpires> {
        let mut parts = value.split(';');
        let delta = parts.next()?.trim().parse().ok()?;
        let refresher = parts.find_map(|p| {
            let (name, v) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("refresher").then(|| Refresher::parse(v)).flatten()
        });
        Some(SessionExpires { delta, refresher })
    }

    fn of(msg: &Message<'_>) -> Option<SessionExpires> {
        SessionExpires::parse(&msg.header_str(HeaderName::SessionExpires)?)
    }
}

/// What an initial INVITE offered, kept until the app answers it.
#[derive(Debug, Clone, Copy)]
struct Offer {
    expires: SessionExpires,
    /// The UAC listed `timer` in Supported or Require.
    supports_timer: bool,
}

#[derive(Debug)]
struct Session {
    interval: u32,
    we_refresh: bool,
    key: Option<delay_queue::Key>,
}

/// The engine's session-timer state, beside the dialogs it belongs to.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Server INVITE transaction → its offer.
    offers: HashMap<String, Offer>,
    /// Dialog → its running timer.
    timers: HashMap<String, Session>,
    /// Dialog → our current SDP (Content-Type, body), for the refreshes we send; kept only
    /// while the dialog has (or had) a session timer.
    local_sdp: HashMap<String, (String, Vec<u8>)>,
    /// The engine's refresh re-INVITEs in progress: client transaction → dialog.
    refreshes: HashMap<String, String>,
}

fn lists_timer(msg: &Message<'_>) -> bool {
    [HeaderName::Supported, HeaderName::Require]
        .iter()
        .any(|h| msg.values(*h).any(|(_, v)| String::from_utf8_lossy(v).split(',').any(|o| o.trim().eq_ignore_ascii_case("timer"))))
}

/// `Session-Expires: N;refresher=…` on a 2xx, and `Require: timer` when it names the UAC as
/// refresher and the UAC supports the extension (RFC 4028 §9).
fn add_session_expires(d: &mut Draft, interval: u32, refresher: Refresher, supports_timer: bool) {
    d.headers.push(("Session-Expires".into(), format!("{interval};refresher={}", refresher.as_str())));
    let required = d.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("Require") && v.split(',').any(|o| o.trim().eq_ignore_ascii_case("timer")));
    if refresher == Refresher::Uac && supports_timer && !required {
        d.headers.push(("Require".into(), "timer".into()));
    }
}

/// The SDP of a message the engine sent or completed, when it carries one.
fn sdp_of(d: &Draft) -> Option<(String, Vec<u8>)> {
    if d.body.is_empty() {
        return None;
    }
    let ct = d.get(HeaderName::ContentType).unwrap_or("application/sdp").to_owned();
    ct.to_ascii_lowercase().contains("sdp").then(|| (ct, d.body.clone()))
}

impl Core {
    fn min_se(&self) -> u32 {
        self.config.session_timers.min_se
    }

    /// An INVITE (initial, or inside `dialog`) or an in-dialog UPDATE from the network: 422
    /// when its Session-Expires is below our Min-SE (RFC 4028 §8.1, §9; true: answered). A
    /// refresh inside a dialog cancels its timer and re-arms it from the request.
    pub(super) fn session_screen(&mut self, msg: &Message<'_>, src: Source, dialog: Option<&str>) -> bool {
        let expires = SessionExpires::of(msg);
        if let Some(se) = expires.filter(|se| se.delta < self.min_se()) {
            tracing::debug!(interval = se.delta, min_se = self.min_se(), "refusing a session interval below Min-SE");
            let tag = msg.tag(HeaderName::To).map(|t| String::from_utf8_lossy(t).into_owned()).unwrap_or_else(util::tag);
            let draft = response_draft(msg, 422, "Session Interval Too Small", Some(&tag), &[("Min-SE", self.min_se().to_string())], src);
            self.send(src.protocol, src.remote, Some(src.local), draft.to_bytes());
            return true;
        }
        if let Some(dialog) = dialog {
            self.session_stop(dialog);
            if let Some(se) = expires {
                self.session_arm(dialog, se.delta, se.refresher == Some(Refresher::Uas));
            }
        }
        false
    }

    /// Keeps what an initial INVITE offered, for the app's 2xx.
    pub(super) fn session_note_offer(&mut self, txn: &str, msg: &Message<'_>) {
        if let Some(expires) = SessionExpires::of(msg) {
            self.sessions.offers.insert(txn.to_owned(), Offer { expires, supports_timer: lists_timer(msg) });
        }
    }

    /// The app's response on server transaction `txn`, before it is sent: a 2xx to an initial
    /// INVITE takes the app's Session-Expires, or answers the UAC's offer. The timer to arm
    /// (interval, we refresh) once the dialog exists. A 2xx to a refresh inside a dialog
    /// states the timer its request set (RFC 4028 §9: a 2xx without Session-Expires would
    /// turn the far end's timer off, and it would stop refreshing), unless the app did.
    pub(super) fn session_answer(&mut self, txn: &str, status: u16, d: &mut Draft) -> Option<(u32, bool)> {
        let t = self.server.get(txn)?;
        if !(200..300).contains(&status) {
            return None;
        }
        if t.in_dialog {
            let dialog = t.dialog_id.clone()?;
            let offer = self.sessions.offers.remove(txn)?;
            let s = self.sessions.timers.get(&dialog)?;
            if !d.has(HeaderName::SessionExpires) {
                let refresher = if s.we_refresh { Refresher::Uas } else { Refresher::Uac };
                add_session_expires(d, s.interval, refresher, offer.supports_timer);
            }
            return None;
        }
        if t.method != "INVITE" {
            return None;
        }
        let offer = self.sessions.offers.remove(txn);
        let min_se = self.min_se();
        if let Some(se) = d.get(HeaderName::SessionExpires).and_then(SessionExpires::parse) {
            return Some((se.delta.max(min_se), se.refresher == Some(Refresher::Uas)));
        }
        let offer = offer?;
        let refresher = offer.expires.refresher.or(self.config.session_timers.default_refresher)?;
        let interval = offer.expires.delta.max(min_se);
        add_session_expires(d, interval, refresher, offer.supports_timer);
        Some((interval, refresher == Refresher::Uas))
    }

    /// After the app's response on `txn` went out: arms the timer `session_answer` chose and
    /// keeps the SDP of a 2xx to INVITE as the session's.
    pub(super) fn session_answered(&mut self, txn: &str, dialog: Option<&str>, status: u16, d: &Draft, timer: Option<(u32, bool)>) {
        let Some(dialog) = dialog else { return };
        let invite = self.server.get(txn).is_some_and(|t| t.method == "INVITE");
        if !(invite && (200..300).contains(&status) && self.dialogs.contains_key(dialog)) {
            return;
        }
        if let Some((interval, we_refresh)) = timer {
            self.session_arm(dialog, interval, we_refresh);
        }
        self.session_note_sdp(dialog, d);
    }

    /// `d`'s SDP becomes the session's, when the dialog has a session timer.
    fn session_note_sdp(&mut self, dialog: &str, d: &Draft) {
        if self.sessions.timers.contains_key(dialog) {
            if let Some(sdp) = sdp_of(d) {
                self.sessions.local_sdp.insert(dialog.to_owned(), sdp);
            }
        }
    }

    /// An app's request inside `dialog`: an offer or answer it carries (INVITE, ACK) becomes
    /// the session's SDP.
    pub(super) fn session_note_request(&mut self, dialog: &str, d: &Draft) {
        if matches!(d.method(), "INVITE" | "ACK") {
            self.session_note_sdp(dialog, d);
        }
    }

    /// A 2xx to an INVITE we sent (client transaction `txn`, still open) in `dialog`: the
    /// INVITE's SDP is the session's, the response's Session-Expires arms the timer, and a
    /// refresh of the engine's own is ACKed here.
    pub(super) fn session_uac_2xx(&mut self, txn: &str, dialog: &str, msg: &Message<'_>) {
        if !self.client.contains_key(txn) {
            return;
        }
        if self.sessions.refreshes.contains_key(txn) {
            let ack = Draft { start_line: "ACK sip:placeholder SIP/2.0".into(), headers: Vec::new(), body: Vec::new() };
            if let Some((_, bytes)) = self.send_engine_request(dialog, ack) {
                if let Some(dl) = self.dialogs.get_mut(dialog) {
                    dl.last_ack = Some(bytes.into());
                }
            }
        }
        if let Some(se) = SessionExpires::of(msg) {
            self.session_arm(dialog, se.delta, se.refresher != Some(Refresher::Uas));
        }
        if self.sessions.timers.contains_key(dialog) {
            if let Some(sdp) = self.client.get(txn).and_then(|t| sdp_of(&t.draft)) {
                self.sessions.local_sdp.insert(dialog.to_owned(), sdp);
            }
        }
    }

    /// The final outcome of client transaction `txn` when the app does not hear of it: for an
    /// engine refresh, 491 tries again at the next half interval, and any other failure ends
    /// the call.
    pub(super) fn session_refresh_done(&mut self, txn: &str, status: u16) {
        let Some(dialog) = self.sessions.refreshes.remove(txn) else { return };
        match status {
            200..=299 => {}
            491 => {
                if let Some(interval) = self.sessions.timers.get(&dialog).map(|s| s.interval) {
                    self.session_arm(&dialog, interval, true);
                }
            }
            _ => {
                tracing::info!(dialog = %dialog, status, "session refresh failed: ending the call");
                self.end_dialog(&dialog, "Session timer expired");
            }
        }
    }

    /// (Re)arms `dialog`'s timer: at half the interval when we refresh, at its end when they do.
    pub(super) fn session_arm(&mut self, dialog: &str, interval: u32, we_refresh: bool) {
        let ms = u64::from(interval) * 1000;
        let after = Duration::from_millis(if we_refresh { ms / 2 } else { ms });
        let old = self.sessions.timers.remove(dialog).and_then(|s| s.key);
        self.disarm(old);
        let key = self.arm(Timer::Session(dialog.to_owned()), after);
        self.sessions.timers.insert(dialog.to_owned(), Session { interval, we_refresh, key: Some(key) });
    }

    fn session_stop(&mut self, dialog: &str) {
        let old = self.sessions.timers.remove(dialog).and_then(|s| s.key);
        self.disarm(old);
    }

    /// `Timer::Session`: refresh (we are the refresher) or end the call (they were).
    pub(super) fn session_timer_fired(&mut self, dialog: &str) {
        let Some(s) = self.sessions.timers.get_mut(dialog) else { return };
        s.key = None; // spent
        let (interval, we_refresh) = (s.interval, s.we_refresh);
        if !self.dialogs.contains_key(dialog) {
            self.sessions.timers.remove(dialog);
            return;
        }
        if !we_refresh {
            tracing::info!(dialog = %dialog, "the far end did not refresh the session: ending the call");
            return self.end_dialog(dialog, "Session timer expired");
        }
        let mut invite = Draft { start_line: "INVITE sip:placeholder SIP/2.0".into(), headers: Vec::new(), body: Vec::new() };
        invite.headers.push(("Session-Expires".into(), format!("{interval};refresher=uac")));
        invite.headers.push(("Min-SE".into(), self.min_se().to_string()));
        invite.headers.push(("Supported".into(), "timer".into()));
        if let Some((ct, body)) = self.sessions.local_sdp.get(dialog) {
            invite.headers.push(("Content-Type".into(), ct.clone()));
            invite.body = body.clone();
        }
        match self.send_engine_request(dialog, invite) {
            Some((Some(txn), _)) => {
                self.sessions.refreshes.insert(txn, dialog.to_owned());
            }
            _ => self.end_dialog(dialog, "Session timer expired"),
        }
    }

    /// The dialog is gone: so is its session state.
    pub(super) fn session_forget(&mut self, dialog: &str) {
        self.session_stop(dialog);
        self.sessions.local_sdp.remove(dialog);
        self.sessions.refreshes.retain(|_, d| d != dialog);
    }

    /// A server transaction is gone: so is the offer it carried.
    pub(super) fn session_txn_gone(&mut self, txn: &str) {
        self.sessions.offers.remove(txn);
    }

    /// No session state left (tests).
    #[cfg(test)]
    pub(super) fn sessions_idle(&self) -> bool {
        let s = &self.sessions;
        s.offers.is_empty() && s.timers.is_empty() && s.local_sdp.is_empty() && s.refreshes.is_empty()
    }

    /// Dialogs with a session timer (tests).
    #[cfg(test)]
    pub(super) fn session_timers_running(&self) -> usize {
        self.sessions.timers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_values() {
        assert_eq!(SessionExpires::parse("1800"), Some(SessionExpires { delta: 1800, refresher: None }));
        assert_eq!(SessionExpires::parse("90;refresher=uac"), Some(SessionExpires { delta: 90, refresher: Some(Refresher::Uac) }));
        assert_eq!(SessionExpires::parse(" 120 ; x=1; Refresher = UAS"), Some(SessionExpires { delta: 120, refresher: Some(Refresher::Uas) }));
        assert_eq!(SessionExpires::parse("soon"), None);
    }
}
