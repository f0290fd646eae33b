//! The data backends of this process, built once at startup and shared by
//! every app; each app gets only a namespaced handle. Which backend serves a
//! capability is decided by configuration: Redis when `REDIS_URL` is set,
//! otherwise an in-process cache.

use super::cache::{AppCache, CacheBackend, InMemoryCache, RedisCache};
use crate::cli::ServeArgs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Backends {
    pub cache: Arc<dyn CacheBackend>,
    /// `host:port` or `in-process`, for logs and `/readyz`.
    pub cache_endpoint: String,
    cache_prefix: String,
    cache_timeout: Duration,
    cache_up: AtomicBool,
}

impl Backends {
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(args.cache_timeout_ms.max(1));
        let (cache, endpoint): (Arc<dyn CacheBackend>, String) = match &args.redis_url {
            Some(url) => {
                let redis = RedisCache::new(url, timeout)
                    .map_err(|e| anyhow::anyhow!("REDIS_URL is not a usable Redis URL: {e}"))?;
                let endpoint = redis.endpoint().to_string();
                (Arc::new(redis), endpoint)
            }
            None => (Arc::new(InMemoryCache::new()), "in-process".to_string()),
        };
        Ok(Self {
            cache,
            cache_endpoint: endpoint,
            cache_prefix: args.redis_key_prefix.clone(),
            cache_timeout: timeout,
            // Optimistic until the first probe says otherwise.
            cache_up: AtomicBool::new(true),
        })
    }

    pub fn app_cache(&self, app: &str) -> AppCache {
        AppCache::new(self.cache.clone(), &self.cache_prefix, app, self.cache_timeout)
    }

    pub fn cache_up(&self) -> bool {
        self.cache_up.load(Ordering::Acquire)
    }

    /// Probes every backend once and records whether it answered.
    pub async fn probe(&self) {
        let up = tokio::time::timeout(self.cache_timeout, self.cache.ping()).await.is_ok_and(|r| r.is_ok());
        let was_up = self.cache_up.swap(up, Ordering::AcqRel);
        if was_up != up {
            if up {
                tracing::info!(backend = self.cache.kind(), endpoint = %self.cache_endpoint, "cache backend reachable again");
            } else {
                tracing::warn!(backend = self.cache.kind(), endpoint = %self.cache_endpoint, "cache backend unreachable");
            }
        }
    }
}
