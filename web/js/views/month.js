// The month view: to be budgeted, categories by group with assigned,
// activity and available; assigning inline, moving money, new groups and
// categories.

import { ledger } from '../api.js';
import { addMonths, currentMonth, isMonth, monthLabel } from '../dates.js';
import { announce, busy, clear, dialogButtons, empty, field, h, loading, openDialog, select, showError } from '../dom.js';
import { MoneyError, formatMoney, fromApi, parseAmountInput, signOf, toDecimalString } from '../money.js';
import { focusHeading, navigate } from '../router.js';
import { addSessionGroup, groupsFrom, loadBudget } from '../state.js';

export async function monthView(ctx) {
  const { main, params, stale } = ctx;
  const budgetId = params.budget;
  if (!isMonth(params.month)) {
    main.append(h('h1', {}, 'Month'));
    showError(main.appendChild(h('div')), new Error(`"${params.month}" is not a month (YYYY-MM).`), 'Invalid address');
    focusHeading(main);
    return;
  }
  const month = params.month;
  main.append(loading('Loading the month…'));

  let budget, view, categories;
  try {
    [budget, view, categories] = await Promise.all([
      loadBudget(budgetId),
      ledger.month(budgetId, month),
      ledger.categories(budgetId).then((r) => r.items),
    ]);
  } catch (error) {
    if (stale()) return;
    main.replaceChildren(h('h1', {}, 'Month'));
    showError(main.appendChild(h('div')), error, 'Could not load the month');
    focusHeading(main);
    return;
  }
  if (stale()) return;
  main.replaceChildren();
  const page = new MonthPage(ctx, budget, month, categories);
  page.mount(view);
}

class MonthPage {
  constructor(ctx, budget, month, categories) {
    this.ctx = ctx;
    this.main = ctx.main;
    this.budget = budget;
    this.exp = budget.exponent;
    this.cur = budget.currency;
    this.month = month;
    this.categories = categories;
    this.showHidden = false;
    this.view = null;
  }

  money(m, options) {
    return formatMoney(fromApi(m, this.exp), this.exp, this.cur, options);
  }

  plain(m) {
    return formatMoney(fromApi(m, this.exp), this.exp, '');
  }

  goMonth(month, focusId) {
    navigate(`/app/budgets/${encodeURIComponent(this.budget.id)}/months/${month}`, { state: { focus: focusId } });
  }

  mount(view) {
    const { budget, month } = this;
    const picker = h('input', { type: 'month', id: 'month-input', value: month, min: '1900-01', max: '2200-12' });
    picker.addEventListener('change', () => {
      if (isMonth(picker.value) && picker.value !== month) this.goMonth(picker.value, 'month-input');
    });
    const toolbar = h(
      'div',
      { class: 'month-picker', role: 'group', 'aria-label': 'Month' },
      h('button', { type: 'button', id: 'prev-month', disabled: month <= '1900-01', onclick: () => this.goMonth(addMonths(month, -1), 'prev-month') }, h('span', { 'aria-hidden': 'true' }, '‹'), h('span', { class: 'word' }, ' Previous'), h('span', { class: 'visually-hidden' }, ' month')),
      h('label', { for: 'month-input', class: 'visually-hidden' }, 'Month'),
      picker,
      h('button', { type: 'button', id: 'next-month', disabled: month >= '2200-12', onclick: () => this.goMonth(addMonths(month, 1), 'next-month') }, h('span', { class: 'word' }, 'Next '), h('span', { class: 'visually-hidden' }, ' month'), h('span', { 'aria-hidden': 'true' }, '›')),
      month !== currentMonth(budget.time_zone)
        ? h('button', { type: 'button', class: 'link-button', id: 'this-month', onclick: () => this.goMonth(currentMonth(budget.time_zone), 'month-input') }, 'This month')
        : null,
    );

    this.summary = h('section', { class: 'summary', 'aria-label': 'Month summary' });
    this.tableSlot = h('div', { class: 'table-wrap' });
    this.errorSlot = h('div', { 'aria-live': 'polite' });
    const hiddenToggle = h('input', { type: 'checkbox', id: 'show-hidden' });
    hiddenToggle.addEventListener('change', () => {
      this.showHidden = hiddenToggle.checked;
      this.renderTable();
    });

    this.main.append(
      h('div', { class: 'page-head' }, h('h1', {}, `${budget.name}`, h('span', { class: 'subtitle' }, ` · ${monthLabel(month)}`)), toolbar),
      this.summary,
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', id: 'move-money', onclick: () => this.moveDialog() }, 'Move money'),
        h('button', { type: 'button', id: 'add-group', onclick: () => this.groupDialog() }, 'Add group'),
        h('button', { type: 'button', id: 'add-category', onclick: () => this.categoryDialog() }, 'Add category'),
        h('span', { class: 'toggle' }, hiddenToggle, h('label', { for: 'show-hidden' }, 'Show hidden categories')),
      ),
      this.errorSlot,
      this.tableSlot,
    );
    this.update(view);
    const focusId = history.state && history.state.focus;
    const target = focusId && document.getElementById(focusId);
    if (target) {
      document.title = `${budget.name} · ${monthLabel(month)} · Budget`;
      target.focus();
    } else {
      focusHeading(this.main);
    }
  }

  update(view) {
    this.view = view;
    this.renderSummary();
    this.renderTable();
  }

  renderSummary() {
    const v = this.view;
    const tbb = fromApi(v.to_be_budgeted, this.exp);
    const tone = signOf(tbb) < 0 ? 'negative' : signOf(tbb) > 0 ? 'positive' : 'zero';
    const stat = (label, money, id) => h('div', { class: 'stat' }, h('dt', {}, label), h('dd', { id }, this.money(money)));
    clear(this.summary).append(
      h(
        'div',
        { class: `tbb ${tone}` },
        h('p', { class: 'tbb-label', id: 'tbb-label' }, 'To be budgeted'),
        h('p', { class: 'tbb-amount', id: 'tbb', 'aria-describedby': 'tbb-label' }, this.money(v.to_be_budgeted)),
        signOf(tbb) < 0 ? h('p', { class: 'tbb-note' }, 'More is assigned than you have. Take money out of a category.') : null,
      ),
      h(
        'dl',
        { class: 'stats' },
        stat('Income', v.income, 'stat-income'),
        stat('Assigned', v.assigned, 'stat-assigned'),
        stat('Activity', v.activity, 'stat-activity'),
        signOf(fromApi(v.overspent_last_month, this.exp)) !== 0 ? stat('Overspent last month', v.overspent_last_month, 'stat-overspent') : null,
        signOf(fromApi(v.uncategorized_activity, this.exp)) !== 0 ? stat('Uncategorized activity', v.uncategorized_activity, 'stat-uncategorized') : null,
      ),
    );
  }

  renderTable() {
    const cats = this.view.categories.filter((c) => this.showHidden || !c.hidden);
    clear(this.tableSlot);
    if (!this.view.categories.length) {
      this.tableSlot.append(empty('No categories yet. Add a group, then categories in it, and assign money to them.'));
      return;
    }
    const groups = new Map();
    for (const c of cats) {
      if (!groups.has(c.group_id)) groups.set(c.group_id, { name: c.group_name, items: [] });
      groups.get(c.group_id).items.push(c);
    }
    const table = h(
      'table',
      { class: 'budget-table', id: 'categories-table' },
      h('caption', { class: 'visually-hidden' }, `Categories for ${monthLabel(this.month)}, amounts in ${this.cur}`),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'Category'), h('th', { scope: 'col', class: 'num' }, `Assigned (${this.cur})`), h('th', { scope: 'col', class: 'num' }, 'Activity'), h('th', { scope: 'col', class: 'num' }, 'Available')),
      ),
    );
    for (const [groupId, g] of groups) {
      let assigned = 0n;
      let activity = 0n;
      let available = 0n;
      for (const c of g.items) {
        assigned += fromApi(c.assigned, this.exp);
        activity += fromApi(c.activity, this.exp);
        available += fromApi(c.available, this.exp);
      }
      const fmt = (v) => formatMoney(v, this.exp, '');
      const body = h(
        'tbody',
        { dataset: { group: groupId } },
        h(
          'tr',
          { class: 'group-row' },
          h('th', { scope: 'rowgroup' }, g.name),
          h('td', { class: 'num' }, fmt(assigned)),
          h('td', { class: 'num' }, fmt(activity)),
          h('td', { class: 'num' }, fmt(available)),
        ),
      );
      for (const c of g.items) body.append(this.categoryRow(c));
      table.append(body);
    }
    this.tableSlot.append(table);
  }

  categoryRow(c) {
    const available = fromApi(c.available, this.exp);
    const input = h('input', {
      type: 'text',
      inputmode: 'decimal',
      class: 'cell-input num',
      // Shown like every other figure ("1,200.00"); parseAmountInput reads it back.
      value: this.plain(c.assigned),
      'aria-label': `Assigned to ${c.name} in ${monthLabel(this.month)} (${this.cur})`,
      dataset: { category: c.id, original: c.assigned.amount },
      autocomplete: 'off',
    });
    const message = h('span', { class: 'cell-error', role: 'alert' });
    input.addEventListener('focus', () => input.select());
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        this.saveAssigned(c, input, message);
      } else if (event.key === 'Escape') {
        input.value = this.plain({ amount: input.dataset.original });
        input.removeAttribute('aria-invalid');
        message.textContent = '';
      }
    });
    input.addEventListener('change', () => this.saveAssigned(c, input, message));
    const tone = signOf(available) < 0 ? 'negative' : signOf(available) > 0 ? 'positive' : 'zero';
    return h(
      'tr',
      { dataset: { category: c.id }, class: c.hidden ? 'hidden-category' : null },
      h('th', { scope: 'row' }, c.name, c.hidden ? h('span', { class: 'tag' }, 'hidden') : null),
      h('td', { class: 'num' }, input, message),
      h('td', { class: 'num activity' }, this.plain(c.activity)),
      h(
        'td',
        { class: 'num available' },
        h('span', { class: `pill ${tone}` }, this.plain(c.available), signOf(available) < 0 ? h('span', { class: 'visually-hidden' }, ' (overspent)') : null),
      ),
    );
  }

  async saveAssigned(c, input, message) {
    // A redraw removes the focused input, which may fire `change` on it: ignore those.
    if (input.dataset.saving || !input.isConnected) return;
    let minor;
    try {
      minor = parseAmountInput(input.value, this.exp);
    } catch (error) {
      if (!(error instanceof MoneyError)) throw error;
      input.setAttribute('aria-invalid', 'true');
      message.textContent = error.message;
      return;
    }
    input.removeAttribute('aria-invalid');
    message.textContent = '';
    const original = fromApi({ amount: input.dataset.original }, this.exp);
    if (minor === original) {
      input.value = formatMoney(minor, this.exp, '');
      return;
    }
    const amount = toDecimalString(minor, this.exp);
    input.dataset.saving = '1';
    input.classList.add('saving');
    this.writeSeq = (this.writeSeq || 0) + 1;
    const seq = this.writeSeq;
    const view = await busy(null, this.errorSlot, () => ledger.assign(this.budget.id, this.month, c.id, amount), `Could not assign to ${c.name}`);
    input.classList.remove('saving');
    if (!view) {
      delete input.dataset.saving;
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    if (seq !== this.writeSeq || this.ctx.stale()) {
      // A later assignment is on its way; its month view is the newer one.
      delete input.dataset.saving;
      return;
    }
    const hadFocus = document.activeElement;
    this.update(view);
    // The table was redrawn: put focus back where it was (same cell, or the one Tab moved to).
    const restore = hadFocus && hadFocus.dataset && hadFocus.dataset.category ? this.tableSlot.querySelector(`input[data-category="${hadFocus.dataset.category}"]`) : null;
    if (restore) restore.focus();
    const updated = view.categories.find((x) => x.id === c.id);
    announce(
      `Assigned ${formatMoney(minor, this.exp, this.cur)} to ${c.name}.` + (updated ? ` Available: ${this.money(updated.available)}.` : '') + ` To be budgeted: ${this.money(view.to_be_budgeted)}.`,
      'success',
    );
  }

  categoryChoices(withTbb) {
    const opts = [];
    if (withTbb) opts.push({ value: '', label: 'To be budgeted' });
    const groups = new Map();
    for (const c of this.view.categories) {
      if (!groups.has(c.group_id)) groups.set(c.group_id, { group: c.group_name, options: [] });
      groups.get(c.group_id).options.push({ value: c.id, label: `${c.name} (${this.plain(c.available)})` });
    }
    return opts.concat([...groups.values()]);
  }

  moveDialog() {
    if (!this.view.categories.length) {
      announce('Add a category first: money moves between categories and to be budgeted.', 'error');
      return;
    }
    openDialog(`Move money · ${monthLabel(this.month)}`, (form, close) => {
      const from = select(this.categoryChoices(true), { name: 'from' });
      const to = select(this.categoryChoices(true), { name: 'to' });
      if (this.view.categories[0]) to.value = this.view.categories[0].id;
      const amount = h('input', { name: 'amount', inputmode: 'decimal', required: true, autocomplete: 'off' });
      const errors = h('div', { class: 'form-errors' });
      form.append(
        field('From', from),
        field('To', to),
        field(`Amount (${this.cur})`, amount, 'A positive amount, e.g. 25.00'),
        errors,
        dialogButtons('Move', close),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const view = await busy(form, errors, async () => {
          if (from.value === to.value) throw new Error('Choose two different places.');
          const minor = parseAmountInput(amount.value, this.exp);
          if (minor <= 0n) throw new Error('The amount must be positive.');
          const body = { amount: toDecimalString(minor, this.exp) };
          if (from.value) body.from_category_id = from.value;
          if (to.value) body.to_category_id = to.value;
          return ledger.move(this.budget.id, this.month, body);
        }, 'Could not move the money');
        if (view) {
          close();
          this.update(view);
          announce(`Moved ${formatMoney(parseAmountInput(amount.value, this.exp), this.exp, this.cur)}. To be budgeted: ${this.money(view.to_be_budgeted)}.`, 'success');
        }
      });
    });
  }

  groupDialog() {
    openDialog('Add a category group', (form, close) => {
      const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
      const hidden = h('input', { type: 'checkbox', name: 'hidden', id: 'group-hidden' });
      const errors = h('div', { class: 'form-errors' });
      form.append(field('Group name', name, 'For example Bills, Everyday, Savings goals'), h('div', { class: 'check' }, hidden, h('label', { for: 'group-hidden' }, 'Hidden')), errors, dialogButtons('Add group', close));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const group = await busy(form, errors, () => ledger.createGroup(this.budget.id, { name: name.value.trim(), hidden: hidden.checked }), 'Could not add the group');
        if (group) {
          addSessionGroup(this.budget.id, group);
          close();
          announce(`Group ${group.name} added. Add a category to it.`, 'success');
          this.categoryDialog(group.id);
        }
      });
    });
  }

  categoryDialog(groupId) {
    const groups = groupsFrom(this.categories, this.budget.id).filter((g) => !g.is_income);
    if (!groups.length) {
      announce('Add a category group first.', 'error');
      this.groupDialog();
      return;
    }
    openDialog('Add a category', (form, close) => {
      const group = select(groups.map((g) => ({ value: g.id, label: g.name })), { name: 'group', value: groupId || groups[groups.length - 1].id });
      const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
      const carryover = h('input', { type: 'checkbox', id: 'cat-carryover' });
      const note = h('textarea', { name: 'note', maxlength: 2000, rows: 2 });
      const errors = h('div', { class: 'form-errors' });
      form.append(
        field('Group', group),
        field('Category name', name),
        h('div', { class: 'check' }, carryover, h('label', { for: 'cat-carryover' }, 'Carry overspending into next month')),
        field('Note (optional)', note),
        errors,
        dialogButtons('Add category', close),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const result = await busy(form, errors, async () => {
          const created = await ledger.createCategory(this.budget.id, { group_id: group.value, name: name.value.trim(), carryover: carryover.checked, note: note.value });
          const [view, categories] = await Promise.all([ledger.month(this.budget.id, this.month), ledger.categories(this.budget.id)]);
          return { created, view, categories: categories.items };
        }, 'Could not add the category');
        if (result) {
          close();
          this.categories = result.categories;
          this.update(result.view);
          announce(`Category ${result.created.name} added.`, 'success');
          const input = this.tableSlot.querySelector(`input[data-category="${result.created.id}"]`);
          if (input) input.focus();
        }
      });
    });
  }
}
