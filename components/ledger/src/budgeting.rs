//! Envelope budgeting: category groups and categories, assigning money to a
//! category for a month, moving money, and the month view.
//!
//! The month math itself is [`budget_core::month`]; this module only feeds
//! it. Income is the activity of categories in income groups; only
//! on-budget accounts count; split lines count in their own categories; a
//! transfer counts only when it crosses the budget's edge (on-budget to
//! off-budget or back), in its category; a transaction without a category
//! is reported as `uncategorized` and counts neither as income nor in any
//! category.
//!
//! A category's carryover flag is a per-month setting (issue 12): the rows
//! of `category_carryover` (migration 0007) say from which month on it is on
//! or off. `PATCH …/categories/{id}` with `carryover` (and `carryover_from`,
//! a month, by default the current one) sets it from that month on, the way
//! [`month::Schedule::set_from`] does, and never changes an earlier month.

use crate::audit::Written;
use crate::{Outcome, amount_json, amount_wide, budget, int, is_uuid, over_limit, query, read, text, wide, write};
use budget_core::month::{self, MonthIndex, MonthInput, Schedule};
use budget_sdk::cache;
use budget_sdk::money;
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::sql::{Transaction, Value};
use budget_sdk::{Request, Response};
use serde::Deserialize;
use std::collections::HashMap;

/// Creates the income group and its category with a new budget.
pub(crate) fn create_income_category(req: &Request, tx: &Transaction, budget_id: &str) -> Outcome<()> {
    query(
        req,
        tx,
        "WITH g AS (INSERT INTO category_groups (budget_id, name, is_income) VALUES ($1, 'Income', true) RETURNING id)
         INSERT INTO categories (budget_id, group_id, name) SELECT $1, id, 'Ready to Assign' FROM g RETURNING id",
        &[Value::Uuid(budget_id.to_string())],
    )?;
    Ok(())
}

/// `YYYY-MM` (in the years the ledger accepts) as the first day of the
/// month, `YYYY-MM-01`.
fn parse_month(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let valid = b.len() == 7
        && b[4] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit())
        && matches!(raw[5..].parse::<u8>(), Ok(1..=12))
        && crate::year_ok(raw);
    valid.then(|| format!("{raw}-01"))
}

const MONTH_RULE: &str = "a month, YYYY-MM, in the years 1900 to 2200";

/// The `{month}` path parameter as `YYYY-MM-01`.
fn month_param(req: &Request) -> Outcome<String> {
    parse_month(req.param("month").unwrap_or_default()).ok_or_else(|| req.invalid(&[("month", MONTH_RULE.to_string())]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroup {
    name: String,
    #[serde(default)]
    hidden: bool,
}

fn name_ok(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty() && name.chars().count() <= 200
}

pub(crate) fn create_group(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let body: NewGroup = req.json()?;
        if !name_ok(&body.name) {
            return Err(req.invalid(&[("name", "1 to 200 characters".to_string())]));
        }
        let rows = query(
            req,
            tx,
            "INSERT INTO category_groups (budget_id, name, hidden) VALUES ($1, $2, $3) RETURNING id::text",
            &[Value::Uuid(budget.id), Value::Text(body.name.trim().to_string()), Value::Boolean(body.hidden)],
        )?;
        Ok(Response::json(
            201,
            &json!({ "id": text(&rows[0][0]), "name": body.name.trim(), "hidden": body.hidden, "is_income": false }),
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCategory {
    group_id: String,
    name: String,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    note: String,
    #[serde(default)]
    carryover: bool,
}

pub(crate) fn create_category(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let body: NewCategory = req.json()?;
        let mut invalid = Vec::new();
        if !name_ok(&body.name) {
            invalid.push(("name", "1 to 200 characters".to_string()));
        }
        if body.note.chars().count() > 2000 {
            invalid.push(("note", "at most 2000 characters".to_string()));
        }
        let group_known = is_uuid(&body.group_id)
            && !query(
                req,
                tx,
                "SELECT 1 FROM category_groups WHERE id = $1 AND budget_id = $2",
                &[Value::Uuid(body.group_id.clone()), Value::Uuid(budget.id.clone())],
            )?
            .is_empty();
        if !group_known {
            invalid.push(("group_id", "no such category group in this budget".to_string()));
        }
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        let rows = query(
            req,
            tx,
            "INSERT INTO categories (budget_id, group_id, name, hidden, note, carryover)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text",
            &[
                Value::Uuid(budget.id),
                Value::Uuid(body.group_id.clone()),
                Value::Text(body.name.trim().to_string()),
                Value::Boolean(body.hidden),
                Value::Text(body.note.clone()),
                Value::Boolean(body.carryover),
            ],
        )?;
        Ok(Response::json(
            201,
            &json!({
                "id": text(&rows[0][0]), "group_id": body.group_id, "name": body.name.trim(),
                "hidden": body.hidden, "note": body.note, "carryover": body.carryover,
            }),
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hidden: Option<bool>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    carryover: Option<bool>,
    /// `YYYY-MM`: the month from which `carryover` applies (default: the
    /// current month in the budget's time zone). Only with `carryover`.
    #[serde(default)]
    carryover_from: Option<String>,
}

/// `PATCH …/categories/{category}`: name, hidden, note, and carryover from
/// a month on.
pub(crate) fn update_category(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let id = req.param("category").unwrap_or_default().to_string();
        let before = categories(req, tx, &budget.id)?
            .iter()
            .find(|c| c.id == id)
            .map(category_json)
            .ok_or_else(|| req.error(404, "not_found", "no such category"))?;
        let patch: CategoryPatch = req.json()?;
        let mut invalid = Vec::new();
        if patch.name.as_deref().is_some_and(|n| !name_ok(n)) {
            invalid.push(("name", "1 to 200 characters".to_string()));
        }
        if patch.note.as_deref().is_some_and(|n| n.chars().count() > 2000) {
            invalid.push(("note", "at most 2000 characters".to_string()));
        }
        let carryover_from = match (&patch.carryover, patch.carryover_from.as_deref()) {
            (_, None) => None,
            (None, Some(_)) => {
                invalid.push(("carryover_from", "only together with carryover".to_string()));
                None
            }
            (Some(_), Some(raw)) => {
                let month = parse_month(raw);
                if month.is_none() {
                    invalid.push(("carryover_from", MONTH_RULE.to_string()));
                }
                month
            }
        };
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        if let Some(carryover) = patch.carryover {
            set_carryover(req, tx, &budget.id, &id, carryover_from, carryover)?;
        }
        // `categories.carryover` is kept for versions before migration 0007:
        // it holds the flag of the latest setting, the one just made.
        query(
            req,
            tx,
            "UPDATE categories SET name = COALESCE($2, name), hidden = COALESCE($3, hidden),
                    note = COALESCE($4, note), carryover = COALESCE($5, carryover)
              WHERE id = $1 RETURNING id",
            &[
                Value::Uuid(id.clone()),
                patch.name.map_or(Value::Null, |n| Value::Text(n.trim().to_string())),
                patch.hidden.map_or(Value::Null, Value::Boolean),
                patch.note.map_or(Value::Null, Value::Text),
                patch.carryover.map_or(Value::Null, Value::Boolean),
            ],
        )?;
        let after = categories(req, tx, &budget.id)?.iter().find(|c| c.id == id).map(category_json).unwrap_or_default();
        Ok(Written { response: Response::json(200, &after), before: Some(before), record: true })
    })
}

/// Sets a category's carryover from `from` (`YYYY-MM-01`; default the
/// current month in the budget's time zone) on, as
/// [`Schedule::set_from`] does: settings from that month on are replaced,
/// earlier ones stay, and no row is added when the flag before `from`
/// already is `carryover`.
fn set_carryover(
    req: &Request,
    tx: &Transaction,
    budget_id: &str,
    category: &str,
    from: Option<String>,
    carryover: bool,
) -> Outcome<()> {
    let start = query(
        req,
        tx,
        "SELECT COALESCE($2::date, date_trunc('month', now() AT TIME ZONE time_zone)::date)::text
           FROM budgets WHERE id = $1",
        &[Value::Uuid(budget_id.to_string()), from.map_or(Value::Null, Value::Date)],
    )?;
    let start = start.first().map(|r| text(&r[0])).ok_or_else(|| req.error(404, "not_found", "no such budget"))?;
    let params = [Value::Uuid(category.to_string()), Value::Date(start.clone())];
    query(req, tx, "DELETE FROM category_carryover WHERE category_id = $1 AND month >= $2 RETURNING month", &params)?;
    let earlier = query(
        req,
        tx,
        "SELECT carryover FROM category_carryover WHERE category_id = $1 AND month < $2 ORDER BY month DESC LIMIT 1",
        &params,
    )?;
    let in_force = earlier.first().is_some_and(|r| matches!(r[0], Value::Boolean(true)));
    if in_force != carryover {
        query(
            req,
            tx,
            "INSERT INTO category_carryover (category_id, month, budget_id, carryover) VALUES ($1, $2, $3, $4)
             RETURNING month",
            &[
                Value::Uuid(category.to_string()),
                Value::Date(start),
                Value::Uuid(budget_id.to_string()),
                Value::Boolean(carryover),
            ],
        )?;
    }
    Ok(())
}

/// A category as the list and `PATCH` show it: `carryover` is the flag in
/// force in the current month, `carryover_schedule` every setting.
fn category_json(c: &CategoryRow) -> Json {
    json!({
        "id": c.id, "name": c.name, "group_id": c.group_id, "group_name": c.group_name,
        "is_income": c.is_income, "hidden": c.hidden, "carryover": c.carryover, "note": c.note,
        "carryover_schedule": c.schedule.iter().map(|(from, carryover)| json!({"from": from, "carryover": carryover}))
            .collect::<Vec<Json>>(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hidden: Option<bool>,
}

/// `PATCH …/category-groups/{group}`: name, hidden (hiding a group hides
/// its categories in the lists' `hidden`).
pub(crate) fn update_group(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let id = req.param("group").unwrap_or_default().to_string();
        let select = "SELECT id::text, name, hidden, is_income FROM category_groups WHERE id = $1 AND budget_id = $2";
        let params = [Value::Uuid(id.clone()), Value::Uuid(budget.id.clone())];
        let show = |r: &[Value]| {
            json!({"id": text(&r[0]), "name": text(&r[1]), "hidden": matches!(r[2], Value::Boolean(true)),
                   "is_income": matches!(r[3], Value::Boolean(true))})
        };
        let current = if is_uuid(&id) { query(req, tx, select, &params)? } else { Vec::new() };
        let before =
            current.first().map(|r| show(r)).ok_or_else(|| req.error(404, "not_found", "no such category group"))?;
        let patch: GroupPatch = req.json()?;
        if patch.name.as_deref().is_some_and(|n| !name_ok(n)) {
            return Err(req.invalid(&[("name", "1 to 200 characters".to_string())]));
        }
        query(
            req,
            tx,
            "UPDATE category_groups SET name = COALESCE($2, name), hidden = COALESCE($3, hidden) WHERE id = $1
             RETURNING id",
            &[
                Value::Uuid(id.clone()),
                patch.name.map_or(Value::Null, |n| Value::Text(n.trim().to_string())),
                patch.hidden.map_or(Value::Null, Value::Boolean),
            ],
        )?;
        // The group's categories show its hidden flag: count the change for them.
        query(
            req,
            tx,
            "UPDATE categories SET group_id = group_id WHERE group_id = $1 RETURNING id",
            &[Value::Uuid(id)],
        )?;
        let after = query(req, tx, select, &params)?;
        Ok(Written { response: Response::json(200, &show(&after[0])), before: Some(before), record: true })
    })
}

/// Every category of the budget with its group, in creation order.
struct CategoryRow {
    id: String,
    name: String,
    group_id: String,
    group_name: String,
    is_income: bool,
    /// Hidden itself or through its group.
    hidden: bool,
    /// The flag in force in the current month (the budget's time zone).
    carryover: bool,
    /// The carryover settings, oldest first: (`YYYY-MM` from which, flag).
    schedule: Vec<(String, bool)>,
    note: String,
    knowledge: i64,
}

fn categories(req: &Request, tx: &Transaction, budget_id: &str) -> Outcome<Vec<CategoryRow>> {
    let params = [Value::Uuid(budget_id.to_string())];
    let rows = query(
        req,
        tx,
        "SELECT c.id::text, c.name, g.id::text, g.name, g.is_income, c.hidden OR g.hidden, c.knowledge, c.note
           FROM categories c JOIN category_groups g ON g.id = c.group_id
          WHERE c.budget_id = $1 ORDER BY g.seq, c.seq",
        &params,
    )?;
    let settings = query(
        req,
        tx,
        "SELECT s.category_id::text, to_char(s.month, 'YYYY-MM'), s.carryover,
                to_char(now() AT TIME ZONE b.time_zone, 'YYYY-MM')
           FROM category_carryover s JOIN budgets b ON b.id = s.budget_id
          WHERE s.budget_id = $1 ORDER BY s.month",
        &params,
    )?;
    let mut schedules: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    let mut now = None;
    for row in &settings {
        schedules.entry(text(&row[0])).or_default().push((text(&row[1]), matches!(row[2], Value::Boolean(true))));
        now = now.or_else(|| month_index(&text(&row[3])));
    }
    Ok(rows
        .iter()
        .map(|r| {
            let id = text(&r[0]);
            let schedule = schedules.remove(&id).unwrap_or_default();
            let carryover = now.is_some_and(|now| {
                let mut resolved = Schedule::new();
                for (from, flag) in &schedule {
                    if let Some(from) = month_index(from) {
                        resolved.insert(from, *flag);
                    }
                }
                resolved.flag_in(now)
            });
            CategoryRow {
                id,
                name: text(&r[1]),
                group_id: text(&r[2]),
                group_name: text(&r[3]),
                is_income: matches!(r[4], Value::Boolean(true)),
                hidden: matches!(r[5], Value::Boolean(true)),
                carryover,
                schedule,
                knowledge: int(&r[6]),
                note: text(&r[7]),
            }
        })
        .collect())
}

pub(crate) fn list_categories(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let since = crate::sync::since(req)?;
        let items: Vec<Json> = categories(req, tx, &budget.id)?
            .iter()
            .filter(|c| since.is_none_or(|k| c.knowledge > k))
            .map(category_json)
            .collect();
        crate::sync::list(req, tx, &budget.id, "category", since, items)
    })
}

/// A category of this budget that money can be assigned to (not income).
fn budget_category(req: &Request, tx: &Transaction, budget_id: &str, id: &str, field: &str) -> Outcome<()> {
    let found = is_uuid(id)
        && !query(
            req,
            tx,
            "SELECT 1 FROM categories c JOIN category_groups g ON g.id = c.group_id
              WHERE c.id = $1 AND c.budget_id = $2 AND NOT g.is_income",
            &[Value::Uuid(id.to_string()), Value::Uuid(budget_id.to_string())],
        )?
        .is_empty();
    if found {
        Ok(())
    } else {
        Err(req.invalid(&[(field, "no such (non-income) category in this budget".to_string())]))
    }
}

/// Adds `delta` to what the category has assigned for `month`.
fn add_assigned(
    req: &Request,
    tx: &Transaction,
    budget_id: &str,
    category: &str,
    month: &str,
    delta: i64,
) -> Outcome<()> {
    query(
        req,
        tx,
        "INSERT INTO assignments (category_id, month, budget_id, assigned) VALUES ($1, $2, $3, $4)
         ON CONFLICT (category_id, month) DO UPDATE SET assigned = assignments.assigned + EXCLUDED.assigned
         RETURNING assigned",
        &[
            Value::Uuid(category.to_string()),
            Value::Date(month.to_string()),
            Value::Uuid(budget_id.to_string()),
            Value::Int64(delta),
        ],
    )?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    assigned: String,
}

/// `PATCH …/months/{month}/categories/{category}`: sets what is assigned.
pub(crate) fn set_assigned(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let month = month_param(req)?;
        let category = req.param("category").unwrap_or_default().to_string();
        let body: Assign = req.json()?;
        let assigned =
            money::parse(&body.assigned, budget.exponent).map_err(|e| req.invalid(&[("assigned", e.to_string())]))?;
        budget_category(req, tx, &budget.id, &category, "category")?;
        let previous = query(
            req,
            tx,
            "SELECT assigned FROM assignments WHERE category_id = $1 AND month = $2 FOR UPDATE",
            &[Value::Uuid(category.clone()), Value::Date(month.clone())],
        )?;
        let before = previous.first().map_or(0, |row| int(&row[0]));
        query(
            req,
            tx,
            "INSERT INTO assignments (category_id, month, budget_id, assigned) VALUES ($1, $2, $3, $4)
             ON CONFLICT (category_id, month) DO UPDATE SET assigned = EXCLUDED.assigned RETURNING assigned",
            &[
                Value::Uuid(category.clone()),
                Value::Date(month.clone()),
                Value::Uuid(budget.id.clone()),
                Value::Int64(assigned),
            ],
        )?;
        let view = month_view(req, tx, &budget.id, budget.exponent, &month)?;
        let before =
            json!({ "category_id": category, "month": &month[..7], "assigned": amount_json(before, budget.exponent) });
        Ok(Written { response: Response::json(200, &view), before: Some(before), record: true })
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    /// `null`: from to-be-budgeted.
    from_category_id: Option<String>,
    /// `null`: back to to-be-budgeted.
    to_category_id: Option<String>,
    amount: String,
}

/// `POST …/months/{month}/moves`: moves money between categories, or
/// between a category and to-be-budgeted, by changing what is assigned.
pub(crate) fn move_money(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let month = month_param(req)?;
        let body: Move = req.json()?;
        let mut invalid = Vec::new();
        let amount = match money::parse(&body.amount, budget.exponent) {
            Ok(a) if a > 0 => a,
            Ok(_) => {
                invalid.push(("amount", "must be positive".to_string()));
                0
            }
            Err(e) => {
                invalid.push(("amount", e.to_string()));
                0
            }
        };
        if body.from_category_id.is_none() && body.to_category_id.is_none() {
            invalid.push(("to_category_id", "name at least one category".to_string()));
        }
        if body.from_category_id.is_some() && body.from_category_id == body.to_category_id {
            invalid.push(("to_category_id", "differs from from_category_id".to_string()));
        }
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        if let Some(from) = &body.from_category_id {
            budget_category(req, tx, &budget.id, from, "from_category_id")?;
            add_assigned(req, tx, &budget.id, from, &month, -amount)?;
        }
        if let Some(to) = &body.to_category_id {
            budget_category(req, tx, &budget.id, to, "to_category_id")?;
            add_assigned(req, tx, &budget.id, to, &month, amount)?;
        }
        month_view(req, tx, &budget.id, budget.exponent, &month).map(|view| Response::json(201, &view))
    })
}

/// `GET …/months/{month}`, cached in Redis under the budget's knowledge:
/// every write to the budget moves its knowledge, so a cached summary is
/// never served after a change (`x-cache: hit` or `miss`). The cache is an
/// optimisation only: when it is unavailable the summary is computed.
pub(crate) fn get_month(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let month = month_param(req)?;
        let knowledge =
            query(req, tx, "SELECT knowledge FROM budgets WHERE id = $1", &[Value::Uuid(budget.id.clone())])?;
        let key = format!("month:{}:{}:{}", budget.id, &month[..7], knowledge.first().map_or(0, |r| int(&r[0])));
        if let Ok(Some(cached)) = cache::get(&key) {
            return Ok(Response::new(200)
                .with_header("content-type", "application/json")
                .with_header("x-cache", "hit")
                .with_body(cached));
        }
        let view = month_view(req, tx, &budget.id, budget.exponent, &month)?;
        let response = Response::json(200, &view).with_header("x-cache", "miss");
        if let Err(error) = cache::set(&key, &response.body, Some(SUMMARY_TTL_MS)) {
            budget_sdk::log::debug("ledger", &format!("month summary not cached: {error:?}"));
        }
        Ok(response)
    })
}

/// Old versions are never read again; they expire.
const SUMMARY_TTL_MS: u64 = 60 * 60 * 1000;

/// Months are numbered `year * 12 + month - 1`, from `YYYY-MM…`.
fn month_index(date: &str) -> Option<MonthIndex> {
    let year: i64 = date.get(0..4)?.parse().ok()?;
    let month: i64 = date.get(5..7)?.parse().ok()?;
    Some(year * 12 + month - 1)
}

/// The month view: every category's assigned, activity and available, and
/// the month's income, assigned, activity and to-be-budgeted. Sums are
/// exact (`numeric` in PostgreSQL, i128 here); a figure beyond ±(2^63 − 1)
/// is answered with 422 `amount_limit_exceeded`, never wrapped or saturated.
fn month_view(req: &Request, tx: &Transaction, budget_id: &str, exponent: u8, month: &str) -> Outcome<Json> {
    let target = month_index(month).ok_or_else(|| req.invalid(&[("month", "a month, YYYY-MM".to_string())]))?;
    let all = categories(req, tx, budget_id)?;
    let budgeted: Vec<&CategoryRow> = all.iter().filter(|c| !c.is_income).collect();
    let position: HashMap<&str, usize> = budgeted.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let income_categories: Vec<&str> = all.iter().filter(|c| c.is_income).map(|c| c.id.as_str()).collect();
    let params = [Value::Uuid(budget_id.to_string()), Value::Date(month.to_string())];
    let activity = query(
        req,
        tx,
        // Split lines stand in for their transaction; transfers count only
        // where they cross the budget's edge.
        "SELECT COALESCE(s.category_id, t.category_id)::text, date_trunc('month', t.date)::date::text,
                sum(COALESCE(s.amount, t.amount))
           FROM transactions t JOIN accounts a ON a.id = t.account_id
                LEFT JOIN transaction_splits s ON s.transaction_id = t.id
          WHERE t.budget_id = $1 AND a.on_budget AND t.date < ($2::date + interval '1 month')
          GROUP BY 1, 2
         UNION ALL
         SELECT x.category_id::text, date_trunc('month', x.date)::date::text,
                sum(CASE WHEN f.on_budget THEN -x.amount ELSE x.amount END)
           FROM transfers x JOIN accounts f ON f.id = x.from_account_id JOIN accounts d ON d.id = x.to_account_id
          WHERE x.budget_id = $1 AND f.on_budget <> d.on_budget AND x.date < ($2::date + interval '1 month')
          GROUP BY 1, 2",
        &params,
    )?;
    let assigned = query(
        req,
        tx,
        "SELECT category_id::text, month::text, assigned FROM assignments WHERE budget_id = $1 AND month <= $2",
        &params,
    )?;
    let settings = query(
        req,
        tx,
        "SELECT category_id::text, month::text, carryover FROM category_carryover WHERE budget_id = $1 AND month <= $2",
        &params,
    )?;
    let first = activity
        .iter()
        .chain(assigned.iter())
        .filter_map(|row| month_index(&text(&row[1])))
        .min()
        .unwrap_or(target)
        .min(target);
    let span = usize::try_from(target - first + 1).unwrap_or(1);
    // Each category's carryover flag per month, from its settings.
    let mut schedules = vec![Schedule::new(); budgeted.len()];
    for row in &settings {
        if let (Some(&c), Some(from)) = (position.get(text(&row[0]).as_str()), month_index(&text(&row[1]))) {
            schedules[c].insert(from, matches!(row[2], Value::Boolean(true)));
        }
    }
    let mut months: Vec<MonthInput> = (0..span)
        .map(|i| MonthInput {
            income: 0,
            assigned: vec![0; budgeted.len()],
            activity: vec![0; budgeted.len()],
            carryover: schedules.iter().map(|s| s.flag_in(first + i as MonthIndex)).collect(),
        })
        .collect();
    let add = |slot: &mut i128, amount: i128| -> Outcome<()> {
        *slot = slot.checked_add(amount).ok_or_else(|| over_limit(req))?;
        Ok(())
    };
    let mut uncategorized = 0i128;
    for row in &activity {
        let (category, amount) = (text(&row[0]), wide(req, &row[2])?);
        let Some(index) = month_index(&text(&row[1])).and_then(|m| usize::try_from(m - first).ok()) else {
            continue;
        };
        if let Some(&c) = position.get(category.as_str()) {
            add(&mut months[index].activity[c], amount)?;
        } else if income_categories.contains(&category.as_str()) {
            add(&mut months[index].income, amount)?;
        } else if index + 1 == span {
            add(&mut uncategorized, amount)?;
        }
    }
    for row in &assigned {
        let Some(index) = month_index(&text(&row[1])).and_then(|m| usize::try_from(m - first).ok()) else {
            continue;
        };
        if let Some(&c) = position.get(text(&row[0]).as_str()) {
            add(&mut months[index].assigned[c], i128::from(int(&row[2])))?;
        }
    }
    let summaries = month::run(budgeted.len(), &months).map_err(|_| over_limit(req))?;
    let summary = summaries.last().cloned().unwrap_or_default();
    let money = |minor: i128| amount_wide(req, minor, exponent);
    let mut categories = Vec::with_capacity(budgeted.len());
    for (c, figures) in budgeted.iter().zip(&summary.categories) {
        categories.push(json!({
            "id": c.id, "name": c.name, "group_id": c.group_id, "group_name": c.group_name,
            "hidden": c.hidden, "carryover": figures.carryover,
            "assigned": money(figures.assigned)?,
            "activity": money(figures.activity)?,
            "available": money(figures.available)?,
        }));
    }
    Ok(json!({
        "month": &month[..7],
        "income": money(summary.income)?,
        "assigned": money(summary.assigned)?,
        "activity": money(summary.activity)?,
        "overspent_last_month": money(summary.overspent_last_month)?,
        "to_be_budgeted": money(summary.to_be_budgeted)?,
        "uncategorized_activity": money(uncategorized)?,
        "categories": categories,
    }))
}
