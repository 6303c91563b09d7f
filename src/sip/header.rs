//! Header names: the headers the stack knows by name, their compact forms (RFC 3261 §7.3.3,
//! RFC 3515, RFC 3892, RFC 4028, RFC 8224), and a numeric id that crosses the napi boundary so
//! JavaScript never has to lower-case or compare names for known headers.

macro_rules! header_names {
    ($( $variant:ident = $id:literal, $canon:literal $(, $compact:literal)? ;)*) => {
        /// A header name. `Other` is any extension header; its spelling stays in the message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum HeaderName {
            Other = 0,
            $( $variant = $id, )*
        }

        impl HeaderName {
            /// Every known name with its id, canonical spelling and compact letter (or 0).
            pub const TABLE: &'static [(HeaderName, &'static str, u8)] = &[
                $( (HeaderName::$variant, $canon, header_names!(@compact $($compact)?)), )*
            ];

            pub fn as_str(self) -> &'static str {
                match self {
                    HeaderName::Other => "",
                    $( HeaderName::$variant => $canon, )*
                }
            }
        }
    };
    (@compact $c:literal) => { $c };
    (@compact) => { 0 };
}

header_names! {
    Accept = 1, "Accept";
    AcceptEncoding = 2, "Accept-Encoding";
    AcceptLanguage = 3, "Accept-Language";
    AlertInfo = 4, "Alert-Info";
    Allow = 5, "Allow";
    AllowEvents = 6, "Allow-Events", b'u';
    AuthenticationInfo = 7, "Authentication-Info";
    Authorization = 8, "Authorization";
    CallId = 9, "Call-ID", b'i';
    CallInfo = 10, "Call-Info";
    Contact = 11, "Contact", b'm';
    ContentDisposition = 12, "Content-Disposition";
    ContentEncoding = 13, "Content-Encoding", b'e';
    ContentLanguage = 14, "Content-Language";
    ContentLength = 15, "Content-Length", b'l';
    ContentType = 16, "Content-Type", b'c';
    CSeq = 17, "CSeq";
    Date = 18, "Date";
    ErrorInfo = 19, "Error-Info";
    Event = 20, "Event", b'o';
    Expires = 21, "Expires";
    From = 22, "From", b'f';
    Identity = 23, "Identity", b'y';
    InReplyTo = 24, "In-Reply-To";
    MaxForwards = 25, "Max-Forwards";
    MimeVersion = 26, "MIME-Version";
    MinExpires = 27, "Min-Expires";
    MinSe = 28, "Min-SE";
    Organization = 29, "Organization";
    PAssertedIdentity = 30, "P-Asserted-Identity";
    PPreferredIdentity = 31, "P-Preferred-Identity";
    Path = 32, "Path";
    Priority = 33, "Priority";
    Privacy = 34, "Privacy";
    ProxyAuthenticate = 35, "Proxy-Authenticate";
    ProxyAuthorization = 36, "Proxy-Authorization";
    ProxyRequire = 37, "Proxy-Require";
    RAck = 38, "RAck";
    Reason = 39, "Reason";
    RecordRoute = 40, "Record-Route";
    ReferTo = 41, "Refer-To", b'r';
    ReferredBy = 42, "Referred-By", b'b';
    RemotePartyId = 43, "Remote-Party-ID";
    Replaces = 44, "Replaces";
    ReplyTo = 45, "Reply-To";
    Require = 46, "Require";
    RetryAfter = 47, "Retry-After";
    Route = 48, "Route";
    RSeq = 49, "RSeq";
    Server = 50, "Server";
    SessionExpires = 51, "Session-Expires", b'x';
    Subject = 52, "Subject", b's';
    SubscriptionState = 53, "Subscription-State";
    Supported = 54, "Supported", b'k';
    Timestamp = 55, "Timestamp";
    To = 56, "To", b't';
    Unsupported = 57, "Unsupported";
    UserAgent = 58, "User-Agent";
    Via = 59, "Via", b'v';
    Warning = 60, "Warning";
    WwwAuthenticate = 61, "WWW-Authenticate";
}

impl HeaderName {
    /// Looks a name up case-insensitively, compact forms included. Indexed by length and first
    /// letter, so a typical header costs one comparison (this runs for every header line).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        let Some(&first) = name.first() else {
            return HeaderName::Other;
        };
        let first = first.to_ascii_lowercase();
        if !first.is_ascii_lowercase() {
            return HeaderName::Other;
        }
        if name.len() == 1 {
            return compact_table()[usize::from(first - b'a')];
        }
        bucket_table()[usize::from(first - b'a')]
            .iter()
            .find(|(canon, _)| canon.len() == name.len() && canon.as_bytes()[1..].eq_ignore_ascii_case(&name[1..]))
            .map_or(HeaderName::Other, |(_, h)| *h)
    }

    pub fn id(self) -> u8 {
        self as u8
    }
}

type Buckets = [Vec<(&'static str, HeaderName)>; 26];

fn bucket_table() -> &'static Buckets {
    static BUCKETS: std::sync::OnceLock<Buckets> = std::sync::OnceLock::new();
    BUCKETS.get_or_init(|| {
        let mut buckets: Buckets = Default::default();
        for (h, canon, _) in HeaderName::TABLE {
            let first = canon.as_bytes()[0].to_ascii_lowercase();
            buckets[usize::from(first - b'a')].push((canon, *h));
        }
        buckets
    })
}

fn compact_table() -> &'static [HeaderName; 26] {
    static COMPACT: std::sync::OnceLock<[HeaderName; 26]> = std::sync::OnceLock::new();
    COMPACT.get_or_init(|| {
        let mut table = [HeaderName::Other; 26];
        for (h, _, compact) in HeaderName::TABLE {
            if *compact != 0 {
                table[usize::from(compact - b'a')] = *h;
            }
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn names_and_compact_forms() {
        assert_eq!(HeaderName::from_bytes(b"cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"V"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"X-Foo"), HeaderName::Other);
        for (i, (h, _, _)) in HeaderName::TABLE.iter().enumerate() {
            assert_eq!(usize::from(h.id()), i + 1, "ids are dense and ordered");
        }
    }
}
