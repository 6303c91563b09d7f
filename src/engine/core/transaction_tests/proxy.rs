//! The stateful proxy (RFC 3261 §16, proxy.rs) on the paused clock: what goes on the wire
//! upstream and downstream, when, and what the proxying app hears (wire-protocol.md §8: one
//! `continue` frame per final response of each target, then `done`).
//!
//! The caller is `peer()`, the first target `callee()` (carol), the second `callee2()` (dave).

use super::*;
use crate::wire::ProxySpec;

const CAROL: &str = "sip:carol@10.0.0.3:5080";
const DAVE: &str = "sip:dave@10.0.0.4:5090";
const ROUTE: &str = "Route: <sip:127.0.0.1:5060;lr>\r\n";

/// The second target.
fn callee2() -> SocketAddr {
    addr("10.0.0.4:5090")
}

fn spec(targets: &[&str]) -> ProxySpec {
    ProxySpec {
        record_route: false,
        full_response: true,
        follow_redirects: false,
        simultaneous: false,
        provisional_timeout: String::new(),
        final_timeout: String::new(),
        destinations: targets.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// Every value of header `name`, one per header line, in order.
fn all<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.split("\r\n").take_while(|l| !l.is_empty()).filter_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(str::trim).collect()
}

fn has(text: &str, name: &str) -> bool {
    !all(text, name).is_empty()
}

/// `text` with extra header lines (each ending in CRLF) before its Content-Length.
fn with(text: &str, extra: &str) -> String {
    text.replacen("Content-Length:", &format!("{extra}Content-Length:"), 1)
}

/// The far end's answer as the second target (dave, tag `dave`) gives it.
fn answer2(request: &Out, status: &str) -> String {
    answer(request, status).replace("carol@10.0.0.3:5080", "dave@10.0.0.4:5090").replace(";tag=carol", ";tag=dave")
}

fn is_our_via(v: &str, protocol: Protocol) -> bool {
    v.starts_with(&format!("SIP/2.0/{} 127.0.0.1:5060;branch=z9hG4bK-drs", protocol.via_token())) && v.ends_with(";rport")
}

/// A new request from the caller, handed to the app: its txn. Nothing is sent upstream yet
/// (an INVITE's 100 Trying waits 100 ms for an answer).
fn arrives(h: &mut Harness, protocol: Protocol, text: &str) -> String {
    h.receive(protocol, text);
    assert!(h.sent().is_empty(), "no 100 Trying at once");
    let line = text.split("\r\n").next().unwrap_or_default().to_owned();
    h.app_request_txn(&line)
}

/// Nothing is left once every timer has run: no proxy, transaction, dialog or timer.
fn assert_clean(h: &Harness) {
    let c = &h.core;
    assert!(c.proxies.is_empty(), "proxy transactions left");
    assert!(c.server.is_empty() && c.server_keys.is_empty(), "server transactions left");
    assert!(c.client.is_empty() && c.client_keys.is_empty(), "client transactions left");
    assert!(c.dialogs.is_empty() && c.dialog_keys.is_empty(), "dialogs left");
    assert!(c.timers.is_empty(), "timers left");
}

impl Harness {
    /// A message from the network from `remote`.
    fn receive_from(&mut self, protocol: Protocol, remote: SocketAddr, text: &str) {
        self.core.on_inbound(Inbound { protocol, local: local(), remote, bytes: text.as_bytes().to_vec(), kind: InboundKind::Message });
    }

    /// The app proxies `txn` (wire-protocol.md §8); the command's id.
    fn proxy(&mut self, txn: &str, spec: ProxySpec) -> CmdId {
        self.proxy_with(txn, spec, "")
    }

    /// Same, with `headers` (lines ending in CRLF) in the pseudo-request.
    fn proxy_with(&mut self, txn: &str, spec: ProxySpec, headers: &str) -> CmdId {
        let cmd = self.next_cmd;
        self.next_cmd += 1;
        let first = spec.destinations.first().cloned().unwrap_or_default();
        let raw = format!("INVITE {first} SIP/2.0\r\n{headers}Content-Length: 0\r\n\r\n").into_bytes();
        self.core.on_command(APP, Command::Proxy { cmd, txn_id: txn.to_owned(), spec, raw });
        cmd
    }

    /// The replies to proxy command `cmd` since the last call, each with its raw message:
    /// `continue <status> <proto> <ip>:<port>`, `done` or `NOK <reason>`. Any other event fails.
    fn frames_raw(&mut self, cmd: CmdId) -> Vec<(String, Option<String>)> {
        self.events()
            .into_iter()
            .map(|e| match e {
                Event::Reply { cmd: c, status: ReplyStatus::Ok, args, raw: Some(raw), more: true } if c == cmd => {
                    assert_eq!(args.len(), 9, "{args:?}");
                    assert_eq!((args[0].as_str(), args[6].as_str(), args[7].as_str(), args[8].as_str()), ("network", "", "", "continue"));
                    assert_eq!(args[1], raw.len().to_string(), "the length token is the message's");
                    assert!(!args[5].is_empty(), "a time");
                    let status = start_line(&raw).split(' ').nth(1).unwrap_or_default().to_owned();
                    (format!("continue {status} {} {}:{}", args[2], args[3], args[4]), Some(String::from_utf8_lossy(&raw).into_owned()))
                }
                Event::Reply { cmd: c, status: ReplyStatus::Ok, args, raw: None, more: false } if c == cmd && args == ["done"] => ("done".to_owned(), None),
                Event::Reply { cmd: c, status: ReplyStatus::Nok, args, raw: None, more: false } if c == cmd => (format!("NOK {}", args.join(" ")), None),
                other => panic!("expected only replies to proxy command {cmd}, got {other:?}"),
            })
            .collect()
    }

    fn frames(&mut self, cmd: CmdId) -> Vec<String> {
        self.frames_raw(cmd).into_iter().map(|(f, _)| f).collect()
    }

    /// (start line, protocol, destination) of what the core sent since the last call.
    fn sent_to(&mut self) -> Vec<(String, Protocol, SocketAddr)> {
        self.sent().iter().map(|o| (o.line().to_owned(), o.protocol, o.to)).collect()
    }
}

fn line_to(line: &str, protocol: Protocol, to: SocketAddr) -> (String, Protocol, SocketAddr) {
    (line.to_owned(), protocol, to)
}

// ---- 1. One target, record-routed, and the dialog's requests through us ----

#[tokio::test(start_paused = true)]
async fn single_target_record_routed_call_and_in_dialog_requests_through_us() {
    let mut h = Harness::new(&["invite"]);
    // The caller is behind a NAT: its Via names a private address and asks for rport.
    let inv = invite(UDP).replace("SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-invite", "SIP/2.0/UDP 192.168.1.2:5999;branch=z9hG4bK-invite;rport");
    let stamped = "SIP/2.0/UDP 192.168.1.2:5999;branch=z9hG4bK-invite;rport=5070;received=10.0.0.2";
    let txn = arrives(&mut h, UDP, &inv);
    let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&[CAROL]) });

    let fwd = h.sent_one();
    assert_eq!((fwd.ms, fwd.line(), fwd.protocol, fwd.to), (0, "INVITE sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee()), "our URI is replaced by the target");
    let vias = all(&fwd.text, "Via");
    assert_eq!(vias.len(), 2, "{vias:?}");
    assert!(is_our_via(vias[0], UDP), "our Via on top: {}", vias[0]);
    assert_eq!(vias[1], stamped, "the caller's Via, stamped with where it came from");
    assert_eq!(fwd.header("Max-Forwards"), "69");
    assert_eq!(all(&fwd.text, "Record-Route"), ["<sip:127.0.0.1:5060;lr>"]);
    assert_eq!(
        (fwd.header("From"), fwd.header("To"), fwd.header("Call-ID"), fwd.header("CSeq"), fwd.header("Contact")),
        ("<sip:alice@10.0.0.2>;tag=alice", "<sip:bob@127.0.0.1>", "call-1", "1 INVITE", "<sip:alice@10.0.0.2:5070>")
    );
    assert!(!has(&fwd.text, "Route"));
    assert!(h.frames(cmd).is_empty());

    h.run_until(100).await;
    let trying = h.sent_one();
    assert_eq!((trying.ms, trying.line(), trying.protocol, trying.to), (100, "SIP/2.0 100 Trying", UDP, peer()), "nothing answered in 100 ms: our own 100");
    assert_eq!(all(&trying.text, "Via"), [stamped]);
    h.receive(UDP, &answer(&fwd, "100 Trying"));
    assert!(h.sent().is_empty(), "a downstream 100 is not forwarded (ours went already)");
    h.receive(UDP, &answer(&fwd, "180 Ringing"));
    let ringing = h.sent_one();
    assert_eq!((ringing.ms, ringing.line(), ringing.protocol, ringing.to), (100, "SIP/2.0 180 Ringing", UDP, peer()));
    assert_eq!(all(&ringing.text, "Via"), [stamped], "our Via removed");
    assert_eq!(ringing.header("To"), "<sip:bob@127.0.0.1>;tag=carol");
    assert!(h.frames(cmd).is_empty(), "provisionals are not reported to the app");

    h.run_until(1000).await;
    h.receive(UDP, &with(&answer(&fwd, "200 OK"), "Record-Route: <sip:127.0.0.1:5060;lr>\r\n"));
    let ok = h.sent_one();
    assert_eq!((ok.ms, ok.line(), ok.to), (1000, "SIP/2.0 200 OK", peer()));
    assert_eq!(all(&ok.text, "Via"), [stamped]);
    assert_eq!((ok.header("Record-Route"), ok.header("Contact")), ("<sip:127.0.0.1:5060;lr>", "<sip:carol@10.0.0.3:5080>"));
    let frames = h.frames_raw(cmd);
    assert_eq!(frames.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["continue 200 udp 10.0.0.3:5080", "done"]);
    assert_eq!(frames[0].1.as_deref(), Some(ok.text.as_str()), "the app gets the 200 as relayed");
    assert!(h.core.proxies.is_empty() && h.core.client.is_empty() && h.core.dialogs.is_empty(), "a proxy forms no dialog of its own");

    // The caller's ACK for the 2xx, routed through us: forwarded statelessly.
    let ack = with(&request("ACK", UDP, "z9hG4bK-ack2xx", "1 ACK", Some("carol")).replacen("sip:bob@127.0.0.1:5060", CAROL, 1), ROUTE);
    h.receive(UDP, &ack);
    let fwd_ack = h.sent_one();
    assert_eq!((fwd_ack.line(), fwd_ack.protocol, fwd_ack.to), ("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee()));
    let vias = all(&fwd_ack.text, "Via");
    assert!(vias.len() == 2 && is_our_via(vias[0], UDP) && vias[1] == "SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-ack2xx", "{vias:?}");
    assert!(!has(&fwd_ack.text, "Route"), "our Route is spent");
    assert_eq!(fwd_ack.header("Max-Forwards"), "69");
    assert!(h.core.client.is_empty() && h.core.server.len() == 1, "no transaction for an ACK");
    assert!(h.events().is_empty(), "the app hears nothing of the dialog");

    // The caller's BYE: forwarded on a transaction of its own; the callee's 200 goes back.
    h.run_until(5000).await;
    let bye = with(&request("BYE", UDP, "z9hG4bK-bye", "2 BYE", Some("carol")).replacen("sip:bob@127.0.0.1:5060", CAROL, 1), ROUTE);
    h.receive(UDP, &bye);
    let fwd_bye = h.sent_one();
    assert_eq!((fwd_bye.ms, fwd_bye.line(), fwd_bye.to), (5000, "BYE sip:carol@10.0.0.3:5080 SIP/2.0", callee()));
    let vias = all(&fwd_bye.text, "Via");
    assert!(vias.len() == 2 && is_our_via(vias[0], UDP) && vias[1] == "SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-bye", "{vias:?}");
    assert!(!has(&fwd_bye.text, "Route"));
    assert!(!has(&fwd_bye.text, "Record-Route"));
    assert_eq!((fwd_bye.header("Max-Forwards"), fwd_bye.header("CSeq"), fwd_bye.header("To")), ("69", "2 BYE", "<sip:bob@127.0.0.1>;tag=carol"));
    h.receive(UDP, &answer(&fwd_bye, "200 OK").replace(";tag=carol;tag=carol", ";tag=carol"));
    let bye_ok = h.sent_one();
    assert_eq!((bye_ok.line(), bye_ok.to), ("SIP/2.0 200 OK", peer()));
    assert_eq!((all(&bye_ok.text, "Via"), bye_ok.header("CSeq")), (vec!["SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-bye"], "2 BYE"));
    assert!(h.events().is_empty());

    // The proxy keeps no dialog state: a BYE from the callee's side comes back through us too.
    let callee_bye = format!(
        "BYE sip:alice@10.0.0.2:5070 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-cbye\r\n\
         Max-Forwards: 70\r\n\
         {ROUTE}\
         From: <sip:bob@127.0.0.1>;tag=carol\r\n\
         To: <sip:alice@10.0.0.2>;tag=alice\r\n\
         Call-ID: call-1\r\n\
         CSeq: 7 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    h.receive_from(UDP, callee(), &callee_bye);
    let fwd_cbye = h.sent_one();
    assert_eq!((fwd_cbye.line(), fwd_cbye.to), ("BYE sip:alice@10.0.0.2:5070 SIP/2.0", peer()));
    let vias = all(&fwd_cbye.text, "Via");
    assert!(vias.len() == 2 && is_our_via(vias[0], UDP) && vias[1] == "SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-cbye", "{vias:?}");
    assert!(!has(&fwd_cbye.text, "Route"));
    h.receive_from(UDP, peer(), &answer(&fwd_cbye, "200 OK").replace(";tag=alice;tag=carol", ";tag=alice"));
    let cbye_ok = h.sent_one();
    assert_eq!((cbye_ok.line(), cbye_ok.to), ("SIP/2.0 200 OK", callee()));
    assert_eq!(all(&cbye_ok.text, "Via"), ["SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-cbye"]);
    assert!(h.events().is_empty());

    h.run_until(70_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn a_request_uri_that_is_not_ours_is_kept_and_the_target_is_the_next_hop() {
    let mut h = Harness::new(&["invite"]);
    let inv = invite(UDP).replacen("INVITE sip:bob@127.0.0.1:5060", "INVITE sip:bob@example.com", 1);
    let txn = arrives(&mut h, UDP, &inv);
    let cmd = h.proxy(&txn, spec(&[CAROL]));
    let fwd = h.sent_one();
    assert_eq!((fwd.line(), fwd.to), ("INVITE sip:bob@example.com SIP/2.0", callee()));
    assert!(!has(&fwd.text, "Record-Route"), "no Record-Route without remainInDialog");
    h.receive(UDP, &answer(&fwd, "200 OK"));
    assert_eq!(h.sent_one().line(), "SIP/2.0 200 OK");
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);
    h.run_until(40_000).await;
    assert_clean(&h);
}

// ---- 1b. The 100 Trying upstream waits 100 ms for the targets ----

#[tokio::test(start_paused = true)]
async fn a_proxied_invite_whose_target_rings_within_100_ms_gets_no_100_upstream() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&[CAROL]) });
    let fwd = h.sent_one();
    h.run_until(60).await;
    h.receive(UDP, &answer(&fwd, "180 Ringing"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 180 Ringing", UDP, peer())]);
    h.run_until(1000).await;
    assert!(h.sent().is_empty(), "no 100 Trying upstream after the 180 (and no Timer A in Proceeding)");
    h.receive(UDP, &answer(&fwd, "200 OK"));
    assert_eq!(h.sent_lines(), at(&[1000], "SIP/2.0 200 OK"));
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);

    // A re-INVITE routed through us, answered within 100 ms: no 100 either.
    let reinvite = |branch: &str, cseq: &str| with(&request("INVITE", UDP, branch, cseq, Some("carol")).replacen("sip:bob@127.0.0.1:5060", CAROL, 1), ROUTE);
    h.run_until(2000).await;
    h.receive(UDP, &reinvite("z9hG4bK-re1", "2 INVITE"));
    let fwd_re = h.sent_one();
    assert_eq!((fwd_re.ms, fwd_re.line(), fwd_re.to), (2000, "INVITE sip:carol@10.0.0.3:5080 SIP/2.0", callee()));
    h.run_until(2030).await;
    h.receive(UDP, &answer(&fwd_re, "200 OK").replace(";tag=carol;tag=carol", ";tag=carol"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, peer())]);
    h.run_until(3000).await;
    assert!(h.sent().is_empty());

    // One the callee leaves unanswered: our 100 upstream at 100 ms, and its 200 after.
    h.receive(UDP, &reinvite("z9hG4bK-re2", "3 INVITE"));
    let fwd_re = h.sent_one();
    h.run_until(3099).await;
    assert!(h.sent().is_empty());
    h.run_until(3100).await;
    let trying = h.sent_one();
    assert_eq!((trying.ms, trying.line(), trying.to, trying.header("CSeq")), (3100, "SIP/2.0 100 Trying", peer(), "3 INVITE"));
    assert_eq!(all(&trying.text, "Via"), ["SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-re2"]);
    h.run_until(3200).await;
    h.receive(UDP, &answer(&fwd_re, "200 OK").replace(";tag=carol;tag=carol", ";tag=carol"));
    assert_eq!(h.sent_lines(), at(&[3200], "SIP/2.0 200 OK"));
    assert!(h.events().is_empty(), "the app hears nothing of the dialog");
    h.run_until(80_000).await;
    assert!(h.sent().is_empty());
    assert_clean(&h);
}

// ---- 2. Changing transport: two Record-Routes ----

#[tokio::test(start_paused = true)]
async fn tcp_in_udp_out_record_routes_twice_and_routes_back_over_tcp() {
    let mut h = Harness::new(&["invite"]);
    let inv = invite(TCP).replace("<sip:alice@10.0.0.2:5070>", "<sip:alice@10.0.0.2:5070;transport=tcp>");
    let txn = arrives(&mut h, TCP, &inv);
    let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&[CAROL]) });
    let fwd = h.sent_one();
    assert_eq!((fwd.line(), fwd.protocol, fwd.to), ("INVITE sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee()));
    assert!(is_our_via(all(&fwd.text, "Via")[0], UDP));
    assert_eq!(all(&fwd.text, "Record-Route"), ["<sip:127.0.0.1:5060;lr>", "<sip:127.0.0.1:5060;transport=tcp;lr>"], "the one facing the target on top");
    h.receive(UDP, &with(&answer(&fwd, "200 OK"), "Record-Route: <sip:127.0.0.1:5060;lr>\r\nRecord-Route: <sip:127.0.0.1:5060;transport=tcp;lr>\r\n"));
    let ok = h.sent_one();
    assert_eq!((ok.line(), ok.protocol, ok.to), ("SIP/2.0 200 OK", TCP, peer()), "back the way the INVITE came");
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);

    // The caller's route set is the Record-Routes reversed: both entries are ours.
    let routes = "Route: <sip:127.0.0.1:5060;transport=tcp;lr>\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n";
    let bye = with(&request("BYE", TCP, "z9hG4bK-bye", "2 BYE", Some("carol")).replacen("sip:bob@127.0.0.1:5060", CAROL, 1), routes);
    h.receive(TCP, &bye);
    let fwd_bye = h.sent_one();
    assert_eq!((fwd_bye.line(), fwd_bye.protocol, fwd_bye.to), ("BYE sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee()));
    assert!(!has(&fwd_bye.text, "Route"), "both of our Routes are removed");
    h.receive(UDP, &answer(&fwd_bye, "200 OK").replace(";tag=carol;tag=carol", ";tag=carol"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", TCP, peer())]);

    // The callee's route set is the Record-Routes in order; its BYE goes to the caller over TCP.
    let callee_bye = "BYE sip:alice@10.0.0.2:5070;transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bK-cbye\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:127.0.0.1:5060;lr>\r\n\
         Route: <sip:127.0.0.1:5060;transport=tcp;lr>\r\n\
         From: <sip:bob@127.0.0.1>;tag=carol\r\n\
         To: <sip:alice@10.0.0.2>;tag=alice\r\n\
         Call-ID: call-1\r\n\
         CSeq: 7 BYE\r\n\
         Content-Length: 0\r\n\r\n";
    h.receive_from(UDP, callee(), callee_bye);
    let fwd_cbye = h.sent_one();
    assert_eq!((fwd_cbye.line(), fwd_cbye.protocol, fwd_cbye.to), ("BYE sip:alice@10.0.0.2:5070;transport=tcp SIP/2.0", TCP, peer()));
    assert!(is_our_via(all(&fwd_cbye.text, "Via")[0], TCP));
    assert!(!has(&fwd_cbye.text, "Route"));
    h.receive_from(TCP, peer(), &answer(&fwd_cbye, "200 OK").replace(";tag=alice;tag=carol", ";tag=alice"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, callee())]);

    h.run_until(70_000).await;
    assert!(h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn udp_in_tcp_out_record_routes_twice_tcp_on_top() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&["sip:carol@10.0.0.3:5080;transport=tcp"]) });
    let fwd = h.sent_one();
    assert_eq!((fwd.line(), fwd.protocol, fwd.to), ("INVITE sip:carol@10.0.0.3:5080;transport=tcp SIP/2.0", TCP, callee()));
    assert!(is_our_via(all(&fwd.text, "Via")[0], TCP));
    assert_eq!(all(&fwd.text, "Record-Route"), ["<sip:127.0.0.1:5060;transport=tcp;lr>", "<sip:127.0.0.1:5060;lr>"]);
    h.run_until(10_000).await;
    assert_eq!(h.sent_lines(), at(&[100], "SIP/2.0 100 Trying"), "no Timer A over TCP; our 100 upstream at 100 ms");
    h.receive(TCP, &answer(&fwd, "486 Busy Here"));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080;transport=tcp SIP/2.0", TCP, callee()), line_to("SIP/2.0 486 Busy Here", UDP, peer())]);
    assert_eq!(h.frames(cmd), ["continue 486 tcp 10.0.0.3:5080", "done"]);
    h.run_until(80_000).await;
    assert_clean(&h);
}

// ---- 3, 4. Serial targets ----

#[tokio::test(start_paused = true)]
async fn serial_failover_tries_the_next_target_and_the_caller_sees_only_the_200() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, spec(&[CAROL, DAVE]));
    let first = h.sent_one();
    assert_eq!((first.line(), first.to), ("INVITE sip:carol@10.0.0.3:5080 SIP/2.0", callee()));

    h.run_until(200).await;
    h.receive(UDP, &answer(&first, "503 Service Unavailable"));
    let sent = h.sent();
    assert_eq!(
        sent.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(),
        [(100, "SIP/2.0 100 Trying", peer()), (200, "ACK sip:carol@10.0.0.3:5080 SIP/2.0", callee()), (200, "INVITE sip:dave@10.0.0.4:5090 SIP/2.0", callee2())]
    );
    let (ack, second) = (&sent[1], &sent[2]);
    assert_eq!(ack.header("Via"), first.header("Via"), "the ACK is hop-by-hop, on the INVITE's branch (§17.1.1.3)");
    assert_eq!((ack.header("To"), ack.header("CSeq")), ("<sip:bob@127.0.0.1>;tag=carol", "1 ACK"));
    assert_ne!(second.header("Via"), first.header("Via"), "a branch per target");
    assert_eq!(second.header("Max-Forwards"), "69");
    assert_eq!(h.frames(cmd), ["continue 503 udp 10.0.0.3:5080"]);
    h.core.on_command(APP, Command::Stats { cmd: 99 });
    match h.events().as_slice() {
        [Event::Reply { cmd: 99, args, .. }] => assert_eq!(args, &["0", "1", "2", "0", "1"], "dialogs, server, client (carol's completed, dave's), pending, proxies"),
        other => panic!("expected the stats reply, got {other:?}"),
    }

    h.receive_from(UDP, callee2(), &answer2(second, "180 Ringing"));
    h.receive_from(UDP, callee2(), &answer2(second, "200 OK"));
    let upstream = h.sent();
    assert_eq!(upstream.iter().map(|o| (o.line(), o.to)).collect::<Vec<_>>(), [("SIP/2.0 180 Ringing", peer()), ("SIP/2.0 200 OK", peer())], "never the 503");
    assert_eq!(upstream[1].header("To"), "<sip:bob@127.0.0.1>;tag=dave");
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.4:5090", "done"]);

    // A retransmitted 503 is ACKed again by the branch's transaction, never forwarded.
    h.receive(UDP, &answer(&first, "503 Service Unavailable"));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee())]);
    h.run_until(40_000).await;
    assert!(h.events().is_empty());
    assert_clean(&h);
}

/// Two targets fail with `first` then `second`: the caller gets `best` once (and its ACK is
/// absorbed), the app hears both and `done`.
async fn all_fail(first_status: &str, second_status: &str, best: &str) {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, spec(&[CAROL, DAVE]));
    let first = h.sent_one();
    h.receive(UDP, &answer(&first, first_status));
    let second = h.sent().pop().expect("the second INVITE");
    assert_eq!(second.line(), "INVITE sip:dave@10.0.0.4:5090 SIP/2.0");
    h.run_until(100).await;
    assert_eq!(h.sent_lines(), at(&[100], "SIP/2.0 100 Trying"), "neither target answered upstream in 100 ms");
    h.receive_from(UDP, callee2(), &answer2(&second, second_status));
    let sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.line(), o.to)).collect::<Vec<_>>(), [("ACK sip:dave@10.0.0.4:5090 SIP/2.0", callee2()), (format!("SIP/2.0 {best}").as_str(), peer())]);
    let final_ = &sent[1];
    assert_eq!(all(&final_.text, "Via"), [format!("SIP/2.0/UDP 10.0.0.2:5070;branch={INVITE_BRANCH}")]);
    let code = |s: &str| s.split(' ').next().unwrap_or_default().to_owned();
    assert_eq!(h.frames(cmd), [format!("continue {} udp 10.0.0.3:5080", code(first_status)), format!("continue {} udp 10.0.0.4:5090", code(second_status)), "done".to_owned()]);

    h.receive(UDP, &ack_for(UDP, final_));
    assert!(h.sent().is_empty(), "the caller's ACK is absorbed");
    h.run_until(1000).await;
    assert!(h.sent().is_empty(), "and stopped Timer G");
    h.run_until(40_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn all_targets_fail_and_the_later_of_equally_ranked_finals_goes_upstream() {
    all_fail("486 Busy Here", "404 Not Found", "404 Not Found").await;
}

#[tokio::test(start_paused = true)]
async fn all_targets_fail_and_a_4xx_beats_a_later_5xx() {
    all_fail("404 Not Found", "503 Service Unavailable", "404 Not Found").await;
}

#[tokio::test(start_paused = true)]
async fn all_targets_fail_and_an_incomplete_address_beats_a_later_busy() {
    all_fail("484 Address Incomplete", "486 Busy Here", "484 Address Incomplete").await;
}

#[tokio::test(start_paused = true)]
async fn a_6xx_ends_serial_failover() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, spec(&[CAROL, DAVE]));
    let first = h.sent_one();
    h.receive(UDP, &answer(&first, "603 Decline"));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee()), line_to("SIP/2.0 603 Decline", UDP, peer())], "dave is never tried");
    assert_eq!(h.frames(cmd), ["continue 603 udp 10.0.0.3:5080", "done"]);
    h.run_until(40_000).await;
    assert_clean(&h);
}

// ---- 5, 6. Simultaneous forking and CANCEL ----

/// An INVITE proxied to carol and dave at once, both ringing: (cmd, carol's INVITE, dave's).
fn forked_and_ringing(h: &mut Harness) -> (CmdId, Out, Out) {
    let txn = arrives(h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { simultaneous: true, ..spec(&[CAROL, DAVE]) });
    let mut sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(), [(0, "INVITE sip:carol@10.0.0.3:5080 SIP/2.0", callee()), (0, "INVITE sip:dave@10.0.0.4:5090 SIP/2.0", callee2())]);
    assert_ne!(sent[0].header("Via"), sent[1].header("Via"), "a branch per target");
    let (b, a) = (sent.pop().expect("dave"), sent.pop().expect("carol"));
    h.receive(UDP, &answer(&a, "180 Ringing"));
    h.receive_from(UDP, callee2(), &answer2(&b, "180 Ringing"));
    let ringing = h.sent();
    assert_eq!(ringing.iter().map(|o| (o.line(), o.to, o.header("To"))).collect::<Vec<_>>(), [("SIP/2.0 180 Ringing", peer(), "<sip:bob@127.0.0.1>;tag=carol"), ("SIP/2.0 180 Ringing", peer(), "<sip:bob@127.0.0.1>;tag=dave")], "every fork's provisional goes upstream");
    assert!(h.frames(cmd).is_empty());
    (cmd, a, b)
}

#[tokio::test(start_paused = true)]
async fn simultaneous_forking_a_200_cancels_the_other_branch() {
    let mut h = Harness::new(&["invite"]);
    let (cmd, a, b) = forked_and_ringing(&mut h);
    h.run_until(1000).await;
    h.receive(UDP, &answer(&a, "200 OK"));
    let sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.line(), o.to)).collect::<Vec<_>>(), [("SIP/2.0 200 OK", peer()), ("CANCEL sip:dave@10.0.0.4:5090 SIP/2.0", callee2())]);
    let cancel = &sent[1];
    assert_eq!(all(&cancel.text, "Via"), [b.header("Via")], "the CANCEL has the INVITE's top Via only (§9.1)");
    assert_eq!((cancel.header("CSeq"), cancel.header("Call-ID")), ("1 CANCEL", "call-1"));
    assert_eq!(cancel.header("Reason"), "SIP;cause=200;text=\"Call completed elsewhere\"");
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);

    h.receive_from(UDP, callee2(), &answer2(cancel, "200 OK"));
    assert!(h.sent().is_empty(), "the 200 to our CANCEL stays here");
    h.receive_from(UDP, callee2(), &answer2(&b, "487 Request Terminated"));
    let ack = h.sent_one();
    assert_eq!((ack.line(), ack.to, ack.header("Via")), ("ACK sip:dave@10.0.0.4:5090 SIP/2.0", callee2(), b.header("Via")));
    assert_eq!(ack.header("To"), "<sip:bob@127.0.0.1>;tag=dave");
    assert!(h.events().is_empty(), "done was said once; the 487 is not reported after it");
    h.run_until(40_000).await;
    assert!(h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn simultaneous_forking_a_second_2xx_racing_our_cancel_is_relayed_at_once() {
    // §16.7 step 10 (and proxy.rs's own comment): every 2xx to an INVITE goes upstream, also
    // one from a fork we were cancelling, so that the caller can ACK and BYE it.
    let mut h = Harness::new(&["invite"]);
    let (cmd, a, b) = forked_and_ringing(&mut h);
    h.receive(UDP, &answer(&a, "200 OK"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, peer()), line_to("CANCEL sip:dave@10.0.0.4:5090 SIP/2.0", UDP, callee2())]);
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);
    h.run_until(10).await;
    h.receive_from(UDP, callee2(), &answer2(&b, "200 OK"));
    let relayed = h.sent();
    assert_eq!(relayed.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(), [(10, "SIP/2.0 200 OK", peer())], "dave's 2xx goes upstream when it arrives");
    assert_eq!(relayed[0].header("To"), "<sip:bob@127.0.0.1>;tag=dave");
    assert!(h.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn callers_cancel_during_forking_cancels_every_branch_and_absorbs_their_487s() {
    let mut h = Harness::new(&["invite"]);
    let (cmd, a, b) = forked_and_ringing(&mut h);
    h.run_until(3000).await;
    h.receive(UDP, &request("CANCEL", UDP, INVITE_BRANCH, "1 CANCEL", None));
    let sent = h.sent();
    assert_eq!(
        sent.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(),
        [
            (3000, "SIP/2.0 200 OK", peer()),
            (3000, "CANCEL sip:carol@10.0.0.3:5080 SIP/2.0", callee()),
            (3000, "CANCEL sip:dave@10.0.0.4:5090 SIP/2.0", callee2()),
            (3000, "SIP/2.0 487 Request Terminated", peer()),
        ]
    );
    let (cancel_ok, cancel_a, cancel_b, terminated) = (&sent[0], &sent[1], &sent[2], &sent[3]);
    assert_eq!(cancel_ok.header("CSeq"), "1 CANCEL");
    assert_eq!(terminated.header("CSeq"), "1 INVITE");
    assert_eq!(to_tag(&cancel_ok.text), to_tag(&terminated.text), "the 200 to CANCEL carries the INVITE's final's tag (§9.2)");
    assert_eq!((all(&cancel_a.text, "Via"), all(&cancel_b.text, "Via")), (vec![a.header("Via")], vec![b.header("Via")]));
    assert!(h.frames(cmd).is_empty(), "done waits for the branches' finals");

    for (who, invite, cancel) in [(callee(), &a, cancel_a), (callee2(), &b, cancel_b)] {
        let respond = |o: &Out, s: &str| if who == callee() { answer(o, s) } else { answer2(o, s) };
        h.receive_from(UDP, who, &respond(cancel, "200 OK"));
        h.receive_from(UDP, who, &respond(invite, "487 Request Terminated"));
        let ack = h.sent_one();
        assert_eq!((ack.line().starts_with("ACK "), ack.to, ack.header("Via")), (true, who, invite.header("Via")));
    }
    assert_eq!(h.frames(cmd), ["continue 487 udp 10.0.0.3:5080", "continue 487 udp 10.0.0.4:5090", "done"]);
    h.receive(UDP, &ack_for(UDP, terminated));
    assert!(h.sent().is_empty(), "the caller's ACK is absorbed");
    h.run_until(40_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn callers_cancel_reports_each_branch_final_before_done() {
    let mut h = Harness::new(&["invite"]);
    let (cmd, a, b) = forked_and_ringing(&mut h);
    h.receive(UDP, &request("CANCEL", UDP, INVITE_BRANCH, "1 CANCEL", None));
    let sent = h.sent();
    assert!(h.frames(cmd).is_empty(), "targets are still pending");
    h.receive_from(UDP, callee(), &answer(&sent[1], "200 OK"));
    h.receive_from(UDP, callee(), &answer(&a, "487 Request Terminated"));
    h.receive_from(UDP, callee2(), &answer2(&sent[2], "200 OK"));
    h.receive_from(UDP, callee2(), &answer2(&b, "487 Request Terminated"));
    assert_eq!(h.frames(cmd), ["continue 487 udp 10.0.0.3:5080", "continue 487 udp 10.0.0.4:5090", "done"]);
}

// ---- 7, 8, 9. Timeouts ----

#[tokio::test(start_paused = true)]
async fn provisional_timeout_moves_on_and_a_late_provisional_is_cancelled() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { provisional_timeout: "1s".into(), ..spec(&[CAROL, DAVE]) });
    let a = h.sent_one();
    h.run_until(999).await;
    assert_eq!(
        h.sent_lines(),
        [(100, "SIP/2.0 100 Trying".to_owned()), (500, "INVITE sip:carol@10.0.0.3:5080 SIP/2.0".to_owned())],
        "our 100 upstream and Timer A only"
    );
    assert!(h.frames(cmd).is_empty());
    h.run_until(1000).await;
    let b = h.sent_one();
    assert_eq!((b.ms, b.line(), b.to), (1000, "INVITE sip:dave@10.0.0.4:5090 SIP/2.0", callee2()));
    assert!(h.frames(cmd).is_empty(), "a target that gave no final is not reported (nothing was received from it)");

    h.run_until(1100).await;
    h.receive_from(UDP, callee2(), &answer2(&b, "180 Ringing"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 180 Ringing", UDP, peer())]);
    h.run_until(1200).await;
    h.receive(UDP, &answer(&a, "100 Trying"));
    let cancel = h.sent_one();
    assert_eq!((cancel.ms, cancel.line(), cancel.to, cancel.header("Via")), (1200, "CANCEL sip:carol@10.0.0.3:5080 SIP/2.0", callee(), a.header("Via")));
    h.receive(UDP, &answer(&cancel, "200 OK"));
    h.receive(UDP, &answer(&a, "487 Request Terminated"));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee())], "ACKed, not forwarded");
    assert!(h.frames(cmd).is_empty(), "carol's final was reported already (as the 408)");

    h.receive_from(UDP, callee2(), &answer2(&b, "200 OK"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, peer())]);
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.4:5090", "done"]);
    h.run_until(40_000).await;
    assert!(h.sent().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn a_given_up_branch_is_cancelled_even_after_another_target_answered() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { provisional_timeout: "1s".into(), ..spec(&[CAROL, DAVE]) });
    let a = h.sent_one();
    h.run_until(1000).await;
    let mut sent = h.sent();
    assert_eq!(
        sent.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(),
        [(100, "SIP/2.0 100 Trying", peer()), (500, "INVITE sip:carol@10.0.0.3:5080 SIP/2.0", callee()), (1000, "INVITE sip:dave@10.0.0.4:5090 SIP/2.0", callee2())]
    );
    let b = sent.pop().expect("dave's INVITE");
    h.receive_from(UDP, callee2(), &answer2(&b, "200 OK"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, peer())]);
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.4:5090", "done"]);
    // Carol wakes up: she must be cancelled (§9.1, §16.7 step 10's "cancel all pending").
    h.run_until(1200).await;
    h.receive(UDP, &answer(&a, "180 Ringing"));
    assert_eq!(h.sent_to(), [line_to("CANCEL sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee())]);
}

#[tokio::test(start_paused = true)]
async fn final_timeout_cancels_a_ringing_target_and_the_caller_gets_408() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { final_timeout: "2s".into(), ..spec(&[CAROL]) });
    let a = h.sent_one();
    h.run_until(100).await;
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 100 Trying", UDP, peer())], "carol rang too late to spare our 100");
    h.receive(UDP, &answer(&a, "180 Ringing"));
    assert_eq!(h.sent_one().line(), "SIP/2.0 180 Ringing");
    h.run_until(1999).await;
    assert!(h.sent().is_empty());
    h.run_until(2000).await;
    let sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(), [(2000, "CANCEL sip:carol@10.0.0.3:5080 SIP/2.0", callee()), (2000, "SIP/2.0 408 Request Timeout", peer())]);
    assert_eq!(sent[0].header("Reason"), "SIP;cause=408;text=\"Request Timeout\"");
    assert_eq!(all(&sent[1].text, "Via"), [format!("SIP/2.0/UDP 10.0.0.2:5070;branch={INVITE_BRANCH}")]);
    assert_eq!(h.frames(cmd), ["done"]);

    h.receive(UDP, &answer(&sent[0], "200 OK"));
    h.receive(UDP, &answer(&a, "487 Request Terminated"));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee())]);
    h.receive(UDP, &ack_for(UDP, &sent[1]));
    h.run_until(40_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn final_timeout_moves_on_to_the_next_target() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { final_timeout: "2s".into(), ..spec(&[CAROL, DAVE]) });
    let a = h.sent_one();
    h.receive(UDP, &answer(&a, "180 Ringing"));
    h.sent_one();
    h.run_until(2000).await;
    let sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.ms, o.line(), o.to)).collect::<Vec<_>>(), [(2000, "CANCEL sip:carol@10.0.0.3:5080 SIP/2.0", callee()), (2000, "INVITE sip:dave@10.0.0.4:5090 SIP/2.0", callee2())]);
    assert!(h.frames(cmd).is_empty());
    h.run_until(2400).await;
    h.receive_from(UDP, callee2(), &answer2(&sent[1], "200 OK"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, peer())]);
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.4:5090", "done"]);
    h.receive(UDP, &answer(&sent[0], "200 OK"));
    h.receive(UDP, &answer(&a, "487 Request Terminated"));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee())]);
    h.run_until(40_000).await;
    assert!(h.events().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn timer_b_on_a_silent_only_target_gives_the_caller_408() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, spec(&[CAROL]));
    h.run_until(31_999).await;
    let mut expected = at(&[0, 500, 1500, 3500, 7500, 15500, 31500], "INVITE sip:carol@10.0.0.3:5080 SIP/2.0");
    expected.insert(1, (100, "SIP/2.0 100 Trying".to_owned()));
    assert_eq!(h.sent_lines(), expected, "Timer A doubles without a cap; our 100 upstream at 100 ms");
    assert!(h.frames(cmd).is_empty());
    h.run_until(32_000).await;
    let timeout = h.sent_one();
    assert_eq!((timeout.ms, timeout.line(), timeout.to), (32_000, "SIP/2.0 408 Request Timeout", peer()));
    assert_eq!(h.frames(cmd), ["done"]);
    assert!(h.core.proxies.is_empty() && h.core.client.is_empty());
    h.receive(UDP, &ack_for(UDP, &timeout));
    h.run_until(80_000).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    assert_clean(&h);
}

// ---- 10. Redirects ----

#[tokio::test(start_paused = true)]
async fn follow_redirects_tries_the_contact() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { follow_redirects: true, ..spec(&[CAROL]) });
    let a = h.sent_one();
    h.receive(UDP, &answer(&a, "302 Moved Temporarily").replace("<sip:carol@10.0.0.3:5080>", "<sip:dave@10.0.0.4:5090>;q=0.5"));
    let sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.line(), o.to)).collect::<Vec<_>>(), [("ACK sip:carol@10.0.0.3:5080 SIP/2.0", callee()), ("INVITE sip:dave@10.0.0.4:5090 SIP/2.0", callee2())]);
    assert_eq!(h.frames(cmd), ["continue 302 udp 10.0.0.3:5080"]);
    h.receive_from(UDP, callee2(), &answer2(&sent[1], "200 OK"));
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 200 OK", UDP, peer())]);
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.4:5090", "done"]);
    h.run_until(40_000).await;
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn without_follow_redirects_the_3xx_goes_upstream() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, spec(&[CAROL]));
    let a = h.sent_one();
    h.receive(UDP, &answer(&a, "302 Moved Temporarily").replace("<sip:carol@10.0.0.3:5080>", "<sip:dave@10.0.0.4:5090>"));
    let sent = h.sent();
    assert_eq!(sent.iter().map(|o| (o.line(), o.to)).collect::<Vec<_>>(), [("ACK sip:carol@10.0.0.3:5080 SIP/2.0", callee()), ("SIP/2.0 302 Moved Temporarily", peer())]);
    assert_eq!(sent[1].header("Contact"), "<sip:dave@10.0.0.4:5090>");
    assert_eq!(h.frames(cmd), ["continue 302 udp 10.0.0.3:5080", "done"]);
    h.receive(UDP, &ack_for(UDP, &sent[1]));
    h.run_until(40_000).await;
    assert!(h.sent().is_empty());
    assert_clean(&h);
}

// ---- 11. Challenges from several forks ----

#[tokio::test(start_paused = true)]
async fn challenges_from_two_forks_are_merged_into_one_response() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, ProxySpec { simultaneous: true, ..spec(&[CAROL, DAVE]) });
    let sent = h.sent();
    let www = "Digest realm=\"carol.example\", nonce=\"n1\"";
    let proxy_auth = "Digest realm=\"dave.example\", nonce=\"n2\"";
    h.receive(UDP, &with(&answer(&sent[0], "401 Unauthorized"), &format!("WWW-Authenticate: {www}\r\n")));
    assert_eq!(h.sent_to(), [line_to("ACK sip:carol@10.0.0.3:5080 SIP/2.0", UDP, callee())], "dave is still pending");
    h.receive_from(UDP, callee2(), &with(&answer2(&sent[1], "407 Proxy Authentication Required"), &format!("Proxy-Authenticate: {proxy_auth}\r\n")));
    let out = h.sent();
    assert_eq!(out.iter().map(|o| (o.line(), o.to)).collect::<Vec<_>>(), [("ACK sip:dave@10.0.0.4:5090 SIP/2.0", callee2()), ("SIP/2.0 407 Proxy Authentication Required", peer())]);
    let challenge = &out[1];
    assert_eq!(all(&challenge.text, "WWW-Authenticate"), [www]);
    assert_eq!(all(&challenge.text, "Proxy-Authenticate"), [proxy_auth]);
    assert_eq!(all(&challenge.text, "Via"), [format!("SIP/2.0/UDP 10.0.0.2:5070;branch={INVITE_BRANCH}")]);
    assert_eq!(h.frames(cmd), ["continue 401 udp 10.0.0.3:5080", "continue 407 udp 10.0.0.4:5090", "done"]);
    h.receive(UDP, &ack_for(UDP, challenge));
    h.run_until(40_000).await;
    assert!(h.sent().is_empty());
    assert_clean(&h);
}

// ---- 12. Refusals ----

#[tokio::test(start_paused = true)]
async fn max_forwards_zero_is_rejected_with_483() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP).replace("Max-Forwards: 70", "Max-Forwards: 0"));
    let cmd = h.proxy(&txn, spec(&[CAROL]));
    let rejected = h.sent_one();
    assert_eq!((rejected.line(), rejected.to), ("SIP/2.0 483 Too Many Hops", peer()));
    assert_eq!(h.frames(cmd), ["NOK Rejected with 483 Too Many Hops due to Max-Forwards value of 0"]);
    assert!(h.core.proxies.is_empty() && h.core.client.is_empty());
    h.receive(UDP, &ack_for(UDP, &rejected));
    h.run_until(40_000).await;
    assert!(h.sent().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_or_already_proxied_transaction_is_refused() {
    let mut h = Harness::new(&["invite"]);
    let cmd = h.proxy("no-such-txn", spec(&[CAROL]));
    assert_eq!(h.frames(cmd), ["NOK Unknown transaction id: no-such-txn"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    h.proxy(&txn, spec(&[CAROL]));
    h.sent_one();
    let again = h.proxy(&txn, spec(&[DAVE]));
    assert_eq!(h.frames(again), [format!("NOK Unknown transaction id: {txn}")]);
    assert!(h.sent().is_empty());
    let answered = h.app_sends(&txn, "", &app_response("486 Busy Here"));
    assert!(answered.is_err(), "the app no longer owns a proxied transaction");
    assert!(h.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_only_target_gives_500_and_nok() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &invite(UDP));
    let cmd = h.proxy(&txn, spec(&["sip:127.0.0.1:5060"]));
    let failed = h.sent_one();
    assert_eq!((failed.line(), failed.to), ("SIP/2.0 500 Server Internal Error", peer()));
    let frames = h.frames(cmd);
    assert_eq!(frames.len(), 1, "a NOK and no done: {frames:?}");
    assert!(frames[0].starts_with("NOK error proxying request to"), "{frames:?}");
    h.receive(UDP, &ack_for(UDP, &failed));
    h.run_until(40_000).await;
    assert!(h.sent().is_empty());
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn an_in_dialog_request_with_max_forwards_zero_gets_483() {
    let mut h = Harness::new(&["invite"]);
    let bye = with(&request("BYE", UDP, "z9hG4bK-bye", "2 BYE", Some("carol")).replacen("sip:bob@127.0.0.1:5060", CAROL, 1), ROUTE).replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.receive(UDP, &bye);
    assert_eq!(h.sent_to(), [line_to("SIP/2.0 483 Too Many Hops", UDP, peer())]);
    assert!(h.events().is_empty());
    assert_clean(&h);
}

// ---- 13. REGISTER and other non-INVITE requests ----

#[tokio::test(start_paused = true)]
async fn register_is_path_routed_not_record_routed() {
    let mut h = Harness::new(&["register"]);
    let txn = arrives(&mut h, UDP, &request("REGISTER", UDP, "z9hG4bK-reg", "1 REGISTER", None));
    let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&["sip:10.0.0.3:5080"]) });
    let fwd = h.sent_one();
    assert_eq!((fwd.line(), fwd.to), ("REGISTER sip:10.0.0.3:5080 SIP/2.0", callee()));
    assert_eq!(all(&fwd.text, "Path"), ["<sip:127.0.0.1:5060;lr>"]);
    assert_eq!(all(&fwd.text, "Require"), ["path"]);
    assert!(!has(&fwd.text, "Record-Route"));
    assert_eq!(fwd.header("Max-Forwards"), "69");
    h.receive(UDP, &with(&answer(&fwd, "200 OK"), "Path: <sip:127.0.0.1:5060;lr>\r\nContact: <sip:alice@10.0.0.2:5070>;expires=3600\r\n"));
    let ok = h.sent_one();
    assert_eq!((ok.line(), ok.to), ("SIP/2.0 200 OK", peer()));
    assert_eq!(all(&ok.text, "Via"), ["SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-reg"]);
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);
    h.run_until(40_000).await;
    assert_clean(&h);
}

#[tokio::test(start_paused = true)]
async fn message_and_options_are_proxied_and_their_200_relayed() {
    for method in ["MESSAGE", "OPTIONS"] {
        let mut h = Harness::new(&[&method.to_ascii_lowercase()]);
        let txn = arrives(&mut h, UDP, &request(method, UDP, "z9hG4bK-ni", &format!("1 {method}"), None));
        assert!(h.sent().is_empty(), "no 100 Trying for a non-INVITE");
        let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&[CAROL]) });
        let fwd = h.sent_one();
        assert_eq!((fwd.line(), fwd.to), (format!("{method} sip:carol@10.0.0.3:5080 SIP/2.0").as_str(), callee()));
        assert!(is_our_via(all(&fwd.text, "Via")[0], UDP));
        h.run_until(500).await;
        assert_eq!(h.sent_lines(), [(500, fwd.line().to_owned())], "Timer E");
        h.receive(UDP, &answer(&fwd, "200 OK"));
        let ok = h.sent_one();
        assert_eq!((ok.line(), ok.to, ok.header("CSeq")), ("SIP/2.0 200 OK", peer(), format!("1 {method}").as_str()));
        assert_eq!(all(&ok.text, "Via"), ["SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-ni"]);
        assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);
        // A retransmitted request gets the 200 again from the server transaction.
        h.receive(UDP, &request(method, UDP, "z9hG4bK-ni", &format!("1 {method}"), None));
        assert_eq!(h.sent_one().text, ok.text);
        h.run_until(40_000).await;
        assert!(h.sent().is_empty() && h.events().is_empty());
        assert_clean(&h);
    }
}

// ---- 14. Stray 2xx ----

#[tokio::test(start_paused = true)]
async fn a_2xx_retransmitted_after_the_branch_ended_is_relayed_by_via() {
    let mut h = Harness::new(&["invite"]);
    let inv = invite(UDP).replace("SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK-invite", "SIP/2.0/UDP 192.168.1.2:5999;branch=z9hG4bK-invite;rport");
    let txn = arrives(&mut h, UDP, &inv);
    let cmd = h.proxy(&txn, ProxySpec { record_route: true, ..spec(&[CAROL]) });
    let fwd = h.sent_one();
    let ok = answer(&fwd, "200 OK");
    h.receive(UDP, &ok);
    let first = h.sent_one();
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);
    assert!(h.core.client.is_empty(), "a 2xx ends the branch's INVITE transaction");
    for ms in [500, 1500] {
        h.run_until(ms).await;
        h.receive(UDP, &ok);
        let again = h.sent_one();
        assert_eq!((again.ms, again.protocol, again.to), (ms, UDP, peer()), "to the Via's received and rport");
        assert_eq!(again.text, first.text, "relayed as the first copy was");
    }
    // A 2xx whose top Via is not ours is dropped.
    h.receive(UDP, &ok.replacen("Via: SIP/2.0/UDP 127.0.0.1:5060", "Via: SIP/2.0/UDP 10.9.9.9:5060", 1));
    assert!(h.sent().is_empty() && h.events().is_empty());
    h.run_until(40_000).await;
    assert_clean(&h);
}

// ---- 15. The app's headers ----

#[tokio::test(start_paused = true)]
async fn the_apps_headers_are_applied_to_the_forwarded_request() {
    let mut h = Harness::new(&["invite"]);
    let txn = arrives(&mut h, UDP, &with(&invite(UDP), "Subject: old\r\nSupported: replaces\r\n"));
    let headers = "X-Foo: bar\r\nSubject: new\r\nSupported: timer\r\nVia: SIP/2.0/UDP 6.6.6.6;branch=z9hG4bKevil\r\nCall-ID: evil\r\nMax-Forwards: 3\r\nCSeq: 9 INVITE\r\n";
    let cmd = h.proxy_with(&txn, spec(&[CAROL]), headers);
    let fwd = h.sent_one();
    assert_eq!(all(&fwd.text, "X-Foo"), ["bar"]);
    assert_eq!(all(&fwd.text, "Subject"), ["new"], "a single-valued header is replaced");
    assert_eq!(all(&fwd.text, "Supported"), ["replaces", "timer"], "a list header is added to");
    let vias = all(&fwd.text, "Via");
    assert!(vias.len() == 2 && is_our_via(vias[0], UDP) && vias[1] == format!("SIP/2.0/UDP 10.0.0.2:5070;branch={INVITE_BRANCH}"), "{vias:?}");
    assert_eq!((all(&fwd.text, "Call-ID"), all(&fwd.text, "Max-Forwards"), all(&fwd.text, "CSeq")), (vec!["call-1"], vec!["69"], vec!["1 INVITE"]));
    h.receive(UDP, &answer(&fwd, "200 OK"));
    assert_eq!(h.sent_one().line(), "SIP/2.0 200 OK");
    assert_eq!(h.frames(cmd), ["continue 200 udp 10.0.0.3:5080", "done"]);
}
