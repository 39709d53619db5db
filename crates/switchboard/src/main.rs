//! `switchboard`: one binary for the whole contact center.
//!
//! With no subcommand it runs the all-in-one (`switchboard run`): the
//! conference controller with embedded media handlers and the bundled demo.

mod bench_sip;
mod check;
mod demo;
mod run;
mod settings;
mod simulate;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard, an open-source IP contact center"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The all-in-one: controller + embedded media handlers + SQLite (the default).
    Run(run::RunArgs),
    /// The conference controller alone, driving media handlers that run elsewhere.
    Controller(run::RunArgs),
    /// One standalone media handler.
    Media(media_handler::MediaArgs),
    /// Validate a configuration and its flows; print every problem with file:line.
    Check(settings::ConfigArgs),
    /// Load generators that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the ACD against synthetic traffic with a virtual clock.
    Simulate(simulate::SimulateArgs),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Relay G.711 calls through a media handler (and rtpengine) and print CPU, loss, latency.
    Relay(media_handler::bench::RelayArgs),
    /// SIP calls per second against `switchboard run` (and Kamailio as a ceiling).
    Sip(bench_sip::SipArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli
        .command
        .unwrap_or_else(|| Command::Run(run::RunArgs::from_env()))
    {
        Command::Run(args) => run::run(args, true),
        Command::Controller(args) => run::run(args, false),
        Command::Check(args) => {
            if !check::run(&args) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Simulate(args) => simulate::run(&args),
        Command::Media(args) => Ok(media_handler::run(args)?),
        Command::Bench(BenchCommand::Sip(args)) => bench_sip::run(&args),
        Command::Bench(BenchCommand::Relay(args)) => {
            media_handler::bench::relay(&args)?;
            Ok(())
        }
    }
}
