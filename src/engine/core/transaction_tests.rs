//! The RFC 3261 §17 transaction state machines and their timers, driven without sockets on a
//! paused clock: the core is fed datagrams and app commands directly, `Transports::capture`
//! records what it sends (and when), and timers fire as the clock reaches them.
//!
//! Timers are the defaults: T1 = 500 ms, T2 = 4 s, T4 = 5 s, so 64×T1 = 32 s.

use super::{Core, Inbound};
use crate::app::{CmdId, Command, Event};
use crate::engine::apps::AppId;
use crate::engine::client::ClientState;
use crate::engine::server::ServerState;
use crate::engine::transport::{InboundKind, Protocol, Sent, Transports};
use crate::engine::{EngineConfig, SessionTimerConfig, Timers, MAX_PENDING_REQUESTS, TCP_MESSAGE_TIMEOUT};
use crate::sip::Limits;
use crate::wire::ReplyStatus;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const APP: AppId = 1;
const UDP: Protocol = Protocol::Udp;
const TCP: Protocol = Protocol::Tcp;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// Our listening point (UDP and TCP).
fn local() -> SocketAddr {
    addr("127.0.0.1:5060")
}

/// The far end sending us requests.
fn peer() -> SocketAddr {
    addr("10.0.0.2:5070")
}

/// The far end our app sends requests to.
fn callee() -> SocketAddr {
    addr("10.0.0.3:5080")
}

/// A message the core sent: when (ms since the harness started), how, where, what.
struct Out {
    ms: u64,
    protocol: Protocol,
    to: SocketAddr,
    text: String,
}

impl Out {
    fn line(&self) -> &str {
        self.text.split("\r\n").next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> &str {
        header(&self.text, name)
    }
}

/// The value of the first `name:` line of a message's header section.
fn header<'a>(text: &'a str, name: &str) -> &'a str {
    text.split("\r\n")
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn to_tag(text: &str) -> String {
    header(text, "To").split(";tag=").nth(1).expect("a To tag").to_owned()
}

fn start_line(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).split("\r\n").next().unwrap_or_default().to_owned()
}

/// A request from the far end (`peer()`); `to_tag` for ACKs and in-dialog requests.
fn request(method: &str, protocol: Protocol, branch: &str, cseq: &str, to_tag: Option<&str>) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:bob@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/{} 10.0.0.2:5070;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@10.0.0.2>;tag=alice\r\n\
         To: <sip:bob@127.0.0.1>{to_tag}\r\n\
         Call-ID: call-1\r\n\
         CSeq: {cseq}\r\n\
         Contact: <sip:alice@10.0.0.2:5070>\r\n\
         Content-Length: 0\r\n\r\n",
        protocol.via_token()
    )
}

const INVITE_BRANCH: &str = "z9hG4bK-invite";

fn invite(protocol: Protocol) -> String {
    request("INVITE", protocol, INVITE_BRANCH, "1 INVITE", None)
}

/// The ACK for a non-2xx final: the INVITE's branch, the response's To tag (§17.1.1.3).
fn ack_for(protocol: Protocol, response: &Out) -> String {
    request("ACK", protocol, INVITE_BRANCH, "1 ACK", Some(&to_tag(&response.text)))
}

/// The far end's answer to a request we sent: its Via, From, To (tagged past 100), Call-ID, CSeq.
fn answer(request: &Out, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        match line.split(':').next().unwrap_or_default() {
            "Via" | "From" | "Call-ID" | "CSeq" => out.push_str(&format!("{line}\r\n")),
            "To" if status.starts_with("100") => out.push_str(&format!("{line}\r\n")),
            "To" => out.push_str(&format!("{line};tag=carol\r\n")),
            _ => {}
        }
    }
    // A dialog-forming answer names its target (§12.1.1).
    let cseq_method = request.header("CSeq").split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("100") && matches!(cseq_method, "INVITE" | "SUBSCRIBE") {
        out.push_str("Contact: <sip:carol@10.0.0.3:5080>\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// An app's response, as short as the JS layer may send it: the engine completes it.
fn app_response(status: &str) -> String {
    format!("SIP/2.0 {status}\r\nContent-Length: 0\r\n\r\n")
}

/// A request from the app to `callee()`.
fn app_request(method: &str, protocol: Protocol) -> String {
    let transport = if protocol == TCP { ";transport=tcp" } else { "" };
    format!("{method} sip:carol@10.0.0.3:5080{transport} SIP/2.0\r\nContent-Length: 0\r\n\r\n")
}

struct Harness {
    core: Core,
    sent: Arc<Mutex<Vec<Sent>>>,
    taken: usize,
    events: mpsc::Receiver<Event>,
    start: Instant,
    next_cmd: CmdId,
}

impl Harness {
    /// A core listening on udp and tcp 127.0.0.1:5060 with one app that routes `routes`.
    fn new(routes: &[&str]) -> Harness {
        let points = vec![(UDP, local()), (TCP, local())];
        let (transports, sent) = Transports::capture(&points);
        let config = EngineConfig {
            listen: points.clone(),
            external_ip: None,
            local_nets: Vec::new(),
            timers: Timers::default(),
            limits: Limits::default(),
            exclusive: false,
            max_pending_requests: MAX_PENDING_REQUESTS,
            tcp_message_timeout: TCP_MESSAGE_TIMEOUT,
            session_timers: SessionTimerConfig::default(),
            metrics: Some(std::sync::Arc::new(crate::engine::metrics::Metrics::new())),
            tls: None,
            adopt_dialogs: false,
        };
        let mut core = Core::new(config, transports, points, "udp/127.0.0.1:5060,tcp/127.0.0.1:5060".into());
        let (tx, events) = mpsc::channel(1024);
        core.attach(APP, tx, Vec::new());
        for r in routes {
            core.on_command(APP, Command::Route { verb: (*r).to_owned(), ack: None });
        }
        let mut h = Harness { core, sent, taken: 0, events, start: Instant::now(), next_cmd: 1 };
        assert!(matches!(h.events().as_slice(), [Event::Connected { .. }]));
        h
    }

    /// Runs the core's timers until `ms` after the start (timers due then included): the
    /// paused clock jumps from one deadline to the next, as it would in `Core::run`.
    async fn run_until(&mut self, ms: u64) {
        let end = self.start + Duration::from_millis(ms);
        assert!(Instant::now() <= end, "the clock is already past {ms} ms");
        loop {
            tokio::select! {
                biased;
                Some(expired) = std::future::poll_fn(|cx| self.core.timers.poll_expired(cx)), if !self.core.timers.is_empty() => {
                    self.core.on_timer(expired.into_inner());
                }
                _ = tokio::time::sleep_until(end) => break,
            }
        }
    }

    /// A message from the far end: requests come from `peer()`, responses from `callee()`.
    fn receive(&mut self, protocol: Protocol, text: &str) {
        let remote = if text.starts_with("SIP/2.0") { callee() } else { peer() };
        self.core.on_inbound(Inbound { protocol, local: local(), remote, bytes: text.as_bytes().to_vec(), kind: InboundKind::Message });
    }

    /// A SIP command from the app; the engine's reply: Ok(args) or Err(reason).
    fn app_sends(&mut self, txn_id: &str, dialog_id: &str, raw: &str) -> Result<Vec<String>, String> {
        self.app_sends_with(txn_id, dialog_id, raw, false)
    }

    /// `app_sends`, with the `answer_bye` option of a Dialog-forming 2xx.
    fn app_sends_with(&mut self, txn_id: &str, dialog_id: &str, raw: &str, answer_bye: bool) -> Result<Vec<String>, String> {
        let cmd = self.next_cmd;
        self.next_cmd += 1;
        let sip = Command::Sip { cmd, txn_id: txn_id.to_owned(), dialog_id: dialog_id.to_owned(), route_uri: None, raw: raw.as_bytes().to_vec(), answer_bye };
        self.core.on_command(APP, sip);
        match self.events().as_slice() {
            [Event::Reply { cmd: c, status: ReplyStatus::Ok, args, .. }] if *c == cmd => Ok(args.clone()),
            [Event::Reply { cmd: c, status: ReplyStatus::Nok, args, .. }] if *c == cmd => Err(args.join(" ")),
            other => panic!("expected one reply to command {cmd}, got {other:?}"),
        }
    }

    /// The app answers transaction `txn` (which must succeed).
    fn app_responds(&mut self, txn: &str, status: &str) {
        self.app_sends(txn, "", &app_response(status)).expect("response accepted");
    }

    /// The app sends a new request (which must succeed); its transaction id.
    fn app_requests(&mut self, method: &str, protocol: Protocol) -> String {
        let args = self.app_sends("", "", &app_request(method, protocol)).expect("request accepted");
        args[6].clone()
    }

    /// Every event the app received since the last call.
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    /// The SIP messages the app received since the last call: (txn id, dialog id, start line).
    fn app_got(&mut self) -> Vec<(String, String, String)> {
        self.events()
            .into_iter()
            .map(|e| match e {
                Event::Sip { meta, raw } => (meta.txn_id, meta.dialog_id, start_line(&raw)),
                other => panic!("expected only SIP messages, got {other:?}"),
            })
            .collect()
    }

    /// The start lines the app received since the last call.
    fn app_lines(&mut self) -> Vec<String> {
        self.app_got().into_iter().map(|(_, _, line)| line).collect()
    }

    /// The one new request the app must have received: its transaction id.
    fn app_request_txn(&mut self, line: &str) -> String {
        match self.app_got().as_slice() {
            [(txn, _, l)] if l == line => txn.clone(),
            other => panic!("expected the app to get {line}, got {other:?}"),
        }
    }

    /// What the core sent since the last call.
    fn sent(&mut self) -> Vec<Out> {
        let sent = self.sent.lock().expect("capture");
        let new: Vec<Out> = sent[self.taken..]
            .iter()
            .map(|s| Out { ms: (s.at - self.start).as_millis() as u64, protocol: s.protocol, to: s.to, text: String::from_utf8_lossy(&s.bytes).into_owned() })
            .collect();
        drop(sent);
        self.taken += new.len();
        new
    }

    /// (ms, start line) of what the core sent since the last call.
    fn sent_lines(&mut self) -> Vec<(u64, String)> {
        self.sent().iter().map(|o| (o.ms, o.line().to_owned())).collect()
    }

    /// The one message the core must have sent since the last call.
    fn sent_one(&mut self) -> Out {
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "expected one message, got {:?}", sent.iter().map(Out::line).collect::<Vec<_>>());
        sent.remove(0)
    }
}

fn at(times: &[u64], line: &str) -> Vec<(u64, String)> {
    times.iter().map(|&t| (t, line.to_owned())).collect()
}

/// Timer G, the 2xx retransmissions and Timer E start at T1 and double up to T2: sends at
/// T1, 3T1, 7T1, 15T1, then every T2, until 64×T1.
const DOUBLING_TO_T2: [u64; 10] = [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500];

// ---- INVITE server transaction (§17.2.1) ----

/// An INVITE from the far end, handed to the app: its txn id. Nothing is sent yet: the
/// engine's 100 Trying waits TRYING_DELAY (100 ms) for the app's own answer (§17.2.1).
fn invite_arrives(h: &mut Harness, protocol: Protocol) -> String {
    h.receive(protocol, &invite(protocol));
    assert!(h.sent().is_empty(), "no 100 Trying at once");
    h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0")
}

/// The engine's own 100 Trying for the INVITE from `peer()`: sent at `ms` over `protocol`,
/// the INVITE's Via, From, To (no tag), Call-ID and CSeq.
fn assert_trying(h: &mut Harness, ms: u64, protocol: Protocol) {
    let trying = h.sent_one();
    assert_eq!((trying.ms, trying.line(), trying.protocol, trying.to), (ms, "SIP/2.0 100 Trying", protocol, peer()));
    assert_eq!(trying.header("Via"), format!("SIP/2.0/{} 10.0.0.2:5070;branch={INVITE_BRANCH}", protocol.via_token()));
    assert_eq!((trying.header("From"), trying.header("To")), ("<sip:alice@10.0.0.2>;tag=alice", "<sip:bob@127.0.0.1>"), "no To tag on 100 Trying");
    assert_eq!((trying.header("Call-ID"), trying.header("CSeq")), ("call-1", "1 INVITE"));
}

// ---- Loop detection (§16.3 step 4, §8.2.2.2) ----

/// An INVITE from the far end whose second Via is `via`.
fn invite_via(via: &str) -> String {
    invite(UDP).replacen("Max-Forwards: 70\r\n", &format!("Via: {via}\r\nMax-Forwards: 70\r\n"), 1)
}

#[tokio::test(start_paused = true)]
async fn a_request_carrying_one_of_our_vias_has_looped_and_gets_482() {
    let mut h = Harness::new(&["invite"]);
    h.receive(UDP, &invite_via("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-drs0123456789abcdef;rport"));
    assert_eq!(h.sent_one().line(), "SIP/2.0 482 Loop Detected");
    assert!(h.app_got().is_empty());

    // Our branch prefix with somebody else's address is no loop.
    h.receive(UDP, &invite_via("SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-drs0123456789abcdef"));
    assert!(h.sent().is_empty());
    assert_eq!(h.app_lines(), ["INVITE sip:bob@127.0.0.1:5060 SIP/2.0"]);

    // Behind NAT our Vias carry the external address: that is us too.
    let mut h = Harness::new(&["invite"]);
    h.core.config.external_ip = Some("203.0.113.5".into());
    h.receive(UDP, &invite_via("SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-drs0123456789abcdef;rport"));
    assert_eq!(h.sent_one().line(), "SIP/2.0 482 Loop Detected");
    assert!(h.app_got().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_invite_the_app_answers_within_100_ms_gets_no_100_trying() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.run_until(50).await;
    assert!(h.sent().is_empty());
    h.app_responds(&txn, "180 Ringing");
    assert_eq!(h.sent_lines(), at(&[50], "SIP/2.0 180 Ringing"), "the app's answer comes first");
    h.run_until(1000).await;
    assert!(h.sent().is_empty(), "the 100 Trying was called off, not merely sent late");
    h.receive(UDP, &invite(UDP));
    assert_eq!(h.sent_lines(), at(&[1000], "SIP/2.0 180 Ringing"), "a retransmission gets the 180, never a 100");
    h.app_responds(&txn, "486 Busy Here");
    assert_eq!(h.sent_one().line(), "SIP/2.0 486 Busy Here");

    // Over TCP too, and for a final answered at once.
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, TCP);
    h.app_responds(&txn, "200 OK");
    assert_eq!(h.sent_lines(), at(&[0], "SIP/2.0 200 OK"));
    h.run_until(1000).await;
    assert!(h.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_invite_gets_100_trying_at_100_ms_and_again_for_each_retransmission() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.run_until(50).await;
    h.receive(UDP, &invite(UDP));
    assert!(h.sent().is_empty() && h.events().is_empty(), "before the 100 a retransmission has nothing to re-send");
    h.run_until(99).await;
    assert!(h.sent().is_empty());
    h.run_until(100).await;
    assert_trying(&mut h, 100, UDP);

    for ms in [500, 1500] {
        h.run_until(ms).await;
        h.receive(UDP, &invite(UDP));
        assert_trying(&mut h, ms, UDP);
        assert!(h.events().is_empty(), "a retransmission is not a new request");
    }
    h.run_until(2000).await;
    assert!(h.sent().is_empty(), "the 100 is only re-sent when the INVITE is");
    h.app_responds(&txn, "180 Ringing");
    assert_eq!(h.sent_lines(), at(&[2000], "SIP/2.0 180 Ringing"));
    h.receive(UDP, &invite(UDP));
    assert_eq!(h.sent_lines(), at(&[2000], "SIP/2.0 180 Ringing"), "the last provisional is the 180 now");

    // Over TCP the same 100, at the same time.
    let mut h = Harness::new(&["invite"]);
    invite_arrives(&mut h, TCP);
    h.run_until(99).await;
    assert!(h.sent().is_empty());
    h.run_until(100).await;
    assert_trying(&mut h, 100, TCP);
}

#[tokio::test(start_paused = true)]
async fn a_reinvite_gets_its_100_trying_only_if_the_app_takes_longer_than_100_ms() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    let tag = to_tag(&h.sent_one().text);
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&tag)));
    h.app_lines();

    // Answered at 1050: no 100.
    h.run_until(1000).await;
    h.receive(UDP, &request("INVITE", UDP, "z9hG4bK-re1", "2 INVITE", Some(&tag)));
    assert!(h.sent().is_empty());
    let re1 = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.run_until(1050).await;
    h.app_responds(&re1, "200 OK");
    assert_eq!(h.sent_lines(), at(&[1050], "SIP/2.0 200 OK"));
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-re1-ack", "2 ACK", Some(&tag)));
    h.app_lines();

    // Not answered: 100 Trying at 2100, in the dialog (the INVITE's To tag).
    h.run_until(2000).await;
    h.receive(UDP, &request("INVITE", UDP, "z9hG4bK-re2", "3 INVITE", Some(&tag)));
    let re2 = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.run_until(2099).await;
    assert!(h.sent().is_empty());
    h.run_until(2100).await;
    let trying = h.sent_one();
    assert_eq!((trying.ms, trying.line(), trying.header("CSeq")), (2100, "SIP/2.0 100 Trying", "3 INVITE"));
    assert_eq!(to_tag(&trying.text), tag);
    h.app_responds(&re2, "200 OK");
    assert_eq!(h.sent_lines(), at(&[2100], "SIP/2.0 200 OK"));
}

#[tokio::test(start_paused = true)]
async fn invite_server_proceeding_absorbs_retransmissions() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    assert_eq!(h.core.server[&txn].state, ServerState::Proceeding);

    h.run_until(200).await;
    assert_trying(&mut h, 100, UDP);
    h.receive(UDP, &invite(UDP));
    assert_eq!(h.sent_lines(), at(&[200], "SIP/2.0 100 Trying"), "the last provisional is re-sent");
    assert!(h.events().is_empty(), "a retransmission is not a new request");

    h.app_responds(&txn, "180 Ringing");
    assert_eq!(h.sent_lines(), at(&[200], "SIP/2.0 180 Ringing"));
    h.run_until(1000).await;
    h.receive(UDP, &invite(UDP));
    assert_eq!(h.sent_lines(), at(&[1000], "SIP/2.0 180 Ringing"));
    assert!(h.events().is_empty());

    // Unreliable provisionals are only re-sent when the INVITE is.
    h.run_until(20_000).await;
    assert!(h.sent().is_empty());
    assert_eq!((h.core.server.len(), h.core.server[&txn].state), (1, ServerState::Proceeding));
}

#[tokio::test(start_paused = true)]
async fn invite_server_non_2xx_timer_g_doubles_to_t2_until_timer_h() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "486 Busy Here");
    let busy = h.sent_one();
    assert_eq!(busy.ms, 0);
    // The app's two lines, completed from the INVITE (§8.2.6.2) with a fresh To tag.
    let expected = format!(
        "SIP/2.0 486 Busy Here\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5070;branch={INVITE_BRANCH}\r\n\
         From: <sip:alice@10.0.0.2>;tag=alice\r\n\
         To: <sip:bob@127.0.0.1>;tag={}\r\n\
         Call-ID: call-1\r\n\
         CSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n",
        to_tag(&busy.text)
    );
    assert_eq!(busy.text, expected);
    assert_eq!(h.core.server[&txn].state, ServerState::Completed);

    h.run_until(31_999).await;
    let copies = h.sent();
    assert_eq!(copies.iter().map(|o| (o.ms, o.line().to_owned())).collect::<Vec<_>>(), at(&DOUBLING_TO_T2, "SIP/2.0 486 Busy Here"));
    assert!(copies.iter().all(|o| o.text == busy.text && o.to == peer()), "retransmissions are the same bytes");
    assert_eq!(h.core.server.len(), 1);

    // Timer H: no ACK in 64×T1. The transaction ends quietly: the app has already answered,
    // and the early dialog (if any) ended with the non-2xx.
    h.run_until(32_000).await;
    assert!(h.core.server.is_empty() && h.core.server_keys.is_empty() && h.core.dialogs.is_empty());
    h.run_until(40_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert!(h.core.timers.is_empty(), "no timer outlives its transaction");
}

#[tokio::test(start_paused = true)]
async fn invite_server_non_2xx_over_tcp_is_sent_once_and_timer_h_still_applies() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, TCP);
    h.app_responds(&txn, "486 Busy Here");
    let busy = h.sent_one();
    assert_eq!((busy.line(), busy.protocol), ("SIP/2.0 486 Busy Here", TCP));

    h.run_until(31_999).await;
    assert!(h.sent().is_empty(), "no Timer G over a reliable transport");
    assert_eq!(h.core.server[&txn].state, ServerState::Completed);
    h.run_until(32_000).await;
    assert!(h.core.server.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_server_ack_confirms_and_timer_i_absorbs_acks_for_t4() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "486 Busy Here");
    let busy = h.sent_one();

    h.run_until(2000).await;
    assert_eq!(h.sent_lines(), at(&[500, 1500], "SIP/2.0 486 Busy Here"));
    h.receive(UDP, &ack_for(UDP, &busy));
    assert_eq!(h.core.server[&txn].state, ServerState::Confirmed);
    assert!(h.events().is_empty(), "the ACK of a non-2xx stays in the transaction layer");

    h.run_until(4000).await;
    h.receive(UDP, &ack_for(UDP, &busy));
    h.receive(UDP, &invite(UDP));
    assert!(h.sent().is_empty() && h.events().is_empty(), "Confirmed absorbs ACKs and sends nothing");

    // Timer I: T4 after the ACK.
    h.run_until(6999).await;
    assert_eq!(h.core.server.len(), 1);
    h.run_until(7000).await;
    assert!(h.core.server.is_empty() && h.core.server_keys.is_empty());
    assert!(h.core.timers.is_empty(), "Timers G and H went with the ACK");
    assert!(h.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_server_over_tcp_ends_at_the_ack() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, TCP);
    h.app_responds(&txn, "603 Decline");
    let decline = h.sent_one();
    h.run_until(1000).await;
    h.receive(TCP, &ack_for(TCP, &decline));
    assert_eq!(h.core.server[&txn].state, ServerState::Confirmed);
    h.run_until(1000).await; // Timer I is zero over TCP
    assert!(h.core.server.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_server_2xx_is_retransmitted_until_the_ack() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    assert_eq!(ok.line(), "SIP/2.0 200 OK");
    assert_eq!(ok.header("Contact"), "<sip:127.0.0.1:5060>");
    assert_eq!(h.core.server[&txn].state, ServerState::Accepted);
    assert_eq!(h.core.dialogs.len(), 1);

    h.run_until(4000).await;
    let copies = h.sent();
    assert_eq!(copies.iter().map(|o| o.ms).collect::<Vec<_>>(), DOUBLING_TO_T2[..3]);
    assert!(copies.iter().all(|o| o.text == ok.text));
    // RFC 6026: INVITE retransmissions are absorbed once the 2xx is sent (the dialog, not
    // the transaction, retransmits the 2xx).
    h.receive(UDP, &invite(UDP));
    assert!(h.sent().is_empty() && h.events().is_empty());

    h.run_until(5000).await;
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();
    let got: Vec<(String, String)> = h.app_got().into_iter().map(|(_, d, line)| (d, line)).collect();
    assert_eq!(got, [(dialog.clone(), "ACK sip:bob@127.0.0.1:5060 SIP/2.0".to_owned())], "the 2xx's ACK goes to the app");
    assert!(h.core.dialogs[&dialog].confirmed);

    // Timer L keeps the transaction absorbing INVITE copies for 64×T1 after the 2xx.
    h.run_until(31_999).await;
    assert!(h.sent().is_empty(), "the ACK stopped the 2xx retransmissions");
    assert_eq!(h.core.server.len(), 1);
    h.run_until(32_000).await;
    assert!(h.core.server.is_empty());
    assert_eq!(h.core.dialogs.len(), 1, "the call goes on");
    assert!(h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_dialog_whose_app_is_gone_is_taken_over_by_another_app_of_the_same_routes() {
    let mut h = Harness::new(&["invite"]);
    let (tx, mut heir_events) = mpsc::channel(64);
    const HEIR: AppId = 2;
    h.core.attach(HEIR, tx, Vec::new());
    // It routes INVITE, the request that forms such dialogs; their BYEs follow the dialog.
    h.core.on_command(HEIR, Command::Route { verb: "invite".into(), ack: None });
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();
    h.events();
    // The app that answered goes away: the call stays up, nothing is sent.
    h.core.detach(APP);
    assert_eq!(h.core.dialogs.len(), 1);
    assert!(h.sent().is_empty());
    let heir_got = |rx: &mut mpsc::Receiver<Event>| -> Vec<(String, String)> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|e| match e {
                Event::Sip { meta, raw } => Some((meta.dialog_id, start_line(&raw))),
                _ => None,
            })
            .collect()
    };
    heir_got(&mut heir_events);
    // The caller's BYE goes to the other app, with the dialog id to find the call's state by.
    h.receive(UDP, &request("BYE", UDP, "z9hG4bK-bye", "2 BYE", Some(&to_tag(&ok.text))));
    assert_eq!(heir_got(&mut heir_events), [(dialog.clone(), "BYE sip:bob@127.0.0.1:5060 SIP/2.0".to_owned())]);
    assert!(h.core.dialogs.is_empty(), "the BYE ended it");
}

#[tokio::test(start_paused = true)]
async fn a_request_in_a_dialog_another_engine_made_goes_to_the_app_which_adopts_the_dialog() {
    let mut h = Harness::new(&["invite"]);
    // Without adoption: 481, as before.
    h.receive(UDP, &request("INVITE", UDP, "z9hG4bK-re1", "2 INVITE", Some("theirs")));
    assert!(h.sent_one().line().starts_with("SIP/2.0 481"));
    h.core.config.adopt_dialogs = true;
    h.receive(UDP, &request("INVITE", UDP, "z9hG4bK-re2", "3 INVITE", Some("ours-elsewhere")));
    let (txn, dialog, line) = h.app_got().pop().expect("the re-INVITE went to the app");
    assert_eq!((dialog.as_str(), line.as_str()), ("", "INVITE sip:bob@127.0.0.1:5060 SIP/2.0"), "no dialog id: the engine knows none");
    let id = "call-1;from-tag=alice".to_owned();
    h.core.on_command(APP, Command::AdoptDialog(crate::app::AdoptedDialog {
        id: id.clone(),
        call_id: "call-1".into(),
        local_tag: "ours-elsewhere".into(),
        remote_tag: "alice".into(),
        local_uri: "<sip:bob@127.0.0.1>;tag=ours-elsewhere".into(),
        remote_uri: "<sip:alice@10.0.0.2>;tag=alice".into(),
        remote_target: "sip:alice@10.0.0.2:5070".into(),
        route_set: vec!["<sip:10.0.0.8;lr>".into()],
        local_seq: Some(7),
        subscription: false,
        txn_id: txn.clone(),
    }));
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    assert!(ok.line().starts_with("SIP/2.0 200") && ok.header("To").ends_with("tag=ours-elsewhere"), "{}", ok.text);
    h.run_until(500).await;
    assert_eq!(h.sent_one().text, ok.text, "the adopted dialog retransmits its 2xx until the ACK");
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack3", "3 ACK", Some("ours-elsewhere")));
    assert_eq!(h.app_got().len(), 1, "the ACK matched the dialog");
    // Our BYE: through the stored route set, above the stored CSeq.
    h.app_sends("", &id, "BYE sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("sent");
    let bye = h.sent_one();
    assert_eq!((bye.to, bye.header("Route"), bye.header("CSeq")), (addr("10.0.0.8:5060"), "<sip:10.0.0.8;lr>", "8 BYE"));
}

#[tokio::test(start_paused = true)]
async fn the_last_app_leaving_ends_its_calls() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    h.core.detach(APP);
    let bye = h.sent_one();
    assert_eq!(bye.line(), "BYE sip:alice@10.0.0.2:5070 SIP/2.0");
    assert!(bye.header("Reason").contains("application gone"), "{}", bye.text);
    assert!(h.core.dialogs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn responses_that_form_the_dialog_carry_the_record_route_and_our_requests_follow_it() {
    let mut h = Harness::new(&["invite"]);
    let rr = "Record-Route: <sip:10.0.0.8;lr>\r\nRecord-Route: <sip:10.0.0.9:5062;lr>, <sip:10.0.0.10;lr>\r\n";
    h.receive(UDP, &invite(UDP).replace("Max-Forwards", &format!("{rr}Max-Forwards")));
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    let copied = |o: &Out| o.text.lines().filter(|l| l.starts_with("Record-Route:")).map(|l| l["Record-Route: ".len()..].to_owned()).collect::<Vec<_>>();
    let route = ["<sip:10.0.0.8;lr>", "<sip:10.0.0.9:5062;lr>", "<sip:10.0.0.10;lr>"];
    h.app_responds(&txn, "180 Ringing");
    assert_eq!(copied(&h.sent_one()), route, "§12.1.1, in order");
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    assert_eq!(copied(&ok), route);
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    h.events();
    // Our BYE goes to the first proxy of the route set, with the route in the same order.
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();
    h.app_sends("", &dialog, "BYE sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("sent");
    let bye = h.sent_one();
    assert_eq!(bye.to, addr("10.0.0.8:5060"));
    assert_eq!(bye.text.lines().filter(|l| l.starts_with("Route:")).map(|l| l[7..].to_owned()).collect::<Vec<_>>(), route);
    // A failure forms no dialog: no Record-Route.
    h.receive(UDP, &request("INVITE", UDP, "z9hG4bK-2", "1 INVITE", None).replace("call-1", "call-2").replace("Max-Forwards", &format!("{rr}Max-Forwards")));
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "486 Busy Here");
    assert!(copied(&h.sent_one()).is_empty());
}

/// A call answered (by the app, with `answer_bye` as given) and acknowledged; then the
/// caller's BYE. Returns the dialog id and the app's events for the BYE.
fn caller_hangs_up(h: &mut Harness, answer_bye: bool) -> (String, Vec<(String, String, String)>) {
    let txn = invite_arrives(h, UDP);
    h.app_sends_with(&txn, "", &app_response("200 OK"), answer_bye).expect("response accepted");
    let ok = h.sent_one();
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();
    h.events();
    h.receive(UDP, &request("BYE", UDP, "z9hG4bK-bye", "2 BYE", Some(&to_tag(&ok.text))));
    (dialog, h.app_got())
}

#[tokio::test(start_paused = true)]
async fn invite_server_answers_the_bye_itself_in_a_dialog_the_app_marked_answer_bye() {
    let mut h = Harness::new(&["invite"]);
    let (dialog, got) = caller_hangs_up(&mut h, true);
    let ok = h.sent_one();
    assert_eq!((ok.line(), ok.header("CSeq")), ("SIP/2.0 200 OK", "2 BYE"));
    assert!(ok.header("To").contains(";tag="), "{}", ok.text);
    // The app hears of the BYE as already answered: nothing for it to send.
    assert_eq!(got, [("unsolicited".to_owned(), dialog, "BYE sip:bob@127.0.0.1:5060 SIP/2.0".to_owned())]);
    assert!(h.core.dialogs.is_empty());
    assert_eq!(h.core.apps.pending(APP), 0, "no request waits for the app");
    // A retransmitted BYE gets the same 200 (Timer J), and the app does not see it again.
    h.receive(UDP, &request("BYE", UDP, "z9hG4bK-bye", "2 BYE", Some(&to_tag(&ok.text))));
    assert_eq!(h.sent_one().line(), "SIP/2.0 200 OK");
    assert!(h.events().is_empty());
    h.run_until(33_000).await;
    assert!(h.core.server.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_server_leaves_the_bye_to_the_app_without_answer_bye() {
    let mut h = Harness::new(&["invite"]);
    let (dialog, got) = caller_hangs_up(&mut h, false);
    assert!(h.sent().is_empty(), "the app answers it");
    assert_eq!(got.len(), 1);
    assert_ne!(got[0].0, "unsolicited");
    assert_eq!((got[0].1.as_str(), got[0].2.as_str()), (dialog.as_str(), "BYE sip:bob@127.0.0.1:5060 SIP/2.0"));
    h.app_responds(&got[0].0, "200 OK");
    assert_eq!(h.sent_one().header("CSeq"), "2 BYE");
}

/// A call the app placed, answered by the callee and ACKed by the app (`answer_bye` as given);
/// then the callee's BYE. Returns the dialog id and the app's events for the BYE.
fn callee_hangs_up(h: &mut Harness, answer_bye: bool) -> (String, Vec<(String, String, String)>) {
    h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.receive(UDP, &answer(&invite, "200 OK"));
    let dialog = h.app_got().pop().expect("the 200").1;
    h.app_sends_with("", &dialog, "ACK sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n", answer_bye).expect("ACK sent");
    assert_eq!(h.sent_one().line(), "ACK sip:carol@10.0.0.3:5080 SIP/2.0");
    let bye = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-callee-bye\r\nMax-Forwards: 70\r\nFrom: {};tag=carol\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        invite.header("Contact").trim_matches(['<', '>']),
        invite.header("To"),
        invite.header("From"),
        invite.header("Call-ID"),
    );
    h.receive(UDP, &bye);
    (dialog, h.app_got())
}

#[tokio::test(start_paused = true)]
async fn invite_client_dialog_acked_with_answer_bye_gets_the_callees_bye_answered_by_the_engine() {
    let mut h = Harness::new(&[]);
    let (dialog, got) = callee_hangs_up(&mut h, true);
    let ok = h.sent_one();
    assert_eq!((ok.line(), ok.header("CSeq")), ("SIP/2.0 200 OK", "1 BYE"));
    assert_eq!(got, [("unsolicited".to_owned(), dialog, "BYE sip:127.0.0.1:5060 SIP/2.0".to_owned())]);
    assert!(h.core.dialogs.is_empty());

    let mut h = Harness::new(&[]);
    let (_, got) = callee_hangs_up(&mut h, false);
    assert!(h.sent().is_empty(), "without answer_bye the app answers");
    assert_ne!(got[0].0, "unsolicited");
}

#[tokio::test(start_paused = true)]
async fn invite_server_unacknowledged_2xx_ends_the_call_with_a_bye() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    h.sent_one();
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();

    h.run_until(31_999).await;
    assert_eq!(h.sent_lines(), at(&DOUBLING_TO_T2, "SIP/2.0 200 OK"));
    assert!(h.events().is_empty());

    // 64×T1 without an ACK: BYE to the far end, and the app hears of it as an unsolicited BYE.
    h.run_until(32_000).await;
    let bye = h.sent_one();
    assert_eq!((bye.line(), bye.protocol, bye.to), ("BYE sip:alice@10.0.0.2:5070 SIP/2.0", UDP, peer()));
    assert!(bye.header("Reason").contains("ACK timeout"), "{}", bye.text);
    assert_eq!(bye.header("To"), "<sip:alice@10.0.0.2>;tag=alice");
    assert_eq!(h.app_got(), [("unsolicited".to_owned(), dialog, "BYE sip:alice@10.0.0.2:5070 SIP/2.0".to_owned())]);
    assert!(h.core.dialogs.is_empty() && h.core.server.is_empty());
    assert_eq!(h.core.client.len(), 1, "the BYE's own transaction");

    // The BYE's answer ends it without bothering the app (the engine sent it).
    h.receive(UDP, &answer(&bye, "200 OK"));
    assert!(h.events().is_empty());
    h.run_until(37_000).await;
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_server_2xx_over_tcp_is_not_retransmitted_but_still_awaits_the_ack() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, TCP);
    h.app_responds(&txn, "200 OK");
    assert_eq!(h.sent_one().header("Contact"), "<sip:127.0.0.1:5060;transport=tcp>");
    h.run_until(31_999).await;
    assert!(h.sent().is_empty());
    h.run_until(32_000).await;
    let bye = h.sent_one();
    assert_eq!((bye.line(), bye.protocol), ("BYE sip:alice@10.0.0.2:5070 SIP/2.0", TCP));
    assert_eq!(h.app_lines(), ["BYE sip:alice@10.0.0.2:5070 SIP/2.0"]);
}

#[tokio::test(start_paused = true)]
async fn invite_server_answers_500_when_the_app_never_does() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.run_until(63_999).await;
    assert_eq!(h.sent_lines(), at(&[100], "SIP/2.0 100 Trying"), "only the engine's 100 Trying meanwhile");
    h.run_until(64_000).await;
    let error = h.sent_one();
    assert_eq!(error.line(), "SIP/2.0 500 Server Internal Error");
    assert!(!to_tag(&error.text).is_empty());
    assert_eq!(h.core.server[&txn].state, ServerState::Completed);
    assert_eq!(h.app_sends(&txn, "", &app_response("200 OK")), Err("a final response was already sent for this transaction".into()));
}

// ---- CANCEL (§9.2) ----

#[tokio::test(start_paused = true)]
async fn cancel_of_a_pending_invite_answers_200_and_487() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.run_until(1000).await;
    assert_trying(&mut h, 100, UDP);
    let cancel = request("CANCEL", UDP, INVITE_BRANCH, "1 CANCEL", None);
    h.receive(UDP, &cancel);
    let sent = h.sent();
    let lines: Vec<(&str, &str)> = sent.iter().map(|o| (o.line(), o.header("CSeq"))).collect();
    assert_eq!(lines, [("SIP/2.0 200 OK", "1 CANCEL"), ("SIP/2.0 487 Request Terminated", "1 INVITE")]);
    // Both final responses carry a To tag (§8.2.6.2), the same one (§9.2).
    assert_eq!(to_tag(&sent[0].text), to_tag(&sent[1].text));
    assert_eq!(h.app_got(), [(txn.clone(), String::new(), "CANCEL sip:bob@127.0.0.1:5060 SIP/2.0".to_owned())]);
    assert_eq!(h.core.server[&txn].state, ServerState::Completed);
    assert_eq!(h.app_sends(&txn, "", &app_response("200 OK")), Err("a final response was already sent for this transaction".into()));

    // A retransmitted CANCEL is answered from its own transaction; the 487 runs Timer G.
    h.run_until(1200).await;
    h.receive(UDP, &cancel);
    assert_eq!(h.sent_lines(), at(&[1200], "SIP/2.0 200 OK"));
    h.run_until(1600).await;
    assert_eq!(h.sent_lines(), at(&[1500], "SIP/2.0 487 Request Terminated"));
    h.receive(UDP, &ack_for(UDP, &sent[1]));
    assert_eq!(h.core.server[&txn].state, ServerState::Confirmed);
    assert!(h.events().is_empty());
    h.run_until(40_000).await;
    assert!(h.sent().is_empty() && h.core.server.is_empty() && h.core.dialogs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancel_matching_no_transaction_gets_481() {
    let mut h = Harness::new(&["invite"]);
    h.receive(UDP, &request("CANCEL", UDP, "z9hG4bK-unknown", "1 CANCEL", None));
    assert_eq!(h.sent_lines(), at(&[0], "SIP/2.0 481 Call/Transaction Does Not Exist"));
    assert!(h.events().is_empty() && h.core.server.is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancel_after_the_final_response_is_answered_but_changes_nothing() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "486 Busy Here");
    h.sent_one();
    h.receive(UDP, &request("CANCEL", UDP, INVITE_BRANCH, "1 CANCEL", None));
    assert_eq!(h.sent_lines(), at(&[0], "SIP/2.0 200 OK"));
    assert!(h.events().is_empty());
}

// ---- Non-INVITE server transaction (§17.2.2) ----

#[tokio::test(start_paused = true)]
async fn non_invite_server_trying_proceeding_completed_then_timer_j() {
    let mut h = Harness::new(&["options"]);
    let options = request("OPTIONS", UDP, "z9hG4bK-options", "7 OPTIONS", None);
    h.receive(UDP, &options);
    let txn = h.app_request_txn("OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0");
    assert!(h.sent().is_empty(), "Trying: no 100 for a non-INVITE");

    h.run_until(300).await;
    h.receive(UDP, &options);
    assert!(h.sent().is_empty() && h.events().is_empty(), "Trying absorbs a retransmission silently");

    h.app_responds(&txn, "100 Trying");
    h.run_until(1000).await;
    h.receive(UDP, &options);
    assert_eq!(h.sent_lines(), at(&[300, 1000], "SIP/2.0 100 Trying"), "Proceeding re-sends the provisional");

    h.run_until(1500).await;
    h.app_responds(&txn, "200 OK");
    h.run_until(2000).await;
    h.receive(UDP, &options);
    assert_eq!(h.sent_lines(), at(&[1500, 2000], "SIP/2.0 200 OK"), "Completed re-sends the final");
    assert!(h.events().is_empty());
    assert_eq!(h.core.server[&txn].state, ServerState::Completed);

    // Timer J: 64×T1 after the final, no retransmissions of its own.
    h.run_until(33_499).await;
    assert!(h.sent().is_empty());
    assert_eq!(h.core.server.len(), 1);
    h.run_until(33_500).await;
    assert!(h.core.server.is_empty() && h.core.timers.is_empty());
    h.receive(UDP, &options);
    assert_eq!(h.app_lines(), ["OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0"], "past Timer J it is a new request");
}

#[tokio::test(start_paused = true)]
async fn non_invite_server_over_tcp_terminates_with_the_final() {
    let mut h = Harness::new(&["options"]);
    h.receive(TCP, &request("OPTIONS", TCP, "z9hG4bK-options", "7 OPTIONS", None));
    let txn = h.app_request_txn("OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "200 OK");
    assert_eq!(h.sent_one().protocol, TCP);
    h.run_until(0).await; // Timer J is zero over TCP
    assert!(h.core.server.is_empty() && h.core.timers.is_empty());
}

// ---- INVITE client transaction (§17.1.1) ----

#[tokio::test(start_paused = true)]
async fn invite_client_timer_a_doubles_until_timer_b_gives_the_app_a_408() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    assert_eq!((invite.line(), invite.protocol, invite.to), ("INVITE sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee()));
    assert_eq!(h.core.client[&txn].state, ClientState::Trying);

    // Completed by the engine (§8.1.1): Via with a fresh branch, tags, Call-ID, CSeq...
    for name in ["Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact"] {
        assert!(!invite.header(name).is_empty(), "{name}");
    }
    assert!(invite.header("Via").starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-drs"), "{}", invite.text);
    assert!(invite.header("CSeq").ends_with(" INVITE") && invite.header("From").contains(";tag="));

    h.run_until(31_999).await;
    // Timer A doubles without a cap: 2T1, 4T1, ... after each send.
    let copies = h.sent();
    assert_eq!(copies.iter().map(|o| o.ms).collect::<Vec<_>>(), [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(copies.iter().all(|o| o.text == invite.text && o.to == callee()));
    assert!(h.events().is_empty());
    h.run_until(32_000).await;
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 408 Request Timeout".to_owned())]);
    assert!(h.core.client.is_empty() && h.core.client_keys.is_empty() && h.core.timers.is_empty());
    assert!(h.sent().is_empty(), "nothing is sent on Timer B");
}

#[tokio::test(start_paused = true)]
async fn invite_client_over_tcp_is_not_retransmitted() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", TCP);
    assert_eq!(h.sent_one().protocol, TCP);
    h.run_until(31_999).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    h.run_until(32_000).await;
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 408 Request Timeout".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn behind_nat_the_external_address_is_advertised_except_toward_local_networks() {
    let mut h = Harness::new(&["invite"]);
    h.core.config.external_ip = Some("203.0.113.5".into());
    h.core.config.local_nets = vec![crate::engine::nat::LocalNet::parse("10.0.0.0/30").expect("cidr")];
    // callee() 10.0.0.3 is inside 10.0.0.0/30: our bound address.
    h.app_requests("INVITE", UDP);
    let inside = h.sent_one();
    assert!(inside.header("Via").contains(" 127.0.0.1:5060;") && inside.header("Contact").contains("127.0.0.1:5060"), "{}", inside.text);
    // Only callee() is local now: our answer to peer() 10.0.0.2 carries the external address.
    h.core.config.local_nets = vec![crate::engine::nat::LocalNet::parse("10.0.0.3/32").expect("cidr")];
    h.receive(UDP, &invite(UDP));
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    assert!(ok.header("Contact").contains("203.0.113.5:5060"), "{}", ok.text);
    h.app_requests("INVITE", UDP);
    assert!(h.sent_one().header("Via").contains(" 127.0.0.1:5060;"));
    h.core.config.local_nets.clear();
    h.app_requests("INVITE", UDP);
    let outside = h.sent_one();
    assert!(outside.header("Via").contains(" 203.0.113.5:5060;") && outside.header("Contact").contains("203.0.113.5:5060"), "{}", outside.text);
}

#[tokio::test(start_paused = true)]
async fn a_request_to_a_peer_no_connection_reaches_fails_at_once_with_503() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", TCP);
    h.sent_one();
    let other = h.app_requests("OPTIONS", TCP);
    // A response already came for the OPTIONS: it is past the point a lost connection decides.
    let options = h.sent_one();
    h.receive(TCP, &answer(&options, "100 Trying"));
    assert_eq!(h.app_got().len(), 1, "the 100 went to the app");
    h.core.on_inbound(Inbound { protocol: TCP, local: local(), remote: callee(), bytes: Vec::new(), kind: InboundKind::Unreachable });
    assert_eq!(h.app_got(), [(txn.clone(), String::new(), "SIP/2.0 503 Service Unavailable".to_owned())]);
    assert!(!h.core.client.contains_key(&txn) && h.core.client.contains_key(&other));
    // The same peer over another transport is another flow.
    let udp = h.app_requests("INVITE", UDP);
    h.sent();
    h.core.on_inbound(Inbound { protocol: TCP, local: local(), remote: callee(), bytes: Vec::new(), kind: InboundKind::Unreachable });
    assert!(h.events().is_empty() && h.core.client.contains_key(&udp));
}

#[tokio::test(start_paused = true)]
async fn invite_client_proceeding_then_non_2xx_is_acked_by_the_engine() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.run_until(1000).await;
    assert_eq!(h.sent_lines(), at(&[500], "INVITE sip:carol@10.0.0.3:5080 SIP/2.0"));
    h.receive(UDP, &answer(&invite, "180 Ringing"));
    assert_eq!(h.app_lines(), ["SIP/2.0 180 Ringing"]);
    assert_eq!(h.core.client[&txn].state, ClientState::Proceeding);

    // Proceeding: no more retransmissions, and Timer B no longer applies (§17.1.1.2) — a
    // call may ring for longer than 64×T1.
    h.run_until(60_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert_eq!(h.core.client.len(), 1);

    h.receive(UDP, &answer(&invite, "486 Busy Here"));
    let ack = h.sent_one();
    assert_eq!(ack.to, callee());
    // §17.1.1.3: the INVITE's Request-URI, top Via (so its branch), From, Call-ID and CSeq
    // number; the response's To.
    let expected = format!(
        "ACK sip:carol@10.0.0.3:5080 SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nCall-ID: {}\r\nTo: {};tag=carol\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        invite.header("Via"),
        invite.header("From"),
        invite.header("Call-ID"),
        invite.header("To"),
        invite.header("CSeq").replace("INVITE", "ACK"),
    );
    assert_eq!(ack.text, expected);
    let got: Vec<(String, String)> = h.app_got().into_iter().map(|(t, _, line)| (t, line)).collect();
    assert_eq!(got, [(txn.clone(), "SIP/2.0 486 Busy Here".to_owned())]);
    assert_eq!(h.core.client[&txn].state, ClientState::Completed);
    assert!(h.core.dialogs.is_empty(), "the non-2xx ended the early dialog the 180 formed");

    // Completed: each retransmitted final is ACKed again and not passed up.
    h.run_until(61_000).await;
    h.receive(UDP, &answer(&invite, "486 Busy Here"));
    let again = h.sent_one();
    assert_eq!((again.ms, &again.text), (61_000, &ack.text));
    assert!(h.events().is_empty());

    // Timer D: 32 s over UDP.
    h.run_until(91_999).await;
    assert_eq!(h.core.client.len(), 1);
    h.run_until(92_000).await;
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_client_timer_c_bounds_a_call_that_rings_forever() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.receive(UDP, &answer(&invite, "180 Ringing"));
    h.run_until(60_000).await;
    h.receive(UDP, &answer(&invite, "183 Session Progress"));
    assert_eq!(h.app_lines(), ["SIP/2.0 180 Ringing", "SIP/2.0 183 Session Progress"]);
    // Each provisional restarts Timer C; when it fires the INVITE is cancelled.
    h.run_until(60_000 + 184_999).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    h.run_until(60_000 + 185_000).await;
    let cancel = h.sent_one();
    assert_eq!(cancel.line(), "CANCEL sip:carol@10.0.0.3:5080 SIP/2.0");
    assert_eq!(cancel.header("Via"), invite.header("Via"));
    assert_eq!(h.core.client.len(), 2, "the INVITE awaits its 487");
    h.receive(UDP, &answer(&cancel, "200 OK"));
    h.receive(UDP, &answer(&invite, "487 Request Terminated"));
    assert_eq!(h.sent_one().line(), "ACK sip:carol@10.0.0.3:5080 SIP/2.0");
    let got: Vec<(String, String)> = h.app_got().into_iter().map(|(t, _, line)| (t, line)).collect();
    assert_eq!(got, [(txn, "SIP/2.0 487 Request Terminated".to_owned())]);
    assert!(h.core.dialogs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_client_over_tcp_timer_d_is_zero() {
    let mut h = Harness::new(&[]);
    h.app_requests("INVITE", TCP);
    let invite = h.sent_one();
    h.receive(TCP, &answer(&invite, "503 Service Unavailable"));
    assert_eq!(h.sent_one().line(), "ACK sip:carol@10.0.0.3:5080;transport=tcp SIP/2.0");
    assert_eq!(h.app_lines(), ["SIP/2.0 503 Service Unavailable"]);
    h.run_until(0).await;
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_client_2xx_goes_to_the_app_and_ends_the_transaction() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.run_until(1000).await;
    h.sent();
    h.receive(UDP, &answer(&invite, "200 OK"));
    let got = h.app_got();
    assert_eq!(got.len(), 1);
    let (got_txn, dialog, line) = &got[0];
    assert_eq!((got_txn, line.as_str()), (&txn, "SIP/2.0 200 OK"));
    assert!(h.core.client.is_empty() && h.core.timers.is_empty(), "the 2xx ends the INVITE transaction");
    assert!(h.core.dialogs[dialog].confirmed);
    assert!(h.sent().is_empty(), "the ACK of a 2xx is the app's");

    h.app_sends("", dialog, "ACK sip:carol@10.0.0.3:5080 SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("ACK sent");
    let ack = h.sent_one();
    assert_eq!(ack.header("CSeq"), invite.header("CSeq").replace("INVITE", "ACK"));
    assert_ne!(ack.header("Via"), invite.header("Via"), "the ACK of a 2xx is a transaction of its own");
    // A retransmitted 2xx is answered with the same ACK and not passed up again.
    h.receive(UDP, &answer(&invite, "200 OK"));
    assert_eq!(h.sent_one().text, ack.text);
    assert!(h.events().is_empty());
}

// ---- Non-INVITE client transaction (§17.1.2) ----

#[tokio::test(start_paused = true)]
async fn non_invite_client_timer_e_caps_at_t2_until_timer_f() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("OPTIONS", UDP);
    assert_eq!(h.sent_one().line(), "OPTIONS sip:carol@10.0.0.3:5080 SIP/2.0");
    h.run_until(31_999).await;
    assert_eq!(h.sent_lines(), at(&DOUBLING_TO_T2, "OPTIONS sip:carol@10.0.0.3:5080 SIP/2.0"));
    h.run_until(32_000).await;
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 408 Request Timeout".to_owned())]);
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn non_invite_client_proceeding_retransmits_every_t2_then_completed_and_timer_k() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("OPTIONS", UDP);
    let options = h.sent_one();
    h.run_until(600).await;
    h.receive(UDP, &answer(&options, "100 Trying"));
    assert_eq!(h.app_lines(), ["SIP/2.0 100 Trying"]);
    assert_eq!(h.core.client[&txn].state, ClientState::Proceeding);

    // Timer E, armed for 2T1 at 500, fires in Proceeding and is reset to T2 from then on.
    h.run_until(10_000).await;
    assert_eq!(h.sent_lines(), at(&[500, 1500, 5500, 9500], "OPTIONS sip:carol@10.0.0.3:5080 SIP/2.0"));
    h.receive(UDP, &answer(&options, "200 OK"));
    assert_eq!(h.app_got(), [(txn.clone(), String::new(), "SIP/2.0 200 OK".to_owned())]);
    assert_eq!(h.core.client[&txn].state, ClientState::Completed);

    h.run_until(11_000).await;
    h.receive(UDP, &answer(&options, "200 OK"));
    assert!(h.sent().is_empty() && h.events().is_empty(), "Completed absorbs retransmitted finals");

    // Timer K: T4 over UDP.
    h.run_until(14_999).await;
    assert_eq!(h.core.client.len(), 1);
    h.run_until(15_000).await;
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn non_invite_client_timer_f_applies_in_proceeding_too() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("OPTIONS", UDP);
    let options = h.sent_one();
    h.receive(UDP, &answer(&options, "100 Trying"));
    h.app_lines();
    h.run_until(32_000).await;
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 408 Request Timeout".to_owned())]);
    assert!(h.core.client.is_empty());
}

#[tokio::test(start_paused = true)]
async fn non_invite_client_over_tcp_timer_k_is_zero() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("OPTIONS", TCP);
    let options = h.sent_one();
    h.run_until(10_000).await;
    assert!(h.sent().is_empty(), "no Timer E over TCP");
    h.receive(TCP, &answer(&options, "200 OK"));
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 200 OK".to_owned())]);
    h.run_until(10_000).await;
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn invite_client_cancelled_by_the_app_waits_64_t1_for_its_final() {
    let mut h = Harness::new(&[]);
    let txn = h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.receive(UDP, &answer(&invite, "180 Ringing"));
    h.app_lines();
    h.run_until(10_000).await;
    h.app_sends(&txn, "", "CANCEL sip:carol@10.0.0.3:5080 SIP/2.0\r\nReason: SIP ;cause=200\r\nContent-Length: 0\r\n\r\n").expect("CANCEL sent");
    let cancel = h.sent_one();
    assert_eq!((cancel.line(), cancel.header("Via")), ("CANCEL sip:carol@10.0.0.3:5080 SIP/2.0", invite.header("Via")));
    assert_eq!(cancel.header("Reason"), "SIP ;cause=200");
    h.receive(UDP, &answer(&cancel, "200 OK"));
    assert!(h.events().is_empty(), "the 200 to CANCEL is the engine's");
    // The far end never sends its 487: 64×T1 after the CANCEL the INVITE gives up (§9.1).
    h.run_until(41_999).await;
    assert!(h.events().is_empty());
    h.run_until(42_000).await;
    assert_eq!(h.app_lines(), ["SIP/2.0 408 Request Timeout"]);
    assert!(h.core.client.is_empty() && h.core.dialogs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn rejected_reinvite_keeps_the_dialog() {
    let mut h = Harness::new(&[]);
    h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.receive(UDP, &answer(&invite, "200 OK"));
    let (_, dialog, _) = h.app_got().remove(0);
    h.app_sends("", &dialog, "ACK sip:carol@10.0.0.3:5080 SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("ACK sent");
    h.sent_one();
    let reinvite_txn = h.app_sends("", &dialog, "INVITE sip:carol@10.0.0.3:5080 SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("re-INVITE sent")[6].clone();
    let reinvite = h.sent_one();
    h.receive(UDP, &answer(&reinvite, "488 Not Acceptable Here"));
    assert_eq!(h.sent_one().line(), "ACK sip:carol@10.0.0.3:5080 SIP/2.0");
    assert_eq!(h.app_got(), [(reinvite_txn, dialog.clone(), "SIP/2.0 488 Not Acceptable Here".to_owned())]);
    assert!(h.core.dialogs.contains_key(&dialog), "a failed re-INVITE leaves the call up");
}

// ---- Reliable provisionals (RFC 3262) and timer keys ----

#[tokio::test(start_paused = true)]
async fn reliable_provisional_doubles_until_64_t1_and_its_spent_timer_is_not_disarmed_again() {
    let mut h = Harness::new(&["invite"]);
    h.receive(UDP, &invite(UDP).replace("Content-Length: 0", "Supported: 100rel\r\nContent-Length: 0"));
    assert!(h.sent().is_empty(), "no 100 Trying at once");
    let a = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_sends(&a, "", "SIP/2.0 183 Session Progress\r\nRequire: 100rel\r\nContent-Length: 0\r\n\r\n").expect("reliable 183");
    let progress = h.sent_one();
    assert_eq!(progress.header("RSeq"), "1");

    // Never PRACKed: re-sent at T1, 3T1, 7T1... without a cap, given up once the next wait
    // would pass 64×T1.
    h.run_until(63_500).await;
    let copies = h.sent();
    assert_eq!(copies.iter().map(|o| o.ms).collect::<Vec<_>>(), [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(copies.iter().all(|o| o.text == progress.text));

    // The retransmit timer that just expired is spent; its key may now name a new timer,
    // here the app-answer deadline of another INVITE. Answering the first INVITE must not
    // disarm that timer.
    h.receive(UDP, &request("INVITE", UDP, "z9hG4bK-second", "1 INVITE", None).replace("call-1", "call-2"));
    assert!(h.sent().is_empty());
    let b = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&a, "486 Busy Here");
    assert_eq!(h.sent_one().line(), "SIP/2.0 486 Busy Here");
    h.run_until(63_500 + 64_000).await;
    let to_b: Vec<(u64, String)> = h.sent().into_iter().filter(|o| o.header("Call-ID") == "call-2").map(|o| (o.ms, o.line().to_owned())).collect();
    assert_eq!(
        to_b,
        [(63_600, "SIP/2.0 100 Trying".to_owned()), (63_500 + 64_000, "SIP/2.0 500 Server Internal Error".to_owned())],
        "the second INVITE's 100 Trying and its deadline both still fire"
    );
    assert_eq!(h.core.server[&b].state, ServerState::Completed);
}

#[tokio::test(start_paused = true)]
async fn prack_stops_the_reliable_provisional() {
    let mut h = Harness::new(&["invite"]);
    h.receive(UDP, &invite(UDP).replace("Content-Length: 0", "Supported: 100rel\r\nContent-Length: 0"));
    assert!(h.sent().is_empty());
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_sends(&txn, "", "SIP/2.0 180 Ringing\r\nRequire: 100rel\r\nContent-Length: 0\r\n\r\n").expect("reliable 180");
    let ringing = h.sent_one();
    h.run_until(1000).await;
    assert_eq!(h.sent_lines(), at(&[500], "SIP/2.0 180 Ringing"));

    let prack = request("PRACK", UDP, "z9hG4bK-prack", "2 PRACK", Some(&to_tag(&ringing.text))).replace("Content-Length: 0", "RAck: 1 1 INVITE\r\nContent-Length: 0");
    h.receive(UDP, &prack);
    assert_eq!(h.app_lines(), ["PRACK sip:bob@127.0.0.1:5060 SIP/2.0"]);
    h.run_until(20_000).await;
    assert!(h.sent().is_empty(), "the PRACK stopped the retransmissions");
    assert_eq!(h.core.server[&txn].state, ServerState::Proceeding);
}

// ---- Dialogs the transactions form and end (§12, RFC 6665) ----

/// An in-dialog request from the UAC we sent `req` to (it answered with tag `carol`).
fn from_callee(method: &str, req: &Out, cseq: u32, extra: &str) -> String {
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-{method}-{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: {};tag=carol\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n",
        req.header("To"),
        req.header("From"),
        req.header("Call-ID"),
    )
}

#[tokio::test(start_paused = true)]
async fn subscribe_forms_a_dialog_on_its_2xx_and_a_terminating_notify_ends_it() {
    let mut h = Harness::new(&[]);
    h.app_requests("SUBSCRIBE", UDP);
    let subscribe = h.sent_one();
    h.receive(UDP, &answer(&subscribe, "202 Accepted"));
    let (_, dialog, line) = h.app_got().remove(0);
    assert_eq!(line, "SIP/2.0 202 Accepted");
    assert!(h.core.dialogs[&dialog].subscription, "the 202 formed a subscription dialog");

    // An active NOTIFY keeps it; a terminating one, once answered 2xx, ends it.
    for (cseq, state) in [(1, "active;expires=60"), (2, "terminated;reason=timeout")] {
        h.receive(UDP, &from_callee("NOTIFY", &subscribe, cseq, &format!("Event: presence\r\nSubscription-State: {state}\r\n")));
        let (txn, notify_dialog, _) = h.app_got().remove(0);
        assert_eq!(notify_dialog, dialog, "the NOTIFY is delivered inside the dialog");
        h.app_responds(&txn, "200 OK");
        h.sent_one();
        assert_eq!(h.core.dialogs.contains_key(&dialog), cseq == 1, "after NOTIFY {state}");
    }
}

#[tokio::test(start_paused = true)]
async fn our_terminating_notify_ends_the_subscription_dialog_a_subscribe_formed() {
    let mut h = Harness::new(&["subscribe"]);
    h.receive(UDP, &request("SUBSCRIBE", UDP, "z9hG4bK-sub", "1 SUBSCRIBE", None).replace("Content-Length", "Event: presence\r\nContent-Length"));
    let txn = h.app_request_txn("SUBSCRIBE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "202 Accepted");
    h.sent_one();
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();
    for state in ["active", "terminated"] {
        let notify = format!("NOTIFY sip:placeholder SIP/2.0\r\nEvent: presence\r\nSubscription-State: {state}\r\nContent-Length: 0\r\n\r\n");
        h.app_sends("", &dialog, &notify).expect("NOTIFY sent");
        let sent = h.sent_one();
        assert_eq!(sent.line(), "NOTIFY sip:alice@10.0.0.2:5070 SIP/2.0");
        h.core.on_inbound(Inbound { protocol: UDP, local: local(), remote: peer(), bytes: answer(&sent, "200 OK").into_bytes(), kind: InboundKind::Message });
        h.app_got();
        assert_eq!(h.core.dialogs.contains_key(&dialog), state == "active", "after our NOTIFY {state} was answered");
    }
}

#[tokio::test(start_paused = true)]
async fn a_reinvite_we_send_in_a_uas_dialog_keeps_one_dialog_and_acks_its_own_cseq() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    let dialog = h.core.dialogs.keys().next().expect("dialog").clone();
    h.app_got();
    for _ in 0..2 {
        h.app_sends("", &dialog, "INVITE sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("re-INVITE sent");
        let reinvite = h.sent_one();
        h.core.on_inbound(Inbound { protocol: UDP, local: local(), remote: peer(), bytes: answer(&reinvite, "200 OK").replace(";tag=carol", "").into_bytes(), kind: InboundKind::Message });
        let (_, got_dialog, _) = h.app_got().remove(0);
        assert_eq!((got_dialog.as_str(), h.core.dialogs.len()), (dialog.as_str(), 1), "the 2xx stays in the dialog");
        h.app_sends("", &dialog, "ACK sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("ACK sent");
        assert_eq!(h.sent_one().header("CSeq"), reinvite.header("CSeq").replace("INVITE", "ACK"));
    }
    // The far end's BYE still finds the dialog.
    h.receive(UDP, &request("BYE", UDP, "z9hG4bK-bye", "2 BYE", Some(&to_tag(&ok.text))));
    assert_eq!(h.app_got().remove(0).1, dialog);
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_uri_is_forgiven_only_where_a_dialog_identifies_the_request() {
    let mut h = Harness::new(&["invite", "info"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "200 OK");
    let tag = to_tag(&h.sent_one().text);
    let bare = |to_tag: Option<&str>| request("INFO", UDP, "z9hG4bK-info", "2 INFO", to_tag).replacen("INFO sip:bob@127.0.0.1:5060", "INFO sip:", 1);
    h.receive(UDP, &bare(Some(&tag)));
    assert_eq!(h.app_lines(), ["INFO sip: SIP/2.0"], "inside the dialog: delivered");
    h.receive(UDP, &bare(Some("unknown")));
    assert!(h.sent_one().line().starts_with("SIP/2.0 400"), "no dialog: 400");
    h.receive(UDP, &bare(None));
    assert!(h.sent_one().line().starts_with("SIP/2.0 400"));
}

mod session_timers;

mod proxy;

mod dns;

#[tokio::test(start_paused = true)]
async fn stats_count_what_the_engine_holds_until_the_timers_release_it() {
    let mut h = Harness::new(&["options"]);
    let stats = |h: &mut Harness| {
        h.core.on_command(APP, Command::Stats { cmd: 99 });
        match h.events().as_slice() {
            [Event::Reply { cmd: 99, status: ReplyStatus::Ok, args, .. }] => args.clone(),
            other => panic!("expected the stats reply, got {other:?}"),
        }
    };
    h.receive(UDP, &request("OPTIONS", UDP, "z9hG4bK-opt", "1 OPTIONS", None));
    let txn = h.app_request_txn("OPTIONS sip:bob@127.0.0.1:5060 SIP/2.0");
    assert_eq!(stats(&mut h), ["0", "1", "0", "1", "0"], "one server transaction, one request the app holds");
    h.app_responds(&txn, "200 OK");
    assert_eq!(stats(&mut h), ["0", "1", "0", "0", "0"], "answered, still absorbing retransmissions");
    h.run_until(32_000).await;
    assert_eq!(stats(&mut h), ["0", "0", "0", "0", "0"], "Timer J released it");
}

#[tokio::test(start_paused = true)]
async fn a_challenged_bye_keeps_the_dialog_for_the_authenticated_retry() {
    let mut h = Harness::new(&[]);
    h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.receive(UDP, &answer(&invite, "200 OK"));
    let (_, dialog, _) = h.app_got().remove(0);
    let bye = "BYE sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    h.app_sends("", &dialog, bye).expect("BYE sent");
    let first = h.sent_one();
    h.receive(UDP, &answer(&first, "407 Proxy Authentication Required").replace(";tag=carol;tag=carol", ";tag=carol"));
    h.app_got();
    assert!(h.core.dialogs.contains_key(&dialog), "a 407 to BYE leaves the dialog");
    h.app_sends("", &dialog, &bye.replace("Content-Length", "Proxy-Authorization: Digest username=\"a\"\r\nContent-Length")).expect("BYE re-sent");
    let second = h.sent_one();
    h.receive(UDP, &answer(&second, "200 OK").replace(";tag=carol;tag=carol", ";tag=carol"));
    h.app_got();
    assert!(h.core.dialogs.is_empty(), "the 200 to the BYE ends it");
}

#[tokio::test(start_paused = true)]
async fn a_2xx_without_contact_leaves_the_dialog_without_a_route() {
    let mut h = Harness::new(&[]);
    h.app_requests("INVITE", UDP);
    let invite = h.sent_one();
    h.receive(UDP, &answer(&invite, "200 OK").replace("Contact: <sip:carol@10.0.0.3:5080>\r\n", ""));
    let (_, dialog, _) = h.app_got().remove(0);
    let refused = h.app_sends("", &dialog, "ACK sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(refused, Err("Server error: unable to find route when sending request inside dialog".to_owned()));
    assert!(h.sent().is_empty());
}

/// The metrics hooks: a request in by method, the app's answers out by CSeq method and status,
/// the time to the app's first answer, an unparseable datagram as a drop.
#[tokio::test(start_paused = true)]
async fn metrics_count_what_crosses_the_wire() {
    let mut h = Harness::new(&["invite"]);
    let txn = invite_arrives(&mut h, UDP);
    h.app_responds(&txn, "180 Ringing");
    h.app_responds(&txn, "486 Busy Here");
    h.receive(UDP, "this is not SIP\r\n\r\n");
    let metrics = h.core.config.metrics.clone().expect("metrics on in the harness");
    let text = metrics.render();
    for line in [
        "drachtio_sip_requests_in_total{method=\"INVITE\"} 1",
        "drachtio_sip_responses_out_total{method=\"INVITE\",code=\"180\"} 1",
        "drachtio_sip_responses_out_total{method=\"INVITE\",code=\"486\"} 1",
        "drachtio_dropped_messages_total{reason=\"unparseable\"} 1",
        "drachtio_app_response_seconds_count 1",
        "drachtio_message_processing_seconds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
