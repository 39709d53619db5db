//! Switchboard's own SIP stack, sans-IO: messages, transactions (RFC 3261 §17 with RFC 6026),
//! dialogs, digest authentication and a registrar core.
//!
//! # Place in Switchboard
//!
//! The conference controller (`crates/controller`) is a B2BUA and registrar. Its SIP driver
//! owns the UDP and TCP sockets and the clock; this crate makes every SIP decision. The
//! driver feeds bytes and time in, and takes messages to send and events out. The B2BUA logic
//! (which number, which media handler, which agent) lives in the controller and talks to this
//! crate through [`endpoint::Endpoint`]'s events and commands.
//!
//! # Map
//!
//! | module | what |
//! |---|---|
//! | [`message`], [`parse`], [`header`], [`typed`], [`uri`], [`text`] | requests and responses: parse (one shared buffer, header values as ranges of it), serialize, typed Via / From / To / Contact / CSeq / URI views that keep unknown parameters byte for byte |
//! | [`framing`] | TCP framing by Content-Length: complete / incomplete / keep-alive / invalid |
//! | [`reject`] | the `400` (or `505`) for bytes that do not parse, or "drop" |
//! | [`builder`] | requests from parts, responses to a request, the common responses |
//! | [`routing`] | `received`/`rport` (RFC 3581), where a response goes, the next hop of a request |
//! | [`transaction`] | the four transaction state machines, timers A–M as a named table |
//! | [`dialog`] | dialog state, in-dialog requests, route sets |
//! | [`endpoint`] | the UA core: transactions + dialogs → TU events; TU commands → messages |
//! | [`digest`] | Digest challenges, credentials, MD5 and SHA-256, stateless nonces |
//! | [`registrar`] | REGISTER handling, bindings with expiry |
//!
//! **Architecture Invariant:** nothing in this crate opens a socket, reads a clock, sleeps,
//! spawns, or calls the OS RNG. Every entry point that depends on time takes `now: Instant`;
//! randomness comes from one RNG seeded by the caller ([`endpoint::EndpointConfig::seed`]), and
//! the digest key from a secret the caller passes in.
//!
//! **Architecture Invariant:** network input never panics. Bytes either parse, or produce an
//! [`Error`] that names the problem and knows its response status. The fuzz targets
//! `fuzz/fuzz_targets/sip_message.rs` and `sip_endpoint.rs` hold this.
//!
//! # Driving the endpoint: mutate, then drain
//!
//! After every input (a datagram, a frame, a TU command, a timeout) the driver takes every
//! output before it waits again, then sleeps until [`endpoint::Endpoint::poll_timeout`] or the
//! next packet, whichever comes first.
//!
//! ```
//! use std::time::Instant;
//!
//! use sip::endpoint::{Endpoint, EndpointConfig, Event, Output};
//! use sip::{Flow, Host, StatusCode};
//!
//! // The seed makes tags, branches and Call-IDs reproducible.
//! let host = Host::parse("192.0.2.2").unwrap();
//! let mut ep = Endpoint::new(EndpointConfig::new(host, Some(5060), 42)).unwrap();
//! let now = Instant::now();
//!
//! // A datagram arrives on the UDP socket.
//! let caller = Flow::udp("192.0.2.1:5060".parse().unwrap());
//! let datagram = b"INVITE sip:1000@192.0.2.2 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport\r\n\
//! From: <sip:alice@example.com>;tag=9fxced76sl\r\n\
//! To: <sip:1000@192.0.2.2>\r\n\
//! Call-ID: 3848276298220188511@192.0.2.1\r\n\
//! CSeq: 1 INVITE\r\n\
//! Contact: <sip:alice@192.0.2.1:5060>\r\n\
//! Max-Forwards: 70\r\n\
//! Content-Length: 0\r\n\r\n";
//!
//! // 1. Mutate: hand the input over...
//! ep.handle_input(now, caller, datagram);
//!
//! // 2. ...then drain everything. TU commands are inputs too: keep draining after them.
//! let mut wire = Vec::new();
//! while let Some(out) = ep.poll_output() {
//!     match out {
//!         // socket.send_to(&t.payload, t.flow.remote), or write to t.flow.connection
//!         Output::Transmit(t) => wire.push(t.payload),
//!         Output::Event(Event::IncomingInvite { tx, .. }) => {
//!             // The B2BUA decides; here: busy.
//!             ep.reply(now, tx, StatusCode::BUSY_HERE, None).unwrap();
//!         }
//!         Output::Event(_) => {}
//!     }
//! }
//! assert_eq!(wire.len(), 2); // 100 Trying, then 486 Busy Here
//!
//! // 3. Wait until the next deadline (or the next packet), tell the time, drain again.
//! if let Some(at) = ep.poll_timeout() {
//!     ep.handle_timeout(at);
//!     while let Some(_out) = ep.poll_output() { /* as above */ }
//! }
//! ```
//!
//! # What the driver must know
//!
//! - **UDP**: one datagram is one message: [`endpoint::Endpoint::handle_input`] with a
//!   [`Flow`] naming the transport and the source address.
//! - **TCP**: keep a buffer per connection and ask [`check_stream`] what it holds
//!   ([`Framing::Complete`] → feed that many bytes; `Incomplete` → read more; `KeepAlive(n)` →
//!   drop `n` bytes and answer a double CRLF with one CRLF; `Invalid` → answer with
//!   [`reject::error_response`] if it gives one, then close only that connection). Number each
//!   connection with a [`ConnectionId`] and pass it in the flow.
//! - **Sending**: [`transaction::Transmit::flow`] says where: `connection` set means "on this
//!   connection" (a response over TCP); otherwise send to `remote` (opening or reusing a
//!   connection for TCP). If sending fails and `tx` is set, call
//!   [`endpoint::Endpoint::transport_error`].
//! - **NAT**: the endpoint stamps `received`/`rport` and answers where the request really came
//!   from; in-dialog requests follow the flow of the dialog-creating INVITE (see
//!   [`dialog::Dialog::flow`]), and the registrar records each binding's flow.
//! - **Names**: the stack never resolves DNS; [`routing::Destination::Resolve`] asks the driver
//!   to. Contacts of registered phones are normally IP literals (and their flows are known).
//! - **Registrar**: on [`endpoint::Event::IncomingRequest`] for REGISTER, call
//!   [`registrar::Registrar::handle_register`] and send its answer with
//!   [`endpoint::Endpoint::respond`]. Give [`digest::DigestServer::new`] 32 bytes from the OS
//!   RNG at start.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
