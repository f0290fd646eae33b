// CSV import: account, CSV text (pasted or read from a file), the column
// mapping, a dry-run preview, then the import.

import { ledger } from '../api.js';
import { announce, busy, clear, empty, field, h, loading, select, showError } from '../dom.js';
import { formatMoney, fromApi } from '../money.js';
import { focusHeading } from '../router.js';
import { loadBudget } from '../state.js';

const DELIMITERS = [
  { value: ',', label: 'Comma ,' },
  { value: ';', label: 'Semicolon ;' },
  { value: '\t', label: 'Tab' },
  { value: '|', label: 'Pipe |' },
];
const DATE_FORMATS = ['YYYY-MM-DD', 'DD/MM/YYYY', 'MM/DD/YYYY', 'DD.MM.YYYY'];
const THOUSANDS = [
  { value: '', label: 'None' },
  { value: ',', label: 'Comma ,' },
  { value: '.', label: 'Point .' },
  { value: ' ', label: 'Space' },
  { value: "'", label: "Apostrophe '" },
];

/** The first record of a CSV text, with quotes handled ("a ""b""", c). */
export function parseHeader(text, delimiter) {
  const out = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cell += ch;
      }
    } else if (ch === '"' && cell === '') {
      quoted = true;
    } else if (ch === delimiter) {
      out.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      break;
    } else {
      cell += ch;
    }
  }
  out.push(cell);
  if (out.length === 1 && out[0] === '') return [];
  return out.map((c) => c.trim()).map((c, i) => (i === 0 ? c.replace(/^\uFEFF/, '') : c));
}

function guess(columns, pattern) {
  return columns.find((c) => pattern.test(c)) || '';
}

export async function importView(ctx) {
  const { main, params, stale } = ctx;
  main.append(h('h1', {}, 'Import a bank statement'), loading());
  focusHeading(main);
  let budget, accounts;
  try {
    [budget, accounts] = await Promise.all([loadBudget(params.budget), ledger.accounts(params.budget).then((r) => r.items)]);
  } catch (error) {
    if (stale()) return;
    main.querySelector('.loading')?.remove();
    showError(main.appendChild(h('div')), error, 'Could not load the accounts');
    return;
  }
  if (stale()) return;
  main.querySelector('.loading').remove();
  document.title = `Import · ${budget.name} · Budget`;
  const open = accounts.filter((a) => !a.closed);
  if (!open.length) {
    main.append(empty('Add an account first: an import goes into one account.', h('a', { href: `/app/budgets/${encodeURIComponent(budget.id)}/accounts` }, 'Go to accounts')));
    return;
  }

  const exp = budget.exponent;
  const account = select(open.map((a) => ({ value: a.id, label: a.name })), { id: 'import-account' });
  const file = h('input', { type: 'file', id: 'import-file', accept: '.csv,text/csv,text/plain' });
  const csv = h('textarea', { id: 'import-csv', rows: 8, spellcheck: 'false', placeholder: 'Date,Payee,Amount\n2026-11-01,Employer,2500.00' });
  const delimiter = select(DELIMITERS, { id: 'import-delimiter' });
  const dateColumn = select([], { id: 'map-date', required: true });
  const payeeColumn = select([], { id: 'map-payee' });
  const memoColumn = select([], { id: 'map-memo' });
  const amountColumn = select([], { id: 'map-amount' });
  const outflowColumn = select([], { id: 'map-outflow' });
  const inflowColumn = select([], { id: 'map-inflow' });
  const dateFormat = select(DATE_FORMATS, { id: 'map-date-format' });
  const decimalSep = select([{ value: '.', label: 'Point .' }, { value: ',', label: 'Comma ,' }], { id: 'map-decimal' });
  const thousandsSep = select(THOUSANDS, { id: 'map-thousands' });
  const sign = select([{ value: 'negative_is_outflow', label: 'Negative amounts are money out' }, { value: 'positive_is_outflow', label: 'Positive amounts are money out' }], { id: 'map-sign' });
  const styleSingle = h('input', { type: 'radio', name: 'amount-style', id: 'style-single', value: 'single', checked: true });
  const styleSplit = h('input', { type: 'radio', name: 'amount-style', id: 'style-split', value: 'split' });
  const singleFields = h('div', { class: 'form-grid' }, field('Amount column', amountColumn), field('Sign', sign));
  const splitFields = h('div', { class: 'form-grid', hidden: true }, field('Outflow column', outflowColumn), field('Inflow column', inflowColumn));
  const headerInfo = h('p', { class: 'muted', id: 'header-info', 'aria-live': 'polite' });
  const errors = h('div', { class: 'form-errors' });
  const previewButton = h('button', { type: 'submit', class: 'primary', id: 'preview-import' }, 'Preview (dry run)');
  const importButton = h('button', { type: 'button', id: 'run-import', disabled: true }, 'Import');
  const resultSlot = h('section', { 'aria-labelledby': 'import-result-title', id: 'import-result', 'aria-live': 'polite' });
  let previewedKey = null;

  const styleIsSplit = () => styleSplit.checked;
  const syncStyle = () => {
    singleFields.hidden = styleIsSplit();
    splitFields.hidden = !styleIsSplit();
    invalidate();
  };
  styleSingle.addEventListener('change', syncStyle);
  styleSplit.addEventListener('change', syncStyle);

  function fillColumns() {
    const columns = parseHeader(csv.value, delimiter.value);
    const previous = { date: dateColumn.value, payee: payeeColumn.value, memo: memoColumn.value, amount: amountColumn.value, outflow: outflowColumn.value, inflow: inflowColumn.value };
    const set = (sel, opts, value) => {
      clear(sel).append(...opts.map((o) => h('option', { value: o.value }, o.label)));
      sel.value = opts.some((o) => o.value === value) ? value : opts[0] ? opts[0].value : '';
    };
    const required = columns.map((c) => ({ value: c, label: c }));
    const optional = [{ value: '', label: '(none)' }].concat(required);
    set(dateColumn, required.length ? required : [{ value: '', label: 'Paste or choose a CSV first' }], previous.date || guess(columns, /date|datum|booking/i));
    set(payeeColumn, optional, previous.payee || guess(columns, /payee|name|description|empf|counterparty/i));
    set(memoColumn, optional, previous.memo || guess(columns, /memo|note|reference|verwendung/i));
    set(amountColumn, required.length ? required : [{ value: '', label: '—' }], previous.amount || guess(columns, /amount|betrag|value/i));
    set(outflowColumn, required.length ? required : [{ value: '', label: '—' }], previous.outflow || guess(columns, /out|debit|withdraw/i));
    set(inflowColumn, required.length ? required : [{ value: '', label: '—' }], previous.inflow || guess(columns, /in|credit|deposit/i));
    headerInfo.textContent = columns.length ? `Columns found: ${columns.join(', ')}.` : '';
    invalidate();
  }

  function invalidate() {
    if (previewedKey !== null && previewedKey !== requestKey()) {
      importButton.disabled = true;
    }
  }

  function mapping() {
    const m = {
      date_column: dateColumn.value,
      date_format: dateFormat.value,
      decimal_separator: decimalSep.value,
      thousands_separator: thousandsSep.value,
      delimiter: delimiter.value,
    };
    if (payeeColumn.value) m.payee_column = payeeColumn.value;
    if (memoColumn.value) m.memo_column = memoColumn.value;
    if (styleIsSplit()) {
      m.outflow_column = outflowColumn.value;
      m.inflow_column = inflowColumn.value;
    } else {
      m.amount_column = amountColumn.value;
      m.sign = sign.value;
    }
    return m;
  }

  function requestKey() {
    return JSON.stringify({ a: account.value, c: csv.value, m: mapping() });
  }

  let debounce = null;
  csv.addEventListener('input', () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(fillColumns, 250);
  });
  delimiter.addEventListener('change', fillColumns);
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    csv.value = await f.text();
    fillColumns();
    announce(`Read ${f.name}.`);
  });
  for (const el of [account, dateColumn, payeeColumn, memoColumn, amountColumn, outflowColumn, inflowColumn, dateFormat, decimalSep, thousandsSep, sign]) {
    el.addEventListener('change', invalidate);
  }

  const form = h(
    'form',
    { class: 'card', id: 'import-form', 'aria-label': 'CSV import' },
    h('div', { class: 'form-grid' }, field('Into account', account), field('CSV file', file, 'Or paste the text below.'), field('Delimiter', delimiter)),
    field('CSV text', csv, 'The first row must be the header. At most 5000 rows.'),
    headerInfo,
    h(
      'fieldset',
      {},
      h('legend', {}, 'Columns'),
      h('div', { class: 'form-grid' }, field('Date column', dateColumn), field('Date format', dateFormat), field('Payee column', payeeColumn), field('Memo column', memoColumn)),
      h(
        'fieldset',
        { class: 'radios' },
        h('legend', {}, 'Amounts'),
        h('div', { class: 'check' }, styleSingle, h('label', { for: 'style-single' }, 'One signed amount column')),
        h('div', { class: 'check' }, styleSplit, h('label', { for: 'style-split' }, 'Separate outflow and inflow columns')),
      ),
      singleFields,
      splitFields,
      h('div', { class: 'form-grid' }, field('Decimal separator', decimalSep), field('Thousands separator', thousandsSep)),
    ),
    errors,
    h('div', { class: 'actions' }, previewButton, importButton),
  );

  async function run(dryRun) {
    const key = requestKey();
    const body = { account_id: account.value, csv: csv.value, mapping: mapping(), dry_run: dryRun };
    clear(resultSlot).append(loading(dryRun ? 'Checking the rows…' : 'Importing…'));
    const result = await busy(form, errors, async () => {
      if (!csv.value.trim()) throw new Error('Paste the CSV text or choose a file first.');
      return ledger.importCsv(budget.id, body);
    }, dryRun ? 'The preview failed' : 'The import failed');
    clear(resultSlot);
    if (!result) {
      importButton.disabled = true;
      return;
    }
    renderResult(result);
    if (dryRun) {
      previewedKey = key;
      importButton.disabled = result.added === 0;
      announce(`Preview: ${result.added} to add, ${result.duplicates} duplicate${result.duplicates === 1 ? '' : 's'}, ${result.errors} error${result.errors === 1 ? '' : 's'}.`);
    } else {
      previewedKey = null;
      importButton.disabled = true;
      announce(`Imported: ${result.added} added, ${result.duplicates} duplicate${result.duplicates === 1 ? '' : 's'} skipped, ${result.errors} error${result.errors === 1 ? '' : 's'}.`, 'success');
    }
  }

  function renderResult(result) {
    const title = result.dry_run ? 'Preview (nothing written yet)' : 'Imported';
    const statusLabel = { added: result.dry_run ? 'will be added' : 'added', duplicate: 'duplicate', error: 'error' };
    resultSlot.append(
      h('h2', { id: 'import-result-title' }, title),
      h(
        'p',
        { class: 'import-counts', id: 'import-counts' },
        h('span', { class: 'badge added' }, `${result.added} ${result.dry_run ? 'to add' : 'added'}`),
        ' ',
        h('span', { class: 'badge duplicate' }, `${result.duplicates} duplicate${result.duplicates === 1 ? '' : 's'}`),
        ' ',
        h('span', { class: 'badge error' }, `${result.errors} error${result.errors === 1 ? '' : 's'}`),
      ),
      result.rows.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { id: 'import-rows' },
              h('caption', { class: 'visually-hidden' }, `${title}: rows of the statement`),
              h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'num' }, 'Line'), h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, 'Payee'), h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Message'))),
              h(
                'tbody',
                {},
                result.rows.map((r) =>
                  h(
                    'tr',
                    { dataset: { status: r.status }, class: `row-${r.status}` },
                    h('td', { class: 'num' }, String(r.line)),
                    h('td', { class: 'nowrap' }, r.date || '—'),
                    h('td', {}, r.payee || ''),
                    h('td', { class: 'num' }, r.amount ? formatMoney(fromApi(r.amount, exp), exp, '') : '—'),
                    h('td', {}, h('span', { class: `badge ${r.status}` }, statusLabel[r.status] || r.status)),
                    h('td', {}, r.message || (r.status === 'duplicate' ? 'already imported into this account' : '')),
                  ),
                ),
              ),
            ),
          )
        : empty('The file has no data rows.'),
    );
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run(true);
  });
  importButton.addEventListener('click', () => run(false));
  main.append(form, resultSlot);
  fillColumns();
}
