//! `drachtio-rs serve` options: every drachtio-server command-line flag (long and short
//! forms, as its getopt table has them), its `DRACHTIO_*` environment variables, and its XML
//! configuration file (`-f`, config.rs). Command line overrides environment, environment
//! overrides the file, as in drachtio-server. Something drachtio-server does that we do not
//! is an error naming it; nothing is silently ignored.

use super::config::{self, Handler, HttpMethod, Layer};
use crate::engine::nat::LocalNet;
use crate::engine::{Protocol, Refresher};
use std::net::SocketAddr;
use std::time::Duration;

pub use config::parse_contact_list;

pub const USAGE: &str = "\
usage: drachtio-rs serve [options]

Runs the embedded SIP engine behind drachtio-server's TCP control protocol, so drachtio-srf
apps (and drachtio-srf-rs apps, from many processes) can connect to it. It takes
drachtio-server's flags, DRACHTIO_* environment variables and drachtio.conf.xml; the command
line overrides the environment, which overrides the file.

options:
  -f, --file <path>       drachtio.conf.xml (drachtio-server's format; a TOML file with our
                          setting names is read too)
  -c, --contact <sip-uri> SIP listening point, repeatable (default sip:127.0.0.1:5060 on udp and
                          tcp); e.g. \"sip:127.0.0.1:5070;transport=udp,tcp\",
                          \"sips:127.0.0.1:5061;transport=tls\", \"sip:127.0.0.1:8080;transport=ws\",
                          \"sips:127.0.0.1:8443;transport=wss\"
  -x, --external-ip <ip>  address to advertise in Via/Contact
  -n, --local-net <cidr>  a network that reaches us by our own address, not the external one
                          (e.g. 10.132.0.0/20; repeatable)
  -E, --address <ip>      admin (control) socket address (default 127.0.0.1)
  -p, --port <port>       admin TCP port (default 9022; 0 picks a free port)
  --tls-port <port>       admin port for TLS (with --key-file and --cert-file or --chain-file)
  -A, --key-file, -B, --cert-file, -C, --chain-file <path>
                          TLS key, certificate and chain (PEM) for the admin port and for
                          tls and wss contacts (servers we connect to over TLS are not
                          verified, as drachtio-server does not by default)
  -G, --dh-param <path>   accepted; rustls uses ECDHE only, so it is not needed
  --min-tls-version <v>   1.2 or 1.3 (1.0 and 1.1 mean 1.2: rustls has no older TLS)
  -F, --secret <secret>   shared secret apps authenticate with (required)
  -a, --http-handler <url>
                          request handler for every method: a web callback (http:// or https://)
                          that says where each new request goes, or tcp://host:port for one app
  -m, --http-method <GET|POST>
                          how the handler is called (default GET)
  -l, --loglevel <level>  notice|error|warning|info|debug (and trace); default info;
                          DRACHTIO_RS_LOG overrides
  --sofia-loglevel <0-9>, --stdout, --globally-readable-logs, --memory-debug, --mtu <n>,
  --disable-nat-detection, --noconfig
                          accepted: they change nothing here (logs go to stderr)
  --tcp-message-timeout <ms>
                          close a SIP TCP connection whose peer takes longer than this over one
                          message, or over its first one (default 32000)
  --min-se <seconds>      session timers (RFC 4028): our Min-SE (default 90)
  --default-refresher <none|uac|uas>
                          who refreshes when a UAC offers Session-Expires without a refresher
  --prometheus-scrape-port <[address:]port>
                          serve Prometheus metrics (GET /metrics) on this port (address
                          0.0.0.0 unless given; port 0: off)
  -v, --version           print the version
  -h, --help              this text

drachtio-server flags for features serve does not have yet (--daemon, --user, --dns-name,
--homer, --homer-id, --aggressive-nat-detection, --tcp-keepalive-interval,
 --blacklist-*, --always-send-180, --user-agent-options-auto-respond,
--reject-register-with-no-realm, --tls-cipherlist) are refused with an error naming them.
";

/// drachtio-server's flags: long name, short letter, whether a value follows.
const FLAGS: &[(&str, Option<char>, bool)] = &[
    ("daemon", None, false),
    ("noconfig", None, false),
    ("reject-register-with-no-realm", None, false),
    ("file", Some('f'), true),
    ("help", Some('h'), false),
    ("user", Some('u'), true),
    ("port", Some('p'), true),
    ("contact", Some('c'), true),
    ("external-ip", Some('x'), true),
    ("local-net", Some('n'), true),
    ("dns-name", Some('d'), true),
    ("http-handler", Some('a'), true),
    ("http-method", Some('m'), true),
    ("loglevel", Some('l'), true),
    ("sofia-loglevel", None, true),
    ("stdout", None, false),
    ("homer", Some('y'), true),
    ("homer-id", Some('z'), true),
    ("key-file", Some('A'), true),
    ("cert-file", Some('B'), true),
    ("chain-file", Some('C'), true),
    ("mtu", Some('D'), true),
    ("address", Some('E'), true),
    ("secret", Some('F'), true),
    ("dh-param", Some('G'), true),
    ("tls-port", None, true),
    ("aggressive-nat-detection", Some('I'), false),
    ("prometheus-scrape-port", None, true),
    ("memory-debug", None, false),
    ("tcp-keepalive-interval", None, true),
    ("min-tls-version", None, true),
    ("disable-nat-detection", None, false),
    ("blacklist-redis-address", None, true),
    ("blacklist-redis-port", None, true),
    ("blacklist-redis-key", None, true),
    ("blacklist-refresh-secs", None, true),
    ("always-send-180", None, false),
    ("user-agent-options-auto-respond", None, true),
    ("globally-readable-logs", None, false),
    ("blacklist-redis-sentinels", None, true),
    ("blacklist-redis-master", None, true),
    ("blacklist-redis-password", None, true),
    ("tls-cipherlist", None, true),
    ("version", Some('v'), false),
    // ours
    ("tcp-message-timeout", None, true),
    ("min-se", None, true),
    ("default-refresher", None, true),
];

/// Flags of drachtio-server for what serve does not do (yet), with what it is.
const NOT_YET: &[(&str, &str)] = &[
    ("daemon", "running as a daemon (use a process manager)"),
    ("reject-register-with-no-realm", "rejecting REGISTERs without a realm"),
    ("user", "switching to another user"),
    ("dns-name", "DNS names for our own address"),
    ("homer", "HEP/Homer capture"),
    ("homer-id", "HEP/Homer capture"),
    ("aggressive-nat-detection", "aggressive NAT detection"),
    ("tcp-keepalive-interval", "SIP TCP keepalives"),
    ("blacklist-redis-address", "the redis blacklist"),
    ("blacklist-redis-port", "the redis blacklist"),
    ("blacklist-redis-key", "the redis blacklist"),
    ("blacklist-refresh-secs", "the redis blacklist"),
    ("blacklist-redis-sentinels", "the redis blacklist"),
    ("blacklist-redis-master", "the redis blacklist"),
    ("blacklist-redis-password", "the redis blacklist"),
    ("always-send-180", "an automatic 180 Ringing"),
    ("user-agent-options-auto-respond", "answering OPTIONS by User-Agent"),
    ("tls-cipherlist", "choosing TLS ciphers (rustls' own suites are used)"),
];

/// drachtio-server's environment variables for what serve does not do (yet).
const ENV_NOT_YET: &[(&str, &str)] = &[
    ("DRACHTIO_AGRESSIVE_NAT_DETECTION", "aggressive NAT detection"),
    ("DRACHTIO_HOMER_ADDRESS", "HEP/Homer capture"),
    ("DRACHTIO_HOMER_PORT", "HEP/Homer capture"),
    ("DRACHTIO_HOMER_ID", "HEP/Homer capture"),
    ("DRACHTIO_TCP_KEEPALIVE_INTERVAL", "SIP TCP keepalives"),
    ("DRACHTIO_BLACKLIST_REDIS_ADDRESS", "the redis blacklist"),
    ("DRACHTIO_BLACKLIST_REDIS_SENTINELS", "the redis blacklist"),
    ("DRACHTIO_BLACKLIST_REDIS_MASTER", "the redis blacklist"),
    ("DRACHTIO_BLACKLIST_REDIS_PASSWORD", "the redis blacklist"),
    ("DRACHTIO_BLACKLIST_REDIS_PORT", "the redis blacklist"),
    ("DRACHTIO_BLACKLIST_REDIS_KEY", "the redis blacklist"),
    ("DRACHTIO_BLACKLIST_REDIS_REFRESH_SECS", "the redis blacklist"),
    ("DRACHTIO_USER_AGENT_OPTIONS_AUTO_RESPOND", "answering OPTIONS by User-Agent"),
    ("DRACHTIO_REJECT_REGISTER_WITH_NO_REALM", "rejecting REGISTERs without a realm"),
    ("DRACHTIO_TLS_CIPHER_LIST", "choosing TLS ciphers"),
    ("DRACHTIO_TLS_VERIFY_CLIENT_CERT", "verifying client certificates"),
];

/// TLS material for the admin port.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsFiles {
    pub key: Option<String>,
    pub cert: Option<String>,
    pub chain: Option<String>,
    /// 1.2 or 1.3 (lower asks mean 1.2).
    pub min_version: Option<f32>,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub contacts: Vec<(Protocol, SocketAddr)>,
    /// The admin TCP listener (none: TLS only).
    pub admin: Option<SocketAddr>,
    /// The admin TLS listener.
    pub admin_tls: Option<SocketAddr>,
    pub tls: TlsFiles,
    pub secret: String,
    pub external_ip: Option<String>,
    /// Networks that reach us by our bound address, not the external one (`--local-net`).
    pub local_nets: Vec<LocalNet>,
    /// A tracing level.
    pub loglevel: String,
    pub t1: Option<Duration>,
    pub t2: Option<Duration>,
    pub t4: Option<Duration>,
    pub tcp_message_timeout: Option<Duration>,
    pub min_se: Option<u32>,
    /// `Some(None)`: "none".
    pub default_refresher: Option<Option<Refresher>>,
    pub handlers: Vec<Handler>,
    /// Whether apps may subscribe to CDRs (`<cdrs>`; on unless the file says false).
    pub cdrs: bool,
    /// Where Prometheus scrapes metrics (`--prometheus-scrape-port`, `<monitoring><prometheus>`).
    pub prometheus: Option<SocketAddr>,
    /// Accepted settings that change nothing here, to log at startup.
    pub notes: Vec<String>,
}

#[allow(clippy::large_enum_variant)] // parsed once at startup
pub enum Parsed {
    Run(ServeConfig),
    Help,
    Version,
}

/// `sip:host[:port][;transport=udp|tcp]` → one listening point (port 5060, UDP by default).
pub fn parse_contact(contact: &str) -> Result<(Protocol, SocketAddr), String> {
    let mut list = parse_contact_list(contact)?;
    match list.len() {
        1 => Ok(list.remove(0)),
        _ => Err(format!("invalid contact '{contact}': name one transport")),
    }
}

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    parse_with_env(args, |name| std::env::var(name).ok())
}

/// One flag and its value, as getopt_long reads them: `--name value`, `--name=value`, `-x value`,
/// `-xvalue`.
fn split_flags(args: &[String]) -> Result<Vec<(&'static str, Option<String>)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        let (entry, inline) = if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let entry = FLAGS.iter().find(|f| f.0 == name).ok_or_else(|| format!("unknown option --{name} (see --help)"))?;
            (entry, inline)
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            let letter = chars.next().unwrap_or_default();
            let rest: String = chars.collect();
            let entry = FLAGS.iter().find(|f| f.1 == Some(letter)).ok_or_else(|| format!("unknown option -{letter} (see --help)"))?;
            (entry, (!rest.is_empty()).then_some(rest))
        } else {
            return Err(format!("unexpected argument '{arg}' (see --help)"));
        };
        let (name, _, takes) = *entry;
        let value = match (takes, inline) {
            (true, Some(v)) => Some(v),
            (true, None) => {
                let v = args.get(i).cloned().ok_or_else(|| format!("--{name} needs a value"))?;
                i += 1;
                Some(v)
            }
            (false, Some(_)) => return Err(format!("--{name} takes no value")),
            (false, None) => None,
        };
        out.push((name, value));
    }
    Ok(out)
}

/// `[address:]port`; port 0 turns metrics off (as in drachtio-server).
fn scrape_port(v: &str) -> Result<Option<SocketAddr>, String> {
    crate::metrics_http::parse_scrape_port(v).map(|a| (a.port() != 0).then_some(a))
}

fn port(v: &str, name: &str) -> Result<u16, String> {
    v.trim().parse().map_err(|_| format!("{name} must be a port number, got '{v}'"))
}

fn loglevel(v: &str, name: &str) -> Result<String, String> {
    config::map_loglevel(v).map(str::to_owned).ok_or_else(|| format!("{name} must be notice, error, warning, info or debug (or trace), got '{v}'"))
}

/// The command line as a settings layer, plus the file it names.
fn command_line(flags: Vec<(&'static str, Option<String>)>) -> Result<(Layer, Option<String>, Option<Parsed>), String> {
    let mut l = Layer::default();
    let mut file = None;
    let mut handler_url = None;
    let mut http_method = HttpMethod::Get;
    for (name, value) in flags {
        if let Some((_, what)) = NOT_YET.iter().find(|(n, _)| *n == name) {
            return Err(format!("--{name} ({what}) is not supported yet by drachtio-rs serve"));
        }
        let v = value.unwrap_or_default();
        match name {
            "help" => return Ok((l, file, Some(Parsed::Help))),
            "version" => return Ok((l, file, Some(Parsed::Version))),
            "file" => file = Some(v),
            "contact" => l.contacts.extend(parse_contact_list(&v)?),
            "external-ip" => l.external_ip = Some(v),
            "local-net" => l.local_nets.push(LocalNet::parse(&v).map_err(|e| format!("--local-net: {e}"))?),
            "address" => l.address = Some(v),
            "port" => l.port = Some(Some(port(&v, "--port")?)),
            "tls-port" => l.tls_port = Some(port(&v, "--tls-port")?).filter(|p| *p != 0),
            "secret" => l.secret = Some(v),
            "key-file" => l.key_file = Some(v),
            "cert-file" => l.cert_file = Some(v),
            "chain-file" => l.chain_file = Some(v),
            "dh-param" => l.dh_param = Some(v),
            "min-tls-version" => l.min_tls_version = Some(config::parse_tls_version(&v).map_err(|e| format!("--{e}"))?),
            "http-handler" => handler_url = Some(v),
            // drachtio-server takes anything but POST as GET; a typo should not pass unnoticed.
            "http-method" => http_method = config::parse_http_method(&v).map_err(|e| format!("--http-method: {e}"))?,
            "loglevel" => l.loglevel = Some(loglevel(&v, "--loglevel")?),
            "sofia-loglevel" => {
                config::parse_sofia_loglevel(&v).map_err(|e| format!("--{e}"))?;
            }
            "mtu" => l.notes.push("--mtu has no effect (as in drachtio-server)".into()),
            "stdout" | "globally-readable-logs" | "memory-debug" | "disable-nat-detection" | "noconfig" => {}
            "tcp-message-timeout" => {
                let ms: u64 = v.parse().ok().filter(|n| *n > 0).ok_or("--tcp-message-timeout must be a positive number of ms")?;
                l.tcp_message_timeout = Some(Duration::from_millis(ms));
            }
            "min-se" => l.min_se = Some(config::parse_min_se(&v).map_err(|e| format!("--min-se {e}"))?),
            "prometheus-scrape-port" => l.prometheus = Some(scrape_port(&v).map_err(|e| format!("--prometheus-scrape-port: {e}"))?),
            "default-refresher" => l.default_refresher = Some(config::parse_refresher(&v).map_err(|e| format!("--default-refresher {e}"))?),
            other => return Err(format!("unknown option --{other} (see --help)")),
        }
    }
    if let Some(url) = handler_url {
        l.handlers = vec![Handler { sip_method: "*".into(), http_method, url, verify_peer: false }];
    }
    Ok((l, file, None))
}

/// drachtio-server's environment variables as a settings layer, plus the file one names.
fn environment(env: &impl Fn(&str) -> Option<String>) -> Result<(Layer, Option<String>), String> {
    if let Some((name, what)) = ENV_NOT_YET.iter().find(|(n, _)| env(n).is_some()) {
        return Err(format!("{name} ({what}) is set, which drachtio-rs serve does not support yet"));
    }
    let mut l = Layer::default();
    let positive_port = |v: String| v.trim().parse::<u16>().ok().filter(|p| *p > 0);
    l.address = env("DRACHTIO_ADMIN_ADDRESS");
    l.port = env("DRACHTIO_ADMIN_TCP_PORT").and_then(positive_port).map(Some);
    l.tls_port = env("DRACHTIO_ADMIN_TLS_PORT").and_then(positive_port);
    l.cert_file = env("DRACHTIO_TLS_CERT_FILE");
    l.chain_file = env("DRACHTIO_TLS_CHAIN_FILE");
    l.key_file = env("DRACHTIO_TLS_KEY_FILE");
    l.dh_param = env("DRACHTIO_TLS_DH_PARAM_FILE");
    l.secret = env("DRACHTIO_SECRET");
    if let Some(v) = env("DRACHTIO_PROMETHEUS_SCRAPE_PORT") {
        l.prometheus = Some(scrape_port(&v).map_err(|e| format!("DRACHTIO_PROMETHEUS_SCRAPE_PORT: {e}"))?);
    }
    if let Some(url) = env("DRACHTIO_HTTP_HANDLER_URI").filter(|u| !u.trim().is_empty()) {
        l.handlers = vec![Handler { sip_method: "*".into(), http_method: HttpMethod::Get, url: url.trim().to_owned(), verify_peer: false }];
    }
    if let Some(v) = env("DRACHTIO_LOGLEVEL") {
        // drachtio-server ignores a value it does not know.
        l.loglevel = config::map_loglevel(&v).map(str::to_owned);
    }
    if let Some(v) = env("DRACHTIO_MIN_TLS_VERSION") {
        l.min_tls_version = config::parse_tls_version(&v).ok();
    }
    Ok((l, env("DRACHTIO_CONFIG_FILE_PATH")))
}

/// `over` wins where it says something.
fn merge(over: Layer, under: Layer) -> Layer {
    let mut notes = under.notes;
    notes.extend(over.notes);
    Layer {
        contacts: if over.contacts.is_empty() { under.contacts } else { over.contacts },
        address: over.address.or(under.address),
        port: over.port.or(under.port),
        tls_port: over.tls_port.or(under.tls_port),
        secret: over.secret.or(under.secret),
        external_ip: over.external_ip.or(under.external_ip),
        local_nets: if over.local_nets.is_empty() { under.local_nets } else { over.local_nets },
        loglevel: over.loglevel.or(under.loglevel),
        t1: over.t1.or(under.t1),
        t2: over.t2.or(under.t2),
        t4: over.t4.or(under.t4),
        tcp_message_timeout: over.tcp_message_timeout.or(under.tcp_message_timeout),
        min_se: over.min_se.or(under.min_se),
        default_refresher: over.default_refresher.or(under.default_refresher),
        key_file: over.key_file.or(under.key_file),
        cert_file: over.cert_file.or(under.cert_file),
        chain_file: over.chain_file.or(under.chain_file),
        dh_param: over.dh_param.or(under.dh_param),
        min_tls_version: over.min_tls_version.or(under.min_tls_version),
        // As drachtio-server: handlers from the command line or environment replace the file's.
        handlers: if over.handlers.is_empty() { under.handlers } else { over.handlers },
        cdrs: over.cdrs.or(under.cdrs),
        prometheus: over.prometheus.or(under.prometheus),
        notes,
    }
}

pub fn parse_with_env(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Parsed, String> {
    let (cmd, cmd_file, early) = command_line(split_flags(args)?)?;
    if let Some(p) = early {
        return Ok(p);
    }
    let (envl, env_file) = environment(&env)?;
    let file = match cmd_file.or(env_file) {
        Some(path) => config::read_file(&path)?,
        None => Layer::default(),
    };
    let l = merge(cmd, merge(envl, file));
    let secret = l.secret.ok_or("--secret is required: apps authenticate with it")?;
    let contacts = if l.contacts.is_empty() {
        let default: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 5060));
        vec![(Protocol::Udp, default), (Protocol::Tcp, default)]
    } else {
        l.contacts
    };
    let address = l.address.unwrap_or_else(|| "127.0.0.1".to_owned());
    let ip: std::net::IpAddr = address.trim().parse().map_err(|_| format!("--address must be an IP address, got '{address}'"))?;
    // The TCP admin port: 9022 unless set, or TLS only when only a TLS port was asked for.
    let tcp_port = match l.port {
        Some(p) => p,
        None if l.tls_port.is_some() => None,
        None => Some(9022),
    };
    let admin = tcp_port.map(|p| SocketAddr::new(ip, p));
    let admin_tls = l.tls_port.map(|p| SocketAddr::new(ip, p));
    if admin.is_none() && admin_tls.is_none() {
        return Err("no admin port: set --port or --tls-port".into());
    }
    if admin_tls.is_some() && (l.key_file.is_none() || (l.cert_file.is_none() && l.chain_file.is_none())) {
        return Err("--tls-port needs --key-file and --cert-file or --chain-file (or <sip><tls> in the configuration file)".into());
    }
    for h in &l.handlers {
        let lower = h.url.to_ascii_lowercase();
        if !["http://", "https://", "tcp://", "tls://"].iter().any(|s| lower.starts_with(s)) {
            return Err(format!("request handler URL '{}' must start with http://, https://, tcp:// or tls://", h.url));
        }
    }
    let mut notes = l.notes;
    if l.dh_param.is_some() {
        notes.push("dh-param is not needed: rustls uses ECDHE key exchange only".into());
    }
    Ok(Parsed::Run(ServeConfig {
        contacts,
        admin,
        admin_tls,
        tls: TlsFiles { key: l.key_file, cert: l.cert_file, chain: l.chain_file, min_version: l.min_tls_version },
        secret,
        external_ip: l.external_ip,
        local_nets: l.local_nets,
        loglevel: l.loglevel.unwrap_or_else(|| "info".to_owned()),
        t1: l.t1,
        t2: l.t2,
        t4: l.t4,
        tcp_message_timeout: l.tcp_message_timeout,
        min_se: l.min_se,
        default_refresher: l.default_refresher,
        handlers: l.handlers,
        cdrs: l.cdrs.unwrap_or(true),
        prometheus: l.prometheus.flatten(),
        notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    fn run(s: &[&str]) -> Result<ServeConfig, String> {
        run_env(s, &[])
    }

    fn run_env(s: &[&str], env: &[(&str, &str)]) -> Result<ServeConfig, String> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        match parse_with_env(&args(s), |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))? {
            Parsed::Run(c) => Ok(c),
            _ => Err("not a run".into()),
        }
    }

    #[test]
    fn flags() {
        let c = run(&["--secret", "s", "--contact", "sip:127.0.0.1:5070;transport=tcp", "--port=9099"]).expect("parses");
        assert_eq!(c.contacts, vec![(Protocol::Tcp, "127.0.0.1:5070".parse().expect("addr"))]);
        assert_eq!(c.admin.map(|a| a.port()), Some(9099));
        assert_eq!(c.tcp_message_timeout, None);
        let c = run(&["--secret", "s", "--tcp-message-timeout", "1500"]).expect("parses");
        assert_eq!(c.tcp_message_timeout, Some(Duration::from_millis(1500)));
        assert!(run(&["--secret", "s", "--tcp-message-timeout", "0"]).is_err());
        let c = run(&["--secret", "s", "--min-se", "2", "--default-refresher", "UAS"]).expect("parses");
        assert_eq!((c.min_se, c.default_refresher), (Some(2), Some(Some(Refresher::Uas))));
        assert!(run(&["--secret", "s", "--min-se", "0"]).is_err());
        assert!(run(&["--secret", "s", "--default-refresher", "both"]).is_err());
        assert!(matches!(parse(&args(&["--help"])), Ok(Parsed::Help)));
        assert!(matches!(parse(&args(&["-v"])), Ok(Parsed::Version)));
        assert!(run(&[]).err().is_some_and(|e| e.contains("--secret")));
        assert!(run(&["--secret", "s", "--bogus"]).err().is_some_and(|e| e.contains("unknown option")));
        assert!(run(&["--secret", "s", "stray"]).err().is_some_and(|e| e.contains("unexpected argument")));
        assert!(run(&["--secret", "s", "--contact", "sip:host.example:5060"]).is_err());
        assert!(run(&["--secret"]).err().is_some_and(|e| e.contains("needs a value")));
    }

    #[test]
    fn drachtio_server_start_commands() {
        // Short forms as getopt takes them, harmless flags, drachtio's log levels.
        let c = run(&["-F", "cymru", "-c", "sip:127.0.0.1:5080;transport=udp,tcp", "-p9023", "-E", "127.0.0.1", "--sofia-loglevel", "3", "--stdout", "--loglevel", "notice", "-x", "198.51.100.7"])
            .expect("parses");
        assert_eq!(c.contacts.len(), 2);
        assert_eq!(c.admin, Some("127.0.0.1:9023".parse().expect("addr")));
        assert_eq!(c.loglevel, "info");
        assert_eq!(c.external_ip.as_deref(), Some("198.51.100.7"));
        let c = run(&["--secret", "s", "-x", "198.51.100.7", "--local-net", "10.0.0.0/8", "-n", "192.168.0.0/16"]).expect("parses");
        assert_eq!(c.local_nets, vec![LocalNet::parse("10.0.0.0/8").expect("cidr"), LocalNet::parse("192.168.0.0/16").expect("cidr")]);
        assert!(run(&["--secret", "s", "--local-net", "10.0.0.0"]).err().is_some_and(|e| e.contains("CIDR")));
        for (level, mapped) in [("error", "error"), ("warning", "warn"), ("info", "info"), ("debug", "debug"), ("-ldebug", "debug")] {
            let c = if level.starts_with('-') { run(&["--secret", "s", level]) } else { run(&["--secret", "s", "-l", level]) }.expect("parses");
            assert_eq!(c.loglevel, mapped);
        }
        assert!(run(&["--secret", "s", "--loglevel", "loud"]).is_err());
        assert!(run(&["--secret", "s", "--sofia-loglevel", "10"]).is_err());
        assert!(run(&["--secret", "s", "--mtu", "1400", "--memory-debug", "--globally-readable-logs", "--disable-nat-detection", "--noconfig"]).is_ok());
        // Features we lack are named.
        for flag in [&["--daemon"][..], &["-y", "10.0.0.1:9060"], &["--blacklist-redis-address", "x"], &["--always-send-180"], &["-I"]] {
            let mut a = vec!["--secret", "s"];
            a.extend_from_slice(flag);
            assert!(run(&a).err().is_some_and(|e| e.contains("not supported yet")), "{flag:?}");
        }
        let c = run(&["--secret", "s", "--tls-port", "9023", "--key-file", "k", "--cert-file", "c", "--min-tls-version", "1.3"]).expect("parses");
        assert_eq!((c.admin, c.admin_tls.map(|a| a.port())), (None, Some(9023)), "TLS only when only a TLS port is given");
        assert_eq!(c.tls, TlsFiles { key: Some("k".into()), cert: Some("c".into()), chain: None, min_version: Some(1.3) });
        let c = run(&["--secret", "s", "--port", "9022", "--tls-port", "9023", "-A", "k", "-C", "chain"]).expect("parses");
        assert_eq!((c.admin.map(|a| a.port()), c.admin_tls.map(|a| a.port())), (Some(9022), Some(9023)));
        assert!(run(&["--secret", "s", "--tls-port", "9023"]).err().is_some_and(|e| e.contains("--key-file")));
        let c = run(&["--secret", "s", "--http-handler", "http://127.0.0.1:8080", "--http-method", "post"]).expect("parses");
        assert_eq!(c.handlers, vec![Handler { sip_method: "*".into(), http_method: HttpMethod::Post, url: "http://127.0.0.1:8080".into(), verify_peer: false }]);
        assert!(run(&["--secret", "s", "--http-handler", "ftp://x"]).err().is_some_and(|e| e.contains("must start with")));
        // The environment's handler is GET for every method; the command line's replaces it.
        let c = run_env(&["--secret", "s"], &[("DRACHTIO_HTTP_HANDLER_URI", "tcp://127.0.0.1:3001")]).expect("parses");
        assert_eq!((c.handlers[0].sip_method.as_str(), c.handlers[0].url.as_str()), ("*", "tcp://127.0.0.1:3001"));
        let c = run_env(&["--secret", "s", "-a", "http://h/"], &[("DRACHTIO_HTTP_HANDLER_URI", "tcp://127.0.0.1:3001")]).expect("parses");
        assert_eq!(c.handlers[0].url, "http://h/");
        assert!(run(&["--secret", "s", "--http-method", "PUT"]).is_err());
        assert!(run(&["--stdout=yes"]).err().is_some_and(|e| e.contains("takes no value")));
    }

    #[test]
    fn environment_and_precedence() {
        let c = run_env(&[], &[("DRACHTIO_SECRET", "env"), ("DRACHTIO_ADMIN_TCP_PORT", "9100"), ("DRACHTIO_LOGLEVEL", "debug")]).expect("parses");
        assert_eq!((c.secret.as_str(), c.admin.map(|a| a.port()), c.loglevel.as_str()), ("env", Some(9100), "debug"));
        let c = run_env(&["--secret", "cmd", "--port", "9200"], &[("DRACHTIO_SECRET", "env"), ("DRACHTIO_ADMIN_TCP_PORT", "9100")]).expect("parses");
        assert_eq!((c.secret.as_str(), c.admin.map(|a| a.port())), ("cmd", Some(9200)));
        // Prometheus: [address:]port, the command line over the environment; port 0 is off.
        let c = run_env(&["--secret", "s"], &[("DRACHTIO_PROMETHEUS_SCRAPE_PORT", "9090")]).expect("parses");
        assert_eq!(c.prometheus, Some("0.0.0.0:9090".parse().expect("addr")));
        let c = run_env(&["--secret", "s", "--prometheus-scrape-port", "127.0.0.1:9091"], &[("DRACHTIO_PROMETHEUS_SCRAPE_PORT", "9090")]).expect("parses");
        assert_eq!(c.prometheus, Some("127.0.0.1:9091".parse().expect("addr")));
        let c = run_env(&["--secret", "s", "--prometheus-scrape-port", "0"], &[("DRACHTIO_PROMETHEUS_SCRAPE_PORT", "9090")]).expect("parses");
        assert_eq!(c.prometheus, None);
        assert_eq!(run(&["--secret", "s"]).expect("parses").prometheus, None);
        assert!(run(&["--secret", "s", "--prometheus-scrape-port", "x:y"]).err().is_some_and(|e| e.contains("prometheus")));
    }

    #[test]
    fn xml_file_with_command_line_over_it() {
        let dir = std::env::temp_dir().join(format!("drachtio-rs-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("drachtio.conf.xml");
        std::fs::write(
            &path,
            r#"<drachtio>
  <admin port="9022" secret="cymru">127.0.0.1</admin>
  <sip>
    <contacts><contact>sip:127.0.0.1:5090;transport=udp</contact></contacts>
    <timers><t1>300</t1></timers>
  </sip>
  <cdrs>false</cdrs>
  <logging><console/><sofia-loglevel>3</sofia-loglevel><loglevel>debug</loglevel></logging>
</drachtio>"#,
        )
        .expect("write");
        let file = path.to_string_lossy().into_owned();
        let c = run(&["-f", &file]).expect("parses");
        assert_eq!((c.secret.as_str(), c.admin.map(|a| a.port()), c.loglevel.as_str()), ("cymru", Some(9022), "debug"));
        assert_eq!(c.contacts, vec![(Protocol::Udp, "127.0.0.1:5090".parse().expect("addr"))]);
        assert_eq!((c.t1, c.cdrs), (Some(Duration::from_millis(300)), false));
        let c = run(&["--file", &file, "--secret", "other", "--port", "0", "--contact", "sip:127.0.0.1:5091;transport=tcp", "--loglevel", "error"]).expect("parses");
        assert_eq!((c.secret.as_str(), c.admin.map(|a| a.port()), c.loglevel.as_str()), ("other", Some(0), "error"));
        assert_eq!(c.contacts, vec![(Protocol::Tcp, "127.0.0.1:5091".parse().expect("addr"))]);
        // DRACHTIO_CONFIG_FILE_PATH names the file too.
        let c = run_env(&[], &[("DRACHTIO_CONFIG_FILE_PATH", &file)]).expect("parses");
        assert_eq!(c.secret, "cymru");
        assert!(run(&["-f", "/nonexistent/drachtio.conf.xml"]).err().is_some_and(|e| e.contains("cannot read")));
        // The TOML form still reads.
        let toml = dir.join("serve.toml");
        std::fs::write(&toml, "secret = \"t\"\nport = 9300\n").expect("write");
        let c = run(&["--file", &toml.to_string_lossy()]).expect("parses");
        assert_eq!((c.secret.as_str(), c.admin.map(|a| a.port())), ("t", Some(9300)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
