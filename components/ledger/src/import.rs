//! CSV import into one account: `POST /v1/budgets/{budget}/imports`.
//!
//! Each import carries its mapping: which columns hold the date, payee,
//! memo and amount (or separate outflow and inflow columns), the date
//! format, the decimal and thousands separators and the sign convention.
//! Rows get an `import_id` from their date, amount and how many identical
//! (date, amount) rows came before them in the file, so importing an
//! overlapping statement again marks the overlap as duplicates. With
//! `dry_run` nothing is written and the answer is the same preview.

use crate::audit::Written;
use crate::{amount_json, budget, is_uuid, query, text, write};
use budget_core::import::{self, DateFormat, NumberFormat};
use budget_sdk::money;
use budget_sdk::serde_json::{Value as Json, json};
use budget_sdk::sql::Value;
use budget_sdk::{Request, Response};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

const MAX_ROWS: usize = 5_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    account_id: String,
    csv: String,
    mapping: Mapping,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mapping {
    date_column: String,
    #[serde(default)]
    payee_column: Option<String>,
    #[serde(default)]
    memo_column: Option<String>,
    /// One signed amount column; or `outflow_column` and `inflow_column`.
    #[serde(default)]
    amount_column: Option<String>,
    #[serde(default)]
    outflow_column: Option<String>,
    #[serde(default)]
    inflow_column: Option<String>,
    #[serde(default = "iso")]
    date_format: String,
    #[serde(default = "point")]
    decimal_separator: String,
    #[serde(default)]
    thousands_separator: String,
    /// `negative_is_outflow` (default) or `positive_is_outflow`.
    #[serde(default = "negative_is_outflow")]
    sign: String,
    #[serde(default = "comma")]
    delimiter: String,
}

fn iso() -> String {
    "YYYY-MM-DD".into()
}
fn point() -> String {
    ".".into()
}
fn comma() -> String {
    ",".into()
}
fn negative_is_outflow() -> String {
    "negative_is_outflow".into()
}

fn single_char(value: &str) -> Option<char> {
    let mut chars = value.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Where each mapped column sits in the header.
struct Columns {
    date: usize,
    payee: Option<usize>,
    memo: Option<usize>,
    amount: Option<usize>,
    outflow: Option<usize>,
    inflow: Option<usize>,
}

/// One row's outcome.
struct Row {
    line: usize,
    status: &'static str,
    message: Option<String>,
    date: String,
    amount: i64,
    payee: String,
    memo: String,
    import_id: String,
}

pub(crate) fn create_import(req: &Request) -> Response {
    write(req, |req, tx, owner| {
        let budget = budget(req, tx, owner)?;
        let body: ImportRequest = req.json()?;
        let m = &body.mapping;
        let mut invalid = Vec::new();
        let date_format = DateFormat::from_name(&m.date_format);
        if date_format.is_none() {
            invalid.push(("mapping.date_format", "YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY or DD.MM.YYYY".to_string()));
        }
        let decimal = single_char(&m.decimal_separator).filter(|c| matches!(c, '.' | ','));
        if decimal.is_none() {
            invalid.push(("mapping.decimal_separator", "`.` or `,`".to_string()));
        }
        let thousands = match m.thousands_separator.as_str() {
            "" => Some(None),
            other => single_char(other).filter(|c| matches!(c, ',' | '.' | ' ' | '\'')).map(Some),
        };
        if thousands.is_none() || (thousands.flatten().is_some() && thousands.flatten() == decimal) {
            invalid
                .push(("mapping.thousands_separator", "empty, `,`, `.`, space or `'`, unlike the decimal".to_string()));
        }
        let positive_is_outflow = match m.sign.as_str() {
            "negative_is_outflow" => Some(false),
            "positive_is_outflow" => Some(true),
            _ => None,
        };
        if positive_is_outflow.is_none() {
            invalid.push(("mapping.sign", "negative_is_outflow or positive_is_outflow".to_string()));
        }
        let delimiter = single_char(&m.delimiter).filter(|c| matches!(c, ',' | ';' | '\t' | '|'));
        if delimiter.is_none() {
            invalid.push(("mapping.delimiter", "`,`, `;`, tab or `|`".to_string()));
        }
        if m.amount_column.is_some() == (m.outflow_column.is_some() || m.inflow_column.is_some()) {
            invalid.push((
                "mapping.amount_column",
                "either amount_column, or outflow_column and inflow_column".to_string(),
            ));
        }
        let account_ok = is_uuid(&body.account_id)
            && !query(
                req,
                tx,
                "SELECT 1 FROM accounts WHERE id = $1 AND budget_id = $2 AND NOT closed",
                &[Value::Uuid(body.account_id.clone()), Value::Uuid(budget.id.clone())],
            )?
            .is_empty();
        if !account_ok {
            invalid.push(("account_id", "no such open account in this budget".to_string()));
        }
        let records = import::read_csv(&body.csv, delimiter.unwrap_or(',')).map_err(|e| req.invalid(&[("csv", e)]))?;
        if records.len() > MAX_ROWS + 1 {
            invalid.push(("csv", format!("at most {MAX_ROWS} rows per import")));
        }
        let header = records.first().cloned().unwrap_or_default();
        let find = |name: &Option<String>, field: &'static str, invalid: &mut Vec<(&'static str, String)>| {
            name.as_ref().and_then(|name| {
                let found = header.iter().position(|h| h.trim() == name);
                if found.is_none() {
                    invalid.push((field, format!("no column `{name}` in the header")));
                }
                found
            })
        };
        let columns = Columns {
            date: find(&Some(m.date_column.clone()), "mapping.date_column", &mut invalid).unwrap_or(0),
            payee: find(&m.payee_column, "mapping.payee_column", &mut invalid),
            memo: find(&m.memo_column, "mapping.memo_column", &mut invalid),
            amount: find(&m.amount_column, "mapping.amount_column", &mut invalid),
            outflow: find(&m.outflow_column, "mapping.outflow_column", &mut invalid),
            inflow: find(&m.inflow_column, "mapping.inflow_column", &mut invalid),
        };
        if !invalid.is_empty() {
            return Err(req.invalid(&invalid));
        }
        let (Some(date_format), Some(decimal), Some(thousands), Some(positive_is_outflow)) =
            (date_format, decimal, thousands, positive_is_outflow)
        else {
            return Err(req.error(500, "internal", "mapping check failed"));
        };
        let numbers = NumberFormat { decimal, thousands, positive_is_outflow };
        // Earlier imports can only collide within this statement's dates.
        let dates: Vec<String> = records
            .iter()
            .skip(1)
            .filter_map(|r| r.get(columns.date))
            .filter_map(|d| import::parse_date(d, date_format).ok())
            .collect();
        let existing: HashSet<String> = match (dates.iter().min(), dates.iter().max()) {
            (Some(first), Some(last)) => query(
                req,
                tx,
                "SELECT import_id FROM transactions
                  WHERE account_id = $1 AND import_id IS NOT NULL AND date BETWEEN $2 AND $3",
                &[Value::Uuid(body.account_id.clone()), Value::Date(first.clone()), Value::Date(last.clone())],
            )?
            .iter()
            .map(|r| text(&r[0]))
            .collect(),
            _ => HashSet::new(),
        };

        let mut seen: HashMap<(String, i64), u32> = HashMap::new();
        let mut rows = Vec::new();
        for (index, record) in records.iter().enumerate().skip(1) {
            let line = index + 1;
            let cell =
                |i: Option<usize>| i.and_then(|i| record.get(i)).map(|s| s.trim().to_string()).unwrap_or_default();
            let parsed = parse_row(record, &columns, date_format, numbers, budget.exponent);
            let mut row = Row {
                line,
                status: "added",
                message: None,
                date: String::new(),
                amount: 0,
                payee: cell(columns.payee),
                memo: cell(columns.memo),
                import_id: String::new(),
            };
            match parsed {
                Err(message) => {
                    row.status = "error";
                    row.message = Some(message);
                }
                Ok((date, amount)) => {
                    let occurrence = seen.entry((date.clone(), amount)).or_insert(0);
                    *occurrence += 1;
                    row.import_id = format!("csv:{date}:{amount}:{occurrence}");
                    row.date = date;
                    row.amount = amount;
                    if existing.contains(&row.import_id) {
                        row.status = "duplicate";
                    }
                }
            }
            if row.payee.chars().count() > 200 || row.memo.chars().count() > 1000 {
                row.status = "error";
                row.message = Some("payee over 200 or memo over 1000 characters".into());
            }
            rows.push(row);
        }
        if !body.dry_run {
            for row in rows.iter_mut().filter(|r| r.status == "added") {
                let inserted = query(
                    req,
                    tx,
                    "INSERT INTO transactions (budget_id, account_id, date, amount, payee, memo, import_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, import_id) DO NOTHING RETURNING id",
                    &[
                        Value::Uuid(budget.id.clone()),
                        Value::Uuid(body.account_id.clone()),
                        Value::Date(row.date.clone()),
                        Value::Int64(row.amount),
                        Value::Text(row.payee.clone()),
                        Value::Text(row.memo.clone()),
                        Value::Text(row.import_id.clone()),
                    ],
                )?;
                if inserted.is_empty() {
                    row.status = "duplicate";
                }
            }
        }
        let count = |status: &str| rows.iter().filter(|r| r.status == status).count();
        let report = json!({
            "dry_run": body.dry_run,
            "added": count("added"),
            "duplicates": count("duplicate"),
            "errors": count("error"),
            "rows": rows.iter().map(|r| json!({
                "line": r.line,
                "status": r.status,
                "message": r.message,
                "date": (!r.date.is_empty()).then_some(&r.date),
                "amount": (r.status != "error").then(|| amount_json(r.amount, budget.exponent)),
                "payee": r.payee,
                "import_id": (!r.import_id.is_empty()).then_some(&r.import_id),
            })).collect::<Vec<Json>>(),
        });
        if body.dry_run {
            // A preview writes nothing: no audit event, no idempotency record.
            Ok(Written { response: Response::json(200, &report), before: None, record: false })
        } else {
            Ok(Written::from(Response::json(201, &report)))
        }
    })
}

/// The row's date and amount in minor units, or why it cannot be imported.
fn parse_row(
    record: &[String],
    columns: &Columns,
    date_format: DateFormat,
    numbers: NumberFormat,
    exponent: u8,
) -> Result<(String, i64), String> {
    let cell = |i: usize| record.get(i).map(|s| s.trim()).ok_or_else(|| "the row has too few columns".to_string());
    let date = import::parse_date(cell(columns.date)?, date_format)?;
    if !crate::is_date(&date) {
        return Err(format!("{date} is outside the years 1900 to 2200"));
    }
    let minor = |text: &str| -> Result<i64, String> {
        let decimal = import::normalize_amount(text, numbers)?;
        money::parse(&decimal, exponent).map_err(|e| format!("`{text}`: {e}"))
    };
    let amount = match (columns.amount, columns.outflow, columns.inflow) {
        (Some(amount), _, _) => minor(cell(amount)?)?,
        (None, outflow, inflow) => {
            let part = |column: Option<usize>| -> Result<i64, String> {
                match column.map(cell).transpose()? {
                    None | Some("") => Ok(0),
                    Some(text) => minor(text).map(i64::abs),
                }
            };
            part(inflow)?.checked_sub(part(outflow)?).ok_or("amount out of range")?
        }
    };
    Ok((date, amount))
}
