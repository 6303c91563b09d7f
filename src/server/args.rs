//! `drachtio-rs serve` options: drachtio-server's command-line flags where they apply, and a
//! TOML file (`--file`) with the same names. A flag for something not built yet is an error
//! that says so; nothing is silently ignored.

use crate::engine::{Protocol, Refresher};
use std::net::SocketAddr;
use std::time::Duration;

pub const USAGE: &str = "\
usage: drachtio-rs serve [options]

Runs the embedded SIP engine behind drachtio-server's TCP control protocol, so drachtio-srf
apps (and drachtio-srf-rs apps, from many processes) can connect to it.

options:
  --contact <sip-uri>     SIP listening point, repeatable (default sip:127.0.0.1:5060;transport=udp,
                          plus the same on tcp); e.g. --contact \"sip:127.0.0.1:5070;transport=tcp\"
  --address <ip>          admin (control) socket address (default 127.0.0.1)
  --port <port>           admin socket port (default 9022)
  --secret <secret>       shared secret apps authenticate with (required)
  --external-ip <ip>      address to advertise in Via/Contact
  --loglevel <level>      error|warn|info|debug|trace (default info; DRACHTIO_RS_LOG overrides)
  --tcp-message-timeout <ms>
                          close a SIP TCP connection whose peer takes longer than this over one
                          message, or over its first one (default 32000)
  --min-se <seconds>      session timers (RFC 4028): our Min-SE; offers below it get 422 and
                          intervals are raised to it (default 90)
  --default-refresher <none|uac|uas>
                          who refreshes when a UAC offers Session-Expires without a refresher;
                          none (the default, as drachtio-server's) answers no session timer
  --file <path>           TOML file with any of: contacts (array), address, port, secret,
                          external_ip, loglevel, t1, t2, t4, tcp_message_timeout (ms), min_se (s),
                          default_refresher
  --help                  this text
";

/// Flags drachtio-server has that this engine does not implement yet.
const NOT_YET: [&str; 8] = [
    "--tls-port",
    "--key-file",
    "--cert-file",
    "--chain-file",
    "--http-handler",
    "--http-method",
    "--prometheus-scrape-port",
    "--dns-name",
];

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub contacts: Vec<(Protocol, SocketAddr)>,
    pub admin: SocketAddr,
    pub secret: String,
    pub external_ip: Option<String>,
    pub loglevel: String,
    pub t1: Option<Duration>,
    pub t2: Option<Duration>,
    pub t4: Option<Duration>,
    pub tcp_message_timeout: Option<Duration>,
    pub min_se: Option<u32>,
    /// `Some(None)`: "none".
    pub default_refresher: Option<Option<Refresher>>,
}

#[allow(clippy::large_enum_variant)] // parsed once at startup
pub enum Parsed {
    Run(ServeConfig),
    Help,
}

/// `sip:host[:port][;transport=udp|tcp]` → a listening point (port 5060, UDP by default).
pub fn parse_contact(contact: &str) -> Result<(Protocol, SocketAddr), String> {
    let bad = |why: &str| format!("invalid contact '{contact}': {why}");
    let uri = crate::sip::uri::SipUri::parse(contact.as_bytes()).map_err(bad)?;
    let protocol = match uri.transport() {
        None => Protocol::Udp,
        Some(t) => Protocol::parse(&String::from_utf8_lossy(t)).ok_or_else(|| bad("transport must be udp or tcp"))?,
    };
    let host = String::from_utf8_lossy(uri.host);
    let ip: std::net::IpAddr = host.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| bad("the host must be an IP address"))?;
    Ok((protocol, SocketAddr::new(ip, uri.port.unwrap_or(5060))))
}

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut contacts = Vec::new();
    let mut address = "127.0.0.1".to_owned();
    let mut port: u16 = 9022;
    let mut secret = None;
    let mut external_ip = None;
    let mut loglevel = "info".to_owned();
    let (mut t1, mut t2, mut t4) = (None, None, None);
    let mut tcp_message_timeout = None;
    let (mut min_se, mut default_refresher) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (flag.as_str(), None),
        };
        if NOT_YET.contains(&name) {
            return Err(format!("{name} is not supported yet by drachtio-rs serve"));
        }
        let mut value = || inline.clone().or_else(|| it.next().cloned()).ok_or_else(|| format!("{name} needs a value"));
        match name {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--contact" => contacts.push(parse_contact(&value()?)?),
            "--address" => address = value()?,
            "--port" => port = value()?.parse().map_err(|_| "--port must be a port number".to_owned())?,
            "--secret" => secret = Some(value()?),
            "--external-ip" => external_ip = Some(value()?),
            "--loglevel" => loglevel = value()?,
            "--tcp-message-timeout" => {
                let ms: u64 = value()?.parse().ok().filter(|n| *n > 0).ok_or("--tcp-message-timeout must be a positive number of ms")?;
                tcp_message_timeout = Some(Duration::from_millis(ms));
            }
            "--min-se" => min_se = Some(parse_min_se(&value()?).map_err(|e| format!("--min-se {e}"))?),
            "--default-refresher" => default_refresher = Some(parse_refresher(&value()?).map_err(|e| format!("--default-refresher {e}"))?),
            "--file" => {
                let file = read_file(&value()?)?;
                contacts.extend(file.contacts);
                address = file.address.unwrap_or(address);
                port = file.port.unwrap_or(port);
                secret = file.secret.or(secret);
                external_ip = file.external_ip.or(external_ip);
                loglevel = file.loglevel.unwrap_or(loglevel);
                (t1, t2, t4) = (file.t1.or(t1), file.t2.or(t2), file.t4.or(t4));
                tcp_message_timeout = file.tcp_message_timeout.or(tcp_message_timeout);
                min_se = file.min_se.or(min_se);
                default_refresher = file.default_refresher.or(default_refresher);
            }
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    let secret = secret.ok_or("--secret is required: apps authenticate with it")?;
    if contacts.is_empty() {
        let default: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 5060));
        contacts = vec![(Protocol::Udp, default), (Protocol::Tcp, default)];
    }
    let ip: std::net::IpAddr = address.parse().map_err(|_| format!("--address must be an IP address, got '{address}'"))?;
    if !matches!(loglevel.as_str(), "error" | "warn" | "info" | "debug" | "trace") {
        return Err(format!("--loglevel must be error, warn, info, debug or trace, got '{loglevel}'"));
    }
    Ok(Parsed::Run(ServeConfig { contacts, admin: SocketAddr::new(ip, port), secret, external_ip, loglevel, t1, t2, t4, tcp_message_timeout, min_se, default_refresher }))
}

#[derive(Default)]
struct FileConfig {
    contacts: Vec<(Protocol, SocketAddr)>,
    address: Option<String>,
    port: Option<u16>,
    secret: Option<String>,
    external_ip: Option<String>,
    loglevel: Option<String>,
    t1: Option<Duration>,
    t2: Option<Duration>,
    t4: Option<Duration>,
    tcp_message_timeout: Option<Duration>,
    min_se: Option<u32>,
    default_refresher: Option<Option<Refresher>>,
}

fn parse_min_se(v: &str) -> Result<u32, String> {
    v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| "must be a positive number of seconds".to_owned())
}

fn parse_refresher(v: &str) -> Result<Option<Refresher>, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(None),
        other => Refresher::parse(other).map(Some).ok_or_else(|| "must be none, uac or uas".to_owned()),
    }
}

fn read_file(path: &str) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{path}: {e}"))?;
    let mut out = FileConfig::default();
    let string = |v: &toml::Value, key: &str| v.as_str().map(str::to_owned).ok_or_else(|| format!("{path}: {key} must be a string"));
    let ms = |v: &toml::Value, key: &str| {
        v.as_integer().filter(|n| *n > 0).map(|n| Duration::from_millis(n as u64)).ok_or_else(|| format!("{path}: {key} must be a positive number of ms"))
    };
    for (key, v) in &table {
        match key.as_str() {
            "contacts" => {
                let list = v.as_array().ok_or_else(|| format!("{path}: contacts must be an array"))?;
                for c in list {
                    out.contacts.push(parse_contact(&string(c, "contacts")?)?);
                }
            }
            "address" => out.address = Some(string(v, key)?),
            "port" => out.port = Some(v.as_integer().and_then(|p| u16::try_from(p).ok()).ok_or_else(|| format!("{path}: port must be a port number"))?),
            "secret" => out.secret = Some(string(v, key)?),
            "external_ip" => out.external_ip = Some(string(v, key)?),
            "loglevel" => out.loglevel = Some(string(v, key)?),
            "t1" => out.t1 = Some(ms(v, key)?),
            "t2" => out.t2 = Some(ms(v, key)?),
            "t4" => out.t4 = Some(ms(v, key)?),
            "tcp_message_timeout" => out.tcp_message_timeout = Some(ms(v, key)?),
            "min_se" => {
                let n = v.as_integer().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0);
                out.min_se = Some(n.ok_or_else(|| format!("{path}: min_se must be a positive number of seconds"))?);
            }
            "default_refresher" => out.default_refresher = Some(parse_refresher(&string(v, key)?).map_err(|e| format!("{path}: default_refresher {e}"))?),
            other => return Err(format!("{path}: unknown setting '{other}'")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn flags() {
        let Ok(Parsed::Run(c)) = parse(&args(&["--secret", "s", "--contact", "sip:127.0.0.1:5070;transport=tcp", "--port=9099"])) else {
            panic!("parses")
        };
        assert_eq!(c.contacts, vec![(Protocol::Tcp, "127.0.0.1:5070".parse().expect("addr"))]);
        assert_eq!(c.admin.port(), 9099);
        assert_eq!(c.tcp_message_timeout, None);
        let Ok(Parsed::Run(c)) = parse(&args(&["--secret", "s", "--tcp-message-timeout", "1500"])) else { panic!("parses") };
        assert_eq!(c.tcp_message_timeout, Some(Duration::from_millis(1500)));
        assert!(parse(&args(&["--secret", "s", "--tcp-message-timeout", "0"])).is_err());
        let Ok(Parsed::Run(c)) = parse(&args(&["--secret", "s", "--min-se", "2", "--default-refresher", "UAS"])) else { panic!("parses") };
        assert_eq!((c.min_se, c.default_refresher), (Some(2), Some(Some(Refresher::Uas))));
        assert!(parse(&args(&["--secret", "s", "--min-se", "0"])).is_err());
        assert!(parse(&args(&["--secret", "s", "--default-refresher", "both"])).is_err());
        assert!(matches!(parse(&args(&["--help"])), Ok(Parsed::Help)));
        assert!(parse(&args(&["--tls-port", "5061"])).err().is_some_and(|e| e.contains("not supported yet")));
        assert!(parse(&args(&[])).err().is_some_and(|e| e.contains("--secret")));
        assert!(parse(&args(&["--secret", "s", "--bogus"])).err().is_some_and(|e| e.contains("unknown option")));
        assert!(parse(&args(&["--secret", "s", "--contact", "sip:host.example:5060"])).is_err());
    }
}
