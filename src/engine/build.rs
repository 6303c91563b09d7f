//! Completing the messages apps send, as drachtio-server does (wire-protocol.md §4.2, §4.4,
//! §4.5): the app writes a partial message; the engine supplies Via, tags, Call-ID, CSeq,
//! Max-Forwards, Contact, Content-Type for SDP and Content-Length, and rewrites `@localhost`.

use crate::sip::{parse, Framing, HeaderName, Limits};
use std::borrow::Cow;

/// A header of a draft. Names are mostly the canonical spellings of known headers, which
/// are borrowed rather than allocated for every message.
pub type Header = (Cow<'static, str>, String);

/// An editable message: start line, ordered headers, body.
#[derive(Debug, Clone)]
pub struct Draft {
    pub start_line: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// Headers the engine always computes itself; an app's copies are dropped.
const ENGINE_OWNED: [HeaderName; 4] = [HeaderName::Via, HeaderName::Route, HeaderName::RSeq, HeaderName::RecordRoute];

impl Draft {
    /// Reads an app's message. Unknown header names are re-cased (`x-foo-bar` → `X-Foo-Bar`)
    /// as drachtio-server does; values with line breaks are refused by the parser already.
    pub fn from_app(raw: &[u8]) -> Result<Draft, String> {
        let msg = parse(raw, Framing::Datagram, &Limits::default()).map_err(|e| format!("malformed message from the application: {e}"))?;
        let (ls, le) = msg.start_line_range();
        let mut draft = Draft { start_line: String::from_utf8_lossy(&raw[ls..le]).into_owned(), headers: Vec::new(), body: msg.body().to_vec() };
        for h in msg.headers() {
            if h.name == HeaderName::ContentLength || ENGINE_OWNED.contains(&h.name) {
                continue;
            }
            let name = match h.name {
                HeaderName::Other => Cow::Owned(recase(&String::from_utf8_lossy(msg.header_name_bytes(h)))),
                known => Cow::Borrowed(known.as_str()),
            };
            let value = crate::sip::unfold(msg.raw_value(h), h.folded).into_owned();
            draft.headers.push((name, value));
        }
        Ok(draft)
    }

    /// A message from the network, every header kept in order (known names in canonical
    /// spelling, compact forms expanded) for forwarding (§16.6 step 1: copy the request).
    pub fn from_message(msg: &crate::sip::Message<'_>) -> Draft {
        let raw = msg.as_bytes();
        let (ls, le) = msg.start_line_range();
        let mut draft = Draft { start_line: String::from_utf8_lossy(&raw[ls..le]).into_owned(), headers: Vec::new(), body: msg.body().to_vec() };
        for h in msg.headers() {
            if h.name == HeaderName::ContentLength {
                continue;
            }
            let name = match h.name {
                HeaderName::Other => Cow::Owned(String::from_utf8_lossy(msg.header_name_bytes(h)).into_owned()),
                known => Cow::Borrowed(known.as_str()),
            };
            draft.headers.push((name, crate::sip::unfold(msg.raw_value(h), h.folded).into_owned()));
        }
        draft
    }

    /// Every value of a header, comma-separated lists split (Via, Route, Record-Route).
    pub fn values(&self, name: HeaderName) -> Vec<String> {
        let canon = name.as_str();
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(canon))
            .flat_map(|(_, v)| crate::sip::split_commas(v.as_bytes()).map(|one| String::from_utf8_lossy(one).trim().to_owned()).collect::<Vec<_>>())
            .collect()
    }

    /// Replaces every copy of a header with `values`, one header each, where the first copy
    /// was (or first of all when there was none).
    pub fn set_values(&mut self, name: HeaderName, values: Vec<String>) {
        let at = self.position(name).unwrap_or(0);
        self.take(name);
        for (i, v) in values.into_iter().enumerate() {
            self.headers.insert(at + i, (name.as_str().into(), v));
        }
    }

    fn position(&self, name: HeaderName) -> Option<usize> {
        let canon = name.as_str();
        self.headers.iter().position(|(n, _)| n.eq_ignore_ascii_case(canon))
    }

    pub fn get(&self, name: HeaderName) -> Option<&str> {
        self.position(name).map(|i| self.headers[i].1.as_str())
    }

    pub fn has(&self, name: HeaderName) -> bool {
        self.position(name).is_some()
    }

    /// Removes every copy of a header; returns the first value.
    pub fn take(&mut self, name: HeaderName) -> Option<String> {
        let canon = name.as_str();
        let mut first = None;
        self.headers.retain_mut(|(n, v)| {
            if n.eq_ignore_ascii_case(canon) {
                if first.is_none() {
                    first = Some(std::mem::take(v));
                }
                false
            } else {
                true
            }
        });
        first
    }

    pub fn set_if_absent(&mut self, name: HeaderName, value: impl FnOnce() -> String) {
        if !self.has(name) {
            self.headers.push((name.as_str().into(), value()));
        }
    }

    /// Puts headers first, in order (Via, Max-Forwards, From, ... as RFC 3261 examples do).
    pub fn prepend(&mut self, name: HeaderName, value: String) {
        self.headers.insert(0, (name.as_str().into(), value));
    }

    pub fn method(&self) -> &str {
        self.start_line.split(' ').next().unwrap_or("")
    }

    pub fn request_uri(&self) -> &str {
        self.start_line.split(' ').nth(1).unwrap_or("")
    }

    pub fn set_request_uri(&mut self, uri: &str) {
        let mut parts: Vec<&str> = self.start_line.splitn(3, ' ').collect();
        if parts.len() == 3 {
            parts[1] = uri;
            self.start_line = parts.join(" ");
        }
    }

    pub fn is_response(&self) -> bool {
        self.start_line.starts_with("SIP/")
    }

    /// `application/sdp` for a body that looks like SDP and has no Content-Type (§4.2).
    pub fn detect_sdp(&mut self) {
        if !self.body.is_empty() && !self.has(HeaderName::ContentType) && self.body.starts_with(b"v=0") {
            self.headers.push(("Content-Type".into(), "application/sdp".into()));
        }
    }

    /// `user@localhost[:port]` in From, To, Contact and P-Asserted-Identity becomes our address.
    pub fn replace_localhost(&mut self, hostport: &str) {
        for (n, v) in &mut self.headers {
            let h = HeaderName::from_bytes(n.as_bytes());
            if matches!(h, HeaderName::From | HeaderName::To | HeaderName::Contact | HeaderName::PAssertedIdentity) {
                *v = replace_localhost(v, hostport);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        crate::sip::serialize::write_message(&self.start_line, &self.headers, &self.body)
    }
}

fn replace_localhost(v: &str, hostport: &str) -> String {
    let Some(at) = v.find("@localhost") else { return v.to_owned() };
    let rest = &v[at + "@localhost".len()..];
    // Drop a port written after localhost: ours replaces it.
    let rest = rest.strip_prefix(':').map_or(rest, |r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
    format!("{}@{hostport}{rest}", &v[..at])
}

/// `x-foo-bar` → `X-Foo-Bar`.
fn recase(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// Adds `;tag=` to a From/To value that has none.
pub fn with_tag(value: &str, tag: &str) -> String {
    if crate::sip::name_addr::header_params(value.as_bytes()).windows(4).any(|w| w.eq_ignore_ascii_case(b"tag=")) {
        value.to_owned()
    } else if value.contains('<') {
        format!("{value};tag={tag}")
    } else {
        format!("<{}>;tag={tag}", value.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_messages_are_read_and_completed() {
        let raw = b"SIP/2.0 200 OK\r\ncall-id: a\r\nVia: x\r\nx-foo-bar: 1\r\nContact: <sip:me@localhost:5099;transport=tcp>\r\nContent-Length: 3\r\n\r\nv=0";
        let mut d = Draft::from_app(raw).expect("parses");
        assert!(d.is_response());
        assert_eq!(d.get(HeaderName::CallId), Some("a"));
        assert!(!d.has(HeaderName::Via), "Via is the engine's");
        assert!(d.headers.iter().any(|(n, _)| n == "X-Foo-Bar"));
        d.detect_sdp();
        d.replace_localhost("10.0.0.5:5060");
        assert_eq!(d.get(HeaderName::Contact), Some("<sip:me@10.0.0.5:5060;transport=tcp>"));
        let bytes = d.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Content-Type: application/sdp\r\n"));
        assert!(text.ends_with("Content-Length: 3\r\n\r\nv=0"));
    }

    #[test]
    fn tags() {
        assert_eq!(with_tag("<sip:a@b>", "x"), "<sip:a@b>;tag=x");
        assert_eq!(with_tag("<sip:a@b>;tag=y", "x"), "<sip:a@b>;tag=y");
        assert_eq!(with_tag("sip:a@b", "x"), "<sip:a@b>;tag=x");
    }
}
