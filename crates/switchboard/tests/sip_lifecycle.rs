//! End to end: stopping the real binary. SIGTERM hangs up every call (BYE)
//! and closes its call record; a process killed with SIGKILL leaves its
//! records in progress, and the next start closes them as interrupted — what
//! was written before the kill (the flow path) is still there.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{CALLER_UNTIL_BYE, Setup, Switchboard};
use testkit::process::{free_sip_port, free_udp_port};
use testkit::sipp::Sipp;

fn one_answered_call(sb: &Switchboard) {
    sb.wait_for("/api/v1/contacts", Duration::from_secs(10), |v| {
        v.as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["state"] == "answered")
    });
}

fn caller(sb: &Switchboard) -> Sipp {
    Sipp::inline("until_bye", CALLER_UNTIL_BYE)
        .local(free_sip_port(), free_udp_port())
        .args(["-s", "1000"])
        .calls(1)
        .timeout(Duration::from_secs(60))
        .target(&sb.target())
}

#[test]
fn sigterm_hangs_up_calls_and_a_killed_process_leaves_records_closed_on_restart() {
    let mut sb = Switchboard::start(Setup::default());

    // SIGTERM with a call up: the caller gets BYE, the process exits by itself.
    let mut first = caller(&sb).spawn();
    one_answered_call(&sb);
    assert!(
        sb.process.terminate(Duration::from_secs(20)),
        "did not stop on SIGTERM:\n{}",
        sb.process.log()
    );
    let out = first.wait(Duration::from_secs(20));
    assert!(out.code == 0 && out.successful == 1, "{}", out.output);
    assert!(sb.process.log().contains("Switchboard stopped."));

    // SIGKILL with a call up: nothing gets to say goodbye.
    sb.restart();
    let mut second = caller(&sb).spawn();
    one_answered_call(&sb);
    let live = sb.get("/api/v1/contacts");
    let killed_id = live[0]["id"].as_str().expect("an id").to_string();
    sb.process.kill_hard();
    drop(second.stop());

    sb.restart();
    let cdrs = sb.ended_cdrs(2, Duration::from_secs(10));
    let by_reason = |reason: &str| -> Value {
        cdrs.iter()
            .find(|c| c["end_reason"] == reason)
            .unwrap_or_else(|| panic!("no record ended {reason:?}: {cdrs:#?}"))
            .clone()
    };
    let stopped = by_reason("shutdown");
    assert_eq!(stopped["hangup_by"], "system");
    let killed = by_reason("interrupted");
    assert_eq!(killed["id"], killed_id.as_str());
    let detail = sb.get(&format!("/api/v1/cdrs/{killed_id}"));
    let path: Vec<&str> = detail["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|s| s["state"].as_str().expect("a state"))
        .collect();
    assert_eq!(&path[..2], ["override", "welcome"], "{detail:#}");
    assert_eq!(detail["media_handler"], "embedded-1");
}
