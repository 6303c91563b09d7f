//! One tracing subscriber for the process, on stderr, filtered by `DRACHTIO_RS_LOG` (e.g.
//! `DRACHTIO_RS_LOG=debug` or `drachtio_srf_rs::client=trace`). Silent when unset.

pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(filter) = std::env::var("DRACHTIO_RS_LOG") else { return };
        let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    });
}
