//! `*( SEMI generic-param )` lists as they follow URIs, name-addrs and Via sent-by
//! (RFC 3261 §25.1): `token [ EQUAL ( token / host / quoted-string ) ]`, LWS allowed around
//! `;` and `=`. Kept raw; looked up by name on demand.

use super::lex::{is_token, quoted_end, skip_lws, token_end};

/// Checks a raw parameter list (which must start with `;` or be blank).
pub fn check(raw: &[u8]) -> Result<(), &'static str> {
    for p in iter(raw) {
        p?;
    }
    Ok(())
}

/// Finds a parameter by name, case-insensitively: `Some(None)` for a flag, `Some(Some(v))`
/// for a value (quotes kept), `None` when absent or when the list is malformed.
pub fn find<'a>(raw: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
    iter(raw)
        .map_while(Result::ok)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

pub type Param<'a> = (&'a [u8], Option<&'a [u8]>);

pub fn iter(raw: &[u8]) -> Iter<'_> {
    Iter { s: raw, pos: 0, failed: false }
}

pub struct Iter<'a> {
    s: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iter<'a> {
    fn fail(&mut self, why: &'static str) -> Option<Result<Param<'a>, &'static str>> {
        self.failed = true;
        Some(Err(why))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Param<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let s = self.s;
        let i = skip_lws(s, self.pos);
        if i == s.len() {
            return None;
        }
        if s[i] != b';' {
            return self.fail("expected ';' before a parameter");
        }
        let n_start = skip_lws(s, i + 1);
        let n_end = token_end(s, n_start);
        if n_end == n_start {
            return self.fail("empty parameter");
        }
        let name = &s[n_start..n_end];
        let j = skip_lws(s, n_end);
        if s.get(j) != Some(&b'=') {
            self.pos = n_end;
            return Some(Ok((name, None)));
        }
        let v_start = skip_lws(s, j + 1);
        let v_end = if s.get(v_start) == Some(&b'"') {
            match quoted_end(s, v_start) {
                Some(e) => e,
                None => return self.fail("unterminated quoted parameter value"),
            }
        } else {
            let mut e = v_start;
            while e < s.len() && (is_token(s[e]) || matches!(s[e], b'[' | b']' | b':')) {
                e += 1;
            }
            e
        };
        if v_end == v_start {
            return self.fail("empty parameter value");
        }
        self.pos = v_end;
        Some(Ok((name, Some(&s[v_start..v_end]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_flags_and_values() {
        let raw = b" ;tag=abc ; lr ;q = 0.33;x=\"a;b\"";
        assert_eq!(find(raw, b"TAG"), Some(Some(&b"abc"[..])));
        assert_eq!(find(raw, b"lr"), Some(None));
        assert_eq!(find(raw, b"q"), Some(Some(&b"0.33"[..])));
        assert_eq!(find(raw, b"x"), Some(Some(&b"\"a;b\""[..])));
        assert_eq!(find(raw, b"nope"), None);
        assert!(check(raw).is_ok());
    }

    #[test]
    fn rejects_empty_parameters() {
        assert!(check(b";;").is_err());
        assert!(check(b";a=").is_err());
        assert!(check(b"junk").is_err());
        assert!(check(b";a=\"open").is_err());
    }
}
