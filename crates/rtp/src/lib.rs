//! RTP and RTCP for the media plane: packet views and builders, RFC 4733 telephone-events,
//! G.711, in-band DTMF detection, reception statistics, and the **call sequence**.
//!
//! This is the lowest layer of the media plane (design.md §2). It knows packets, clocks in RTP
//! units and 8 kHz PCM; it knows nothing of legs, sessions, sockets or JSON. The engine in
//! `crates/media` builds on it; the fuzz targets `fuzz/fuzz_targets/rtp_*.rs` feed its parsers.
//!
//! - [`packet`]: parse RTP headers (through `rtp-types`) and rewrite them in place.
//! - [`rtcp`]: read endpoints' SR/RR, write our SR/RR + SDES (through `rtcp-types`).
//! - [`event`]: RFC 4733 payloads and a receiver that reports each digit once.
//! - [`g711`]: µ-law and A-law tables, and in-place µ-law ↔ A-law transcoding.
//! - [`dtmf`]: a Goertzel DTMF detector for legs without telephone-event.
//! - [`stats`]: RFC 3550 reception statistics (loss, jitter) for RTCP report blocks.
//! - [`sequence`]: [`CallSequence`], the egress rewriter that gives each outbound leg one
//!   gapless stream across changes of source.
//!
//! **Architecture invariant:** nothing in this crate reads a clock, touches a socket, or
//! allocates per packet; every function that needs time takes `now: Instant`. Parsers never
//! panic on any input.

pub mod dtmf;
pub mod event;
pub mod g711;
pub mod packet;
pub mod rtcp;
pub mod sequence;
pub mod stats;

pub use event::{DigitEnded, EventReceiver, TelephoneEvent};
pub use packet::{HeaderRewrite, RtpHeader};
pub use sequence::{CallSequence, Rewritten, SenderInfo, SourceId};

/// Errors of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The bytes are not a valid packet of the expected kind.
    #[error("malformed packet")]
    Malformed,
    /// The output buffer cannot hold what must be written.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed (0 when unknown).
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}
