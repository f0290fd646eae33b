//! Bank-statement CSV: an RFC 4180 reader, and the per-import mapping's
//! conversions (dates in the bank's format, amounts with the bank's
//! decimal and thousands separators and sign convention) to ISO dates and
//! plain decimal strings. Nothing here rounds: a malformed value is an
//! error for its row.

/// Splits CSV text into records of fields. Quoted fields may hold the
/// delimiter, line breaks and doubled quotes. Empty lines are skipped.
pub fn read_csv(text: &str, delimiter: char) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let mut field_started = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if !field_started => {
                quoted = true;
                field_started = true;
            }
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            c if c == delimiter => {
                record.push(std::mem::take(&mut field));
                field_started = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                line += 1;
                if field_started || !field.is_empty() || !record.is_empty() {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                field_started = false;
            }
            _ => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if field_started || !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// Date layouts a bank export may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// 2026-11-05
    Iso,
    /// 05/11/2026
    DayMonthYear,
    /// 11/05/2026
    MonthDayYear,
    /// 05.11.2026
    DayMonthYearDots,
}

impl DateFormat {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "YYYY-MM-DD" => Some(Self::Iso),
            "DD/MM/YYYY" => Some(Self::DayMonthYear),
            "MM/DD/YYYY" => Some(Self::MonthDayYear),
            "DD.MM.YYYY" => Some(Self::DayMonthYearDots),
            _ => None,
        }
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The date as `YYYY-MM-DD`, checked to exist.
pub fn parse_date(text: &str, format: DateFormat) -> Result<String, String> {
    let text = text.trim();
    let parts: Vec<&str> = match format {
        DateFormat::Iso => text.split('-').collect(),
        DateFormat::DayMonthYear | DateFormat::MonthDayYear => text.split('/').collect(),
        DateFormat::DayMonthYearDots => text.split('.').collect(),
    };
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let (year, month, day) = match (format, parts.as_slice()) {
        (DateFormat::Iso, [y, m, d]) if y.len() == 4 => (number(y), number(m), number(d)),
        (DateFormat::DayMonthYear | DateFormat::DayMonthYearDots, [d, m, y]) if y.len() == 4 => {
            (number(y), number(m), number(d))
        }
        (DateFormat::MonthDayYear, [m, d, y]) if y.len() == 4 => (number(y), number(m), number(d)),
        _ => (None, None, None),
    };
    match (year, month, day) {
        (Some(y), Some(m), Some(d)) if (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m) => {
            Ok(format!("{y:04}-{m:02}-{d:02}"))
        }
        _ => Err(format!("`{text}` is not a date in the import's format")),
    }
}

/// How a bank writes amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFormat {
    pub decimal: char,
    /// `None` when the bank writes no grouping.
    pub thousands: Option<char>,
    /// Whether the bank shows money going out as a positive number.
    pub positive_is_outflow: bool,
}

/// The amount as a plain decimal string (`-1234.56`), in the ledger's sign
/// convention (outflow negative). Grouping is accepted only between groups
/// of three digits.
pub fn normalize_amount(text: &str, format: NumberFormat) -> Result<String, String> {
    let raw = text.trim();
    let refuse = || format!("`{raw}` is not an amount in the import's format");
    let (negative, unsigned) = if let Some(rest) = raw.strip_prefix('-') {
        (true, rest)
    } else if let Some(inner) = raw.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        (true, inner)
    } else {
        (false, raw.strip_prefix('+').unwrap_or(raw))
    };
    let (whole, fraction) = match unsigned.rsplit_once(format.decimal) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits: String = match format.thousands {
        Some(separator) if whole.contains(separator) => {
            let groups: Vec<&str> = whole.split(separator).collect();
            let shaped =
                groups.first().is_some_and(|g| (1..=3).contains(&g.len())) && groups[1..].iter().all(|g| g.len() == 3);
            if !shaped {
                return Err(refuse());
            }
            groups.concat()
        }
        _ => whole.to_string(),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(&digits) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(refuse());
    }
    let outflow = negative != format.positive_is_outflow;
    let zero = digits.bytes().all(|b| b == b'0') && fraction.is_none_or(|f| f.bytes().all(|b| b == b'0'));
    let sign = if outflow && !zero { "-" } else { "" };
    Ok(match fraction {
        Some(fraction) => format!("{sign}{digits}.{fraction}"),
        None => format!("{sign}{digits}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_delimiters_and_line_breaks() {
        let text = "Date,Payee,Amount\r\n2026-11-01,\"Smith, J\",-1.00\n\n2026-11-02,\"He said \"\"hi\"\"\n\",2\n";
        let records = read_csv(text, ',').expect("csv");
        assert_eq!(records.len(), 3);
        assert_eq!(records[1], ["2026-11-01", "Smith, J", "-1.00"]);
        assert_eq!(records[2], ["2026-11-02", "He said \"hi\"\n", "2"]);
        assert_eq!(read_csv("a;b\n1;2", ';').expect("csv")[1], ["1", "2"]);
        assert!(read_csv("a,\"b\n", ',').is_err());
        assert!(read_csv("a,b\"c\n", ',').is_err());
        assert_eq!(read_csv("a,,\n", ',').expect("csv")[0], ["a", "", ""]);
    }

    #[test]
    fn dates_in_each_format() {
        assert_eq!(parse_date("2026-11-05", DateFormat::Iso).as_deref(), Ok("2026-11-05"));
        assert_eq!(parse_date("05/11/2026", DateFormat::DayMonthYear).as_deref(), Ok("2026-11-05"));
        assert_eq!(parse_date("11/05/2026", DateFormat::MonthDayYear).as_deref(), Ok("2026-11-05"));
        assert_eq!(parse_date("5.11.2026", DateFormat::DayMonthYearDots).as_deref(), Ok("2026-11-05"));
        assert_eq!(parse_date("29/02/2028", DateFormat::DayMonthYear).as_deref(), Ok("2028-02-29"));
        assert!(parse_date("29/02/2026", DateFormat::DayMonthYear).is_err());
        assert!(parse_date("31/04/2026", DateFormat::DayMonthYear).is_err());
        assert!(parse_date("2026-13-01", DateFormat::Iso).is_err());
        assert!(parse_date("05/11/26", DateFormat::DayMonthYear).is_err());
    }

    #[test]
    fn amounts_with_separators_and_signs() {
        let us = NumberFormat { decimal: '.', thousands: Some(','), positive_is_outflow: false };
        let de = NumberFormat { decimal: ',', thousands: Some('.'), positive_is_outflow: false };
        let card = NumberFormat { decimal: '.', thousands: None, positive_is_outflow: true };
        assert_eq!(normalize_amount("-1,234.56", us).as_deref(), Ok("-1234.56"));
        assert_eq!(normalize_amount("1.234,5", de).as_deref(), Ok("1234.5"));
        assert_eq!(normalize_amount("(12.00)", us).as_deref(), Ok("-12.00"));
        assert_eq!(normalize_amount("12.00", card).as_deref(), Ok("-12.00"));
        assert_eq!(normalize_amount("-12.00", card).as_deref(), Ok("12.00"));
        assert_eq!(normalize_amount("0.00", card).as_deref(), Ok("0.00"));
        assert!(normalize_amount("12,34,5.00", us).is_err());
        assert!(normalize_amount("1,2345.00", us).is_err());
        assert!(normalize_amount("12a", us).is_err());
        assert!(normalize_amount("", us).is_err());
        assert!(normalize_amount("1e3", us).is_err());
    }
}
