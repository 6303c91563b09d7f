//! Session timers (RFC 4028) on the paused clock: who refreshes, when, and what happens when
//! the far end stops refreshing. Min-SE is the default 90 s.

use super::*;

/// `text` with extra header lines (each ending in CRLF) before its Content-Length.
fn with(text: &str, extra: &str) -> String {
    text.replacen("Content-Length:", &format!("{extra}Content-Length:"), 1)
}

/// The value of header `name`, if the message has one.
fn find<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split("\r\n").take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(str::trim)
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default()
}

const SDP: &str = "v=0\r\no=us\r\n";

/// The far end's response to a request we sent inside a dialog: its Via, From, To, Call-ID
/// and CSeq verbatim, a Contact, and `extra` header lines.
fn reply(req: &Out, status: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in req.text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&line.split(':').next().unwrap_or_default()) {
            out.push_str(&format!("{line}\r\n"));
        }
    }
    out.push_str(&format!("Contact: <sip:far@10.0.0.2:5070>\r\n{extra}Content-Length: 0\r\n\r\n"));
    out
}

/// An INVITE with `extra` headers arrives and the app answers it 200 with `SDP` (and its own
/// `app_extra` headers); the far end ACKs. The 200 as sent, and the dialog id.
fn call_answered(h: &mut Harness, extra: &str, app_extra: &str) -> (Out, String) {
    h.receive(UDP, &with(&invite(UDP), extra));
    assert!(h.sent().is_empty(), "answered at once: no 100 Trying");
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    let res = format!("SIP/2.0 200 OK\r\n{app_extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len());
    h.app_sends(&txn, "", &res).expect("200 sent");
    let ok = h.sent_one();
    assert_eq!(ok.line(), "SIP/2.0 200 OK");
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-ack", "1 ACK", Some(&to_tag(&ok.text))));
    let dialog = h.core.dialogs.keys().next().expect("a dialog").clone();
    assert_eq!(h.app_lines(), ["ACK sip:bob@127.0.0.1:5060 SIP/2.0"]);
    (ok, dialog)
}

#[tokio::test(start_paused = true)]
async fn we_refresh_with_a_reinvite_at_half_the_interval_and_ack_it_ourselves() {
    let mut h = Harness::new(&["invite"]);
    let (ok, _) = call_answered(&mut h, "Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n", "");
    assert_eq!(ok.header("Session-Expires"), "1800;refresher=uas", "the engine answers the offer");
    assert_eq!(find(&ok.text, "Require"), None, "Require: timer only when the UAC refreshes");

    h.run_until(899_999).await;
    assert!(h.sent().is_empty());
    h.run_until(900_000).await;
    let reinvite = h.sent_one();
    assert_eq!((reinvite.ms, reinvite.line(), reinvite.to), (900_000, "INVITE sip:alice@10.0.0.2:5070 SIP/2.0", peer()));
    assert_eq!(reinvite.header("Session-Expires"), "1800;refresher=uac");
    assert_eq!(reinvite.header("Min-SE"), "90");
    assert_eq!(reinvite.header("Supported"), "timer");
    assert_eq!(reinvite.header("To"), "<sip:alice@10.0.0.2>;tag=alice");
    assert_eq!(reinvite.header("Contact"), "<sip:127.0.0.1:5060>");
    assert_eq!(body(&reinvite.text), SDP, "the session's current SDP");
    let seq = reinvite.header("CSeq").split_whitespace().next().expect("seq").to_owned();
    assert!(h.events().is_empty(), "the app hears nothing of the refresh");

    h.run_until(900_100).await;
    h.receive(UDP, &reply(&reinvite, "200 OK", "Session-Expires: 1800;refresher=uac\r\n"));
    let ack = h.sent_one();
    assert_eq!(ack.line(), "ACK sip:far@10.0.0.2:5070 SIP/2.0", "ACKed by the engine, to the new target");
    assert_eq!(ack.header("CSeq"), format!("{seq} ACK"));
    assert!(h.events().is_empty());
    // A retransmitted 200 gets the same ACK.
    h.receive(UDP, &reply(&reinvite, "200 OK", "Session-Expires: 1800;refresher=uac\r\n"));
    assert_eq!(h.sent_one().text, ack.text);

    // The 200 kept us as refresher: the next refresh comes half an interval after it.
    h.run_until(1_800_099).await;
    assert!(h.sent().is_empty());
    h.run_until(1_800_100).await;
    let next = h.sent_one();
    assert_eq!((next.ms, next.line()), (1_800_100, "INVITE sip:far@10.0.0.2:5070 SIP/2.0"));
    assert!(h.events().is_empty());
}

#[tokio::test(start_paused = true)]
async fn they_stop_refreshing_and_the_engine_ends_the_call_with_a_reasoned_bye() {
    let mut h = Harness::new(&["invite"]);
    let (ok, dialog) = call_answered(&mut h, "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n", "");
    assert_eq!(ok.header("Session-Expires"), "120;refresher=uac");
    assert_eq!(ok.header("Require"), "timer", "RFC 4028 §9: the UAC refreshes, so the 2xx requires the extension");

    h.run_until(119_999).await;
    assert!(h.sent().is_empty() && h.events().is_empty());
    h.run_until(120_000).await;
    let bye = h.sent_one();
    assert_eq!((bye.line(), bye.to), ("BYE sip:alice@10.0.0.2:5070 SIP/2.0", peer()));
    assert_eq!(bye.header("Reason"), "SIP;cause=200;text=\"Session timer expired\"");
    assert_eq!(h.app_got(), [("unsolicited".to_owned(), dialog, "BYE sip:alice@10.0.0.2:5070 SIP/2.0".to_owned())]);
    assert!(h.core.dialogs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refresh_from_the_far_end_restarts_the_timer() {
    let mut h = Harness::new(&["invite", "update"]);
    let (ok, dialog) = call_answered(&mut h, "Session-Expires: 120;refresher=uac\r\n", "");
    assert_eq!(find(&ok.text, "Require"), None, "no Supported: timer in the offer, no Require");
    let tag = to_tag(&ok.text);

    // A re-INVITE at 100 s: the timer restarts from it.
    h.run_until(100_000).await;
    h.receive(UDP, &with(&request("INVITE", UDP, "z9hG4bK-re", "2 INVITE", Some(&tag)), "Session-Expires: 120;refresher=uac\r\n"));
    assert!(h.sent().is_empty());
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "200 OK");
    let re_ok = h.sent_one();
    assert_eq!(re_ok.line(), "SIP/2.0 200 OK");
    assert_eq!(re_ok.header("Session-Expires"), "120;refresher=uac", "the 2xx states the timer the refresh set");
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-re-ack", "2 ACK", Some(&tag)));
    assert_eq!(h.app_lines(), ["ACK sip:bob@127.0.0.1:5060 SIP/2.0"]);

    // An UPDATE at 200 s restarts it again.
    h.run_until(200_000).await;
    h.receive(UDP, &with(&request("UPDATE", UDP, "z9hG4bK-up", "3 UPDATE", Some(&tag)), "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n"));
    let txn = h.app_request_txn("UPDATE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "200 OK");
    let up_ok = h.sent_one();
    assert_eq!(up_ok.line(), "SIP/2.0 200 OK");
    assert_eq!((up_ok.header("Session-Expires"), up_ok.header("Require")), ("120;refresher=uac", "timer"));

    h.run_until(319_999).await;
    assert!(h.sent().is_empty(), "refreshed: no BYE at 120 s or 220 s");
    h.run_until(320_000).await;
    let bye = h.sent_one();
    assert_eq!((bye.ms, bye.line()), (320_000, "BYE sip:alice@10.0.0.2:5070 SIP/2.0"));
    assert!(bye.header("Reason").contains("Session timer expired"));
    assert_eq!(h.app_got(), [("unsolicited".to_owned(), dialog, "BYE sip:alice@10.0.0.2:5070 SIP/2.0".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn an_interval_below_min_se_gets_422() {
    let mut h = Harness::new(&["invite", "update"]);
    h.receive(UDP, &with(&invite(UDP), "Session-Expires: 60\r\n"));
    let too_small = h.sent_one();
    assert_eq!(too_small.line(), "SIP/2.0 422 Session Interval Too Small");
    assert_eq!(too_small.header("Min-SE"), "90");
    assert!(too_small.header("To").contains(";tag="));
    assert!(h.events().is_empty() && h.core.server.is_empty(), "the app never sees it");

    // The UAC retries with our Min-SE; inside the call a refresh below it is refused too,
    // and the running timer is left alone.
    let retry = with(&request("INVITE", UDP, "z9hG4bK-retry", "2 INVITE", None), "Session-Expires: 90;refresher=uac\r\nMin-SE: 90\r\n");
    h.receive(UDP, &retry);
    assert!(h.sent().is_empty());
    let txn = h.app_request_txn("INVITE sip:bob@127.0.0.1:5060 SIP/2.0");
    h.app_responds(&txn, "200 OK");
    let ok = h.sent_one();
    assert_eq!(ok.header("Session-Expires"), "90;refresher=uac");
    let tag = to_tag(&ok.text);
    h.receive(UDP, &request("ACK", UDP, "z9hG4bK-retry-ack", "2 ACK", Some(&tag)));
    h.events();
    h.run_until(10_000).await;
    h.receive(UDP, &with(&request("UPDATE", UDP, "z9hG4bK-up", "3 UPDATE", Some(&tag)), "Session-Expires: 30\r\n"));
    let refused = h.sent_one();
    assert_eq!((refused.line(), refused.header("Min-SE")), ("SIP/2.0 422 Session Interval Too Small", "90"));
    assert!(refused.header("To").ends_with(&format!(";tag={tag}")));
    assert!(h.events().is_empty());
    h.run_until(90_000).await;
    assert_eq!(h.sent_one().line(), "BYE sip:alice@10.0.0.2:5070 SIP/2.0", "the timer armed by the 200 still runs");
}

#[tokio::test(start_paused = true)]
async fn the_app_session_expires_wins_and_an_offer_without_refresher_gets_no_timer_by_default() {
    let mut h = Harness::new(&["invite"]);
    let (ok, _) = call_answered(&mut h, "Session-Expires: 1800\r\n", "");
    assert_eq!(find(&ok.text, "Session-Expires"), None, "default-refresher 'none': no answer, no timer");
    assert_eq!(h.core.session_timers_running(), 0);
    h.run_until(3_600_000).await;
    assert!(h.sent().is_empty());

    // The app's own Session-Expires arms the timer (at least Min-SE), sent as the app wrote it.
    let mut h = Harness::new(&["invite"]);
    let (ok, _) = call_answered(&mut h, "Session-Expires: 1800\r\n", "Session-Expires: 30;refresher=uas\r\n");
    assert_eq!(ok.header("Session-Expires"), "30;refresher=uas");
    h.run_until(44_999).await;
    assert!(h.sent().is_empty(), "raised to Min-SE 90: refresh at 45 s");
    h.run_until(45_000).await;
    let reinvite = h.sent_one();
    assert_eq!((reinvite.line(), reinvite.header("Session-Expires")), ("INVITE sip:alice@10.0.0.2:5070 SIP/2.0", "90;refresher=uac"));
}

/// The app's INVITE with SDP; the far end's 200 with `extra`; the app's ACK. The INVITE as
/// sent and the dialog id.
fn call_placed(h: &mut Harness, extra: &str) -> (Out, String) {
    let raw = format!("INVITE sip:carol@10.0.0.3:5080 SIP/2.0\r\nContent-Length: {}\r\n\r\n{SDP}", SDP.len());
    let args = h.app_sends("", "", &raw).expect("INVITE sent");
    let invite = h.sent_one();
    h.receive(UDP, &with(&answer(&invite, "200 OK"), &format!("Contact: <sip:carol@10.0.0.3:5080>\r\n{extra}")));
    let got = h.app_got();
    assert_eq!((got[0].0.as_str(), got[0].2.as_str()), (args[6].as_str(), "SIP/2.0 200 OK"));
    let dialog = got[0].1.clone();
    h.app_sends("", &dialog, "ACK sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n").expect("ACK sent");
    assert_eq!(h.sent_one().line(), "ACK sip:carol@10.0.0.3:5080 SIP/2.0");
    (invite, dialog)
}

#[tokio::test(start_paused = true)]
async fn as_uac_we_refresh_a_491_retries_and_a_failed_refresh_ends_the_call() {
    let mut h = Harness::new(&[]);
    let (_, dialog) = call_placed(&mut h, "Session-Expires: 200;refresher=uac\r\n");
    h.run_until(100_000).await;
    let reinvite = h.sent_one();
    assert_eq!((reinvite.line(), reinvite.header("Session-Expires")), ("INVITE sip:carol@10.0.0.3:5080 SIP/2.0", "200;refresher=uac"));
    assert_eq!(body(&reinvite.text), SDP, "the SDP of our INVITE");
    h.receive(UDP, &reply(&reinvite, "491 Request Pending", ""));
    assert_eq!(h.sent_one().line(), "ACK sip:carol@10.0.0.3:5080 SIP/2.0", "the transaction ACKs the 491");
    assert!(h.events().is_empty());

    h.run_until(199_999).await;
    assert!(h.sent().is_empty());
    h.run_until(200_000).await;
    let again = h.sent_one();
    assert_eq!(again.line(), "INVITE sip:carol@10.0.0.3:5080 SIP/2.0", "491: tried again half an interval later");
    h.receive(UDP, &reply(&again, "500 Server Internal Error", ""));
    let sent = h.sent();
    assert_eq!(sent.iter().map(Out::line).collect::<Vec<_>>(), ["ACK sip:carol@10.0.0.3:5080 SIP/2.0", "BYE sip:carol@10.0.0.3:5080 SIP/2.0"]);
    assert!(sent[1].header("Reason").contains("Session timer expired"));
    assert_eq!(h.app_got(), [("unsolicited".to_owned(), dialog, "BYE sip:carol@10.0.0.3:5080 SIP/2.0".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn as_uac_they_refresh_and_stop() {
    let mut h = Harness::new(&[]);
    let (_, dialog) = call_placed(&mut h, "Session-Expires: 100;refresher=uas\r\n");
    h.run_until(99_999).await;
    assert!(h.sent().is_empty());
    h.run_until(100_000).await;
    let bye = h.sent_one();
    assert_eq!(bye.line(), "BYE sip:carol@10.0.0.3:5080 SIP/2.0");
    assert!(bye.header("Reason").contains("Session timer expired"));
    assert_eq!(h.app_got(), [("unsolicited".to_owned(), dialog, "BYE sip:carol@10.0.0.3:5080 SIP/2.0".to_owned())]);
    assert!(h.core.sessions_idle());
}
