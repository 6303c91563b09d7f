//! drachtio-srf-rs: the Rust half of a drop-in replacement for drachtio-srf.
//!
//! Floors, each importing only the ones below it:
//! - `sip`: RFC 3261 syntax (parse, validate, serialise); no I/O.
//! - `node`: the napi edge (feature `node`); nothing else imports it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod sip;
pub mod wire;
pub mod app;
pub mod client;
pub mod tls;
pub mod engine;
pub mod server;
pub mod metrics_http;
pub mod log;

#[cfg(feature = "node")]
mod node;
