//! The napi edge (feature `node`): converts between JS values and the Rust floors below and
//! holds no SIP logic. Nothing else in the crate imports this module.

mod batch;
mod client;
mod listen;
// Free `#[napi]` functions are only registered with Node outside `cfg(test)`: test builds
// would call them unused.
#[cfg_attr(test, allow(dead_code))]
mod message;
mod runtime;
#[cfg_attr(test, allow(dead_code))]
mod serve;
