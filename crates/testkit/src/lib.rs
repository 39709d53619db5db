//! Test support (dev-only): pcap capture reading, RTP continuity checks, and helpers to run the binary and sipp.
