//! Digest challenge and credentials syntax (RFC 3261 §25.1 `challenge` / `credentials`,
//! RFC 7616): `scheme LWS auth-param *(COMMA auth-param)`. Unknown schemes parse the same way
//! (RFC 4475 §3.3.7), so a registrar can answer 401 instead of failing to parse.

use super::lex::{quoted_end, skip_lws, split_commas, token_end, trim_lws, unquote};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams<'a> {
    pub scheme: &'a [u8],
    /// `(name, value)`, values as written (quotes kept).
    pub params: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> AuthParams<'a> {
    pub fn parse(v: &'a [u8]) -> Result<AuthParams<'a>, &'static str> {
        let v = trim_lws(v);
        let scheme_end = token_end(v, 0);
        if scheme_end == 0 {
            return Err("missing authentication scheme");
        }
        let rest = &v[scheme_end..];
        let mut params = Vec::new();
        if !trim_lws(rest).is_empty() {
            if skip_lws(rest, 0) == 0 {
                return Err("expected white space after the scheme");
            }
            for item in split_commas(rest) {
                let item = trim_lws(item);
                let name_end = token_end(item, 0);
                if name_end == 0 {
                    return Err("empty authentication parameter");
                }
                let eq = skip_lws(item, name_end);
                if item.get(eq) != Some(&b'=') {
                    return Err("authentication parameter without '='");
                }
                let vs = skip_lws(item, eq + 1);
                let value = &item[vs..];
                let well_formed = if value.first() == Some(&b'"') {
                    quoted_end(value, 0) == Some(value.len())
                } else {
                    !value.is_empty() && token_end(value, 0) == value.len()
                };
                if !well_formed {
                    return Err("malformed authentication parameter value");
                }
                params.push((&item[..name_end], value));
            }
        }
        Ok(AuthParams { scheme: &v[..scheme_end], params })
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case(b"Digest")
    }

    /// A parameter's value with quotes removed and escapes decoded; names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        let (_, v) = self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        Some(unquote(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_challenge() {
        let a = AuthParams::parse(
            br#"Digest realm="atlanta.com", nonce="84a4cc6f, 3082c", qop="auth,auth-int", algorithm=SHA-256, stale=FALSE"#,
        )
        .expect("ok");
        assert!(a.is_digest());
        assert_eq!(a.get("REALM").as_deref(), Some("atlanta.com"));
        assert_eq!(a.get("nonce").as_deref(), Some("84a4cc6f, 3082c"));
        assert_eq!(a.get("algorithm").as_deref(), Some("SHA-256"));
        assert_eq!(a.params.len(), 5);
    }

    #[test]
    fn unknown_scheme_and_errors() {
        let a = AuthParams::parse(b"NoOneKnowsThisScheme opaque-data=here").expect("ok");
        assert!(!a.is_digest());
        assert_eq!(a.get("opaque-data").as_deref(), Some("here"));
        assert!(AuthParams::parse(b"Digest realm").is_err());
        assert!(AuthParams::parse(b"Digest realm=\"x").is_err());
        assert!(AuthParams::parse(b"Digest ,,").is_err());
    }
}
