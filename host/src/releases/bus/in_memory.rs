//! The single-process bus: notices go straight to this process, statistics
//! stay in memory, and this process always leads.

use super::{BusError, ReleaseBus};
use crate::releases::analysis::{Stats, StatsKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
pub struct InMemoryBus {
    notify: Arc<Notify>,
    stats: Mutex<HashMap<StatsKey, Stats>>,
}

impl InMemoryBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl ReleaseBus for InMemoryBus {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    async fn publish(&self, _app: &str, _generation: i64) -> Result<(), BusError> {
        self.notify.notify_one();
        Ok(())
    }

    fn notices(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    async fn add_stats(&self, batch: &[(StatsKey, Stats)]) -> Result<(), BusError> {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = crate::releases::now_ms() / 1000 - super::STATS_TTL.as_secs() as i64;
        stats.retain(|(_, _, second), _| *second >= oldest);
        for (key, add) in batch {
            stats.entry(key.clone()).or_default().add(add);
        }
        Ok(())
    }

    async fn read_stats(&self, app: &str, version: &str, from: i64, to: i64) -> Result<Stats, BusError> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut sum = Stats::default();
        for second in from..=to {
            if let Some(s) = stats.get(&(app.to_string(), version.to_string(), second)) {
                sum.add(s);
            }
        }
        Ok(sum)
    }

    async fn try_lead(&self, _owner: &str, _ttl: Duration) -> Result<bool, BusError> {
        Ok(true)
    }
}
