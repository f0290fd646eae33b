//! The Redis bus. Keys and the channel live under the host's Redis key
//! prefix (`BUDGET_REDIS_KEY_PREFIX`), beside the apps' namespaces
//! (`<prefix>app:…`) and out of their reach:
//!
//! - channel `<prefix>budget-host:releases`: `<app> <generation>` notices;
//! - hash `<prefix>budget-host:stats:<app>:<version>:<second>`: fields `r`
//!   (requests), `e` (5xx) and `h<i>` (latency bucket `i`), kept two hours;
//! - string `<prefix>budget-host:analysis-lock`: the leading pod's id, with a TTL.
//!
//! Commands share one self-reconnecting `ConnectionManager`; notices come
//! over a dedicated pub/sub connection that a task keeps subscribed,
//! reconnecting with a backoff.

use super::{BusError, ReleaseBus, STATS_TTL};
use crate::releases::analysis::{BUCKETS, Stats, StatsKey};
use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct RedisBus {
    manager: ConnectionManager,
    prefix: String,
    notify: Arc<Notify>,
}

fn failed(error: redis::RedisError) -> BusError {
    BusError(error.to_string())
}

/// Extends the lock only for its holder.
const LEAD_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0";

impl RedisBus {
    /// Connects lazily; spawns the subscriber task.
    pub fn start(url: &str, prefix: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let notify = Arc::new(Notify::new());
        let channel = format!("{prefix}budget-host:releases");
        tokio::spawn(subscribe_forever(client, channel, notify.clone()));
        Ok(Self { manager, prefix: prefix.to_string(), notify })
    }

    fn channel(&self) -> String {
        format!("{}budget-host:releases", self.prefix)
    }

    fn stats_key(&self, app: &str, version: &str, second: i64) -> String {
        format!("{}budget-host:stats:{app}:{version}:{second}", self.prefix)
    }
}

async fn subscribe_forever(client: redis::Client, channel: String, notify: Arc<Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    // Notices may have been missed while unsubscribed.
                    notify.notify_one();
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        tracing::debug!(payload = ?message.get_payload::<String>().ok(), "release notice");
                        notify.notify_one();
                    }
                    tracing::warn!("release notice subscription ended; resubscribing");
                }
                Err(error) => tracing::warn!(%error, "cannot subscribe to release notices"),
            },
            Err(error) => tracing::debug!(%error, "release notice connection failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[async_trait::async_trait]
impl ReleaseBus for RedisBus {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, app: &str, generation: i64) -> Result<(), BusError> {
        let mut connection = self.manager.clone();
        redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(format!("{app} {generation}"))
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(failed)
    }

    fn notices(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    async fn add_stats(&self, batch: &[(StatsKey, Stats)]) -> Result<(), BusError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for ((app, version, second), stats) in batch {
            let key = self.stats_key(app, version, *second);
            pipe.cmd("HINCRBY").arg(&key).arg("r").arg(stats.requests).ignore();
            if stats.errors > 0 {
                pipe.cmd("HINCRBY").arg(&key).arg("e").arg(stats.errors).ignore();
            }
            for (index, count) in stats.latency.iter().enumerate().filter(|(_, c)| **c > 0) {
                pipe.cmd("HINCRBY").arg(&key).arg(format!("h{index}")).arg(*count).ignore();
            }
            pipe.cmd("EXPIRE").arg(&key).arg(STATS_TTL.as_secs()).ignore();
        }
        let mut connection = self.manager.clone();
        pipe.query_async::<()>(&mut connection).await.map_err(failed)
    }

    async fn read_stats(&self, app: &str, version: &str, from: i64, to: i64) -> Result<Stats, BusError> {
        let mut pipe = redis::pipe();
        for second in from..=to {
            pipe.cmd("HGETALL").arg(self.stats_key(app, version, second));
        }
        let mut connection = self.manager.clone();
        let seconds: Vec<HashMap<String, u64>> = pipe.query_async(&mut connection).await.map_err(failed)?;
        let mut sum = Stats::default();
        for fields in seconds {
            for (field, value) in fields {
                match field.as_str() {
                    "r" => sum.requests += value,
                    "e" => sum.errors += value,
                    other => {
                        if let Some(index) = other.strip_prefix('h').and_then(|i| i.parse::<usize>().ok())
                            && index < BUCKETS
                        {
                            sum.latency[index] += value;
                        }
                    }
                }
            }
        }
        Ok(sum)
    }

    async fn try_lead(&self, owner: &str, ttl: Duration) -> Result<bool, BusError> {
        let mut connection = self.manager.clone();
        let led: i64 = redis::Script::new(LEAD_SCRIPT)
            .key(format!("{}budget-host:analysis-lock", self.prefix))
            .arg(owner)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut connection)
            .await
            .map_err(failed)?;
        Ok(led == 1)
    }
}
