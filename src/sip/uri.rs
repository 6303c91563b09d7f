//! URIs (RFC 3261 §19.1, RFC 3966 for tel, RFC 3986 absoluteURI for anything else).
//! Parsed zero-copy; escapes are decoded only when a caller asks for a decoded part.

pub use super::lex::unescape;
use super::lex::{all_escaped_or, is_unreserved};
use super::params;
use memchr::memchr;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Name,
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    pub secure: bool,
    pub user: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
    /// The host as written; IPv6 keeps its brackets.
    pub host: &'a [u8],
    pub host_kind: HostKind,
    pub port: Option<u16>,
    /// The raw `;name=value` list (leading `;` included), possibly empty.
    pub params: &'a [u8],
    /// The raw `name=value&…` part after `?`.
    pub headers: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelUri<'a> {
    pub number: &'a [u8],
    pub params: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    Tel(TelUri<'a>),
    /// Any other scheme, kept opaque (RFC 4475 §3.3.2–3.3.4).
    Absolute { scheme: &'a [u8], rest: &'a [u8] },
}

impl<'a> Uri<'a> {
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, &'static str> {
        let colon = memchr(b':', s).ok_or("missing scheme")?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case(b"sip") {
            return SipUri::parse_after_scheme(rest, false).map(Uri::Sip);
        }
        if scheme.eq_ignore_ascii_case(b"sips") {
            return SipUri::parse_after_scheme(rest, true).map(Uri::Sip);
        }
        if scheme.eq_ignore_ascii_case(b"tel") {
            return TelUri::parse_after_scheme(rest).map(Uri::Tel);
        }
        let valid_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err("invalid scheme");
        }
        if rest.is_empty() || !all_escaped_or(rest, is_uric) {
            return Err("invalid character in URI");
        }
        Ok(Uri::Absolute { scheme, rest })
    }

    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Tel(_) | Uri::Absolute { .. } => None,
        }
    }
}

/// RFC 2396 `uric` minus `%` (escapes are checked separately).
fn is_uric(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

impl<'a> SipUri<'a> {
    pub fn parse(s: &'a [u8]) -> Result<SipUri<'a>, &'static str> {
        match Uri::parse(s)? {
            Uri::Sip(u) => Ok(u),
            Uri::Tel(_) | Uri::Absolute { .. } => Err("not a sip or sips URI"),
        }
    }

    fn parse_after_scheme(s: &'a [u8], secure: bool) -> Result<SipUri<'a>, &'static str> {
        // userinfo may itself hold `?`, `;` and `/` (RFC 4475 §3.1.1.2), so it ends at the `@`.
        let (user, password, hostpart) = match memchr(b'@', s) {
            Some(at) => {
                let info = &s[..at];
                let (user, password) = match memchr(b':', info) {
                    Some(c) => (&info[..c], Some(&info[c + 1..])),
                    None => (info, None),
                };
                if user.is_empty() || !all_escaped_or(user, is_user_char) {
                    return Err("invalid user part");
                }
                if let Some(p) = password {
                    if !all_escaped_or(p, is_password_char) {
                        return Err("invalid password");
                    }
                }
                (Some(user), password, &s[at + 1..])
            }
            None => (None, None, s),
        };
        let (host, host_kind, mut i) = parse_host(hostpart)?;
        let mut port = None;
        if hostpart.get(i) == Some(&b':') {
            let start = i + 1;
            i = start;
            while i < hostpart.len() && hostpart[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &hostpart[start..i];
            port = Some(super::lex::parse_bounded(digits, 65_535).ok_or("invalid port")? as u16);
        }
        let tail = &hostpart[i..];
        let (param_part, headers) = match memchr(b'?', tail) {
            Some(q) => (&tail[..q], Some(&tail[q + 1..])),
            None => (tail, None),
        };
        if !param_part.is_empty() && param_part[0] != b';' {
            return Err("invalid character after host");
        }
        for p in param_part.split(|&b| b == b';').skip(1) {
            let (name, value) = match memchr(b'=', p) {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            };
            if name.is_empty() || !all_escaped_or(name, is_param_char) {
                return Err("invalid URI parameter");
            }
            if value.is_some_and(|v| v.is_empty() || !all_escaped_or(v, is_param_char)) {
                return Err("invalid URI parameter value");
            }
        }
        if let Some(h) = headers {
            for pair in h.split(|&b| b == b'&') {
                let Some(e) = memchr(b'=', pair) else {
                    return Err("URI header without '='");
                };
                if e == 0 || !all_escaped_or(&pair[..e], is_header_char) || !all_escaped_or(&pair[e + 1..], is_header_char)
                {
                    return Err("invalid URI header");
                }
            }
        }
        Ok(SipUri { secure, user, password, host, host_kind, port, params: param_part, headers })
    }

    /// A URI parameter (`;name[=value]`), case-insensitive.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.params.split(|&b| b == b';').skip(1).find_map(|p| {
            let (n, v) = match memchr(b'=', p) {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            };
            // Escaped and plain spellings of a name compare equal (RFC 4475 §3.1.1.3).
            unescape(n).eq_ignore_ascii_case(name).then_some(v)
        })
    }

    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(unescape)
    }

    pub fn transport(&self) -> Option<&'a [u8]> {
        self.param(b"transport").flatten()
    }

    /// Iterates `name=value` URI headers, values still escaped.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.headers.into_iter().flat_map(|h| {
            h.split(|&b| b == b'&').filter_map(|pair| memchr(b'=', pair).map(|e| (&pair[..e], &pair[e + 1..])))
        })
    }
}

/// Parses `host` at the start of `s`; returns it, its kind and where it ends.
fn parse_host(s: &[u8]) -> Result<(&[u8], HostKind, usize), &'static str> {
    if s.first() == Some(&b'[') {
        let close = memchr(b']', s).ok_or("unterminated IPv6 reference")?;
        let inner = &s[1..close];
        if inner.is_empty() || !inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err("invalid IPv6 reference");
        }
        return Ok((&s[..=close], HostKind::Ipv6, close + 1));
    }
    let end = s.iter().position(|&b| matches!(b, b':' | b';' | b'?')).unwrap_or(s.len());
    let host = &s[..end];
    if host.is_empty() {
        return Err("missing host");
    }
    if !host.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err("invalid character in host");
    }
    let kind = if is_ipv4(host) { HostKind::Ipv4 } else { HostKind::Name };
    Ok((host, kind, end))
}

fn is_ipv4(h: &[u8]) -> bool {
    let mut parts = 0;
    for part in h.split(|&b| b == b'.') {
        parts += 1;
        if super::lex::parse_bounded(part, 255).is_none() || part.len() > 3 {
            return false;
        }
    }
    parts == 4
}

impl<'a> TelUri<'a> {
    fn parse_after_scheme(s: &'a [u8]) -> Result<TelUri<'a>, &'static str> {
        let end = memchr(b';', s).unwrap_or(s.len());
        let number = &s[..end];
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#');
        if number.is_empty() || !number.iter().all(|&b| ok(b)) {
            return Err("invalid telephone number");
        }
        let params = &s[end..];
        params::check(params)?;
        Ok(TelUri { number, params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        SipUri::parse(s.as_bytes()).expect(s)
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?Subject=hi&X=y%20z");
        assert!(u.secure);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"secret"[..]));
        assert_eq!(u.host, b"[2001:db8::1]");
        assert_eq!(u.host_kind, HostKind::Ipv6);
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some(&b"tls"[..]));
        assert_eq!(u.param(b"lr"), Some(None));
        assert_eq!(u.header_pairs().count(), 2);
        let h = sip("sip:127.0.0.1");
        assert_eq!((h.host_kind, h.user, h.port), (HostKind::Ipv4, None, None));
    }

    #[test]
    fn user_part_may_hold_semicolons_and_escapes() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host, b"example.com");
        assert_eq!(sip("sip:%75se%72@x").user_unescaped().as_deref(), Some(&b"user"[..]));
        assert_eq!(sip("sip:x;%6C%72").param(b"lr"), Some(None));
    }

    #[test]
    fn other_schemes() {
        assert!(matches!(Uri::parse(b"tel:+1-201-555-0123;phone-context=x"), Ok(Uri::Tel(_))));
        assert!(matches!(Uri::parse(b"soap.beep://192.0.2.103:3002"), Ok(Uri::Absolute { .. })));
        assert!(matches!(Uri::parse(b"isbn:2983792873"), Ok(Uri::Absolute { .. })));
        for bad in ["<sip:a@b>", "sip:", "sip:a@", "sip:a@b:99999", "sip:a b@c", "sip:a@b;", "1x:y", "nocolon"] {
            assert!(Uri::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
