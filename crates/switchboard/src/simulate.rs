//! `switchboard simulate`: a staffing what-if tool. It runs the production ACD (`acd::sim`)
//! on a virtual clock against synthetic traffic and prints service level, ASA, abandon rate
//! and occupancy. The same seed always prints the same figures.
//!
//! Either the flags describe one queue (`--agents`, `--arrivals-per-hour`, `--aht`, ...), or
//! `--scenario FILE` gives a TOML file with several queues, skills, shifts and a day profile:
//!
//! ```toml
//! hours = 24                  # how long contacts arrive (--hours overrides)
//! answer_delay = 2            # seconds an agent's phone rings before it answers
//!
//! [[queues]]
//! id = "support"
//! aht = 240                   # seconds, talk + wrap-up
//! wrap_up = 15
//! patience = 90               # mean patience; absent: callers never abandon
//! service_level = 20
//! required_skills = { english = 3 }
//! arrivals_per_hour = [10, 10, 40, 120, 150, 90]   # one value per hour, repeating
//!
//! [[agents]]
//! name = "day"
//! count = 12
//! skills = { english = 7 }
//! queues = ["support"]
//! start_hour = 0
//! end_hour = 8
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use acd::sim::{self, Distribution, SimAgentGroup, SimConfig, SimFigures, SimQueue, SimReport};
use acd::{QueueConfig, Strategy, erlang};
use anyhow::{Context, bail};
use serde::Deserialize;

/// Flags of `switchboard simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Agents serving the queue.
    #[arg(long, default_value_t = 10)]
    agents: u32,
    /// Poisson arrival rate (contacts per hour).
    #[arg(long, default_value_t = 100.0)]
    arrivals_per_hour: f64,
    /// Average handle time in seconds: talk plus wrap-up (talk time is drawn with mean
    /// AHT − wrap-up).
    #[arg(long, default_value_t = 180.0)]
    aht: f64,
    /// Hours during which contacts arrive (the run then drains the queue). Default 8.
    #[arg(long)]
    hours: Option<f64>,
    /// Mean patience in seconds (exponential); absent: callers never abandon.
    #[arg(long)]
    patience: Option<f64>,
    /// Service-level threshold in seconds.
    #[arg(long, default_value_t = 20.0)]
    service_level_seconds: f64,
    /// Abandons quicker than this many seconds are left out of the service level.
    #[arg(long, default_value_t = 0.0)]
    short_abandon_seconds: f64,
    /// Wrap-up after each call, in seconds (part of the AHT).
    #[arg(long, default_value_t = 0.0)]
    wrap_up: f64,
    /// Distribution of talk times.
    #[arg(long, value_enum, default_value_t = TalkDistribution::Exponential)]
    distribution: TalkDistribution,
    /// Coefficient of variation for `--distribution lognormal`.
    #[arg(long, default_value_t = 1.0)]
    cv: f64,
    /// Routing strategy of the queue.
    #[arg(long, value_enum, default_value_t = Routing::LongestIdle)]
    strategy: Routing,
    /// Seconds an agent's phone rings before the agent answers.
    #[arg(long, default_value_t = 0.0)]
    answer_delay: f64,
    /// Seed of the run: the same seed prints the same figures.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A TOML scenario (queues, skills, shifts, day profile) instead of the one-queue flags.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Talk-time distributions offered on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TalkDistribution {
    Exponential,
    Constant,
    Lognormal,
}

/// Routing strategies offered on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Routing {
    LongestIdle,
    RoundRobin,
    FewestCalls,
    MostSkilled,
    RingAll,
}

impl From<Routing> for Strategy {
    fn from(r: Routing) -> Self {
        match r {
            Routing::LongestIdle => Strategy::LongestIdle,
            Routing::RoundRobin => Strategy::RoundRobin,
            Routing::FewestCalls => Strategy::FewestCalls,
            Routing::MostSkilled => Strategy::MostSkilled,
            Routing::RingAll => Strategy::RingAll,
        }
    }
}

fn distribution(d: TalkDistribution, cv: f64) -> Distribution {
    match d {
        TalkDistribution::Exponential => Distribution::Exponential,
        TalkDistribution::Constant => Distribution::Constant,
        TalkDistribution::Lognormal => Distribution::LogNormal { cv },
    }
}

fn seconds(what: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("{what} must be a number of seconds ≥ 0, not {s}"))
}

/// Talk time = AHT − wrap-up, which must stay positive.
fn talk_time(queue: &str, aht: f64, wrap_up: f64) -> anyhow::Result<Duration> {
    if aht <= wrap_up {
        bail!(
            "queue {queue}: the AHT ({aht} s) includes the wrap-up ({wrap_up} s) and must exceed it"
        );
    }
    seconds("aht", aht - wrap_up)
}

/// Runs the subcommand.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let (config, erlang_c) = match &args.scenario {
        Some(path) => (scenario(path, args)?, None),
        None => one_queue(args)?,
    };
    let started = Instant::now();
    let report = sim::run(&config, started).context("simulation failed")?;
    let elapsed = started.elapsed();
    if args.json {
        println!("{}", json(&report, erlang_c));
    } else {
        print!("{}", text(&config, &report, erlang_c));
    }
    eprintln!(
        "simulated {} contacts and {} agents ({} events) in {:.0} ms",
        report.overall.offered + report.overall.refused,
        report.agents,
        report.events,
        elapsed.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The one-queue scenario from the flags, and the Erlang C prediction when it applies
/// (exponential talk, no abandonment, no wrap-up, immediate answer: an M/M/c queue).
fn one_queue(args: &SimulateArgs) -> anyhow::Result<(SimConfig, Option<(f64, f64)>)> {
    if !(args.arrivals_per_hour.is_finite() && args.arrivals_per_hour >= 0.0) {
        bail!("--arrivals-per-hour must be ≥ 0");
    }
    let hours = args.hours.unwrap_or(8.0);
    let mut queue = QueueConfig::new("queue");
    queue.strategy = args.strategy.into();
    queue.wrap_up = seconds("--wrap-up", args.wrap_up)?;
    queue.service_level_threshold = seconds("--service-level-seconds", args.service_level_seconds)?;
    queue.short_abandon_threshold = seconds("--short-abandon-seconds", args.short_abandon_seconds)?;
    // Simulated agents always answer; keep the ring timeout out of the way of the answer delay.
    queue.ring_timeout = seconds("--answer-delay", args.answer_delay)?.max(Duration::from_secs(15))
        + Duration::from_secs(15);
    let talk = talk_time("queue", args.aht, args.wrap_up)?;
    let mut config = SimConfig::single_queue(args.agents, args.arrivals_per_hour, talk, hours);
    config.seed = args.seed;
    config.answer_delay = seconds("--answer-delay", args.answer_delay)?;
    config.queues[0].queue = queue;
    config.queues[0].talk_distribution = distribution(args.distribution, args.cv);
    config.queues[0].patience = args
        .patience
        .map(|p| seconds("--patience", p))
        .transpose()?;
    let mm_c = matches!(args.distribution, TalkDistribution::Exponential)
        && args.patience.is_none()
        && args.wrap_up == 0.0
        && args.answer_delay == 0.0;
    let aht = seconds("--aht", args.aht)?;
    let threshold = config.queues[0].queue.service_level_threshold;
    let erlang_c = mm_c
        .then(|| {
            let sl = erlang::service_level(args.agents, args.arrivals_per_hour, aht, threshold)?;
            let asa = erlang::average_speed_of_answer(args.agents, args.arrivals_per_hour, aht)?;
            Some((sl, asa))
        })
        .flatten();
    Ok((config, erlang_c))
}

/// A scenario file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Scenario {
    hours: Option<f64>,
    #[serde(default)]
    answer_delay: f64,
    queues: Vec<ScenarioQueue>,
    agents: Vec<ScenarioAgents>,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Rate {
    Constant(f64),
    Profile(Vec<f64>),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ScenarioQueue {
    id: String,
    arrivals_per_hour: Rate,
    aht: f64,
    #[serde(default)]
    wrap_up: f64,
    patience: Option<f64>,
    #[serde(default = "default_service_level")]
    service_level: f64,
    #[serde(default)]
    short_abandon: f64,
    #[serde(default)]
    priority: i32,
    max_wait: Option<f64>,
    #[serde(default = "default_ring_timeout")]
    ring_timeout: f64,
    strategy: Option<String>,
    #[serde(default = "default_distribution")]
    distribution: TalkDistribution,
    #[serde(default = "default_cv")]
    cv: f64,
    #[serde(default)]
    required_skills: BTreeMap<String, u8>,
}

fn default_service_level() -> f64 {
    20.0
}
fn default_ring_timeout() -> f64 {
    30.0
}
fn default_distribution() -> TalkDistribution {
    TalkDistribution::Exponential
}
fn default_cv() -> f64 {
    1.0
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ScenarioAgents {
    name: String,
    count: u32,
    #[serde(default)]
    skills: BTreeMap<String, u8>,
    queues: Vec<String>,
    wrap_up: Option<f64>,
    #[serde(default)]
    start_hour: f64,
    end_hour: Option<f64>,
}

fn scenario(path: &PathBuf, args: &SimulateArgs) -> anyhow::Result<SimConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: Scenario =
        toml::from_str(&text).with_context(|| format!("{}: invalid scenario", path.display()))?;
    let mut queues = Vec::new();
    for q in file.queues {
        let mut queue = QueueConfig::new(q.id.as_str());
        if let Some(name) = &q.strategy {
            queue.strategy = Strategy::from_name(name)
                .with_context(|| format!("queue {}: unknown strategy {name:?}", q.id))?;
        }
        queue.wrap_up = seconds("wrap_up", q.wrap_up)?;
        queue.service_level_threshold = seconds("service_level", q.service_level)?;
        queue.short_abandon_threshold = seconds("short_abandon", q.short_abandon)?;
        queue.priority = q.priority;
        queue.max_wait = q.max_wait.map(|m| seconds("max_wait", m)).transpose()?;
        queue.ring_timeout = seconds("ring_timeout", q.ring_timeout)?;
        queue.required_skills = q.required_skills;
        queues.push(SimQueue {
            talk: talk_time(&q.id, q.aht, q.wrap_up)?,
            queue,
            arrivals_per_hour: match q.arrivals_per_hour {
                Rate::Constant(r) => vec![r],
                Rate::Profile(p) => p,
            },
            talk_distribution: distribution(q.distribution, q.cv),
            patience: q.patience.map(|p| seconds("patience", p)).transpose()?,
        });
    }
    let agents = file
        .agents
        .into_iter()
        .map(|g| {
            Ok(SimAgentGroup {
                name: g.name,
                count: g.count,
                skills: g.skills,
                queues: g.queues.into_iter().map(Into::into).collect(),
                wrap_up: g.wrap_up.map(|w| seconds("wrap_up", w)).transpose()?,
                start_hour: g.start_hour,
                end_hour: g.end_hour,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(SimConfig {
        seed: args.seed,
        hours: args.hours.or(file.hours).unwrap_or(8.0),
        queues,
        agents,
        answer_delay: seconds("answer_delay", file.answer_delay)?,
        not_ready_recovery: Duration::from_secs(60),
    })
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:.1} %", x * 100.0))
}

fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{x:.1} s"))
}

fn text(config: &SimConfig, report: &SimReport, erlang_c: Option<(f64, f64)>) -> String {
    let mut out = String::new();
    let agents: u32 = config.agents.iter().map(|g| g.count).sum();
    let _ = writeln!(
        out,
        "{} queue(s), {agents} agents, {} h of arrivals, seed {}",
        config.queues.len(),
        config.hours,
        config.seed
    );
    let block = |out: &mut String, name: &str, f: &SimFigures| {
        let _ = writeln!(out, "{name}");
        let _ = writeln!(out, "  offered          {}", f.offered);
        let _ = writeln!(out, "  answered         {}", f.answered);
        let _ = writeln!(
            out,
            "  abandoned        {} ({})",
            f.abandoned,
            percent(f.abandon_rate)
        );
        if f.overflowed + f.refused > 0 {
            let _ = writeln!(
                out,
                "  overflowed       {} (+ {} refused: no agent)",
                f.overflowed, f.refused
            );
        }
        let _ = writeln!(out, "  service level    {}", percent(f.service_level));
        let _ = writeln!(out, "  ASA              {}", secs(f.asa_seconds));
        let _ = writeln!(out, "  AHT              {}", secs(f.aht_seconds));
        let _ = writeln!(out, "  longest answer   {:.1} s", f.max_answer_wait_seconds);
    };
    if report.queues.len() > 1 {
        for (id, f) in &report.queues {
            block(&mut out, &format!("queue {id}"), f);
        }
    }
    block(&mut out, "all queues", &report.overall);
    let _ = writeln!(out, "  occupancy        {}", percent(report.occupancy));
    if let Some((sl, asa)) = erlang_c {
        let _ = writeln!(
            out,
            "Erlang C (M/M/c)   service level {}, ASA {}",
            percent(Some(sl)),
            secs(Some(asa))
        );
    }
    out
}

/// A JSON number, or `null` when absent or not finite.
fn number(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".into(),
    }
}

fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn figures(f: &SimFigures) -> String {
    format!(
        "\"service_level\":{},\"asa_seconds\":{},\"abandon_rate\":{},\"offered\":{},\
         \"answered\":{},\"abandoned\":{},\"overflowed\":{},\"refused\":{},\"aht_seconds\":{},\
         \"max_answer_wait_seconds\":{}",
        number(f.service_level),
        number(f.asa_seconds),
        number(f.abandon_rate),
        f.offered,
        f.answered,
        f.abandoned,
        f.overflowed,
        f.refused,
        number(f.aht_seconds),
        number(Some(f.max_answer_wait_seconds)),
    )
}

fn json(report: &SimReport, erlang_c: Option<(f64, f64)>) -> String {
    let queues: Vec<String> = report
        .queues
        .iter()
        .map(|(id, f)| format!("{{\"queue\":{},{}}}", string(id.as_str()), figures(f)))
        .collect();
    let erlang_c = erlang_c.map_or_else(
        || "null".into(),
        |(sl, asa)| {
            format!(
                "{{\"service_level\":{},\"asa_seconds\":{}}}",
                number(Some(sl)),
                number(Some(asa))
            )
        },
    );
    format!(
        "{{{},\"occupancy\":{},\"agents\":{},\"simulated_seconds\":{},\"erlang_c\":{},\"queues\":[{}]}}",
        figures(&report.overall),
        number(report.occupancy),
        report.agents,
        number(Some(report.simulated_seconds)),
        erlang_c,
        queues.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(flags: &[&str]) -> SimulateArgs {
        Cli::try_parse_from(std::iter::once("simulate").chain(flags.iter().copied()))
            .expect("valid flags")
            .args
    }

    #[test]
    fn json_has_the_required_keys_and_is_reproducible() {
        let args = parse(&[
            "--agents",
            "4",
            "--arrivals-per-hour",
            "60",
            "--aht",
            "200",
            "--hours",
            "3",
            "--json",
        ]);
        let (config, erlang_c) = one_queue(&args).expect("valid");
        assert!(erlang_c.is_some(), "M/M/c: Erlang C applies");
        let first = json(&sim::run(&config, Instant::now()).expect("runs"), erlang_c);
        let again = json(&sim::run(&config, Instant::now()).expect("runs"), erlang_c);
        assert_eq!(first, again);
        for key in [
            "service_level",
            "asa_seconds",
            "abandon_rate",
            "occupancy",
            "offered",
            "answered",
        ] {
            assert!(
                first.contains(&format!("\"{key}\":")),
                "{key} missing in {first}"
            );
        }
        let parsed: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
        assert!(
            parsed["service_level"]
                .as_f64()
                .is_some_and(|sl| (0.0..=1.0).contains(&sl))
        );
        assert_eq!(
            parsed["offered"], parsed["answered"],
            "nobody abandons without --patience"
        );
    }

    #[test]
    fn wrap_up_is_carved_out_of_the_aht() {
        let args = parse(&[
            "--aht",
            "120",
            "--wrap-up",
            "30",
            "--distribution",
            "constant",
        ]);
        let (config, erlang_c) = one_queue(&args).expect("valid");
        assert_eq!(config.queues[0].talk, Duration::from_secs(90));
        assert_eq!(config.queues[0].queue.wrap_up, Duration::from_secs(30));
        assert!(erlang_c.is_none(), "not M/M/c");
        let args = parse(&["--aht", "30", "--wrap-up", "30"]);
        assert!(one_queue(&args).is_err());
    }

    #[test]
    fn a_scenario_file_is_read_with_unknown_keys_rejected() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "hours = 2\n[[queues]]\nid = \"s\"\naht = 100\narrivals_per_hour = [0, 50]\n\
             required_skills = { english = 3 }\nstrategy = \"ring_all\"\n\
             [[agents]]\nname = \"a\"\ncount = 3\nskills = { english = 5 }\nqueues = [\"s\"]\n",
        )
        .expect("write");
        let args = parse(&["--scenario", good.to_str().expect("utf-8")]);
        let config = scenario(&good, &args).expect("valid scenario");
        assert_eq!(config.hours, 2.0);
        assert_eq!(config.queues[0].queue.strategy, Strategy::RingAll);
        assert_eq!(config.queues[0].arrivals_per_hour, vec![0.0, 50.0]);
        let report = sim::run(&config, Instant::now()).expect("runs");
        assert!(report.overall.answered > 0);
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "hours = 2\nqueues = []\nagents = []\ncolour = 1\n").expect("write");
        let err = scenario(&bad, &args).expect_err("unknown key");
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
