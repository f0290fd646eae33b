//! `probe`: a test fixture that exposes the `cache` capability over HTTP, so
//! integration tests can drive every function through a real component and
//! check what the host lets it reach. (`sql-probe` does the same for `sql`.)

use budget_sdk::cache::{self, Error as CacheError};
use budget_sdk::serde_json::json;
use budget_sdk::{Request, Response, Router};

fn ttl(req: &Request) -> Option<u64> {
    req.query_param("ttl_ms").and_then(|v| v.parse().ok())
}

fn key(req: &Request) -> &str {
    req.param("key").unwrap_or_default()
}

fn cache_error(req: &Request, error: CacheError) -> Response {
    let (status, name, detail) = match error {
        CacheError::Unavailable(d) => (503, "cache_unavailable", d),
        CacheError::Timeout => (504, "cache_timeout", "cache operation timed out".to_string()),
        CacheError::WrongType(d) => (409, "cache_wrong_type", d),
        CacheError::InvalidArgument(d) => (400, "cache_invalid_argument", d),
    };
    req.error(status, name, &detail)
}

fn cache_get(req: &Request) -> Response {
    match cache::get(key(req)) {
        Ok(Some(value)) => Response::new(200).with_header("content-type", "application/octet-stream").with_body(value),
        Ok(None) => req.error(404, "not_found", "no such key"),
        Err(e) => cache_error(req, e),
    }
}

fn cache_set(req: &Request) -> Response {
    match cache::set(key(req), req.body(), ttl(req)) {
        Ok(()) => Response::new(204),
        Err(e) => cache_error(req, e),
    }
}

fn cache_delete(req: &Request) -> Response {
    match cache::delete(key(req)) {
        Ok(existed) => Response::json(200, &json!({ "existed": existed })),
        Err(e) => cache_error(req, e),
    }
}

fn cache_increment(req: &Request) -> Response {
    let by: i64 = req.query_param("by").and_then(|v| v.parse().ok()).unwrap_or(1);
    match cache::increment(key(req), by) {
        Ok(value) => Response::json(200, &json!({ "value": value })),
        Err(e) => cache_error(req, e),
    }
}

fn cache_set_if_absent(req: &Request) -> Response {
    match cache::set_if_absent(key(req), req.body(), ttl(req)) {
        Ok(set) => Response::json(200, &json!({ "set": set })),
        Err(e) => cache_error(req, e),
    }
}

fn cache_expire(req: &Request) -> Response {
    match cache::expire(key(req), ttl(req).unwrap_or(0)) {
        Ok(existed) => Response::json(200, &json!({ "existed": existed })),
        Err(e) => cache_error(req, e),
    }
}

fn cache_publish(req: &Request) -> Response {
    let channel = req.param("channel").unwrap_or_default();
    match cache::publish(channel, req.body()) {
        Ok(receivers) => Response::json(200, &json!({ "receivers": receivers })),
        Err(e) => cache_error(req, e),
    }
}

fn handle(req: Request) -> Response {
    // `{app}`: the same fixture serves under several apps' routes.
    Router::new()
        .get("/{app}/cache/key/{key}", cache_get)
        .put("/{app}/cache/key/{key}", cache_set)
        .delete("/{app}/cache/key/{key}", cache_delete)
        .post("/{app}/cache/key/{key}/increment", cache_increment)
        .post("/{app}/cache/key/{key}/set-if-absent", cache_set_if_absent)
        .post("/{app}/cache/key/{key}/expire", cache_expire)
        .post("/{app}/cache/publish/{channel}", cache_publish)
        .handle(req)
}

budget_sdk::component!(handle);
