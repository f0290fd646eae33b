// The transaction dialog (add and edit) with its split editor, the transfer
// dialog and the account dialog.

import { ledger } from '../api.js';
import { todayIn } from '../dates.js';
import { busy, dialogButtons, field, h, openDialog, select } from '../dom.js';
import { formatMoney, fromApi, parseAmountInput, signOf, splitRemainder, toDecimalString } from '../money.js';
import { categoryOptions } from '../state.js';

const SPLIT = '__split';
export const ACCOUNT_TYPES = [
  { value: 'checking', label: 'Checking' },
  { value: 'savings', label: 'Savings' },
  { value: 'credit_card', label: 'Credit card' },
  { value: 'cash', label: 'Cash' },
  { value: 'loan', label: 'Loan' },
];

function categoryChoices(categories, { split = false, current } = {}) {
  const opts = [{ value: '', label: 'Uncategorized' }];
  const grouped = categoryOptions(categories, { includeIncome: true, includeHidden: false });
  // Keep a hidden category selectable when the transaction already has it.
  if (current && !grouped.some((g) => g.options.some((o) => o.value === current))) {
    const c = categories.find((x) => x.id === current);
    if (c) opts.push({ value: c.id, label: `${c.group_name}: ${c.name} (hidden)` });
  }
  const all = opts.concat(grouped);
  if (split) all.push({ value: SPLIT, label: 'Split between categories…' });
  return all;
}

/**
 * The split editor: lines of amount, category and memo, and the remainder
 * (amount − lines) shown live, computed in BigInt minor units.
 */
function splitEditor(budget, categories, amountInput) {
  const exp = budget.exponent;
  const lines = h('div', { class: 'split-lines', role: 'list', 'aria-label': 'Split lines' });
  const remainder = h('output', { class: 'split-remainder', id: 'split-remainder', 'aria-live': 'polite' });
  const rows = [];

  function relabel() {
    rows.forEach((row, i) => {
      row.amount.setAttribute('aria-label', `Line ${i + 1} amount (${budget.currency})`);
      row.category.setAttribute('aria-label', `Line ${i + 1} category`);
      row.memo.setAttribute('aria-label', `Line ${i + 1} memo`);
      row.remove.setAttribute('aria-label', `Remove line ${i + 1}`);
      row.remove.disabled = rows.length <= 2;
    });
  }

  function update() {
    const { remainder: rest, errors } = splitRemainder(amountInput.value, rows.map((r) => r.amount.value), exp);
    rows.forEach((r, i) => r.amount.toggleAttribute('aria-invalid', errors.includes(i)));
    remainder.classList.remove('ok', 'bad');
    if (rest === null) {
      remainder.textContent = errors.length ? `Line ${errors[0] + 1} is not a valid amount (at most ${exp} decimals).` : 'Enter the total amount first.';
      remainder.classList.add('bad');
    } else if (rest === 0n) {
      remainder.textContent = `Remainder: ${formatMoney(0n, exp, budget.currency)}. The lines add up.`;
      remainder.classList.add('ok');
    } else {
      remainder.textContent = `Remainder: ${formatMoney(rest, exp, budget.currency)} still to split.`;
      remainder.classList.add('bad');
    }
    return rest;
  }

  function addLine(value = '') {
    const amount = h('input', { inputmode: 'decimal', class: 'split-amount', autocomplete: 'off', value });
    const category = select(categoryChoices(categories), { class: 'split-category' });
    const memo = h('input', { class: 'split-memo', maxlength: 1000, autocomplete: 'off', placeholder: 'Memo' });
    const remove = h('button', { type: 'button', class: 'icon-button' }, h('span', { 'aria-hidden': 'true' }, '×'));
    const el = h('div', { class: 'split-line', role: 'listitem' }, amount, category, memo, remove);
    const row = { el, amount, category, memo, remove };
    amount.addEventListener('input', update);
    remove.addEventListener('click', () => {
      if (rows.length <= 2) return;
      rows.splice(rows.indexOf(row), 1);
      el.remove();
      relabel();
      update();
      rows[rows.length - 1].amount.focus();
    });
    rows.push(row);
    lines.append(el);
    relabel();
    return row;
  }

  addLine();
  addLine();
  amountInput.addEventListener('input', update);
  const fill = h(
    'button',
    {
      type: 'button',
      class: 'link-button',
      onclick: () => {
        const rest = update();
        if (rest === null) return;
        const target = rows.find((r) => r.amount.value.trim() === '') || rows[rows.length - 1];
        const current = target.amount.value.trim() === '' ? 0n : parseAmountInput(target.amount.value, exp);
        target.amount.value = formatMoney(current + rest, exp, '');
        update();
        target.amount.focus();
      },
    },
    'Put the remainder on a line',
  );
  const el = h(
    'fieldset',
    { class: 'split-editor', id: 'split-editor' },
    h('legend', {}, 'Split lines'),
    h('p', { class: 'hint' }, 'Each line has its own category. The lines must add up to the amount exactly.'),
    lines,
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'add-split-line', onclick: () => addLine().amount.focus() }, 'Add line'), fill),
    remainder,
  );
  update();
  return {
    el,
    update,
    lines: () =>
      rows
        .filter((r) => r.amount.value.trim() !== '')
        .map((r) => {
          const line = { amount: toDecimalString(parseAmountInput(r.amount.value, exp), exp) };
          if (r.category.value) line.category_id = r.category.value;
          if (r.memo.value) line.memo = r.memo.value;
          return line;
        }),
  };
}

/**
 * Add (txn undefined) or edit a transaction. Resolves through onSaved(txn).
 */
export function transactionDialog({ budget, accounts, categories, txn, defaults = {}, onSaved }) {
  const exp = budget.exponent;
  const editing = Boolean(txn);
  const isSplit = editing && txn.splits && txn.splits.length > 0;
  openDialog(editing ? 'Edit transaction' : 'Add transaction', (form, close) => {
    const open = accounts.filter((a) => !a.closed || (editing && a.id === txn.account_id));
    const account = select(open.map((a) => ({ value: a.id, label: a.name })), { name: 'account', id: 'tx-account', value: editing ? txn.account_id : defaults.account_id || (open[0] && open[0].id) });
    if (editing) account.disabled = true;
    const date = h('input', { type: 'date', name: 'date', id: 'tx-date', required: true, min: '1900-01-01', max: '2200-12-31', value: editing ? txn.date : todayIn(budget.time_zone) });
    const payee = h('input', { name: 'payee', id: 'tx-payee', maxlength: 200, autocomplete: 'off', value: editing ? txn.payee : '' });
    const amount = h('input', {
      name: 'amount',
      id: 'tx-amount',
      inputmode: 'decimal',
      required: true,
      autocomplete: 'off',
      value: editing ? formatMoney(fromApi(txn.amount, exp), exp, '') : '',
    });
    const category = select(categoryChoices(categories, { split: !editing, current: editing ? txn.category_id : null }), { name: 'category', id: 'tx-category', value: editing ? txn.category_id || '' : '' });
    const memo = h('input', { name: 'memo', id: 'tx-memo', maxlength: 1000, autocomplete: 'off', value: editing ? txn.memo : '' });
    const cleared = h('input', { type: 'checkbox', id: 'tx-cleared', checked: editing ? txn.cleared : false });
    const errors = h('div', { class: 'form-errors' });
    let splits = null;
    const splitSlot = h('div');

    if (isSplit) {
      amount.disabled = true;
      category.disabled = true;
      splitSlot.append(
        h(
          'div',
          { class: 'split-readonly' },
          h('p', { class: 'hint' }, 'A split transaction keeps its amount and categories; you can change its date, payee, memo and cleared state.'),
          h(
            'ul',
            {},
            txn.splits.map((s) => {
              const c = categories.find((x) => x.id === s.category_id);
              return h('li', {}, formatMoney(fromApi(s.amount, exp), exp, budget.currency), ' · ', c ? c.name : 'Uncategorized', s.memo ? ` · ${s.memo}` : '');
            }),
          ),
        ),
      );
    }
    category.addEventListener('change', () => {
      if (category.value === SPLIT && !splits) {
        splits = splitEditor(budget, categories, amount);
        splitSlot.append(splits.el);
        splits.el.querySelector('.split-amount').focus();
      } else if (category.value !== SPLIT && splits) {
        splits.el.remove();
        splits = null;
      }
    });

    form.append(
      h(
        'div',
        { class: 'form-grid' },
        field('Account', account),
        field('Date', date),
        field('Payee', payee),
        field(`Amount (${budget.currency})`, amount, 'Negative for money out (-42.10), positive for money in.'),
        field('Category', category),
        field('Memo', memo),
      ),
      h('div', { class: 'check' }, cleared, h('label', { for: 'tx-cleared' }, 'Cleared')),
      splitSlot,
      errors,
      dialogButtons(editing ? 'Save changes' : 'Add transaction', close),
    );

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const saved = await busy(form, errors, async () => {
        if (editing) {
          const patch = {};
          if (date.value !== txn.date) patch.date = date.value;
          if (payee.value !== txn.payee) patch.payee = payee.value;
          if (memo.value !== txn.memo) patch.memo = memo.value;
          if (cleared.checked !== txn.cleared) patch.cleared = cleared.checked;
          if (!isSplit) {
            const minor = parseAmountInput(amount.value, exp);
            if (minor !== fromApi(txn.amount, exp)) patch.amount = toDecimalString(minor, exp);
            const cat = category.value || null;
            if (cat !== (txn.category_id || null)) patch.category_id = cat;
          }
          if (!Object.keys(patch).length) return txn;
          return ledger.updateTransaction(budget.id, txn.id, patch);
        }
        const minor = parseAmountInput(amount.value, exp);
        const body = { account_id: account.value, date: date.value, amount: toDecimalString(minor, exp), payee: payee.value, memo: memo.value, cleared: cleared.checked };
        if (splits) {
          const rest = splits.update();
          if (rest === null) throw new Error('Fix the split lines first.');
          if (rest !== 0n) throw new Error(`The lines must add up to the amount; ${formatMoney(rest, exp, budget.currency)} is not split yet.`);
          const lines = splits.lines();
          if (lines.length < 2) throw new Error('A split needs at least two lines.');
          body.splits = lines;
        } else if (category.value) {
          body.category_id = category.value;
        }
        return ledger.createTransaction(budget.id, body);
      }, editing ? 'Could not save the transaction' : 'Could not add the transaction');
      if (saved) {
        close();
        onSaved(saved);
      }
    });
  });
}

export function confirmDialog(title, text, confirmLabel, action) {
  openDialog(title, (form, close) => {
    const errors = h('div', { class: 'form-errors' });
    form.append(
      h('p', {}, text),
      errors,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger' }, confirmLabel), h('button', { type: 'button', onclick: close }, 'Cancel')),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const ok = await busy(form, errors, async () => {
        await action();
        return true;
      }, 'It did not work');
      if (ok) close();
    });
  });
}

export function accountDialog({ budget, onSaved }) {
  const exp = budget.exponent;
  openDialog('Add account', (form, close) => {
    const name = h('input', { name: 'name', id: 'acct-name', required: true, maxlength: 200, autocomplete: 'off' });
    const type = select(ACCOUNT_TYPES, { name: 'type', id: 'acct-type' });
    const onBudget = h('input', { type: 'checkbox', id: 'acct-on-budget', checked: true });
    const opening = h('input', { name: 'opening_balance', id: 'acct-opening', inputmode: 'decimal', autocomplete: 'off', placeholder: '0' });
    const openingDate = h('input', { type: 'date', id: 'acct-opening-date', value: todayIn(budget.time_zone), min: '1900-01-01', max: '2200-12-31' });
    const errors = h('div', { class: 'form-errors' });
    form.append(
      h(
        'div',
        { class: 'form-grid' },
        field('Name', name),
        field('Type', type),
        field(`Opening balance (${budget.currency})`, opening, 'Optional. Negative for a debt (credit card, loan).'),
        field('Opening date', openingDate),
      ),
      h('div', { class: 'check' }, onBudget, h('label', { for: 'acct-on-budget' }, 'On budget (its money can be assigned)')),
      errors,
      dialogButtons('Add account', close),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const saved = await busy(form, errors, async () => {
        const body = { name: name.value.trim(), type: type.value, on_budget: onBudget.checked };
        if (opening.value.trim() !== '') {
          body.opening_balance = toDecimalString(parseAmountInput(opening.value, exp), exp);
          body.opening_date = openingDate.value;
        }
        return ledger.createAccount(budget.id, body);
      }, 'Could not add the account');
      if (saved) {
        close();
        onSaved(saved);
      }
    });
  });
}

export function transferDialog({ budget, accounts, categories, onSaved }) {
  const exp = budget.exponent;
  const open = accounts.filter((a) => !a.closed);
  openDialog('Transfer between accounts', (form, close) => {
    const opts = open.map((a) => ({ value: a.id, label: `${a.name}${a.on_budget ? '' : ' (off budget)'}` }));
    const from = select(opts, { id: 'tr-from', value: open[0] && open[0].id });
    const to = select(opts, { id: 'tr-to', value: open[1] && open[1].id });
    const date = h('input', { type: 'date', id: 'tr-date', required: true, value: todayIn(budget.time_zone), min: '1900-01-01', max: '2200-12-31' });
    const amount = h('input', { id: 'tr-amount', inputmode: 'decimal', required: true, autocomplete: 'off' });
    const memo = h('input', { id: 'tr-memo', maxlength: 1000, autocomplete: 'off' });
    const category = select([{ value: '', label: 'Choose a category' }].concat(categoryOptions(categories, { includeIncome: true })), { id: 'tr-category' });
    const categoryField = field('Category', category, 'Needed because the transfer crosses the budget’s edge (on budget ↔ off budget).');
    const errors = h('div', { class: 'form-errors' });
    const crosses = () => {
      const a = open.find((x) => x.id === from.value);
      const b = open.find((x) => x.id === to.value);
      return Boolean(a && b && a.on_budget !== b.on_budget);
    };
    const sync = () => {
      categoryField.hidden = !crosses();
      category.required = crosses();
    };
    from.addEventListener('change', sync);
    to.addEventListener('change', sync);
    form.append(
      h('div', { class: 'form-grid' }, field('From account', from), field('To account', to), field('Date', date), field(`Amount (${budget.currency})`, amount, 'A positive amount; it leaves the first account and enters the second.'), field('Memo', memo), categoryField),
      errors,
      dialogButtons('Transfer', close),
    );
    sync();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const saved = await busy(form, errors, async () => {
        if (from.value === to.value) throw new Error('Choose two different accounts.');
        const minor = parseAmountInput(amount.value, exp);
        if (signOf(minor) <= 0) throw new Error('The amount must be positive.');
        const body = { from_account_id: from.value, to_account_id: to.value, date: date.value, amount: toDecimalString(minor, exp), memo: memo.value };
        if (crosses()) body.category_id = category.value;
        return ledger.createTransfer(budget.id, body);
      }, 'Could not make the transfer');
      if (saved) {
        close();
        onSaved(saved);
      }
    });
  });
}
