//! Next-hop resolution (RFC 3263 §4): which transport, address and port a request to a SIP
//! URI goes to, as a list to try in order. IP literals need no lookup; a name with a port is
//! looked up as A/AAAA; a name with a transport but no port as SRV; a bare name as NAPTR, then
//! SRV, then A/AAAA. Lookups run off the engine thread (the core parks the request until they
//! finish, see core.rs) behind the `Dns` interface, so tests use a table instead of a network.

use super::transport::Protocol;
use crate::sip::name_addr::NameAddr;
use crate::sip::uri::{HostKind, SipUri};
use futures_util::future::BoxFuture;
use std::net::{IpAddr, SocketAddr};

/// Where requests to a URI may go, in the order to try them (§4.3: on a transport error or a
/// timeout, the next).
pub type Targets = Vec<(Protocol, SocketAddr)>;

/// What RFC 3263 decides by: the host, and the port, transport and scheme the URI gives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    pub host: String,
    pub port: Option<u16>,
    pub transport: Option<Protocol>,
    pub secure: bool,
}

/// A URI is either resolved on the spot (an IP literal) or needs a lookup.
#[derive(Debug, PartialEq)]
pub enum Next {
    Ready(Targets),
    Lookup(Query),
}

/// Reads a Request-URI, a Route value (name-addr) or an outbound proxy URI.
pub fn next_for(uri: &str) -> Result<Next, String> {
    // A Route value is a name-addr; a bare URI's `;transport=` belongs to the URI.
    let inner = if uri.contains('<') { NameAddr::parse(uri.as_bytes()).map(|n| n.uri_raw).unwrap_or(uri.trim().as_bytes()) } else { uri.trim().as_bytes() };
    let sip = SipUri::parse(inner).map_err(|e| format!("invalid request-uri: {uri} ({e})"))?;
    let transport = match sip.transport() {
        None => None,
        Some(t) => {
            let t = String::from_utf8_lossy(t);
            Some(Protocol::for_uri(Some(&t), sip.secure).ok_or_else(|| format!("requested protocol/transport not available: {t}"))?)
        }
    };
    let host = String::from_utf8_lossy(sip.host);
    if sip.host_kind == HostKind::Name {
        return Ok(Next::Lookup(Query { host: host.to_ascii_lowercase(), port: sip.port, transport, secure: sip.secure }));
    }
    let protocol = transport.unwrap_or(if sip.secure { Protocol::Tls } else { Protocol::Udp });
    let ip: IpAddr = host.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| format!("invalid host in {uri}"))?;
    Ok(Next::Ready(vec![(protocol, SocketAddr::new(ip, sip.port.unwrap_or(protocol.default_port())))]))
}

#[derive(Debug, Clone)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

#[derive(Debug, Clone)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The three lookups RFC 3263 uses. An empty answer and a failed lookup mean the same here:
/// go on to the next step.
pub trait Dns: Send + Sync + 'static {
    fn naptr(&self, name: String) -> BoxFuture<'static, Vec<Naptr>>;
    fn srv(&self, name: String) -> BoxFuture<'static, Vec<Srv>>;
    fn ips(&self, name: String) -> BoxFuture<'static, Vec<IpAddr>>;
}

/// The transports we can use, with their NAPTR service and SRV prefix (RFC 3263 §4.1, RFC
/// 7118 §5 has no SRV for WebSocket: such URIs carry a port or use the default).
fn srv_prefix(protocol: Protocol) -> Option<&'static str> {
    match protocol {
        Protocol::Udp => Some("_sip._udp."),
        Protocol::Tcp => Some("_sip._tcp."),
        Protocol::Tls => Some("_sips._tcp."),
        Protocol::Ws | Protocol::Wss => None,
    }
}

fn naptr_service(services: &str) -> Option<Protocol> {
    match services.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(Protocol::Udp),
        "SIP+D2T" => Some(Protocol::Tcp),
        "SIPS+D2T" => Some(Protocol::Tls),
        _ => None,
    }
}

/// How long one NAPTR or SRV lookup may take: a name server that does not answer costs a few
/// seconds, and the A/AAAA lookup (where /etc/hosts names are found) still fits the core's
/// overall budget (resolving.rs).
const RECORD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// A NAPTR or SRV answer, or none when the lookup takes too long.
async fn bounded<T>(lookup: BoxFuture<'static, Vec<T>>) -> Vec<T> {
    tokio::time::timeout(RECORD_TIMEOUT, lookup).await.unwrap_or_default()
}

/// Resolves `q` to the targets to try, best first.
pub async fn resolve(dns: &dyn Dns, q: &Query) -> Result<Targets, String> {
    let fallback = if q.secure { Protocol::Tls } else { Protocol::Udp };
    // §4.2: a port means A/AAAA only.
    if let Some(port) = q.port {
        return addresses(dns, &q.host, q.transport.unwrap_or(fallback), port).await;
    }
    if let Some(protocol) = q.transport {
        return srv_then_addresses(dns, &q.host, protocol).await;
    }
    // §4.1: NAPTR records naming transports we have, in order then preference, each to SRV.
    let mut naptr: Vec<(Protocol, Naptr)> = bounded(dns.naptr(q.host.clone()))
        .await
        .into_iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter_map(|r| naptr_service(&r.services).map(|p| (p, r)))
        .filter(|(p, _)| !q.secure || *p == Protocol::Tls)
        .collect();
    naptr.sort_by_key(|(_, r)| (r.order, r.preference));
    for (protocol, r) in naptr {
        let targets = srv_targets(dns, &r.replacement, protocol).await;
        if !targets.is_empty() {
            return Ok(targets);
        }
    }
    // No NAPTR: SRV for each transport we have (TLS only for sips), then A/AAAA.
    let candidates: &[Protocol] = if q.secure { &[Protocol::Tls] } else { &[Protocol::Udp, Protocol::Tcp, Protocol::Tls] };
    for &protocol in candidates {
        let Some(prefix) = srv_prefix(protocol) else { continue };
        let targets = srv_targets(dns, &format!("{prefix}{}", q.host), protocol).await;
        if !targets.is_empty() {
            return Ok(targets);
        }
    }
    addresses(dns, &q.host, fallback, fallback.default_port()).await
}

async fn srv_then_addresses(dns: &dyn Dns, host: &str, protocol: Protocol) -> Result<Targets, String> {
    if let Some(prefix) = srv_prefix(protocol) {
        let targets = srv_targets(dns, &format!("{prefix}{host}"), protocol).await;
        if !targets.is_empty() {
            return Ok(targets);
        }
    }
    addresses(dns, host, protocol, protocol.default_port()).await
}

/// SRV records in priority order; within a priority, heavier first (RFC 2782's weighted pick
/// made deterministic: the order a retry walks), each target's addresses in turn.
async fn srv_targets(dns: &dyn Dns, name: &str, protocol: Protocol) -> Targets {
    let mut records = bounded(dns.srv(name.to_owned())).await;
    records.retain(|r| r.target != ".");
    records.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
    let mut out = Targets::new();
    for r in records {
        if let Ok(found) = addresses(dns, r.target.trim_end_matches('.'), protocol, r.port).await {
            out.extend(found.into_iter().filter(|t| !out.contains(t)).collect::<Vec<_>>());
        }
    }
    out
}

async fn addresses(dns: &dyn Dns, host: &str, protocol: Protocol, port: u16) -> Result<Targets, String> {
    let ips = dns.ips(host.to_owned()).await;
    if ips.is_empty() {
        return Err(format!("cannot resolve {host}"));
    }
    Ok(ips.into_iter().map(|ip| (protocol, SocketAddr::new(ip, port))).collect())
}

/// The system's resolver: NAPTR and SRV through hickory (reading /etc/resolv.conf), A/AAAA
/// through getaddrinfo on tokio's blocking pool, so /etc/hosts and nsswitch apply as they do
/// for every other program on the machine.
pub struct SystemDns {
    resolver: Option<hickory_resolver::TokioResolver>,
}

impl SystemDns {
    pub fn new() -> SystemDns {
        let resolver = match hickory_resolver::TokioResolver::builder_tokio() {
            Ok(b) => Some(b.build()),
            Err(e) => {
                tracing::warn!(error = %e, "no DNS configuration: NAPTR and SRV lookups are skipped");
                None
            }
        };
        SystemDns { resolver }
    }
}

impl Dns for SystemDns {
    fn naptr(&self, name: String) -> BoxFuture<'static, Vec<Naptr>> {
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let Some(r) = resolver else { return Vec::new() };
            let Ok(found) = r.lookup(name, hickory_resolver::proto::rr::RecordType::NAPTR).await else { return Vec::new() };
            found
                .iter()
                .filter_map(|d| match d {
                    hickory_resolver::proto::rr::RData::NAPTR(n) => Some(Naptr {
                        order: n.order(),
                        preference: n.preference(),
                        flags: String::from_utf8_lossy(n.flags()).into_owned(),
                        services: String::from_utf8_lossy(n.services()).into_owned(),
                        replacement: n.replacement().to_utf8(),
                    }),
                    _ => None,
                })
                .collect()
        })
    }

    fn srv(&self, name: String) -> BoxFuture<'static, Vec<Srv>> {
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let Some(r) = resolver else { return Vec::new() };
            let Ok(found) = r.srv_lookup(name).await else { return Vec::new() };
            found.iter().map(|s| Srv { priority: s.priority(), weight: s.weight(), port: s.port(), target: s.target().to_utf8() }).collect()
        })
    }

    fn ips(&self, name: String) -> BoxFuture<'static, Vec<IpAddr>> {
        Box::pin(async move {
            match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(found) => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for a in found {
                        if !ips.contains(&a.ip()) {
                            ips.push(a.ip());
                        }
                    }
                    ips
                }
                Err(_) => Vec::new(),
            }
        })
    }
}

#[cfg(test)]
pub mod table {
    //! A `Dns` answering from fixed records: RFC 3263 without a network.
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    pub struct TableDns {
        pub naptr: HashMap<String, Vec<Naptr>>,
        pub srv: HashMap<String, Vec<Srv>>,
        pub ips: HashMap<String, Vec<IpAddr>>,
        /// NAPTR and SRV lookups never answer (a name server that is down).
        pub silent: bool,
    }

    impl Dns for TableDns {
        fn naptr(&self, name: String) -> BoxFuture<'static, Vec<Naptr>> {
            if self.silent {
                return Box::pin(std::future::pending());
            }
            let v = self.naptr.get(&name).cloned().unwrap_or_default();
            Box::pin(async move { v })
        }
        fn srv(&self, name: String) -> BoxFuture<'static, Vec<Srv>> {
            if self.silent {
                return Box::pin(std::future::pending());
            }
            let v = self.srv.get(&name).cloned().unwrap_or_default();
            Box::pin(async move { v })
        }
        fn ips(&self, name: String) -> BoxFuture<'static, Vec<IpAddr>> {
            let v = self.ips.get(&name).cloned().unwrap_or_default();
            Box::pin(async move { v })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table::TableDns;
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }
    fn t(p: Protocol, a: &str) -> (Protocol, SocketAddr) {
        (p, a.parse().expect("addr"))
    }
    fn query(uri: &str) -> Query {
        match next_for(uri) {
            Ok(Next::Lookup(q)) => q,
            other => panic!("{uri}: {other:?}"),
        }
    }
    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv { priority, weight, port, target: target.into() }
    }
    fn naptr(order: u16, preference: u16, services: &str, replacement: &str) -> Naptr {
        Naptr { order, preference, flags: "s".into(), services: services.into(), replacement: replacement.into() }
    }

    fn example() -> TableDns {
        let mut d = TableDns::default();
        d.ips.insert("a.example.com".into(), vec![ip("192.0.2.1")]);
        d.ips.insert("b.example.com".into(), vec![ip("192.0.2.2"), ip("2001:db8::2")]);
        d.ips.insert("example.com".into(), vec![ip("192.0.2.9")]);
        d
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        assert_eq!(next_for("sip:10.0.0.1"), Ok(Next::Ready(vec![t(Protocol::Udp, "10.0.0.1:5060")])));
        assert_eq!(next_for("sips:10.0.0.1"), Ok(Next::Ready(vec![t(Protocol::Tls, "10.0.0.1:5061")])));
        assert_eq!(next_for("<sip:[::1]:5070;transport=tcp;lr>"), Ok(Next::Ready(vec![t(Protocol::Tcp, "[::1]:5070")])));
        assert_eq!(next_for("sip:10.0.0.1:8080;transport=ws"), Ok(Next::Ready(vec![t(Protocol::Ws, "10.0.0.1:8080")])));
        assert!(next_for("sip:10.0.0.1;transport=sctp").is_err());
        assert_eq!(query("sip:User@Example.COM;transport=TCP"), Query { host: "example.com".into(), port: None, transport: Some(Protocol::Tcp), secure: false });
    }

    #[tokio::test]
    async fn a_port_means_addresses_only() {
        let mut d = example();
        d.srv.insert("_sip._udp.example.com".into(), vec![srv(1, 1, 5070, "a.example.com")]);
        assert_eq!(resolve(&d, &query("sip:example.com:5080")).await, Ok(vec![t(Protocol::Udp, "192.0.2.9:5080")]));
        assert_eq!(resolve(&d, &query("sips:example.com:5081")).await, Ok(vec![t(Protocol::Tls, "192.0.2.9:5081")]));
    }

    #[tokio::test]
    async fn a_transport_means_srv_then_addresses() {
        let mut d = example();
        d.srv.insert(
            "_sip._tcp.example.com".into(),
            vec![srv(20, 0, 5062, "a.example.com."), srv(10, 10, 5060, "b.example.com."), srv(10, 50, 5061, "a.example.com.")],
        );
        let got = resolve(&d, &query("sip:example.com;transport=tcp")).await;
        assert_eq!(
            got,
            Ok(vec![t(Protocol::Tcp, "192.0.2.1:5061"), t(Protocol::Tcp, "192.0.2.2:5060"), t(Protocol::Tcp, "[2001:db8::2]:5060"), t(Protocol::Tcp, "192.0.2.1:5062")]),
            "priority, then weight; every address of each target"
        );
        assert_eq!(resolve(&d, &query("sip:example.com;transport=udp")).await, Ok(vec![t(Protocol::Udp, "192.0.2.9:5060")]), "no SRV: A on the default port");
        assert_eq!(resolve(&d, &query("sip:example.com;transport=ws")).await, Ok(vec![t(Protocol::Ws, "192.0.2.9:80")]));
    }

    #[tokio::test]
    async fn naptr_picks_the_transport_in_order_and_preference() {
        let mut d = example();
        d.naptr.insert(
            "example.com".into(),
            vec![naptr(50, 50, "SIP+D2U", "_sip._udp.example.com"), naptr(10, 50, "SIP+D2T", "_sip._tcp.example.com"), naptr(10, 10, "SIP+D2X", "_x.example.com")],
        );
        d.srv.insert("_sip._tcp.example.com".into(), vec![srv(0, 0, 5090, "a.example.com")]);
        d.srv.insert("_sip._udp.example.com".into(), vec![srv(0, 0, 5091, "a.example.com")]);
        assert_eq!(resolve(&d, &query("sip:example.com")).await, Ok(vec![t(Protocol::Tcp, "192.0.2.1:5090")]), "order 10 before 50; unknown services skipped");
        d.srv.remove("_sip._tcp.example.com");
        assert_eq!(resolve(&d, &query("sip:example.com")).await, Ok(vec![t(Protocol::Udp, "192.0.2.1:5091")]), "a NAPTR whose SRV is empty is passed over");
        assert_eq!(resolve(&d, &query("sips:example.com")).await, Ok(vec![t(Protocol::Tls, "192.0.2.9:5061")]), "sips takes only SIPS+D2T; none, so A");
    }

    #[tokio::test]
    async fn without_naptr_srv_for_each_transport_then_addresses() {
        let mut d = example();
        assert_eq!(resolve(&d, &query("sip:example.com")).await, Ok(vec![t(Protocol::Udp, "192.0.2.9:5060")]));
        d.srv.insert("_sips._tcp.example.com".into(), vec![srv(0, 0, 5061, "b.example.com")]);
        assert_eq!(resolve(&d, &query("sips:example.com")).await, Ok(vec![t(Protocol::Tls, "192.0.2.2:5061"), t(Protocol::Tls, "[2001:db8::2]:5061")]));
        d.srv.insert("_sip._tcp.example.com".into(), vec![srv(0, 0, 5070, "a.example.com")]);
        assert_eq!(resolve(&d, &query("sip:example.com")).await, Ok(vec![t(Protocol::Tcp, "192.0.2.1:5070")]), "udp has none, tcp has one");
        assert!(resolve(&d, &query("sip:nowhere.example.com")).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_name_server_costs_bounded_time_and_addresses_still_resolve() {
        let mut d = example();
        d.silent = true;
        let started = tokio::time::Instant::now();
        assert_eq!(resolve(&d, &query("sip:example.com")).await, Ok(vec![t(Protocol::Udp, "192.0.2.9:5060")]));
        // NAPTR, then SRV for udp, tcp and tls: four bounded waits, inside the core's budget.
        assert_eq!(started.elapsed(), RECORD_TIMEOUT * 4);
    }
}
