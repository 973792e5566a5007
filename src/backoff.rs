//! Reconnect delays: delay·2^(n−1), capped at the maximum, ± jitter·delay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Backoff;

/// A small xorshift generator: jitter needs spread, not cryptography.
#[derive(Debug)]
pub struct Jitter(u64);

impl Default for Jitter {
    fn default() -> Jitter {
        Jitter::new()
    }
}

impl Jitter {
    pub fn new() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// A number in [-1, 1].
    fn next_signed(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// The wait before reconnect attempt `attempt` (1-based).
pub fn delay(policy: &Backoff, attempt: u32, jitter: &mut Jitter) -> Duration {
    let exponent = attempt.saturating_sub(1).min(62) as i32;
    let base = policy.delay.as_secs_f64() * 2f64.powi(exponent);
    let capped = base.min(policy.max.as_secs_f64());
    let spread = policy.jitter * capped * jitter.next_signed();
    Duration::try_from_secs_f64((capped + spread).max(0.0)).unwrap_or(policy.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> Backoff {
        Backoff {
            delay: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter,
            max_attempts: 0,
        }
    }

    #[test]
    fn doubles_then_caps() {
        let mut j = Jitter::new();
        let p = policy(0.0);
        assert_eq!(delay(&p, 1, &mut j), Duration::from_millis(100));
        assert_eq!(delay(&p, 2, &mut j), Duration::from_millis(200));
        assert_eq!(delay(&p, 4, &mut j), Duration::from_millis(800));
        assert_eq!(delay(&p, 9, &mut j), Duration::from_secs(1));
        assert_eq!(delay(&p, 4000, &mut j), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let mut j = Jitter::new();
        let p = policy(0.25);
        for _ in 0..1000 {
            let d = delay(&p, 2, &mut j).as_secs_f64();
            assert!((0.15..=0.25).contains(&d), "{d}");
        }
    }
}
