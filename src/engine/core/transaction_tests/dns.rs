//! Requests to names (RFC 3263, dns.rs and resolving.rs) on the paused clock, with DNS answered
//! from a table: the request waits for its lookup without holding the engine, later ones use
//! the cached answer, and a target that fails hands the request to the next one.

use super::*;
use crate::engine::dns::table::TableDns;
use crate::engine::dns::Srv;
use crate::engine::resolving::Resolver;

fn dns(h: &mut Harness) -> mpsc::UnboundedReceiver<(crate::engine::dns::Query, Result<crate::engine::dns::Targets, String>)> {
    let mut d = TableDns::default();
    d.ips.insert("carol.example".into(), vec!["10.0.0.3".parse().expect("ip")]);
    d.ips.insert("dave.example".into(), vec!["10.0.0.4".parse().expect("ip")]);
    let srv = |priority, target: &str| Srv { priority, weight: 0, port: 5080, target: target.into() };
    d.srv.insert("_sip._tcp.two.example".into(), vec![srv(2, "dave.example."), srv(1, "carol.example.")]);
    h.core.resolver = Resolver::new(std::sync::Arc::new(d));
    h.core.resolver.take_done().expect("the answers' channel")
}

impl Harness {
    /// The app sends a request to `uri`; the engine's replies so far (none while it waits).
    fn app_requests_to(&mut self, uri: &str) -> Vec<Event> {
        let raw = format!("OPTIONS {uri} SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        let cmd = self.next_cmd;
        self.next_cmd += 1;
        self.core.on_command(APP, Command::Sip { cmd, txn_id: String::new(), dialog_id: String::new(), route_uri: None, raw: raw.into_bytes(), answer_bye: false });
        self.events()
    }
}

fn txn_of(events: &[Event]) -> String {
    match events {
        [Event::Reply { status: ReplyStatus::Ok, args, .. }] => args[6].clone(),
        other => panic!("expected the request to be sent, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_to_a_name_waits_for_the_lookup_and_later_ones_use_the_answer() {
    let mut h = Harness::new(&[]);
    let mut answers = dns(&mut h);
    assert!(h.app_requests_to("sip:carol@carol.example:5080").is_empty(), "parked: no reply yet");
    assert!(h.sent().is_empty());
    let (q, a) = answers.recv().await.expect("the lookup finishes");
    h.core.on_resolved(q, a);
    txn_of(&h.events());
    assert_eq!(h.sent_one().to, callee());
    // Cached: the next one goes at once.
    txn_of(&h.app_requests_to("sip:carol@carol.example:5080"));
    assert_eq!(h.sent_one().to, callee());
    // An unknown name fails the request with the reason.
    assert!(h.app_requests_to("sip:x@nowhere.example").is_empty());
    let (q, a) = answers.recv().await.expect("the lookup finishes");
    h.core.on_resolved(q, a);
    match h.events().as_slice() {
        [Event::Reply { status: ReplyStatus::Nok, args, .. }] => assert!(args.join(" ").contains("nowhere.example"), "{args:?}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_target_that_fails_hands_the_request_to_the_next_srv_target() {
    let mut h = Harness::new(&[]);
    let mut answers = dns(&mut h);
    assert!(h.app_requests_to("sip:x@two.example;transport=tcp").is_empty());
    let (q, a) = answers.recv().await.expect("the lookup finishes");
    h.core.on_resolved(q, a);
    let txn = txn_of(&h.events());
    let first = h.sent_one();
    assert_eq!((first.to, first.protocol), (callee(), TCP), "priority 1 first");
    // carol cannot be reached: dave gets the request, a new branch, the same transaction.
    h.core.on_inbound(Inbound { protocol: TCP, local: local(), remote: callee(), bytes: Vec::new(), kind: InboundKind::Unreachable });
    let second = h.sent_one();
    assert_eq!(second.to, addr("10.0.0.4:5080"));
    assert_ne!(second.header("Via"), first.header("Via"));
    assert_eq!(second.header("Call-ID"), first.header("Call-ID"));
    assert!(h.events().is_empty(), "the app hears nothing of the retry");
    // dave answers: the app gets it under its transaction id.
    h.core.on_inbound(Inbound { protocol: TCP, local: local(), remote: addr("10.0.0.4:5080"), bytes: answer(&second, "200 OK").into_bytes(), kind: InboundKind::Message });
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 200 OK".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn the_last_target_timing_out_is_the_apps_408() {
    let mut h = Harness::new(&[]);
    let mut answers = dns(&mut h);
    h.app_requests_to("sip:x@two.example;transport=tcp");
    let (q, a) = answers.recv().await.expect("the lookup finishes");
    h.core.on_resolved(q, a);
    let txn = txn_of(&h.events());
    assert_eq!(h.sent_one().to, callee());
    h.run_until(32_000).await;
    assert_eq!(h.sent_one().to, addr("10.0.0.4:5080"), "Timer F: the next target");
    assert!(h.events().is_empty());
    h.run_until(64_000).await;
    assert_eq!(h.app_got(), [(txn, String::new(), "SIP/2.0 408 Request Timeout".to_owned())]);
    assert!(h.core.client.is_empty() && h.core.timers.is_empty());
}
