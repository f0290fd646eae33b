//! The in-process cache used when no `REDIS_URL` is configured (`just run`
//! on a bare machine). Same semantics as the Redis backend for everything
//! the interface offers: TTLs, integer increments, set-if-absent, and
//! publish to subscribers inside this process. It is per process: several
//! hosts do not share it, which is why production uses Redis.

use super::{CacheBackend, CacheError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Expired entries are swept after this many writes, besides being dropped
/// whenever they are read.
const SWEEP_EVERY_WRITES: u64 = 1024;

struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(Default)]
struct Store {
    entries: HashMap<String, Entry>,
    writes: u64,
}

impl Store {
    fn live_entry(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY_WRITES) {
            self.entries.retain(|_, e| e.live(now));
        }
    }
}

pub struct InMemoryCache {
    store: Mutex<Store>,
    channel: broadcast::Sender<(String, Vec<u8>)>,
}

impl Default for InMemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryCache {
    pub fn new() -> Self {
        let (channel, _) = broadcast::channel(1024);
        Self { store: Mutex::new(Store::default()), channel }
    }

    /// Receives every message published in this process, as
    /// (namespaced channel, message).
    pub fn subscribe(&self) -> broadcast::Receiver<(String, Vec<u8>)> {
        self.channel.subscribe()
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store, Instant) -> T) -> Result<T, CacheError> {
        // A poisoned lock means a panic inside one of these short closures,
        // which have no panicking paths; report it rather than propagate.
        let mut store = self.store.lock().map_err(|_| CacheError::Unavailable)?;
        Ok(f(&mut store, Instant::now()))
    }
}

#[async_trait::async_trait]
impl CacheBackend for InMemoryCache {
    fn kind(&self) -> &'static str {
        "in-memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.with_store(|store, now| store.live_entry(key, now).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        self.with_store(|store, now| {
            let expires_at = ttl.map(|ttl| now + ttl);
            store.entries.insert(key.to_string(), Entry { value: value.to_vec(), expires_at });
            store.wrote(now);
        })
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.with_store(|store, now| {
            let existed = store.live_entry(key, now).is_some();
            store.entries.remove(key);
            existed
        })
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        self.with_store(|store, now| {
            let (current, expires_at) = match store.live_entry(key, now) {
                None => (0, None),
                Some(entry) => {
                    let text = std::str::from_utf8(&entry.value).ok();
                    match text.and_then(|t| t.parse::<i64>().ok()) {
                        Some(n) => (n, entry.expires_at),
                        None => return Err(CacheError::WrongType("value is not an integer".into())),
                    }
                }
            };
            let next =
                current.checked_add(delta).ok_or_else(|| CacheError::WrongType("increment would overflow".into()))?;
            // Like Redis INCRBY: the value changes, its TTL stays.
            store.entries.insert(key.to_string(), Entry { value: next.to_string().into_bytes(), expires_at });
            store.wrote(now);
            Ok(next)
        })?
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool, CacheError> {
        self.with_store(|store, now| {
            if store.live_entry(key, now).is_some() {
                return false;
            }
            let expires_at = ttl.map(|ttl| now + ttl);
            store.entries.insert(key.to_string(), Entry { value: value.to_vec(), expires_at });
            store.wrote(now);
            true
        })
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        self.with_store(|store, now| match store.live_entry(key, now) {
            Some(entry) => {
                entry.expires_at = Some(now + ttl);
                true
            }
            None => false,
        })
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64, CacheError> {
        // `send` fails only when nobody listens: that is 0 receivers.
        let receivers = self.channel.send((channel.to_string(), message.to_vec())).unwrap_or(0);
        Ok(receivers as u64)
    }

    async fn scan(&self, prefix: &str, cursor: u64, count: usize) -> Result<(Vec<String>, Option<u64>), CacheError> {
        self.with_store(|store, now| {
            // Sorted, so a cursor (an offset) is stable while keys stay put.
            let mut keys: Vec<&String> =
                store.entries.iter().filter(|(k, e)| k.starts_with(prefix) && e.live(now)).map(|(k, _)| k).collect();
            keys.sort();
            let start = usize::try_from(cursor).unwrap_or(usize::MAX).min(keys.len());
            let end = start.saturating_add(count.max(1)).min(keys.len());
            let next = (end < keys.len()).then_some(end as u64);
            (keys[start..end].iter().map(|k| (*k).clone()).collect(), next)
        })
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn semantics_match_redis() {
        let cache = InMemoryCache::new();
        assert_eq!(cache.get("k").await, Ok(None));
        cache.set("k", b"v", None).await.unwrap();
        assert_eq!(cache.get("k").await, Ok(Some(b"v".to_vec())));
        assert_eq!(cache.set_if_absent("k", b"w", None).await, Ok(false));
        assert_eq!(cache.increment("n", 5).await, Ok(5));
        assert_eq!(cache.increment("n", -7).await, Ok(-2));
        assert!(matches!(cache.increment("k", 1).await, Err(CacheError::WrongType(_))));
        assert_eq!(cache.delete("k").await, Ok(true));
        assert_eq!(cache.delete("k").await, Ok(false));
        assert_eq!(cache.expire("missing", Duration::from_secs(1)).await, Ok(false));
    }

    #[tokio::test]
    async fn ttl_expires_entries() {
        let cache = InMemoryCache::new();
        cache.set("k", b"v", Some(Duration::from_millis(20))).await.unwrap();
        assert_eq!(cache.set_if_absent("lock", b"1", Some(Duration::from_millis(20))).await, Ok(true));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(cache.get("k").await, Ok(None));
        assert_eq!(cache.set_if_absent("lock", b"2", None).await, Ok(true), "an expired lock is free again");
    }

    #[tokio::test]
    async fn publish_reaches_local_subscribers() {
        let cache = InMemoryCache::new();
        assert_eq!(cache.publish("c", b"nobody").await, Ok(0));
        let mut receiver = cache.subscribe();
        assert_eq!(cache.publish("c", b"hi").await, Ok(1));
        assert_eq!(receiver.recv().await.ok(), Some(("c".to_string(), b"hi".to_vec())));
    }
}
