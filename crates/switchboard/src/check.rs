//! `switchboard check`: validates a configuration, its flows (against the
//! prompts folder and the configured queues) and its routes; prints every
//! problem with file:line; exit 1 on any.

use std::collections::BTreeSet;

use crate::settings::ConfigArgs;

/// Runs the check; `true` when everything is valid.
pub fn run(args: &ConfigArgs) -> bool {
    let loaded = match args.load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e:#}");
            return false;
        }
    };
    let config = &loaded.config;
    let mut ok = true;

    let prompts = match flow::prompts_in_dir(&config.prompts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "{}: cannot read the prompts folder: {e}",
                config.prompts.display()
            );
            ok = false;
            BTreeSet::new()
        }
    };
    let queues: BTreeSet<String> = config
        .queues
        .iter()
        .map(|q| q.id.get_ref().clone())
        .collect();
    let catalog = flow::Catalog::new(&prompts, &queues);
    let flows = match flow::FlowSet::load_dir(&config.flows, &catalog) {
        Ok(set) => set,
        Err(errors) => {
            eprintln!("{errors}");
            ok = false;
            flow::FlowSet::new()
        }
    };
    if ok {
        for r in &config.routes {
            if flows.get(r.flow.get_ref()).is_none() {
                let (line, col) = controller::config::line_col(
                    &std::fs::read_to_string(&loaded.path).unwrap_or_default(),
                    r.flow.span().start,
                );
                eprintln!(
                    "{}:{line}:{col}: route {:?} runs flow {:?}, which is not in {}",
                    loaded.path.display(),
                    r.number.get_ref(),
                    r.flow.get_ref(),
                    config.flows.display()
                );
                ok = false;
            }
        }
    }
    if ok {
        println!(
            "{}{}: ok ({} agents, {} queues, {} routes, {} flows, {} prompts)",
            loaded.path.display(),
            if loaded.is_demo {
                " (the bundled demo)"
            } else {
                ""
            },
            config.agents.len(),
            config.queues.len(),
            config.routes.len(),
            flows.len(),
            prompts.len()
        );
    }
    ok
}
