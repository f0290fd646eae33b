//! Reports over a range of months (`?from=YYYY-MM&to=YYYY-MM`, at most 120):
//!
//! - `spending`: outflows by category and month, on-budget accounts only,
//!   split lines in their own categories, with an `uncategorized` bucket
//!   (`category_id: null`); income categories are left out.
//! - `income-expense`: per month, income (income categories), expense
//!   (every other category and uncategorized, as a positive figure) and net.
//! - `net-worth`: per month, every account's balance at the month's end
//!   (transactions and transfers, on- and off-budget): assets, liabilities
//!   and net worth.

use crate::{Outcome, amount_json, budget, int, read, text};
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
             SELECT to_char(l.month, 'YYYY-MM'), l.category_id::text, c.name, (-sum(l.amount))::bigint
               FROM lines l LEFT JOIN categories c ON c.id = l.category_id
                    LEFT JOIN category_groups g ON g.id = c.group_id
              WHERE l.amount < 0 AND NOT COALESCE(g.is_income, false)
              GROUP BY 1, 2, 3 ORDER BY 1, 3 NULLS LAST"
            ),
            &[Value::Uuid(budget.id), Value::Date(from), Value::Date(to)],
        )?;
        let items: Vec<Json> = rows
            .iter()
            .map(|r| {
                let uncategorized = matches!(r[1], Value::Null);
                json!({
                    "month": text(&r[0]),
                    "category_id": if uncategorized { Json::Null } else { Json::String(text(&r[1])) },
                    "category_name": if uncategorized { "uncategorized".to_string() } else { text(&r[2]) },
                    "spent": amount_json(int(&r[3]), budget.exponent),
                })
            })
            .collect();
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
                    COALESCE(sum(l.amount) FILTER (WHERE g.is_income), 0)::bigint,
                    COALESCE(-sum(l.amount) FILTER (WHERE NOT COALESCE(g.is_income, false)), 0)::bigint
               FROM months m LEFT JOIN lines l ON l.month = m.month
                    LEFT JOIN categories c ON c.id = l.category_id LEFT JOIN category_groups g ON g.id = c.group_id
              GROUP BY m.month ORDER BY m.month"
            ),
            &[Value::Uuid(budget.id), Value::Date(from), Value::Date(to)],
        )?;
        Ok(monthly(&rows, budget.exponent, ["income", "expense", "net"]))
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
                    COALESCE(sum(b.balance) FILTER (WHERE b.balance > 0), 0)::bigint,
                    COALESCE(-sum(b.balance) FILTER (WHERE b.balance < 0), 0)::bigint
               FROM months m LEFT JOIN balances b ON b.month = m.month
              GROUP BY m.month ORDER BY m.month",
            &[Value::Uuid(budget.id), Value::Date(from), Value::Date(to)],
        )?;
        Ok(monthly(&rows, budget.exponent, ["assets", "liabilities", "net_worth"]))
    })
}

/// Rows of (month, a, b) as `{month, names[0]: a, names[1]: b, names[2]: a − b}`.
fn monthly(rows: &[Vec<Value>], exponent: u8, names: [&str; 3]) -> Response {
    let items: Vec<Json> = rows
        .iter()
        .map(|r| {
            let (a, b) = (int(&r[1]), int(&r[2]));
            let mut item = json!({ "month": text(&r[0]) });
            item[names[0]] = amount_json(a, exponent);
            item[names[1]] = amount_json(b, exponent);
            item[names[2]] = amount_json(a - b, exponent);
            item
        })
        .collect();
    Response::json(200, &json!({ "items": items }))
}
