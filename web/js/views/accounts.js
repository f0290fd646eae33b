// Accounts with balances, transactions (filters, cursor paging, add, edit,
// delete, splits) and transfers.

import { ledger } from '../api.js';
import { announce, busy, clear, empty, field, h, loading, select, showError } from '../dom.js';
import { formatMoney, fromApi, signOf, sum } from '../money.js';
import { focusHeading } from '../router.js';
import { categoryOptions, loadBudget } from '../state.js';
import { ACCOUNT_TYPES, accountDialog, confirmDialog, transactionDialog, transferDialog } from './txform.js';

const PAGE = 50;

export async function accountsView(ctx) {
  const { main, params, stale } = ctx;
  main.append(h('h1', {}, 'Accounts'), loading('Loading accounts…'));
  focusHeading(main);
  let budget, accounts, categories;
  try {
    [budget, accounts, categories] = await Promise.all([
      loadBudget(params.budget),
      ledger.accounts(params.budget).then((r) => r.items),
      ledger.categories(params.budget).then((r) => r.items),
    ]);
  } catch (error) {
    if (stale()) return;
    main.querySelector('.loading')?.remove();
    showError(main.appendChild(h('div')), error, 'Could not load the accounts');
    return;
  }
  if (stale()) return;
  main.querySelector('.loading').remove();
  const page = new AccountsPage(ctx, budget, accounts, categories);
  page.mount();
}

class AccountsPage {
  constructor(ctx, budget, accounts, categories) {
    this.ctx = ctx;
    this.main = ctx.main;
    this.budget = budget;
    this.exp = budget.exponent;
    this.cur = budget.currency;
    this.accounts = accounts;
    this.categories = categories;
    this.items = [];
    this.cursor = null;
    this.filters = {};
  }

  fmt(m, options) {
    return formatMoney(fromApi(m, this.exp), this.exp, this.cur, options);
  }

  mount() {
    const h1 = this.main.querySelector('h1');
    h1.append(h('span', { class: 'subtitle' }, ` · ${this.budget.name}`));
    document.title = `Accounts · ${this.budget.name} · Budget`;

    this.accountsSlot = h('div', { class: 'table-wrap' });
    this.txSlot = h('div', { class: 'table-wrap' });
    this.txError = h('div');
    this.txInfo = h('p', { class: 'muted', id: 'tx-count', 'aria-live': 'polite' });
    this.moreButton = h('button', { type: 'button', id: 'tx-more', hidden: true, onclick: () => this.loadMore() }, 'Load more transactions');
    this.transfersSlot = h('div', { class: 'table-wrap' });

    this.main.append(
      h(
        'section',
        { 'aria-labelledby': 'accounts-title', id: 'accounts' },
        h('div', { class: 'section-head' }, h('h2', { id: 'accounts-title' }, 'Accounts'), h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'add-account', onclick: () => this.addAccount() }, 'Add account'), h('button', { type: 'button', id: 'add-transfer', onclick: () => this.addTransfer() }, 'Transfer'))),
        this.accountsSlot,
      ),
      h(
        'section',
        { 'aria-labelledby': 'tx-title', id: 'transactions' },
        h('div', { class: 'section-head' }, h('h2', { id: 'tx-title' }, 'Transactions'), h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'primary', id: 'add-transaction', onclick: () => this.addTransaction() }, 'Add transaction'))),
        this.filterForm(),
        this.txError,
        this.txSlot,
        h('div', { class: 'actions' }, this.moreButton),
        this.txInfo,
      ),
      h('section', { 'aria-labelledby': 'transfers-title', id: 'transfers' }, h('h2', { id: 'transfers-title' }, 'Transfers'), this.transfersSlot),
    );
    this.renderAccounts();
    this.reloadTransactions();
    this.reloadTransfers();
  }

  accountName(id) {
    const a = this.accounts.find((x) => x.id === id);
    return a ? a.name : 'Unknown account';
  }

  categoryName(id) {
    if (!id) return 'Uncategorized';
    const c = this.categories.find((x) => x.id === id);
    return c ? c.name : 'Unknown category';
  }

  renderAccounts() {
    clear(this.accountsSlot);
    if (!this.accounts.length) {
      this.accountsSlot.append(empty('No accounts yet. Add the accounts your money is in: checking, savings, cash, cards.'));
      return;
    }
    const typeLabel = (t) => (ACCOUNT_TYPES.find((x) => x.value === t) || { label: t }).label;
    const onBudget = this.accounts.filter((a) => a.on_budget && !a.closed);
    const total = sum(onBudget.map((a) => fromApi(a.balance, this.exp)));
    const table = h(
      'table',
      { id: 'accounts-table' },
      h('caption', { class: 'visually-hidden' }, 'Accounts and balances'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Account'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Budget'), h('th', { scope: 'col', class: 'num' }, 'Cleared'), h('th', { scope: 'col', class: 'num' }, 'Balance'))),
      h(
        'tbody',
        {},
        this.accounts.map((a) =>
          h(
            'tr',
            { dataset: { account: a.id }, class: a.closed ? 'closed' : null },
            h('th', { scope: 'row' }, a.name, a.closed ? h('span', { class: 'tag' }, 'closed') : null),
            h('td', {}, typeLabel(a.type)),
            h('td', {}, a.on_budget ? 'On budget' : 'Off budget'),
            h('td', { class: 'num' }, this.fmt(a.cleared_balance)),
            h('td', { class: `num balance ${toneOf(fromApi(a.balance, this.exp))}` }, this.fmt(a.balance)),
          ),
        ),
      ),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 4 }, 'On-budget total'), h('td', { class: 'num', id: 'on-budget-total' }, formatMoney(total, this.exp, this.cur)))),
    );
    this.accountsSlot.append(table);
  }

  async refreshAccounts() {
    const r = await ledger.accounts(this.budget.id);
    this.accounts = r.items;
    this.renderAccounts();
    this.refreshFilterAccounts();
  }

  filterForm() {
    const account = select([{ value: '', label: 'All accounts' }], { id: 'filter-account', name: 'account_id' });
    this.filterAccount = account;
    this.refreshFilterAccounts();
    const category = select([{ value: '', label: 'All categories' }].concat(categoryOptions(this.categories, { includeHidden: true })), { id: 'filter-category', name: 'category_id' });
    const payee = h('input', { id: 'filter-payee', name: 'payee', autocomplete: 'off', list: 'payee-list' });
    const since = h('input', { type: 'date', id: 'filter-since', name: 'since_date', min: '1900-01-01', max: '2200-12-31' });
    const until = h('input', { type: 'date', id: 'filter-until', name: 'until_date', min: '1900-01-01', max: '2200-12-31' });
    this.payeeList = h('datalist', { id: 'payee-list' });
    const form = h(
      'form',
      { class: 'filters', id: 'tx-filters', 'aria-label': 'Filter transactions' },
      field('Account', account),
      field('Category', category),
      field('Payee', payee, 'Exact payee'),
      field('From', since),
      field('To', until),
      this.payeeList,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit' }, 'Apply filters'),
        h(
          'button',
          {
            type: 'button',
            class: 'link-button',
            onclick: () => {
              form.reset();
              this.filters = {};
              this.reloadTransactions();
            },
          },
          'Clear',
        ),
      ),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (since.value && until.value && until.value < since.value) {
        showError(this.txError, new Error('The "To" date is before the "From" date.'), 'Check the filters');
        return;
      }
      this.filters = { account_id: account.value, category_id: category.value, payee: payee.value, since_date: since.value, until_date: until.value };
      this.reloadTransactions();
    });
    return form;
  }

  refreshFilterAccounts() {
    const keep = this.filterAccount.value;
    clear(this.filterAccount).append(h('option', { value: '' }, 'All accounts'), ...this.accounts.map((a) => h('option', { value: a.id }, a.name)));
    this.filterAccount.value = keep;
  }

  async reloadTransactions() {
    // A newer load (other filters, or after a change) makes older answers stale.
    this.loadSeq = (this.loadSeq || 0) + 1;
    this.items = [];
    this.cursor = null;
    clear(this.txSlot).append(loading('Loading transactions…'));
    this.moreButton.hidden = true;
    await this.fetchPage();
  }

  async loadMore() {
    this.moreButton.disabled = true;
    await this.fetchPage();
    this.moreButton.disabled = false;
    announce(`${this.items.length} transactions shown.`);
  }

  async fetchPage() {
    clear(this.txError);
    const seq = this.loadSeq;
    const superseded = () => seq !== this.loadSeq || this.ctx.stale();
    try {
      const query = { ...this.filters, limit: PAGE };
      if (this.cursor) query.cursor = this.cursor;
      const page = await ledger.transactions(this.budget.id, query);
      if (superseded()) return;
      this.items = this.items.concat(page.items);
      this.cursor = page.next_cursor;
      this.renderTransactions();
    } catch (error) {
      if (superseded()) return;
      this.txSlot.querySelector('.loading')?.remove();
      showError(this.txError, error, 'Could not load transactions');
    }
  }

  renderTransactions() {
    clear(this.txSlot);
    this.moreButton.hidden = !this.cursor;
    const filtered = Object.values(this.filters).some((v) => v);
    if (!this.items.length) {
      this.txSlot.append(empty(filtered ? 'No transaction matches these filters.' : this.accounts.length ? 'No transactions yet. Add one, or import a bank statement.' : 'Add an account first, then its transactions.'));
      this.txInfo.textContent = '';
      return;
    }
    const payees = new Set(this.items.map((t) => t.payee).filter(Boolean));
    clear(this.payeeList).append(...[...payees].sort().map((p) => h('option', { value: p })));
    const table = h(
      'table',
      { id: 'transactions-table' },
      h('caption', { class: 'visually-hidden' }, 'Transactions, oldest first'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Date'),
          h('th', { scope: 'col' }, 'Account'),
          h('th', { scope: 'col' }, 'Payee'),
          h('th', { scope: 'col' }, 'Category'),
          h('th', { scope: 'col' }, 'Memo'),
          h('th', { scope: 'col', class: 'num' }, 'Amount'),
          h('th', { scope: 'col' }, h('abbr', { title: 'Cleared' }, 'Clr')),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
        ),
      ),
      h('tbody', {}, this.items.map((t) => this.txRow(t))),
    );
    this.txSlot.append(table);
    this.txInfo.textContent = `${this.items.length} transaction${this.items.length === 1 ? '' : 's'} shown${this.cursor ? '; more are available' : ''}.`;
  }

  txRow(t) {
    const minor = fromApi(t.amount, this.exp);
    const category = t.splits && t.splits.length ? `Split: ${t.splits.map((s) => `${this.categoryName(s.category_id)} ${formatMoney(fromApi(s.amount, this.exp), this.exp, '')}`).join(', ')}` : this.categoryName(t.category_id);
    const label = `${t.date} ${t.payee || 'no payee'} ${formatMoney(minor, this.exp, this.cur)}`;
    return h(
      'tr',
      { dataset: { id: t.id } },
      h('td', { class: 'nowrap' }, t.date),
      h('td', {}, this.accountName(t.account_id)),
      h('td', { class: 'payee' }, t.payee),
      h('td', { class: 'category' }, category),
      h('td', { class: 'memo' }, t.memo),
      h('td', { class: `num amount ${toneOf(minor)}` }, formatMoney(minor, this.exp, '')),
      h('td', {}, t.cleared ? h('span', { title: 'Cleared' }, '✓', h('span', { class: 'visually-hidden' }, 'cleared')) : h('span', { class: 'visually-hidden' }, 'not cleared')),
      h(
        'td',
        { class: 'row-actions' },
        h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${label}`, onclick: () => this.editTransaction(t) }, 'Edit'),
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${label}`, onclick: () => this.deleteTransaction(t, label) }, 'Delete'),
      ),
    );
  }

  async afterChange(message) {
    announce(message, 'success');
    await busy(null, this.txError, async () => {
      await this.refreshAccounts();
    });
    await this.reloadTransactions();
  }

  addTransaction() {
    if (!this.accounts.some((a) => !a.closed)) {
      announce('Add an account first.', 'error');
      this.addAccount();
      return;
    }
    transactionDialog({
      budget: this.budget,
      accounts: this.accounts,
      categories: this.categories,
      defaults: { account_id: this.filters.account_id },
      onSaved: (t) => this.afterChange(`Transaction added: ${t.payee || 'no payee'}, ${this.fmt(t.amount)}.`),
    });
  }

  editTransaction(t) {
    transactionDialog({
      budget: this.budget,
      accounts: this.accounts,
      categories: this.categories,
      txn: t,
      onSaved: (saved) => this.afterChange(`Transaction saved: ${saved.payee || 'no payee'}, ${this.fmt(saved.amount)}.`),
    });
  }

  deleteTransaction(t, label) {
    confirmDialog('Delete transaction?', `Delete ${label}? This cannot be undone.`, 'Delete', async () => {
      await ledger.deleteTransaction(this.budget.id, t.id);
      await this.afterChange('Transaction deleted.');
    });
  }

  addAccount() {
    accountDialog({
      budget: this.budget,
      onSaved: async (a) => {
        announce(`Account ${a.name} added with a balance of ${this.fmt(a.balance)}.`, 'success');
        await busy(null, this.txError, () => this.refreshAccounts());
        if (signOf(fromApi(a.balance, this.exp)) !== 0) await this.reloadTransactions();
        document.getElementById('add-transaction')?.focus();
      },
    });
  }

  addTransfer() {
    if (this.accounts.filter((a) => !a.closed).length < 2) {
      announce('A transfer needs two open accounts.', 'error');
      return;
    }
    transferDialog({
      budget: this.budget,
      accounts: this.accounts,
      categories: this.categories,
      onSaved: async (tr) => {
        announce(`Transferred ${this.fmt(tr.amount)} from ${this.accountName(tr.from_account_id)} to ${this.accountName(tr.to_account_id)}.`, 'success');
        await busy(null, this.txError, () => this.refreshAccounts());
        this.reloadTransfers();
      },
    });
  }

  async reloadTransfers() {
    clear(this.transfersSlot).append(loading('Loading transfers…'));
    try {
      const { items } = await ledger.transfers(this.budget.id);
      if (this.ctx.stale()) return;
      clear(this.transfersSlot);
      if (!items.length) {
        this.transfersSlot.append(empty('No transfers yet.'));
        return;
      }
      this.transfersSlot.append(
        h(
          'table',
          { id: 'transfers-table' },
          h('caption', { class: 'visually-hidden' }, 'Transfers, oldest first'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, 'From'), h('th', { scope: 'col' }, 'To'), h('th', { scope: 'col' }, 'Category'), h('th', { scope: 'col' }, 'Memo'), h('th', { scope: 'col', class: 'num' }, 'Amount'))),
          h(
            'tbody',
            {},
            items.map((t) =>
              h(
                'tr',
                {},
                h('td', { class: 'nowrap' }, t.date),
                h('td', {}, this.accountName(t.from_account_id)),
                h('td', {}, this.accountName(t.to_account_id)),
                h('td', {}, t.category_id ? this.categoryName(t.category_id) : '—'),
                h('td', {}, t.memo),
                h('td', { class: 'num' }, this.fmt(t.amount)),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      if (this.ctx.stale()) return;
      showError(clear(this.transfersSlot), error, 'Could not load transfers');
    }
  }
}

function toneOf(minor) {
  const s = signOf(minor);
  return s < 0 ? 'negative' : s > 0 ? 'positive' : 'zero';
}
