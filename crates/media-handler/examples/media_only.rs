//! The media handler's two commands without the rest of the product, for benchmarking the
//! relay while other crates change: `media_only media ...` and `media_only bench relay ...`
//! take the same arguments as `switchboard media` and `switchboard bench relay`.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One media handler.
    Media(media_handler::MediaArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand, Debug)]
enum Bench {
    /// The relay benchmark.
    Relay(media_handler::bench::RelayArgs),
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Media(args) => media_handler::run(args)?,
        Command::Bench(Bench::Relay(args)) => {
            media_handler::bench::relay(&args)?;
        }
    }
    Ok(())
}
