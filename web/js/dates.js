// Dates and months as the API writes them: YYYY-MM-DD and YYYY-MM. Month
// arithmetic is done on integers, never through Date objects in the local
// time zone.

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isMonth(text) {
  return typeof text === 'string' && MONTH.test(text);
}

export function isDate(text) {
  const m = typeof text === 'string' && DATE.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= daysInMonth(y, mo);
}

export function daysInMonth(year, month) {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** "2026-11" + 1 → "2026-12"; + -11 → "2025-12". */
export function addMonths(month, delta) {
  const m = MONTH.exec(month);
  if (!m) throw new Error(`not a month: ${month}`);
  const index = Number(m[1]) * 12 + (Number(m[2]) - 1) + delta;
  const year = Math.floor(index / 12);
  const mo = (index % 12) + 1;
  return `${String(year).padStart(4, '0')}-${String(mo).padStart(2, '0')}`;
}

/** Today in an IANA time zone (the budget's), as YYYY-MM-DD. */
export function todayIn(timeZone) {
  const now = new Date();
  try {
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(now);
    const get = (t) => parts.find((p) => p.type === t).value;
    return `${get('year')}-${get('month')}-${get('day')}`;
  } catch {
    return now.toISOString().slice(0, 10);
  }
}

export function currentMonth(timeZone) {
  return todayIn(timeZone).slice(0, 7);
}

/** "2026-11" → "November 2026" (in the browser's language). */
export function monthLabel(month) {
  const m = MONTH.exec(month);
  if (!m) return month;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  return new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(date);
}

/** "2026-11" → "Nov 2026". */
export function shortMonthLabel(month) {
  const m = MONTH.exec(month);
  if (!m) return month;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  return new Intl.DateTimeFormat(undefined, { month: 'short', year: 'numeric', timeZone: 'UTC' }).format(date);
}
