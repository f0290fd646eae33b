// Unit tests for web/js/money.js: node --test web/tests/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_MINOR,
  MoneyError,
  formatApi,
  formatMoney,
  fromApi,
  parseAmountInput,
  parseDecimal,
  splitRemainder,
  sum,
  toChartNumber,
  toDecimalString,
  tryParseAmountInput,
  tryParseDecimal,
} from '../js/money.js';

test('parseDecimal reads decimal strings into BigInt minor units', () => {
  assert.equal(parseDecimal('12.34', 2), 1234n);
  assert.equal(parseDecimal('-42.10', 2), -4210n);
  assert.equal(parseDecimal('+5', 2), 500n);
  assert.equal(parseDecimal('0.07', 2), 7n);
  assert.equal(parseDecimal('1500', 0), 1500n);
  assert.equal(parseDecimal('1.234', 3), 1234n);
  assert.equal(parseDecimal('0.0001', 4), 1n);
  assert.equal(parseDecimal('  3.5 ', 2), 350n);
  assert.equal(parseDecimal('.5', 2), 50n);
  assert.equal(parseDecimal('5.', 2), 500n);
  assert.equal(parseDecimal('\u221212.00', 2), -1200n);
});

test('parseDecimal: minus zero is zero', () => {
  assert.equal(parseDecimal('-0.00', 2), 0n);
  assert.equal(toDecimalString(parseDecimal('-0', 2), 2), '0.00');
});

test('parseDecimal accepts trailing zeros beyond the exponent', () => {
  assert.equal(parseDecimal('1.500', 2), 150n);
  assert.equal(parseDecimal('1.0', 0), 1n);
  assert.equal(parseDecimal('7.000000', 3), 7000n);
});

test('parseDecimal refuses excess precision instead of rounding', () => {
  assert.throws(() => parseDecimal('12.345', 2), (e) => e instanceof MoneyError && e.code === 'precision' && /at most 2 fraction digits/.test(e.message));
  assert.throws(() => parseDecimal('1.5', 0), (e) => e.code === 'precision' && /no fraction digits/.test(e.message));
  assert.throws(() => parseDecimal('0.0005', 3), (e) => e.code === 'precision');
});

test('parseDecimal refuses what is not a plain decimal', () => {
  for (const bad of ['', ' ', '-', '.', '12,34', '1,234.00', '1e3', '1 000', 'abc', '--1', '+-1', '1.2.3', '0x10', 'Infinity', 'NaN', '١٢']) {
    assert.throws(() => parseDecimal(bad, 2), (e) => e instanceof MoneyError && e.code === 'format', `"${bad}"`);
  }
  assert.throws(() => parseDecimal(12.34, 2), (e) => e.code === 'type');
});

test('parseDecimal enforces the ±(2^63 − 1) range', () => {
  assert.equal(parseDecimal('92233720368547758.07', 2), MAX_MINOR);
  assert.equal(parseDecimal('-92233720368547758.07', 2), -MAX_MINOR);
  assert.throws(() => parseDecimal('92233720368547758.08', 2), (e) => e.code === 'range');
  assert.throws(() => parseDecimal('9223372036854775808', 0), (e) => e.code === 'range');
});

test('parseDecimal is exact where floats are not', () => {
  // 0.1 + 0.2 !== 0.3 in floating point; in minor units it is.
  assert.equal(parseDecimal('0.1', 2) + parseDecimal('0.2', 2), parseDecimal('0.3', 2));
  // 2^53 + 1 cents cannot be a Number; it survives here.
  assert.equal(parseDecimal('90071992547409.93', 2), 9007199254740993n);
  assert.equal(toDecimalString(9007199254740993n, 2), '90071992547409.93');
});

test('parseDecimal refuses a bad exponent', () => {
  assert.throws(() => parseDecimal('1', -1), (e) => e.code === 'exponent');
  assert.throws(() => parseDecimal('1', 1.5), (e) => e.code === 'exponent');
});

test('tryParseDecimal returns null instead of throwing', () => {
  assert.equal(tryParseDecimal('1.234', 2), null);
  assert.equal(tryParseDecimal('1.23', 2), 123n);
});

test('toDecimalString writes exactly `exponent` fraction digits', () => {
  assert.equal(toDecimalString(0n, 2), '0.00');
  assert.equal(toDecimalString(7n, 2), '0.07');
  assert.equal(toDecimalString(-7n, 2), '-0.07');
  assert.equal(toDecimalString(-4210n, 2), '-42.10');
  assert.equal(toDecimalString(150050n, 2), '1500.50');
  assert.equal(toDecimalString(1500n, 0), '1500');
  assert.equal(toDecimalString(-1500n, 0), '-1500');
  assert.equal(toDecimalString(1234n, 3), '1.234');
  assert.equal(toDecimalString(1n, 4), '0.0001');
  assert.equal(toDecimalString(MAX_MINOR, 2), '92233720368547758.07');
  assert.equal(toDecimalString(12, 2), '0.12');
});

test('toDecimalString and parseDecimal round-trip', () => {
  for (const exponent of [0, 2, 3, 4]) {
    for (const v of [0n, 1n, -1n, 99n, -100n, 123456789n, -987654321012n, MAX_MINOR, -MAX_MINOR]) {
      assert.equal(parseDecimal(toDecimalString(v, exponent), exponent), v);
    }
  }
});

test('toDecimalString refuses unsafe Numbers', () => {
  assert.throws(() => toDecimalString(0.1, 2), MoneyError);
  assert.throws(() => toDecimalString(2 ** 60, 2), MoneyError);
});

test('formatMoney groups thousands and appends the currency code', () => {
  assert.equal(formatMoney(123456789n, 2, 'EUR'), '1,234,567.89 EUR');
  assert.equal(formatMoney(-4210n, 2, 'EUR'), '-42.10 EUR');
  assert.equal(formatMoney(0n, 2, 'EUR'), '0.00 EUR');
  assert.equal(formatMoney(1500n, 0, 'JPY'), '1,500 JPY');
  assert.equal(formatMoney(100n, 0, 'JPY'), '100 JPY');
  assert.equal(formatMoney(1234567n, 3, 'BHD'), '1,234.567 BHD');
  assert.equal(formatMoney(-100000000n, 2, 'EUR'), '-1,000,000.00 EUR');
  assert.equal(formatMoney(123456n, 2), '1,234.56');
  assert.equal(formatMoney(123456n, 2, 'EUR', { grouping: '' }), '1234.56 EUR');
  assert.equal(formatMoney(123456n, 2, 'EUR', { grouping: '.', decimal: ',' }), '1.234,56 EUR');
  assert.equal(formatMoney(500n, 2, 'EUR', { plus: true }), '+5.00 EUR');
  assert.equal(formatMoney(0n, 2, 'EUR', { plus: true }), '0.00 EUR');
});

test('fromApi reads the decimal string, not the float minor_units', () => {
  assert.equal(fromApi({ amount: '-42.10', minor_units: -4210 }, 2), -4210n);
  assert.equal(fromApi({ amount: '1500', minor_units: 1500 }, 0), 1500n);
  // JSON.parse would turn this minor_units into 9007199254740992.
  const parsed = JSON.parse('{"amount":"90071992547409.93","minor_units":9007199254740993}');
  assert.equal(fromApi(parsed, 2), 9007199254740993n);
  assert.equal(fromApi(null, 2), null);
  assert.equal(formatApi({ amount: '1500.50', minor_units: 150050 }, 2, 'EUR'), '1,500.50 EUR');
});

test('sum adds BigInt minor units', () => {
  assert.equal(sum([1n, 2n, -3n]), 0n);
  assert.equal(sum([]), 0n);
});

test('splitRemainder computes the unassigned part in minor units', () => {
  assert.deepEqual(splitRemainder('-100.00', ['-60.00', '-40'], 2), { remainder: 0n, errors: [] });
  assert.deepEqual(splitRemainder('-100.00', ['-60.00', '-39.99'], 2), { remainder: -1n, errors: [] });
  assert.deepEqual(splitRemainder('-100.00', ['-60.00', ''], 2), { remainder: -4000n, errors: [] });
  assert.deepEqual(splitRemainder('-0.30', ['-0.10', '-0.20'], 2), { remainder: 0n, errors: [] });
  assert.deepEqual(splitRemainder('-100', ['-60.001', '-40'], 2), { remainder: null, errors: [0] });
  assert.deepEqual(splitRemainder('x', ['1'], 2), { remainder: null, errors: [] });
});

test('parseAmountInput reads what formatMoney writes in a field ("1,200.00")', () => {
  assert.equal(parseAmountInput('1,200.00', 2), 120000n);
  assert.equal(parseAmountInput('-1,234,567.89', 2), -123456789n);
  assert.equal(parseAmountInput('\u22121,000', 2), -100000n);
  assert.equal(parseAmountInput('+12,345', 0), 12345n);
  assert.equal(parseAmountInput(' 1,500 ', 0), 1500n);
  assert.equal(parseAmountInput('1,234.567', 3), 1234567n);
  assert.equal(parseAmountInput('999,999.', 2), 99999900n);
});

test('parseAmountInput is parseDecimal for plain digits', () => {
  for (const text of ['1200.00', '-42.10', '.5', '5.', '0', '92233720368547758.07']) {
    assert.equal(parseAmountInput(text, 2), parseDecimal(text, 2), text);
  }
  assert.throws(() => parseAmountInput('12.345', 2), (e) => e instanceof MoneyError && e.code === 'precision');
  assert.throws(() => parseAmountInput('1,200.001', 2), (e) => e.code === 'precision');
  assert.throws(() => parseAmountInput('92,233,720,368,547,758.08', 2), (e) => e.code === 'range');
  assert.throws(() => parseAmountInput(1200, 2), (e) => e.code === 'type');
});

test('parseAmountInput refuses commas that are not thousands separators', () => {
  for (const bad of ['12,34', '1,20.00', '1,2345', '1,,200', ',100', '1,000,', '1234,567', '1,000.00,5', '1.000,00', '1 000', '-,100', '0,5']) {
    assert.throws(() => parseAmountInput(bad, 2), (e) => e instanceof MoneyError && e.code === 'format', `"${bad}"`);
  }
  assert.equal(tryParseAmountInput('12,34', 2), null);
  assert.equal(tryParseAmountInput('1,234', 2), 123400n);
});

test('formatMoney without a currency and parseAmountInput round-trip', () => {
  for (const exponent of [0, 2, 3]) {
    for (const v of [0n, 7n, -7n, 999n, 1000n, -1000n, 123456n, 120000n, -987654321012n, MAX_MINOR, -MAX_MINOR]) {
      const shown = formatMoney(v, exponent);
      assert.equal(parseAmountInput(shown, exponent), v, shown);
    }
  }
  // The assigned cell of 1,200.00 EUR shows the same text as every other figure.
  assert.equal(formatMoney(parseAmountInput('1200', 2), 2), '1,200.00');
});

test('splitRemainder takes grouped amounts as typed or prefilled', () => {
  assert.deepEqual(splitRemainder('-1,200.00', ['-1,000.00', '-200'], 2), { remainder: 0n, errors: [] });
  assert.deepEqual(splitRemainder('-1,200.00', ['-1,00.00', '-200'], 2), { remainder: null, errors: [0] });
});

test('toChartNumber gives exact integers or refuses', () => {
  assert.equal(toChartNumber(-4210n), -4210);
  assert.throws(() => toChartNumber(9007199254740993n), MoneyError);
});
