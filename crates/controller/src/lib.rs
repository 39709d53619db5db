//! The conference controller: SIP transports, registrar, B2BUA, media-handler
//! registry, and the drivers for the bandwidth manager, flows and ACD.

pub mod agents;
pub mod api;
pub mod config;
pub mod registry;
