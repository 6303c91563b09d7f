//! Replays the recorded drachtio-srf <-> drachtio-server traffic in ../shared/traces (and
//! traces/suite): every chunk is re-framed with our decoder, every frame parses as the typed
//! message for its direction, and writing it back gives the recorded bytes exactly.

mod common;

use drachtio_srf_rs::wire::{AppMsg, FrameDecoder, ServerMsg, MAX_RECEIVE_FRAME};
use std::collections::HashMap;
use std::path::Path;

fn replay(path: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(path).expect("trace readable");
    let mut decoders: HashMap<(String, u64, String), FrameDecoder> = HashMap::new();
    let (mut app, mut server) = (0, 0);
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}:{n}: {e}", path.display()));
        let dir = v["dir"].as_str().expect("dir").to_owned();
        let key = (v["server"].as_str().unwrap_or("").to_owned(), v["conn"].as_u64().unwrap_or(0), dir.clone());
        let decoder = decoders.entry(key).or_insert_with(|| FrameDecoder::new(MAX_RECEIVE_FRAME));
        decoder.feed(v["data"].as_str().expect("data").as_bytes());
        while let Some(frame) = decoder.next_frame().unwrap_or_else(|e| panic!("{}:{n}: {e}", path.display())) {
            let text = String::from_utf8_lossy(&frame);
            if dir == "app->server" {
                let msg = AppMsg::parse(&frame).unwrap_or_else(|e| panic!("{}:{n}: {e}: {text}", path.display()));
                assert_eq!(String::from_utf8_lossy(&msg.to_payload()), text, "{}:{n}", path.display());
                app += 1;
            } else {
                let msg = ServerMsg::parse(&frame).unwrap_or_else(|e| panic!("{}:{n}: {e}: {text}", path.display()));
                assert_eq!(String::from_utf8_lossy(&msg.to_payload()), text, "{}:{n}", path.display());
                server += 1;
            }
        }
    }
    for ((_, conn, dir), d) in &decoders {
        assert_eq!(d.buffered(), 0, "{}: conn {conn} {dir} ends mid-frame", path.display());
    }
    (app, server)
}

#[test]
fn recorded_traces_replay() {
    let Some(dir) = common::shared_dir("traces") else { return };
    let mut files = 0;
    let (mut app, mut server) = (0, 0);
    for sub in [dir.clone(), dir.join("suite")] {
        for entry in std::fs::read_dir(&sub).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "trace") {
                let (a, s) = replay(&path);
                app += a;
                server += s;
                files += 1;
            }
        }
    }
    eprintln!("{files} traces: {app} app frames, {server} server frames");
    assert!(files >= 18 && app > 100 && server > 100, "{files} files, {app}/{server} frames");
}
