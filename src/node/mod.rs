//! The napi edge (feature `node`): converts between JS values and the Rust floors below and
//! holds no SIP logic. Nothing else in the crate imports this module.

mod batch;
mod client;
mod listen;
mod message;
mod runtime;
mod serve;
