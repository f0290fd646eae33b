//! `bench-data`: the component side of `just bench`'s data benchmarks. Each
//! request does exactly one backend call, so the figures compare the host's
//! capability path with a native service doing the same call
//! (`bench/native`): one indexed SELECT, or one cache GET. `/bench/noop`
//! answers without any backend call, as a baseline.

use budget_sdk::serde_json::json;
use budget_sdk::sql::{self, Value};
use budget_sdk::{Request, Response, Router, cache};

fn item(req: &Request) -> Response {
    let Some(id) = req.param("id").and_then(|v| v.parse::<i64>().ok()) else {
        return req.error(400, "invalid_id", "id must be an integer");
    };
    match sql::query("SELECT id, name, amount_minor FROM items WHERE id = $1", &[Value::Int64(id)]) {
        Ok(rows) => match rows.rows.into_iter().next().as_deref() {
            Some([Value::Int64(id), Value::Text(name), Value::Int64(amount)]) => {
                Response::json(200, &json!({ "id": id, "name": name, "amount_minor": amount }))
            }
            Some(_) => req.error(500, "unexpected_row", "row shape differs from the table"),
            None => req.error(404, "not_found", "no such item"),
        },
        Err(e) => req.error(503, "sql_error", &format!("{e:?}")),
    }
}

fn cached(req: &Request) -> Response {
    match cache::get(req.param("key").unwrap_or_default()) {
        Ok(Some(value)) => Response::new(200).with_header("content-type", "application/octet-stream").with_body(value),
        Ok(None) => req.error(404, "not_found", "no such key"),
        Err(e) => req.error(503, "cache_error", &format!("{e:?}")),
    }
}

/// The same response shape with no backend call: what the component path
/// costs by itself, so the figures separate it from the capability call.
fn noop(_req: &Request) -> Response {
    Response::json(200, &json!({ "id": 4242, "name": "item 4242", "amount_minor": 424200 }))
}

fn handle(req: Request) -> Response {
    Router::new().get("/bench/sql/{id}", item).get("/bench/cache/{key}", cached).get("/bench/noop", noop).handle(req)
}

budget_sdk::component!(handle);
