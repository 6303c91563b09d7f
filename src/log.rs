//! One tracing subscriber for the process, on stderr, filtered by `DRACHTIO_RS_LOG` (e.g.
//! `DRACHTIO_RS_LOG=debug` or `drachtio_srf_rs::client=trace`). The library is silent when it
//! is unset; `serve` passes its `--loglevel` as the default.

pub fn init(default: Option<&str>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(filter) = std::env::var("DRACHTIO_RS_LOG").ok().or_else(|| default.map(str::to_owned)) else { return };
        let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    });
}
