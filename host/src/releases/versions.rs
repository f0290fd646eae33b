//! Component versions uploaded through the admin API, kept durably in
//! PostgreSQL in the host's own schema (see [`super::ensure_schema`]). A version is immutable: the same (app, version) with other bytes
//! is a conflict, the same bytes again change nothing.
//!
//! Errors: [`StoreError`] separates what the caller did (a conflict) from a
//! database that cannot be reached; database detail goes to the log only.

use crate::capabilities::sql::SqlBackend;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::Row;

/// What is recorded about one uploaded version (everything but the bytes).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionRecord {
    pub app: String,
    pub version: String,
    pub digest: String,
    pub size: i64,
    pub imports: Vec<String>,
    /// RFC 3339, UTC.
    pub uploaded_at: String,
    pub uploader: String,
    pub notes: String,
}

/// A version to store.
pub struct NewVersion<'a> {
    pub app: &'a str,
    pub version: &'a str,
    pub digest: &'a str,
    pub imports: &'a [String],
    pub uploader: &'a str,
    pub notes: &'a str,
    pub component: &'a [u8],
}

#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Created(VersionRecord),
    /// The same bytes were already stored under this version.
    Unchanged(VersionRecord),
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    Missing,
    /// The release's stable or canary version: refused.
    InUse,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("version {version} of `{app}` already exists with digest {existing}")]
    Conflict { app: String, version: String, existing: String },
    #[error("the version store is unavailable")]
    Unavailable,
    #[error("component versions and releases are kept in PostgreSQL; this host has none")]
    NotConfigured,
}

pub(super) fn unavailable(error: sqlx::Error) -> StoreError {
    tracing::warn!(%error, "version store unavailable");
    StoreError::Unavailable
}

const COLUMNS: &str = "app, version, digest, size, imports, uploaded_at, uploader, notes";

fn record(row: &sqlx::postgres::PgRow) -> Result<VersionRecord, sqlx::Error> {
    let imports: serde_json::Value = row.try_get("imports")?;
    Ok(VersionRecord {
        app: row.try_get("app")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        size: row.try_get("size")?,
        imports: serde_json::from_value(imports).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        uploaded_at: row.try_get::<DateTime<Utc>, _>("uploaded_at")?.to_rfc3339_opts(SecondsFormat::Millis, true),
        uploader: row.try_get("uploader")?,
        notes: row.try_get("notes")?,
    })
}

/// The store over the host's administrative PostgreSQL connection.
pub struct VersionStore<'a> {
    sql: &'a SqlBackend,
}

impl<'a> VersionStore<'a> {
    pub fn new(sql: &'a SqlBackend) -> Self {
        Self { sql }
    }

    pub async fn put(&self, new: NewVersion<'_>) -> Result<PutOutcome, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let size = i64::try_from(new.component.len()).unwrap_or(i64::MAX);
        let imports = serde_json::json!(new.imports);
        let inserted = sqlx::query(&format!(
            "INSERT INTO budget_host.component_versions
                 (app, version, digest, size, imports, uploader, notes, component)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (app, version) DO NOTHING
             RETURNING {COLUMNS}"
        ))
        .bind(new.app)
        .bind(new.version)
        .bind(new.digest)
        .bind(size)
        .bind(imports)
        .bind(new.uploader)
        .bind(new.notes)
        .bind(new.component)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
        if let Some(row) = inserted {
            return Ok(PutOutcome::Created(record(&row).map_err(unavailable)?));
        }
        drop(conn);
        // Someone stored this version first: the same bytes are fine.
        let existing = self.get(new.app, new.version).await?.ok_or(StoreError::Unavailable)?;
        if existing.digest == new.digest {
            Ok(PutOutcome::Unchanged(existing))
        } else {
            Err(StoreError::Conflict {
                app: new.app.to_string(),
                version: new.version.to_string(),
                existing: existing.digest,
            })
        }
    }

    pub async fn get(&self, app: &str, version: &str) -> Result<Option<VersionRecord>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM budget_host.component_versions WHERE app = $1 AND version = $2"
        ))
        .bind(app)
        .bind(version)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(record).transpose().map_err(unavailable)
    }

    /// Every version of `app`, oldest upload first.
    pub async fn list(&self, app: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM budget_host.component_versions WHERE app = $1 ORDER BY uploaded_at, version"
        ))
        .bind(app)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
        rows.iter().map(record).collect::<Result<_, _>>().map_err(unavailable)
    }

    /// The stored bytes and digest of a version.
    pub async fn component(&self, app: &str, version: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let row =
            sqlx::query("SELECT digest, component FROM budget_host.component_versions WHERE app = $1 AND version = $2")
                .bind(app)
                .bind(version)
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
        row.map(|row| Ok((row.try_get("digest")?, row.try_get("component")?))).transpose().map_err(unavailable)
    }

    /// Deletes a version unless the app's release uses it. Serialised with
    /// release changes by the app's release lock, so a canary cannot start
    /// on a version being deleted.
    pub async fn delete(&self, app: &str, version: &str) -> Result<DeleteOutcome, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(unavailable)?;
        super::lock_app(&mut tx, app).await.map_err(unavailable)?;
        let release = super::store::load_release(&mut tx, app).await?;
        if let Some((release, _)) = release
            && release.versions().any(|v| v == version)
        {
            return Ok(DeleteOutcome::InUse);
        }
        let result = sqlx::query("DELETE FROM budget_host.component_versions WHERE app = $1 AND version = $2")
            .bind(app)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(if result.rows_affected() > 0 { DeleteOutcome::Deleted } else { DeleteOutcome::Missing })
    }
}
