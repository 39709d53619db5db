//! SIP syntax, transactions (RFC 3261 §17), dialogs and digest authentication. Sans-IO.
#![forbid(unsafe_code)]

pub mod builder;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod error;
pub mod framing;
pub mod grammar;
pub mod header;
pub mod message;
pub mod parse;
pub mod registrar;
pub mod reject;
pub mod routing;
pub mod text;
pub mod transaction;
pub mod transport;
pub mod typed;
pub mod uri;

pub use error::{Error, ErrorCategory};
pub use framing::{Framing, check_stream};
pub use grammar::Host;
pub use header::{Header, HeaderName, Headers};
pub use message::{Message, Method, Request, Response, StatusCode};
pub use text::Text;
pub use transport::{ConnectionId, Flow, Transport};
pub use typed::{CSeq, Contacts, MediaType, NameAddr, RetryAfter, Via};
pub use uri::{Scheme, Uri};
