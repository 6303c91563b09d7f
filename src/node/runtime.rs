//! The addon's tokio runtime: one per process, built on first use, shared by every Srf
//! instance and worker thread. JS calls never block on it.
//!
//! A single-threaded runtime on its own thread: each SIP message passes transport → engine
//! core → JS in a few task hops, and on a multi-threaded runtime each hop could wake another
//! worker. Profiles at 2,000 calls/s showed those wake-ups (futex, context switches) as the
//! largest cost on the Rust side; on one thread the hops are plain task polls.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle};

pub fn handle() -> napi::Result<Handle> {
    static RUNTIME: OnceLock<Result<Handle, String>> = OnceLock::new();
    let rt = RUNTIME.get_or_init(|| {
        crate::log::init(None);
        let rt = Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let handle = rt.handle().clone();
        // Drives every task spawned through the handle, for the life of the process.
        std::thread::Builder::new()
            .name("drachtio-rs".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .map_err(|e| e.to_string())?;
        Ok(handle)
    });
    match rt {
        Ok(h) => Ok(h.clone()),
        Err(e) => Err(napi::Error::from_reason(format!("could not start the tokio runtime: {e}"))),
    }
}
