//! Character classes and small scanners shared by the header-value parsers (RFC 3261 §25.1).
//!
//! Header values are scanned in place, folds included: inside a header value any CR or LF is
//! part of a fold (the parser ends a header only at a line break not followed by SP/HT), so
//! treating CR and LF as linear white space here is exactly RFC 3261 LWS.

/// SP, HT, and the CR/LF of a fold.
#[inline]
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 `token` characters, as a table: this runs for every byte of every header name.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        b += 1;
    }
    t
};

#[inline]
pub fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// `unreserved` = alphanum / mark.
#[inline]
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')')
}

pub fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

pub fn trim_lws(s: &[u8]) -> &[u8] {
    let start = skip_lws(s, 0);
    let mut end = s.len();
    while end > start && is_lws(s[end - 1]) {
        end -= 1;
    }
    &s[start..end]
}

/// Scans a token starting at `i`; returns its end (== `i` when there is none).
pub fn token_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    i
}

/// Given `s[i] == b'"'`, returns the index just past the closing quote, honouring
/// backslash escapes (`quoted-pair`); `None` when the quote never closes.
pub fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// A token or quoted-string as text: quotes removed and `quoted-pair` escapes decoded.
pub fn unquote(v: &[u8]) -> std::borrow::Cow<'_, str> {
    if v.len() < 2 || v[0] != b'"' || v[v.len() - 1] != b'"' {
        return String::from_utf8_lossy(v);
    }
    let inner = &v[1..v.len() - 1];
    if memchr::memchr(b'\\', inner).is_none() {
        return String::from_utf8_lossy(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' && i + 1 < inner.len() {
            i += 1;
        }
        out.push(inner[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Splits a header value on commas that are outside quoted strings and angle brackets.
/// Yields each element untrimmed; an unterminated quote yields the rest as one element.
pub fn split_commas(s: &[u8]) -> CommaSplit<'_> {
    CommaSplit { s, pos: 0, done: false }
}

pub struct CommaSplit<'a> {
    s: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let s = self.s;
        let start = self.pos;
        let mut i = start;
        let mut in_angle = false;
        while i < s.len() {
            match s[i] {
                b'"' => match quoted_end(s, i) {
                    Some(e) => {
                        i = e;
                        continue;
                    }
                    None => break,
                },
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b',' if !in_angle => {
                    self.pos = i + 1;
                    return Some(&s[start..i]);
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        Some(&s[start..])
    }
}

/// Parses `1*DIGIT` into a u64 with an upper bound, rejecting overflow instead of wrapping.
pub fn parse_bounded(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// Decodes `%XX` escapes. Bytes that are not a valid escape are kept as written
/// (RFC 4475 §3.1.1.5: a `%` that is not an escape is just text).
pub fn unescape(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(b'%', s).is_none() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when `s` is an escape-aware run of the given class: every byte is in the class or is
/// part of a well-formed `%XX`.
pub fn all_escaped_or(s: &[u8], class: fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            match (s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex)) {
                (Some(_), Some(_)) => i += 3,
                _ => return false,
            }
        } else if class(s[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_brackets() {
        let v: Vec<_> = split_commas(br#""a, b" <sip:x@y;p=1,2>, <sip:z>"#).collect();
        assert_eq!(v, vec![&br#""a, b" <sip:x@y;p=1,2>"#[..], &b" <sip:z>"[..]]);
    }

    #[test]
    fn bounded_numbers_do_not_wrap() {
        assert_eq!(parse_bounded(b"0068", 255), Some(68));
        assert_eq!(parse_bounded(b"300", 255), None);
        assert_eq!(parse_bounded(b"36893488147419103232", u64::from(u32::MAX)), None);
        assert_eq!(parse_bounded(b"-1", 10), None);
    }

    #[test]
    fn unescapes_and_keeps_non_escapes() {
        assert_eq!(&*unescape(b"%75se%72"), b"user");
        assert_eq!(&*unescape(b"%Z%45"), b"%ZE");
        assert_eq!(&*unescape(b"a%00b"), b"a\0b");
        assert_eq!(&*unescape(b"ab%4"), b"ab%4");
    }
}
