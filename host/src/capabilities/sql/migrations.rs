//! An app's SQL migrations: `*.sql` files in the app's `migrations`
//! directory, applied in file-name order at load, each in its own
//! transaction, while the caller holds the app's migration lock (a
//! `coordination` lock, which no app can take) so that hosts starting at
//! once apply each migration exactly once. Applied migrations are recorded,
//! with a checksum, in `<schema>._budget_migrations`; editing one after it
//! ran is refused. Migrations run as the app's own role, so what they create
//! belongs to the app.

use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot read migrations in {dir}: {source}")]
    Read { dir: PathBuf, source: std::io::Error },
    #[error("migration `{name}` failed: {detail}")]
    Failed { name: String, detail: String },
    #[error("migration `{name}` was changed after it was applied (checksum differs)")]
    Changed { name: String },
    #[error("cannot run migrations: {0}")]
    Database(String),
}

fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => format!("SQLSTATE {}: {}", db.code().unwrap_or_default(), db.message()),
        other => other.to_string(),
    }
}

fn read(dir: &Path) -> Result<Vec<(String, String)>, MigrationError> {
    let read_error = |source| MigrationError::Read { dir: dir.to_path_buf(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.extension().is_some_and(|e| e == "sql") {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push((name, std::fs::read_to_string(&path).map_err(read_error)?));
        }
    }
    files.sort();
    Ok(files)
}

/// Applies pending migrations on `conn` (in the app's role); returns how
/// many ran. The caller holds the app's migration lock.
pub async fn apply(conn: &mut PgConnection, dir: &Path) -> Result<usize, MigrationError> {
    let files = read(dir)?;
    apply_locked(conn, &files).await
}

async fn apply_locked(conn: &mut sqlx::PgConnection, files: &[(String, String)]) -> Result<usize, MigrationError> {
    let db = |e: sqlx::Error| MigrationError::Database(describe(&e));
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _budget_migrations (
            name text PRIMARY KEY,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let done: Vec<(String, String)> =
        sqlx::query_as("SELECT name, checksum FROM _budget_migrations").fetch_all(&mut *conn).await.map_err(db)?;
    let mut applied = 0;
    for (name, sql) in files {
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        if let Some((_, recorded)) = done.iter().find(|(n, _)| n == name) {
            if *recorded != checksum {
                return Err(MigrationError::Changed { name: name.clone() });
            }
            continue;
        }
        let failed = |e: sqlx::Error| MigrationError::Failed { name: name.clone(), detail: describe(&e) };
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(failed)?;
        // Simple-query protocol: a migration may hold several statements.
        sqlx::Executor::execute(&mut *tx, sql.as_str()).await.map_err(failed)?;
        sqlx::query("INSERT INTO _budget_migrations (name, checksum) VALUES ($1, $2)")
            .bind(name)
            .bind(&checksum)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(migration = %name, "migration applied");
        applied += 1;
    }
    Ok(applied)
}
