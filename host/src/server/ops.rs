//! Operations endpoints: `/livez`, `/readyz`, `/startupz`, `/metrics`.
//!
//! - `/livez`: the process serves HTTP. Never depends on apps or backends,
//!   so a slow backend never gets a pod restarted.
//! - `/startupz`: the first load of every app has finished (ready or failed).
//! - `/readyz`: every app is ready and the host is not draining. After
//!   SIGTERM it fails at once, so endpoints are removed before the drain.
//! - `/metrics`: Prometheus text format.

use super::Host;
use super::apps::AppState;
use super::body::{HostBody, host_response};
use crate::config::Capability;
use http::StatusCode;
use serde_json::json;

fn json_response(status: StatusCode, value: &serde_json::Value) -> http::Response<HostBody> {
    host_response(status, "application/json", value.to_string())
}

/// Answers `path` if it is an operations endpoint.
pub fn handle(host: &Host, path: &str) -> Option<http::Response<HostBody>> {
    let response = match path {
        "/livez" => json_response(StatusCode::OK, &json!({ "status": "ok" })),
        "/startupz" => {
            let started = host.lifecycle.started();
            let status = if started { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            json_response(status, &json!({ "status": if started { "started" } else { "starting" } }))
        }
        "/readyz" => readiness(host),
        "/metrics" => match host.metrics.render() {
            Ok(text) => host_response(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text),
            Err(error) => {
                tracing::error!(%error, "cannot render metrics");
                host_response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "metrics unavailable\n")
            }
        },
        _ => return None,
    };
    Some(response)
}

fn readiness(host: &Host) -> http::Response<HostBody> {
    let draining = host.lifecycle.draining();
    let mut all_ready = true;
    let mut apps = serde_json::Map::new();
    for slot in &host.slots {
        let entry = match &*slot.state() {
            AppState::Ready(routing) => json!({
                "state": "ready",
                "version": routing.stable.context.version,
                "digest": routing.stable.digest,
                "canary": routing.canary.as_ref().map(|c| json!({
                    "version": c.version.context.version,
                    "weight": c.weight,
                })),
            }),
            AppState::Loading => {
                all_ready = false;
                json!({ "state": "loading" })
            }
            AppState::Failed(reason) => {
                all_ready = false;
                json!({ "state": "failed", "reason": reason })
            }
        };
        apps.insert(slot.name().to_string(), entry);
    }
    // A backend counts only when some app is granted its capability.
    let mut backends = serde_json::Map::new();
    let cache_needed = host.slots.iter().any(|s| s.definition.capabilities.iter().any(|c| c.uses_cache_backend()));
    if cache_needed {
        let up = host.backends.cache_up();
        all_ready &= up;
        backends.insert(
            "cache".into(),
            json!({ "backend": host.backends.cache.kind(), "endpoint": host.backends.cache_endpoint, "up": up }),
        );
    }
    let sql_needed = host.slots.iter().any(|s| s.definition.capabilities.contains(&Capability::Sql));
    if let (true, Some(sql)) = (sql_needed, &host.backends.sql) {
        let up = host.backends.sql_up();
        all_ready &= up;
        backends.insert("sql".into(), json!({ "backend": sql.kind(), "endpoint": sql.endpoint(), "up": up }));
    }
    let docs_needed = host.slots.iter().any(|s| s.definition.capabilities.contains(&Capability::Docs));
    if let (true, Some(docs)) = (docs_needed, &host.backends.docs) {
        let up = host.backends.docs_up();
        all_ready &= up;
        backends.insert("docs".into(), json!({ "backend": "mongodb", "endpoint": docs.endpoint(), "up": up }));
    }
    let ready = all_ready && !draining && host.lifecycle.started();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(
        status,
        &json!({
            "status": if ready { "ready" } else { "not_ready" },
            "draining": draining,
            "apps": apps,
            "backends": backends,
        }),
    )
}
