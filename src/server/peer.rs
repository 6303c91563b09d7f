//! One app connected to `serve`: the server side of the wire protocol. Frames from the app
//! become engine commands; engine events become the frames drachtio-server would send.

use crate::app::{Command, Event};
use crate::engine::conn_limit::Slot;
use crate::engine::{Decision, Engine};
use crate::wire::{AppMsg, FrameDecoder, ReplyStatus, ServerMsg, MAX_RECEIVE_FRAME};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// An app must authenticate this soon after connecting.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before answering a wrong secret, to slow down guessing.
const AUTH_FAILURE_DELAY: Duration = Duration::from_millis(500);
const EVENT_QUEUE: usize = 4096;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Compares secrets in time independent of where they differ.
fn secret_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn frame(msg: &ServerMsg, out: &mut Vec<u8>) {
    // Frames to apps have no size limit of their own; encode_frame's limit is for app→server.
    let payload = msg.to_payload();
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b'#');
    out.extend_from_slice(&payload);
}

fn reply(request_id: &str, status: ReplyStatus, args: Vec<String>, body: Option<Vec<u8>>) -> ServerMsg {
    ServerMsg::Response { id: new_id(), request_id: request_id.to_owned(), status, args, body }
}

/// What every app connection shares.
pub struct Shared {
    pub engine: Engine,
    pub secret: String,
    /// Apps may subscribe to CDRs (`<cdrs>` not false).
    pub cdrs: bool,
}

/// How the connection came about.
pub enum Mode {
    /// The app connected to us (`srf.connect`): `Slot` is its per-address place among
    /// unauthenticated connections until it authenticates.
    Inbound(Slot),
    /// We connected to the app (`srf.listen`) for held request `txn` (a request handler's
    /// `route`): once the app authenticates it gets that request; if it never does, the caller
    /// gets a 480.
    Outbound { txn: String },
}

/// `unauthenticated` is this connection's per-address slot until the app authenticates.
pub async fn run(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, stopped: watch::Receiver<bool>, unauthenticated: Slot) {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    serve_app(reader, writer, peer, shared, stopped, Mode::Inbound(unauthenticated)).await;
}

/// One app connection over any byte stream (TCP halves, or a TLS stream split).
pub async fn serve_app<R, W>(mut reader: R, mut writer: W, peer: SocketAddr, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>, mode: Mode)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (engine, secret) = (&shared.engine, &shared.secret);
    let (mut unauthenticated, mut outbound_txn) = match mode {
        Mode::Inbound(slot) => (Some(slot), None),
        Mode::Outbound { txn } => (None, Some(txn)),
    };
    let mut decoder = FrameDecoder::new(MAX_RECEIVE_FRAME);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let (events_tx, mut events) = mpsc::channel::<Event>(EVENT_QUEUE);
    let mut events_tx = Some(events_tx);
    let mut commands: Option<mpsc::Sender<Command>> = None;
    // The authenticate msgId waits for the engine's Connected event to be answered.
    let mut auth_id: Option<String> = None;
    // Engine command ids → the app's wire msgIds.
    let mut pending: HashMap<u32, String> = HashMap::new();
    let mut next_cmd: u32 = 1;
    let deadline = tokio::time::sleep(AUTH_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        let mut close = false;
        tokio::select! {
            _ = stopped.changed() => break,
            _ = &mut deadline, if commands.is_none() => {
                tracing::warn!(peer = %peer, "no authenticate within the time limit; closing");
                break;
            }
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                decoder.feed(&buf[..n]);
                loop {
                    let payload = match decoder.next_frame() {
                        Ok(Some(p)) => p,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(peer = %peer, error = %e, "closing app connection");
                            close = true;
                            break;
                        }
                    };
                    let msg = match AppMsg::parse(&payload) {
                        Ok(m) => m,
                        Err(e) => {
                            let id = String::from_utf8_lossy(payload.split(|&b| b == b'|').next().unwrap_or_default()).into_owned();
                            tracing::warn!(peer = %peer, error = %e, "bad message from app");
                            frame(&reply(&id, ReplyStatus::No, vec!["Unknown message type".into()], None), &mut out);
                            close = true;
                            break;
                        }
                    };
                    match (msg, commands.as_ref()) {
                        (AppMsg::Authenticate { id, secret: given, tags }, None) => {
                            if !secret_matches(&given, secret) {
                                tracing::warn!(peer = %peer, "app failed to authenticate");
                                tokio::time::sleep(AUTH_FAILURE_DELAY).await;
                                frame(&reply(&id, ReplyStatus::No, vec!["incorrect secret".into()], None), &mut out);
                                close = true;
                                break;
                            }
                            let Some(tx) = events_tx.take() else { break };
                            drop(unauthenticated.take());
                            // An outbound connection's request follows the authenticate answer.
                            commands = Some(engine.attach_with(tx, Vec::new(), tags, outbound_txn.take()));
                            auth_id = Some(id);
                        }
                        (AppMsg::Authenticate { id, .. }, Some(_)) => {
                            frame(&reply(&id, ReplyStatus::Ok, vec![], None), &mut out);
                        }
                        (other, None) => {
                            frame(&reply(other.id(), ReplyStatus::No, vec!["authenticate first".into()], None), &mut out);
                            close = true;
                            break;
                        }
                        (AppMsg::Ping { id }, Some(_)) => frame(&reply(&id, ReplyStatus::Ok, vec!["pong".into()], None), &mut out),
                        (AppMsg::Route { id, verb }, Some(_)) if !shared.cdrs && verb.starts_with("cdr:") => {
                            // CDRs are off (`<cdrs>false</cdrs>`): drachtio-server accepts the
                            // route and never writes one.
                            frame(&reply(&id, ReplyStatus::Ok, vec![], None), &mut out);
                        }
                        (AppMsg::Route { id, verb }, Some(tx)) => {
                            // Answered by the engine once the route is in force.
                            let cmd = take_cmd(&mut next_cmd);
                            pending.insert(cmd, id);
                            let _ = tx.send(Command::Route { verb, ack: Some(cmd) }).await;
                        }
                        (AppMsg::RemoveRoute { id, verb }, Some(tx)) => {
                            let _ = tx.send(Command::RemoveRoute(verb)).await;
                            frame(&reply(&id, ReplyStatus::Ok, vec![], None), &mut out);
                        }
                        (AppMsg::Sip { id, txn_id, dialog_id, route_uri, body }, Some(tx)) => {
                            if body.starts_with(b"SIP/") && txn_id.is_empty() {
                                frame(&reply(&id, ReplyStatus::No, vec!["transaction id missing".into()], None), &mut out);
                                close = true;
                                break;
                            }
                            let cmd = take_cmd(&mut next_cmd);
                            pending.insert(cmd, id);
                            let _ = tx.send(Command::Sip { cmd, txn_id, dialog_id, route_uri, raw: body, answer_bye: false }).await;
                        }
                        (AppMsg::Proxy { id, txn_id, spec, body }, Some(tx)) => {
                            let cmd = take_cmd(&mut next_cmd);
                            pending.insert(cmd, id);
                            let _ = tx.send(Command::Proxy { cmd, txn_id, spec, raw: body }).await;
                        }
                    }
                }
            }
            Some(event) = events.recv() => {
                close |= on_event(event, &mut auth_id, &mut pending, &mut out);
                while let Ok(e) = events.try_recv() {
                    close |= on_event(e, &mut auth_id, &mut pending, &mut out);
                }
            }
        }
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
        }
        if close {
            break;
        }
    }
    let _ = writer.shutdown().await;
    // Dropping the command sender detaches the app: the engine answers what it left open.
    drop(commands);
    if let Some(txn) = outbound_txn {
        // We connected for this request and the app never took it.
        tracing::warn!(peer = %peer, "the app we connected to did not authenticate; answering 480");
        engine.route_held(txn, Decision::Respond { status: 480, reason: "Temporarily Unavailable".into(), headers: Vec::new() }).await;
    }
}

/// A fresh command id (never 0) for a frame whose answer comes from the engine.
fn take_cmd(next: &mut u32) -> u32 {
    let cmd = *next;
    *next = next.wrapping_add(1).max(1);
    cmd
}

/// Frames for one engine event; true when the connection should close (the engine let the
/// app go: an outbound connection whose request was gone before the app took it).
fn on_event(event: Event, auth_id: &mut Option<String>, pending: &mut HashMap<u32, String>, out: &mut Vec<u8>) -> bool {
    match event {
        Event::Connected { hostports, version, local_hostports } => {
            if let Some(id) = auth_id.take() {
                frame(&reply(&id, ReplyStatus::Ok, vec![hostports, version, local_hostports], None), out);
            }
        }
        Event::Sip { meta, raw } => frame(&ServerMsg::Sip { id: new_id(), meta, body: raw.into() }, out),
        Event::Reply { cmd, status, args, raw, more } => {
            let id = if more { pending.get(&cmd).cloned() } else { pending.remove(&cmd) };
            if let Some(id) = id {
                frame(&reply(&id, status, args, raw), out);
            }
        }
        Event::Failed { cmd, reason, .. } => {
            if let Some(id) = pending.remove(&cmd) {
                frame(&reply(&id, ReplyStatus::Nok, vec![reason], None), out);
            }
        }
        Event::Cdr { kind, source, time, extra, raw } => frame(&ServerMsg::Cdr { id: new_id(), kind, source, time, extra, body: raw }, out),
        Event::Closed => return true,
        Event::AuthFailed { .. } | Event::Error { .. } | Event::Reconnecting { .. } => {}
    }
    false
}

#[cfg(test)]
mod tests {
    use super::secret_matches;

    #[test]
    fn secrets() {
        assert!(secret_matches("cymru", "cymru"));
        assert!(!secret_matches("cymr", "cymru"));
        assert!(!secret_matches("cymrv", "cymru"));
        assert!(!secret_matches("", "cymru"));
    }
}
