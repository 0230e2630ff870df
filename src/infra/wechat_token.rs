//! The WeChat access_token, cached centrally.
//!
//! WeChat allows one valid token per appid at a time, so instances that each fetched their own
//! would knock each other out. With Redis, one instance refreshes under a lock and every
//! instance reads the cached token; a token that WeChat rejects is dropped only if it is still
//! the cached one (compare-and-delete), so a slow instance cannot evict a fresh token.
//! Without Redis the token is cached in this process.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::redis::RedisHandle;
use super::wechat::{WeChatClient, WeChatError};

/// Refresh this long before WeChat's stated expiry.
const EARLY_REFRESH_SECS: u64 = 300;

pub struct AccessTokenCache {
    client: WeChatClient,
    redis: Option<Arc<RedisHandle>>,
    local: Mutex<Option<(String, i64)>>,
}

const COMPARE_AND_DELETE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

impl AccessTokenCache {
    pub fn new(client: WeChatClient, redis: Option<Arc<RedisHandle>>) -> AccessTokenCache {
        AccessTokenCache {
            client,
            redis,
            local: Mutex::new(None),
        }
    }

    fn key(&self) -> Option<String> {
        self.redis
            .as_ref()
            .map(|r| r.key(&format!("wechat:token:{}", self.client.appid())))
    }

    /// A valid token, fetched only when no instance has one cached.
    pub async fn get(&self) -> Result<String, WeChatError> {
        if let (Some(redis), Some(key)) = (&self.redis, self.key()) {
            match self.get_shared(redis, &key).await {
                Ok(token) => return Ok(token),
                Err(SharedError::WeChat(e)) => return Err(e),
                Err(SharedError::Redis(e)) => {
                    tracing::warn!(error = %e, "token cache unavailable in Redis; using a local token");
                }
            }
        }
        self.get_local(None).await
    }

    /// Drops `token` if it is still the cached one (after WeChat said it is invalid).
    pub async fn invalidate(&self, token: &str) {
        if let (Some(redis), Some(key)) = (&self.redis, self.key()) {
            if let Ok(mut conn) = redis.conn().await {
                let _: Result<i64, _> = redis::Script::new(COMPARE_AND_DELETE)
                    .key(&key)
                    .arg(token)
                    .invoke_async(&mut conn)
                    .await;
            }
        }
        let mut local = self.local.lock().await;
        if local.as_ref().is_some_and(|(t, _)| t == token) {
            *local = None;
        }
    }

    /// Runs `call` with a token; when WeChat says the token is invalid, drops it, fetches a
    /// new one and retries once.
    pub async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, WeChatError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, WeChatError>>,
    {
        let token = self.get().await?;
        match call(token.clone()).await {
            Err(e) if e.is_token_invalid() => {
                self.invalidate(&token).await;
                let fresh = self.get().await?;
                let fresh = if fresh == token {
                    self.force_refresh(&token).await?
                } else {
                    fresh
                };
                call(fresh).await
            }
            other => other,
        }
    }

    async fn force_refresh(&self, stale: &str) -> Result<String, WeChatError> {
        let fetched = self.client.stable_token(true).await?;
        self.store(&fetched.token, fetched.expires_in).await;
        if fetched.token == stale {
            return Err(WeChatError::Unavailable(
                "WeChat returned the rejected token again".into(),
            ));
        }
        Ok(fetched.token)
    }

    async fn store(&self, token: &str, expires_in: u64) {
        let ttl = expires_in.saturating_sub(EARLY_REFRESH_SECS).max(60);
        if let (Some(redis), Some(key)) = (&self.redis, self.key()) {
            if let Ok(mut conn) = redis.conn().await {
                let _: Result<(), _> = redis::cmd("SET")
                    .arg(&key)
                    .arg(token)
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut conn)
                    .await;
            }
        }
        *self.local.lock().await =
            Some((token.to_string(), crate::util::now_ms() + ttl as i64 * 1000));
    }

    async fn get_local(&self, _hint: Option<&str>) -> Result<String, WeChatError> {
        let mut local = self.local.lock().await;
        if let Some((token, until)) = local.as_ref() {
            if *until > crate::util::now_ms() {
                return Ok(token.clone());
            }
        }
        let fetched = self.client.stable_token(false).await?;
        let ttl = fetched
            .expires_in
            .saturating_sub(EARLY_REFRESH_SECS)
            .max(60);
        *local = Some((
            fetched.token.clone(),
            crate::util::now_ms() + ttl as i64 * 1000,
        ));
        Ok(fetched.token)
    }

    async fn get_shared(&self, redis: &RedisHandle, key: &str) -> Result<String, SharedError> {
        let mut conn = redis.conn().await?;
        if let Some(token) = redis::cmd("GET")
            .arg(key)
            .query_async::<Option<String>>(&mut conn)
            .await?
        {
            return Ok(token);
        }
        let lock_key = format!("{key}:lock");
        let me = crate::util::new_id();
        for _ in 0..100 {
            let acquired: Option<String> = redis::cmd("SET")
                .arg(&lock_key)
                .arg(&me)
                .arg("NX")
                .arg("PX")
                .arg(10_000)
                .query_async(&mut conn)
                .await?;
            if acquired.is_some() {
                let result = self.refresh_locked(&mut conn, key).await;
                let _: Result<i64, _> = redis::Script::new(COMPARE_AND_DELETE)
                    .key(&lock_key)
                    .arg(&me)
                    .invoke_async(&mut conn)
                    .await;
                return result;
            }
            // Another instance is refreshing: wait for its token.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(token) = redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut conn)
                .await?
            {
                return Ok(token);
            }
        }
        Err(SharedError::WeChat(WeChatError::Unavailable(
            "timed out waiting for the token refresh".into(),
        )))
    }

    async fn refresh_locked(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        key: &str,
    ) -> Result<String, SharedError> {
        // Someone may have stored a token between our GET and the lock.
        if let Some(token) = redis::cmd("GET")
            .arg(key)
            .query_async::<Option<String>>(conn)
            .await?
        {
            return Ok(token);
        }
        let fetched = self
            .client
            .stable_token(false)
            .await
            .map_err(SharedError::WeChat)?;
        let ttl = fetched
            .expires_in
            .saturating_sub(EARLY_REFRESH_SECS)
            .max(60);
        redis::cmd("SET")
            .arg(key)
            .arg(&fetched.token)
            .arg("EX")
            .arg(ttl)
            .query_async::<()>(conn)
            .await?;
        Ok(fetched.token)
    }
}

enum SharedError {
    Redis(redis::RedisError),
    WeChat(WeChatError),
}

impl From<redis::RedisError> for SharedError {
    fn from(e: redis::RedisError) -> Self {
        SharedError::Redis(e)
    }
}
