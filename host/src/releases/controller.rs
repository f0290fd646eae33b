//! The pod side of releases. One controller per host process:
//!
//! - **Following:** at startup and whenever the bus signals a change (or
//!   every poll period, for a lost notice) it reads the releases and, for
//!   each app whose generation moved, loads every version the release needs
//!   (from the version store, compiled or from the artifact cache) and only
//!   then swaps the app's [`Routing`]. Requests in flight keep the routing
//!   they started with, so a switch drops none.
//! - **Choosing:** [`ReleaseController::choose`] picks the version for one
//!   request (see [`super::selection`]).
//! - **Judging:** every tick it flushes this pod's statistics to the bus and,
//!   when it holds the analysis lock, judges each progressing canary.
//!
//! A canary that fails to load on this pod is logged and counted
//! (`budget_host_release_load_failures_total`), the pod serves stable for
//! it and retries at every poll; a stable version that fails to load leaves
//! the previous routing in place. Neither makes the pod unready once it
//! served. A release whose stable version is neither uploaded nor the
//! apps.toml version (apps.toml moved on) serves the apps.toml version.

use super::analysis::{Outcome, Recorder, Stats, Verdict, judge};
use super::bus::ReleaseBus;
use super::model::{Action, CanaryState, Release, state_name};
use super::selection::{self, KeySource};
use super::store::{Change, ReleaseError, ReleaseRow, ReleaseStore};
use super::{StoreError, VersionStore};
use crate::capabilities::backends::Backends;
use crate::capabilities::sql::SqlBackend;
use crate::metrics::Metrics;
use crate::runtime::LoadedVersion;
use crate::runtime::artifact_cache::{ArtifactCache, CacheOutcome};
use crate::runtime::loader;
use crate::runtime::state::RequestState;
use crate::server::apps::{AppSlot, AppState, CanaryRoute, Routing};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// Seconds a pod's statistics may take to reach the bus (flushed every tick).
const FLUSH_LAG_S: i64 = 2;

/// What the controller needs to load versions.
pub struct LoadContext {
    pub engine: Engine,
    pub cache: Arc<ArtifactCache>,
    pub linker: Arc<Linker<RequestState>>,
    pub pool_max_memory: u64,
}

pub struct Settings {
    pub poll: Duration,
    pub tick: Duration,
    /// sha256 of the tokens that may use the override header.
    pub override_tokens: Vec<[u8; 32]>,
}

pub struct ReleaseController {
    backends: Arc<Backends>,
    bus: Arc<dyn ReleaseBus>,
    slots: Vec<Arc<AppSlot>>,
    load: LoadContext,
    metrics: Arc<Metrics>,
    settings: Settings,
    recorder: Recorder,
    pod_id: String,
    schema_ready: OnceCell<()>,
}

/// The version chosen for one request, and why.
pub struct Choice {
    pub version: Arc<LoadedVersion>,
    /// For `x-budget-version-reason`.
    pub reason: String,
    /// A `Set-Cookie` value when the caller had no sticky key.
    pub set_cookie: Option<String>,
    /// Whether this request counts in the canary analysis.
    pub analysed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    #[error("`{app}` has no version {version}")]
    UnknownVersion { app: String, version: String },
    #[error("version {version} of `{app}` cannot be loaded")]
    LoadFailed { app: String, version: String },
}

impl ReleaseController {
    pub fn new(
        backends: Arc<Backends>,
        bus: Arc<dyn ReleaseBus>,
        slots: Vec<Arc<AppSlot>>,
        load: LoadContext,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let pod_id = format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Self {
            backends,
            bus,
            slots,
            load,
            metrics,
            settings,
            recorder: Recorder::default(),
            pod_id,
            schema_ready: OnceCell::new(),
        }
    }

    pub fn bus_kind(&self) -> &'static str {
        self.bus.kind()
    }

    /// The host's PostgreSQL with the `budget_host` schema in place.
    pub async fn sql(&self) -> Result<&SqlBackend, StoreError> {
        let sql = self.backends.sql.as_ref().ok_or(StoreError::NotConfigured)?;
        self.schema_ready.get_or_try_init(|| super::ensure_schema(sql)).await?;
        Ok(sql)
    }

    /// Every app of this host, in apps.toml order.
    pub fn slots(&self) -> &[Arc<AppSlot>] {
        &self.slots
    }

    pub fn slot(&self, app: &str) -> Option<&Arc<AppSlot>> {
        self.slots.iter().find(|slot| slot.name() == app)
    }

    /// Loads every app at startup, one at a time so that compilation does
    /// not starve request handling of cores: the release's versions when
    /// PostgreSQL has one, else the apps.toml component.
    pub async fn load_all(&self) {
        let releases = if self.backends.sql.is_none() {
            Vec::new()
        } else {
            match self.sql().await {
                Ok(sql) => ReleaseStore::new(sql).all().await.unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot read releases at startup; serving apps.toml versions until the next poll");
                    Vec::new()
                }),
                Err(error) => {
                    tracing::warn!(%error, "cannot prepare the release store at startup");
                    Vec::new()
                }
            }
        };
        for slot in &self.slots {
            let found = releases.iter().find(|row| row.app == slot.name());
            let (release, generation) = match found {
                Some(row) => (row.release.clone(), row.generation),
                None => (Release::initial(&slot.definition.version.to_string()), 0),
            };
            let _guard = slot.load_lock.lock().await;
            if let Err(reason) = self.apply_locked(slot, &release, generation).await {
                tracing::error!(app = %slot.name(), %reason, "app failed to load");
                slot.set_state(AppState::Failed(reason));
            }
        }
    }

    /// Loads `version` of the slot's app, or returns it when already loaded.
    /// Call with the slot's load lock held.
    async fn version_locked(&self, slot: &Arc<AppSlot>, version: &str) -> Result<Arc<LoadedVersion>, String> {
        if let Some(loaded) = slot.loaded_version(version) {
            return Ok(loaded);
        }
        let handles = slot
            .handles
            .get_or_try_init(|| self.backends.handles_for(&slot.definition))
            .await
            .map_err(|e| e.to_string())?
            .clone();
        let stored = if self.backends.sql.is_some() {
            let sql = self.sql().await.map_err(|e| e.to_string())?;
            VersionStore::new(sql).component(slot.name(), version).await.map_err(|e| e.to_string())?
        } else {
            None
        };
        let (engine, cache, linker) = (self.load.engine.clone(), self.load.cache.clone(), self.load.linker.clone());
        let (definition, pool_max_memory, version_owned) =
            (slot.definition.clone(), self.load.pool_max_memory, version.to_string());
        let loaded = match stored {
            Some((_digest, bytes)) => {
                tokio::task::spawn_blocking(move || {
                    let origin = format!("{}@{version_owned} (uploaded)", definition.name).into();
                    loader::load_bytes(
                        &engine,
                        &cache,
                        &linker,
                        &definition,
                        handles,
                        pool_max_memory,
                        &version_owned,
                        origin,
                        &bytes,
                    )
                })
                .await
            }
            None if version == slot.definition.version.to_string() => {
                tokio::task::spawn_blocking(move || {
                    loader::load_version(&engine, &cache, &linker, &definition, handles, pool_max_memory)
                })
                .await
            }
            None => return Err(format!("`{}` has no version {version}", slot.name())),
        };
        let loaded = loaded.map_err(|e| format!("loader crashed: {e}"))?.map_err(|e| e.to_string())?;
        let source = match loaded.cache {
            CacheOutcome::Hit => "artifact_cache",
            CacheOutcome::Compiled => "compiled",
        };
        self.metrics.component_loads_total.with_label_values(&[slot.name(), version, source]).inc();
        tracing::info!(
            app = %slot.name(), version, digest = %loaded.digest, size = loaded.size, source,
            load_ms = loaded.load_time.as_millis() as u64, imports = ?loaded.info.imports, "version loaded"
        );
        let loaded = Arc::new(loaded);
        slot.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(version.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Makes the slot serve `release`: loads what it needs, then swaps.
    /// Call with the slot's load lock held.
    async fn apply_locked(&self, slot: &Arc<AppSlot>, release: &Release, generation: i64) -> Result<(), String> {
        let baseline = slot.definition.version.to_string();
        let stable = match self.version_locked(slot, &release.stable).await {
            Ok(stable) => stable,
            Err(reason) if reason.contains("has no version") && release.stable != baseline => {
                tracing::warn!(
                    app = %slot.name(), release_stable = %release.stable, apps_toml = %baseline,
                    "the release's stable version is gone; serving the apps.toml version"
                );
                self.version_locked(slot, &baseline).await?
            }
            Err(reason) => return Err(reason),
        };
        let mut canary_missing = false;
        let canary = match &release.canary {
            None => None,
            Some(canary) => match self.version_locked(slot, &canary.version).await {
                Ok(version) => Some(CanaryRoute { version, weight: canary.weight }),
                Err(reason) => {
                    // The pod keeps serving stable for everyone, and retries.
                    tracing::error!(app = %slot.name(), version = %canary.version, %reason, "canary failed to load on this pod");
                    self.metrics.release_load_failures_total.with_label_values(&[slot.name(), &canary.version]).inc();
                    canary_missing = true;
                    None
                }
            },
        };
        let app = slot.name();
        let previous = match &*slot.state() {
            AppState::Ready(routing) => Some(routing.clone()),
            _ => None,
        };
        if let Some(previous) = &previous {
            let _ = self.metrics.release_weight.remove_label_values(&[app, &previous.stable.context.version]);
            if let Some(c) = &previous.canary {
                let _ = self.metrics.release_weight.remove_label_values(&[app, &c.version.context.version]);
            }
        }
        let canary_weight = canary.as_ref().map_or(0, |c| i64::from(c.weight));
        self.metrics.release_weight.with_label_values(&[app, &stable.context.version]).set(100 - canary_weight);
        if let Some(c) = &canary {
            self.metrics.release_weight.with_label_values(&[app, &c.version.context.version]).set(canary_weight);
        }
        let state = release.canary.as_ref().map_or("none", |c| state_name(c.state));
        for name in ["none", "progressing", "paused"] {
            self.metrics.canary_state.with_label_values(&[app, name]).set(i64::from(name == state));
        }
        self.metrics.release_generation.with_label_values(&[app]).set(generation);
        if previous.as_ref().is_none_or(|p| p.stable.context.version != stable.context.version) {
            self.metrics.app_ready.with_label_values(&[app, &stable.context.version]).set(1);
            if let Some(p) = &previous {
                let _ = self.metrics.app_ready.remove_label_values(&[app, &p.stable.context.version]);
            }
        }
        tracing::info!(
            app, generation, stable = %stable.context.version,
            canary = ?canary.as_ref().map(|c| (c.version.context.version.clone(), c.weight)), "serving release"
        );
        slot.set_state(AppState::Ready(Arc::new(Routing { generation, stable, canary, canary_missing })));
        // Keep only what the release uses; override-only versions load again on demand.
        slot.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|version, _| release.versions().any(|v| v == version));
        Ok(())
    }

    /// Applies a stored release on this pod unless it already serves that
    /// generation or a newer one.
    async fn follow(&self, row: &ReleaseRow) {
        let Some(slot) = self.slot(&row.app) else {
            return;
        };
        let _guard = slot.load_lock.lock().await;
        let ready = matches!(&*slot.state(), AppState::Ready(_));
        if ready && slot.generation() >= row.generation {
            return;
        }
        if let Err(reason) = self.apply_locked(slot, &row.release, row.generation).await {
            tracing::error!(app = %row.app, generation = row.generation, %reason, "cannot switch to the new release; keeping the current one");
        }
    }

    /// Reads every release and follows those that moved.
    pub async fn sync(&self) {
        let sql = match self.sql().await {
            Ok(sql) => sql,
            Err(error) => {
                tracing::warn!(%error, "cannot read releases");
                return;
            }
        };
        match ReleaseStore::new(sql).all().await {
            Ok(rows) => {
                for row in rows {
                    self.follow(&row).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read releases"),
        }
    }

    /// After a change stored by this pod: serve it here at once, then tell
    /// the others.
    pub async fn changed(&self, row: &ReleaseRow) {
        self.follow(row).await;
        if let Err(error) = self.bus.publish(&row.app, row.generation).await {
            tracing::warn!(%error, app = %row.app, "release notice not sent; other pods catch up at their next poll");
        }
    }

    /// Changes `app`'s release and makes it take effect.
    pub async fn transition(
        &self,
        app: &str,
        action: Action,
        change: Change<'_>,
        expected: Option<i64>,
    ) -> Result<Option<ReleaseRow>, ReleaseError> {
        let slot = self.slot(app).ok_or_else(|| ReleaseError::UnknownApp(app.into()))?;
        let baseline = slot.definition.version.to_string();
        let sql = self.sql().await?;
        let outcome = ReleaseStore::new(sql).transition(app, &baseline, action, change, expected).await?;
        let Some((row, transition)) = outcome else {
            return Ok(None);
        };
        tracing::info!(
            app, generation = row.generation, action = transition.action, from = %transition.from_version,
            to = %transition.to_version, weight = transition.weight, "release changed"
        );
        if transition.action == "rollback" {
            self.metrics.rollbacks_total.with_label_values(&[app]).inc();
        }
        self.changed(&row).await;
        Ok(Some(row))
    }

    /// Whether the request carries a token that may use the override header.
    fn override_allowed(&self, headers: &http::HeaderMap) -> bool {
        let Some(token) = headers.get(selection::TOKEN_HEADER).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        self.settings.override_tokens.iter().fold(false, |found, expected| {
            found | (expected.iter().zip(&presented).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0)
        })
    }

    /// Picks the version that answers this request.
    pub async fn choose(
        &self,
        slot: &Arc<AppSlot>,
        routing: &Routing,
        headers: &http::HeaderMap,
    ) -> Result<Choice, ChoiceError> {
        if let Some(requested) = headers.get(selection::VERSION_HEADER).and_then(|v| v.to_str().ok())
            && let Some(version) = selection::parse_override(requested, slot.name())
            && self.override_allowed(headers)
        {
            let found = [Some(&routing.stable), routing.canary.as_ref().map(|c| &c.version)]
                .into_iter()
                .flatten()
                .find(|v| v.context.version == version)
                .cloned();
            let loaded = match found {
                Some(loaded) => loaded,
                None => {
                    let _guard = slot.load_lock.lock().await;
                    self.version_locked(slot, version).await.map_err(|reason| {
                        tracing::warn!(app = %slot.name(), version, %reason, "override version unavailable");
                        if reason.contains("has no version") {
                            ChoiceError::UnknownVersion { app: slot.name().into(), version: version.into() }
                        } else {
                            ChoiceError::LoadFailed { app: slot.name().into(), version: version.into() }
                        }
                    })?
                }
            };
            return Ok(Choice { version: loaded, reason: "override".into(), set_cookie: None, analysed: false });
        }
        let Some(canary) = &routing.canary else {
            return Ok(Choice {
                version: routing.stable.clone(),
                reason: "stable-only".into(),
                set_cookie: None,
                analysed: false,
            });
        };
        let (key, source, set_cookie) = match selection::sticky_key(headers) {
            Some((key, source)) => (key, source, None),
            None => {
                let (id, cookie) = selection::new_cookie();
                (id, KeySource::NewCookie, Some(cookie))
            }
        };
        let bucket = selection::bucket(&canary.version.context.version, &key);
        let on_canary = selection::on_canary(bucket, canary.weight);
        let source = match source {
            KeySource::User => "user",
            KeySource::Cookie => "cookie",
            KeySource::NewCookie => "new-cookie",
        };
        let reason = format!(
            "{}; key={source}; bucket={bucket}; weight={}",
            if on_canary { "canary" } else { "stable" },
            canary.weight
        );
        let version = if on_canary { canary.version.clone() } else { routing.stable.clone() };
        Ok(Choice { version, reason, set_cookie, analysed: true })
    }

    /// Cluster-wide traffic of the app's stable and canary versions over the
    /// last `interval_s` complete seconds: what `status` calls the actual weight.
    pub async fn observed(
        &self,
        app: &str,
        stable: &str,
        canary: &str,
        interval_s: u32,
    ) -> Result<(Stats, Stats), super::bus::BusError> {
        let last = super::now_ms() / 1000 - FLUSH_LAG_S;
        let first = last - i64::from(interval_s.max(1)) + 1;
        let stable = self.bus.read_stats(app, stable, first, last).await?;
        let canary = self.bus.read_stats(app, canary, first, last).await?;
        Ok((stable, canary))
    }

    /// Counts one analysed request.
    pub fn record(&self, app: &str, version: &str, error: bool, latency: Duration) {
        let second = super::now_ms() / 1000;
        self.recorder.record(app, version, second, error, latency);
    }

    /// Starts the follow and analysis loops.
    pub fn spawn_loops(self: &Arc<Self>) {
        if self.backends.sql.is_none() {
            return;
        }
        let follower = self.clone();
        tokio::spawn(async move {
            let notices = follower.bus.notices();
            loop {
                tokio::select! {
                    () = notices.notified() => {},
                    () = tokio::time::sleep(follower.settings.poll) => {},
                }
                follower.sync().await;
            }
        });
        let judge = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(judge.settings.tick).await;
                judge.flush().await;
                match judge.bus.try_lead(&judge.pod_id, judge.settings.tick * 3).await {
                    Ok(true) => judge.evaluate().await,
                    Ok(false) => {}
                    Err(error) => tracing::debug!(%error, "cannot take the analysis lock"),
                }
            }
        });
    }

    async fn flush(&self) {
        let batch = self.recorder.take_complete(super::now_ms() / 1000);
        if let Err(error) = self.bus.add_stats(&batch).await {
            tracing::warn!(%error, seconds = batch.len(), "canary statistics lost");
        }
    }

    /// Judges every progressing canary over its latest full interval.
    async fn evaluate(&self) {
        let Ok(sql) = self.sql().await else {
            return;
        };
        let rows = match ReleaseStore::new(sql).all().await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "analysis cannot read releases");
                return;
            }
        };
        let now_s = super::now_ms() / 1000;
        for row in rows {
            let Some(canary) = &row.release.canary else {
                continue;
            };
            if canary.state != CanaryState::Progressing {
                continue;
            }
            let interval = i64::from(canary.analysis.interval_s);
            let first = canary.step_started_ms / 1000 + 1;
            let last = now_s - FLUSH_LAG_S;
            if last - first + 1 < interval {
                continue;
            }
            let from = last - interval + 1;
            let canary_read = self.bus.read_stats(&row.app, &canary.version, from, last).await;
            let stable_read = self.bus.read_stats(&row.app, &row.release.stable, from, last).await;
            let (canary_stats, stable_stats) = match (canary_read, stable_read) {
                (Ok(c), Ok(s)) => (c, s),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::warn!(%error, app = %row.app, "analysis cannot read statistics");
                    continue;
                }
            };
            let (outcome, reason) = judge(&canary.analysis, &canary_stats, &stable_stats);
            let verdict = Verdict {
                outcome,
                reason: reason.clone(),
                canary: canary_stats.summary(),
                stable: stable_stats.summary(),
                window: [from, last],
            };
            let verdict_json = serde_json::to_value(&verdict).unwrap_or_default();
            if let Err(error) = ReleaseStore::new(sql).record_verdict(&row.app, row.generation, &verdict_json).await {
                tracing::warn!(%error, app = %row.app, "cannot record the analysis verdict");
            }
            let action = match outcome {
                Outcome::Waiting => continue,
                Outcome::Pass if canary.steps.is_empty() => continue,
                Outcome::Pass => Action::Advance,
                Outcome::Fail => Action::Breach,
            };
            let change = Change { actor: "analysis", reason: &reason };
            match self.transition(&row.app, action, change, Some(row.generation)).await {
                // Keep the verdict that moved the release visible on the new generation.
                Ok(Some(next)) if next.release.canary.is_some() => {
                    let recorded =
                        ReleaseStore::new(sql).record_verdict(&row.app, next.generation, &verdict_json).await;
                    if let Err(error) = recorded {
                        tracing::warn!(%error, app = %row.app, "cannot record the analysis verdict");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, app = %row.app, "analysis could not act"),
            }
        }
    }
}
