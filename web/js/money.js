// Money helpers. Amounts live as BigInt minor units (cents, yen, fils…) and
// as decimal strings; they never pass through a JavaScript Number, so no
// amount is ever rounded by floating point.
//
// The API's rules (docs/api.md, "Money"): a request amount is a JSON string
// with an optional sign, digits, and optionally a point followed by digits;
// the budget's currency fixes the exponent (EUR 2, JPY 0, BHD 3); excess
// precision is refused, never rounded (trailing zeros are fine); the range is
// ±(2^63 − 1) minor units. Answers carry {amount, minor_units}, where
// `amount` is the decimal string padded to the exponent.

export const MAX_MINOR = (1n << 63n) - 1n;
export const MIN_MINOR = -MAX_MINOR;

export class MoneyError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'MoneyError';
    this.code = code;
  }
}

function checkExponent(exponent) {
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > 18) {
    throw new MoneyError(`invalid currency exponent ${exponent}`, 'exponent');
  }
}

// Characters a person may type for a minus sign: ASCII hyphen-minus and
// U+2212 MINUS SIGN (which formatMoney never writes, but copy and paste from
// other programs does).
const DECIMAL = /^([+\-\u2212]?)(\d*)(?:\.(\d*))?$/;

/**
 * Parse a decimal string ("12.34", "-0.5", "+7", "1500") into BigInt minor
 * units for a currency with `exponent` fraction digits.
 *
 * Leading and trailing white space is ignored. A bare ".5" or "5." is
 * accepted as typed input (the canonical string sent to the API is always
 * produced by toDecimalString). Refused with a MoneyError: anything else
 * (thousands separators, a comma decimal point, exponents, empty input),
 * more fraction digits than the exponent allows unless the extra ones are
 * zeros ("1.500" in EUR is fine, "12.345" is not), and values outside
 * ±(2^63 − 1) minor units.
 */
export function parseDecimal(input, exponent) {
  checkExponent(exponent);
  if (typeof input !== 'string') {
    throw new MoneyError('an amount must be a string', 'type');
  }
  const text = input.trim();
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
    throw new MoneyError('not a decimal amount (digits, an optional sign and point)', 'format');
  }
  const negative = m[1] === '-' || m[1] === '\u2212';
  const whole = m[2] === '' ? '0' : m[2];
  let frac = m[3] ?? '';
  if (frac.length > exponent) {
    const extra = frac.slice(exponent);
    if (/[^0]/.test(extra)) {
      throw new MoneyError(
        exponent === 0 ? 'this currency has no fraction digits' : `at most ${exponent} fraction digits`,
        'precision',
      );
    }
    frac = frac.slice(0, exponent);
  }
  frac = frac.padEnd(exponent, '0');
  let minor = BigInt(whole + frac);
  if (negative) minor = -minor;
  if (minor > MAX_MINOR || minor < MIN_MINOR) {
    throw new MoneyError('amount out of range', 'range');
  }
  // -0 does not exist for BigInt: "-0.00" is plain zero.
  return minor;
}

// The display form of formatMoney: digits grouped by three with commas
// ("1,234,567.89"), as opposed to plain digits.
const GROUPED = /^([+\-\u2212]?)(\d{1,3}(?:,\d{3})+)(\.\d*)?$/;

/**
 * Parse an amount a person typed into a form field or an inline cell. The
 * same as parseDecimal, and it also takes the display form formatMoney
 * writes, with "," between groups of three digits ("1,200.00"), so a field
 * can show an amount exactly as the rest of the page does and read it back:
 * parseAmountInput(formatMoney(m, e), e) === m. A comma anywhere else
 * ("1,20.00", "12,34", "1,,200") is refused (MoneyError 'format').
 */
export function parseAmountInput(input, exponent) {
  checkExponent(exponent);
  if (typeof input !== 'string') {
    throw new MoneyError('an amount must be a string', 'type');
  }
  const text = input.trim();
  if (!text.includes(',')) return parseDecimal(text, exponent);
  const m = GROUPED.exec(text);
  if (!m) {
    throw new MoneyError('a comma may only separate groups of three digits (1,234.56); the decimal point is "."', 'format');
  }
  return parseDecimal(m[1] + m[2].replaceAll(',', '') + (m[3] ?? ''), exponent);
}

/** Like parseAmountInput, but returns null instead of throwing. */
export function tryParseAmountInput(input, exponent) {
  try {
    return parseAmountInput(input, exponent);
  } catch (e) {
    if (e instanceof MoneyError) return null;
    throw e;
  }
}

/** Like parseDecimal, but returns null instead of throwing. */
export function tryParseDecimal(input, exponent) {
  try {
    return parseDecimal(input, exponent);
  } catch (e) {
    if (e instanceof MoneyError) return null;
    throw e;
  }
}

function toBigInt(minor) {
  if (typeof minor === 'bigint') return minor;
  if (typeof minor === 'number' && Number.isSafeInteger(minor)) return BigInt(minor);
  if (typeof minor === 'string' && /^-?\d+$/.test(minor)) return BigInt(minor);
  throw new MoneyError('minor units must be a BigInt (or a safe integer)', 'type');
}

/**
 * BigInt minor units → the canonical decimal string with exactly `exponent`
 * fraction digits, as the API writes it: -4210n, 2 → "-42.10"; 1500n, 0 →
 * "1500". No grouping; this is the form to send in requests.
 */
export function toDecimalString(minor, exponent) {
  checkExponent(exponent);
  const value = toBigInt(minor);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : digits.slice(0, digits.length - exponent);
  const frac = exponent === 0 ? '' : digits.slice(digits.length - exponent);
  return (negative ? '-' : '') + whole + (frac ? '.' + frac : '');
}

function group(whole, separator) {
  if (!separator) return whole;
  let out = '';
  for (let i = 0; i < whole.length; i++) {
    if (i > 0 && (whole.length - i) % 3 === 0) out += separator;
    out += whole[i];
  }
  return out;
}

/**
 * Display form: "1,234.56 EUR", "-42.10 EUR", "1,500 JPY". Without a
 * currency ("1,234.56") it is also what amount fields show; parseAmountInput
 * reads it back.
 * Options: grouping (default ","; pass "" for none), decimal (default "."),
 * currency (the ISO code to append; omit for none), plus (true: "+12.00" for
 * positive amounts).
 */
export function formatMoney(minor, exponent, currency, options = {}) {
  const { grouping = ',', decimal = '.', plus = false } = options;
  const text = toDecimalString(minor, exponent);
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const [whole, frac] = body.split('.');
  const value = toBigInt(minor);
  const sign = negative ? '-' : plus && value > 0n ? '+' : '';
  const number = sign + group(whole, grouping) + (frac !== undefined ? decimal + frac : '');
  return currency ? `${number} ${currency}` : number;
}

/**
 * An API money object {amount, minor_units} → BigInt minor units. The
 * decimal string is the source: minor_units is a JSON number, which
 * JSON.parse turns into a float, exact only up to 2^53.
 */
export function fromApi(money, exponent) {
  if (money === null || money === undefined) return null;
  if (typeof money === 'string') return parseDecimal(money, exponent);
  if (typeof money.amount === 'string') return parseDecimal(money.amount, exponent);
  throw new MoneyError('not an API amount object', 'type');
}

/** Display an API money object directly. */
export function formatApi(money, exponent, currency, options) {
  const minor = fromApi(money, exponent);
  return minor === null ? '' : formatMoney(minor, exponent, currency, options);
}

/** Sum BigInt minor units. */
export function sum(values) {
  let total = 0n;
  for (const v of values) total += toBigInt(v);
  return total;
}

/**
 * Split editor arithmetic: how much of `total` the lines leave unaccounted
 * for. Every argument is an amount as typed (parseAmountInput: plain or
 * grouped, "1,200.00"); blank lines count as 0.
 * Returns {remainder: BigInt|null, errors: [index…]}: remainder is null when
 * the total or any line does not parse.
 */
export function splitRemainder(totalText, lineTexts, exponent) {
  const errors = [];
  const total = tryParseAmountInput(totalText, exponent);
  let lines = 0n;
  lineTexts.forEach((text, i) => {
    if (text.trim() === '') return;
    const v = tryParseAmountInput(text, exponent);
    if (v === null) errors.push(i);
    else lines += v;
  });
  if (total === null || errors.length) return { remainder: null, errors };
  return { remainder: total - lines, errors };
}

/** -1n, 0n or 1n. */
export function signOf(minor) {
  const v = toBigInt(minor);
  return v < 0n ? -1 : v > 0n ? 1 : 0;
}

/**
 * For charts only: Chart.js plots Numbers. Give it integer minor units (exact
 * below 2^53) and label the axis and tooltips with formatMoney. Refuses values
 * a Number cannot hold exactly.
 */
export function toChartNumber(minor) {
  const v = toBigInt(minor);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MoneyError('amount too large to chart exactly', 'range');
  }
  return Number(v);
}
