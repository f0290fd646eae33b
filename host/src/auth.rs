//! User identity for the API: bearer tokens issued through the admin API,
//! stored as sha256 digests in `budget_host.api_tokens`, verified once by
//! the host. An app with `auth = "user"` in apps.toml only sees requests
//! with a valid token, and gets the user's id in `x-budget-user`; for every
//! app the host removes any `x-budget-user` a client sent, so a component
//! can trust the header it is handed.
//!
//! Verified digests are cached for a few seconds: a revoked token stops
//! working within [`POSITIVE_TTL`] on every pod.

use crate::capabilities::sql::SqlBackend;
use crate::releases::StoreError;
use chrono::SecondsFormat;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The header that carries the verified user id to components.
pub const USER_HEADER: &str = "x-budget-user";
/// Tokens start with this, so that leaked ones are easy to find in code and logs.
pub const TOKEN_PREFIX: &str = "bgt_";

pub const POSITIVE_TTL: Duration = Duration::from_secs(10);
const NEGATIVE_TTL: Duration = Duration::from_secs(2);
const CACHE_LIMIT: usize = 100_000;

pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS budget_host.api_users (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS budget_host.api_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES budget_host.api_users (id),
    digest bytea NOT NULL UNIQUE,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
-- User names are unique (the CLI finds a user by name). Hosts before this
-- rule may have stored the same name twice: those get a numbered suffix, in
-- order of creation, before the index is made.
UPDATE budget_host.api_users AS u SET name = u.name || ' (' || d.n || ')'
FROM (SELECT id, row_number() OVER (PARTITION BY name ORDER BY created_at, id) AS n FROM budget_host.api_users) AS d
WHERE d.id = u.id AND d.n > 1;
CREATE UNIQUE INDEX IF NOT EXISTS api_users_name ON budget_host.api_users (name);";

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// A newly issued token: the only time its text is shown.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub id: String,
    pub user_id: String,
    pub label: String,
    pub token: String,
}

/// The credentials of an `Authorization: Bearer …` value; the scheme is
/// case-insensitive (RFC 9110).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn unavailable(error: sqlx::Error) -> StoreError {
    tracing::warn!(%error, "token store unavailable");
    StoreError::Unavailable
}

fn user_from_row(row: &sqlx::postgres::PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get(0).map_err(unavailable)?,
        name: row.try_get(1).map_err(unavailable)?,
        created_at: row
            .try_get::<chrono::DateTime<chrono::Utc>, _>(2)
            .map_err(unavailable)?
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

pub struct TokenStore<'a> {
    sql: &'a SqlBackend,
}

impl<'a> TokenStore<'a> {
    pub fn new(sql: &'a SqlBackend) -> Self {
        Self { sql }
    }

    /// A new user; `None` when the name is taken.
    pub async fn create_user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let row = sqlx::query(
            "INSERT INTO budget_host.api_users (id, name) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING RETURNING id::text, name, created_at",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by name; or only the one named `name`.
    pub async fn list_users(&self, name: Option<&str>) -> Result<Vec<User>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let rows = sqlx::query(
            "SELECT id::text, name, created_at FROM budget_host.api_users
             WHERE $1::text IS NULL OR name = $1 ORDER BY name",
        )
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
        rows.iter().map(user_from_row).collect()
    }

    /// Issues a token for an existing user; `None` when there is no such user.
    pub async fn issue(&self, user_id: &str, label: &str) -> Result<Option<IssuedToken>, StoreError> {
        let Ok(user) = uuid::Uuid::parse_str(user_id) else {
            return Ok(None);
        };
        let secret = format!("{TOKEN_PREFIX}{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let id = uuid::Uuid::new_v4();
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let inserted = sqlx::query(
            "INSERT INTO budget_host.api_tokens (id, user_id, digest, label)
             SELECT $1, id, $3, $4 FROM budget_host.api_users WHERE id = $2",
        )
        .bind(id)
        .bind(user)
        .bind(digest(&secret).to_vec())
        .bind(label)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
        Ok((inserted.rows_affected() == 1).then(|| IssuedToken {
            id: id.to_string(),
            user_id: user.to_string(),
            label: label.to_string(),
            token: secret,
        }))
    }

    /// Whether a live token was revoked.
    pub async fn revoke(&self, token_id: &str) -> Result<bool, StoreError> {
        let Ok(id) = uuid::Uuid::parse_str(token_id) else {
            return Ok(false);
        };
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let result =
            sqlx::query("UPDATE budget_host.api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn user_for(&self, digest: &[u8; 32]) -> Result<Option<String>, StoreError> {
        let mut conn = self.sql.admin_connection().await.map_err(unavailable)?;
        let row =
            sqlx::query("SELECT user_id::text FROM budget_host.api_tokens WHERE digest = $1 AND revoked_at IS NULL")
                .bind(digest.to_vec())
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
        row.map(|row| row.try_get::<String, _>(0)).transpose().map_err(unavailable)
    }
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is unknown or revoked.
    Invalid,
    User(String),
}

/// A token digest's user (`None`: unknown or revoked), and when it was looked up.
type CachedAnswer = (Option<String>, Instant);

/// Verifies bearer tokens, remembering recent answers.
#[derive(Default)]
pub struct Verifier {
    cache: Mutex<HashMap<[u8; 32], CachedAnswer>>,
}

impl Verifier {
    pub async fn identify(&self, sql: &SqlBackend, headers: &http::HeaderMap) -> Result<Identity, StoreError> {
        let Some(token) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer)
        else {
            return Ok(Identity::Missing);
        };
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(Identity::Invalid);
        }
        let key = digest(token);
        if let Some(known) = self.cached(&key) {
            return Ok(known.map_or(Identity::Invalid, Identity::User));
        }
        let user = TokenStore::new(sql).user_for(&key).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (user, at)| user.is_some() && at.elapsed() < POSITIVE_TTL);
        }
        // Unknown tokens may fill at most half the cache, so a flood of
        // made-up ones never pushes out the real ones.
        if user.is_some() || cache.len() < CACHE_LIMIT / 2 {
            cache.insert(key, (user.clone(), Instant::now()));
        }
        Ok(user.map_or(Identity::Invalid, Identity::User))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Option<String>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (user, at) = cache.get(key)?;
        let ttl = if user.is_some() { POSITIVE_TTL } else { NEGATIVE_TTL };
        (at.elapsed() < ttl).then(|| user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer bgt_x"), Some("bgt_x"));
        assert_eq!(bearer("bearer  bgt_x "), Some("bgt_x"));
        assert_eq!(bearer("BEARER bgt_x"), Some("bgt_x"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerbgt_x"), None);
    }
}
