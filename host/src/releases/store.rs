//! Releases and their history in PostgreSQL. Every change runs in one
//! transaction under the app's release lock: read, apply the transition
//! ([`super::model`]), write with a new generation from a global sequence,
//! append to the history. Pods compare generations to know what changed.

use super::model::{Action, Release, Transition, TransitionError};
use super::versions::unavailable;
use super::{StoreError, lock_app};
use crate::capabilities::sql::SqlBackend;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::Row;

/// One app's stored release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    pub app: String,
    pub generation: i64,
    #[serde(flatten)]
    pub release: Release,
    /// The analysis's latest verdict on the canary, if any.
    pub verdict: Option<serde_json::Value>,
    pub updated_at: String,
}

/// One line of an app's release history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub generation: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub reason: String,
    pub from_version: String,
    pub to_version: String,
    pub weight: i16,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Refused(#[from] TransitionError),
    #[error("no app `{0}` in this host's apps.toml")]
    UnknownApp(String),
    #[error("`{app}` has no uploaded version {version}")]
    UnknownVersion { app: String, version: String },
}

fn timestamp(row: &sqlx::postgres::PgRow, column: &str) -> Result<String, sqlx::Error> {
    Ok(row.try_get::<DateTime<Utc>, _>(column)?.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn release_row(row: &sqlx::postgres::PgRow) -> Result<ReleaseRow, sqlx::Error> {
    let spec: serde_json::Value = row.try_get("spec")?;
    Ok(ReleaseRow {
        app: row.try_get("app")?,
        generation: row.try_get("generation")?,
        release: serde_json::from_value(spec).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        verdict: row.try_get("verdict")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

const RELEASE_COLUMNS: &str = "app, generation, spec, verdict, updated_at";

/// The app's release and generation, read inside the caller's transaction.
pub(super) async fn load_release(
    conn: &mut sqlx::PgConnection,
    app: &str,
) -> Result<Option<(Release, i64)>, StoreError> {
    let row = sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM budget_host.releases WHERE app = $1"))
        .bind(app)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    row.as_ref().map(release_row).transpose().map_err(unavailable).map(|r| r.map(|r| (r.release, r.generation)))
}

pub struct ReleaseStore<'a> {
    sql: &'a SqlBackend,
}

/// Who asked for a change, and why; both go into the history.
pub struct Change<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
}

impl<'a> ReleaseStore<'a> {
    pub fn new(sql: &'a SqlBackend) -> Self {
        Self { sql }
    }

    /// Every app's release. A handful of rows: pods read them all on each poll.
    pub async fn all(&self) -> Result<Vec<ReleaseRow>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let rows = sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM budget_host.releases ORDER BY app"))
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        rows.iter().map(release_row).collect::<Result<_, _>>().map_err(unavailable)
    }

    pub async fn get(&self, app: &str) -> Result<Option<ReleaseRow>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let row = sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM budget_host.releases WHERE app = $1"))
            .bind(app)
            .fetch_optional(&mut *conn)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(release_row).transpose().map_err(unavailable)
    }

    /// Applies `action` to the app's release (starting from `baseline`, the
    /// apps.toml version, when it has none) and records it. `expected`, when
    /// given, makes the change conditional on the generation still being
    /// that one: the analysis uses it so that it never acts on a release an
    /// operator changed meanwhile (it gets `Ok(None)` then).
    pub async fn transition(
        &self,
        app: &str,
        baseline: &str,
        action: Action,
        change: Change<'_>,
        expected: Option<i64>,
    ) -> Result<Option<(ReleaseRow, Transition)>, ReleaseError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(unavailable)?;
        lock_app(&mut tx, app).await.map_err(unavailable)?;
        let (current, generation) = match load_release(&mut tx, app).await? {
            Some((release, generation)) => (release, Some(generation)),
            None => (Release::initial(baseline), None),
        };
        if expected.is_some() && expected != generation {
            return Ok(None);
        }
        let started = match &action {
            Action::Start(request) => Some(request.version.clone()),
            _ => None,
        };
        let (next, transition) = current.apply(action, super::now_ms())?;
        // A canary's version must have been uploaded (checked after the
        // transition's own rules, so "already stable" reads as such).
        if let Some(version) = &started {
            let exists = sqlx::query("SELECT 1 FROM budget_host.component_versions WHERE app = $1 AND version = $2")
                .bind(app)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?
                .is_some();
            if !exists {
                return Err(ReleaseError::UnknownVersion { app: app.to_string(), version: version.clone() });
            }
        }
        let spec = serde_json::to_value(&next).map_err(|e| unavailable(sqlx::Error::Encode(Box::new(e))))?;
        let row = sqlx::query(&format!(
            "INSERT INTO budget_host.releases (app, generation, spec, verdict, updated_at)
             VALUES ($1, nextval('budget_host.release_generation'), $2, NULL, now())
             ON CONFLICT (app) DO UPDATE
                 SET generation = EXCLUDED.generation, spec = EXCLUDED.spec, verdict = NULL, updated_at = now()
             RETURNING {RELEASE_COLUMNS}"
        ))
        .bind(app)
        .bind(spec)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        let row = release_row(&row).map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO budget_host.release_history
                 (app, generation, actor, action, reason, from_version, to_version, weight)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(app)
        .bind(row.generation)
        .bind(change.actor)
        .bind(transition.action)
        .bind(change.reason)
        .bind(&transition.from_version)
        .bind(&transition.to_version)
        .bind(i16::from(transition.weight))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Some((row, transition)))
    }

    /// Records the analysis's verdict on the release at `generation`;
    /// nothing happens when the release has moved on. Not a routing
    /// change, so the generation stays.
    pub async fn record_verdict(
        &self,
        app: &str,
        generation: i64,
        verdict: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        sqlx::query("UPDATE budget_host.releases SET verdict = $3 WHERE app = $1 AND generation = $2")
            .bind(app)
            .bind(generation)
            .bind(verdict)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The app's transitions, newest first.
    pub async fn history(&self, app: &str, limit: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let rows = sqlx::query(
            "SELECT generation, at, actor, action, reason, from_version, to_version, weight
               FROM budget_host.release_history WHERE app = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(app)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
        let entry = |row: &sqlx::postgres::PgRow| -> Result<HistoryEntry, sqlx::Error> {
            Ok(HistoryEntry {
                generation: row.try_get("generation")?,
                at: timestamp(row, "at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                reason: row.try_get("reason")?,
                from_version: row.try_get("from_version")?,
                to_version: row.try_get("to_version")?,
                weight: row.try_get("weight")?,
            })
        };
        rows.iter().map(entry).collect::<Result<_, _>>().map_err(unavailable)
    }
}
