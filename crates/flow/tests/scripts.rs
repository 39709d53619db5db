//! Test vectors as files: `tests/scripts/*.script` drive a flow with timed events; the command
//! trace each produces (plus the call-record summary) is compared with `<name>.snap` next to it.
//!
//! A script starts with `flow <path relative to crates/flow>` and `wall <RFC 3339 time at the
//! start>`; the other lines are the inputs described in `common/mod.rs`. To accept changed
//! traces: `INSTA_UPDATE=always cargo test -p flow --test scripts`, then review the diff.

mod common;

use std::path::Path;

use common::{Run, compile, wall};

#[test]
fn scripts_produce_their_command_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/scripts exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "script"))
        .collect();
    scripts.sort();
    assert!(
        scripts.len() >= 5,
        "expected the script corpus in {}",
        dir.display()
    );
    for path in scripts {
        let name = path
            .file_stem()
            .expect("file stem")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("UTF-8 script");
        let mut lines = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let flow_line = lines.next().expect("a `flow` line");
        let flow_path = flow_line
            .strip_prefix("flow ")
            .expect("first line: flow <path>")
            .trim();
        let wall_line = lines.next().expect("a `wall` line");
        let wall0 = wall(
            wall_line
                .strip_prefix("wall ")
                .expect("second line: wall <time>")
                .trim(),
        );
        let flow_file = Path::new(env!("CARGO_MANIFEST_DIR")).join(flow_path);
        let yaml = std::fs::read_to_string(&flow_file).expect("flow file");
        let flow = compile(flow_path, &yaml);
        let mut run = Run::new(flow, wall0);
        for line in lines {
            run.line(line);
        }
        let trace = format!("{}\n{}", run.trace, run.summary());
        insta::with_settings!({
            snapshot_path => dir.clone(),
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("{flow_path} at {wall0}"),
        }, {
            insta::assert_snapshot!(name, trace);
        });
    }
}
