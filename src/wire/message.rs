//! Typed wire messages (wire-protocol.md §2), parsed from and written to frame payloads.
//! The first token is always the sender's message id; a body follows the leader after CRLF.
//! Both directions are here, so the client (app side) and `serve` (server side) share them.

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The leader has too few tokens for its message type.
    Truncated(&'static str),
    UnknownType(String),
    /// A field that must be a number is not.
    BadField(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated(kind) => write!(f, "truncated '{kind}' message"),
            WireError::UnknownType(t) => write!(f, "unknown message type '{t}'"),
            WireError::BadField(name) => write!(f, "malformed '{name}' field"),
        }
    }
}

impl std::error::Error for WireError {}

/// Meta fields of a `sip` frame from the server (§2.2: positions 2–12).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SipMeta {
    /// `network` or `application` (borrowed when the engine writes it: no allocation).
    pub source: Cow<'static, str>,
    pub bytes: String,
    pub protocol: Cow<'static, str>,
    pub address: String,
    pub port: String,
    pub time: String,
    pub txn_id: String,
    pub dialog_id: String,
    /// Address and port a new request was received on (tokens 10 and 11), when given.
    pub received_on: Option<(String, String)>,
    pub session_token: Option<String>,
}

impl SipMeta {
    /// The fields every `sip` message has, in wire order: source to dialog id.
    pub fn fields(&self) -> [&str; 8] {
        [&self.source, &self.bytes, &self.protocol, &self.address, &self.port, &self.time, &self.txn_id, &self.dialog_id]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    Ok,
    /// Protocol-level failure; the server closes the connection after it.
    No,
    /// Operation-level failure; the connection stays up.
    Nok,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdrKind {
    Attempt,
    Start,
    Stop,
}

impl CdrKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CdrKind::Attempt => "cdr:attempt",
            CdrKind::Start => "cdr:start",
            CdrKind::Stop => "cdr:stop",
        }
    }

    fn from_token(t: &str) -> Option<CdrKind> {
        match t {
            "cdr:attempt" => Some(CdrKind::Attempt),
            "cdr:start" => Some(CdrKind::Start),
            "cdr:stop" => Some(CdrKind::Stop),
            _ => None,
        }
    }
}

/// Server → app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// A reply to an app frame: `response|appMsgId|status|args…`.
    Response { id: String, request_id: String, status: ReplyStatus, args: Vec<String>, body: Option<Vec<u8>> },
    Sip { id: String, meta: SipMeta, body: Vec<u8> },
    /// `extra` is the role of cdr:start and the reason of cdr:stop.
    Cdr { id: String, kind: CdrKind, source: String, time: String, extra: Option<String>, body: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySpec {
    pub record_route: bool,
    pub full_response: bool,
    pub follow_redirects: bool,
    pub simultaneous: bool,
    pub provisional_timeout: String,
    pub final_timeout: String,
    pub destinations: Vec<String>,
}

/// App → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMsg {
    Authenticate { id: String, secret: String, tags: Vec<String> },
    Route { id: String, verb: String },
    RemoveRoute { id: String, verb: String },
    Ping { id: String },
    /// A request or response; which operation is decided by the ids (§2.1, §4).
    Sip { id: String, txn_id: String, dialog_id: String, route_uri: Option<String>, body: Vec<u8> },
    Proxy { id: String, txn_id: String, spec: ProxySpec, body: Vec<u8> },
}

/// Splits a payload into leader tokens and body (the body starts after the first CRLF).
fn split(payload: &[u8]) -> (Vec<String>, Option<Vec<u8>>) {
    let (leader, body) = match memchr::memchr(b'\r', payload) {
        Some(cr) => (&payload[..cr], Some(payload.get(cr + 2..).unwrap_or_default().to_vec())),
        None => (payload, None),
    };
    let tokens = String::from_utf8_lossy(leader).split('|').map(str::to_owned).collect();
    (tokens, body)
}

fn write(tokens: &[&str], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = tokens.join("|").into_bytes();
    if let Some(b) = body {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(b);
    }
    out
}

fn take(tokens: &mut std::vec::IntoIter<String>) -> String {
    tokens.next().unwrap_or_default()
}

/// A payload read up to its message type: sender's id, type, token count, the remaining
/// tokens, and the body.
struct Leader {
    id: String,
    kind: String,
    count: usize,
    rest: std::vec::IntoIter<String>,
    body: Option<Vec<u8>>,
}

impl Leader {
    fn read(payload: &[u8]) -> Leader {
        let (tokens, body) = split(payload);
        let count = tokens.len();
        let mut rest = tokens.into_iter();
        let id = take(&mut rest);
        let kind = take(&mut rest);
        Leader { id, kind, count, rest, body }
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl ServerMsg {
    pub fn parse(payload: &[u8]) -> Result<ServerMsg, WireError> {
        let Leader { id, kind, count, rest: mut t, body } = Leader::read(payload);
        match kind.as_str() {
            "response" => {
                if count < 4 {
                    return Err(WireError::Truncated("response"));
                }
                let request_id = take(&mut t);
                let status = match take(&mut t).as_str() {
                    "OK" => ReplyStatus::Ok,
                    "NO" => ReplyStatus::No,
                    // Anything other than OK is a failure (§2.2).
                    _ => ReplyStatus::Nok,
                };
                Ok(ServerMsg::Response { id, request_id, status, args: t.collect(), body })
            }
            "sip" => {
                if count < 10 {
                    return Err(WireError::Truncated("sip"));
                }
                let mut meta = SipMeta {
                    source: take(&mut t).into(),
                    bytes: take(&mut t),
                    protocol: take(&mut t).into(),
                    address: take(&mut t),
                    port: take(&mut t),
                    time: take(&mut t),
                    txn_id: take(&mut t),
                    dialog_id: take(&mut t),
                    ..SipMeta::default()
                };
                let (addr, port) = (take(&mut t), take(&mut t));
                if !addr.is_empty() {
                    meta.received_on = Some((addr, port));
                }
                meta.session_token = non_empty(take(&mut t));
                Ok(ServerMsg::Sip { id, meta, body: body.unwrap_or_default() })
            }
            other => match CdrKind::from_token(other) {
                Some(kind) => {
                    if count < 4 {
                        return Err(WireError::Truncated("cdr"));
                    }
                    let (source, time) = (take(&mut t), take(&mut t));
                    let extra = non_empty(take(&mut t));
                    Ok(ServerMsg::Cdr { id, kind, source, time, extra, body: body.unwrap_or_default() })
                }
                None => Err(WireError::UnknownType(other.to_owned())),
            },
        }
    }

    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            ServerMsg::Response { id, request_id, status, args, body } => {
                let status = match status {
                    ReplyStatus::Ok => "OK",
                    ReplyStatus::No => "NO",
                    ReplyStatus::Nok => "NOK",
                };
                let mut tokens = vec![id.as_str(), "response", request_id.as_str(), status];
                tokens.extend(args.iter().map(String::as_str));
                write(&tokens, body.as_deref())
            }
            ServerMsg::Sip { id, meta, body } => {
                let (ra, rp) = meta.received_on.as_ref().map_or(("", ""), |(a, p)| (a.as_str(), p.as_str()));
                let mut tokens = vec![id.as_str(), "sip"];
                tokens.extend(meta.fields());
                if meta.received_on.is_some() || meta.session_token.is_some() {
                    tokens.extend([ra, rp, meta.session_token.as_deref().unwrap_or("")]);
                } else {
                    tokens.push("");
                }
                write(&tokens, Some(body))
            }
            ServerMsg::Cdr { id, kind, source, time, extra, body } => {
                let mut tokens = vec![id.as_str(), kind.as_str(), source, time];
                if let Some(e) = extra {
                    tokens.push(e);
                }
                write(&tokens, Some(body))
            }
        }
    }
}

impl AppMsg {
    pub fn id(&self) -> &str {
        match self {
            AppMsg::Authenticate { id, .. }
            | AppMsg::Route { id, .. }
            | AppMsg::RemoveRoute { id, .. }
            | AppMsg::Ping { id }
            | AppMsg::Sip { id, .. }
            | AppMsg::Proxy { id, .. } => id,
        }
    }

    pub fn parse(payload: &[u8]) -> Result<AppMsg, WireError> {
        let Leader { id, kind, count, rest: mut t, body } = Leader::read(payload);
        let need = |n: usize, what: &'static str| if count < n { Err(WireError::Truncated(what)) } else { Ok(()) };
        match kind.as_str() {
            "authenticate" => {
                need(3, "authenticate")?;
                let secret = take(&mut t);
                let tags = take(&mut t).split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                Ok(AppMsg::Authenticate { id, secret, tags })
            }
            "route" => need(3, "route").map(|()| AppMsg::Route { id, verb: take(&mut t) }),
            "remove_route" => need(3, "remove_route").map(|()| AppMsg::RemoveRoute { id, verb: take(&mut t) }),
            "ping" => Ok(AppMsg::Ping { id }),
            "sip" => {
                need(4, "sip")?;
                let (txn_id, dialog_id) = (take(&mut t), take(&mut t));
                let route_uri = non_empty(take(&mut t));
                Ok(AppMsg::Sip { id, txn_id, dialog_id, route_uri, body: body.unwrap_or_default() })
            }
            "proxy" => {
                need(10, "proxy")?;
                let txn_id = take(&mut t);
                let flag = |s: String| !s.is_empty();
                let spec = ProxySpec {
                    record_route: flag(take(&mut t)),
                    full_response: flag(take(&mut t)),
                    follow_redirects: flag(take(&mut t)),
                    simultaneous: take(&mut t) == "simultaneous",
                    provisional_timeout: take(&mut t),
                    final_timeout: take(&mut t),
                    destinations: t.filter(|d| !d.is_empty()).collect(),
                };
                Ok(AppMsg::Proxy { id, txn_id, spec, body: body.unwrap_or_default() })
            }
            other => Err(WireError::UnknownType(other.to_owned())),
        }
    }

    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            AppMsg::Authenticate { id, secret, tags } => write(&[id, "authenticate", secret, &tags.join(",")], None),
            AppMsg::Route { id, verb } => write(&[id, "route", verb], None),
            AppMsg::RemoveRoute { id, verb } => write(&[id, "remove_route", verb], None),
            AppMsg::Ping { id } => write(&[id, "ping"], None),
            AppMsg::Sip { id, txn_id, dialog_id, route_uri, body } => {
                let mut tokens = vec![id.as_str(), "sip", txn_id, dialog_id];
                if let Some(r) = route_uri {
                    tokens.push(r);
                }
                write(&tokens, Some(body))
            }
            AppMsg::Proxy { id, txn_id, spec, body } => {
                let flag = |b: bool, word: &'static str| if b { word } else { "" };
                let mut tokens = vec![
                    id.as_str(),
                    "proxy",
                    txn_id,
                    flag(spec.record_route, "remainInDialog"),
                    flag(spec.full_response, "fullResponse"),
                    flag(spec.follow_redirects, "followRedirects"),
                    if spec.simultaneous { "simultaneous" } else { "serial" },
                    &spec.provisional_timeout,
                    &spec.final_timeout,
                ];
                tokens.extend(spec.destinations.iter().map(String::as_str));
                write(&tokens, Some(body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_round_trip() {
        let auth = b"a1|response|m1|OK|tcp/127.0.0.1:5060,udp/127.0.0.1:5060|v0.9.10|tcp/127.0.0.1:5060";
        let msg = ServerMsg::parse(auth).expect("ok");
        assert!(matches!(&msg, ServerMsg::Response { status: ReplyStatus::Ok, args, .. } if args.len() == 3));
        assert_eq!(msg.to_payload(), auth);
        let sip = b"s1|sip|network|367|udp|203.0.113.7|5060|14:02:11.123456|t1||10.0.0.5|5060|\r\nINVITE sip:x SIP/2.0\r\n\r\n";
        let msg = ServerMsg::parse(sip).expect("ok");
        match &msg {
            ServerMsg::Sip { meta, body, .. } => {
                assert_eq!(meta.txn_id, "t1");
                assert_eq!(meta.received_on, Some(("10.0.0.5".into(), "5060".into())));
                assert!(body.starts_with(b"INVITE"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(msg.to_payload(), sip);
        let in_dialog = b"s2|sip|network|270|udp|203.0.113.7|5060|14:02:12.05|t2|cid;from-tag=a|\r\nACK sip:x SIP/2.0\r\n\r\n";
        assert_eq!(ServerMsg::parse(in_dialog).expect("ok").to_payload(), in_dialog);
        let cdr = b"c1|cdr:stop|application|14:00:00|call-rejected\r\nSIP/2.0 486 Busy\r\n\r\n";
        assert_eq!(ServerMsg::parse(cdr).expect("ok").to_payload(), cdr);
    }

    #[test]
    fn app_messages_round_trip() {
        for p in [
            &b"m1|authenticate|cymru|a,b"[..],
            b"m2|route|invite",
            b"m3|remove_route|invite",
            b"m4|ping",
            b"m5|sip||\r\nOPTIONS sip:a@b SIP/2.0\r\n\r\n",
            b"m6|sip|||sip:proxy:5060;transport=tcp\r\nINVITE sip:a@b SIP/2.0\r\n\r\n",
            b"m7|proxy|t1|remainInDialog|fullResponse||simultaneous|2s||sip:a@b|sip:c@d\r\nINVITE sip:a@b SIP/2.0\r\n\r\n",
        ] {
            let msg = AppMsg::parse(p).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(p)));
            assert_eq!(msg.to_payload(), p, "{msg:?}");
        }
        assert!(matches!(AppMsg::parse(b"m1|authenticate|s|"), Ok(AppMsg::Authenticate { tags, .. }) if tags.is_empty()));
    }

    #[test]
    fn bad_messages_are_errors() {
        assert!(matches!(ServerMsg::parse(b"x|bogus"), Err(WireError::UnknownType(_))));
        assert!(matches!(ServerMsg::parse(b"x|sip|network"), Err(WireError::Truncated("sip"))));
        assert!(matches!(ServerMsg::parse(b""), Err(WireError::UnknownType(_))));
        assert!(matches!(AppMsg::parse(b"x|proxy|t"), Err(WireError::Truncated("proxy"))));
        assert!(matches!(ServerMsg::parse(b"x|response|m|NOK|boom"), Ok(ServerMsg::Response { status: ReplyStatus::Nok, .. })));
    }
}
