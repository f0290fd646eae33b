//! Releases: component versions uploaded at run time, and per-app releases
//! (a stable version and at most one canary) that every pod follows.
//!
//! - [`versions`]: the immutable uploaded versions (bytes and metadata).
//! - [`model`]: a release as data, and its transitions as pure functions.
//! - [`store`]: releases and their history in PostgreSQL, each change with
//!   a new generation number.
//! - [`bus`]: what pods share through Redis (or in process, for one pod):
//!   change notices, per-interval request statistics and the analysis lock.
//! - [`selection`]: which version serves a request.
//! - [`analysis`]: statistics per (app, version) and the verdicts on them.
//! - [`controller`]: the pod side: follow the releases, load versions before
//!   switching to them, and judge canaries.
//!
//! Everything lives in the host's own schema, `budget_host`, which no app
//! role can reach. Errors: [`StoreError`] separates what the caller did
//! from a database that cannot be reached; database detail goes to the log.

pub mod analysis;
pub mod bus;
pub mod controller;
pub mod model;
pub mod selection;
pub mod store;
pub mod versions;

use crate::capabilities::sql::{SqlBackend, coordination};
pub use versions::{DeleteOutcome, NewVersion, PutOutcome, StoreError, VersionRecord, VersionStore};

const SCHEMA_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS budget_host;
REVOKE ALL ON SCHEMA budget_host FROM PUBLIC;
CREATE TABLE IF NOT EXISTS budget_host.component_versions (
    app text NOT NULL,
    version text NOT NULL,
    digest text NOT NULL,
    size bigint NOT NULL,
    imports jsonb NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    uploader text NOT NULL,
    notes text NOT NULL DEFAULT '',
    component bytea NOT NULL,
    PRIMARY KEY (app, version)
);
CREATE SEQUENCE IF NOT EXISTS budget_host.release_generation;
CREATE TABLE IF NOT EXISTS budget_host.releases (
    app text PRIMARY KEY,
    generation bigint NOT NULL,
    spec jsonb NOT NULL,
    verdict jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS budget_host.release_history (
    id bigserial PRIMARY KEY,
    app text NOT NULL,
    generation bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    from_version text NOT NULL,
    to_version text NOT NULL,
    weight smallint NOT NULL
);
CREATE INDEX IF NOT EXISTS release_history_app ON budget_host.release_history (app, id);";

/// Creates the schema when missing: idempotent, and serialised across hosts
/// by a lock no app can take. Run once per process before using the stores.
pub async fn ensure_schema(sql: &SqlBackend) -> Result<(), StoreError> {
    let mut conn = sql.admin_connection().await.map_err(versions::unavailable)?;
    let mut locked =
        coordination::lock(&mut conn, "schema", coordination::LOCK_TIMEOUT).await.map_err(versions::unavailable)?;
    sqlx::Executor::execute(&mut *locked, format!("{SCHEMA_SQL}{}", crate::auth::SCHEMA_SQL).as_str())
        .await
        .map_err(versions::unavailable)?;
    locked.commit().await.map_err(versions::unavailable)?;
    Ok(())
}

/// Serialises changes to one app's release (and deletions of its versions)
/// until the transaction ends.
async fn lock_app(conn: &mut sqlx::PgConnection, app: &str) -> Result<(), sqlx::Error> {
    coordination::lock_in_transaction(conn, &format!("release:{app}"), coordination::LOCK_TIMEOUT).await
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
