//! Transfers between two accounts of a budget: one row each, moving money
//! out of one account and into the other. Between two on-budget (or two
//! off-budget) accounts a transfer is neither income nor expense and takes
//! no category. Across the budget's edge it must name a category, whose
//! activity it is (negative when money leaves the budget).

use crate::{Budget, Outcome, amount_json, budget, is_date, is_uuid, known_category, query, read, text, write};
use budget_sdk::money;
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::sql::{Transaction, Value};
use budget_sdk::{Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTransfer {
    from_account_id: String,
    to_account_id: String,
    /// Default: today in the budget's time zone.
    #[serde(default)]
    date: Option<String>,
    amount: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    category_id: Option<String>,
}

const COLUMNS: &str =
    "id::text, from_account_id::text, to_account_id::text, date::text, amount, memo, category_id::text";

fn transfer_json(row: &[Value], exponent: u8) -> Json {
    json!({
        "id": text(&row[0]), "from_account_id": text(&row[1]), "to_account_id": text(&row[2]),
        "date": text(&row[3]), "amount": amount_json(crate::int(&row[4]), exponent), "memo": text(&row[5]),
        "category_id": if matches!(row[6], Value::Null) { Json::Null } else { Json::String(text(&row[6])) },
    })
}

pub(crate) fn create_transfer(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let body: Json = req.json()?;
        let row = insert(req, tx, &budget, &body)?;
        Ok(Response::json(201, &transfer_json(&row, budget.exponent)))
    })
}

/// Validates and stores one transfer given as the API's JSON body; also
/// used when closing an account.
pub(crate) fn insert(req: &Request, tx: &Transaction, budget: &Budget, body: &Json) -> Outcome<Vec<Value>> {
    {
        let body: NewTransfer = budget_sdk::serde_json::from_value(body.clone())
            .map_err(|e| req.error(400, "invalid_json", &format!("request body is not a valid transfer: {e}")))?;
        let mut invalid = Vec::new();
        let amount = match money::parse(&body.amount, budget.exponent) {
            Ok(amount) if amount > 0 => amount,
            Ok(_) => {
                invalid.push(("amount", "must be positive; the direction is from → to".to_string()));
                0
            }
            Err(e) => {
                invalid.push(("amount", e.to_string()));
                0
            }
        };
        if body.date.as_deref().is_some_and(|d| !is_date(d)) {
            invalid.push(("date", "a date, YYYY-MM-DD".to_string()));
        }
        if body.from_account_id == body.to_account_id {
            invalid.push(("to_account_id", "differs from from_account_id".to_string()));
        }
        if body.memo.chars().count() > 1000 {
            invalid.push(("memo", "at most 1000 characters".to_string()));
        }
        let mut on_budget = Vec::new();
        for (field, id) in [("from_account_id", &body.from_account_id), ("to_account_id", &body.to_account_id)] {
            let rows = if is_uuid(id) {
                query(
                    req,
                    tx,
                    "SELECT on_budget, closed FROM accounts WHERE id = $1 AND budget_id = $2",
                    &[Value::Uuid(id.clone()), Value::Uuid(budget.id.clone())],
                )?
            } else {
                Vec::new()
            };
            match rows.first().map(|r| (&r[0], &r[1])) {
                Some((_, Value::Boolean(true))) => invalid.push((field, "the account is closed".to_string())),
                Some((Value::Boolean(flag), _)) => on_budget.push(*flag),
                _ => invalid.push((field, "no such account in this budget".to_string())),
            }
        }
        let crosses_edge = on_budget.len() == 2 && on_budget[0] != on_budget[1];
        let category = match (&body.category_id, crosses_edge) {
            (None, false) => Value::Null,
            (Some(id), true) if known_category(req, tx, &budget.id, id)? => Value::Uuid(id.clone()),
            (Some(_), true) => {
                invalid.push(("category_id", "no such category in this budget".to_string()));
                Value::Null
            }
            (None, true) => {
                invalid.push(("category_id", "required: this transfer crosses the budget's edge".to_string()));
                Value::Null
            }
            (Some(_), false) => {
                invalid.push(("category_id", "a transfer within the budget takes no category".to_string()));
                Value::Null
            }
        };
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        let rows = query(
            req,
            tx,
            &format!(
                "INSERT INTO transfers (budget_id, from_account_id, to_account_id, date, amount, memo, category_id)
                 SELECT $1, $2, $3, COALESCE($4::date, (now() AT TIME ZONE b.time_zone)::date), $5, $6, $7
                   FROM budgets b WHERE b.id = $1
                 RETURNING {COLUMNS}"
            ),
            &[
                Value::Uuid(budget.id.clone()),
                Value::Uuid(body.from_account_id),
                Value::Uuid(body.to_account_id),
                body.date.map_or(Value::Null, Value::Date),
                Value::Int64(amount),
                Value::Text(body.memo),
                category,
            ],
        )?;
        rows.into_iter().next().ok_or_else(|| req.error(500, "internal", "the transfer was not stored"))
    }
}

pub(crate) fn list_transfers(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let since = crate::sync::since(req)?;
        let rows = query(
            req,
            tx,
            &format!("SELECT {COLUMNS} FROM transfers WHERE budget_id = $1 AND knowledge > $2 ORDER BY date, seq"),
            &[Value::Uuid(budget.id.clone()), Value::Int64(since.unwrap_or(-1))],
        )?;
        let items: Vec<Json> = rows.iter().map(|r| transfer_json(r, budget.exponent)).collect();
        crate::sync::list(req, tx, &budget.id, "transfer", since, items)
    })
}
