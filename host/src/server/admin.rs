//! The admin API, `/admin/v1/...`: uploading and managing component
//! versions. Authorised by one bearer token (`BUDGET_ADMIN_TOKEN`), compared
//! in constant time; without a configured token the API answers 404, as if
//! it were not there.
//!
//! - `PUT    /admin/v1/apps/{app}/versions/{semver}`: upload (body = the
//!   component). Streamed with a size cap and hashed on the way; then
//!   validated exactly as a load would (a component, not a core module; the
//!   handler export; imports within the app's grants; compiles with this
//!   host's engine, which also warms the compiled-artifact cache). 201 when
//!   stored, 200 when the same bytes were already there, 409 when the
//!   version exists with other bytes. Optional `x-budget-notes` header.
//! - `GET    /admin/v1/apps/{app}/versions`: list.
//! - `GET    /admin/v1/apps/{app}/versions/{semver}`: one version.
//! - `DELETE /admin/v1/apps/{app}/versions/{semver}`: 204, or 404.
//!
//! Every refusal uses the one error envelope; nothing is stored unless the
//! whole upload was valid.

use super::apps::AppSlot;
use super::body::{HostBody, host_response};
use crate::capabilities::sql::SqlBackend;
use crate::config::AppDefinition;
use crate::error::ApiError;
use crate::releases::{self, NewVersion, PutOutcome, StoreError, VersionStore};
use crate::runtime::artifact_cache::ArtifactCache;
use crate::runtime::inspect::Grants;
use crate::runtime::loader;
use crate::runtime::state::RequestState;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::OnceCell;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub const PREFIX: &str = "/admin";

/// Built once at startup.
pub struct Admin {
    /// sha256 of the configured token: comparing fixed-length digests keeps
    /// the comparison's time independent of the token and of the guess.
    token_digest: Option<[u8; 32]>,
    max_upload: u64,
    engine: Engine,
    linker: Arc<Linker<RequestState>>,
    cache: Arc<ArtifactCache>,
    schema_ready: OnceCell<()>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    pub fn new(
        token: Option<&str>,
        max_upload: u64,
        engine: Engine,
        linker: Arc<Linker<RequestState>>,
        cache: Arc<ArtifactCache>,
    ) -> Self {
        let token_digest = token.filter(|t| !t.is_empty()).map(|t| digest(t.as_bytes()));
        Self { token_digest, max_upload, engine, linker, cache, schema_ready: OnceCell::new() }
    }

    fn authorize(&self, headers: &http::HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.token_digest else {
            return Err(ApiError::Missing("the admin API is not enabled on this host".into()));
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        if constant_time_eq(expected, &digest(presented.trim().as_bytes())) { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    async fn store<'a>(&self, sql: Option<&'a SqlBackend>) -> Result<VersionStore<'a>, ApiError> {
        let sql = sql.ok_or_else(|| {
            ApiError::StoreUnavailable("component versions are kept in PostgreSQL; this host has none".into())
        })?;
        self.schema_ready.get_or_try_init(|| releases::ensure_schema(sql)).await.map_err(store_error)?;
        Ok(VersionStore::new(sql))
    }
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict { .. } => ApiError::Conflict(error.to_string()),
        StoreError::Unavailable => ApiError::StoreUnavailable(error.to_string()),
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> http::Response<HostBody> {
    host_response(status, "application/json", serde_json::to_vec(value).unwrap_or_default())
}

/// The route's parts: `apps/{app}/versions[/{version}]` under `/admin/v1/`.
enum Route<'a> {
    Versions { app: &'a str },
    Version { app: &'a str, version: &'a str },
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/admin/v1/apps/")?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(app), Some("versions"), None, None) if !app.is_empty() => Some(Route::Versions { app }),
        (Some(app), Some("versions"), Some(""), None) if !app.is_empty() => Some(Route::Versions { app }),
        (Some(app), Some("versions"), Some(version), None) if !app.is_empty() && !version.is_empty() => {
            Some(Route::Version { app, version })
        }
        _ => None,
    }
}

/// Handles one request under [`PREFIX`].
pub async fn handle(
    admin: &Admin,
    apps: &[Arc<AppSlot>],
    sql: Option<&SqlBackend>,
    request: http::Request<Incoming>,
) -> Result<http::Response<HostBody>, ApiError> {
    admin.authorize(request.headers())?;
    let path = request.uri().path().to_string();
    let route = route(&path).ok_or_else(|| ApiError::NotFound { path: path.clone() })?;
    let (app, version) = match route {
        Route::Versions { app } => (app, None),
        Route::Version { app, version } => (app, Some(version)),
    };
    let definition = &apps
        .iter()
        .find(|slot| slot.name() == app)
        .ok_or_else(|| ApiError::Missing(format!("no app `{app}` in this host's apps.toml")))?
        .definition;
    if let Some(version) = version {
        semver::Version::parse(version)
            .map_err(|e| ApiError::BadRequest(format!("`{version}` is not a semantic version: {e}")))?;
    }
    match (request.method().clone(), version) {
        (Method::GET, None) => Ok(json(StatusCode::OK, &admin.store(sql).await?.list(app).await.map_err(store_error)?)),
        (Method::GET, Some(version)) => {
            let found = admin.store(sql).await?.get(app, version).await.map_err(store_error)?;
            let record = found.ok_or_else(|| ApiError::Missing(format!("`{app}` has no version {version}")))?;
            Ok(json(StatusCode::OK, &record))
        }
        (Method::DELETE, Some(version)) => {
            if admin.store(sql).await?.delete(app, version).await.map_err(store_error)? {
                let mut response = host_response(StatusCode::NO_CONTENT, "application/json", Bytes::new());
                response.headers_mut().remove(header::CONTENT_TYPE);
                Ok(response)
            } else {
                Err(ApiError::Missing(format!("`{app}` has no version {version}")))
            }
        }
        (Method::PUT, Some(version)) => upload(admin, definition, sql, version, request).await,
        (method, _) => Err(ApiError::BadRequest(format!("{method} is not supported on {path}"))),
    }
}

async fn upload(
    admin: &Admin,
    definition: &AppDefinition,
    sql: Option<&SqlBackend>,
    version: &str,
    request: http::Request<Incoming>,
) -> Result<http::Response<HostBody>, ApiError> {
    // Before reading a byte: a host without a store refuses at once, and a
    // declared oversize length is refused (drained, so the client reads the 413).
    let store = admin.store(sql).await?;
    if let Some(declared) = super::declared_length(request.headers())
        && declared > admin.max_upload
    {
        if declared <= admin.max_upload.saturating_add(super::DRAIN_BEYOND_LIMIT) {
            super::drain(request.into_body()).await;
        }
        return Err(ApiError::PayloadTooLarge { limit: admin.max_upload });
    }
    let notes = request.headers().get("x-budget-notes").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (bytes, digest) = read_limited(request.into_body(), admin.max_upload).await?;

    let (engine, linker, cache) = (admin.engine.clone(), admin.linker.clone(), admin.cache.clone());
    let checked_definition = definition.clone();
    let checked_digest = digest.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let (component, _) = loader::compile(&engine, &cache, &bytes, &checked_digest)?;
        let grants = Grants::App { name: &checked_definition.name, capabilities: &checked_definition.capabilities };
        let (info, _) = loader::prepare(&engine, &linker, &component, &grants)?;
        Ok::<_, crate::runtime::inspect::CheckError>((bytes, info))
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "upload validation task failed");
        ApiError::Internal
    })?;
    let (bytes, info) = checked.map_err(|e| ApiError::InvalidComponent(format!("the upload {e}")))?;

    let outcome = store
        .put(NewVersion {
            app: &definition.name,
            version,
            digest: &digest,
            imports: &info.imports,
            uploader: "admin-token",
            notes: &notes,
            component: &bytes,
        })
        .await
        .map_err(store_error)?;
    match outcome {
        PutOutcome::Created(record) => {
            tracing::info!(app = %record.app, version = %record.version, digest = %record.digest, size = record.size, "component version uploaded");
            Ok(json(StatusCode::CREATED, &record))
        }
        PutOutcome::Unchanged(record) => Ok(json(StatusCode::OK, &record)),
    }
}

/// Reads the body up to `limit` bytes, hashing as it goes.
async fn read_limited(body: Incoming, limit: u64) -> Result<(Vec<u8>, String), ApiError> {
    let mut body = body;
    let mut bytes = Vec::new();
    let mut hasher = Sha256::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::BadRequest("the upload was interrupted".into()))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() as u64 + data.len() as u64 > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            hasher.update(&data);
            bytes.extend_from_slice(&data);
        }
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(route("/admin/v1/apps/ledger/versions"), Some(Route::Versions { app: "ledger" })));
        assert!(matches!(route("/admin/v1/apps/ledger/versions/"), Some(Route::Versions { app: "ledger" })));
        assert!(matches!(
            route("/admin/v1/apps/ledger/versions/1.2.3"),
            Some(Route::Version { app: "ledger", version: "1.2.3" })
        ));
        assert!(route("/admin/v1/apps//versions").is_none());
        assert!(route("/admin/v1/apps/ledger/versions/1.2.3/x").is_none());
        assert!(route("/admin/v2/apps/ledger/versions").is_none());
    }

    #[test]
    fn token_comparison() {
        let a = digest(b"secret");
        assert!(constant_time_eq(&a, &digest(b"secret")));
        assert!(!constant_time_eq(&a, &digest(b"secreT")));
        assert!(!constant_time_eq(&a, &digest(b"")));
    }
}
