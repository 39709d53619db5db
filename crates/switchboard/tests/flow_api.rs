//! End to end: flows uploaded through the API (`PUT /api/v1/flows/{name}`)
//! are validated like files, go into service at once, survive a restart, and
//! a bad upload never replaces a good flow.

mod support;

use std::time::Duration;

use support::{Setup, Switchboard, tone_pcap};
use testkit::http;
use testkit::process::{free_sip_port, free_udp_port};
use testkit::sipp::Sipp;

const TOKEN: &str = "flow-admin-token";

fn put_flow(sb: &Switchboard, name: &str, yaml: &str, token: &str) -> http::Response {
    http::request(
        sb.http,
        "PUT",
        &format!("/api/v1/flows/{name}"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/yaml"),
        ],
        Some(yaml),
    )
    .expect("an answer")
}

/// One call to `number`; returns the path of its call record.
fn call_path(sb: &Switchboard, number: &str, calls_before: usize) -> Vec<String> {
    let audio = tone_pcap(5.0);
    let out = Sipp::scenario("uac_call")
        .file("caller.pcap", &audio)
        .file("caller_dtmf.pcap", &audio)
        .local(free_sip_port(), free_udp_port())
        .args(["-s", number, "-d", "4000"])
        .calls(1)
        .timeout(Duration::from_secs(30))
        .target(&sb.target())
        .run();
    assert!(out.code == 0 && out.successful == 1, "{}", out.output);
    let cdr = &sb.ended_cdrs(calls_before + 1, Duration::from_secs(10))[0];
    let detail = sb.get(&format!("/api/v1/cdrs/{}", cdr["id"].as_str().unwrap()));
    detail["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|s| s["state"].as_str().expect("a state").to_string())
        .collect()
}

const GOOD: &str = "start: hello\nstates:\n  hello: { play: welcome, next: bye }\n  bye: { play: goodbye, next: hangup }\n";

#[test]
fn uploaded_flow_goes_into_service_and_a_bad_one_never_replaces_it() {
    let mut sb = Switchboard::start(Setup {
        extra: "[[routes]]\nnumber = \"5000\"\nflow = \"late\"\n".into(),
        admin_token: Some(TOKEN.into()),
        ..Setup::default()
    });

    // No token, wrong token: refused.
    assert_eq!(put_flow(&sb, "late", GOOD, "").status, 401);
    assert_eq!(put_flow(&sb, "late", GOOD, "wrong").status, 401);

    // A valid flow goes into service at once.
    let r = put_flow(&sb, "late", GOOD, TOKEN);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(call_path(&sb, "5000", 0), ["hello", "bye"]);

    // A bad one is refused with every problem and its line; the good one stays.
    let bad = "start: hello\nstates:\n  hello: { play: no-such-prompt, next: gone }\n";
    let r = put_flow(&sb, "late", bad, TOKEN);
    assert_eq!(r.status, 400, "{}", r.text());
    let text = r.text();
    assert!(text.contains("late.yaml:3:"), "{text}");
    assert!(text.contains("no-such-prompt"), "{text}");
    assert!(text.contains("gone"), "{text}");
    assert_eq!(call_path(&sb, "5000", 1), ["hello", "bye"]);
    let listed = sb.get("/api/v1/flows/late");
    assert_eq!(listed["states"], serde_json::json!(["hello", "bye"]));

    // It was stored: after a restart it is still in service.
    sb.process.terminate(Duration::from_secs(20));
    sb.restart();
    assert_eq!(call_path(&sb, "5000", 2), ["hello", "bye"]);
}
