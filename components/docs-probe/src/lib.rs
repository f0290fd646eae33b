//! `docs-probe`: a test fixture; JSON in, JSON out over
//! `budget:platform/docs`. Arguments that the interface takes as Extended
//! JSON text arrive here as JSON values and are passed on as their text.
//! Served under several apps' routes (`/{app}/docs/{op}`).

use budget_sdk::docs::{self, Error, FindOptions, IndexOptions};
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::{Request, Response, Router};

fn text(value: &Json) -> String {
    value.to_string()
}

fn opt_text(value: &Json) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

/// Parses the host's Extended JSON output back into a JSON value.
fn parsed(ejson: &str) -> Json {
    budget_sdk::serde_json::from_str(ejson).unwrap_or(Json::Null)
}

fn error(req: &Request, error: Error) -> Response {
    let (status, name, detail, code) = match error {
        Error::InvalidArgument(d) => (400, "docs_invalid_argument", d, None),
        Error::DuplicateKey(d) => (409, "docs_duplicate_key", d, Some(11000)),
        Error::WriteFailed(f) => (422, "docs_write_failed", f.message, Some(f.code)),
        Error::CommandFailed(f) => (422, "docs_command_failed", f.message, Some(f.code)),
        Error::Unavailable(d) => (503, "docs_unavailable", d, None),
        Error::Timeout => (504, "docs_timeout", "timed out".to_string(), None),
        Error::ResultTooLarge(d) => (413, "docs_result_too_large", d, None),
    };
    Response::json(
        status,
        &json!({ "error": { "id": req.request_id(), "name": name, "detail": detail, "code": code } }),
    )
}

fn run(req: &Request) -> Response {
    let body: Json = match req.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let collection = body["collection"].as_str().unwrap_or_default();
    let result: Result<Json, Error> = match req.param("op").unwrap_or_default() {
        "insert-one" => docs::insert_one(collection, &text(&body["document"])).map(|id| json!({ "id": parsed(&id) })),
        "insert-many" => {
            let documents: Vec<String> =
                body["documents"].as_array().cloned().unwrap_or_default().iter().map(text).collect();
            docs::insert_many(collection, &documents)
                .map(|ids| json!({ "ids": ids.iter().map(|id| parsed(id)).collect::<Vec<_>>() }))
        }
        "find" => {
            let options = FindOptions {
                sort: opt_text(&body["sort"]),
                projection: opt_text(&body["projection"]),
                skip: body["skip"].as_u64(),
                limit: body["limit"].as_u64().map(|l| l as u32),
            };
            docs::find(collection, &text(&body["filter"]), &options)
                .map(|found| json!({ "documents": found.iter().map(|d| parsed(d)).collect::<Vec<_>>() }))
        }
        "find-one" => docs::find_one(collection, &text(&body["filter"]), opt_text(&body["projection"]).as_deref())
            .map(|found| json!({ "document": found.as_deref().map(parsed) })),
        op @ ("update-one" | "update-many") => {
            let upsert = body["upsert"].as_bool().unwrap_or(false);
            let (filter, update) = (text(&body["filter"]), text(&body["update"]));
            let result = if op == "update-one" {
                docs::update_one(collection, &filter, &update, upsert)
            } else {
                docs::update_many(collection, &filter, &update, upsert)
            };
            result.map(|r| {
                json!({ "matched": r.matched, "modified": r.modified, "upserted_id": r.upserted_id.as_deref().map(parsed) })
            })
        }
        "delete-one" => docs::delete_one(collection, &text(&body["filter"])).map(|n| json!({ "deleted": n })),
        "delete-many" => docs::delete_many(collection, &text(&body["filter"])).map(|n| json!({ "deleted": n })),
        "count" => docs::count(collection, &text(&body["filter"])).map(|n| json!({ "count": n })),
        "aggregate" => docs::aggregate(collection, &text(&body["pipeline"]))
            .map(|found| json!({ "documents": found.iter().map(|d| parsed(d)).collect::<Vec<_>>() })),
        "create-index" => {
            let options = IndexOptions {
                name: body["name"].as_str().map(str::to_string),
                unique: body["unique"].as_bool().unwrap_or(false),
                expire_after_seconds: body["expire_after_seconds"].as_u64().map(|s| s as u32),
            };
            docs::create_index(collection, &text(&body["keys"]), &options).map(|name| json!({ "name": name }))
        }
        other => return req.error(404, "not_found", &format!("no docs operation `{other}`")),
    };
    match result {
        Ok(value) => Response::json(200, &value),
        Err(e) => error(req, e),
    }
}

fn handle(req: Request) -> Response {
    Router::new().post("/{app}/docs/{op}", run).handle(req)
}

budget_sdk::component!(handle);
