//! Events cross into JS a batch at a time as two values: one string holding every text field
//! of the batch, and one buffer holding, per event, a small header and its SIP message packed
//! with the message's index. Building a JS object per event through napi cost more than
//! anything else on the Rust side of a call (profile in bench/RESULTS.md); two values per
//! batch are read by lib/batch.js instead.
//!
//! `text`: every token of every event in order, each followed by NUL (a NUL inside a token is
//! replaced by U+FFFD, so the split cannot go wrong).
//! `data`, per event, in native-endian u32 words: kind, cmd, flags, token count, message
//! length in bytes, index length in words, session (listen mode: the server connection it
//! belongs to; 0 otherwise); then the message bytes zero-padded to a multiple of 4, then the
//! index words (sip::index). `flags`: MORE, MESSAGE (a message follows), UNPARSED (the message
//! did not parse: no index, and its reason is the last token), OPAQUE (the bytes are not a
//! SIP message: no index). Reply and failed events have their status as their first token.

use crate::app::Event;
use crate::client::ListenEvent;
use crate::sip::{self, Framing, Limits};
use crate::wire::ReplyStatus;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

/// Event kinds, as lib/batch.js numbers them.
const CONNECTED: u32 = 0;
const AUTH_FAILED: u32 = 1;
const ERROR: u32 = 2;
const CLOSED: u32 = 3;
const RECONNECTING: u32 = 4;
const SIP: u32 = 5;
const REPLY: u32 = 6;
const FAILED: u32 = 7;
const CDR: u32 = 8;
/// Listen mode: the listener is bound (address, port); a server connected (remote, local);
/// bytes for an attached socket; the listener stopped ([error]).
const LISTENING: u32 = 9;
const ACCEPTED: u32 = 10;
const BYTES: u32 = 11;
const STOPPED: u32 = 12;

const MORE: u32 = 1;
const MESSAGE: u32 = 2;
const UNPARSED: u32 = 4;
const OPAQUE: u32 = 8;

#[napi(object)]
pub struct JsBatch {
    pub text: String,
    pub data: Buffer,
}

pub struct BatchWriter {
    text: String,
    data: Vec<u8>,
    events: usize,
    /// The session of the event being written.
    session: u32,
    /// The index of the message being written, kept between events for its allocation.
    index: Vec<u32>,
}

/// Room a batch starts with: an event with an INVITE and its index is about 1.5 KB of data
/// and 200 bytes of text. Growing from empty reallocated several times an event, a visible
/// share of the engine thread's allocations.
const DATA_CAPACITY: usize = 4096;
const TEXT_CAPACITY: usize = 512;

/// The most room a batch starts with, under the allocator's threshold for mapping pages.
const MAX_START_CAPACITY: usize = 64 * 1024;

/// The room the next batch starts with: what the last one used, so that under load a batch
/// of many events does not grow (and copy itself) several times on the way.
#[derive(Clone, Copy)]
pub struct BatchRoom {
    text: usize,
    data: usize,
}

impl Default for BatchRoom {
    fn default() -> Self {
        BatchRoom { text: TEXT_CAPACITY, data: DATA_CAPACITY }
    }
}

/// What the pump can put in a batch: a connection's event, or a listener's with its session.
pub trait Batchable: Send + 'static {
    fn write_to(self, batch: &mut BatchWriter);
}

impl Batchable for Event {
    fn write_to(self, batch: &mut BatchWriter) {
        batch.session = 0;
        batch.push(self);
    }
}

impl Batchable for (u32, ListenEvent) {
    fn write_to(self, batch: &mut BatchWriter) {
        let (session, ev) = self;
        batch.session = session;
        match ev {
            ListenEvent::Listening { address, port } => batch.event(LISTENING, 0, 0, &[&address, &port.to_string()], None),
            ListenEvent::Accepted { remote, local } => batch.event(ACCEPTED, 0, 0, &[&remote, &local], None),
            ListenEvent::Session(ev) => batch.push(ev),
            ListenEvent::Bytes(data) => batch.event(BYTES, 0, OPAQUE, &[], Some(&data)),
            ListenEvent::Stopped { error } => batch.event(STOPPED, 0, 0, &error.as_deref().into_iter().collect::<Vec<_>>(), None),
        }
    }
}

impl BatchWriter {
    pub fn with_room(room: BatchRoom) -> Self {
        BatchWriter { text: String::with_capacity(room.text), data: Vec::with_capacity(room.data), events: 0, session: 0, index: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.events
    }

    /// The room for the next batch, after this one.
    pub fn room_used(&self) -> BatchRoom {
        let fit = |used: usize, least: usize| (used + used / 4).clamp(least, MAX_START_CAPACITY);
        BatchRoom { text: fit(self.text.len(), TEXT_CAPACITY), data: fit(self.data.len(), DATA_CAPACITY) }
    }

    pub fn finish(self) -> JsBatch {
        JsBatch { text: self.text, data: Buffer::from(self.data) }
    }

    fn token(&mut self, t: &str) {
        if t.contains('\0') {
            self.text.push_str(&t.replace('\0', "\u{fffd}"));
        } else {
            self.text.push_str(t);
        }
        self.text.push('\0');
    }

    fn word(&mut self, w: u32) {
        self.data.extend_from_slice(&w.to_ne_bytes());
    }

    fn event(&mut self, kind: u32, cmd: u32, flags: u32, tokens: &[&str], raw: Option<&[u8]>) {
        self.events += 1;
        let raw = raw.filter(|r| !r.is_empty());
        // A message is sent with its index, or, when it does not parse, with the reason.
        let mut index = std::mem::take(&mut self.index);
        index.clear();
        let reason = match raw.filter(|_| flags & OPAQUE == 0).map(|r| sip::parse(r, Framing::Datagram, &Limits::default())) {
            Some(Ok(m)) => {
                index.resize(m.index_len(), 0);
                m.write_index(&mut index);
                None
            }
            Some(Err(e)) => Some(e.to_string()),
            None => None,
        };
        let mut flags = flags;
        if raw.is_some() {
            flags |= MESSAGE;
        }
        if reason.is_some() {
            flags |= UNPARSED;
        }
        let ntokens = tokens.len() + usize::from(reason.is_some());
        for w in [kind, cmd, flags, ntokens as u32, raw.map_or(0, |r| r.len() as u32), index.len() as u32, self.session] {
            self.word(w);
        }
        for t in tokens {
            self.token(t);
        }
        if let Some(reason) = reason {
            self.token(&reason);
        }
        if let Some(raw) = raw {
            self.data.extend_from_slice(raw);
            self.data.resize(self.data.len().next_multiple_of(4), 0);
        }
        for &w in &index {
            self.word(w);
        }
        self.index = index;
    }

    pub fn push(&mut self, ev: Event) {
        match ev {
            Event::Connected { hostports, version, local_hostports } => self.event(CONNECTED, 0, 0, &[&hostports, &version, &local_hostports], None),
            Event::AuthFailed { reason } => self.event(AUTH_FAILED, 0, 0, &[&reason], None),
            Event::Error { message } => self.event(ERROR, 0, 0, &[&message], None),
            Event::Closed => self.event(CLOSED, 0, 0, &[], None),
            Event::Reconnecting { delay_ms, attempt } => self.event(RECONNECTING, 0, 0, &[&delay_ms.to_string(), &attempt.to_string()], None),
            Event::Sip { meta, raw } => {
                let (ra, rp) = meta.received_on.as_ref().map_or(("", ""), |(a, p)| (a.as_str(), p.as_str()));
                let mut tokens = meta.fields().to_vec();
                tokens.extend([ra, rp, meta.session_token.as_deref().unwrap_or_default()]);
                self.event(SIP, 0, 0, &tokens, Some(&raw));
            }
            Event::Reply { cmd, status, args, raw, more } => {
                let status = match status {
                    ReplyStatus::Ok => "OK",
                    ReplyStatus::No => "NO",
                    ReplyStatus::Nok => "NOK",
                };
                let tokens: Vec<&str> = std::iter::once(status).chain(args.iter().map(String::as_str)).collect();
                self.event(REPLY, cmd, if more { MORE } else { 0 }, &tokens, raw.as_deref());
            }
            Event::Failed { cmd, code, reason } => self.event(FAILED, cmd, 0, &[code.as_str(), &reason], None),
            Event::Cdr { kind, source, time, extra, raw } => {
                self.event(CDR, 0, 0, &[kind.as_str(), &source, &time, extra.as_deref().unwrap_or_default()], Some(&raw));
            }
        }
    }
}
