//! Behaviour tests of the ACD through its public API, with simulated time.
//! One test binary: one link for all of them.

mod agent_states;
mod common;
mod config_changes;
mod properties;
mod queueing;
mod simulator;
mod stats;
mod strategies;
mod targeted;
