//! Statements that outlive their request are cancelled.
//!
//! An app can switch off its own `statement_timeout` (`SET statement_timeout
//! = 0` is allowed to every role), and a request that reaches its deadline
//! is abandoned by the host while its statement may still run in
//! PostgreSQL, holding one of the app's pooled connections. No statement of
//! an app has a reason to run longer than the app's request deadline, so
//! the host looks, twice a second, for the app roles' active statements
//! older than that (plus a tick of grace) and cancels them with
//! `pg_cancel_backend` (the host is a member of every app role, which is
//! what PostgreSQL requires). Connections returned to a pool are reset
//! besides (see `AppSql`), so a setting does not outlive its request either.

use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the reaper looks.
pub const TICK: Duration = Duration::from_millis(500);

/// The app roles and their request deadlines.
#[derive(Default, Clone)]
pub struct Deadlines(Arc<Mutex<HashMap<String, (String, Duration)>>>);

impl Deadlines {
    pub fn insert(&self, role: &str, app: &str, deadline: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(role.to_string(), (app.to_string(), deadline));
    }

    fn snapshot(&self) -> HashMap<String, (String, Duration)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Active statements of the app roles: (backend pid, role, milliseconds running).
const ACTIVE_SQL: &str = "
SELECT pid, usename::text, (EXTRACT(EPOCH FROM clock_timestamp() - query_start) * 1000)::float8
FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active' AND usename::text = ANY($1)";

/// Cancels, once per tick, every app statement older than its app's
/// deadline plus one tick; `on_cancel` is told the app of each.
pub fn spawn(admin: PgPool, deadlines: Deadlines, on_cancel: impl Fn(&str) + Send + Sync + 'static) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let known = deadlines.snapshot();
            if known.is_empty() {
                continue;
            }
            let roles: Vec<String> = known.keys().cloned().collect();
            let active: Vec<(i32, String, f64)> = match sqlx::query_as(ACTIVE_SQL).bind(&roles).fetch_all(&admin).await
            {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::debug!(%error, "statement reaper cannot read pg_stat_activity");
                    continue;
                }
            };
            for (pid, role, running_ms) in active {
                let Some((app, deadline)) = known.get(&role) else { continue };
                if running_ms <= (*deadline + TICK).as_secs_f64() * 1000.0 {
                    continue;
                }
                match sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(&admin).await {
                    Ok(_) => {
                        tracing::warn!(app = %app, pid, running_ms, "cancelled a statement that outlived its request");
                        on_cancel(app);
                    }
                    Err(error) => tracing::warn!(app = %app, pid, %error, "cannot cancel a runaway statement"),
                }
            }
        }
    });
}
