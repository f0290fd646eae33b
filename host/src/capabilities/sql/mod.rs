//! `budget:platform/sql`: PostgreSQL for components, isolated by the
//! database itself.
//!
//! For each app granted `sql` the host creates, idempotently at load, a
//! schema `app_<name>` and a login role `<role prefix>app_<name>` that owns
//! it and has no other rights. The app's pool logs in *as that role*, with
//! `search_path` set to its schema, so every statement runs with the
//! role's privileges; a component cannot `RESET ROLE` its way out because
//! there is no other role in its session. Pools are built once per app at
//! load; a request only borrows a connection.
//!
//! There is one way to reach PostgreSQL, in development as in production: a
//! real server at `DATABASE_URL` (`just run` starts one under `.data/` when
//! none is configured), so every app session is a login as the app's role.
//!
//! Limits: a statement timeout (default 5 s) → `timeout`; a cap on rows
//! (default 10 000) and bytes (default 16 MiB) of one result →
//! `result-too-large`. A database that is down gives `unavailable` after the
//! acquire timeout, never a trap or a hang.

pub mod coordination;
mod migrations;
pub mod reaper;
mod values;

use crate::runtime::bindings::budget::platform::sql::{
    DatabaseError, Error, Host, HostTransaction, IsolationLevel, RowSet, Value,
};
use crate::runtime::state::RequestState;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres, Statement};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use wasmtime::component::Resource;

pub use migrations::MigrationError;

#[derive(Debug, Clone)]
pub struct SqlSettings {
    /// The host's own (administrative) connection URL.
    pub database_url: String,
    /// Prepended to role names; roles are cluster-wide, so environments that
    /// share a cluster need different prefixes.
    pub role_prefix: String,
    /// Secret from which each app role's password is derived.
    pub role_secret: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    pub max_rows: usize,
    pub max_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SqlSetupError {
    #[error("DATABASE_URL is not a usable PostgreSQL URL: {0}")]
    Url(String),
    #[error("cannot provision schema and role for app `{app}`: {detail}")]
    Provision { app: String, detail: String },
    #[error(transparent)]
    Migration(#[from] MigrationError),
}

/// The process's PostgreSQL: settings and the administrative pool used to
/// provision apps.
pub struct SqlBackend {
    settings: SqlSettings,
    admin_options: PgConnectOptions,
    admin: PgPool,
    /// Each provisioned app's role and request deadline, for the reaper.
    deadlines: reaper::Deadlines,
}

impl SqlBackend {
    pub fn new(settings: SqlSettings) -> Result<Self, SqlSetupError> {
        let admin_options =
            PgConnectOptions::from_str(&settings.database_url).map_err(|e| SqlSetupError::Url(e.to_string()))?;
        // Provisioning holds one connection for its lock while it works on
        // another; the reaper and the stores need theirs.
        let admin = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(admin_options.clone());
        Ok(Self { settings, admin_options, admin, deadlines: reaper::Deadlines::default() })
    }

    /// Starts cancelling app statements that outlive their request
    /// deadline (see [`reaper`]).
    pub fn spawn_statement_reaper(&self, on_cancel: impl Fn(&str) + Send + Sync + 'static) {
        reaper::spawn(self.admin.clone(), self.deadlines.clone(), on_cancel);
    }

    /// An administrative connection (the host's own role).
    pub(crate) async fn admin_connection(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.admin.acquire().await
    }

    /// The backend's name in logs and `/readyz`.
    pub fn kind(&self) -> &'static str {
        "postgres"
    }

    /// `host:port/database`, without credentials, for logs.
    pub fn endpoint(&self) -> String {
        format!(
            "{}:{}/{}",
            self.admin_options.get_host(),
            self.admin_options.get_port(),
            self.admin_options.get_database().unwrap_or("")
        )
    }

    pub async fn ping(&self) -> bool {
        match self.admin.acquire().await {
            Ok(mut conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok(),
            Err(_) => false,
        }
    }

    fn role_password(&self, role: &str) -> String {
        hex::encode(Sha256::digest(format!("{}\0{role}", self.settings.role_secret)))
    }

    /// Creates (idempotently) the app's role and schema, applies its pending
    /// migrations, and returns its pool. (Boxed with an explicit `Send` so it
    /// can run inside spawned tasks; see rust-lang/rust#64552.)
    /// `deadline` is the app's request deadline: no statement of the app
    /// outlives it by more than a reaper tick.
    pub fn provision<'a>(
        &'a self,
        app: &'a str,
        deadline: Duration,
        migrations_dir: Option<&'a Path>,
    ) -> futures_util::future::BoxFuture<'a, Result<AppSql, SqlSetupError>> {
        Box::pin(self.provision_inner(app, deadline, migrations_dir))
    }

    async fn provision_inner(
        &self,
        app: &str,
        deadline: Duration,
        migrations_dir: Option<&Path>,
    ) -> Result<AppSql, SqlSetupError> {
        let schema = format!("app_{app}");
        let role = format!("{}app_{app}", self.settings.role_prefix);
        let password = self.role_password(&role);
        let fail = |e: sqlx::Error| SqlSetupError::Provision { app: app.to_string(), detail: e.to_string() };

        let mut admin = self.admin_connection().await.map_err(fail)?;
        // Roles are cluster-wide: serialise provisioning across hosts, with a
        // lock no app role can take (see `coordination`).
        let mut locked = coordination::lock(&mut admin, "provision", coordination::LOCK_TIMEOUT).await.map_err(fail)?;
        provision_locked(&mut locked, &schema, &role, &password).await.map_err(fail)?;
        locked.commit().await.map_err(fail)?;

        drop(admin);
        let statement_timeout_ms = self.settings.statement_timeout.as_millis();
        let options = self
            .admin_options
            .clone()
            .username(&role)
            .password(&password)
            .application_name(&format!("budget-host/{app}"))
            .options([("search_path", schema.clone()), ("statement_timeout", statement_timeout_ms.to_string())]);
        let pool = PgPoolOptions::new()
            .max_connections(self.settings.pool_size)
            .acquire_timeout(self.settings.acquire_timeout)
            // What a request changed in its session ends with it: settings
            // (`statement_timeout` back to the login's), advisory locks.
            // Runs when the connection goes back to the pool, after the
            // request has its answer; a connection that cannot be reset is
            // closed instead.
            .after_release(|conn, _| {
                Box::pin(async move {
                    Ok(Executor::execute(conn, "RESET ALL; SELECT pg_advisory_unlock_all()").await.is_ok())
                })
            })
            .connect_lazy_with(options);
        self.deadlines.insert(&role, app, deadline);
        let app_sql = AppSql { pool, max_rows: self.settings.max_rows, max_bytes: self.settings.max_bytes };
        if let Some(dir) = migrations_dir {
            let database = |e: sqlx::Error| MigrationError::Database(e.to_string());
            // The lock is held by the host's own session; the migrations run
            // in the app's role, so what they create belongs to the app.
            let mut admin = self.admin_connection().await.map_err(database)?;
            let locked = coordination::lock(&mut admin, &format!("migrate:{schema}"), coordination::LOCK_TIMEOUT)
                .await
                .map_err(database)?;
            let mut conn = app_sql.acquire().await.map_err(database)?;
            migrations::apply(&mut conn, dir).await?;
            locked.commit().await.map_err(database)?;
        }
        Ok(app_sql)
    }
}

/// Names here are validated app names (`[a-z][a-z0-9_]*`) plus a validated
/// prefix, so quoting them as identifiers is safe; the password is hex.
async fn provision_locked(
    admin: &mut PgConnection,
    schema: &str,
    role: &str,
    password: &str,
) -> Result<(), sqlx::Error> {
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1").bind(role).fetch_optional(&mut *admin).await?;
    if exists.is_none() {
        sqlx::query(&format!(r#"CREATE ROLE "{role}" LOGIN"#)).execute(&mut *admin).await?;
    }
    sqlx::query(&format!(
        r#"ALTER ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD '{password}'"#
    ))
    .execute(&mut *admin)
    .await?;
    // The host's own user must belong to the role to create a schema owned
    // by it (PostgreSQL 16 and later no longer imply this for superusers).
    sqlx::query(&format!(r#"GRANT "{role}" TO CURRENT_USER"#)).execute(&mut *admin).await?;
    sqlx::query(&format!(r#"CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}""#))
        .execute(&mut *admin)
        .await?;
    sqlx::query(&format!(r#"ALTER SCHEMA "{schema}" OWNER TO "{role}""#)).execute(&mut *admin).await?;
    sqlx::query(&format!(r#"REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC"#)).execute(&mut *admin).await?;
    Ok(())
}

/// One app's pool and result limits.
#[derive(Clone)]
pub struct AppSql {
    pool: PgPool,
    max_rows: usize,
    max_bytes: usize,
}

impl AppSql {
    /// A connection in the app's role, schema and statement timeout.
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.pool.acquire().await
    }
}

fn classify(error: sqlx::Error) -> Error {
    match error {
        sqlx::Error::Database(db) => {
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            let sqlstate = db.code().map(|c| c.to_string()).unwrap_or_default();
            if sqlstate == "57014" {
                return Error::Timeout;
            }
            Error::Database(DatabaseError {
                sqlstate,
                message: db.message().to_string(),
                detail: pg.and_then(|p| p.detail()).map(str::to_string),
                constraint: db.constraint().map(str::to_string),
            })
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::Encode(_) => {
            Error::InvalidValue(error.to_string())
        }
        other => {
            tracing::warn!(error = %other, "postgres unavailable");
            Error::Unavailable("database unavailable".into())
        }
    }
}

impl AppSql {
    async fn query_on(&self, conn: &mut PgConnection, statement: &str, params: Vec<Value>) -> Result<RowSet, Error> {
        use futures_util::TryStreamExt;
        let prepared = conn.prepare(statement).await.map_err(classify)?;
        let columns = values::columns(prepared.columns());
        let mut query = prepared.query();
        for value in params {
            query = values::bind(query, value)?;
        }
        let mut stream = query.fetch(&mut *conn);
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = stream.try_next().await.map_err(classify)? {
            if rows.len() >= self.max_rows {
                return Err(Error::ResultTooLarge(format!("more than {} rows", self.max_rows)));
            }
            let mut decoded = Vec::with_capacity(columns.len());
            for (index, column) in columns.iter().enumerate() {
                decoded.push(values::decode(&row, index, column.column_type, &mut bytes)?);
            }
            if bytes > self.max_bytes {
                return Err(Error::ResultTooLarge(format!("more than {} bytes", self.max_bytes)));
            }
            rows.push(decoded);
        }
        Ok(RowSet { columns, rows })
    }

    async fn execute_on(&self, conn: &mut PgConnection, statement: &str, params: Vec<Value>) -> Result<u64, Error> {
        let mut query = sqlx::query(statement);
        for value in params {
            query = values::bind(query, value)?;
        }
        Ok(query.execute(conn).await.map_err(classify)?.rows_affected())
    }
}

/// A `transaction` resource: the connection stays checked out until commit,
/// rollback or drop (sqlx rolls back a dropped transaction).
pub struct SqlTransaction {
    app: AppSql,
    open: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl RequestState {
    fn sql(&self) -> Result<AppSql, Error> {
        self.app.sql.clone().ok_or_else(|| Error::Unavailable("sql capability not granted".into()))
    }
}

impl Host for RequestState {
    async fn query(&mut self, statement: String, params: Vec<Value>) -> Result<RowSet, Error> {
        let sql = self.sql()?;
        let mut conn = sql.acquire().await.map_err(classify)?;
        sql.query_on(&mut conn, &statement, params).await
    }

    async fn execute(&mut self, statement: String, params: Vec<Value>) -> Result<u64, Error> {
        let sql = self.sql()?;
        let mut conn = sql.acquire().await.map_err(classify)?;
        sql.execute_on(&mut conn, &statement, params).await
    }

    async fn begin(&mut self, isolation: IsolationLevel) -> Result<Resource<SqlTransaction>, Error> {
        let sql = self.sql()?;
        let conn = sql.acquire().await.map_err(classify)?;
        let mut transaction = sqlx::Transaction::begin(conn, None).await.map_err(classify)?;
        let level = match isolation {
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        };
        sqlx::query(&format!("SET TRANSACTION ISOLATION LEVEL {level}"))
            .execute(&mut *transaction)
            .await
            .map_err(classify)?;
        self.table()
            .push(SqlTransaction { app: sql, open: Some(transaction) })
            .map_err(|_| Error::Unavailable("too many open resources".into()))
    }
}

impl RequestState {
    fn transaction(&mut self, handle: &Resource<SqlTransaction>) -> Result<&mut SqlTransaction, Error> {
        self.table().get_mut(handle).map_err(|_| Error::TransactionClosed)
    }
}

impl HostTransaction for RequestState {
    async fn query(
        &mut self,
        handle: Resource<SqlTransaction>,
        statement: String,
        params: Vec<Value>,
    ) -> Result<RowSet, Error> {
        let tx = self.transaction(&handle)?;
        let app = tx.app.clone();
        let open = tx.open.as_mut().ok_or(Error::TransactionClosed)?;
        app.query_on(open, &statement, params).await
    }

    async fn execute(
        &mut self,
        handle: Resource<SqlTransaction>,
        statement: String,
        params: Vec<Value>,
    ) -> Result<u64, Error> {
        let tx = self.transaction(&handle)?;
        let app = tx.app.clone();
        let open = tx.open.as_mut().ok_or(Error::TransactionClosed)?;
        app.execute_on(open, &statement, params).await
    }

    async fn commit(&mut self, handle: Resource<SqlTransaction>) -> Result<(), Error> {
        let open = self.transaction(&handle)?.open.take().ok_or(Error::TransactionClosed)?;
        open.commit().await.map_err(classify)
    }

    async fn rollback(&mut self, handle: Resource<SqlTransaction>) -> Result<(), Error> {
        let open = self.transaction(&handle)?.open.take().ok_or(Error::TransactionClosed)?;
        open.rollback().await.map_err(classify)
    }

    async fn drop(&mut self, handle: Resource<SqlTransaction>) -> wasmtime::Result<()> {
        // Dropping an open sqlx transaction queues its rollback.
        let _ = self.table().delete(handle)?;
        Ok(())
    }
}
