//! Redis, connected lazily so the server starts (and reports itself unready) while Redis is
//! down, and every call bounded by a timeout so a dead Redis never hangs a request.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

/// A handle on one Redis with a key prefix.
pub struct RedisHandle {
    client: redis::Client,
    manager: Mutex<Option<ConnectionManager>>,
    prefix: String,
}

impl RedisHandle {
    pub fn new(url: &str, prefix: &str) -> Result<RedisHandle, redis::RedisError> {
        Ok(RedisHandle {
            client: redis::Client::open(url)?,
            manager: Mutex::new(None),
            prefix: prefix.to_string(),
        })
    }

    /// `prefix + key`: every key this process touches goes through here.
    pub fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// A multiplexed connection; reconnects by itself once established.
    pub async fn conn(&self) -> Result<ConnectionManager, redis::RedisError> {
        let mut guard = self.manager.lock().await;
        if let Some(m) = guard.as_ref() {
            return Ok(m.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(1_000))
            .set_response_timeout(Duration::from_millis(1_000))
            .set_number_of_retries(1);
        let manager = self
            .client
            .get_connection_manager_with_config(config)
            .await?;
        *guard = Some(manager.clone());
        Ok(manager)
    }

    /// A connection of its own for blocking reads (XREADGROUP … BLOCK): on the shared
    /// multiplexed connection a blocking read would stall every other command behind it.
    pub async fn dedicated(&self) -> Result<ConnectionManager, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(1_000))
            .set_response_timeout(Duration::from_millis(5_000))
            .set_number_of_retries(1);
        self.client.get_connection_manager_with_config(config).await
    }

    /// The client, for pub/sub connections.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}
