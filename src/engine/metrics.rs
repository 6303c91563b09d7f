//! Prometheus metrics, with drachtio-server's names where it has the metric. The engine's core
//! updates plain atomics (relaxed, no locks, nothing allocated); the registry reads them only
//! when scraped (`render`). Metrics are off unless configured (`EngineConfig::metrics`): then
//! every hook is one branch on `None`.
//!
//! Messages are counted as they cross the wire, retransmissions included: requests and
//! responses in when the core takes a well-formed message from a transport, out when it hands
//! one to a transport (responses by the method of their CSeq and their status).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Methods with a counter of their own; anything else counts as `OTHER`.
const METHODS: [&str; 14] = ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"];
const OTHER: usize = METHODS.len();
const N_METHODS: usize = METHODS.len() + 1;
/// Status codes 100..=699.
const N_CODES: usize = 600;

/// Why a message was dropped or refused without reaching an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Not a SIP message we could parse (datagram or framed TCP message).
    Unparseable = 0,
    /// Parsed, but invalid (answered 400/505 when it was a request that can be answered).
    Invalid = 1,
    /// A new request refused with 503 because its app holds `max_pending_requests` already.
    Overload = 2,
    /// A new request refused with 503 because no app routes its method.
    NoApp = 3,
}
const DROP_REASONS: [&str; 4] = ["unparseable", "invalid", "overload", "no_app"];

/// Upper bounds (seconds) of the engine's per-message processing time.
const PROCESSING_BUCKETS: [f64; 10] = [0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01];
/// Upper bounds (seconds) of the time apps take to answer a request.
const APP_RESPONSE_BUCKETS: [f64; 12] = [0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// A histogram of durations: per-bucket counts (the last one is +Inf) and the sum in ns.
#[derive(Debug)]
struct Histogram<const N: usize> {
    bounds: &'static [f64; N],
    /// `N` finite buckets, then +Inf.
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    fn new(bounds: &'static [f64; N]) -> Self {
        Histogram { bounds, buckets: (0..=N).map(|_| AtomicU64::new(0)).collect(), sum_ns: AtomicU64::new(0) }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.iter().position(|b| secs <= *b).unwrap_or(N);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
        self.sum_ns.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts with +Inf as `f64::MAX`).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = self.buckets.iter().enumerate().map(|(i, c)| (self.bounds.get(i).copied().unwrap_or(f64::MAX), c.load(Relaxed))).collect();
        let count = buckets.iter().map(|b| b.1).sum();
        (self.sum_ns.load(Relaxed) as f64 / 1e9, count, buckets)
    }
}

/// The engine's counters. Shared (`Arc`) between the core, which writes, and the scrape
/// endpoint, which reads.
#[derive(Debug)]
pub struct Metrics {
    requests_in: [AtomicU64; N_METHODS],
    requests_out: [AtomicU64; N_METHODS],
    /// `N_METHODS × N_CODES`, by CSeq method then status - 100.
    responses_in: Box<[AtomicU64]>,
    responses_out: Box<[AtomicU64]>,
    dropped: [AtomicU64; DROP_REASONS.len()],
    dialogs: AtomicU64,
    server_txns: AtomicU64,
    client_txns: AtomicU64,
    proxies: AtomicU64,
    apps: AtomicU64,
    processing: Histogram<{ PROCESSING_BUCKETS.len() }>,
    app_response: Histogram<{ APP_RESPONSE_BUCKETS.len() }>,
    started: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let table = || (0..N_METHODS * N_CODES).map(|_| AtomicU64::new(0)).collect::<Box<[AtomicU64]>>();
        Metrics {
            requests_in: Default::default(),
            requests_out: Default::default(),
            responses_in: table(),
            responses_out: table(),
            dropped: Default::default(),
            dialogs: AtomicU64::new(0),
            server_txns: AtomicU64::new(0),
            client_txns: AtomicU64::new(0),
            proxies: AtomicU64::new(0),
            apps: AtomicU64::new(0),
            processing: Histogram::new(&PROCESSING_BUCKETS),
            app_response: Histogram::new(&APP_RESPONSE_BUCKETS),
            started: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        }
    }

    /// A well-formed message the core took from a transport.
    pub(crate) fn message_in(&self, method: Option<&[u8]>, status: Option<u16>, cseq_method: &[u8]) {
        match (method, status) {
            (Some(m), _) => bump(&self.requests_in, method_index(m)),
            (None, Some(code)) => self.response(&self.responses_in, cseq_method, code),
            (None, None) => {}
        }
    }

    /// A message the core handed to a transport (its serialized bytes).
    pub(crate) fn message_out(&self, bytes: &[u8]) {
        if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
            let code = rest.get(..3).and_then(|c| std::str::from_utf8(c).ok()).and_then(|c| c.parse::<u16>().ok());
            if let Some(code) = code {
                self.response(&self.responses_out, cseq_method(bytes).unwrap_or_default(), code);
            }
        } else if let Some(sp) = memchr::memchr(b' ', bytes) {
            bump(&self.requests_out, method_index(&bytes[..sp]));
        }
    }

    fn response(&self, table: &[AtomicU64], method: &[u8], code: u16) {
        if (100..700).contains(&code) {
            bump(table, method_index(method) * N_CODES + usize::from(code - 100));
        }
    }

    pub(crate) fn dropped(&self, why: Drop) {
        bump(&self.dropped, why as usize);
    }

    /// The sizes of the core's tables, after each thing it handled.
    pub(crate) fn state(&self, dialogs: usize, server_txns: usize, client_txns: usize, proxies: usize, apps: usize) {
        for (g, v) in [(&self.dialogs, dialogs), (&self.server_txns, server_txns), (&self.client_txns, client_txns), (&self.proxies, proxies), (&self.apps, apps)] {
            g.store(v as u64, Relaxed);
        }
    }

    /// The core's time over one inbound message (parse, validate, handle, queue what it sends).
    pub(crate) fn processed(&self, d: Duration) {
        self.processing.observe(d);
    }

    /// From a request's arrival to its app's first response.
    pub(crate) fn app_answered(&self, d: Duration) {
        self.app_response.observe(d);
    }

    /// A registry whose only collector reads these metrics.
    pub fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape(self.clone())));
        registry
    }

    /// The exposition (OpenMetrics text, as prometheus-client writes it).
    pub fn render(self: &Arc<Self>) -> String {
        let mut out = String::new();
        // Writing to a String fails only if an encoder does; ours do not.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry());
        out
    }
}

/// The OpenMetrics content type prometheus-client's text encoding is.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn bump(table: &[AtomicU64], i: usize) {
    if let Some(c) = table.get(i) {
        c.fetch_add(1, Relaxed);
    }
}

fn method_index(m: &[u8]) -> usize {
    METHODS.iter().position(|k| k.as_bytes() == m).unwrap_or(OTHER)
}

fn method_name(i: usize) -> &'static str {
    METHODS.get(i).copied().unwrap_or("OTHER")
}

/// The method of a serialized message's CSeq header (case-insensitive name, any spacing).
fn cseq_method(bytes: &[u8]) -> Option<&[u8]> {
    let mut rest = bytes;
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        rest = &rest[nl + 1..];
        if rest.first().is_none_or(|c| *c == b'\r' || *c == b'\n') {
            return None; // end of the headers
        }
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let Some(colon) = memchr::memchr(b':', line) else { continue };
        if !line[..colon].trim_ascii().eq_ignore_ascii_case(b"cseq") {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        let sp = memchr::memchr(b' ', value)?;
        return Some(value[sp..].trim_ascii());
    }
    None
}

#[derive(Debug)]
struct Scrape(Arc<Metrics>);

impl Scrape {
    fn responses(&self, encoder: &mut DescriptorEncoder, name: &str, help: &str, table: &[AtomicU64]) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (i, c) in table.iter().enumerate() {
            let v = c.load(Relaxed);
            if v == 0 {
                continue;
            }
            let code = (i % N_CODES + 100).to_string();
            let labels = [("method", method_name(i / N_CODES)), ("code", code.as_str())];
            ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn requests(&self, encoder: &mut DescriptorEncoder, name: &str, help: &str, table: &[AtomicU64]) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (i, c) in table.iter().enumerate() {
            let v = c.load(Relaxed);
            if v > 0 {
                ConstCounter::new(v).encode(family.encode_family(&[("method", method_name(i))])?)?;
            }
        }
        Ok(())
    }

    fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), std::fmt::Error> {
        ConstGauge::new(v).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
    }

    fn histogram<const N: usize>(encoder: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram<N>) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = h.snapshot();
        let mut m = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.0;
        let e = &mut encoder;
        // Counter names get `_total` from the encoder: drachtio_sip_requests_in_total, ...
        self.requests(e, "drachtio_sip_requests_in", "count of sip requests received", &m.requests_in)?;
        self.requests(e, "drachtio_sip_requests_out", "count of sip requests sent", &m.requests_out)?;
        self.responses(e, "drachtio_sip_responses_in", "count of sip responses received", &m.responses_in)?;
        self.responses(e, "drachtio_sip_responses_out", "count of sip responses sent", &m.responses_out)?;
        {
            let mut family = e.encode_descriptor("drachtio_dropped_messages", "count of sip messages dropped or refused before reaching an app", None, MetricType::Counter)?;
            for (i, c) in m.dropped.iter().enumerate() {
                let reason = DROP_REASONS.get(i).copied().unwrap_or("other");
                ConstCounter::new(c.load(Relaxed)).encode(family.encode_family(&[("reason", reason)])?)?;
            }
        }
        {
            let mut family = e.encode_descriptor("drachtio_build_info", "drachtio version running", None, MetricType::Counter)?;
            ConstCounter::new(1u64).encode(family.encode_family(&[("version", super::VERSION)])?)?;
        }
        let g = |a: &AtomicU64| i64::try_from(a.load(Relaxed)).unwrap_or(i64::MAX);
        ConstGauge::new(m.started).encode(e.encode_descriptor("drachtio_time_started", "drachtio start time", None, MetricType::Gauge)?)?;
        Self::gauge(e, "drachtio_stable_dialogs", "count of SIP dialogs in progress", g(&m.dialogs))?;
        Self::gauge(e, "drachtio_proxy_cores", "count of proxied call setups in progress", g(&m.proxies))?;
        Self::gauge(e, "drachtio_app_connections", "count of connections to drachtio applications", g(&m.apps))?;
        Self::gauge(e, "drachtio_server_transactions", "count of server transactions in progress", g(&m.server_txns))?;
        Self::gauge(e, "drachtio_client_transactions", "count of client transactions in progress", g(&m.client_txns))?;
        Self::histogram(e, "drachtio_message_processing_seconds", "time the engine spends on one inbound sip message", &m.processing)?;
        Self::histogram(e, "drachtio_app_response_seconds", "time from a request's arrival to its app's first response", &m.app_response)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, line_start: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(line_start).and_then(|v| v.trim().parse().ok()))
    }

    #[test]
    fn counts_requests_and_responses_by_method_and_status() {
        let m = Arc::new(Metrics::new());
        m.message_in(Some(b"INVITE"), None, b"INVITE");
        m.message_in(Some(b"INVITE"), None, b"INVITE");
        m.message_in(Some(b"FOO"), None, b"FOO");
        m.message_in(None, Some(180), b"INVITE");
        m.message_out(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\ncseq :  7  BYE\r\n\r\n");
        m.message_out(b"SIP/2.0 486 Busy Here\r\nCSeq: 1 INVITE\r\n\r\nCSeq: 2 BYE");
        m.message_out(b"BYE sip:a@b SIP/2.0\r\nCSeq: 2 BYE\r\n\r\n");
        m.message_out(b"SIP/2.0 999 Nope\r\nCSeq: 1 INVITE\r\n\r\n");
        m.message_out(b"garbage");
        let text = m.render();
        assert_eq!(sample(&text, "drachtio_sip_requests_in_total{method=\"INVITE\"}"), Some(2.0));
        assert_eq!(sample(&text, "drachtio_sip_requests_in_total{method=\"OTHER\"}"), Some(1.0));
        assert_eq!(sample(&text, "drachtio_sip_responses_in_total{method=\"INVITE\",code=\"180\"}"), Some(1.0));
        assert_eq!(sample(&text, "drachtio_sip_responses_out_total{method=\"BYE\",code=\"200\"}"), Some(1.0));
        assert_eq!(sample(&text, "drachtio_sip_responses_out_total{method=\"INVITE\",code=\"486\"}"), Some(1.0));
        assert_eq!(sample(&text, "drachtio_sip_requests_out_total{method=\"BYE\"}"), Some(1.0));
        assert!(!text.contains("code=\"999\""), "an invalid status is not counted");
        assert!(text.contains("# TYPE drachtio_sip_requests_in counter"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn gauges_drops_and_histograms() {
        let m = Arc::new(Metrics::new());
        m.state(3, 4, 5, 1, 2);
        m.dropped(Drop::Unparseable);
        m.dropped(Drop::Overload);
        m.dropped(Drop::Overload);
        m.processed(Duration::from_micros(30));
        m.processed(Duration::from_secs(1));
        m.app_answered(Duration::from_millis(3));
        let text = m.render();
        assert_eq!(sample(&text, "drachtio_stable_dialogs "), Some(3.0));
        assert_eq!(sample(&text, "drachtio_server_transactions "), Some(4.0));
        assert_eq!(sample(&text, "drachtio_client_transactions "), Some(5.0));
        assert_eq!(sample(&text, "drachtio_proxy_cores "), Some(1.0));
        assert_eq!(sample(&text, "drachtio_app_connections "), Some(2.0));
        assert_eq!(sample(&text, "drachtio_dropped_messages_total{reason=\"overload\"}"), Some(2.0));
        assert_eq!(sample(&text, "drachtio_dropped_messages_total{reason=\"unparseable\"}"), Some(1.0));
        assert_eq!(sample(&text, "drachtio_dropped_messages_total{reason=\"invalid\"}"), Some(0.0));
        assert_eq!(sample(&text, "drachtio_message_processing_seconds_count "), Some(2.0));
        assert_eq!(sample(&text, "drachtio_message_processing_seconds_bucket{le=\"0.00005\"}"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "drachtio_message_processing_seconds_bucket{le=\"+Inf\"}"), Some(2.0));
        let sum = sample(&text, "drachtio_message_processing_seconds_sum ").unwrap_or_default();
        assert!((sum - 1.00003).abs() < 1e-9, "{sum}");
        assert_eq!(sample(&text, "drachtio_app_response_seconds_bucket{le=\"0.005\"}"), Some(1.0));
        assert_eq!(sample(&text, "drachtio_app_response_seconds_bucket{le=\"0.0025\"}"), Some(0.0));
        m.state(0, 0, 0, 0, 0);
        assert_eq!(sample(&m.render(), "drachtio_stable_dialogs "), Some(0.0));
    }

    #[test]
    fn cseq_scan() {
        assert_eq!(cseq_method(b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n"), Some(&b"INVITE"[..]));
        assert_eq!(cseq_method(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\nCSeq: 1 INVITE\r\n"), None);
        assert_eq!(cseq_method(b"SIP/2.0 200 OK\r\nCSeq:1\r\n\r\n"), None);
    }
}
