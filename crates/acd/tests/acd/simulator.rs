//! The simulator against closed forms, and its reproducibility.

use std::time::{Duration, Instant};

use acd::sim::{self, SimConfig};

#[test]
fn scale() {
    let mut cfg = SimConfig::single_queue(1000, 11000.0, Duration::from_secs(300), 9.1);
    cfg.seed = 3;
    let t = Instant::now();
    let r = sim::run(&cfg, Instant::now()).expect("runs");
    println!(
        "sl {:?} asa {:?} occ {:?} n {} events {} in {:?}",
        r.overall.service_level,
        r.overall.asa_seconds,
        r.occupancy,
        r.overall.offered,
        r.events,
        t.elapsed()
    );
}
