//! `budget:platform/cache`: a key-value cache for components, in Redis or,
//! without `REDIS_URL`, in process.
//!
//! Isolation: every key and channel is placed under
//! `<environment prefix>app:<name>:` by the host. The component never sees
//! the prefix and cannot choose it: whatever key it passes, including one
//! that looks like another app's, lands inside its own namespace.
//!
//! Limits (per call): keys up to 1 KiB, values up to 1 MiB, time-to-live
//! from 1 ms to 30 days, and the host's cache timeout (default 2 s). Breaking
//! a limit returns `invalid-argument`; a backend that is down returns
//! `unavailable` quickly, never a trap or a hang.

mod in_memory;
mod redis;

pub use self::in_memory::InMemoryCache;
pub use self::redis::RedisCache;

use crate::runtime::bindings::budget::platform::cache::{Error as WitError, Host};
use crate::runtime::state::RequestState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a backend can report. Backend-specific detail stays in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("cache backend unavailable")]
    Unavailable,
    #[error("cache operation timed out")]
    Timeout,
    #[error("{0}")]
    WrongType(String),
    #[error("{0}")]
    InvalidArgument(String),
}

impl From<CacheError> for WitError {
    fn from(error: CacheError) -> Self {
        match error {
            CacheError::Unavailable => WitError::Unavailable("cache backend unavailable".into()),
            CacheError::Timeout => WitError::Timeout,
            CacheError::WrongType(detail) => WitError::WrongType(detail),
            CacheError::InvalidArgument(detail) => WitError::InvalidArgument(detail),
        }
    }
}

/// A cache backend. Keys arrive already namespaced.
#[async_trait::async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    /// For logs and `/readyz`: `redis` or `in-memory`.
    fn kind(&self) -> &'static str;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;
    async fn increment(&self, key: &str, delta: i64) -> Result<i64, CacheError>;
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool, CacheError>;
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, CacheError>;
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64, CacheError>;
    /// One page of the live keys that start with `prefix` (full keys), from
    /// `cursor` (0 = the start), asking for about `count`; the next cursor,
    /// or `None` when the listing is complete. A page may be short or even
    /// empty before the end, as with Redis `SCAN`.
    async fn scan(&self, prefix: &str, cursor: u64, count: usize) -> Result<(Vec<String>, Option<u64>), CacheError>;
    /// Reachability, for readiness.
    async fn ping(&self) -> Result<(), CacheError>;
}

/// One app's handle: the shared backend plus the app's namespace.
#[derive(Clone)]
pub struct AppCache {
    backend: Arc<dyn CacheBackend>,
    /// Shared, so the handle a request clones costs no allocation.
    prefix: Arc<str>,
    timeout: Duration,
}

impl AppCache {
    pub fn new(backend: Arc<dyn CacheBackend>, environment_prefix: &str, app: &str, timeout: Duration) -> Self {
        Self { backend, prefix: Arc::from(format!("{environment_prefix}app:{app}:")), timeout }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> Result<String, CacheError> {
        if key.is_empty() {
            return Err(CacheError::InvalidArgument("key must not be empty".into()));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(CacheError::InvalidArgument(format!("key longer than {MAX_KEY_BYTES} bytes")));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    fn value(value: &[u8]) -> Result<(), CacheError> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(CacheError::InvalidArgument(format!("value larger than {MAX_VALUE_BYTES} bytes")));
        }
        Ok(())
    }

    fn ttl(ttl_ms: u64) -> Result<Duration, CacheError> {
        let ttl = Duration::from_millis(ttl_ms);
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(CacheError::InvalidArgument("ttl-ms must be between 1 ms and 30 days".into()));
        }
        Ok(ttl)
    }

    async fn bounded<T>(&self, operation: impl Future<Output = Result<T, CacheError>>) -> Result<T, CacheError> {
        tokio::time::timeout(self.timeout, operation).await.unwrap_or(Err(CacheError::Timeout))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.key(key)?;
        self.bounded(self.backend.get(&key)).await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), CacheError> {
        let key = self.key(key)?;
        Self::value(value)?;
        let ttl = ttl_ms.map(Self::ttl).transpose()?;
        self.bounded(self.backend.set(&key, value, ttl)).await
    }

    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.key(key)?;
        self.bounded(self.backend.delete(&key)).await
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let key = self.key(key)?;
        self.bounded(self.backend.increment(&key, delta)).await
    }

    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<bool, CacheError> {
        let key = self.key(key)?;
        Self::value(value)?;
        let ttl = ttl_ms.map(Self::ttl).transpose()?;
        self.bounded(self.backend.set_if_absent(&key, value, ttl)).await
    }

    pub async fn expire(&self, key: &str, ttl_ms: u64) -> Result<bool, CacheError> {
        let key = self.key(key)?;
        let ttl = Self::ttl(ttl_ms)?;
        self.bounded(self.backend.expire(&key, ttl)).await
    }

    /// Keys of this app that start with `prefix`, without the namespace.
    pub async fn scan(
        &self,
        prefix: &str,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<String>, Option<u64>), CacheError> {
        let full = format!("{}{prefix}", self.prefix);
        let (keys, next) = self.bounded(self.backend.scan(&full, cursor, count)).await?;
        let keys = keys.into_iter().filter_map(|k| k.strip_prefix(&*self.prefix).map(str::to_string)).collect();
        Ok((keys, next))
    }

    pub async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64, CacheError> {
        let channel = self.key(channel)?;
        Self::value(message)?;
        self.bounded(self.backend.publish(&channel, message)).await
    }
}

impl RequestState {
    fn cache(&self) -> Result<AppCache, WitError> {
        // Unreachable for a loaded component (imports are checked against
        // grants at load), but never a trap if it happens.
        self.app.cache.clone().ok_or_else(|| WitError::Unavailable("cache capability not granted".into()))
    }
}

impl Host for RequestState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitError> {
        Ok(self.cache()?.get(&key).await?)
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), WitError> {
        Ok(self.cache()?.set(&key, &value, ttl_ms).await?)
    }

    async fn delete(&mut self, key: String) -> Result<bool, WitError> {
        Ok(self.cache()?.delete(&key).await?)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, WitError> {
        Ok(self.cache()?.increment(&key, delta).await?)
    }

    async fn set_if_absent(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<bool, WitError> {
        Ok(self.cache()?.set_if_absent(&key, &value, ttl_ms).await?)
    }

    async fn expire(&mut self, key: String, ttl_ms: u64) -> Result<bool, WitError> {
        Ok(self.cache()?.expire(&key, ttl_ms).await?)
    }

    async fn publish(&mut self, channel: String, message: Vec<u8>) -> Result<u64, WitError> {
        Ok(self.cache()?.publish(&channel, &message).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_cache() -> AppCache {
        AppCache::new(Arc::new(InMemoryCache::new()), "env1:", "budgets", Duration::from_secs(1))
    }

    #[test]
    fn keys_stay_inside_the_namespace() {
        let cache = app_cache();
        assert_eq!(cache.key("k").as_deref(), Ok("env1:app:budgets:k"));
        assert_eq!(cache.key("app:other:secret").as_deref(), Ok("env1:app:budgets:app:other:secret"));
        assert_eq!(cache.key("../x").as_deref(), Ok("env1:app:budgets:../x"));
        assert!(cache.key("").is_err());
        assert!(cache.key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
    }

    #[test]
    fn ttl_bounds() {
        assert!(AppCache::ttl(0).is_err());
        assert!(AppCache::ttl(1).is_ok());
        assert!(AppCache::ttl(31 * 24 * 3600 * 1000).is_err());
    }

    #[tokio::test]
    async fn oversized_values_are_refused_before_the_backend() {
        let cache = app_cache();
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(matches!(cache.set("k", &big, None).await, Err(CacheError::InvalidArgument(_))));
        assert_eq!(cache.get("k").await, Ok(None));
    }
}
