//! Via (RFC 3261 §20.42): `sent-protocol LWS sent-by *( SEMI via-params )`, with LWS allowed
//! around the slashes (RFC 4475 §3.1.1.1) and unknown transports kept as written.

use super::lex::{skip_lws, token_end, trim_lws};
use super::params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    pub protocol: &'a [u8],
    pub version: &'a [u8],
    pub transport: &'a [u8],
    /// The sent-by host as written (IPv6 keeps its brackets).
    pub host: &'a [u8],
    pub port: Option<u16>,
    pub params: &'a [u8],
}

/// Magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_COOKIE: &[u8] = b"z9hG4bK";

impl<'a> Via<'a> {
    pub fn parse(v: &'a [u8]) -> Result<Via<'a>, &'static str> {
        let v = trim_lws(v);
        if v.is_empty() {
            return Err("empty Via value");
        }
        let mut i = 0;
        let mut parts: [&[u8]; 3] = [b""; 3];
        for (n, part) in parts.iter_mut().enumerate() {
            if n > 0 {
                i = skip_lws(v, i);
                if v.get(i) != Some(&b'/') {
                    return Err("expected '/' in sent-protocol");
                }
                i = skip_lws(v, i + 1);
            }
            let end = token_end(v, i);
            if end == i {
                return Err("malformed sent-protocol");
            }
            *part = &v[i..end];
            i = end;
        }
        let host_start = skip_lws(v, i);
        if host_start == i {
            return Err("expected white space before sent-by");
        }
        let host_end = if v.get(host_start) == Some(&b'[') {
            memchr::memchr(b']', &v[host_start..]).map(|e| host_start + e + 1).ok_or("unterminated IPv6 reference")?
        } else {
            let mut e = host_start;
            while e < v.len() && (v[e].is_ascii_alphanumeric() || matches!(v[e], b'-' | b'.' | b'_')) {
                e += 1;
            }
            e
        };
        if host_end == host_start {
            return Err("missing sent-by host");
        }
        let mut j = skip_lws(v, host_end);
        let mut port = None;
        if v.get(j) == Some(&b':') {
            let ps = skip_lws(v, j + 1);
            let pe = ps + v[ps..].iter().take_while(|b| b.is_ascii_digit()).count();
            port = Some(super::lex::parse_bounded(&v[ps..pe], 65_535).ok_or("invalid sent-by port")? as u16);
            j = pe;
        }
        let params = &v[j..];
        params::check(params)?;
        Ok(Via {
            protocol: parts[0],
            version: parts[1],
            transport: parts[2],
            host: &v[host_start..host_end],
            port,
            params,
        })
    }

    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.params, name)
    }

    pub fn branch(&self) -> Option<&'a [u8]> {
        self.param(b"branch").flatten()
    }

    /// An RFC 3261 branch: the magic cookie followed by at least one character (RFC 4475
    /// §3.2.1: the bare cookie is not a transaction identifier).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.len() > BRANCH_COOKIE.len() && b.starts_with(BRANCH_COOKIE))
    }
}

/// Every Via value in one header line (comma-separated).
pub fn parse_list(v: &[u8]) -> impl Iterator<Item = Result<Via<'_>, &'static str>> {
    super::lex::split_commas(v).map(Via::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tortuous_via() {
        let v = Via::parse(b"SIP  /   2.0\r\n  /  UDP\r\n    192.0.2.2;rport;branch=390skdjuw").expect("ok");
        assert_eq!((v.protocol, v.version, v.transport), (&b"SIP"[..], &b"2.0"[..], &b"UDP"[..]));
        assert_eq!(v.host, b"192.0.2.2");
        assert_eq!(v.param(b"rport"), Some(None));
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));
        let v = Via::parse(b"SIP/2.0/TCP [2001:db8::9] : 5070 ;branch=z9hG4bK").expect("ok");
        assert_eq!(v.port, Some(5070));
        assert!(!v.has_rfc3261_branch());
    }

    #[test]
    fn rejects_bad_vias() {
        assert!(parse_list(b"SIP/2.0/UDP 192.0.2.15;;,;,,").any(|r| r.is_err()));
        assert!(Via::parse(b"SIP/2.0 host").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP host:70000").is_err());
    }
}
