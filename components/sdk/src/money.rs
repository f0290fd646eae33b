//! Money as integer minor units with the currency's exponent. Never floats:
//! amounts are parsed from decimal strings, excess precision is refused
//! rather than rounded, and splitting an amount hands out the remainder
//! unit by unit so that the parts always sum to the whole.

use std::fmt;

/// An ISO 4217 currency and its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub exponent: u8,
}

/// Active ISO 4217 codes whose exponent is not 2.
const NOT_TWO: &[(&str, u8)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLF", 4),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// Active ISO 4217 codes with exponent 2.
const TWO: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND",
    "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK",
    "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON",
    "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD",
    "YER", "ZAR", "ZMW", "ZWG",
];

impl Currency {
    /// The currency for an ISO 4217 code (upper case), if it is an active one.
    pub fn from_code(code: &str) -> Option<Currency> {
        if let Some((code, exponent)) = NOT_TWO.iter().find(|(c, _)| *c == code) {
            return Some(Currency { code, exponent: *exponent });
        }
        TWO.iter().find(|c| **c == code).map(|code| Currency { code, exponent: 2 })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a decimal number: `-12.34` is, `12,34`, `1e3`, ` 1` and `` are not.
    NotADecimal,
    /// More fraction digits than the currency has.
    TooPrecise { exponent: u8 },
    /// Beyond ±(2^63 − 1) minor units.
    OutOfRange,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::NotADecimal => f.write_str("not a decimal amount (digits, an optional sign and point)"),
            MoneyError::TooPrecise { exponent: 0 } => f.write_str("this currency has no fraction digits"),
            MoneyError::TooPrecise { exponent } => write!(f, "at most {exponent} fraction digits"),
            MoneyError::OutOfRange => f.write_str("amount out of range"),
        }
    }
}

/// Parses a decimal string (`-12.5`, `0.07`, `100`) into minor units of a
/// currency with `exponent`. Trailing zeros beyond the exponent are fine
/// (`1.50` in JPY is refused, `1.500` in EUR is 150).
pub fn parse(text: &str, exponent: u8) -> Result<i64, MoneyError> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || fraction.is_some_and(|f| f.is_empty() || !digits(f)) {
        return Err(MoneyError::NotADecimal);
    }
    let fraction = fraction.unwrap_or("");
    let significant = fraction.trim_end_matches('0');
    if significant.len() > usize::from(exponent) {
        return Err(MoneyError::TooPrecise { exponent });
    }
    let mut minor: i64 = 0;
    let push = |minor: i64, digit: u8| minor.checked_mul(10).and_then(|m| m.checked_add(i64::from(digit - b'0')));
    for digit in whole.bytes() {
        minor = push(minor, digit).ok_or(MoneyError::OutOfRange)?;
    }
    for index in 0..usize::from(exponent) {
        let digit = significant.as_bytes().get(index).copied().unwrap_or(b'0');
        minor = push(minor, digit).ok_or(MoneyError::OutOfRange)?;
    }
    Ok(if negative { -minor } else { minor })
}

/// Minor units as a decimal string with exactly `exponent` fraction digits.
pub fn format(minor: i64, exponent: u8) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    let exponent = usize::from(exponent);
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{whole}.{fraction}")
}

/// Splits `total` in proportion to `weights` (all ≥ 0, not all 0): each part
/// gets its floor share, then the leftover units go one by one to the parts
/// with the largest remainders (ties: the earlier part). The parts sum to
/// `total` exactly and carry its sign.
pub fn allocate(total: i64, weights: &[u64]) -> Option<Vec<i64>> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return None;
    }
    let magnitude = u128::from(total.unsigned_abs());
    let mut parts: Vec<u128> = weights.iter().map(|w| magnitude * u128::from(*w) / sum).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainder first; stable sort keeps earlier parts first on ties.
    order.sort_by_key(|&i| std::cmp::Reverse(magnitude * u128::from(weights[i]) % sum));
    let handed: u128 = parts.iter().sum();
    for &i in order.iter().take((magnitude - handed) as usize) {
        parts[i] += 1;
    }
    let sign = if total < 0 { -1 } else { 1 };
    // Each part is at most |total|, so it fits in i64 (and -(i64::MIN) only
    // arises for a single part equal to total).
    Some(
        parts
            .into_iter()
            .map(|p| if p == u128::from(total.unsigned_abs()) { total } else { sign * p as i64 })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currencies_know_their_exponent() {
        assert_eq!(Currency::from_code("JPY").map(|c| c.exponent), Some(0));
        assert_eq!(Currency::from_code("EUR").map(|c| c.exponent), Some(2));
        assert_eq!(Currency::from_code("BHD").map(|c| c.exponent), Some(3));
        assert_eq!(Currency::from_code("eur"), None);
        assert_eq!(Currency::from_code("XXX"), None);
    }

    #[test]
    fn parsing_is_exact_and_strict() {
        assert_eq!(parse("12.34", 2), Ok(1234));
        assert_eq!(parse("-0.07", 2), Ok(-7));
        assert_eq!(parse("+5", 2), Ok(500));
        assert_eq!(parse("1.500", 2), Ok(150));
        assert_eq!(parse("1500", 0), Ok(1500));
        assert_eq!(parse("1.5", 0), Err(MoneyError::TooPrecise { exponent: 0 }));
        assert_eq!(parse("1.0", 0), Ok(1));
        assert_eq!(parse("0.001", 3), Ok(1));
        assert_eq!(parse("0.0001", 3), Err(MoneyError::TooPrecise { exponent: 3 }));
        assert_eq!(parse("12.345", 2), Err(MoneyError::TooPrecise { exponent: 2 }));
        for bad in ["", "-", ".5", "5.", "1,5", "1e3", " 1", "1 ", "--1", "0x10", "1.2.3", "NaN"] {
            assert_eq!(parse(bad, 2), Err(MoneyError::NotADecimal), "{bad:?}");
        }
        assert_eq!(parse("92233720368547758.07", 2), Ok(i64::MAX));
        assert_eq!(parse("92233720368547758.08", 2), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn formatting_pads_the_fraction() {
        assert_eq!(format(-7, 2), "-0.07");
        assert_eq!(format(1234, 2), "12.34");
        assert_eq!(format(1500, 0), "1500");
        assert_eq!(format(1, 3), "0.001");
        assert_eq!(format(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn allocation_hands_out_the_remainder() {
        assert_eq!(allocate(100, &[1, 1, 1]), Some(vec![34, 33, 33]));
        assert_eq!(allocate(-100, &[1, 1, 1]), Some(vec![-34, -33, -33]));
        assert_eq!(allocate(5, &[0, 1]), Some(vec![0, 5]));
        assert_eq!(allocate(5, &[0, 0]), None);
        assert_eq!(allocate(i64::MIN, &[1]), Some(vec![i64::MIN]));
    }

    proptest! {
        #[test]
        fn format_then_parse_is_the_identity(minor in any::<i64>().prop_filter("-(MIN) overflows", |m| *m != i64::MIN), exponent in 0u8..=4) {
            prop_assert_eq!(parse(&format(minor, exponent), exponent), Ok(minor));
        }

        #[test]
        fn extra_precision_is_refused_never_rounded(whole in 0u32..1_000_000, fraction in 1u32..10, exponent in 0u8..=3) {
            let digits = "0".repeat(usize::from(exponent));
            let text = format!("{whole}.{digits}{fraction}");
            prop_assert_eq!(parse(&text, exponent), Err(MoneyError::TooPrecise { exponent }));
        }

        #[test]
        fn allocated_parts_sum_to_the_total_and_stay_fair(
            total in any::<i64>(),
            weights in proptest::collection::vec(0u64..1_000, 1..12),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let parts = allocate(total, &weights).expect("parts");
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(total));
            let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            for (part, weight) in parts.iter().zip(&weights) {
                // Each part is within one unit of its exact share.
                let exact_times_sum = i128::from(total) * i128::from(*weight);
                let diff = (i128::from(*part) * sum - exact_times_sum).abs();
                prop_assert!(diff < sum, "part {} for weight {} of {}", part, weight, sum);
                if *weight == 0 { prop_assert_eq!(*part, 0); }
            }
        }
    }
}
