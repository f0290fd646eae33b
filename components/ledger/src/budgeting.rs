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

use crate::audit::Written;
use crate::{Outcome, amount_json, budget, int, is_uuid, query, read, text, write};
use budget_core::month::{self, MonthInput};
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

/// `YYYY-MM` as the first day of the month, `YYYY-MM-01`.
fn month_param(req: &Request) -> Outcome<String> {
    let raw = req.param("month").unwrap_or_default();
    let b = raw.as_bytes();
    let valid = b.len() == 7
        && b[4] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit())
        && matches!(raw[5..].parse::<u8>(), Ok(1..=12))
        && crate::year_ok(raw);
    if valid {
        Ok(format!("{raw}-01"))
    } else {
        Err(req.invalid(&[("month", "a month, YYYY-MM, in the years 1900 to 2200".to_string())]))
    }
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
}

/// `PATCH …/categories/{category}`: name, hidden, note, carryover.
pub(crate) fn update_category(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let id = req.param("category").unwrap_or_default().to_string();
        let show = |c: &CategoryRow| {
            json!({"id": c.id, "name": c.name, "group_id": c.group_id, "group_name": c.group_name,
                   "is_income": c.is_income, "hidden": c.hidden, "carryover": c.carryover, "note": c.note})
        };
        let before = categories(req, tx, &budget.id)?
            .iter()
            .find(|c| c.id == id)
            .map(show)
            .ok_or_else(|| req.error(404, "not_found", "no such category"))?;
        let patch: CategoryPatch = req.json()?;
        let mut invalid = Vec::new();
        if patch.name.as_deref().is_some_and(|n| !name_ok(n)) {
            invalid.push(("name", "1 to 200 characters".to_string()));
        }
        if patch.note.as_deref().is_some_and(|n| n.chars().count() > 2000) {
            invalid.push(("note", "at most 2000 characters".to_string()));
        }
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
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
        let after = categories(req, tx, &budget.id)?.iter().find(|c| c.id == id).map(show).unwrap_or_default();
        Ok(Written { response: Response::json(200, &after), before: Some(before), record: true })
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
    carryover: bool,
    note: String,
    knowledge: i64,
}

fn categories(req: &Request, tx: &Transaction, budget_id: &str) -> Outcome<Vec<CategoryRow>> {
    let rows = query(
        req,
        tx,
        "SELECT c.id::text, c.name, g.id::text, g.name, g.is_income, c.hidden OR g.hidden, c.carryover, c.knowledge, c.note
           FROM categories c JOIN category_groups g ON g.id = c.group_id
          WHERE c.budget_id = $1 ORDER BY g.seq, c.seq",
        &[Value::Uuid(budget_id.to_string())],
    )?;
    Ok(rows
        .iter()
        .map(|r| CategoryRow {
            id: text(&r[0]),
            name: text(&r[1]),
            group_id: text(&r[2]),
            group_name: text(&r[3]),
            is_income: matches!(r[4], Value::Boolean(true)),
            hidden: matches!(r[5], Value::Boolean(true)),
            carryover: matches!(r[6], Value::Boolean(true)),
            knowledge: int(&r[7]),
            note: text(&r[8]),
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
            .map(|c| {
                json!({
                    "id": c.id, "name": c.name, "group_id": c.group_id, "group_name": c.group_name,
                    "is_income": c.is_income, "hidden": c.hidden, "carryover": c.carryover, "note": c.note,
                })
            })
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

/// Months are numbered `year * 12 + month - 1`.
fn month_index(date: &str) -> Option<i64> {
    let year: i64 = date.get(0..4)?.parse().ok()?;
    let month: i64 = date.get(5..7)?.parse().ok()?;
    Some(year * 12 + month - 1)
}

/// The month view: every category's assigned, activity and available, and
/// the month's income, assigned, activity and to-be-budgeted.
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
                sum(COALESCE(s.amount, t.amount))::bigint
           FROM transactions t JOIN accounts a ON a.id = t.account_id
                LEFT JOIN transaction_splits s ON s.transaction_id = t.id
          WHERE t.budget_id = $1 AND a.on_budget AND t.date < ($2::date + interval '1 month')
          GROUP BY 1, 2
         UNION ALL
         SELECT x.category_id::text, date_trunc('month', x.date)::date::text,
                sum(CASE WHEN f.on_budget THEN -x.amount ELSE x.amount END)::bigint
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
    let first = activity
        .iter()
        .chain(assigned.iter())
        .filter_map(|row| month_index(&text(&row[1])))
        .min()
        .unwrap_or(target)
        .min(target);
    let span = usize::try_from(target - first + 1).unwrap_or(1);
    let mut months =
        vec![MonthInput { income: 0, assigned: vec![0; budgeted.len()], activity: vec![0; budgeted.len()] }; span];
    let mut uncategorized = 0i64;
    for row in &activity {
        let (category, amount) = (text(&row[0]), int(&row[2]));
        let Some(index) = month_index(&text(&row[1])).and_then(|m| usize::try_from(m - first).ok()) else {
            continue;
        };
        if let Some(&c) = position.get(category.as_str()) {
            months[index].activity[c] += amount;
        } else if income_categories.contains(&category.as_str()) {
            months[index].income += amount;
        } else if index + 1 == span {
            uncategorized += amount;
        }
    }
    for row in &assigned {
        let Some(index) = month_index(&text(&row[1])).and_then(|m| usize::try_from(m - first).ok()) else {
            continue;
        };
        if let Some(&c) = position.get(text(&row[0]).as_str()) {
            months[index].assigned[c] += int(&row[2]);
        }
    }
    let carryover: Vec<bool> = budgeted.iter().map(|c| c.carryover).collect();
    let summaries = month::run(&carryover, &months);
    let summary = summaries.last().cloned().unwrap_or_default();
    let categories: Vec<Json> = budgeted
        .iter()
        .zip(&summary.categories)
        .map(|(c, figures)| {
            json!({
                "id": c.id, "name": c.name, "group_id": c.group_id, "group_name": c.group_name,
                "hidden": c.hidden, "carryover": c.carryover,
                "assigned": amount_json(figures.assigned, exponent),
                "activity": amount_json(figures.activity, exponent),
                "available": amount_json(figures.available, exponent),
            })
        })
        .collect();
    Ok(json!({
        "month": &month[..7],
        "income": amount_json(summary.income, exponent),
        "assigned": amount_json(summary.assigned, exponent),
        "activity": amount_json(summary.activity, exponent),
        "overspent_last_month": amount_json(summary.overspent_last_month, exponent),
        "to_be_budgeted": amount_json(summary.to_be_budgeted, exponent),
        "uncategorized_activity": amount_json(uncategorized, exponent),
        "categories": categories,
    }))
}
