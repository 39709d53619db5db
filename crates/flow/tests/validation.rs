//! Validation: every bad flow in `tests/flows/invalid/` must produce exactly the messages in
//! its `.errors` file (file:line:column, state, problem — all of them, sorted by position);
//! every flow in `tests/flows/valid/` and the bundled demo must load. Then the loader's file
//! and reload behaviour.
//!
//! `FLOW_BLESS=1 cargo test -p flow --test validation` rewrites the `.errors` files; review the
//! diff before committing.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{demo_prompts, demo_queues};
use flow::{AnyName, Catalog, FlowSet, Problem, load_dir, load_str};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flows")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn demo_errors(file: &str, text: &str) -> Option<String> {
    let prompts = demo_prompts();
    let queues = demo_queues();
    load_str(file, text, &Catalog::new(&prompts, &queues))
        .err()
        .map(|e| e.to_string())
}

#[test]
fn invalid_flows_report_every_problem_with_its_position() {
    let bless = std::env::var_os("FLOW_BLESS").is_some();
    let mut failures = Vec::new();
    for path in fixtures("invalid") {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("fixture is UTF-8");
        let Some(got) = demo_errors(&name, &text) else {
            failures.push(format!("{name}: loaded, but it is in invalid/"));
            continue;
        };
        let expected_path = path.with_extension("errors");
        if bless {
            std::fs::write(&expected_path, format!("{got}\n")).expect("write .errors");
            continue;
        }
        let want = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        if got.trim_end() != want.trim_end() {
            failures.push(format!("{name}:\n--- want\n{want}\n--- got\n{got}\n"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_flows_and_the_demo_load() {
    let mut files = fixtures("valid");
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/flows/demo.yaml"));
    for path in files {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(errors) = demo_errors(&path.display().to_string(), &text) {
            panic!("{} should load:\n{errors}", path.display());
        }
    }
}

#[test]
fn the_demo_uses_only_shipped_prompts_when_they_exist() {
    // The demo prompts are WAV files generated separately; when they are in the tree, the demo
    // must validate against the real directory too, not just the list in `demo_prompts()`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let prompt_dir = root.join("demo/prompts");
    let text = std::fs::read_to_string(root.join("demo/flows/demo.yaml")).expect("demo flow");
    let listed = demo_prompts();
    let queues = demo_queues();
    let flow = load_str("demo.yaml", &text, &Catalog::new(&listed, &queues)).expect("demo loads");
    assert_eq!(flow.queues(), BTreeSet::from(["sales", "support"]));
    if prompt_dir.is_dir() {
        let shipped = flow::prompts_in_dir(&prompt_dir).expect("readable prompt dir");
        if let Err(e) = load_str("demo.yaml", &text, &Catalog::new(&shipped, &queues)) {
            panic!("demo/prompts lacks prompts the demo flow uses:\n{e}");
        }
    }
}

#[test]
fn missing_number_prompts_are_named_once() {
    let prompts: BTreeSet<String> = ["queue-position", "digits/0", "digits/1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let yaml = "start: a\nstates:\n  a:\n    play: [queue-position, { number: '${n}' }, { number: 7 }]\n    next: hangup\n";
    let err =
        load_str("n.yaml", yaml, &Catalog::new(&prompts, &AnyName)).expect_err("digits missing");
    assert_eq!(err.errors().len(), 1, "{err}");
    let e = &err.errors()[0];
    assert_eq!((e.line, e.column, e.state.as_deref()), (4, 38, Some("a")));
    let Problem::MissingSpeechPrompts { what, names } = &e.problem else {
        panic!("unexpected problem {e}")
    };
    assert_eq!(*what, "speaking numbers");
    assert!(names.starts_with("digits/2, digits/3"), "{names}");
    assert!(
        names.ends_with("digits/90, digits/hundred, digits/thousand"),
        "{names}"
    );
}

const GOOD: &str = "start: a\nstates:\n  a: { play: welcome, next: hangup }\n";
const GOOD_V2: &str = "start: a\nstates:\n  a: { play: goodbye, next: hangup }\n";
const BAD: &str = "start: a\nstates:\n  a: { play: nope, next: hangup }\n";

fn catalog_sets() -> (BTreeSet<String>, BTreeSet<String>) {
    (demo_prompts(), demo_queues())
}

#[test]
fn a_bad_file_never_replaces_good_flows() {
    let (p, q) = catalog_sets();
    let catalog = Catalog::new(&p, &q);
    let mut set =
        FlowSet::from_sources([("one.yaml", GOOD), ("two.yaml", GOOD)], &catalog).expect("valid");
    let one = set.get("one").expect("loaded");

    // One bad file: nothing changes, and the error names it.
    let err = set
        .reload_sources([("one.yaml", GOOD_V2), ("two.yaml", BAD)], &catalog)
        .expect_err("two.yaml is bad");
    assert_eq!(
        err.to_string(),
        "two.yaml:3:14: state `a`: missing prompt `nope`"
    );
    assert!(std::sync::Arc::ptr_eq(
        &set.get("one").expect("still there"),
        &one
    ));
    assert_eq!(set.names().collect::<Vec<_>>(), ["one", "two"]);

    // All good: swapped in; a contact holding the old flow keeps it.
    set.reload_sources([("one.yaml", GOOD_V2)], &catalog)
        .expect("valid");
    assert_eq!(set.names().collect::<Vec<_>>(), ["one"]);
    assert!(!std::sync::Arc::ptr_eq(
        &set.get("one").expect("reloaded"),
        &one
    ));

    // A single upload: a bad one changes nothing, a good one replaces by name.
    assert!(set.upsert("one.yaml", BAD, &catalog).is_err());
    let before = set.get("one").expect("there");
    assert!(std::sync::Arc::ptr_eq(
        &set.get("one").expect("there"),
        &before
    ));
    set.upsert("one.yaml", GOOD, &catalog).expect("valid");
    assert!(!std::sync::Arc::ptr_eq(
        &set.get("one").expect("there"),
        &before
    ));
}

#[test]
fn two_files_with_one_flow_name_are_refused() {
    let (p, q) = catalog_sets();
    let catalog = Catalog::new(&p, &q);
    let named = "name: one\nstart: a\nstates:\n  a: { play: welcome, next: hangup }\n";
    let err = FlowSet::from_sources([("one.yaml", GOOD), ("other.yaml", named)], &catalog)
        .expect_err("duplicate name");
    assert_eq!(
        err.to_string(),
        "other.yaml:1:7: flow `one` is also defined in one.yaml"
    );
}

#[test]
fn directories_load_all_or_nothing_with_file_paths_in_errors() {
    let (p, q) = catalog_sets();
    let catalog = Catalog::new(&p, &q);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flow-load-dir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("a.yaml"), GOOD).expect("write");
    std::fs::write(dir.join("b.yml"), GOOD_V2).expect("write");
    std::fs::write(dir.join("notes.txt"), "not a flow").expect("write");
    std::fs::write(dir.join(".hidden.yaml"), BAD).expect("write");

    let mut set = FlowSet::load_dir(&dir, &catalog).expect("valid dir");
    assert_eq!(set.names().collect::<Vec<_>>(), ["a", "b"]);

    std::fs::write(dir.join("c.yaml"), BAD).expect("write");
    std::fs::write(dir.join("d.yaml"), [0xff, 0xfe, 0x00]).expect("write");
    let err = set.reload_dir(&dir, &catalog).expect_err("bad files");
    let c = dir.join("c.yaml").display().to_string();
    let d = dir.join("d.yaml").display().to_string();
    assert_eq!(
        err.to_string(),
        format!(
            "{c}:3:14: state `a`: missing prompt `nope`\n{d}: cannot read the file: not UTF-8 text"
        )
    );
    assert_eq!(
        set.names().collect::<Vec<_>>(),
        ["a", "b"],
        "the good set stays"
    );

    let missing = load_dir(&dir.join("absent"), &catalog).expect_err("no such dir");
    assert!(matches!(missing.errors()[0].problem, Problem::Io(_)));
    assert_eq!(missing.errors()[0].line, 0);
}

#[test]
fn prompt_directories_list_wav_files_by_relative_name() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flow-prompts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("digits")).expect("temp dir");
    for f in ["welcome.wav", "digits/7.wav", "readme.txt", ".x.wav"] {
        std::fs::write(dir.join(f), b"RIFF").expect("write");
    }
    let names = flow::prompts_in_dir(&dir).expect("readable");
    assert_eq!(
        names,
        BTreeSet::from(["digits/7".to_string(), "welcome".to_string()])
    );
}
