//! `switchboard check`: validates a configuration (and, as they land, its
//! flows and prompts); prints every problem with file:line; exit 1 on any.

use crate::settings::ConfigArgs;

/// Runs the check; `Ok(true)` when the configuration is valid.
pub fn run(args: &ConfigArgs) -> bool {
    match args.load() {
        Ok(loaded) => {
            println!(
                "{}{}: ok ({} agents, {} queues, {} routes)",
                loaded.path.display(),
                if loaded.is_demo {
                    " (the bundled demo)"
                } else {
                    ""
                },
                loaded.config.agents.len(),
                loaded.config.queues.len(),
                loaded.config.routes.len()
            );
            true
        }
        Err(e) => {
            eprintln!("{e:#}");
            false
        }
    }
}
