//! SIP over WebSocket and secure WebSocket (RFC 7118): an HTTP upgrade that must offer the
//! `sip` subprotocol, then one SIP message per frame (text or binary) each way. A frame of
//! CRLFs is a keep-alive and gets a CRLF back, as SIP.js and JsSIP expect; a frame that is not
//! SIP, or one over the message limit, closes the connection.

use super::Link;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

const SUBPROTOCOL: &str = "sec-websocket-protocol";

/// Accepts the upgrade, then reads and writes frames until either side closes or the engine
/// stops.
pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin>(io: S, mut link: Link) {
    let (peer, protocol) = (link.peer, link.protocol.as_str());
    let max = link.t.limits.max_message;
    let config = WebSocketConfig::default().max_message_size(Some(max)).max_frame_size(Some(max));
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(io, offer_sip, Some(config));
    let ws = match tokio::time::timeout(link.t.message_timeout, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return tracing::warn!(peer = %peer, error = %e, "closing {protocol} connection: WebSocket upgrade failed"),
        Err(_) => return tracing::warn!(peer = %peer, "closing {protocol} connection: no WebSocket upgrade in time"),
    };
    let (mut sink, mut frames) = ws.split();
    let mut stop = link.t.stopped();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            frame = frames.next() => {
                let bytes = match frame {
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(data))) => data.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        // Sends the pong tungstenite queued for a ping.
                        let _ = sink.flush().await;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Err(e)) => {
                        if matches!(e, WsError::Capacity(_)) {
                            // RFC 6455 §7.4.1: 1009, a message too big to process.
                            let frame = CloseFrame { code: CloseCode::Size, reason: "SIP message over the size limit".into() };
                            let _ = sink.send(Message::Close(Some(frame))).await;
                        }
                        return tracing::warn!(peer = %peer, error = %e, "closing {protocol} connection");
                    }
                };
                if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    if sink.send(Message::text("\r\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
                if !looks_like_sip(&bytes) {
                    return tracing::warn!(peer = %peer, "closing {protocol} connection: a frame that is not a SIP message");
                }
                if !link.deliver(bytes).await {
                    return;
                }
            }
            out = link.writes.recv() => {
                let Some(bytes) = out else { return };
                // A clone of `Bytes` shares the buffer: checking the text costs no copy.
                let frame = match Utf8Bytes::try_from(bytes.clone()) {
                    Ok(text) => Message::Text(text),
                    Err(_) => Message::Binary(bytes),
                };
                if sink.send(frame).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The upgrade is accepted only for the `sip` subprotocol, which the answer then names.
#[allow(clippy::result_large_err)] // the shape tungstenite's callback has
fn offer_sip(req: &Request, mut res: Response) -> Result<Response, ErrorResponse> {
    let offered = req
        .headers()
        .get_all(SUBPROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("sip"));
    if !offered {
        let mut refused = ErrorResponse::new(Some("SIP over WebSocket needs the 'sip' subprotocol (RFC 7118)".into()));
        *refused.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refused);
    }
    res.headers_mut().insert(SUBPROTOCOL, HeaderValue::from_static("sip"));
    Ok(res)
}

/// A cheap check of the start line: a status line, or a request line ending in SIP/2.0. The
/// core parses the rest and answers a request that turns out malformed.
fn looks_like_sip(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(0);
    let rest = &bytes[start..];
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.starts_with(b"SIP/2.0 ") || line.ends_with(b" SIP/2.0")
}

#[cfg(test)]
mod tests {
    use super::looks_like_sip;

    #[test]
    fn sip_start_lines() {
        assert!(looks_like_sip(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"));
        assert!(looks_like_sip(b"SIP/2.0 200 OK\r\n\r\n"));
        assert!(looks_like_sip(b"\r\nOPTIONS sip:a@b SIP/2.0\n\n"));
        assert!(!looks_like_sip(b"{\"hello\": 1}"));
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!looks_like_sip(b""));
    }
}
