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
//! - `DELETE /admin/v1/apps/{app}/versions/{semver}`: 204, 404, or 409 when
//!   the app's release uses it.
//! - `POST   /admin/v1/users` (`{"name"}`): 201, a new API user; 409 when
//!   the name is taken (names are unique).
//! - `GET    /admin/v1/users` (`?name=` to find one): the users, by name.
//! - `POST   /admin/v1/users/{id}/tokens` (`{"label"}`, optional): 201, a new
//!   bearer token for the user, shown only in this answer.
//! - `DELETE /admin/v1/tokens/{id}`: 204 (revoked), or 404.
//! - `GET    /admin/v1/releases`: every app's release status.
//! - `GET    /admin/v1/apps/{app}/release`: one app's: stored state, what
//!   this pod serves, and the observed traffic split.
//! - `GET    /admin/v1/apps/{app}/release/history`: transitions, newest first.
//! - `POST   /admin/v1/apps/{app}/release/{canary|weight|pause|resume|promote|abort}`:
//!   change it (JSON body; `reason` is recorded); answers the new status.
//!   The actor recorded is `x-budget-actor`, or `admin-token`.
//!
//! Every refusal uses the one error envelope; nothing is stored unless the
//! whole upload was valid.

use super::apps::{AppSlot, AppState};
use super::body::{HostBody, host_response};
use crate::auth::TokenStore;
use crate::config::AppDefinition;
use crate::error::ApiError;
use crate::releases::controller::ReleaseController;
use crate::releases::model::{Action, CanaryRequest, Release, TransitionError};
use crate::releases::store::{Change, ReleaseError, ReleaseStore};
use crate::releases::{DeleteOutcome, NewVersion, PutOutcome, StoreError, VersionStore};
use crate::runtime::artifact_cache::ArtifactCache;
use crate::runtime::inspect::Grants;
use crate::runtime::loader;
use crate::runtime::state::RequestState;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
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
        Self { token_digest, max_upload, engine, linker, cache }
    }

    fn authorize(&self, headers: &http::HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.token_digest else {
            return Err(ApiError::Missing("the admin API is not enabled on this host".into()));
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer)
            .ok_or(ApiError::Unauthorized)?;
        if constant_time_eq(expected, &digest(presented.as_bytes())) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict { .. } => ApiError::Conflict(error.to_string()),
        StoreError::Unavailable | StoreError::NotConfigured => ApiError::StoreUnavailable(error.to_string()),
    }
}

fn release_error(error: ReleaseError) -> ApiError {
    match error {
        ReleaseError::Store(error) => store_error(error),
        ReleaseError::Refused(TransitionError::Invalid(detail)) => ApiError::BadRequest(detail),
        ReleaseError::Refused(TransitionError::Conflict(detail)) => ApiError::Conflict(detail),
        ReleaseError::UnknownApp(_) | ReleaseError::UnknownVersion { .. } => ApiError::Missing(error.to_string()),
    }
}

fn no_content() -> http::Response<HostBody> {
    let mut response = host_response(StatusCode::NO_CONTENT, "application/json", Bytes::new());
    response.headers_mut().remove(header::CONTENT_TYPE);
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> http::Response<HostBody> {
    host_response(status, "application/json", serde_json::to_vec(value).unwrap_or_default())
}

/// The route's parts under `/admin/v1/`.
#[derive(Clone, Copy)]
enum Route<'a> {
    Users,
    UserTokens { user: &'a str },
    Token { id: &'a str },
    Releases,
    Versions { app: &'a str },
    Version { app: &'a str, version: &'a str },
    Release { app: &'a str },
    ReleaseHistory { app: &'a str },
    ReleaseAction { app: &'a str, action: &'a str },
}

const ACTIONS: [&str; 6] = ["canary", "weight", "pause", "resume", "promote", "abort"];

fn route(path: &str) -> Option<Route<'_>> {
    if path == "/admin/v1/releases" {
        return Some(Route::Releases);
    }
    if path == "/admin/v1/users" {
        return Some(Route::Users);
    }
    if let Some(rest) = path.strip_prefix("/admin/v1/users/")
        && let Some((user, "tokens")) = rest.split_once('/')
        && !user.is_empty()
    {
        return Some(Route::UserTokens { user });
    }
    if let Some(id) = path.strip_prefix("/admin/v1/tokens/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return Some(Route::Token { id });
    }
    let rest = path.strip_prefix("/admin/v1/apps/")?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(app), Some("release"), None, None) if !app.is_empty() => Some(Route::Release { app }),
        (Some(app), Some("release"), Some("history"), None) if !app.is_empty() => Some(Route::ReleaseHistory { app }),
        (Some(app), Some("release"), Some(action), None) if !app.is_empty() && ACTIONS.contains(&action) => {
            Some(Route::ReleaseAction { app, action })
        }
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
    releases: &ReleaseController,
    request: http::Request<Incoming>,
) -> Result<http::Response<HostBody>, ApiError> {
    admin.authorize(request.headers())?;
    let path = request.uri().path().to_string();
    let route = route(&path).ok_or_else(|| ApiError::NotFound { path: path.clone() })?;
    let method = request.method().clone();
    let unsupported = || ApiError::BadRequest(format!("{method} is not supported on {path}"));
    let app = match route {
        Route::Users | Route::UserTokens { .. } | Route::Token { .. } => {
            return users(releases, route, method, request).await;
        }
        Route::Releases => {
            if method != Method::GET {
                return Err(unsupported());
            }
            let mut statuses = Vec::new();
            for slot in releases.slots() {
                statuses.push(release_status(releases, slot).await?);
            }
            return Ok(json(StatusCode::OK, &statuses));
        }
        Route::Versions { app }
        | Route::Version { app, .. }
        | Route::Release { app }
        | Route::ReleaseHistory { app }
        | Route::ReleaseAction { app, .. } => app,
    };
    let slot = releases
        .slot(app)
        .cloned()
        .ok_or_else(|| ApiError::Missing(format!("no app `{app}` in this host's apps.toml")))?;
    match route {
        Route::Releases | Route::Users | Route::UserTokens { .. } | Route::Token { .. } => Err(unsupported()),
        Route::Versions { .. } | Route::Version { .. } => {
            let version = match route {
                Route::Version { version, .. } => Some(version),
                _ => None,
            };
            versions(admin, releases, &slot.definition, version, request).await
        }
        Route::Release { .. } if method == Method::GET => {
            Ok(json(StatusCode::OK, &release_status(releases, &slot).await?))
        }
        Route::ReleaseHistory { .. } if method == Method::GET => {
            let sql = releases.sql().await.map_err(store_error)?;
            let history = ReleaseStore::new(sql).history(app, 500).await.map_err(store_error)?;
            Ok(json(StatusCode::OK, &history))
        }
        Route::ReleaseAction { action, .. } if method == Method::POST => {
            let actor = actor(request.headers());
            let body = read_json_body(request).await?;
            let (action, reason) = parse_action(action, body)?;
            let reason = reason.unwrap_or_default();
            releases
                .transition(app, action, Change { actor: &actor, reason: &reason }, None)
                .await
                .map_err(release_error)?;
            Ok(json(StatusCode::OK, &release_status(releases, &slot).await?))
        }
        Route::Release { .. } | Route::ReleaseHistory { .. } | Route::ReleaseAction { .. } => Err(unsupported()),
    }
}

async fn versions(
    admin: &Admin,
    releases: &ReleaseController,
    definition: &AppDefinition,
    version: Option<&str>,
    request: http::Request<Incoming>,
) -> Result<http::Response<HostBody>, ApiError> {
    let app = definition.name.as_str();
    if let Some(version) = version {
        semver::Version::parse(version)
            .map_err(|e| ApiError::BadRequest(format!("`{version}` is not a semantic version: {e}")))?;
    }
    let store = || async { releases.sql().await.map(VersionStore::new).map_err(store_error) };
    match (request.method().clone(), version) {
        (Method::GET, None) => Ok(json(StatusCode::OK, &store().await?.list(app).await.map_err(store_error)?)),
        (Method::GET, Some(version)) => {
            let found = store().await?.get(app, version).await.map_err(store_error)?;
            let record = found.ok_or_else(|| ApiError::Missing(format!("`{app}` has no version {version}")))?;
            Ok(json(StatusCode::OK, &record))
        }
        (Method::DELETE, Some(version)) => match store().await?.delete(app, version).await.map_err(store_error)? {
            DeleteOutcome::Deleted => Ok(no_content()),
            DeleteOutcome::Missing => Err(ApiError::Missing(format!("`{app}` has no version {version}"))),
            DeleteOutcome::InUse => {
                Err(ApiError::Conflict(format!("version {version} is in `{app}`'s release; promote or abort first")))
            }
        },
        (Method::PUT, Some(version)) => upload(admin, store().await?, definition, version, request).await,
        (method, _) => Err(ApiError::BadRequest(format!("{method} is not supported on {}", request.uri().path()))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    label: String,
}

/// API users and their tokens.
async fn users(
    releases: &ReleaseController,
    route: Route<'_>,
    method: Method,
    request: http::Request<Incoming>,
) -> Result<http::Response<HostBody>, ApiError> {
    let path = request.uri().path().to_string();
    let sql = releases.sql().await.map_err(store_error)?;
    let tokens = TokenStore::new(sql);
    let invalid = |e: serde_json::Error| ApiError::BadRequest(format!("invalid body: {e}"));
    match (route, method) {
        (Route::Users, Method::POST) => {
            let body: NewUser = serde_json::from_value(read_json_body(request).await?).map_err(invalid)?;
            let name = body.name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(ApiError::BadRequest("name must be 1 to 200 characters".into()));
            }
            match tokens.create_user(name).await.map_err(store_error)? {
                Some(user) => Ok(json(StatusCode::CREATED, &user)),
                None => Err(ApiError::Conflict(format!("a user named `{name}` exists"))),
            }
        }
        (Route::Users, Method::GET) => {
            let name = request.uri().query().and_then(|query| {
                form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "name").map(|(_, value)| value)
            });
            Ok(json(
                StatusCode::OK,
                &json!({ "users": tokens.list_users(name.as_deref()).await.map_err(store_error)? }),
            ))
        }
        (Route::UserTokens { user }, Method::POST) => {
            let body: NewToken = serde_json::from_value(read_json_body(request).await?).map_err(invalid)?;
            if body.label.chars().count() > 200 {
                return Err(ApiError::BadRequest("label must be at most 200 characters".into()));
            }
            match tokens.issue(user, &body.label).await.map_err(store_error)? {
                Some(issued) => {
                    tracing::info!(user = %issued.user_id, token = %issued.id, "API token issued");
                    Ok(json(StatusCode::CREATED, &issued))
                }
                None => Err(ApiError::Missing(format!("no user {user}"))),
            }
        }
        (Route::Token { id }, Method::DELETE) => {
            if tokens.revoke(id).await.map_err(store_error)? {
                tracing::info!(token = %id, "API token revoked");
                Ok(no_content())
            } else {
                Err(ApiError::Missing(format!("no live token {id}")))
            }
        }
        (_, method) => Err(ApiError::BadRequest(format!("{method} is not supported on {path}"))),
    }
}

/// The recorded actor: `x-budget-actor` when it is short and printable.
fn actor(headers: &http::HeaderMap) -> String {
    headers
        .get("x-budget-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| !c.is_control()))
        .map_or_else(|| "admin-token".to_string(), |v| format!("{v} (admin-token)"))
}

/// Largest JSON body a release action accepts.
const MAX_ACTION_BODY: u64 = 64 * 1024;

async fn read_json_body(request: http::Request<Incoming>) -> Result<serde_json::Value, ApiError> {
    let (bytes, _) = read_limited(request.into_body(), MAX_ACTION_BODY).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightBody {
    weight: u8,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn parse_action(name: &str, body: serde_json::Value) -> Result<(Action, Option<String>), ApiError> {
    let invalid = |e: serde_json::Error| ApiError::BadRequest(format!("invalid body for `{name}`: {e}"));
    match name {
        "canary" => {
            let request: CanaryRequest = serde_json::from_value(body).map_err(invalid)?;
            semver::Version::parse(&request.version)
                .map_err(|e| ApiError::BadRequest(format!("`{}` is not a semantic version: {e}", request.version)))?;
            let reason = request.reason.clone();
            Ok((Action::Start(request), reason))
        }
        "weight" => {
            let body: WeightBody = serde_json::from_value(body).map_err(invalid)?;
            Ok((Action::SetWeight(body.weight), body.reason))
        }
        other => {
            let body: ReasonBody = serde_json::from_value(body).map_err(invalid)?;
            let action = match other {
                "pause" => Action::Pause,
                "resume" => Action::Resume,
                "promote" => Action::Promote,
                _ => Action::Abort,
            };
            Ok((action, body.reason))
        }
    }
}

/// One app's release: what is stored, what this pod serves, and the
/// traffic split observed across pods over the last analysis interval.
async fn release_status(releases: &ReleaseController, slot: &AppSlot) -> Result<serde_json::Value, ApiError> {
    let sql = releases.sql().await.map_err(store_error)?;
    let stored = ReleaseStore::new(sql).get(slot.name()).await.map_err(store_error)?;
    let (generation, release, verdict, updated_at) = match stored {
        Some(row) => (row.generation, row.release, row.verdict, Some(row.updated_at)),
        None => (0, Release::initial(&slot.definition.version.to_string()), None, None),
    };
    let pod = match &*slot.state() {
        AppState::Ready(routing) => json!({
            "state": "ready",
            "generation": routing.generation,
            "stable": routing.stable.context.version,
            "canary": routing.canary.as_ref().map(|c| json!({"version": c.version.context.version, "weight": c.weight})),
        }),
        AppState::Loading => json!({ "state": "loading" }),
        AppState::Failed(reason) => json!({ "state": "failed", "reason": reason }),
    };
    let observed = match &release.canary {
        None => serde_json::Value::Null,
        Some(canary) => {
            let interval = canary.analysis.interval_s;
            match releases.observed(slot.name(), &release.stable, &canary.version, interval).await {
                Ok((stable, canary_stats)) => {
                    let total = stable.requests + canary_stats.requests;
                    let actual = (total > 0).then(|| (canary_stats.requests as f64) * 100.0 / total as f64);
                    json!({
                        "window_s": interval,
                        "canary_percent": actual,
                        "stable": stable.summary(),
                        "canary": canary_stats.summary(),
                    })
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read observed traffic");
                    json!({ "unavailable": true })
                }
            }
        }
    };
    Ok(json!({
        "app": slot.name(),
        "generation": generation,
        "stable": release.stable,
        "canary": release.canary,
        "verdict": verdict,
        "updated_at": updated_at,
        "pod": pod,
        "observed": observed,
    }))
}

async fn upload(
    admin: &Admin,
    store: VersionStore<'_>,
    definition: &AppDefinition,
    version: &str,
    request: http::Request<Incoming>,
) -> Result<http::Response<HostBody>, ApiError> {
    // Before reading a byte: a host without a store has refused already, and
    // a declared oversize length is refused (drained, so the client reads the 413).
    if let Some(declared) = super::declared_length(request.headers())
        && declared > admin.max_upload
    {
        if declared <= admin.max_upload.saturating_add(super::DRAIN_BEYOND_LIMIT) {
            super::drain(request.into_body()).await;
        }
        return Err(ApiError::PayloadTooLarge { limit: admin.max_upload });
    }
    let uploader = actor(request.headers());
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
    let (bytes, info) = checked.map_err(|e| ApiError::InvalidComponent(format!("the upload is refused: {e}")))?;

    let outcome = store
        .put(NewVersion {
            app: &definition.name,
            version,
            digest: &digest,
            imports: &info.imports,
            uploader: &uploader,
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
