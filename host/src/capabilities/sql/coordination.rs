//! Locks between hosts that no app can take.
//!
//! Advisory locks share one key space per database that every role can
//! address: a component could take `pg_advisory_lock(hashtext('…'))` with a
//! host's key and keep every new pod from provisioning or migrating. The
//! host's locks are therefore row locks on `budget_host.host_locks`, a table
//! in the host's own schema, on which `PUBLIC` (and so every app role) has
//! no rights. Each wait is bounded by `lock_timeout`; a host that dies
//! holding a lock loses its session, and PostgreSQL releases the lock.

use sqlx::{Connection, Executor, PgConnection, Postgres, Transaction};
use std::time::Duration;

/// How long a host waits for another host's provisioning, migration or
/// schema change before it gives up (the app then fails to load, saying so,
/// and `/readyz` shows it).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

const LOCK_TABLE_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS budget_host;
REVOKE ALL ON SCHEMA budget_host FROM PUBLIC;
CREATE TABLE IF NOT EXISTS budget_host.host_locks (name text PRIMARY KEY);
REVOKE ALL ON budget_host.host_locks FROM PUBLIC;";

/// Creates the host's schema and its lock table when missing. Hosts that
/// start at once race on the catalog (a lost `CREATE … IF NOT EXISTS` or
/// concurrent `REVOKE` fails); the loser retries, and then finds the table.
pub async fn ensure_lock_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let mut attempt = 0;
    loop {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('budget_host.host_locks')::text").fetch_one(&mut *conn).await?;
        if exists.is_some() {
            return Ok(());
        }
        match conn.execute(LOCK_TABLE_SQL).await {
            Ok(_) => return Ok(()),
            Err(error) if attempt >= 5 => return Err(error),
            Err(error) => {
                attempt += 1;
                tracing::debug!(%error, attempt, "creating the host's lock table raced another host; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
        }
    }
}

/// Takes the named lock inside the transaction `conn` is in; it is held
/// until that transaction ends.
pub async fn lock_in_transaction(conn: &mut PgConnection, name: &str, timeout: Duration) -> Result<(), sqlx::Error> {
    conn.execute(format!("SET LOCAL lock_timeout = {}", timeout.as_millis().max(1)).as_str()).await?;
    sqlx::query("INSERT INTO budget_host.host_locks (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT 1 FROM budget_host.host_locks WHERE name = $1 FOR UPDATE")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A transaction on `conn` that holds the named lock until it commits or
/// is dropped.
pub async fn lock<'c>(
    conn: &'c mut PgConnection,
    name: &str,
    timeout: Duration,
) -> Result<Transaction<'c, Postgres>, sqlx::Error> {
    ensure_lock_table(conn).await?;
    let mut tx = conn.begin().await?;
    lock_in_transaction(&mut tx, name, timeout).await?;
    Ok(tx)
}
