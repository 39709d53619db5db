//! Where the configuration comes from: `--config` / `SWITCHBOARD_CONFIG`, else
//! `./switchboard.toml`, else the bundled demo (written to `<data dir>/demo/`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use controller::config::Config;

use crate::demo;

/// Options shared by the subcommands that read a configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Default: ./switchboard.toml if present, else the bundled demo.
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (database, recordings); overrides the file's `data_dir`.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// A loaded configuration and where it came from.
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    pub is_demo: bool,
}

impl ConfigArgs {
    /// Finds, loads and validates the configuration; problems are returned as
    /// one error listing each with file:line.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let (path, is_demo) = match &self.config {
            Some(p) => (p.clone(), false),
            None if Path::new("switchboard.toml").is_file() => {
                (PathBuf::from("switchboard.toml"), false)
            }
            None => {
                let data = self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("data"));
                let dir = data.join("demo");
                let path = demo::extract(&dir)
                    .with_context(|| format!("writing the bundled demo to {}", dir.display()))?;
                (path, true)
            }
        };
        let mut config = Config::load(&path).map_err(|problems| anyhow::anyhow!("{problems}"))?;
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        } else if is_demo {
            // The demo's relative data_dir would land inside data/demo/.
            config.data_dir = PathBuf::from("data");
        }
        Ok(Loaded {
            config,
            path,
            is_demo,
        })
    }
}
