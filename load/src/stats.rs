//! Latency figures from a list of samples.

use std::{
    hash::{BuildHasher, Hash, RandomState},
    time::Duration,
};

/// A random number in [0, 1), drawn from `seed` and the process's random hash keys.
pub fn random_fraction(seed: impl Hash) -> f64 {
    RandomState::new().hash_one(seed) as f64 / u64::MAX as f64
}

/// The sample at quantile `q` of sorted, non-empty `samples`.
fn at(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p99 and max of `samples`, formatted in milliseconds.
pub fn summary(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no samples".to_string();
    }
    samples.sort_unstable();
    let at = |q| at(samples, q);
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1])
    )
}

/// The whole distribution of `samples`: p50, p90, p99, p99.9, max, and how many times the
/// median the p99 is (the fairness of the tail).
pub fn distribution(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no samples".to_string();
    }
    samples.sort_unstable();
    let at = |q| at(samples, q);
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; p99/p50 {:.1}",
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(at(0.999)),
        ms(samples[samples.len() - 1]),
        at(0.99).as_secs_f64() / at(0.50).as_secs_f64().max(1e-9)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(
            summary(&mut samples),
            "p50 50.00 ms, p99 99.00 ms, max 100.00 ms"
        );
        assert_eq!(summary(&mut []), "no samples");
        assert_eq!(
            distribution(&mut samples),
            "p50 50.00 ms, p90 90.00 ms, p99 99.00 ms, p99.9 100.00 ms, max 100.00 ms; p99/p50 2.0"
        );
    }
}
