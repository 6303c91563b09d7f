//! The addon's tokio runtime: one per process, built on first use, shared by every Srf
//! instance and worker thread. JS calls never block on it.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle, Runtime};

pub fn handle() -> napi::Result<Handle> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let rt = RUNTIME.get_or_init(|| {
        crate::log::init(None);
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("drachtio-rs")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match rt {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => Err(napi::Error::from_reason(format!("could not start the tokio runtime: {e}"))),
    }
}
