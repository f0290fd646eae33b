//! The Redis backend. One `ConnectionManager` for the whole process: a
//! multiplexed connection that every request shares and that reconnects by
//! itself after Redis restarts or drops the connection. It connects lazily,
//! so a Redis that is down at startup delays nothing: calls return
//! `unavailable` until it is back.

use super::{CacheBackend, CacheError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisError};
use std::time::Duration;

pub struct RedisCache {
    manager: ConnectionManager,
    endpoint: String,
}

impl RedisCache {
    /// `timeout` bounds connecting and every response.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let endpoint = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { manager, endpoint })
    }

    /// `host:port` without credentials, for logs.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn run<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, CacheError> {
        let mut connection = self.manager.clone();
        command.query_async(&mut connection).await.map_err(|error| self.classify(error))
    }

    fn classify(&self, error: RedisError) -> CacheError {
        let detail = error.detail().unwrap_or_default().to_string();
        match error.code() {
            Some("WRONGTYPE") => CacheError::WrongType("the key holds a value of another kind".into()),
            Some("ERR") if detail.contains("integer") || detail.contains("overflow") => {
                CacheError::WrongType("the value is not an integer or the result would overflow".into())
            }
            Some(code) => {
                tracing::warn!(endpoint = %self.endpoint, code, %detail, "redis refused a cache command");
                CacheError::InvalidArgument(format!("redis refused the command ({code})"))
            }
            None if error.is_timeout() => CacheError::Timeout,
            None => {
                tracing::warn!(endpoint = %self.endpoint, %error, "redis unavailable");
                CacheError::Unavailable
            }
        }
    }
}

/// Keys SCAN examines per round trip.
const SCAN_COUNT: usize = 1000;

/// A literal prefix for a `MATCH` pattern: the environment prefix is
/// operator-chosen and may hold glob characters.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl CacheBackend for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value);
        if let Some(ttl) = ttl {
            command.arg("PX").arg(px(ttl));
        }
        self.run::<()>(&command).await
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self.run::<i64>(redis::cmd("DEL").arg(key)).await? > 0)
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        self.run(redis::cmd("INCRBY").arg(key).arg(delta)).await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool, CacheError> {
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value).arg("NX");
        if let Some(ttl) = ttl {
            command.arg("PX").arg(px(ttl));
        }
        Ok(self.run::<Option<String>>(&command).await?.is_some())
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        Ok(self.run::<i64>(redis::cmd("PEXPIRE").arg(key).arg(px(ttl))).await? == 1)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64, CacheError> {
        let receivers: i64 = self.run(redis::cmd("PUBLISH").arg(channel).arg(message)).await?;
        Ok(u64::try_from(receivers).unwrap_or(0))
    }

    async fn scan(&self, prefix: &str, cursor: u64, count: usize) -> Result<(Vec<String>, Option<u64>), CacheError> {
        // SCAN walks the whole keyspace; a shared Redis may hold far more
        // keys than this app, so keep scanning (within the caller's timeout)
        // until the page has `count` matches or the walk is done.
        let pattern = format!("{}*", escape_glob(prefix));
        let mut cursor = cursor;
        let mut keys = Vec::new();
        loop {
            let (next, found): (u64, Vec<String>) = self
                .run(redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT))
                .await?;
            keys.extend(found);
            cursor = next;
            if cursor == 0 || keys.len() >= count.max(1) {
                return Ok((keys, (cursor != 0).then_some(cursor)));
            }
        }
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.run::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}
