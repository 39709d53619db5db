//! The simulator against Erlang C, and its reproducibility.
//!
//! The Erlang C comparison is a falsifiable test of both the ACD and the simulator: for an
//! M/M/c queue (Poisson arrivals, exponential handle times, no abandonment) the closed form
//! gives the service level and the average speed of answer, and a long seeded run must land
//! near them. A bias anywhere (an agent left idle while contacts wait, a timer run late, a
//! wrong statistic) shows up as a gap.

use std::time::{Duration, Instant};

use acd::sim::{self, Distribution, SimAgentGroup, SimConfig, SimQueue};
use acd::{QueueConfig, Skills, Strategy, erlang};

fn run(cfg: &SimConfig) -> sim::SimReport {
    let report = sim::run(cfg, Instant::now()).expect("the scenario runs");
    let o = &report.overall;
    assert_eq!(
        o.offered,
        o.answered + o.abandoned + o.overflowed,
        "every contact is resolved"
    );
    report
}

/// Runs M/M/`agents` and compares with Erlang C. The tolerances are about 4 standard
/// deviations of the run-to-run spread measured over 20 seeds, and the test first checks that
/// they are tight enough to tell `agents` from `agents ± 1` (so an ACD that left one agent idle,
/// or a simulator that served one contact too many, would fail).
fn check_erlang_c(
    (agents, per_hour, aht): (u32, f64, u64),
    hours: f64,
    strategy: Strategy,
    seed: u64,
    (sl_tolerance, asa_tolerance): (f64, f64),
) {
    let aht = Duration::from_secs(aht);
    let threshold = Duration::from_secs(20);
    let sl = |c| erlang::service_level(c, per_hour, aht, threshold).expect("stable");
    let asa = |c| erlang::average_speed_of_answer(c, per_hour, aht).expect("stable");
    for other in [agents - 1, agents + 1] {
        assert!(
            (sl(other) - sl(agents)).abs() > sl_tolerance,
            "SL band too wide"
        );
        assert!(
            (asa(other) - asa(agents)).abs() / asa(agents) > asa_tolerance,
            "ASA band too wide"
        );
    }
    let mut cfg = SimConfig::single_queue(agents, per_hour, aht, hours);
    cfg.seed = seed;
    cfg.queues[0].queue.strategy = strategy;
    let report = run(&cfg);
    let o = &report.overall;
    let (sl, asa) = (sl(agents), asa(agents));
    let occupancy = erlang::occupancy(agents, per_hour, aht);
    let (got_sl, got_asa) = (
        o.service_level.expect("offered"),
        o.asa_seconds.expect("answered"),
    );
    let got_occupancy = report.occupancy.expect("measured");
    println!(
        "c={agents} A={:.1}: SL {got_sl:.4} vs {sl:.4}, ASA {got_asa:.2} s vs {asa:.2} s, \
         occupancy {got_occupancy:.4} vs {occupancy:.4} ({} contacts)",
        erlang::traffic(per_hour, aht),
        o.offered
    );
    assert!(
        (got_sl - sl).abs() < sl_tolerance,
        "service level {got_sl} vs Erlang C {sl}"
    );
    assert!(
        (got_asa - asa).abs() / asa < asa_tolerance,
        "ASA {got_asa} vs Erlang C {asa}"
    );
    assert!(
        (got_occupancy - occupancy).abs() < 0.015,
        "occupancy {got_occupancy} vs {occupancy}"
    );
    assert_eq!(o.abandoned, 0);
    let aht_got = o.aht_seconds.expect("handled");
    assert!(
        (aht_got - aht.as_secs_f64()).abs() / aht.as_secs_f64() < 0.02,
        "AHT {aht_got}"
    );
}

#[test]
fn ten_agents_at_70_percent_converge_to_erlang_c() {
    // A = 7 erlangs on 10 agents, ~98,000 contacts. Spread over 20 seeds: SL σ ≈ 0.005,
    // ASA σ ≈ 6 %.
    check_erlang_c(
        (10, 140.0, 180),
        700.0,
        Strategy::LongestIdle,
        11,
        (0.025, 0.25),
    );
}

#[test]
fn thirty_agents_round_robin_at_80_percent_converge_to_erlang_c() {
    // A = 24 erlangs on 30 agents, ~120,000 contacts; the strategy must not matter. Spread over
    // 20 seeds: SL σ ≈ 0.007, ASA σ ≈ 10 %.
    check_erlang_c(
        (30, 480.0, 180),
        250.0,
        Strategy::RoundRobin,
        5,
        (0.025, 0.3),
    );
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let mut cfg = SimConfig::single_queue(5, 80.0, Duration::from_secs(200), 20.0);
    cfg.queues[0].patience = Some(Duration::from_secs(90));
    cfg.seed = 42;
    let first = run(&cfg);
    assert_eq!(first, run(&cfg));
    cfg.seed = 43;
    assert_ne!(first.overall, run(&cfg).overall);
}

#[test]
fn impatient_callers_abandon_less_when_more_agents_serve() {
    // The same callers (common random numbers) meet 8, then 10, then 12 agents.
    let rates: Vec<(u64, f64, f64)> = [8, 10, 12]
        .into_iter()
        .map(|agents| {
            let mut cfg = SimConfig::single_queue(agents, 200.0, Duration::from_secs(180), 50.0);
            cfg.seed = 9;
            cfg.queues[0].patience = Some(Duration::from_secs(60));
            let r = run(&cfg);
            (
                r.overall.offered,
                r.overall.abandon_rate.expect("offered"),
                r.overall.service_level.expect("offered"),
            )
        })
        .collect();
    assert!(
        rates.iter().all(|r| r.0 == rates[0].0),
        "identical arrivals: {rates:?}"
    );
    assert!(
        rates[0].1 > rates[1].1 && rates[1].1 > rates[2].1,
        "{rates:?}"
    );
    assert!(
        rates[0].2 < rates[1].2 && rates[1].2 < rates[2].2,
        "{rates:?}"
    );
    assert!(
        rates[0].1 > 0.05,
        "8 agents for 10 erlangs must lose callers: {rates:?}"
    );
}

#[test]
fn wrap_up_is_part_of_handle_time_and_occupancy() {
    // Constant 100 s talk + 20 s wrap-up: AHT is exactly 120 s.
    let mut cfg = SimConfig::single_queue(10, 150.0, Duration::from_secs(100), 40.0);
    cfg.queues[0].talk_distribution = Distribution::Constant;
    cfg.queues[0].queue.wrap_up = Duration::from_secs(20);
    let r = run(&cfg);
    assert!((r.overall.aht_seconds.expect("handled") - 120.0).abs() < 1e-6);
    let expected = erlang::occupancy(10, 150.0, Duration::from_secs(120));
    assert!(
        (r.occupancy.expect("measured") - expected).abs() < 0.02,
        "{:?}",
        r.occupancy
    );
}

#[test]
fn a_day_profile_shapes_arrivals_and_shifts_end() {
    let queue = QueueConfig::new("sales");
    let cfg = SimConfig {
        seed: 3,
        hours: 3.0,
        queues: vec![SimQueue {
            queue: queue.clone(),
            // Nobody calls in the first hour, 300 per hour in the second, then nobody again.
            arrivals_per_hour: vec![0.0, 300.0, 0.0],
            talk: Duration::from_secs(120),
            talk_distribution: Distribution::LogNormal { cv: 0.8 },
            patience: Some(Duration::from_secs(120)),
        }],
        agents: vec![
            SimAgentGroup {
                name: "day".into(),
                count: 8,
                skills: Skills::new(),
                queues: vec![queue.id.clone()],
                wrap_up: None,
                start_hour: 0.5,
                end_hour: Some(1.5),
            },
            SimAgentGroup {
                name: "late".into(),
                count: 8,
                skills: Skills::new(),
                queues: vec![queue.id.clone()],
                wrap_up: Some(Duration::from_secs(10)),
                start_hour: 1.25,
                end_hour: Some(2.5),
            },
        ],
        answer_delay: Duration::from_secs(2),
        not_ready_recovery: Duration::from_secs(60),
    };
    let r = run(&cfg);
    let o = &r.overall;
    // Poisson(300): far outside 220..380 would mean the profile is ignored.
    assert!((220..380).contains(&o.offered), "{o:?}");
    assert_eq!(o.refused, 0, "agents are logged in during the busy hour");
    // Every contact waits at least the 2 s answer delay.
    assert!(o.asa_seconds.expect("answered") >= 2.0);
    // The run ends: shifts are over and every contact was resolved.
    assert!(
        r.simulated_seconds < 3.0 * 3600.0 + 3600.0,
        "{}",
        r.simulated_seconds
    );
}

#[test]
fn contacts_arriving_with_nobody_logged_in_are_refused() {
    let mut cfg = SimConfig::single_queue(2, 100.0, Duration::from_secs(60), 2.0);
    cfg.agents[0].end_hour = Some(1.0);
    let r = run(&cfg);
    // About 100 arrivals in the second hour find nobody.
    assert!(r.overall.refused > 50, "{:?}", r.overall);
}

#[test]
fn a_thousand_agents_and_a_hundred_thousand_contacts() {
    // 1,000 agents near full load, impatient callers: ~100,000 contacts. The simulator's speed
    // is measured by `switchboard simulate`; here the scale itself must work.
    let mut cfg = SimConfig::single_queue(1000, 11_900.0, Duration::from_secs(300), 8.4);
    cfg.queues[0].patience = Some(Duration::from_secs(180));
    let r = run(&cfg);
    assert!(r.overall.offered > 95_000, "{:?}", r.overall);
    assert!(r.occupancy.expect("measured") > 0.9);
}
