//! # `sdp`: session descriptions and offer/answer for Switchboard
//!
//! Every call Switchboard anchors carries SDP twice: the customer's offer (answered by the
//! conference controller on behalf of a media handler) and the controller's own offer to an
//! agent phone (answered by the phone). This crate is the controller's whole view of that
//! SDP. It sits below `controller` and `bandwidth` and above nothing of ours; it never does
//! I/O.
//!
//! - **Parse and serialize** ([`SessionDescription`]): the `sdp-types` model plus a typed
//!   view ([`MediaDescription`]: kind, port, [`Protocol`], payload formats with their
//!   [`Codec`] and fmtp, ptime, [`Direction`], [`Connection`], `b=` lines, `a=crypto`,
//!   rtcp-mux). Unchanged input is returned byte for byte.
//! - **The codec table** ([`Codec`]): names, clock rates, static and conventional payload
//!   types.
//! - **Offer/answer** (RFC 3264): [`negotiate`] decides the answer to an offer from our
//!   [`Capabilities`] without addresses, so the bandwidth manager can weigh it first;
//!   [`build_answer`] writes it with the chosen media handler's address and ports.
//!   [`build_offer`] and [`process_answer`] are the other direction, for the B2BUA's
//!   agent leg. [`LocalSession`] keeps the `o=` line and its version right across
//!   re-offers.
//! - **Errors with their wire form** ([`SdpError`]): malformed → 400, nothing acceptable
//!   → 488 with the RFC 3261 `Warning` code.
//!
//! **Architecture Invariant:** this crate performs no I/O, reads no clock and draws no
//! random numbers (session ids come from the caller). Parsing never panics on any input
//! (fuzzed by `fuzz/fuzz_targets/sdp_session.rs`).
//!
//! ## `sdp-types` and why the bytes are kept
//!
//! `sdp-types` 0.3 parses leniently but writes a canonical form: RFC line order, CRLF,
//! single spaces, `t=0 0` added, and it silently drops lines with unknown type letters.
//! So [`SessionDescription`] keeps the parsed bytes and returns them as they were; only
//! descriptions we build go through the writer. Its attribute parsers are not used for
//! `rtpmap`/`fmtp`/`crypto`: they do not trim whitespace around `;`-separated fmtp items
//! and reject trailing spaces, both common in phones' SDP, so this crate reads those
//! attributes itself.
//!
//! ## Example
//!
//! ```
//! use sdp::{Capabilities, Codec, LocalMedia, LocalSession, SessionDescription};
//!
//! let offer = SessionDescription::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
//!       m=audio 49170 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//!       a=fmtp:101 0-15\r\na=ptime:20\r\n",
//! )?;
//! let negotiation = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Pcmu, Codec::Pcma]))?;
//! assert_eq!(negotiation.audio().map(|a| a.codec.codec), Some(Codec::Pcma));
//!
//! let mut session = LocalSession::new(4242, 1, "198.51.100.1".parse().unwrap());
//! let local = LocalMedia { address: "198.51.100.1".parse().unwrap(), ports: vec![20000] };
//! let answer = sdp::build_answer(&offer, &negotiation, &local, &mut session)?;
//! assert!(answer.to_string().contains("m=audio 20000 RTP/AVP 8 101\r\n"));
//! # Ok::<(), sdp::SdpError>(())
//! ```

mod build;
mod codec;
mod description;
mod error;
mod negotiate;
mod view;

pub use build::{
    LocalMedia, LocalSession, OfferSpec, OfferStream, OfferedCodec, build_answer, build_offer,
};
pub use codec::{Codec, Encoding, EventSet, FormatParameters};
pub use description::SessionDescription;
pub use error::SdpError;
pub use negotiate::{
    AcceptedStream, Capabilities, Negotiation, Preference, RejectReason, RejectedStream,
    SelectedFormat, StreamOutcome, negotiate, process_answer,
};
pub use view::{
    AddressFamily, Bandwidth, BandwidthKind, Connection, Crypto, Direction, Host, MediaDescription,
    MediaKind, PayloadFormat, Protocol, RtcpAttribute, SrtpSuite, bandwidth_bps,
};

/// The `sdp-types` crate, re-exported for callers that edit a
/// [`SessionDescription::into_model`] model.
pub use sdp_types;
