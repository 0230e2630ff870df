//! Fixed-window rate limits. With Redis the counters are shared by every instance; without
//! it (or while Redis is down) each process counts for itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::redis::RedisHandle;

pub struct RateLimiter {
    redis: Option<Arc<RedisHandle>>,
    local: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(redis: Option<Arc<RedisHandle>>) -> RateLimiter {
        RateLimiter {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one hit on `key`; `Err(seconds)` when the limit of the current window is
    /// exceeded, with the seconds until the window ends (for `Retry-After`).
    pub async fn hit(&self, key: &str, limit: u32, window_secs: i64) -> Result<(), u64> {
        let now = crate::util::now_ms() / 1000;
        let window = now / window_secs;
        let retry_after = (window_secs - now % window_secs).max(1) as u64;
        let count = match self.shared_count(key, window, window_secs).await {
            Some(n) => n,
            None => self.local_count(key, window),
        };
        if count > limit {
            Err(retry_after)
        } else {
            Ok(())
        }
    }

    async fn shared_count(&self, key: &str, window: i64, window_secs: i64) -> Option<u32> {
        let redis = self.redis.as_ref()?;
        let mut conn = redis.conn().await.ok()?;
        let full = redis.key(&format!("rl:{key}:{window}"));
        let result: Result<(u32,), _> = redis::pipe()
            .atomic()
            .incr(&full, 1)
            .expire(&full, window_secs + 1)
            .ignore()
            .query_async(&mut conn)
            .await;
        match result {
            Ok((n,)) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit counter unavailable in Redis; counting locally");
                None
            }
        }
    }

    fn local_count(&self, key: &str, window: i64) -> u32 {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(key.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }
}
