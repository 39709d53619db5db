//! Erlang C: the closed-form answer for an M/M/c queue (Poisson arrivals, exponential handle
//! times, `c` agents, callers who never abandon). The simulator's test checks itself against
//! it, and the simulator prints it next to its own figures when the scenario fits the model.

use std::time::Duration;

/// Offered traffic in erlangs: arrivals per hour × mean handle time in hours.
pub fn traffic(arrivals_per_hour: f64, aht: Duration) -> f64 {
    arrivals_per_hour * aht.as_secs_f64() / 3600.0
}

/// Erlang B blocking probability for `agents` servers and `traffic` erlangs, by the stable
/// recurrence `B(k) = A·B(k−1) / (k + A·B(k−1))`.
pub fn erlang_b(agents: u32, traffic: f64) -> f64 {
    (1..=agents).fold(1.0, |b, k| traffic * b / (f64::from(k) + traffic * b))
}

/// Erlang C: the probability that a contact has to wait. 1 when the traffic reaches the
/// number of agents (the queue grows without bound).
pub fn probability_of_waiting(agents: u32, traffic: f64) -> f64 {
    let c = f64::from(agents);
    if traffic >= c {
        return 1.0;
    }
    let b = erlang_b(agents, traffic);
    c * b / (c - traffic * (1.0 - b))
}

/// Expected share of contacts answered within `threshold`:
/// `1 − P(wait) · e^{−(c − A) · t / AHT}`. `None` when the queue is unstable.
pub fn service_level(
    agents: u32,
    arrivals_per_hour: f64,
    aht: Duration,
    threshold: Duration,
) -> Option<f64> {
    let a = traffic(arrivals_per_hour, aht);
    let c = f64::from(agents);
    if a >= c || aht.is_zero() {
        return None;
    }
    let pw = probability_of_waiting(agents, a);
    Some(1.0 - pw * (-(c - a) * threshold.as_secs_f64() / aht.as_secs_f64()).exp())
}

/// Expected average speed of answer: `P(wait) · AHT / (c − A)`. `None` when unstable.
pub fn average_speed_of_answer(agents: u32, arrivals_per_hour: f64, aht: Duration) -> Option<f64> {
    let a = traffic(arrivals_per_hour, aht);
    let c = f64::from(agents);
    if a >= c {
        return None;
    }
    Some(probability_of_waiting(agents, a) * aht.as_secs_f64() / (c - a))
}

/// Expected occupancy: `A / c` (capped at 1).
pub fn occupancy(agents: u32, arrivals_per_hour: f64, aht: Duration) -> f64 {
    (traffic(arrivals_per_hour, aht) / f64::from(agents.max(1))).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed by hand from the textbook formulas.
    #[test]
    fn one_agent_is_the_m_m_1_queue() {
        // M/M/1: P(wait) = ρ, ASA = ρ/(1−ρ) · AHT.
        let aht = Duration::from_secs(100);
        let pw = probability_of_waiting(1, 0.5);
        assert!((pw - 0.5).abs() < 1e-12);
        let asa = average_speed_of_answer(1, 18.0, aht).expect("stable");
        assert!((asa - 100.0).abs() < 1e-9, "{asa}");
    }

    #[test]
    fn two_agents_match_the_closed_form() {
        // c = 2, A = 1: P(wait) = A²/(2!) · c/(c−A) / (1 + A + A²/2 · 2) = 1/3.
        let pw = probability_of_waiting(2, 1.0);
        assert!((pw - 1.0 / 3.0).abs() < 1e-12, "{pw}");
    }

    #[test]
    fn unstable_queue_has_no_service_level() {
        let aht = Duration::from_secs(360);
        assert_eq!(service_level(10, 100.0, aht, Duration::from_secs(20)), None);
        assert_eq!(probability_of_waiting(10, 10.0), 1.0);
    }

    #[test]
    fn large_teams_do_not_overflow() {
        // 1,000 agents at 95% occupancy: finite, between 0 and 1.
        let pw = probability_of_waiting(1000, 950.0);
        assert!(pw > 0.0 && pw < 1.0, "{pw}");
    }
}
