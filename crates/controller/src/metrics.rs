//! Prometheus metrics (served at `/metrics`): their names in one place, and
//! the recorder.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `switchboard_calls_active` | gauge | |
//! | `switchboard_calls_total` | counter | `result`: how each call ended (`answered`, `cancelled`, `rejected`, ...) |
//! | `switchboard_calls_refused_total` | counter | `reason`: `overload` (`sip.max_calls`), `setup_backlog`, `record_backlog`, `shutting_down`, `not_found`, ... (refused before a contact started) |
//! | `switchboard_sip_messages_total` | counter | `direction`: `in`, `out` |
//! | `switchboard_sip_malformed_total` | counter | |
//! | `switchboard_registrations` | gauge | live registrar bindings |
//! | `switchboard_register_requests_total` | counter | `status`: the response code |
//!
//! Without an installed recorder the calls are no-ops (unit tests).

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide Prometheus recorder; `None` if one is
/// installed already (then that one keeps recording).
pub fn install() -> Option<PrometheusHandle> {
    PrometheusBuilder::new().install_recorder().ok()
}

pub(crate) fn sip_message_in() {
    counter!("switchboard_sip_messages_total", "direction" => "in").increment(1);
}

pub(crate) fn sip_message_out() {
    counter!("switchboard_sip_messages_total", "direction" => "out").increment(1);
}

pub(crate) fn sip_malformed() {
    counter!("switchboard_sip_malformed_total").increment(1);
}

pub(crate) fn calls_active(n: f64) {
    gauge!("switchboard_calls_active").set(n);
}

pub(crate) fn call_ended(result: &'static str) {
    counter!("switchboard_calls_total", "result" => result).increment(1);
}

pub(crate) fn call_refused(reason: &'static str) {
    counter!("switchboard_calls_refused_total", "reason" => reason).increment(1);
}

pub(crate) fn registrations(n: f64) {
    gauge!("switchboard_registrations").set(n);
}

pub(crate) fn register_request(status: u16) {
    counter!("switchboard_register_requests_total", "status" => status.to_string()).increment(1);
}
