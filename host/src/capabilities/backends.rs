//! The data backends of this process, built once at startup and shared by
//! every app; each app gets only a namespaced handle. Which backend serves a
//! capability is decided by configuration: Redis when `REDIS_URL` is set,
//! otherwise an in-process cache; PostgreSQL at `DATABASE_URL` (none without
//! it: `just run` starts a real server for development).

use super::cache::{AppCache, CacheBackend, InMemoryCache, RedisCache};
use super::docs::{AppDocs, DocsBackend, DocsSettings};
use super::sql::{AppSql, SqlBackend, SqlSettings, SqlSetupError};
use crate::cli::ServeArgs;
use crate::config::{AppDefinition, Capability};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Backends {
    /// PostgreSQL at `DATABASE_URL`.
    pub sql: Option<SqlBackend>,
    sql_up: AtomicBool,
    /// MongoDB, when `MONGODB_URL` is set.
    pub docs: Option<DocsBackend>,
    docs_up: AtomicBool,
    pub cache: Arc<dyn CacheBackend>,
    /// `host:port` or `in-process`, for logs and `/readyz`.
    pub cache_endpoint: String,
    cache_prefix: String,
    cache_timeout: Duration,
    cache_up: AtomicBool,
}

impl Backends {
    pub async fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(args.cache_timeout_ms.max(1));
        let (cache, endpoint): (Arc<dyn CacheBackend>, String) = match &args.redis_url {
            Some(url) => {
                let redis = RedisCache::new(url, timeout)
                    .map_err(|e| anyhow::anyhow!("REDIS_URL is not a usable Redis URL: {e}"))?;
                let endpoint = redis.endpoint().to_string();
                (Arc::new(redis), endpoint)
            }
            None => (Arc::new(InMemoryCache::new()), "in-process".to_string()),
        };
        let sql = match &args.database_url {
            None => None,
            Some(database_url) => {
                let Some(role_secret) = args.sql_role_secret.clone().filter(|secret| !secret.is_empty()) else {
                    anyhow::bail!(
                        "DATABASE_URL is set but BUDGET_SQL_ROLE_SECRET is not: app role passwords derive from it; \
                         set it (from a Secret in production) or pass --sql-role-secret"
                    );
                };
                let prefix = &args.sql_role_prefix;
                if prefix.len() > 24
                    || !prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    anyhow::bail!("BUDGET_SQL_ROLE_PREFIX must be at most 24 characters of a-z, 0-9 and _");
                }
                Some(SqlBackend::new(SqlSettings {
                    database_url: database_url.clone(),
                    role_prefix: prefix.clone(),
                    role_secret,
                    pool_size: args.sql_pool_size.max(1),
                    acquire_timeout: Duration::from_millis(args.sql_acquire_timeout_ms.max(1)),
                    statement_timeout: Duration::from_millis(args.sql_statement_timeout_ms.max(1)),
                    max_rows: args.sql_max_rows,
                    max_bytes: args.sql_max_bytes,
                })?)
            }
        };
        let docs = match &args.mongodb_url {
            None => None,
            Some(url) => {
                let prefix = &args.mongodb_db_prefix;
                if prefix.is_empty()
                    || prefix.len() > 24
                    || !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    anyhow::bail!("BUDGET_MONGODB_DB_PREFIX must be 1-24 characters of A-Z, a-z, 0-9 and _");
                }
                let settings = DocsSettings {
                    url: url.clone(),
                    database_prefix: prefix.clone(),
                    timeout: Duration::from_millis(args.docs_timeout_ms.max(1)),
                    max_documents: args.docs_max_documents.max(1),
                };
                Some(
                    DocsBackend::connect(settings)
                        .await
                        .map_err(|e| anyhow::anyhow!("MONGODB_URL is not a usable MongoDB URL: {e}"))?,
                )
            }
        };
        Ok(Self {
            sql,
            sql_up: AtomicBool::new(true),
            docs,
            docs_up: AtomicBool::new(true),
            cache,
            cache_endpoint: endpoint,
            cache_prefix: args.redis_key_prefix.clone(),
            cache_timeout: timeout,
            // Optimistic until the first probe says otherwise.
            cache_up: AtomicBool::new(true),
        })
    }

    pub fn app_cache(&self, app: &str) -> AppCache {
        AppCache::new(self.cache.clone(), &self.cache_prefix, app, self.cache_timeout)
    }

    /// Provisions what `definition` is granted: schema, role, migrations
    /// and pool for `sql`, a namespaced handle for `cache`.
    pub async fn handles_for(&self, definition: &AppDefinition) -> Result<CapabilityHandles, HandleError> {
        let sql = if definition.capabilities.contains(&Capability::Sql) {
            let backend = self.sql.as_ref().ok_or(HandleError::NoDatabase)?;
            Some(
                backend
                    .provision(&definition.name, definition.limits.deadline, definition.migrations.as_deref())
                    .await?,
            )
        } else {
            None
        };
        let docs = if definition.capabilities.contains(&Capability::Docs) {
            Some(self.docs.as_ref().ok_or(HandleError::NoDocumentStore)?.app_docs(&definition.name))
        } else {
            None
        };
        let cache =
            definition.capabilities.iter().any(|c| c.uses_cache_backend()).then(|| self.app_cache(&definition.name));
        Ok(CapabilityHandles { sql, docs, cache })
    }

    pub fn docs_up(&self) -> bool {
        self.docs_up.load(Ordering::Acquire)
    }

    pub fn sql_up(&self) -> bool {
        self.sql_up.load(Ordering::Acquire)
    }

    pub fn cache_up(&self) -> bool {
        self.cache_up.load(Ordering::Acquire)
    }

    /// Probes every backend once and records whether it answered.
    pub async fn probe(&self) {
        if let Some(docs) = &self.docs {
            record(&self.docs_up, docs.ping().await, "mongodb", docs.endpoint());
        }
        if let Some(sql) = &self.sql {
            record(&self.sql_up, sql.ping().await, sql.kind(), &sql.endpoint());
        }
        let up = tokio::time::timeout(self.cache_timeout, self.cache.ping()).await.is_ok_and(|r| r.is_ok());
        record(&self.cache_up, up, self.cache.kind(), &self.cache_endpoint);
    }
}

/// Stores a probe result and logs only transitions, so an outage gives one
/// warning and one recovery line, not one per probe.
fn record(flag: &AtomicBool, up: bool, backend: &str, endpoint: &str) {
    if flag.swap(up, Ordering::AcqRel) != up {
        if up {
            tracing::info!(backend, endpoint, "backend reachable again");
        } else {
            tracing::warn!(backend, endpoint, "backend unreachable");
        }
    }
}

/// What one app gets from the backends; built at load, shared by its requests.
#[derive(Clone, Default)]
pub struct CapabilityHandles {
    pub sql: Option<AppSql>,
    pub docs: Option<AppDocs>,
    pub cache: Option<AppCache>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("the app is granted `sql` but the host has no DATABASE_URL")]
    NoDatabase,
    #[error("the app is granted `docs` but the host has no MONGODB_URL")]
    NoDocumentStore,
    #[error(transparent)]
    Sql(#[from] SqlSetupError),
}
