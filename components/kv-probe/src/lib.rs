//! `kv-probe`: a test fixture that exposes `wasi:keyvalue` (store, atomics,
//! batch) over HTTP, as `probe` does for `cache`. Routes are under
//! `/{app}/kv/{bucket}/...` so one build serves several apps.

use budget_sdk::keyvalue::{atomics, batch, store};
use budget_sdk::serde_json::{Value, json};
use budget_sdk::{Request, Response, Router};

fn key(req: &Request) -> &str {
    req.param("key").unwrap_or_default()
}

fn kv_error(req: &Request, error: store::Error) -> Response {
    match error {
        store::Error::NoSuchStore => req.error(404, "kv_no_such_store", "no such store"),
        store::Error::AccessDenied => req.error(403, "kv_access_denied", "access denied"),
        store::Error::Other(detail) => req.error(503, "kv_other", &detail),
    }
}

/// Opens the route's bucket and runs `f` on it.
fn with_bucket(req: &Request, f: impl FnOnce(&store::Bucket) -> Result<Response, store::Error>) -> Response {
    match store::open(req.param("bucket").unwrap_or_default()).and_then(|bucket| f(&bucket)) {
        Ok(response) => response,
        Err(e) => kv_error(req, e),
    }
}

fn get(req: &Request) -> Response {
    with_bucket(req, |b| {
        Ok(match b.get(key(req))? {
            Some(value) => Response::new(200).with_header("content-type", "application/octet-stream").with_body(value),
            None => req.error(404, "not_found", "no such key"),
        })
    })
}

fn set(req: &Request) -> Response {
    with_bucket(req, |b| b.set(key(req), req.body()).map(|()| Response::new(204)))
}

fn delete(req: &Request) -> Response {
    with_bucket(req, |b| b.delete(key(req)).map(|()| Response::new(204)))
}

fn exists(req: &Request) -> Response {
    with_bucket(req, |b| Ok(Response::json(200, &json!({ "exists": b.exists(key(req))? }))))
}

fn increment(req: &Request) -> Response {
    let by: u64 = req.query_param("by").and_then(|v| v.parse().ok()).unwrap_or(1);
    with_bucket(req, |b| Ok(Response::json(200, &json!({ "value": atomics::increment(b, key(req), by)? }))))
}

/// Every key of the bucket, following cursors to the end; `pages` counts
/// the calls it took.
fn list(req: &Request) -> Response {
    with_bucket(req, |b| {
        let mut keys = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = b.list_keys(cursor)?;
            pages += 1;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        keys.sort();
        Ok(Response::json(200, &json!({ "keys": keys, "pages": pages })))
    })
}

/// Body: `{"set": {"k": "v"}, "get": ["k"], "delete": ["k"]}`, applied in
/// that order; answers what `get` found, `null` where a key is absent.
fn batch_ops(req: &Request) -> Response {
    let body: Value = match req.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let strings = |field: &str| -> Vec<String> {
        body[field]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let pairs: Vec<(String, Vec<u8>)> = body["set"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().as_bytes().to_vec())).collect())
        .unwrap_or_default();
    with_bucket(req, |b| {
        batch::set_many(b, &pairs)?;
        let found = batch::get_many(b, &strings("get"))?;
        batch::delete_many(b, &strings("delete"))?;
        let found: Vec<Value> = found
            .into_iter()
            .map(|entry| entry.map_or(Value::Null, |(k, v)| json!([k, String::from_utf8_lossy(&v)])))
            .collect();
        Ok(Response::json(200, &json!({ "found": found })))
    })
}

fn handle(req: Request) -> Response {
    Router::new()
        .get("/{app}/kv/{bucket}", list)
        .post("/{app}/kv/{bucket}/batch", batch_ops)
        .get("/{app}/kv/{bucket}/key/{key}", get)
        .put("/{app}/kv/{bucket}/key/{key}", set)
        .delete("/{app}/kv/{bucket}/key/{key}", delete)
        .get("/{app}/kv/{bucket}/key/{key}/exists", exists)
        .post("/{app}/kv/{bucket}/key/{key}/increment", increment)
        .handle(req)
}

budget_sdk::component!(handle);
