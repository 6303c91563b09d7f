//! The remote backend: one connection to a drachtio-server, speaking the wire protocol as
//! drachtio-srf does (authenticate, routes, pings, reconnect with backoff), turning frames into
//! `app::Event`s and `app::Command`s into frames.

mod conn;
mod pending;
mod tls;

pub use conn::{spawn, ClientConfig, Reconnect};
pub use tls::TlsOptions;
