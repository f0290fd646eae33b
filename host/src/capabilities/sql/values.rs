//! WIT `value`s to PostgreSQL parameters and back. Exact types stay exact:
//! NUMERIC travels as decimal text both ways, never through a float.

use crate::runtime::bindings::budget::platform::sql::{Column, ColumnType, Error, Value};
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgRow, PgTypeInfo, Postgres};
use sqlx::query::Query;
use sqlx::{Column as _, Row, TypeInfo, ValueRef};
use std::str::FromStr;

/// A NULL whose type PostgreSQL infers from the statement (parameter type
/// OID 0, "unspecified"), so `null` fits any column.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

fn invalid(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::InvalidValue(format!("{what}: {detail}"))
}

/// Binds `value` as the next parameter of `query`.
pub fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: Value,
) -> Result<Query<'q, Postgres, PgArguments>, Error> {
    Ok(match value {
        Value::Null => query.bind(UntypedNull),
        Value::Boolean(v) => query.bind(v),
        Value::Int16(v) => query.bind(v),
        Value::Int32(v) => query.bind(v),
        Value::Int64(v) => query.bind(v),
        Value::Float64(v) => query.bind(v),
        Value::Numeric(text) => {
            query.bind(BigDecimal::from_str(text.trim()).map_err(|e| invalid("numeric parameter", e))?)
        }
        Value::Text(v) => query.bind(v),
        Value::Bytea(v) => query.bind(v),
        Value::Uuid(text) => query.bind(uuid::Uuid::parse_str(&text).map_err(|e| invalid("uuid parameter", e))?),
        Value::Date(text) => {
            query.bind(NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| invalid("date parameter", e))?)
        }
        Value::Timestamptz(micros) => query.bind(
            DateTime::<Utc>::from_timestamp_micros(micros)
                .ok_or_else(|| invalid("timestamptz parameter", "out of range"))?,
        ),
        Value::Jsonb(text) => {
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid("jsonb parameter", e))?;
            query.bind(sqlx::types::Json(json))
        }
    })
}

pub fn column_type(type_name: &str) -> ColumnType {
    match type_name {
        "BOOL" => ColumnType::Boolean,
        "INT2" => ColumnType::Int16,
        "INT4" => ColumnType::Int32,
        "INT8" => ColumnType::Int64,
        "FLOAT4" | "FLOAT8" => ColumnType::Float64,
        "NUMERIC" => ColumnType::Numeric,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => ColumnType::Text,
        "BYTEA" => ColumnType::Bytea,
        "UUID" => ColumnType::Uuid,
        "DATE" => ColumnType::Date,
        "TIMESTAMPTZ" | "TIMESTAMP" => ColumnType::Timestamptz,
        "JSONB" | "JSON" => ColumnType::Jsonb,
        _ => ColumnType::Unsupported,
    }
}

pub fn columns(columns: &[sqlx::postgres::PgColumn]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| {
            let type_name = c.type_info().name().to_string();
            Column {
                name: c.name().to_string(),
                column_type: column_type(&type_name),
                type_name: type_name.to_lowercase(),
            }
        })
        .collect()
}

/// Decodes column `index` of `row`, and adds its encoded size to `bytes`.
pub fn decode(row: &PgRow, index: usize, kind: ColumnType, bytes: &mut usize) -> Result<Value, Error> {
    let raw = row.try_get_raw(index).map_err(|e| invalid("column", e))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    *bytes += raw.as_bytes().map_or(0, <[u8]>::len);
    let raw_bytes = raw.as_bytes().ok().map(<[u8]>::to_vec);
    let column = || row.columns().get(index).map(|c| c.name().to_string()).unwrap_or_default();
    let decode_error = |e: sqlx::Error| invalid(&format!("column `{}`", column()), e);
    Ok(match kind {
        ColumnType::Boolean => Value::Boolean(row.try_get(index).map_err(decode_error)?),
        ColumnType::Int16 => Value::Int16(row.try_get(index).map_err(decode_error)?),
        ColumnType::Int32 => Value::Int32(row.try_get(index).map_err(decode_error)?),
        ColumnType::Int64 => Value::Int64(row.try_get(index).map_err(decode_error)?),
        ColumnType::Float64 => match row.try_get::<f64, _>(index) {
            Ok(v) => Value::Float64(v),
            Err(_) => Value::Float64(f64::from(row.try_get::<f32, _>(index).map_err(decode_error)?)),
        },
        ColumnType::Numeric => Value::Numeric(
            raw_bytes
                .as_deref()
                .and_then(numeric_text)
                .ok_or_else(|| invalid(&format!("column `{}`", column()), "malformed numeric"))?,
        ),
        ColumnType::Text => Value::Text(row.try_get(index).map_err(decode_error)?),
        ColumnType::Bytea => Value::Bytea(row.try_get(index).map_err(decode_error)?),
        ColumnType::Uuid => Value::Uuid(row.try_get::<uuid::Uuid, _>(index).map_err(decode_error)?.to_string()),
        ColumnType::Date => {
            Value::Date(row.try_get::<NaiveDate, _>(index).map_err(decode_error)?.format("%Y-%m-%d").to_string())
        }
        ColumnType::Timestamptz => match row.try_get::<DateTime<Utc>, _>(index) {
            Ok(v) => Value::Timestamptz(v.timestamp_micros()),
            Err(_) => Value::Timestamptz(
                row.try_get::<NaiveDateTime, _>(index).map_err(decode_error)?.and_utc().timestamp_micros(),
            ),
        },
        ColumnType::Jsonb => {
            Value::Jsonb(row.try_get::<serde_json::Value, _>(index).map_err(decode_error)?.to_string())
        }
        ColumnType::Unsupported => {
            return Err(invalid(
                &format!("column `{}`", column()),
                "its type is not carried by this interface; cast it in SQL (for example `::text`)",
            ));
        }
    })
}

/// Renders PostgreSQL's binary NUMERIC exactly, with its display scale
/// (`1.50` stays `1.50`). Layout: ndigits, weight, sign, dscale (16 bits
/// each), then ndigits base-10000 digits; digit `j` has weight `weight - j`.
pub fn numeric_text(bytes: &[u8]) -> Option<String> {
    use std::fmt::Write as _;
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?])) };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits).map(|j| word(8 + 2 * j)).collect::<Option<_>>()?;
    let digit = |j: i64| -> u16 { usize::try_from(j).ok().and_then(|j| digits.get(j).copied()).unwrap_or(0) };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for j in 0..=weight {
            let _ = if j == 0 { write!(text, "{}", digit(j)) } else { write!(text, "{:04}", digit(j)) };
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut j = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(j));
            j += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::numeric_text;

    fn encode(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].into_iter().chain(digits.iter().copied()) {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }

    #[test]
    fn renders_exactly_with_display_scale() {
        // 1.50 = digits [1, 5000], weight 0, dscale 2
        assert_eq!(numeric_text(&encode(2, 0, 0, 2, &[1, 5000])).as_deref(), Some("1.50"));
        // -12345678.9 = [1234, 5678, 9000], weight 1, dscale 1
        assert_eq!(numeric_text(&encode(3, 1, 0x4000, 1, &[1234, 5678, 9000])).as_deref(), Some("-12345678.9"));
        // 0.0001 = [1], weight -1, dscale 4
        assert_eq!(numeric_text(&encode(1, -1, 0, 4, &[1])).as_deref(), Some("0.0001"));
        // 0.00000001 = [1], weight -2, dscale 8
        assert_eq!(numeric_text(&encode(1, -2, 0, 8, &[1])).as_deref(), Some("0.00000001"));
        // 1000000 = [100], weight 1 (trailing zero group omitted)
        assert_eq!(numeric_text(&encode(1, 1, 0, 0, &[100])).as_deref(), Some("1000000"));
        assert_eq!(numeric_text(&encode(0, 0, 0, 3, &[])).as_deref(), Some("0.000"));
        assert_eq!(numeric_text(&encode(0, 0, 0xC000, 0, &[])).as_deref(), Some("NaN"));
        assert_eq!(numeric_text(&[0, 1]), None);
    }
}
