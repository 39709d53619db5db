//! Test support for Switchboard's integration and end-to-end tests
//! (dev-only; nothing in the product depends on it).
//!
//! - [`pcap`]: read captures written by `dumpcap`/`tshark` (pcap and pcapng)
//!   and write pcap files of RTP for sipp to play.
//! - [`rtpcheck`]: the RTP continuity check (sequence gaps, SSRC changes,
//!   timestamp jumps) that a leg's received stream must pass.
//! - [`capture`]: a `dumpcap` capture on the loopback interface.
//! - [`process`]: run the real binary (temp dir, free ports, readiness, logs).
//! - [`http`]: a small blocking HTTP client for the JSON APIs.
//! - [`sipp`]: run sipp scenarios (bundled under `crates/testkit/sipp/`).

pub mod capture;
pub mod http;
pub mod pcap;
pub mod process;
pub mod rtpcheck;
pub mod sipp;
