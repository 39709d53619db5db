//! Test support for Switchboard's integration and end-to-end tests
//! (dev-only; nothing in the product depends on it).
//!
//! - [`pcap`]: read captures written by `dumpcap`/`tshark` (pcap and pcapng)
//!   and write pcap files of RTP for sipp to play.
//! - [`rtpcheck`]: the RTP continuity check (sequence gaps, SSRC changes,
//!   timestamp jumps) that a leg's received stream must pass.
//! - [`capture`]: a `dumpcap` capture on the loopback interface.

pub mod capture;
pub mod pcap;
pub mod rtpcheck;
