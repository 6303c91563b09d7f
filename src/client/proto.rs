//! The app side of one drachtio control connection, shared by the connection we open
//! (conn.rs, `srf.connect`) and the ones a server opens to us (listen.rs, `srf.listen`): frame
//! decoding, commands awaiting replies, bytes waiting to be written, and the translation of
//! server frames into events and of commands into frames.

use super::pending::{Pending, REPLY_DEADLINE};
use crate::app::{CmdId, Command, Event, EventSink, FailureCode};
use crate::wire::{encode_frame, AppMsg, FrameDecoder, ReplyStatus, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// A connection's byte stream: TCP, or TLS over it.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Bytes read from a socket at a time.
pub(super) const READ_CHUNK: usize = 64 * 1024;
/// Unanswered pings in a row after which a link counts as dead.
pub(super) const MISSED_PINGS: u32 = 2;

/// Per-connection protocol state.
pub(super) struct Wire {
    pub decoder: FrameDecoder,
    pub pending: Pending,
    pub out: Vec<u8>,
}

impl Wire {
    pub fn new(max_frame: usize) -> Self {
        Wire { decoder: FrameDecoder::new(max_frame), pending: Pending::default(), out: Vec::new() }
    }

    pub fn try_queue(&mut self, msg: &AppMsg) -> Result<(), String> {
        encode_frame(&msg.to_payload(), &mut self.out).map_err(|e| e.to_string())
    }

    /// Control frames are small and always fit.
    pub fn queue(&mut self, msg: &AppMsg) {
        if let Err(e) = self.try_queue(msg) {
            tracing::error!(error = %e, "control frame over the size limit");
        }
    }

    pub async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> Result<(), String> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = w.write_all(&self.out).await;
        self.out.clear();
        result.map_err(|e| format!("write to drachtio server failed: {e}"))
    }

    /// The next frame decoded, parsed; an error means the stream is corrupt and must close.
    pub fn next_msg(&mut self) -> Result<Option<ServerMsg>, String> {
        let Some(frame) = self.decoder.next_frame().map_err(|e| format!("drachtio protocol error: {e}"))? else {
            return Ok(None);
        };
        ServerMsg::parse(&frame).map(Some).map_err(|e| format!("drachtio protocol error: {e}"))
    }

    /// A frame that is neither the answer to authenticate nor connection housekeeping:
    /// replies to commands, SIP traffic and CDRs become events.
    pub async fn deliver<S: EventSink>(&mut self, sink: &S, msg: ServerMsg) {
        match msg {
            ServerMsg::Response { request_id, status, args, body, .. } => {
                // A proxy's per-target answers carry `continue` (absolute token 12).
                let more = args.get(8).is_some_and(|a| a == "continue");
                if let Some(cmd) = self.pending.resolve(&request_id, more) {
                    sink.emit(Event::Reply { cmd, status, args, raw: body, more }).await;
                }
            }
            ServerMsg::Sip { meta, body, .. } => sink.emit(Event::Sip { meta, raw: body.into() }).await,
            ServerMsg::Cdr { kind, source, time, extra, body, .. } => sink.emit(Event::Cdr { kind, source, time, extra, raw: body }).await,
        }
    }

    /// Queues a SIP or proxy command (its reply is awaited), answers Stats; hands every other
    /// command (routes, disconnect) back to the caller, whose business they are.
    pub async fn command<S: EventSink>(&mut self, sink: &S, cmd: Command) -> Option<Command> {
        let (msg, cmd_id, deadline) = match cmd {
            Command::Sip { cmd, txn_id, dialog_id, route_uri, raw, .. } => {
                (AppMsg::Sip { id: new_id(), txn_id, dialog_id, route_uri, body: raw }, cmd, Some(Instant::now() + REPLY_DEADLINE))
            }
            // Proxy operations last as long as the call setup: no deadline.
            Command::Proxy { cmd, txn_id, spec, raw } => (AppMsg::Proxy { id: new_id(), txn_id, spec, body: raw }, cmd, None),
            Command::Stats { cmd } => {
                no_stats(sink, cmd).await;
                return None;
            }
            other => return Some(other),
        };
        match self.try_queue(&msg) {
            Ok(()) => self.pending.insert(msg.id().to_owned(), cmd_id, deadline),
            Err(reason) => sink.emit(Event::Failed { cmd: cmd_id, code: FailureCode::FrameTooLarge, reason }).await,
        }
        None
    }

    /// Fails the commands whose reply is overdue.
    pub async fn expire<S: EventSink>(&mut self, sink: &S) {
        for cmd in self.pending.expired(Instant::now()) {
            let reason = format!("no reply from the drachtio server within {} s", REPLY_DEADLINE.as_secs());
            sink.emit(Event::Failed { cmd, code: FailureCode::Timeout, reason }).await;
        }
    }

    /// The connection is gone: every command still waiting fails.
    pub async fn fail_pending<S: EventSink>(&mut self, sink: &S) {
        for cmd in self.pending.drain().collect::<Vec<_>>() {
            let reason = "the connection to the drachtio server closed before it answered".to_owned();
            sink.emit(Event::Failed { cmd, code: FailureCode::ConnectionClosed, reason }).await;
        }
    }
}

/// The drachtio protocol has no way to ask a server what it holds.
pub(super) async fn no_stats<S: EventSink>(sink: &S, cmd: CmdId) {
    let args = vec!["counts are only available from the embedded engine".to_owned()];
    sink.emit(Event::Reply { cmd, status: ReplyStatus::Nok, args, raw: None, more: false }).await;
}

/// A command that cannot be sent because there is no authenticated link.
pub(super) async fn fail_offline<S: EventSink>(sink: &S, cmd: Command, reason: &str) {
    match cmd {
        Command::Sip { cmd, .. } | Command::Proxy { cmd, .. } => {
            sink.emit(Event::Failed { cmd, code: FailureCode::NotConnected, reason: reason.to_owned() }).await;
        }
        Command::Stats { cmd } => no_stats(sink, cmd).await,
        Command::Route { .. } | Command::RemoveRoute(_) | Command::AdoptDialog(_) | Command::Disconnect => {}
    }
}

pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Authenticates: the first frame on every connection, in both directions (§3.1, §3.2).
pub(super) fn authenticate(wire: &mut Wire, secret: &str, tags: &[String]) -> String {
    let id = new_id();
    wire.queue(&AppMsg::Authenticate { id: id.clone(), secret: secret.to_owned(), tags: tags.to_vec() });
    id
}
