//! SIP over a byte stream (TCP, TLS): messages framed by Content-Length (§18.3), keep-alive
//! pings answered (RFC 5626 §4.4.1), and a deadline on every message begun.

use super::Link;
use crate::sip::stream::StreamDecoder;
use crate::sip::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads and writes one connection until either side closes it or the engine stops.
pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin>(io: S, mut link: Link) {
    let (mut reader, mut writer) = tokio::io::split(io);
    let (peer, protocol) = (link.peer, link.protocol.as_str());
    let mut decoder = StreamDecoder::new(link.t.limits);
    let mut buf = vec![0u8; 16 * 1024];
    let mut stop = link.t.stopped();
    let timeout = link.t.message_timeout;
    // Armed while a message is due: the first one on a connection the peer opened, and any
    // message begun. Trickling bytes does not push it back; completing a message does.
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut armed = link.slot.is_some();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = &mut deadline, if armed => {
                tracing::warn!(peer = %peer, "closing {protocol} connection: no complete message in time");
                return;
            }
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                decoder.feed(&buf[..n]);
                let mut completed = false;
                loop {
                    match decoder.next_message() {
                        Ok(Some(bytes)) => {
                            completed = true;
                            if !link.deliver(bytes).await {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // Framing can no longer be trusted: close the connection (§18.3),
                            // after telling a sender of an oversized request why (513).
                            tracing::warn!(peer = %peer, error = %e, "closing {protocol} connection");
                            if let Some(head) = decoder.oversized_head().filter(|_| e.kind == ErrorKind::TooLarge) {
                                if let Some(answer) = link.refuse_oversized(head).await {
                                    let _ = writer.write_all(&answer).await;
                                    let _ = writer.flush().await;
                                }
                            }
                            return;
                        }
                    }
                }
                for _ in 0..decoder.take_pings() {
                    if writer.write_all(b"\r\n").await.is_err() {
                        return;
                    }
                }
                let partial = decoder.buffered() > 0;
                if partial && (completed || !armed) {
                    deadline.as_mut().reset(tokio::time::Instant::now() + timeout);
                }
                armed = partial || (armed && !completed);
            }
            out = link.writes.recv() => match out {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}
