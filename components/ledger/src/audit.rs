//! Audit history. Every change appends an event (actor, budget, entity,
//! before, after, idempotency key, request id) to the `audit_outbox` table
//! in the change's own transaction: the event exists exactly when the
//! change does. After the commit, the request copies waiting events to the
//! MongoDB collection `audit_events`, oldest first, with the outbox id as
//! `_id`; a duplicate key means an earlier copy landed, so the row goes
//! either way. While MongoDB is down events stay in the outbox, and the
//! next write after it is back copies them.

use crate::{Outcome, budget, query, read, text};
use budget_sdk::docs;
use budget_sdk::serde_json::{self, Value as Json, json};
use budget_sdk::sql::{self, Transaction, Value};
use budget_sdk::{Request, Response};

const COLLECTION: &str = "audit_events";
/// Events copied per request, which bounds what a write pays after an
/// outage; a backlog drains over the following writes.
const RELAY_BATCH: i64 = 50;

/// A handler's answer, and the entity's state before the change when it
/// had one (creations have none).
pub(crate) struct Written {
    pub response: Response,
    pub before: Option<Json>,
    /// False for answers that changed nothing (a dry run): no audit event
    /// and no idempotency record.
    pub record: bool,
}

impl From<Response> for Written {
    fn from(response: Response) -> Self {
        Self { response, before: None, record: true }
    }
}

/// Every entity kind an event can name (the `?entity=` filter's values).
pub(crate) const ENTITIES: [&str; 10] = [
    "budget",
    "account",
    "transaction",
    "transfer",
    "assignment",
    "category_group",
    "category",
    "money_move",
    "import",
    "other",
];

/// The kind of entity a write path changes.
fn entity(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "v1", "budgets"] => "budget",
        [.., "accounts"] | [.., "accounts", _, "close"] => "account",
        [.., "transactions"] | [.., "transactions", _] => "transaction",
        [.., "transfers"] => "transfer",
        [.., "months", _, "categories", _] => "assignment",
        [.., "category-groups"] | [.., "category-groups", _] => "category_group",
        [.., "categories"] | [.., "categories", _] => "category",
        [.., "moves"] => "money_move",
        [.., "imports"] => "import",
        _ => "other",
    }
}

/// Appends the event for a successful change, inside its transaction.
pub(crate) fn record(req: &Request, tx: &Transaction, owner: &str, written: &Written) -> Outcome<()> {
    let after: Json = serde_json::from_slice(&written.response.body).unwrap_or(Json::Null);
    let budget_id = req.param("budget").map(str::to_string).or_else(|| after["id"].as_str().map(str::to_string));
    let entity_id = req
        .param("category")
        .or_else(|| req.param("transaction"))
        .or_else(|| req.param("group"))
        .map(str::to_string)
        .or_else(|| after["id"].as_str().map(str::to_string));
    let event = json!({
        "actor": owner,
        "budget_id": budget_id,
        "entity": entity(req.path()),
        "entity_id": entity_id,
        "action": match (req.method(), &written.before) {
            ("DELETE", _) => "delete",
            (_, Some(_)) => "update",
            (_, None) => "create",
        },
        "method": req.method(),
        "path": req.path(),
        "before": written.before,
        "after": after,
        "idempotency_key": req.header("idempotency-key"),
        "request_id": req.request_id(),
    });
    query(
        req,
        tx,
        "INSERT INTO audit_outbox (event)
         VALUES ($1::jsonb || jsonb_build_object('occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')))
         RETURNING id",
        &[Value::Jsonb(event.to_string())],
    )?;
    Ok(())
}

/// Copies waiting events to MongoDB. Failures leave them waiting; they
/// never fail the request whose change already committed.
pub(crate) fn relay(req: &Request) {
    let warn = |what: &str| budget_sdk::log::warn("audit", &format!("request {}: {what}", req.request_id()));
    // Rows are claimed with SKIP LOCKED: concurrent requests copy different
    // events instead of racing on the same ones.
    let tx = match sql::begin(sql::IsolationLevel::ReadCommitted) {
        Ok(tx) => tx,
        Err(error) => return warn(&format!("outbox unavailable: {error:?}")),
    };
    let pending = match tx.query(
        "SELECT id::text, event::text, seq FROM audit_outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        &[Value::Int64(RELAY_BATCH)],
    ) {
        Ok(rows) => rows.rows,
        Err(error) => return warn(&format!("outbox unreadable: {error:?}")),
    };
    for row in pending {
        let id = text(&row[0]);
        let mut event: Json = serde_json::from_str(&text(&row[1])).unwrap_or(Json::Null);
        event["_id"] = Json::String(id.clone());
        // The outbox order is the commit order of the changes' events.
        event["seq"] = Json::from(crate::int(&row[2]));
        match docs::insert_one(COLLECTION, &event.to_string()) {
            Ok(_) | Err(docs::Error::DuplicateKey(_)) => {
                if let Err(error) = tx.execute("DELETE FROM audit_outbox WHERE id = $1", &[Value::Uuid(id)]) {
                    warn(&format!("outbox row not cleared: {error:?}"));
                    break;
                }
            }
            Err(error) => {
                warn(&format!("MongoDB refused the audit relay, events wait: {error:?}"));
                break;
            }
        }
    }
    if let Err(error) = tx.commit() {
        warn(&format!("outbox clean-up not committed (the events are copied again later): {error:?}"));
    }
}

/// `GET /v1/budgets/{budget}/audit`: the budget's events, newest first (at
/// most 100; `?entity=` filters). Events still in the outbox are not shown.
pub(crate) fn list_audit(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let mut filter = json!({ "budget_id": budget.id });
        if let Some(entity) = req.query_value("entity") {
            if !ENTITIES.contains(&entity.as_str()) {
                return Err(req.error(422, "invalid_value", &format!("entity must be one of {}", ENTITIES.join(", "))));
            }
            filter["entity"] = Json::String(entity);
        }
        let options = docs::FindOptions {
            sort: Some(json!({ "seq": -1 }).to_string()),
            projection: None,
            skip: None,
            limit: Some(100),
        };
        let found = docs::find(COLLECTION, &filter.to_string(), &options).map_err(|error| {
            budget_sdk::log::warn("audit", &format!("audit history unavailable: {error:?}"));
            req.error(503, "audit_unavailable", "the audit history is unavailable; retry shortly")
        })?;
        let mut items: Vec<Json> = found.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
        items.sort_by_key(|e| std::cmp::Reverse(e["seq"].as_i64().unwrap_or(0)));
        Ok(Response::json(200, &json!({ "items": items })))
    })
}
