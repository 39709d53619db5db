//! The bundled demo: configuration, flows and prompts embedded in the binary
//! and written out to `<data dir>/demo/` when Switchboard starts without a
//! configuration of its own.

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/demo_files.rs"));

/// Writes the demo into `dir` (files whose contents already match are left
/// alone) and returns the path of its configuration file.
pub fn extract(dir: &Path) -> std::io::Result<PathBuf> {
    for (rel, bytes) in DEMO_FILES {
        let path = dir.join(rel);
        if std::fs::read(&path).is_ok_and(|old| old == *bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Write then rename, so a crash never leaves a half-written prompt.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(dir.join("switchboard.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_holds_config_and_prompts() {
        let names: Vec<&str> = DEMO_FILES.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"switchboard.toml"));
        assert!(names.contains(&"prompts/welcome.wav"));
        assert!(names.contains(&"prompts/digits/7.wav"));
        assert!(names.contains(&"prompts/hold-music.wav"));
    }

    #[test]
    fn extract_writes_every_file_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let config = extract(dir.path()).unwrap();
        assert!(config.is_file());
        for (rel, bytes) in DEMO_FILES {
            assert_eq!(
                std::fs::read(dir.path().join(rel)).unwrap(),
                *bytes,
                "{rel}"
            );
        }
        // A changed file is restored; the rest are untouched.
        std::fs::write(dir.path().join("prompts/menu.wav"), b"junk").unwrap();
        extract(dir.path()).unwrap();
        let menu = DEMO_FILES
            .iter()
            .find(|(n, _)| *n == "prompts/menu.wav")
            .unwrap()
            .1;
        assert_eq!(
            std::fs::read(dir.path().join("prompts/menu.wav")).unwrap(),
            menu
        );
    }
}
