//! `switchboard check` on the real binary: the bundled demo is valid, and a
//! broken configuration gets every problem with file:line and exit code 1.

use std::path::Path;
use std::process::Command;

fn switchboard(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(dir)
        .env_remove("SWITCHBOARD_CONFIG")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .output()
        .expect("run switchboard");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn bundled_demo_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = switchboard(dir.path(), &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("(the bundled demo): ok (3 agents, 2 queues, 1 routes, 1 flows"),
        "{text}"
    );
}

#[test]
fn broken_configuration_and_flow_report_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // Get a copy of the demo, then break it in three places.
    let (code, text) = switchboard(dir.path(), &["check", "--data-dir", "d"]);
    assert_eq!(code, 0, "{text}");
    let demo = dir.path().join("d/demo");
    let flow_path = demo.join("flows/demo.yaml");
    let flow = std::fs::read_to_string(&flow_path).unwrap();
    assert!(flow.contains("queue: sales"));
    std::fs::write(&flow_path, flow.replacen("queue: sales", "queue: salez", 1)).unwrap();
    std::fs::remove_file(demo.join("prompts/goodbye.wav")).unwrap();

    let (code, text) = switchboard(
        dir.path(),
        &["check", "--config", "d/demo/switchboard.toml"],
    );
    assert_eq!(code, 1, "{text}");
    let line_of = |needle: &str| flow.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let queue_line = line_of("queue: sales");
    assert!(text.contains(&format!("demo.yaml:{queue_line}:")), "{text}");
    assert!(text.contains("unknown queue `salez`"), "{text}");
    assert!(text.contains("missing prompt `goodbye`"), "{text}");

    // A bad key in the TOML names its line too.
    let toml_path = demo.join("switchboard.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(
        &toml_path,
        toml.replacen("[http]\n", "[http]\nlisten_port = 9\n", 1),
    )
    .unwrap();
    let http_line = toml.lines().position(|l| l == "[http]").unwrap() + 2;
    let (code, text) = switchboard(
        dir.path(),
        &["check", "--config", "d/demo/switchboard.toml"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "switchboard.toml:{http_line}:1: unknown field `listen_port`"
        )),
        "{text}"
    );
}
