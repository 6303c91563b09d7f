//! `( name-addr / addr-spec ) *( SEMI param )` as in From, To, Contact, Route, Refer-To
//! (RFC 3261 §20.10, §25.1).

use super::lex::{is_lws, is_token, quoted_end, skip_lws, trim_lws};
use super::params;
use super::uri::Uri;
use memchr::memchr;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written (quotes kept), if any.
    pub display: Option<&'a [u8]>,
    pub uri: Uri<'a>,
    pub uri_raw: &'a [u8],
    /// True when the URI was enclosed in `<>`.
    pub angle: bool,
    /// The raw header parameters after the URI (leading `;` included), possibly empty.
    pub params: &'a [u8],
}

impl<'a> NameAddr<'a> {
    pub fn parse(v: &'a [u8]) -> Result<NameAddr<'a>, &'static str> {
        let v = trim_lws(v);
        if v.is_empty() {
            return Err("empty value");
        }
        let (display, lt) = if v[0] == b'"' {
            let end = quoted_end(v, 0).ok_or("unterminated quoted display name")?;
            let lt = skip_lws(v, end);
            if v.get(lt) != Some(&b'<') {
                return Err("expected '<' after the display name");
            }
            (Some(&v[..end]), Some(lt))
        } else {
            match memchr(b'<', v) {
                Some(lt) => {
                    let name = trim_lws(&v[..lt]);
                    // An unquoted display name is a run of tokens (RFC 4475 §3.1.2.15).
                    if !name.iter().all(|&b| is_token(b) || is_lws(b)) {
                        return Err("display name must be tokens or a quoted string");
                    }
                    ((!name.is_empty()).then_some(name), Some(lt))
                }
                None => (None, None),
            }
        };
        let (uri_raw, rest, angle) = match lt {
            Some(lt) => {
                let gt = memchr(b'>', &v[lt..]).map(|g| lt + g).ok_or("missing '>'")?;
                let inner = &v[lt + 1..gt];
                if inner.iter().any(|&b| is_lws(b)) {
                    return Err("white space inside '<>'");
                }
                (inner, &v[gt + 1..], true)
            }
            None => {
                // addr-spec: the URI ends at the first ';', and may not hold ',' or '?'
                // (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
                let end = memchr(b';', v).unwrap_or(v.len());
                let uri = trim_lws(&v[..end]);
                if uri.iter().any(|&b| matches!(b, b',' | b'?') || is_lws(b)) {
                    return Err("a URI with ',', '?' or white space must be enclosed in '<>'");
                }
                (uri, &v[end..], false)
            }
        };
        let uri = Uri::parse(uri_raw)?;
        params::check(rest)?;
        Ok(NameAddr { display, uri, uri_raw, angle, params: rest })
    }

    /// A header parameter such as `tag` or `expires`: `Some(None)` for a flag.
    pub fn param(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        params::find(self.params, name)
    }

    /// The display name with quotes removed and `quoted-pair` escapes decoded.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(super::lex::unquote)
    }
}

/// The raw header parameters of a name-addr or addr-spec value, found without parsing the
/// URI: the cheap path for reading a tag on every message (full checks are in `parse`).
pub fn header_params(v: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'"' => match quoted_end(v, i) {
                Some(e) => i = e,
                None => return &[],
            },
            b'<' => return memchr(b'>', &v[i..]).map_or(&[][..], |gt| &v[i + gt + 1..]),
            b';' => return &v[i..],
            _ => i += 1,
        }
    }
    &[]
}

/// A Contact header value: `*` or a list of name-addrs (RFC 3261 §20.10).
pub fn parse_contacts(v: &[u8]) -> Result<Option<Vec<NameAddr<'_>>>, &'static str> {
    if trim_lws(v) == b"*" {
        return Ok(None);
    }
    super::lex::split_commas(v).map(NameAddr::parse).collect::<Result<Vec<_>, _>>().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(br#" "J Rosenberg \\\"" <sip:jdrosen@example.com> ; tag = 98asjd8"#).expect("ok");
        assert_eq!(n.display_name().as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.param(b"tag"), Some(Some(&b"98asjd8"[..])));
        let n = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").expect("ok");
        assert_eq!(n.display_name().as_deref(), Some("caller"));
        let n = NameAddr::parse(b"sip:+1972@gw1.example.net;unknownparam").expect("ok");
        assert!(!n.angle);
        assert_eq!(n.param(b"unknownparam"), Some(None));
        let n = NameAddr::parse(b"<sip:+1972@gw1.example.net;unknownparam>").expect("ok");
        assert_eq!(n.param(b"unknownparam"), None);
        assert_eq!(n.uri.as_sip().and_then(|u| u.param(b"unknownparam")), Some(None));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "< sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
        ] {
            assert!(NameAddr::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_params_without_uri_parsing() {
        assert_eq!(header_params(br#""a;b>" <sip:x;lr>;tag=1"#), b";tag=1");
        assert_eq!(header_params(b"sip:x@y;tag=2"), b";tag=2");
        assert_eq!(header_params(b"<sip:x@y>"), b"");
    }

    #[test]
    fn contact_lists() {
        assert_eq!(parse_contacts(b" * "), Ok(None));
        let list = parse_contacts(br#""a, b" <sip:a@b>;q=0.5, <sip:c@d>"#).expect("ok").expect("list");
        assert_eq!(list.len(), 2);
    }
}
