//! What pods share besides PostgreSQL: change notices (so a change reaches
//! every pod at once; the poll in the controller covers a lost one),
//! per-second request statistics (so the analysis sees the whole cluster)
//! and the analysis lock (so one pod at a time judges canaries).
//!
//! Redis when `REDIS_URL` is set; otherwise an in-process bus, which is
//! only correct for a single host process. Errors are `BusError`; callers
//! log them and carry on (a lost notice is caught by the poll, lost
//! statistics delay a verdict).

mod in_memory;
mod redis;

pub use in_memory::InMemoryBus;
pub use redis::RedisBus;

use super::analysis::{Stats, StatsKey};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
#[error("release bus unavailable: {0}")]
pub struct BusError(pub String);

#[async_trait::async_trait]
pub trait ReleaseBus: Send + Sync {
    fn kind(&self) -> &'static str;
    /// Tells every pod that `app`'s release is now at `generation`.
    async fn publish(&self, app: &str, generation: i64) -> Result<(), BusError>;
    /// Signalled on every notice (and after a reconnect, when notices may
    /// have been missed).
    fn notices(&self) -> Arc<Notify>;
    /// Adds one pod's completed seconds to the shared statistics.
    async fn add_stats(&self, batch: &[(StatsKey, Stats)]) -> Result<(), BusError>;
    /// The sum over every pod of `app`@`version` for seconds `from..=to`.
    async fn read_stats(&self, app: &str, version: &str, from: i64, to: i64) -> Result<Stats, BusError>;
    /// Takes or keeps the analysis lock for `owner`; false when another
    /// pod holds it.
    async fn try_lead(&self, owner: &str, ttl: Duration) -> Result<bool, BusError>;
}

/// How long shared statistics are kept: longer than the longest interval.
pub const STATS_TTL: Duration = Duration::from_secs(2 * 3600);
