//! `ledger`: budgets, accounts, transactions, categories and months under
//! `/v1/budgets`.
//!
//! Identity: the host verifies the caller's bearer token (the app has
//! `auth = "user"`) and hands over the user id in `x-budget-user`; every
//! query is scoped to it, so another user's budget is a 404. Money is
//! integer minor units in the budget's currency, parsed from decimal
//! strings with [`budget_sdk::money`]; answers carry both the decimal
//! string and the minor units. A POST with an `Idempotency-Key` is stored
//! with its answer in the same transaction as its change: a replay gets
//! the first answer, the same key with another body gets 422.

mod audit;
mod budgeting;
mod import;
mod reports;
mod sync;
mod transfers;

use budget_sdk::money::{self, Currency};
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::sql::{self, Error as SqlError, IsolationLevel, Transaction, Value};
use budget_sdk::{Request, Response, Router};
use serde::Deserialize;

const MAX_PAGE: i64 = 500;
const DEFAULT_PAGE: i64 = 100;

/// What a handler hands back when it stops early: the response to send.
type Outcome<T> = Result<T, Response>;

fn owner(req: &Request) -> Outcome<String> {
    match req.header("x-budget-user") {
        Some(user) if !user.is_empty() => Ok(user.to_string()),
        _ => Err(req.error(401, "unauthorized", "a bearer token is required")),
    }
}

/// Maps a database error to the client's answer; the details go to the log.
fn sql_failed(req: &Request, error: SqlError) -> Response {
    budget_sdk::log::warn("ledger", &format!("request {}: database error {error:?}", req.request_id()));
    match error {
        // Raised by the triggers of migration 0008: the write would take the
        // budget's amounts past the limit.
        SqlError::Database(db) if db.constraint.as_deref() == Some("budget_amount_limit") => over_limit(req),
        SqlError::Database(db) if db.sqlstate == "23505" => {
            req.error(409, "conflict", "an item with these unique values already exists")
        }
        // 22: bad data, 23: constraint, 54: a value too large for an index.
        SqlError::Database(db) if ["22", "23", "54"].iter().any(|class| db.sqlstate.starts_with(class)) => {
            req.error(422, "invalid_value", "a value was refused by the ledger's constraints")
        }
        SqlError::InvalidValue(_) => req.error(422, "invalid_value", "a value cannot be stored as given"),
        SqlError::Timeout => req.error(504, "database_timeout", "the database did not answer in time"),
        _ => req.error(503, "database_unavailable", "the database is unavailable; retry shortly"),
    }
}

fn query(req: &Request, tx: &Transaction, statement: &str, params: &[Value]) -> Outcome<Vec<Vec<Value>>> {
    tx.query(statement, params).map(|set| set.rows).map_err(|e| sql_failed(req, e))
}

fn text(value: &Value) -> String {
    match value {
        Value::Text(s) | Value::Uuid(s) | Value::Date(s) | Value::Numeric(s) => s.clone(),
        Value::Int64(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int16(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int64(n) => *n,
        Value::Int32(n) => i64::from(*n),
        Value::Int16(n) => i64::from(*n),
        _ => 0,
    }
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text
            .char_indices()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Years the ledger accepts in dates and months. Budgets live in the
/// present; the bound keeps the month math (which runs from a budget's
/// first month to the asked one) small.
const YEARS: std::ops::RangeInclusive<u32> = 1900..=2200;

fn year_ok(text: &str) -> bool {
    text.get(0..4).and_then(|y| y.parse::<u32>().ok()).is_some_and(|y| YEARS.contains(&y))
}

/// A real calendar date written `YYYY-MM-DD` (2026-02-30 is not one), in [`YEARS`].
fn is_date(text: &str) -> bool {
    text.len() == 10
        && year_ok(text)
        && budget_core::import::parse_date(text, budget_core::import::DateFormat::Iso).is_ok_and(|d| d == text)
}

/// Money as the API shows it: the decimal string and the minor units.
fn amount_json(minor: i64, exponent: u8) -> Json {
    json!({ "amount": money::format(minor, exponent), "minor_units": minor })
}

/// The limit of every amount and every total, in minor units: 2^63 − 1.
/// A budget's amounts may add up (in absolute value) to at most this much
/// (migration 0008), which keeps every figure derived from them within it.
const AMOUNT_LIMIT: i64 = i64::MAX;

/// 422 `amount_limit_exceeded`: a write that would take the budget past
/// [`AMOUNT_LIMIT`], or (for data stored before the limit was enforced) a
/// figure beyond it, which is refused rather than wrapped or saturated.
fn over_limit(req: &Request) -> Response {
    req.error(
        422,
        "amount_limit_exceeded",
        &format!(
            "the absolute values of a budget's amounts (transactions, split lines, transfers counted twice, \
             assigned amounts) may add up to at most {AMOUNT_LIMIT} minor units (2^63 - 1), so that every \
             balance and total stays in range; this would go beyond it"
        ),
    )
}

/// An aggregate as PostgreSQL computes it (`sum` of bigint is `numeric`,
/// exact), widened to i128; `NULL` is 0. Anything else is a bug: 500.
fn wide(req: &Request, value: &Value) -> Outcome<i128> {
    match value {
        Value::Null => Ok(0),
        Value::Int64(n) => Ok(i128::from(*n)),
        Value::Int32(n) => Ok(i128::from(*n)),
        Value::Numeric(text) => {
            text.parse::<i128>().map_err(|_| req.error(500, "internal", "a total is not a whole number"))
        }
        _ => Err(req.error(500, "internal", "a total has an unexpected type")),
    }
}

/// A figure computed in i128, as the API shows it; beyond ±(2^63 − 1) it is
/// refused with 422 `amount_limit_exceeded`, never wrapped or saturated.
fn amount_wide(req: &Request, minor: i128, exponent: u8) -> Outcome<Json> {
    i64::try_from(minor).map(|minor| amount_json(minor, exponent)).map_err(|_| over_limit(req))
}

/// A budget of the caller's: (currency, exponent). Another user's is 404.
struct Budget {
    id: String,
    exponent: u8,
}

fn budget(req: &Request, tx: &Transaction, owner: &str) -> Outcome<Budget> {
    let id = req.param("budget").unwrap_or_default().to_string();
    let missing = || req.error(404, "not_found", "no such budget");
    if !is_uuid(&id) {
        return Err(missing());
    }
    let rows = query(
        req,
        tx,
        "SELECT exponent FROM budgets WHERE id = $1::uuid AND owner = $2",
        &[Value::Uuid(id.clone()), Value::Text(owner.to_string())],
    )?;
    let row = rows.into_iter().next().ok_or_else(missing)?;
    Ok(Budget { id, exponent: u8::try_from(int(&row[0])).unwrap_or(2) })
}

/// Runs `change` in one transaction; with an `Idempotency-Key`, records the
/// answer in the same transaction, and answers a replay from the record.
fn write<W: Into<audit::Written>>(
    req: &Request,
    change: impl FnOnce(&Request, &Transaction, &str) -> Outcome<W>,
) -> Response {
    let run = || -> Outcome<Response> {
        let owner = owner(req)?;
        let tx = sql::begin(IsolationLevel::ReadCommitted).map_err(|e| sql_failed(req, e))?;
        let key = req.header("idempotency-key").map(str::to_string);
        let fingerprint = [req.method().as_bytes(), b" ", req.path().as_bytes(), b"\n", req.body()].concat();
        if let Some(key) = &key {
            if key.is_empty() || key.len() > 255 {
                return Err(req.error(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 bytes"));
            }
            let stored = query(
                req,
                &tx,
                "SELECT status, body, request_hash = encode(sha256($3), 'hex')
                   FROM idempotency_keys WHERE owner = $1 AND key = $2",
                &[Value::Text(owner.clone()), Value::Text(key.clone()), Value::Bytea(fingerprint.clone())],
            )?;
            if let Some(row) = stored.into_iter().next() {
                return Ok(replay(req, &row));
            }
        }
        let written: audit::Written = change(req, &tx, &owner)?.into();
        let response = written.response.clone();
        let succeeded = written.record && (200..300).contains(&response.status);
        if succeeded {
            audit::record(req, &tx, &owner, &written)?;
        }
        if let Some(key) = &key
            && succeeded
        {
            let recorded = tx
                .execute(
                    "INSERT INTO idempotency_keys (owner, key, request_hash, status, body)
                     VALUES ($1, $2, encode(sha256($3), 'hex'), $4, $5)",
                    &[
                        Value::Text(owner.clone()),
                        Value::Text(key.clone()),
                        Value::Bytea(fingerprint),
                        Value::Int32(i32::from(response.status)),
                        Value::Text(String::from_utf8_lossy(&response.body).into_owned()),
                    ],
                )
                .map_err(|e| match e {
                    // A concurrent request with this key won: ask the client to retry, which replays.
                    SqlError::Database(db) if db.sqlstate == "23505" => {
                        req.error(409, "idempotency_key_in_use", "a request with this key is in progress; retry")
                    }
                    other => sql_failed(req, other),
                });
            recorded?;
        }
        tx.commit().map_err(|e| sql_failed(req, e))?;
        audit::relay(req);
        Ok(response)
    };
    run().unwrap_or_else(|response| response)
}

fn replay(req: &Request, row: &[Value]) -> Response {
    if !matches!(row.get(2), Some(Value::Boolean(true))) {
        return req.error(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
    }
    let status = u16::try_from(int(&row[0])).unwrap_or(200);
    Response::new(status)
        .with_header("content-type", "application/json")
        .with_header("idempotent-replayed", "true")
        .with_body(text(&row[1]).into_bytes())
}

/// Reads in one read-only transaction.
fn read(req: &Request, run: impl FnOnce(&Request, &Transaction, &str) -> Outcome<Response>) -> Response {
    let result = owner(req).and_then(|owner| {
        let tx = sql::begin(IsolationLevel::RepeatableRead).map_err(|e| sql_failed(req, e))?;
        let response = run(req, &tx, &owner)?;
        let _ = tx.commit();
        Ok(response)
    });
    result.unwrap_or_else(|response| response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBudget {
    name: String,
    currency: String,
    #[serde(default)]
    time_zone: Option<String>,
}

const BUDGET_COLUMNS: &str = "id::text, name, currency, exponent, time_zone, created_at::text";

fn budget_json(row: &[Value]) -> Json {
    json!({
        "id": text(&row[0]), "name": text(&row[1]), "currency": text(&row[2]),
        "exponent": int(&row[3]), "time_zone": text(&row[4]),
    })
}

fn create_budget(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let body: NewBudget = req.json()?;
        let mut invalid = Vec::new();
        let name = body.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            invalid.push(("name", "1 to 200 characters".to_string()));
        }
        let currency = Currency::from_code(&body.currency);
        if currency.is_none() {
            invalid.push(("currency", format!("`{}` is not an active ISO 4217 code", body.currency)));
        }
        let time_zone = body.time_zone.unwrap_or_else(|| "UTC".into());
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        let known =
            query(req, tx, "SELECT 1 FROM pg_timezone_names WHERE name = $1", &[Value::Text(time_zone.clone())])?;
        if known.is_empty() {
            return Err(req.invalid(&[("time_zone", format!("`{time_zone}` is not an IANA time zone"))]));
        }
        let currency = currency.ok_or_else(|| req.error(500, "internal", "currency vanished"))?;
        let rows = query(
            req,
            tx,
            &format!(
                "INSERT INTO budgets (owner, name, currency, exponent, time_zone) VALUES ($1, $2, $3, $4, $5)
                 RETURNING {BUDGET_COLUMNS}"
            ),
            &[
                Value::Text(owner.to_string()),
                Value::Text(name),
                Value::Text(currency.code.to_string()),
                Value::Int16(i16::from(currency.exponent)),
                Value::Text(time_zone),
            ],
        )?;
        budgeting::create_income_category(req, tx, &text(&rows[0][0]))?;
        Ok(Response::json(201, &budget_json(&rows[0])))
    })
}

fn list_budgets(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let rows = query(
            req,
            tx,
            &format!("SELECT {BUDGET_COLUMNS} FROM budgets WHERE owner = $1 ORDER BY created_at, id"),
            &[Value::Text(owner.to_string())],
        )?;
        Ok(Response::json(200, &json!({ "items": rows.iter().map(|r| budget_json(r)).collect::<Vec<_>>() })))
    })
}

fn get_budget(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let rows = query(
            req,
            tx,
            &format!("SELECT {BUDGET_COLUMNS} FROM budgets WHERE id = $1::uuid"),
            &[Value::Uuid(budget.id)],
        )?;
        Ok(Response::json(200, &budget_json(&rows[0])))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    on_budget: bool,
    #[serde(default)]
    opening_balance: Option<String>,
    #[serde(default)]
    opening_date: Option<String>,
}

fn yes() -> bool {
    true
}

const ACCOUNT_TYPES: [&str; 5] = ["checking", "savings", "credit_card", "cash", "loan"];

fn account_json(req: &Request, row: &[Value], exponent: u8) -> Outcome<Json> {
    Ok(json!({
        "id": text(&row[0]), "name": text(&row[1]), "type": text(&row[2]),
        "on_budget": matches!(row[3], Value::Boolean(true)), "closed": matches!(row[4], Value::Boolean(true)),
        "balance": amount_wide(req, wide(req, &row[5])?, exponent)?,
        "cleared_balance": amount_wide(req, wide(req, &row[6])?, exponent)?,
    }))
}

/// Balances include transfers (always cleared): in to the account, out of it.
/// They are exact `numeric` sums, checked against the limit in Rust.
const ACCOUNT_SELECT: &str = "SELECT a.id::text, a.name, a.kind, a.on_budget, a.closed,
        COALESCE((SELECT sum(t.amount) FROM transactions t WHERE t.account_id = a.id), 0) + x.net,
        COALESCE((SELECT sum(t.amount) FROM transactions t WHERE t.account_id = a.id AND t.cleared), 0)
            + x.net
   FROM accounts a,
        LATERAL (SELECT COALESCE((SELECT sum(amount) FROM transfers WHERE to_account_id = a.id), 0)
                      - COALESCE((SELECT sum(amount) FROM transfers WHERE from_account_id = a.id), 0) AS net) x";

fn create_account(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let body: NewAccount = req.json()?;
        let mut invalid = Vec::new();
        let name = body.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            invalid.push(("name", "1 to 200 characters".to_string()));
        }
        if !ACCOUNT_TYPES.contains(&body.kind.as_str()) {
            invalid.push(("type", format!("one of {}", ACCOUNT_TYPES.join(", "))));
        }
        let opening = match body.opening_balance.as_deref().map(|a| money::parse(a, budget.exponent)) {
            None => 0,
            Some(Ok(minor)) => minor,
            Some(Err(e)) => {
                invalid.push(("opening_balance", e.to_string()));
                0
            }
        };
        let opening_date = body.opening_date.clone();
        if opening_date.as_deref().is_some_and(|d| !is_date(d)) {
            invalid.push(("opening_date", "a date, YYYY-MM-DD".to_string()));
        }
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        let rows = query(
            req,
            tx,
            "INSERT INTO accounts (budget_id, name, kind, on_budget) VALUES ($1::uuid, $2, $3, $4) RETURNING id::text",
            &[
                Value::Uuid(budget.id.clone()),
                Value::Text(name),
                Value::Text(body.kind),
                Value::Boolean(body.on_budget),
            ],
        )?;
        let account = text(&rows[0][0]);
        if opening != 0 {
            let date = match opening_date {
                Some(date) => Value::Date(date),
                // Today in the budget's time zone.
                None => Value::Null,
            };
            query(
                req,
                tx,
                // On budget, the starting balance is income: it is there to be budgeted.
                "INSERT INTO transactions (budget_id, account_id, date, amount, payee, cleared, category_id)
                 SELECT $1, $2, COALESCE($3::date, (now() AT TIME ZONE b.time_zone)::date), $4,
                        'Starting Balance', true,
                        CASE WHEN $5 THEN (SELECT c.id FROM categories c JOIN category_groups g ON g.id = c.group_id
                                            WHERE c.budget_id = $1 AND g.is_income ORDER BY c.seq LIMIT 1) END
                   FROM budgets b WHERE b.id = $1",
                &[
                    Value::Uuid(budget.id.clone()),
                    Value::Uuid(account.clone()),
                    date,
                    Value::Int64(opening),
                    Value::Boolean(body.on_budget),
                ],
            )?;
        }
        let rows = query(req, tx, &format!("{ACCOUNT_SELECT} WHERE a.id = $1::uuid"), &[Value::Uuid(account)])?;
        Ok(Response::json(201, &account_json(req, &rows[0], budget.exponent)?))
    })
}

fn list_accounts(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let since = sync::since(req)?;
        let rows = query(
            req,
            tx,
            &format!("{ACCOUNT_SELECT} WHERE a.budget_id = $1 AND a.knowledge > $2 ORDER BY a.created_at, a.id"),
            &[Value::Uuid(budget.id.clone()), Value::Int64(since.unwrap_or(-1))],
        )?;
        let items = rows.iter().map(|r| account_json(req, r, budget.exponent)).collect::<Outcome<Vec<Json>>>()?;
        sync::list(req, tx, &budget.id, "account", since, items)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseAccount {
    /// Where the remaining balance goes (required unless it is zero).
    #[serde(default)]
    transfer_to_account_id: Option<String>,
    /// Required when that transfer crosses the budget's edge.
    #[serde(default)]
    category_id: Option<String>,
    /// The transfer's date; default today in the budget's time zone.
    #[serde(default)]
    date: Option<String>,
}

/// `POST …/accounts/{account}/close`: moves the remaining balance to another
/// account with a transfer, then closes the account (no new transactions).
fn close_account(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let id = req.param("account").unwrap_or_default().to_string();
        let missing = || req.error(404, "not_found", "no such account");
        if !is_uuid(&id) {
            return Err(missing());
        }
        let current = query(
            req,
            tx,
            &format!("{ACCOUNT_SELECT} WHERE a.id = $1 AND a.budget_id = $2 FOR UPDATE OF a"),
            &[Value::Uuid(id.clone()), Value::Uuid(budget.id.clone())],
        )?;
        let current = current.into_iter().next().ok_or_else(missing)?;
        let before = account_json(req, &current, budget.exponent)?;
        if before["closed"] == true {
            return Err(req.error(409, "conflict", "the account is already closed"));
        }
        let body: CloseAccount = req.json()?;
        let balance = i64::try_from(wide(req, &current[5])?).map_err(|_| over_limit(req))?;
        if body.date.as_deref().is_some_and(|d| !is_date(d)) {
            return Err(req.invalid(&[("date", "a date, YYYY-MM-DD".to_string())]));
        }
        if balance != 0 {
            let target = body.transfer_to_account_id.clone().ok_or_else(|| {
                req.invalid(&[("transfer_to_account_id", "required: the account still holds money".to_string())])
            })?;
            let (from, to) = if balance > 0 { (id.clone(), target) } else { (target, id.clone()) };
            let transfer = json!({
                "from_account_id": from, "to_account_id": to, "amount": money::format(balance.checked_abs().ok_or_else(|| over_limit(req))?, budget.exponent),
                "category_id": body.category_id, "memo": "Closing balance",
                "date": body.date.clone(),
            });
            transfers::insert(req, tx, &budget, &transfer)?;
        }
        query(req, tx, "UPDATE accounts SET closed = true WHERE id = $1 RETURNING id", &[Value::Uuid(id.clone())])?;
        let after = query(req, tx, &format!("{ACCOUNT_SELECT} WHERE a.id = $1"), &[Value::Uuid(id)])?;
        Ok(audit::Written {
            response: Response::json(200, &account_json(req, &after[0], budget.exponent)?),
            before: Some(before),
            record: true,
        })
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTransaction {
    account_id: String,
    date: String,
    amount: String,
    #[serde(default)]
    payee: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    cleared: bool,
    #[serde(default)]
    import_id: Option<String>,
    #[serde(default)]
    category_id: Option<String>,
    /// Two or more lines summing exactly to `amount`; then `category_id` stays empty.
    #[serde(default)]
    splits: Vec<NewSplit>,
}

/// Columns of `transactions t`; the last is the split lines as JSON.
const TRANSACTION_COLUMNS: &str = "t.id::text, t.account_id::text, t.date::text, t.amount, t.payee, t.memo, t.cleared,
    t.import_id, t.seq, t.category_id::text,
    (SELECT jsonb_agg(jsonb_build_object('category_id', s.category_id, 'amount', s.amount, 'memo', s.memo)
                      ORDER BY s.seq)
       FROM transaction_splits s WHERE s.transaction_id = t.id)::text";

fn transaction_json(row: &[Value], exponent: u8) -> Json {
    json!({
        "id": text(&row[0]), "account_id": text(&row[1]), "date": text(&row[2]),
        "amount": amount_json(int(&row[3]), exponent), "payee": text(&row[4]), "memo": text(&row[5]),
        "cleared": matches!(row[6], Value::Boolean(true)),
        "import_id": if matches!(row[7], Value::Null) { Json::Null } else { Json::String(text(&row[7])) },
        "category_id": if matches!(row[9], Value::Null) { Json::Null } else { Json::String(text(&row[9])) },
        "splits": splits_json(&row[10], exponent),
    })
}

/// The split lines as the API shows them (an empty list when not split).
fn splits_json(lines: &Value, exponent: u8) -> Json {
    let parsed: Vec<Json> = budget_sdk::serde_json::from_str(&text(lines)).unwrap_or_default();
    let lines: Vec<Json> = parsed
        .iter()
        .map(|line| {
            json!({
                "category_id": line["category_id"],
                "amount": amount_json(line["amount"].as_i64().unwrap_or(0), exponent),
                "memo": line["memo"],
            })
        })
        .collect();
    Json::Array(lines)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSplit {
    amount: String,
    #[serde(default)]
    category_id: Option<String>,
    #[serde(default)]
    memo: String,
}

/// Whether `id` is a category of the budget.
fn known_category(req: &Request, tx: &Transaction, budget_id: &str, id: &str) -> Outcome<bool> {
    Ok(is_uuid(id)
        && !query(
            req,
            tx,
            "SELECT 1 FROM categories WHERE id = $1 AND budget_id = $2",
            &[Value::Uuid(id.to_string()), Value::Uuid(budget_id.to_string())],
        )?
        .is_empty())
}

fn create_transaction(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let body: NewTransaction = req.json()?;
        let mut invalid = Vec::new();
        let amount = money::parse(&body.amount, budget.exponent).unwrap_or_else(|e| {
            invalid.push(("amount", e.to_string()));
            0
        });
        if !is_date(&body.date) {
            invalid.push(("date", "a date, YYYY-MM-DD".to_string()));
        }
        if !is_uuid(&body.account_id) {
            invalid.push(("account_id", "an account id".to_string()));
        }
        if body.payee.chars().count() > 200 {
            invalid.push(("payee", "at most 200 characters".to_string()));
        }
        if body.memo.chars().count() > 1000 {
            invalid.push(("memo", "at most 1000 characters".to_string()));
        }
        if body.import_id.as_deref().is_some_and(|id| id.is_empty() || id.len() > 200) {
            invalid.push(("import_id", "1 to 200 bytes".to_string()));
        }
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        let account = query(
            req,
            tx,
            "SELECT closed FROM accounts WHERE id = $1::uuid AND budget_id = $2::uuid",
            &[Value::Uuid(body.account_id.clone()), Value::Uuid(budget.id.clone())],
        )?;
        match account.first().map(|row| &row[0]) {
            None => return Err(req.invalid(&[("account_id", "no such account in this budget".to_string())])),
            Some(Value::Boolean(true)) => {
                return Err(req.invalid(&[("account_id", "the account is closed".to_string())]));
            }
            Some(_) => {}
        }
        let category = match &body.category_id {
            None => Value::Null,
            Some(id) => {
                if !known_category(req, tx, &budget.id, id)? {
                    return Err(req.invalid(&[("category_id", "no such category in this budget".to_string())]));
                }
                Value::Uuid(id.clone())
            }
        };
        let splits = validate_splits(req, tx, &budget, &body, amount)?;
        let import_id = body.import_id.map(Value::Text).unwrap_or(Value::Null);
        let rows = query(
            req,
            tx,
            "INSERT INTO transactions
                 (budget_id, account_id, date, amount, payee, memo, cleared, import_id, category_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING id::text",
            &[
                Value::Uuid(budget.id.clone()),
                Value::Uuid(body.account_id),
                Value::Date(body.date),
                Value::Int64(amount),
                Value::Text(body.payee),
                Value::Text(body.memo),
                Value::Boolean(body.cleared),
                import_id,
                category,
            ],
        )?;
        let id = text(&rows[0][0]);
        for (amount, category, memo) in splits {
            query(
                req,
                tx,
                "INSERT INTO transaction_splits (transaction_id, category_id, amount, memo) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[Value::Uuid(id.clone()), category, Value::Int64(amount), Value::Text(memo)],
            )?;
        }
        let rows = query(
            req,
            tx,
            &format!("SELECT {TRANSACTION_COLUMNS} FROM transactions t WHERE t.id = $1"),
            &[Value::Uuid(id)],
        )?;
        Ok(Response::json(201, &transaction_json(&rows[0], budget.exponent)))
    })
}

/// A split's lines as (amount, category, memo), checked: at least two, each
/// a valid amount and category, summing exactly to the transaction.
fn validate_splits(
    req: &Request,
    tx: &Transaction,
    budget: &Budget,
    body: &NewTransaction,
    total: i64,
) -> Outcome<Vec<(i64, Value, String)>> {
    if body.splits.is_empty() {
        return Ok(Vec::new());
    }
    let mut invalid = Vec::new();
    if body.splits.len() < 2 || body.splits.len() > 100 {
        invalid.push(("splits", "2 to 100 lines".to_string()));
    }
    if body.category_id.is_some() {
        invalid.push(("category_id", "a split transaction takes its categories from its lines".to_string()));
    }
    let mut lines = Vec::with_capacity(body.splits.len());
    let mut sum: i128 = 0;
    for split in &body.splits {
        let amount = money::parse(&split.amount, budget.exponent).unwrap_or_else(|e| {
            invalid.push(("splits.amount", e.to_string()));
            0
        });
        sum += i128::from(amount);
        let category = match &split.category_id {
            None => Value::Null,
            Some(id) if known_category(req, tx, &budget.id, id)? => Value::Uuid(id.clone()),
            Some(_) => {
                invalid.push(("splits.category_id", "no such category in this budget".to_string()));
                Value::Null
            }
        };
        if split.memo.chars().count() > 1000 {
            invalid.push(("splits.memo", "at most 1000 characters".to_string()));
        }
        lines.push((amount, category, split.memo.clone()));
    }
    if invalid.is_empty() && sum != i128::from(total) {
        // The difference of two sums of i64 is exact in i128; shown as is
        // when it fits, never saturated.
        let message = match i64::try_from(i128::from(total) - sum) {
            Ok(difference) => format!(
                "the lines must sum to the amount; {} is unaccounted for",
                money::format(difference, budget.exponent)
            ),
            Err(_) => "the lines must sum to the amount; they miss it by more than the amount limit".to_string(),
        };
        invalid.push(("splits", message));
    }
    if invalid.is_empty() { Ok(lines) } else { Err(req.invalid(&invalid)) }
}

/// Delta sync of transactions: those created or changed after knowledge
/// `since` (matching the filters), oldest change first, and the ids
/// deleted after it. `knowledge` in the answer is where the next delta
/// starts: the last returned change when the page is full, else the
/// budget's current knowledge. Read in one snapshot, so nothing commits
/// between the rows and the knowledge value.
fn delta(
    req: &Request,
    tx: &Transaction,
    budget: &Budget,
    filters: &str,
    mut params: Vec<Value>,
    since: i64,
    limit: i64,
) -> Outcome<Response> {
    let current = query(req, tx, "SELECT knowledge FROM budgets WHERE id = $1", &[Value::Uuid(budget.id.clone())])?;
    let current = current.first().map_or(0, |r| int(&r[0]));
    params.push(Value::Int64(since));
    let since_param = params.len();
    params.push(Value::Int64(limit + 1));
    let rows = query(
        req,
        tx,
        &format!(
            "SELECT {TRANSACTION_COLUMNS}, t.knowledge FROM transactions t
              WHERE t.budget_id = $1{filters} AND t.knowledge > ${since_param}
              ORDER BY t.knowledge LIMIT ${}",
            params.len()
        ),
        &params,
    )?;
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let knowledge = if more { page.last().map_or(current, |r| int(&r[11])) } else { current };
    let deleted = query(
        req,
        tx,
        "SELECT id::text FROM tombstones
          WHERE budget_id = $1 AND entity = 'transaction' AND knowledge > $2 AND knowledge <= $3 ORDER BY knowledge",
        &[Value::Uuid(budget.id.clone()), Value::Int64(since), Value::Int64(knowledge)],
    )?;
    let items: Vec<Json> = page.iter().map(|r| transaction_json(r, budget.exponent)).collect();
    let deleted: Vec<String> = deleted.iter().map(|r| text(&r[0])).collect();
    Ok(Response::json(200, &json!({ "items": items, "deleted": deleted, "knowledge": knowledge, "more": more })))
}

/// The transaction as the API shows it, when it belongs to the budget.
fn transaction_of(req: &Request, tx: &Transaction, budget: &Budget, id: &str) -> Outcome<Vec<Value>> {
    let missing = || req.error(404, "not_found", "no such transaction");
    if !is_uuid(id) {
        return Err(missing());
    }
    let rows = query(
        req,
        tx,
        &format!("SELECT {TRANSACTION_COLUMNS} FROM transactions t WHERE t.id = $1 AND t.budget_id = $2 FOR UPDATE"),
        &[Value::Uuid(id.to_string()), Value::Uuid(budget.id.clone())],
    )?;
    rows.into_iter().next().ok_or_else(missing)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionPatch {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    payee: Option<String>,
    #[serde(default)]
    memo: Option<String>,
    #[serde(default)]
    cleared: Option<bool>,
    /// A category id, or `null` to clear it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    category_id: Option<Json>,
}

/// Tells an explicit `null` (`Some(Null)`) from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(deserializer).map(Some)
}

/// `PATCH …/transactions/{transaction}`: changes the given fields. A split
/// transaction keeps its amount and categories (its lines hold them).
fn update_transaction(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let id = req.param("transaction").unwrap_or_default().to_string();
        let current = transaction_of(req, tx, &budget, &id)?;
        let before = transaction_json(&current, budget.exponent);
        let split = before["splits"].as_array().is_some_and(|lines| !lines.is_empty());
        let patch: TransactionPatch = req.json()?;
        let mut invalid = Vec::new();
        let amount = match &patch.amount {
            None => None,
            Some(_) if split => {
                invalid.push(("amount", "a split transaction's amount is its lines' sum".to_string()));
                None
            }
            Some(text) => match money::parse(text, budget.exponent) {
                Ok(minor) => Some(minor),
                Err(e) => {
                    invalid.push(("amount", e.to_string()));
                    None
                }
            },
        };
        if patch.date.as_deref().is_some_and(|d| !is_date(d)) {
            invalid.push(("date", "a date, YYYY-MM-DD".to_string()));
        }
        if patch.payee.as_deref().is_some_and(|p| p.chars().count() > 200) {
            invalid.push(("payee", "at most 200 characters".to_string()));
        }
        if patch.memo.as_deref().is_some_and(|m| m.chars().count() > 1000) {
            invalid.push(("memo", "at most 1000 characters".to_string()));
        }
        let category = match &patch.category_id {
            None => None,
            Some(Json::Null) => Some(Value::Null),
            Some(_) if split => {
                invalid.push(("category_id", "a split transaction takes its categories from its lines".to_string()));
                None
            }
            Some(Json::String(id)) if known_category(req, tx, &budget.id, id)? => Some(Value::Uuid(id.clone())),
            Some(_) => {
                invalid.push(("category_id", "no such category in this budget".to_string()));
                None
            }
        };
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        query(
            req,
            tx,
            "UPDATE transactions SET
                 date = COALESCE($2, date), amount = COALESCE($3, amount), payee = COALESCE($4, payee),
                 memo = COALESCE($5, memo), cleared = COALESCE($6, cleared),
                 category_id = CASE WHEN $7 THEN $8 ELSE category_id END
              WHERE id = $1 RETURNING id",
            &[
                Value::Uuid(id.clone()),
                patch.date.map_or(Value::Null, Value::Date),
                amount.map_or(Value::Null, Value::Int64),
                patch.payee.map_or(Value::Null, Value::Text),
                patch.memo.map_or(Value::Null, Value::Text),
                patch.cleared.map_or(Value::Null, Value::Boolean),
                Value::Boolean(category.is_some()),
                category.unwrap_or(Value::Null),
            ],
        )?;
        let after = transaction_of(req, tx, &budget, &id)?;
        Ok(audit::Written {
            response: Response::json(200, &transaction_json(&after, budget.exponent)),
            before: Some(before),
            record: true,
        })
    })
}

/// `DELETE …/transactions/{transaction}`: 204; delta sync reports the id.
fn delete_transaction(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let id = req.param("transaction").unwrap_or_default().to_string();
        let current = transaction_of(req, tx, &budget, &id)?;
        query(req, tx, "DELETE FROM transactions WHERE id = $1 RETURNING id", &[Value::Uuid(id)])?;
        Ok(audit::Written {
            response: Response::new(204),
            before: Some(transaction_json(&current, budget.exponent)),
            record: true,
        })
    })
}

/// Appends ` AND <clause> $n<cast>` with `value` as parameter n.
fn add_filter(filters: &mut String, params: &mut Vec<Value>, clause: &str, cast: &str, value: Value) {
    params.push(value);
    filters.push_str(&format!(" AND {clause} ${}{cast}", params.len()));
}

/// Keyset pagination over (date, seq): the cursor is the last item's pair.
fn list_transactions(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let mut invalid = Vec::new();
        let limit = match req.query_param("limit").map(str::parse::<i64>) {
            None => DEFAULT_PAGE,
            Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
            Some(_) => {
                invalid.push(("limit", format!("1 to {MAX_PAGE}")));
                DEFAULT_PAGE
            }
        };
        let cursor = match req.query_param("cursor").map(|c| c.split_once('_')) {
            None => None,
            Some(Some((date, seq))) if is_date(date) && seq.parse::<i64>().is_ok() => {
                Some((date.to_string(), seq.parse::<i64>().unwrap_or(0)))
            }
            Some(_) => {
                invalid.push(("cursor", "a cursor from an earlier page".to_string()));
                None
            }
        };
        let mut filters = String::new();
        let mut params = vec![Value::Uuid(budget.id.clone())];
        if let Some(account) = req.query_param("account_id") {
            if is_uuid(account) {
                add_filter(&mut filters, &mut params, "account_id =", "", Value::Uuid(account.to_string()));
            } else {
                invalid.push(("account_id", "an account id".to_string()));
            }
        }
        for (name, clause) in [("since_date", "date >="), ("until_date", "date <=")] {
            if let Some(date) = req.query_param(name) {
                if is_date(date) {
                    add_filter(&mut filters, &mut params, clause, "", Value::Date(date.to_string()));
                } else {
                    invalid.push((name, "a date, YYYY-MM-DD".to_string()));
                }
            }
        }
        if let Some(category) = req.query_param("category_id") {
            if is_uuid(category) {
                // The transaction's own category, or one of its split lines'.
                params.push(Value::Uuid(category.to_string()));
                let n = params.len();
                filters.push_str(&format!(
                    " AND (t.category_id = ${n}
                           OR EXISTS (SELECT 1 FROM transaction_splits s WHERE s.transaction_id = t.id
                                                                           AND s.category_id = ${n}))"
                ));
            } else {
                invalid.push(("category_id", "a category id".to_string()));
            }
        }
        if let Some(payee) = req.query_value("payee") {
            add_filter(&mut filters, &mut params, "payee =", "", Value::Text(payee));
        }
        let since = match req.query_param("since").map(str::parse::<i64>) {
            None => None,
            Some(Ok(k)) if k >= 0 => Some(k),
            Some(_) => {
                invalid.push(("since", "a knowledge value from an earlier answer".to_string()));
                None
            }
        };
        if since.is_some() && cursor.is_some() {
            invalid.push(("cursor", "not with since: a delta continues with the knowledge it answered".to_string()));
        }
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        if let Some(since) = since {
            return delta(req, tx, &budget, &filters, params, since, limit);
        }
        if let Some((date, seq)) = cursor {
            params.push(Value::Date(date));
            params.push(Value::Int64(seq));
            filters.push_str(&format!(" AND (date, seq) > (${}, ${})", params.len() - 1, params.len()));
        }
        params.push(Value::Int64(limit + 1));
        let rows = query(
            req,
            tx,
            &format!(
                "SELECT {TRANSACTION_COLUMNS} FROM transactions t WHERE t.budget_id = $1{filters}
                 ORDER BY t.date, t.seq LIMIT ${}",
                params.len()
            ),
            &params,
        )?;
        let more = rows.len() as i64 > limit;
        let page = &rows[..rows.len().min(limit as usize)];
        let next = if more { page.last().map(|r| format!("{}_{}", text(&r[2]), int(&r[8]))) } else { None };
        let items: Vec<Json> = page.iter().map(|r| transaction_json(r, budget.exponent)).collect();
        Ok(Response::json(200, &json!({ "items": items, "next_cursor": next })))
    })
}

fn handle(req: Request) -> Response {
    Router::new()
        .post("/v1/budgets", create_budget)
        .get("/v1/budgets", list_budgets)
        .get("/v1/budgets/{budget}", get_budget)
        .post("/v1/budgets/{budget}/accounts", create_account)
        .get("/v1/budgets/{budget}/accounts", list_accounts)
        .post("/v1/budgets/{budget}/accounts/{account}/close", close_account)
        .post("/v1/budgets/{budget}/transactions", create_transaction)
        .get("/v1/budgets/{budget}/transactions", list_transactions)
        .patch("/v1/budgets/{budget}/transactions/{transaction}", update_transaction)
        .delete("/v1/budgets/{budget}/transactions/{transaction}", delete_transaction)
        .get("/v1/budgets/{budget}/audit", audit::list_audit)
        .post("/v1/budgets/{budget}/imports", import::create_import)
        .get("/v1/budgets/{budget}/reports/spending", reports::spending)
        .get("/v1/budgets/{budget}/reports/income-expense", reports::income_expense)
        .get("/v1/budgets/{budget}/reports/net-worth", reports::net_worth)
        .post("/v1/budgets/{budget}/transfers", transfers::create_transfer)
        .get("/v1/budgets/{budget}/transfers", transfers::list_transfers)
        .post("/v1/budgets/{budget}/category-groups", budgeting::create_group)
        .post("/v1/budgets/{budget}/categories", budgeting::create_category)
        .get("/v1/budgets/{budget}/categories", budgeting::list_categories)
        .patch("/v1/budgets/{budget}/categories/{category}", budgeting::update_category)
        .patch("/v1/budgets/{budget}/category-groups/{group}", budgeting::update_group)
        .get("/v1/budgets/{budget}/months/{month}", budgeting::get_month)
        .patch("/v1/budgets/{budget}/months/{month}/categories/{category}", budgeting::set_assigned)
        .post("/v1/budgets/{budget}/months/{month}/moves", budgeting::move_money)
        .handle(req)
}

budget_sdk::component!(handle);
