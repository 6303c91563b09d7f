//! RFC 3261 message syntax: zero-copy parsing over bytes, stream framing for TCP, the
//! structured header values the stack needs (URIs, name-addr, Via, CSeq, digest parameters),
//! validation, and a serializer. No sockets, no runtime: everything here is pure.

mod error;
mod header;
mod lex;
mod index;
mod message;
mod params;
mod parser;

pub mod auth;
pub mod name_addr;
pub mod serialize;
pub mod stream;
pub mod uri;
pub mod validate;
pub mod via;

pub use error::{ErrorKind, ParseError};
pub use header::HeaderName;
pub use index::{FIXED_WORDS, FOLDED_BIT, HEADER_WORDS, LAYOUT_VERSION};
pub use message::{unfold, CSeq, HeaderEntry, Message, StartLine};
pub use lex::split_commas;
pub use params::find as params_find;
pub use parser::{parse, Framing, Limits};
