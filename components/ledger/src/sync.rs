//! Delta sync for the list endpoints. Every change to an account, category,
//! transaction or transfer takes its budget's next knowledge value (kept by
//! the triggers of migration 0005 in commit order); deletions leave
//! tombstones. A list answers with the budget's `knowledge`; asked again
//! with `since=<that value>` it returns only what changed after it, plus
//! the ids deleted since. Balances are derived from transactions, so a
//! client follows them through the transaction delta.

use crate::{Outcome, int, query, text};
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::sql::{Transaction, Value};
use budget_sdk::{Request, Response};

/// The `since` query parameter, when given.
pub(crate) fn since(req: &Request) -> Outcome<Option<i64>> {
    match req.query_param("since").map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(k)) if k >= 0 => Ok(Some(k)),
        Some(_) => Err(req.invalid(&[("since", "a knowledge value from an earlier answer".to_string())])),
    }
}

/// The budget's current knowledge, read in the caller's snapshot.
pub(crate) fn knowledge(req: &Request, tx: &Transaction, budget_id: &str) -> Outcome<i64> {
    let rows = query(req, tx, "SELECT knowledge FROM budgets WHERE id = $1", &[Value::Uuid(budget_id.to_string())])?;
    Ok(rows.first().map_or(0, |r| int(&r[0])))
}

/// Ids of `entity` deleted after `since`, up to `upto`.
pub(crate) fn deleted(
    req: &Request,
    tx: &Transaction,
    budget_id: &str,
    entity: &str,
    since: i64,
    upto: i64,
) -> Outcome<Vec<String>> {
    let rows = query(
        req,
        tx,
        "SELECT id::text FROM tombstones
          WHERE budget_id = $1 AND entity = $2 AND knowledge > $3 AND knowledge <= $4 ORDER BY knowledge",
        &[Value::Uuid(budget_id.to_string()), Value::Text(entity.to_string()), Value::Int64(since), Value::Int64(upto)],
    )?;
    Ok(rows.iter().map(|r| text(&r[0])).collect())
}

/// A whole-list answer (`items`, `knowledge`), with `deleted` when it is a delta.
pub(crate) fn list(
    req: &Request,
    tx: &Transaction,
    budget_id: &str,
    entity: &str,
    since: Option<i64>,
    items: Vec<Json>,
) -> Outcome<Response> {
    let knowledge = knowledge(req, tx, budget_id)?;
    let mut answer = json!({ "items": items, "knowledge": knowledge });
    if let Some(since) = since {
        answer["deleted"] = json!(deleted(req, tx, budget_id, entity, since, knowledge)?);
    }
    Ok(Response::json(200, &answer))
}
