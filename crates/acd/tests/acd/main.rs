//! Behaviour tests of the ACD through its public API, with simulated time.
//! One test binary: one link for all of them.

mod common;
mod agent_states;
mod simulator;
