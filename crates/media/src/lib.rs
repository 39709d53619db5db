//! The media engine: legs, routes, players, recorders, mixers and DTMF, as a sans-IO state
//! machine driven by packets and a 20 ms tick.
//!
//! This is the core of a media handler (design.md §2, "Media plane"). One [`Engine`] lives in
//! each media thread of `crates/media-handler`, which owns the sockets and the clock and feeds
//! the engine. Below it, `crates/rtp` provides packets, G.711, RFC 4733, the DTMF detector and
//! the call sequence. Nothing here knows JSON: the handler maps the control interface's types
//! onto this crate's explicitly.
//!
//! - [`engine`]: the [`Engine`] and the driver's contract (mutate, then drain).
//! - [`leg`]: leg configuration, latching and counters.
//! - [`codec`]: negotiated codecs and the [`codec::AudioCodec`] abstraction (PCMU, PCMA,
//!   and with the default features G.729, GSM and Opus).
//! - [`player`]: prompts, tones and silence, once or looped, replaced or queued.
//! - [`inbound`]: the decoded inbound audio that mixes and recordings read.
//! - [`wav`]: prompt loading (PCM 16-bit, resampled to 8 kHz) and crash-safe WAV writing.
//!
//! **Architecture invariants:** the engine never reads a clock, touches a socket or a file,
//! or sleeps; every entry point takes `now`. The relay path (`handle_rtp` for a routed leg)
//! rewrites the driver's buffer in place and allocates nothing. All randomness comes from the
//! seed given to [`Engine::new`].

pub mod codec;
pub mod engine;
pub mod error;
pub mod ids;
pub mod inbound;
pub mod leg;
mod native;
pub mod player;
mod rng;
pub mod wav;

pub use codec::{CodecSpec, MediaKind};
pub use engine::{
    DtmfSource, Engine, EngineConfig, EngineEvent, Forward, PlayMode, PlayStarted, RecordOutput,
    RecordSource, TICK, Transmit,
};
pub use error::MediaError;
pub use ids::{LegId, LegSlot, MixId, PlaybackId, RecordingId, RouteId, SessionId};
pub use leg::{Direction, LegConfig, LegSnapshot, LegStats, LegUpdate};
pub use player::{EndReason, PlaySource, Tone};
