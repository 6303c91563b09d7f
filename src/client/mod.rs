//! The remote backend: connections to drachtio-servers, speaking the wire protocol as
//! drachtio-srf does, turning frames into `app::Event`s and `app::Command`s into frames. Either
//! we connect (conn.rs: authenticate, routes, pings, reconnect with backoff) or servers connect
//! to us (listen.rs: one session per accepted socket); proto.rs is what both share.

mod conn;
mod listen;
mod pending;
mod proto;


pub use conn::{spawn, ClientConfig, Reconnect};
pub use listen::{spawn as spawn_listener, ListenCommand, ListenConfig, ListenEvent, ListenSink, Listener, SessionId, SessionIds, MAX_SESSIONS};
pub use crate::tls::{TlsOptions, TlsServerOptions};
