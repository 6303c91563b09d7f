//! `drachtio-rs serve`'s configuration file: drachtio-server's `drachtio.conf.xml` (what `-f`
//! names), read the way drachtio-server reads it, or our older TOML file. Either becomes a
//! [`Layer`] of settings; args.rs puts the layers together (command line over environment over
//! file over defaults, as drachtio-server does).
//!
//! Every element drachtio-server reads is known here. Harmless ones (logging destinations,
//! sofia's log level) are accepted with a note; ones that change behaviour we do not have are an
//! error that names them, never silently dropped.

use crate::engine::nat::LocalNet;
use crate::engine::{Protocol, Refresher};
use std::net::SocketAddr;
use std::time::Duration;

/// The largest configuration file read (drachtio.conf.xml files are a few KB).
const MAX_FILE: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// One request handler: new requests of `sip_method` (upper case, or `*` for every method)
/// are routed by asking `url` (or straight to the app when it is `tcp://host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub sip_method: String,
    pub http_method: HttpMethod,
    pub url: String,
    pub verify_peer: bool,
}

/// Settings from one source; `None` (or empty) where that source says nothing.
#[derive(Debug, Default, Clone)]
pub struct Layer {
    pub contacts: Vec<(Protocol, SocketAddr)>,
    pub address: Option<String>,
    /// Admin TCP port: `Some(None)` disables it (drachtio.conf.xml's `port="0"`).
    pub port: Option<Option<u16>>,
    pub tls_port: Option<u16>,
    pub secret: Option<String>,
    pub external_ip: Option<String>,
    pub local_nets: Vec<LocalNet>,
    /// Already mapped onto a tracing level.
    pub loglevel: Option<String>,
    pub t1: Option<Duration>,
    pub t2: Option<Duration>,
    pub t4: Option<Duration>,
    pub tcp_message_timeout: Option<Duration>,
    pub min_se: Option<u32>,
    /// `Some(None)`: "none".
    pub default_refresher: Option<Option<Refresher>>,
    pub key_file: Option<String>,
    pub cert_file: Option<String>,
    pub chain_file: Option<String>,
    pub dh_param: Option<String>,
    pub min_tls_version: Option<f32>,
    pub handlers: Vec<Handler>,
    pub cdrs: Option<bool>,
    /// `<monitoring><prometheus port="…">address</prometheus>`: Some(None) when port is 0.
    pub prometheus: Option<Option<SocketAddr>>,
    /// Accepted settings that change nothing here, said once at startup.
    pub notes: Vec<String>,
}

/// drachtio-server's log levels (and ours) → a tracing level.
pub fn map_loglevel(level: &str) -> Option<&'static str> {
    match level.trim().to_ascii_lowercase().as_str() {
        "error" => Some("error"),
        "warning" | "warn" => Some("warn"),
        // drachtio's notice sits between warning and info; tracing has no such level.
        "notice" | "info" => Some("info"),
        "debug" => Some("debug"),
        "trace" => Some("trace"),
        _ => None,
    }
}

/// `sip:host[:port][;transport=udp|tcp|udp,tcp]` → listening points (port 5060, UDP by
/// default; host `*` is every interface, as drachtio-server reads it).
pub fn parse_contact_list(contact: &str) -> Result<Vec<(Protocol, SocketAddr)>, String> {
    let bad = |why: &str| format!("invalid contact '{contact}': {why}");
    let trimmed = contact.trim();
    let lower = trimmed.to_ascii_lowercase();
    // '*' is not a URI host; read it as the unspecified address.
    let scheme = if lower.starts_with("sips:") { "sips:" } else { "sip:" };
    let mut normalized = match lower.strip_prefix(scheme).filter(|rest| rest.starts_with('*')) {
        Some(_) => format!("{scheme}0.0.0.0{}", &trimmed[scheme.len() + 1..]),
        None => trimmed.to_owned(),
    };
    // drachtio-server's `transport=udp,tcp` (a list) is not URI syntax: take it out first.
    let mut transports = if scheme == "sips:" { "tls" } else { "udp" }.to_owned();
    if let Some(at) = normalized.to_ascii_lowercase().find(";transport=") {
        let value_start = at + ";transport=".len();
        let value_end = normalized[value_start..].find(';').map_or(normalized.len(), |e| value_start + e);
        transports = normalized[value_start..value_end].to_owned();
        normalized.replace_range(at..value_end, "");
    }
    let uri = crate::sip::uri::SipUri::parse(normalized.as_bytes()).map_err(bad)?;
    let host = String::from_utf8_lossy(uri.host);
    let ip: std::net::IpAddr = host.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| bad("the host must be an IP address"))?;
    let mut out = Vec::new();
    for t in transports.split(',') {
        let protocol = Protocol::parse(t.trim()).ok_or_else(|| bad("transport must be udp, tcp, tls, ws or wss"))?;
        let addr = SocketAddr::new(ip, uri.port.unwrap_or(protocol.default_port()));
        if !out.contains(&(protocol, addr)) {
            out.push((protocol, addr));
        }
    }
    Ok(out)
}

/// Reads a configuration file: drachtio.conf.xml when it is XML, else our TOML form.
pub fn read_file(path: &str) -> Result<Layer, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read configuration file {path}: {e}"))?;
    if meta.len() > MAX_FILE {
        return Err(format!("configuration file {path} is larger than {MAX_FILE} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read configuration file {path}: {e}"))?;
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.starts_with('<') {
        parse_xml(body).map_err(|e| format!("{path}: {e}"))
    } else {
        parse_toml(body).map_err(|e| format!("{path}: {e}"))
    }
}

fn yes(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
}

fn ms(v: &str, name: &str) -> Result<Duration, String> {
    v.trim().parse::<u64>().ok().filter(|n| *n > 0).map(Duration::from_millis).ok_or_else(|| format!("{name} must be a positive number of ms, got '{}'", v.trim()))
}

fn not_yet(what: &str) -> String {
    format!("{what} is not supported yet by drachtio-rs serve")
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn text<'a>(n: Node<'a, '_>) -> &'a str {
    n.text().unwrap_or_default().trim()
}

fn children<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// drachtio.conf.xml (the layout of drachtio-server's sample configuration).
pub fn parse_xml(xml: &str) -> Result<Layer, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not a valid XML configuration: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "drachtio" {
        return Err(format!("the root element must be <drachtio>, found <{}>", root.tag_name().name()));
    }
    let mut out = Layer::default();
    let mut saw_admin = false;
    for el in children(root) {
        match el.tag_name().name() {
            "admin" => {
                saw_admin = true;
                admin(el, &mut out)?;
            }
            "sip" => sip(el, &mut out)?,
            "request-handlers" => {
                for h in children(el) {
                    if h.tag_name().name() != "request-handler" {
                        out.notes.push(format!("<request-handlers> has an element <{}> drachtio-server ignores; so do we", h.tag_name().name()));
                        continue;
                    }
                    out.handlers.push(handler(h)?);
                }
            }
            "cdrs" => out.cdrs = Some(yes(text(el))),
            "monitoring" => {
                for m in children(el) {
                    match m.tag_name().name() {
                        "prometheus" => out.prometheus = Some(prometheus(m)?),
                        other => out.notes.push(format!("<monitoring><{other}> is not a drachtio-server setting; ignored")),
                    }
                }
            }
            "logging" => logging(el, &mut out)?,
            other => out.notes.push(format!("<{other}> is not a drachtio-server setting; ignored as drachtio-server ignores it")),
        }
    }
    if !saw_admin {
        // drachtio-server refuses a configuration without it.
        return Err("<admin> is required: it gives the admin (control) port and secret".into());
    }
    Ok(out)
}

/// `<prometheus port="9090">0.0.0.0</prometheus>`: the address defaults to 0.0.0.0 (as in
/// drachtio-server); port 0 turns metrics off.
fn prometheus(el: Node<'_, '_>) -> Result<Option<SocketAddr>, String> {
    let port = attr_u16(el, "port")?.ok_or("<monitoring><prometheus> needs a port attribute")?;
    let address = text(el);
    let address = if address.trim().is_empty() { "0.0.0.0" } else { address.trim() };
    let ip: std::net::IpAddr = address.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| format!("<monitoring><prometheus> must hold an IP address, got '{address}'"))?;
    Ok((port != 0).then_some(SocketAddr::new(ip, port)))
}

fn attr_u16(el: Node<'_, '_>, name: &str) -> Result<Option<u16>, String> {
    el.attribute(name).map(|v| v.trim().parse::<u16>().map_err(|_| format!("<{} {name}=\"{v}\"> must be a port number", el.tag_name().name()))).transpose()
}

fn admin(el: Node<'_, '_>, out: &mut Layer) -> Result<(), String> {
    // drachtio-server's defaults when <admin> is present: port 9022, secret "admin".
    let port = attr_u16(el, "port")?.unwrap_or(9022);
    out.port = Some((port != 0).then_some(port));
    out.tls_port = attr_u16(el, "tls-port")?.filter(|p| *p != 0);
    out.secret = Some(el.attribute("secret").unwrap_or("admin").to_owned());
    let address = text(el);
    if !address.is_empty() {
        out.address = Some(address.to_owned());
    }
    for (name, _) in el.attributes().map(|a| (a.name(), a.value())) {
        match name {
            "port" | "tls-port" | "secret" => {}
            // drachtio-server reads `tls` and does nothing with it; a tls-port is what counts.
            "tls" => {}
            "tcp-keepalive" => out.notes.push("<admin tcp-keepalive> applies to SIP connections in drachtio-server; serve's app connections use the OS default".into()),
            other => out.notes.push(format!("<admin {other}> is not a drachtio-server setting; ignored")),
        }
    }
    Ok(())
}

fn contact(el: Node<'_, '_>, out: &mut Layer) -> Result<(), String> {
    out.contacts.extend(parse_contact_list(text(el))?);
    if let Some(ip) = el.attribute("external-ip").map(str::trim).filter(|v| !v.is_empty()) {
        match &out.external_ip {
            Some(other) if other != ip => {
                return Err(format!("contacts with different external-ip values ({other}, {ip}) are not supported yet by drachtio-rs serve"));
            }
            _ => out.external_ip = Some(ip.to_owned()),
        }
    }
    if let Some(net) = el.attribute("local-net").map(str::trim).filter(|v| !v.is_empty()) {
        out.local_nets.push(LocalNet::parse(net)?);
    }
    if el.attribute("dns-names").is_some_and(|v| !v.trim().is_empty()) {
        return Err(not_yet("<contact dns-names>"));
    }
    Ok(())
}

fn sip(el: Node<'_, '_>, out: &mut Layer) -> Result<(), String> {
    for s in children(el) {
        let name = s.tag_name().name();
        match name {
            "contact" => contact(s, out)?,
            "contacts" => {
                for c in children(s).filter(|c| c.tag_name().name() == "contact") {
                    contact(c, out)?;
                }
            }
            "timers" => timers(s, out)?,
            "session-timers" => {
                if let Some(r) = s.attribute("default-refresher") {
                    out.default_refresher = Some(parse_refresher(r).map_err(|e| format!("<session-timers default-refresher> {e}"))?);
                }
            }
            "tls" => {
                for t in children(s) {
                    let v = text(t).to_owned();
                    match t.tag_name().name() {
                        "key-file" => out.key_file = Some(v),
                        "cert-file" => out.cert_file = Some(v),
                        "chain-file" => out.chain_file = Some(v),
                        "dh-param" => out.dh_param = Some(v),
                        "min-tls-version" => out.min_tls_version = Some(parse_tls_version(&v)?),
                        other => out.notes.push(format!("<sip><tls><{other}> is not a drachtio-server setting; ignored")),
                    }
                }
            }
            "outbound-proxy" if !text(s).is_empty() => return Err(not_yet("<sip><outbound-proxy>")),
            "capture-server" => return Err(not_yet("<sip><capture-server> (HEP/Homer capture)")),
            "blacklist" => return Err(not_yet("<sip><blacklist> (redis blacklist)")),
            "spammers" => return Err(not_yet("<sip><spammers>")),
            "user-agent-options-auto-respond" if !text(s).is_empty() => return Err(not_yet("<sip><user-agent-options-auto-respond>")),
            "reject-register-with-no-realm" if yes(text(s)) => return Err(not_yet("<sip><reject-register-with-no-realm>")),
            "aggressive-nat-detection" if yes(text(s)) => return Err(not_yet("<sip><aggressive-nat-detection>")),
            "udp-buffer-size" if text(s).trim_start_matches('0').is_empty() => {}
            "udp-buffer-size" => return Err(not_yet("<sip><udp-buffer-size>")),
            // drachtio-server reads it but no longer applies it.
            "udp-mtu" => out.notes.push("<sip><udp-mtu> has no effect (as in drachtio-server)".into()),
            "outbound-proxy" | "user-agent-options-auto-respond" | "reject-register-with-no-realm" | "aggressive-nat-detection" => {}
            other => out.notes.push(format!("<sip><{other}> is not a drachtio-server setting; ignored")),
        }
    }
    Ok(())
}

fn timers(el: Node<'_, '_>, out: &mut Layer) -> Result<(), String> {
    let mut t1x64 = None;
    for t in children(el) {
        let name = t.tag_name().name();
        let v = text(t);
        match name {
            "t1" => out.t1 = Some(ms(v, "<timers><t1>")?),
            "t2" => out.t2 = Some(ms(v, "<timers><t2>")?),
            "t4" => out.t4 = Some(ms(v, "<timers><t4>")?),
            "t1x64" => t1x64 = Some(ms(v, "<timers><t1x64>")?),
            other => out.notes.push(format!("<timers><{other}> is not a drachtio-server setting; ignored")),
        }
    }
    if let Some(x) = t1x64 {
        // Our transaction timers derive 64×T1 from T1; a different value cannot be honoured.
        let t1 = out.t1.unwrap_or(Duration::from_millis(500));
        if x != t1 * 64 {
            return Err(format!("<timers><t1x64> other than 64 × t1 ({} ms) is not supported yet by drachtio-rs serve", (t1 * 64).as_millis()));
        }
    }
    Ok(())
}

fn logging(el: Node<'_, '_>, out: &mut Layer) -> Result<(), String> {
    for l in children(el) {
        match l.tag_name().name() {
            "loglevel" => {
                let v = text(l);
                // drachtio-server falls back to info on anything else.
                out.loglevel = Some(map_loglevel(v).unwrap_or("info").to_owned());
            }
            "sofia-loglevel" => {
                parse_sofia_loglevel(text(l))?;
            }
            "console" => {}
            "file" => out.notes.push("<logging><file>: serve logs to stderr; redirect it to keep a log file".into()),
            "syslog" => out.notes.push("<logging><syslog>: serve logs to stderr; pipe it to logger(1) for syslog".into()),
            other => out.notes.push(format!("<logging><{other}> is not a drachtio-server setting; ignored")),
        }
    }
    Ok(())
}

fn handler(h: Node<'_, '_>) -> Result<Handler, String> {
    let sip_method = h.attribute("sip-method").unwrap_or("*").trim().to_ascii_uppercase();
    let http_method = parse_http_method(h.attribute("http-method").unwrap_or("GET"))?;
    let url = text(h).to_owned();
    if url.is_empty() {
        return Err("<request-handler> needs a URL".into());
    }
    let verify_peer = h.attribute("verify-peer").is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
    Ok(Handler { sip_method, http_method, url, verify_peer })
}

/// GET or POST (case-insensitive); drachtio-server treats anything but POST as GET, we say so.
pub fn parse_http_method(v: &str) -> Result<HttpMethod, String> {
    match v.trim().to_ascii_uppercase().as_str() {
        "GET" => Ok(HttpMethod::Get),
        "POST" => Ok(HttpMethod::Post),
        other => Err(format!("http method must be GET or POST, got '{other}'")),
    }
}

pub fn parse_sofia_loglevel(v: &str) -> Result<u8, String> {
    v.trim().parse::<u8>().ok().filter(|n| *n <= 9).ok_or_else(|| format!("sofia-loglevel must be 0-9, got '{}'", v.trim()))
}

pub fn parse_tls_version(v: &str) -> Result<f32, String> {
    v.trim().parse::<f32>().ok().filter(|n| (1.0..=1.3).contains(n)).ok_or_else(|| format!("min-tls-version must be 1.0, 1.1, 1.2 or 1.3, got '{}'", v.trim()))
}

pub fn parse_min_se(v: &str) -> Result<u32, String> {
    v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| "must be a positive number of seconds".to_owned())
}

pub fn parse_refresher(v: &str) -> Result<Option<Refresher>, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(None),
        other => Refresher::parse(other).map(Some).ok_or_else(|| "must be none, uac or uas".to_owned()),
    }
}

/// Our earlier TOML file: contacts (array), address, port, secret, external_ip, loglevel,
/// t1, t2, t4, tcp_message_timeout (ms), min_se (s), default_refresher.
fn parse_toml(text: &str) -> Result<Layer, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("neither drachtio.conf.xml nor TOML: {e}"))?;
    let mut out = Layer::default();
    let string = |v: &toml::Value, key: &str| v.as_str().map(str::to_owned).ok_or_else(|| format!("{key} must be a string"));
    let millis = |v: &toml::Value, key: &str| v.as_integer().filter(|n| *n > 0).map(|n| Duration::from_millis(n as u64)).ok_or_else(|| format!("{key} must be a positive number of ms"));
    for (key, v) in &table {
        match key.as_str() {
            "contacts" => {
                let list = v.as_array().ok_or("contacts must be an array")?;
                for c in list {
                    out.contacts.extend(parse_contact_list(&string(c, "contacts")?)?);
                }
            }
            "address" => out.address = Some(string(v, key)?),
            "port" => out.port = Some(Some(v.as_integer().and_then(|p| u16::try_from(p).ok()).ok_or("port must be a port number")?)),
            "secret" => out.secret = Some(string(v, key)?),
            "external_ip" => out.external_ip = Some(string(v, key)?),
            "loglevel" => {
                let l = string(v, key)?;
                out.loglevel = Some(map_loglevel(&l).ok_or_else(|| format!("loglevel '{l}' is not one of error, warning, notice, info, debug, trace"))?.to_owned());
            }
            "t1" => out.t1 = Some(millis(v, key)?),
            "t2" => out.t2 = Some(millis(v, key)?),
            "t4" => out.t4 = Some(millis(v, key)?),
            "tcp_message_timeout" => out.tcp_message_timeout = Some(millis(v, key)?),
            "min_se" => {
                let n = v.as_integer().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
                out.min_se = Some(n.ok_or("min_se must be a positive number of seconds")?);
            }
            "default_refresher" => out.default_refresher = Some(parse_refresher(&string(v, key)?).map_err(|e| format!("default_refresher {e}"))?),
            other => return Err(format!("unknown setting '{other}'")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration in the style of drachtio-server's documentation.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<drachtio>
    <!-- udp port to listen on for client connections and shared secret -->
    <admin port="9022" secret="cymru">127.0.0.1</admin>

    <!-- http handlers for new incoming requests -->
    <request-handlers>
        <request-handler sip-method="INVITE" http-method="GET" verify-peer="false">http://127.0.0.1:8080/route</request-handler>
        <request-handler sip-method="register" http-method="post">https://example.com/register</request-handler>
    </request-handlers>

    <!-- sip configuration -->
    <sip>
        <contacts>
            <contact external-ip="203.0.113.5" local-net="10.132.0.0/20">sip:127.0.0.1:5080;transport=udp,tcp</contact>
        </contacts>
        <udp-mtu>4096</udp-mtu>
        <session-timers default-refresher="uas"/>
        <timers>
            <t1>250</t1>
            <t2>4000</t2>
            <t4>5000</t4>
            <t1x64>16000</t1x64>
        </timers>
        <tls>
            <key-file>/etc/letsencrypt/live/example.com/privkey.pem</key-file>
            <cert-file>/etc/letsencrypt/live/example.com/cert.pem</cert-file>
            <chain-file>/etc/letsencrypt/live/example.com/chain.pem</chain-file>
            <dh-param>/var/local/dh4096.pem</dh-param>
        </tls>
    </sip>

    <cdrs>true</cdrs>

    <logging>
        <console/>
        <file>
            <name>/var/log/drachtio/drachtio.log</name>
            <archive>/var/log/drachtio/archive</archive>
            <size>100</size>
            <maxSize>10000</maxSize>
            <auto-flush>true</auto-flush>
        </file>
        <sofia-loglevel>3</sofia-loglevel>
        <loglevel>notice</loglevel>
    </logging>
</drachtio>
"#;

    #[test]
    fn sample_configuration() {
        let c = parse_xml(SAMPLE).expect("parses");
        assert_eq!(c.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.port, Some(Some(9022)));
        assert_eq!(c.tls_port, None);
        assert_eq!(c.secret.as_deref(), Some("cymru"));
        let addr: SocketAddr = "127.0.0.1:5080".parse().expect("addr");
        assert_eq!(c.contacts, vec![(Protocol::Udp, addr), (Protocol::Tcp, addr)]);
        assert_eq!(c.external_ip.as_deref(), Some("203.0.113.5"));
        assert_eq!(c.local_nets, vec![LocalNet::parse("10.132.0.0/20").expect("cidr")]);
        assert_eq!(c.t1, Some(Duration::from_millis(250)));
        assert_eq!(c.default_refresher, Some(Some(Refresher::Uas)));
        assert_eq!(c.key_file.as_deref(), Some("/etc/letsencrypt/live/example.com/privkey.pem"));
        assert_eq!(c.dh_param.as_deref(), Some("/var/local/dh4096.pem"));
        assert_eq!(c.cdrs, Some(true));
        assert_eq!(c.loglevel.as_deref(), Some("info"));
        assert_eq!(
            c.handlers,
            vec![
                Handler { sip_method: "INVITE".into(), http_method: HttpMethod::Get, url: "http://127.0.0.1:8080/route".into(), verify_peer: false },
                Handler { sip_method: "REGISTER".into(), http_method: HttpMethod::Post, url: "https://example.com/register".into(), verify_peer: false },
            ]
        );
        assert!(c.notes.iter().any(|n| n.contains("udp-mtu")));
        assert!(c.notes.iter().any(|n| n.contains("<logging><file>")));
    }

    #[test]
    fn prometheus_monitoring() {
        let c = parse_xml(r#"<drachtio><admin secret="s"/><monitoring><prometheus port="8088">127.0.0.1</prometheus></monitoring></drachtio>"#).expect("parses");
        assert_eq!(c.prometheus, Some(Some("127.0.0.1:8088".parse().expect("addr"))));
        let c = parse_xml(r#"<drachtio><admin secret="s"/><monitoring><prometheus port="9090"/></monitoring></drachtio>"#).expect("parses");
        assert_eq!(c.prometheus, Some(Some("0.0.0.0:9090".parse().expect("addr"))));
        let c = parse_xml(r#"<drachtio><admin secret="s"/><monitoring><prometheus port="0">127.0.0.1</prometheus></monitoring></drachtio>"#).expect("parses");
        assert_eq!(c.prometheus, Some(None));
    }

    #[test]
    fn admin_defaults_and_tls_only() {
        let c = parse_xml("<drachtio><admin/></drachtio>").expect("parses");
        assert_eq!((c.port, c.secret.as_deref(), c.address), (Some(Some(9022)), Some("admin"), None));
        let c = parse_xml(r#"<drachtio><admin port="0" tls-port="9023" secret="s">0.0.0.0</admin></drachtio>"#).expect("parses");
        assert_eq!((c.port, c.tls_port), (Some(None), Some(9023)));
        // old style: one <contact> under <sip>, '*' host
        let c = parse_xml(r#"<drachtio><admin secret="s"/><sip><contact>sip:*;transport=tcp</contact></sip></drachtio>"#).expect("parses");
        assert_eq!(c.contacts, vec![(Protocol::Tcp, "0.0.0.0:5060".parse().expect("addr"))]);
        let c = parse_xml(r#"<drachtio><admin secret="s"/><sip><contacts><contact>sips:127.0.0.1;transport=tls</contact><contact>sip:127.0.0.1:8080;transport=ws</contact></contacts></sip></drachtio>"#).expect("parses");
        assert_eq!(c.contacts, vec![(Protocol::Tls, "127.0.0.1:5061".parse().expect("addr")), (Protocol::Ws, "127.0.0.1:8080".parse().expect("addr"))]);
    }

    #[test]
    fn unsupported_settings_are_named() {
        let wrap = |inner: &str| format!(r#"<drachtio><admin secret="s"/>{inner}</drachtio>"#);
        let err = |inner: &str| parse_xml(&wrap(inner)).err().unwrap_or_default();
        assert!(err(r#"<monitoring><prometheus>127.0.0.1</prometheus></monitoring>"#).contains("port"));
        assert!(err(r#"<monitoring><prometheus port="8088">localhost.x</prometheus></monitoring>"#).contains("IP address"));
        assert!(err(r#"<sip><capture-server port="9060" id="10">127.0.0.1</capture-server></sip>"#).contains("capture-server"));
        assert!(err(r#"<sip><spammers action="reject"><header name="User-Agent"><value>sip-cli</value></header></spammers></sip>"#).contains("spammers"));
        assert!(err("<sip><outbound-proxy>sip:10.0.0.1</outbound-proxy></sip>").contains("outbound-proxy"));
        assert!(err("<sip><timers><t1>500</t1><t1x64>1000</t1x64></timers></sip>").contains("t1x64"));
        assert!(err("<sip><timers><t1>soon</t1></timers></sip>").contains("t1"));
        assert!(parse_xml("<drachtio><sip/></drachtio>").err().unwrap_or_default().contains("<admin>"));
        assert!(parse_xml("<drachtio><admin>").err().unwrap_or_default().contains("XML"));
        assert!(parse_xml("<other/>").err().unwrap_or_default().contains("<drachtio>"));
        // disabled forms of unsupported settings are fine
        assert!(parse_xml(&wrap("<sip><outbound-proxy></outbound-proxy><aggressive-nat-detection>no</aggressive-nat-detection></sip>")).is_ok());
    }

    #[test]
    fn contacts() {
        let a: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
        assert_eq!(parse_contact_list("sip:127.0.0.1:5070;transport=tcp"), Ok(vec![(Protocol::Tcp, a)]));
        assert_eq!(parse_contact_list("sip:127.0.0.1:5070"), Ok(vec![(Protocol::Udp, a)]));
        assert!(parse_contact_list("sip:host.example:5060").is_err());
        assert_eq!(parse_contact_list("sips:127.0.0.1;transport=wss"), Ok(vec![(Protocol::Wss, SocketAddr::new(a.ip(), 443))]));
        assert_eq!(parse_contact_list("sips:127.0.0.1"), Ok(vec![(Protocol::Tls, SocketAddr::new(a.ip(), 5061))]));
        assert_eq!(parse_contact_list("sip:127.0.0.1:8080;transport=ws"), Ok(vec![(Protocol::Ws, SocketAddr::new(a.ip(), 8080))]));
        assert!(parse_contact_list("sip:127.0.0.1;transport=sctp").is_err());
    }
}
