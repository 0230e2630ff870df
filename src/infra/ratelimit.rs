//! Sliding-window rate limits. With Redis the counters are shared by every instance; without
//! it (or while Redis is down) each process counts for itself.
//!
//! Why sliding: a fixed window lets a burst straddle its boundary — ten password guesses at
//! 04:59:59 and ten more at 05:00:00 both pass a "10 per 5 minutes" limit. Each key keeps
//! the count of the current window and of the one before, and a hit is judged on the
//! estimate `previous × (share of the previous window still inside the last W seconds) +
//! current` (the approximation Cloudflare and nginx use): two counters per key, no log of
//! timestamps, and never more than the limit in any W seconds give or take the estimate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::redis::RedisHandle;

pub struct RateLimiter {
    redis: Option<Arc<RedisHandle>>,
    /// key → (window number, hits in it, hits in the window before it).
    local: Mutex<HashMap<String, (i64, u32, u32)>>,
}

/// Where a hit falls: the window's number and how far into it, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Moment {
    pub window: i64,
    pub elapsed: i64,
    pub window_secs: i64,
}

impl Moment {
    pub fn at(now_secs: i64, window_secs: i64) -> Moment {
        Moment {
            window: now_secs.div_euclid(window_secs),
            elapsed: now_secs.rem_euclid(window_secs),
            window_secs,
        }
    }
}

/// The verdict on a hit, given the counts of the previous and the current window (the
/// current one including this hit): `Err(seconds)` to wait before a hit would pass.
/// Integer arithmetic, so a count exactly at the limit is never pushed over by rounding.
pub fn judge(previous: u32, current: u32, limit: u32, at: Moment) -> Result<(), u64> {
    let (w, remaining) = (at.window_secs, at.window_secs - at.elapsed);
    if previous as i64 * remaining + current as i64 * w <= limit as i64 * w {
        return Ok(());
    }
    Err(retry_after(
        previous as i64,
        current as i64,
        limit as i64,
        at,
    ))
}

/// The seconds until one more hit would be within `limit`: while still in this window,
/// the previous window's weight decays; past its end this window's count becomes the
/// previous one and decays in turn.
fn retry_after(previous: i64, current: i64, limit: i64, at: Moment) -> u64 {
    let (w, remaining) = (at.window_secs, at.window_secs - at.elapsed);
    // Room left for previous-window hits once this window's hits and the next one count.
    let room = limit - current - 1;
    if room >= 0 && previous > 0 {
        // previous × (remaining − d) ≤ room × w
        let d = remaining - room * w / previous;
        return d.max(1) as u64;
    }
    // current × (w − e) ≤ (limit − 1) × w, e seconds into the next window.
    let e = if current == 0 {
        0
    } else {
        (w - (limit - 1).max(0) * w / current).max(0)
    };
    (remaining + e).max(1) as u64
}

impl RateLimiter {
    pub fn new(redis: Option<Arc<RedisHandle>>) -> RateLimiter {
        RateLimiter {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one hit on `key`; `Err(seconds)` when more than `limit` hits fell in the last
    /// `window_secs` seconds, with the seconds to wait (for `Retry-After`). Refused hits
    /// count too, so a client that keeps hammering stays refused.
    pub async fn hit(&self, key: &str, limit: u32, window_secs: i64) -> Result<(), u64> {
        let at = Moment::at(crate::util::now_ms() / 1000, window_secs);
        let (previous, current) = match self.shared_counts(key, at).await {
            Some(counts) => counts,
            None => self.local_counts(key, at.window),
        };
        judge(previous, current, limit, at)
    }

    async fn shared_counts(&self, key: &str, at: Moment) -> Option<(u32, u32)> {
        let redis = self.redis.as_ref()?;
        let mut conn = redis.conn().await.ok()?;
        let current = redis.key(&format!("rl:{key}:{}", at.window));
        let previous = redis.key(&format!("rl:{key}:{}", at.window - 1));
        // The current key must outlive its own window and the next one, where it is read
        // as the previous count.
        let result: Result<(u32, Option<u32>), _> = redis::pipe()
            .atomic()
            .incr(&current, 1)
            .expire(&current, at.window_secs * 2 + 1)
            .ignore()
            .get(&previous)
            .query_async(&mut conn)
            .await;
        match result {
            Ok((current, previous)) => Some((previous.unwrap_or(0), current)),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit counter unavailable in Redis; counting locally");
                None
            }
        }
    }

    fn local_counts(&self, key: &str, window: i64) -> (u32, u32) {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (w, _, _)| *w >= window - 1);
        }
        let entry = map.entry(key.to_string()).or_insert((window, 0, 0));
        if entry.0 != window {
            let previous = if entry.0 == window - 1 { entry.1 } else { 0 };
            *entry = (window, 0, previous);
        }
        entry.1 += 1;
        (entry.2, entry.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(elapsed: i64) -> Moment {
        Moment {
            window: 7,
            elapsed,
            window_secs: 300,
        }
    }

    #[test]
    fn a_burst_straddling_the_boundary_is_still_limited() {
        // Six guesses just before the boundary, then the next ones just after it.
        assert!(judge(6, 4, 10, at(1)).is_ok());
        assert!(judge(6, 5, 10, at(1)).is_err(), "6 × 299/300 + 5 > 10");
    }

    #[test]
    fn the_previous_window_fades_as_the_current_one_runs() {
        assert!(judge(10, 1, 10, at(0)).is_err());
        assert!(judge(10, 1, 10, at(30)).is_ok(), "10 × 270/300 + 1 = 10");
        assert!(judge(0, 10, 10, at(0)).is_ok());
        assert!(judge(0, 11, 10, at(299)).is_err());
    }

    #[test]
    fn retry_after_points_at_the_first_moment_a_hit_passes() {
        for (previous, current, elapsed) in [(10, 1, 0), (0, 11, 10), (20, 15, 100), (3, 40, 5)] {
            let wait = judge(previous, current, 10, at(elapsed)).unwrap_err() as i64;
            // One more hit `wait` seconds later passes; one a second earlier does not.
            let pass = |after: i64| {
                let t = elapsed + after;
                let (p, c) = if t < 300 {
                    (previous, current)
                } else if t < 600 {
                    (current, 0)
                } else {
                    (0, 0)
                };
                judge(p, c + 1, 10, at(t % 300)).is_ok()
            };
            assert!(pass(wait), "{previous} {current} {elapsed}: {wait}");
            assert!(!pass(wait - 1), "{previous} {current} {elapsed}: {wait}");
        }
    }

    #[test]
    fn local_counts_carry_the_previous_window_and_forget_older_ones() {
        let limiter = RateLimiter::new(None);
        for _ in 0..3 {
            limiter.local_counts("k", 5);
        }
        assert_eq!(limiter.local_counts("k", 6), (3, 1));
        assert_eq!(limiter.local_counts("k", 8), (0, 1));
    }
}
