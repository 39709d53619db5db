//! Loading flows from files and directories, and the [`FlowSet`] that swaps in new flows only
//! when all of them are valid.
//!
//! This is the only module that touches the file system; the engine never does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::compile::{Catalog, compile};
use crate::error::{FlowError, LoadErrors, Problem};
use crate::model::Flow;
use crate::yaml::MAX_SOURCE_BYTES;

/// Compiles one flow from text. `file` names it in errors.
pub fn load_str(file: &str, source: &str, catalog: &Catalog<'_>) -> Result<Flow, LoadErrors> {
    compile(file, source, catalog)
}

/// Reads and compiles one flow file.
pub fn load_file(path: &Path, catalog: &Catalog<'_>) -> Result<Flow, LoadErrors> {
    let file = path.display().to_string();
    let source = read(path).map_err(|problem| LoadErrors(vec![whole_file(&file, problem)]))?;
    compile(&file, &source, catalog)
}

/// Reads and compiles every `*.yaml` / `*.yml` file directly in `dir` (sorted by name; hidden
/// files skipped). Returns the flows by name, or every problem in every file.
pub fn load_dir(
    dir: &Path,
    catalog: &Catalog<'_>,
) -> Result<BTreeMap<String, Arc<Flow>>, LoadErrors> {
    let dir_name = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadErrors(vec![whole_file(&dir_name, Problem::Io(e.to_string()))]))?;
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let is_flow = name.ends_with(".yaml") || name.ends_with(".yml");
                if is_flow && !name.starts_with('.') && path.is_file() {
                    paths.push(path);
                }
            }
            Err(e) => errors.push(whole_file(&dir_name, Problem::Io(e.to_string()))),
        }
    }
    paths.sort();
    let mut sources = Vec::new();
    for path in &paths {
        let file = path.display().to_string();
        match read(path) {
            Ok(text) => sources.push((file, text)),
            Err(problem) => errors.push(whole_file(&file, problem)),
        }
    }
    let compiled = compile_all(
        sources.iter().map(|(f, t)| (f.as_str(), t.as_str())),
        catalog,
    );
    match compiled {
        Ok(flows) if errors.is_empty() => Ok(flows),
        Ok(_) => Err(sorted(errors)),
        Err(more) => {
            errors.extend(more.0);
            Err(sorted(errors))
        }
    }
}

/// Compiles several `(file, text)` sources as one set: all valid and no two with the same flow
/// name, or every problem found.
pub fn compile_all<'s>(
    sources: impl IntoIterator<Item = (&'s str, &'s str)>,
    catalog: &Catalog<'_>,
) -> Result<BTreeMap<String, Arc<Flow>>, LoadErrors> {
    let mut flows: BTreeMap<String, Arc<Flow>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (file, text) in sources {
        match compile(file, text, catalog) {
            Ok(flow) => {
                if let Some(other) = flows.get(flow.name()) {
                    errors.push(FlowError {
                        file: file.to_string(),
                        line: flow.name_loc.line,
                        column: flow.name_loc.column,
                        state: None,
                        problem: Problem::DuplicateFlow {
                            name: flow.name().to_string(),
                            other: other.file().to_string(),
                        },
                    });
                } else {
                    flows.insert(flow.name().to_string(), Arc::new(flow));
                }
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() {
        Ok(flows)
    } else {
        Err(sorted(errors))
    }
}

fn sorted(errors: Vec<FlowError>) -> LoadErrors {
    let mut e = LoadErrors(errors);
    e.sort();
    e
}

fn whole_file(file: &str, problem: Problem) -> FlowError {
    FlowError {
        file: file.to_string(),
        line: 0,
        column: 0,
        state: None,
        problem,
    }
}

fn read(path: &Path) -> Result<String, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| Problem::Io(e.to_string()))?;
    if meta.len() > MAX_SOURCE_BYTES as u64 {
        return Err(Problem::Io(format!(
            "{} bytes; flow files are limited to {MAX_SOURCE_BYTES}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Problem::Io(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| Problem::Io("not UTF-8 text".into()))
}

/// The prompt names available in a prompt directory: every `*.wav` below it, by its relative
/// path without the extension and with `/` separators (`welcome`, `digits/7`). Feed it to
/// [`Catalog`] as the prompt set.
pub fn prompts_in_dir(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    walk(dir, "", 0, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut BTreeSet<String>) -> std::io::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &format!("{prefix}{name}/"), depth + 1, out)?;
        } else if let Some(stem) = name.strip_suffix(".wav") {
            out.insert(format!("{prefix}{stem}"));
        }
    }
    Ok(())
}

/// The flows in service, by name. Replacing them is all-or-nothing: a reload with one bad file
/// keeps every flow as it was, so a bad file never replaces a good one. Contacts hold their
/// flow in an `Arc`, so calls in progress finish on the version they started with.
#[derive(Debug, Default, Clone)]
pub struct FlowSet {
    flows: BTreeMap<String, Arc<Flow>>,
}

impl FlowSet {
    /// An empty set.
    pub fn new() -> FlowSet {
        FlowSet::default()
    }

    /// Loads every flow file in `dir`.
    pub fn load_dir(dir: &Path, catalog: &Catalog<'_>) -> Result<FlowSet, LoadErrors> {
        load_dir(dir, catalog).map(|flows| FlowSet { flows })
    }

    /// Loads flows from `(file, text)` pairs.
    pub fn from_sources<'s>(
        sources: impl IntoIterator<Item = (&'s str, &'s str)>,
        catalog: &Catalog<'_>,
    ) -> Result<FlowSet, LoadErrors> {
        compile_all(sources, catalog).map(|flows| FlowSet { flows })
    }

    /// Replaces all flows with those in `dir` if every file is valid; otherwise changes
    /// nothing and returns every problem.
    pub fn reload_dir(&mut self, dir: &Path, catalog: &Catalog<'_>) -> Result<(), LoadErrors> {
        self.flows = load_dir(dir, catalog)?;
        Ok(())
    }

    /// Replaces all flows with those compiled from `sources` if all are valid; otherwise
    /// changes nothing.
    pub fn reload_sources<'s>(
        &mut self,
        sources: impl IntoIterator<Item = (&'s str, &'s str)>,
        catalog: &Catalog<'_>,
    ) -> Result<(), LoadErrors> {
        self.flows = compile_all(sources, catalog)?;
        Ok(())
    }

    /// Adds or replaces one flow (e.g. uploaded through the API) if it is valid; otherwise
    /// changes nothing. Returns the flow now in service under its name.
    pub fn upsert(
        &mut self,
        file: &str,
        source: &str,
        catalog: &Catalog<'_>,
    ) -> Result<Arc<Flow>, LoadErrors> {
        let flow = Arc::new(compile(file, source, catalog)?);
        self.flows
            .insert(flow.name().to_string(), Arc::clone(&flow));
        Ok(flow)
    }

    /// Takes a flow out of service.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Flow>> {
        self.flows.remove(name)
    }

    /// The flow named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    /// The flow names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flows.keys().map(String::as_str)
    }

    /// How many flows are loaded.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is loaded.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}
