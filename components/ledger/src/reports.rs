//! Reports over a range of months (`?from=YYYY-MM&to=YYYY-MM`, at most 120):
//!
//! - `spending`: what each expense category spent per month, on-budget
//!   accounts only, split lines in their own categories. Inflows into an
//!   expense category (refunds) are netted, as Actual does: 280.00 spent and
//!   a 25.00 refund is 255.00 spent (a month of more refunds than spending
//!   shows a negative figure). Uncategorized outflows are a bucket of their
//!   own (`category_id: null`); income categories are left out.
//! - `income-expense`: per month, income (the net of income categories),
//!   expense (the net outflow of expense categories, refunds netted, plus
//!   uncategorized outflows) and net = income − expense. A month's expense
//!   is exactly the sum of its spending lines: the two reports agree.
//! - Uncategorized **inflows** (every CSV-imported salary until it is
//!   categorised) are outside the budget, as in Actual: neither income nor
//!   expense, never netted against spending. `income-expense` reports them
//!   on their own as `uncategorized_inflow`.
//! - `net-worth`: per month, every account's balance at the month's end
//!   (transactions and transfers, on- and off-budget): assets, liabilities
//!   and net worth.
//!
//! Sums are exact `numeric` in PostgreSQL and i128 here; a figure beyond
//! ±(2^63 − 1) is answered with 422 `amount_limit_exceeded` (see
//! [`crate::over_limit`]), never wrapped or saturated.

use crate::{Outcome, amount_wide, budget, over_limit, read, text, wide};
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::sql::Value;
use budget_sdk::{Request, Response};

const MAX_MONTHS: i64 = 120;

/// The budget's money movements from `$2` to the end of `$3`'s month, one
/// row per (month, category, amount): on-budget transactions, split lines
/// in place of their transaction, and transfers across the budget's edge
/// (negative when money leaves it).
const LINES: &str = "lines AS (
    SELECT date_trunc('month', t.date)::date AS month, COALESCE(s.category_id, t.category_id) AS category_id,
           COALESCE(s.amount, t.amount) AS amount
      FROM transactions t JOIN accounts a ON a.id = t.account_id
           LEFT JOIN transaction_splits s ON s.transaction_id = t.id
     WHERE t.budget_id = $1 AND a.on_budget AND t.date >= $2 AND t.date < ($3::date + interval '1 month')
    UNION ALL
    SELECT date_trunc('month', x.date)::date, x.category_id, CASE WHEN f.on_budget THEN -x.amount ELSE x.amount END
      FROM transfers x JOIN accounts f ON f.id = x.from_account_id JOIN accounts d ON d.id = x.to_account_id
     WHERE x.budget_id = $1 AND f.on_budget <> d.on_budget
       AND x.date >= $2 AND x.date < ($3::date + interval '1 month'))";

/// `from` and `to` as first days of months, checked.
fn range(req: &Request) -> Outcome<(String, String)> {
    let month = |name: &'static str| -> Result<(String, i64), (&'static str, String)> {
        let raw = req.query_param(name).ok_or((name, "required, YYYY-MM".to_string()))?;
        let b = raw.as_bytes();
        let year = raw.get(0..4).and_then(|y| y.parse::<i64>().ok());
        let month = raw.get(5..7).and_then(|m| m.parse::<i64>().ok());
        match (b.len(), b.get(4), year, month) {
            (7, Some(b'-'), Some(y), Some(m))
                if (1..=12).contains(&m)
                    && crate::year_ok(raw)
                    && b.iter().all(|c| *c == b'-' || c.is_ascii_digit()) =>
            {
                Ok((format!("{raw}-01"), y * 12 + m - 1))
            }
            _ => Err((name, "a month, YYYY-MM".to_string())),
        }
    };
    match (month("from"), month("to")) {
        (Ok((from, a)), Ok((to, b))) if a <= b && b - a < MAX_MONTHS => Ok((from, to)),
        (Ok(_), Ok(_)) => {
            Err(req.invalid(&[("to", format!("not before from, and at most {MAX_MONTHS} months later"))]))
        }
        (from, to) => {
            let fields: Vec<(&str, String)> = [from.err(), to.err()].into_iter().flatten().collect();
            Err(req.invalid(&fields))
        }
    }
}

pub(crate) fn spending(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let (from, to) = range(req)?;
        let rows = crate::query(
            req,
            tx,
            &format!(
                "WITH {LINES}
             SELECT to_char(l.month, 'YYYY-MM'), l.category_id::text, c.name, -sum(l.amount)
               FROM lines l LEFT JOIN categories c ON c.id = l.category_id
                    LEFT JOIN category_groups g ON g.id = c.group_id
              WHERE CASE WHEN l.category_id IS NULL THEN l.amount < 0 ELSE NOT g.is_income END
              GROUP BY 1, 2, 3 ORDER BY 1, 3 NULLS LAST"
            ),
            &[Value::Uuid(budget.id), Value::Date(from), Value::Date(to)],
        )?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let uncategorized = matches!(r[1], Value::Null);
            items.push(json!({
                "month": text(&r[0]),
                "category_id": if uncategorized { Json::Null } else { Json::String(text(&r[1])) },
                "category_name": if uncategorized { "uncategorized".to_string() } else { text(&r[2]) },
                "spent": amount_wide(req, wide(req, &r[3])?, budget.exponent)?,
            }));
        }
        Ok(Response::json(200, &json!({ "items": items })))
    })
}

pub(crate) fn income_expense(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let (from, to) = range(req)?;
        let rows = crate::query(
            req,
            tx,
            &format!(
                "WITH months AS (SELECT generate_series($2::date, $3::date, interval '1 month')::date AS month),
                  {LINES}
             SELECT to_char(m.month, 'YYYY-MM'),
                    COALESCE(sum(l.amount) FILTER (WHERE g.is_income), 0),
                    -- The same lines as the spending report: expense categories
                    -- net of refunds, and uncategorized outflows.
                    COALESCE(-sum(l.amount) FILTER (WHERE NOT g.is_income OR (l.category_id IS NULL AND l.amount < 0)), 0),
                    COALESCE(sum(l.amount) FILTER (WHERE l.category_id IS NULL AND l.amount > 0), 0)
               FROM months m LEFT JOIN lines l ON l.month = m.month
                    LEFT JOIN categories c ON c.id = l.category_id LEFT JOIN category_groups g ON g.id = c.group_id
              GROUP BY m.month ORDER BY m.month"
            ),
            &[Value::Uuid(budget.id), Value::Date(from), Value::Date(to)],
        )?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let (income, expense, inflow) = (wide(req, &r[1])?, wide(req, &r[2])?, wide(req, &r[3])?);
            items.push(json!({
                "month": text(&r[0]),
                "income": amount_wide(req, income, budget.exponent)?,
                "expense": amount_wide(req, expense, budget.exponent)?,
                "net": amount_wide(req, income.checked_sub(expense).ok_or_else(|| over_limit(req))?, budget.exponent)?,
                "uncategorized_inflow": amount_wide(req, inflow, budget.exponent)?,
            }));
        }
        Ok(Response::json(200, &json!({ "items": items })))
    })
}

pub(crate) fn net_worth(req: &Request) -> Response {
    read(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let (from, to) = range(req)?;
        let rows = crate::query(
            req,
            tx,
            "WITH months AS (SELECT generate_series($2::date, $3::date, interval '1 month')::date AS month),
                  moves AS (
                 SELECT account_id, date, amount FROM transactions WHERE budget_id = $1
                 UNION ALL SELECT to_account_id, date, amount FROM transfers WHERE budget_id = $1
                 UNION ALL SELECT from_account_id, date, -amount FROM transfers WHERE budget_id = $1),
                  balances AS (
                 SELECT m.month, a.id, COALESCE((SELECT sum(v.amount) FROM moves v
                                                  WHERE v.account_id = a.id AND v.date < (m.month + interval '1 month')), 0)
                            AS balance
                   FROM months m CROSS JOIN accounts a WHERE a.budget_id = $1)
             SELECT to_char(m.month, 'YYYY-MM'),
                    COALESCE(sum(b.balance) FILTER (WHERE b.balance > 0), 0),
                    COALESCE(-sum(b.balance) FILTER (WHERE b.balance < 0), 0)
               FROM months m LEFT JOIN balances b ON b.month = m.month
              GROUP BY m.month ORDER BY m.month",
            &[Value::Uuid(budget.id), Value::Date(from), Value::Date(to)],
        )?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let (assets, liabilities) = (wide(req, &r[1])?, wide(req, &r[2])?);
            items.push(json!({
                "month": text(&r[0]),
                "assets": amount_wide(req, assets, budget.exponent)?,
                "liabilities": amount_wide(req, liabilities, budget.exponent)?,
                "net_worth": amount_wide(
                    req,
                    assets.checked_sub(liabilities).ok_or_else(|| over_limit(req))?,
                    budget.exponent,
                )?,
            }));
        }
        Ok(Response::json(200, &json!({ "items": items })))
    })
}
