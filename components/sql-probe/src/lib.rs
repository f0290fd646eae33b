//! `sql-probe`: a test fixture; JSON in, JSON out over `budget:platform/sql`.
//! Values are tagged: `{"int64": 5}`, `{"numeric": "1.50"}`,
//! `{"bytea_hex": "00ff"}`, …. The same fixture serves under several apps'
//! routes (`/{app}/sql/...`), so tests can set one app against another.

use budget_sdk::serde_json::{Map, Value as Json, json};
use budget_sdk::sql::{self, Error, IsolationLevel, RowSet, Value};
use budget_sdk::{Request, Response, Router};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn to_value(json: &Json) -> Result<Value, String> {
    let object = json.as_object().filter(|o| o.len() == 1).ok_or("a value is an object with one tag")?;
    let (tag, v) = object.iter().next().ok_or("empty value")?;
    let text = || v.as_str().map(str::to_string).ok_or(format!("{tag} wants a string"));
    let int = || v.as_i64().ok_or(format!("{tag} wants an integer"));
    Ok(match tag.as_str() {
        "null" => Value::Null,
        "bool" => Value::Boolean(v.as_bool().ok_or("bool wants true or false")?),
        "int16" => Value::Int16(i16::try_from(int()?).map_err(|e| e.to_string())?),
        "int32" => Value::Int32(i32::try_from(int()?).map_err(|e| e.to_string())?),
        "int64" => Value::Int64(int()?),
        "float64" => Value::Float64(v.as_f64().ok_or("float64 wants a number")?),
        "numeric" => Value::Numeric(text()?),
        "text" => Value::Text(text()?),
        "bytea_hex" => Value::Bytea(unhex(&text()?).ok_or("bad hex")?),
        "uuid" => Value::Uuid(text()?),
        "date" => Value::Date(text()?),
        "timestamptz" => Value::Timestamptz(int()?),
        "jsonb" => Value::Jsonb(text()?),
        other => return Err(format!("unknown tag {other}")),
    })
}

fn from_value(value: Value) -> Json {
    match value {
        Value::Null => json!({ "null": null }),
        Value::Boolean(v) => json!({ "bool": v }),
        Value::Int16(v) => json!({ "int16": v }),
        Value::Int32(v) => json!({ "int32": v }),
        Value::Int64(v) => json!({ "int64": v }),
        Value::Float64(v) => json!({ "float64": v }),
        Value::Numeric(v) => json!({ "numeric": v }),
        Value::Text(v) => json!({ "text": v }),
        Value::Bytea(v) => json!({ "bytea_hex": hex(&v) }),
        Value::Uuid(v) => json!({ "uuid": v }),
        Value::Date(v) => json!({ "date": v }),
        Value::Timestamptz(v) => json!({ "timestamptz": v }),
        Value::Jsonb(v) => json!({ "jsonb": v }),
    }
}

fn row_set(rows: RowSet) -> Json {
    let columns: Vec<Json> = rows
        .columns
        .iter()
        .map(|c| json!({ "name": c.name, "type": format!("{:?}", c.column_type), "type_name": c.type_name }))
        .collect();
    let rows: Vec<Json> =
        rows.rows.into_iter().map(|row| Json::Array(row.into_iter().map(from_value).collect())).collect();
    json!({ "columns": columns, "rows": rows })
}

fn error(req: &Request, error: Error) -> Response {
    let (status, name, detail, extra) = match error {
        Error::Database(db) => (
            422,
            "sql_database",
            db.message.clone(),
            json!({ "sqlstate": db.sqlstate, "constraint": db.constraint, "db_detail": db.detail }),
        ),
        Error::Unavailable(d) => (503, "sql_unavailable", d, json!({})),
        Error::Timeout => (504, "sql_timeout", "statement timed out".into(), json!({})),
        Error::ResultTooLarge(d) => (413, "sql_result_too_large", d, json!({})),
        Error::InvalidValue(d) => (400, "sql_invalid_value", d, json!({})),
        Error::TransactionClosed => (409, "sql_transaction_closed", "transaction closed".into(), json!({})),
    };
    let mut body = Map::new();
    body.insert("id".into(), json!(req.request_id()));
    body.insert("name".into(), json!(name));
    body.insert("detail".into(), json!(detail));
    if let Json::Object(extra) = extra {
        body.extend(extra);
    }
    Response::json(status, &json!({ "error": body }))
}

fn params_of(req: &Request, json: &Json) -> Result<Vec<Value>, Response> {
    let params = json.as_array().cloned().unwrap_or_default();
    params.iter().map(to_value).collect::<Result<Vec<_>, _>>().map_err(|e| req.error(400, "bad_param", &e))
}

fn parse(req: &Request) -> Result<(String, Vec<Value>), Response> {
    let body: Json = req.json()?;
    let statement = body["statement"].as_str().unwrap_or_default().to_string();
    Ok((statement, params_of(req, &body["params"])?))
}

fn query(req: &Request) -> Response {
    let (statement, params) = match parse(req) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    match sql::query(&statement, &params) {
        Ok(rows) => Response::json(200, &row_set(rows)),
        Err(e) => error(req, e),
    }
}

fn execute(req: &Request) -> Response {
    let (statement, params) = match parse(req) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    match sql::execute(&statement, &params) {
        Ok(affected) => Response::json(200, &json!({ "affected": affected })),
        Err(e) => error(req, e),
    }
}

/// `{"isolation": "serializable", "steps": [{"statement": .., "params": ..}], "end": "commit" | "rollback" | "drop"}`.
/// Each step is a query; with `"after_end": true` one more query runs after the end.
fn transaction(req: &Request) -> Response {
    let body: Json = match req.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let isolation = match body["isolation"].as_str().unwrap_or("read-committed") {
        "serializable" => IsolationLevel::Serializable,
        "repeatable-read" => IsolationLevel::RepeatableRead,
        _ => IsolationLevel::ReadCommitted,
    };
    let tx = match sql::begin(isolation) {
        Ok(tx) => tx,
        Err(e) => return error(req, e),
    };
    let mut results = Vec::new();
    for step in body["steps"].as_array().cloned().unwrap_or_default() {
        let statement = step["statement"].as_str().unwrap_or_default();
        let params = match params_of(req, &step["params"]) {
            Ok(params) => params,
            Err(response) => return response,
        };
        match tx.query(statement, &params) {
            Ok(rows) => results.push(row_set(rows)),
            Err(e) => return error(req, e),
        }
    }
    let ended = match body["end"].as_str().unwrap_or("commit") {
        "commit" => tx.commit(),
        "rollback" => tx.rollback(),
        _ => Ok(()),
    };
    if let Err(e) = ended {
        return error(req, e);
    }
    if body["after_end"].as_bool() == Some(true) {
        return match tx.query("SELECT 1", &[]) {
            Ok(_) => Response::json(200, &json!({ "results": results, "after_end": "ran" })),
            Err(e) => error(req, e),
        };
    }
    drop(tx);
    Response::json(200, &json!({ "results": results }))
}

fn handle(req: Request) -> Response {
    Router::new()
        .post("/{app}/sql/query", query)
        .post("/{app}/sql/execute", execute)
        .post("/{app}/sql/transaction", transaction)
        .handle(req)
}

budget_sdk::component!(handle);
