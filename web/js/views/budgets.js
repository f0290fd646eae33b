import { ledger } from '../api.js';
import { currentMonth } from '../dates.js';
import { announce, busy, empty, field, h, loading, showError, uid } from '../dom.js';
import { focusHeading, navigate } from '../router.js';
import { loadBudget, rememberBudget, setCurrentBudget } from '../state.js';

const COMMON_CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'JPY', 'CAD', 'AUD', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'BHD', 'KWD', 'INR', 'CNY'];

function timeZones() {
  try {
    if (Intl.supportedValuesOf) return Intl.supportedValuesOf('timeZone');
  } catch {
    /* older browsers */
  }
  return ['UTC', 'Europe/Berlin', 'Europe/London', 'America/New_York', 'Asia/Tokyo'];
}

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function monthPath(budget, month) {
  return `/app/budgets/${encodeURIComponent(budget.id)}/months/${month || currentMonth(budget.time_zone)}`;
}

export async function budgetsView({ main, stale }) {
  main.append(h('h1', {}, 'Budgets'));
  const listSlot = h('section', { 'aria-labelledby': 'budgets-list-title' }, h('h2', { id: 'budgets-list-title' }, 'Your budgets'), loading('Loading budgets…'));
  main.append(listSlot, createForm());
  focusHeading(main);

  try {
    const { items } = await ledger.budgets();
    if (stale()) return;
    listSlot.querySelector('.loading').remove();
    if (!items.length) {
      listSlot.append(empty('You have no budgets yet. Create your first one below.'));
      return;
    }
    const list = h('ul', { class: 'card-list', id: 'budget-list' });
    for (const b of items) {
      rememberBudget(b);
      list.append(
        h(
          'li',
          { class: 'card budget-card' },
          h('h3', {}, h('a', { href: monthPath(b) }, b.name)),
          h('p', { class: 'muted' }, `${b.currency} · ${b.time_zone}`),
          h(
            'p',
            { class: 'links' },
            h('a', { href: `/app/budgets/${encodeURIComponent(b.id)}/accounts` }, h('span', { class: 'visually-hidden' }, `${b.name}: `), 'Accounts'),
            ' · ',
            h('a', { href: `/app/budgets/${encodeURIComponent(b.id)}/reports` }, h('span', { class: 'visually-hidden' }, `${b.name}: `), 'Reports'),
          ),
        ),
      );
    }
    listSlot.append(list);
  } catch (error) {
    if (stale()) return;
    listSlot.querySelector('.loading')?.remove();
    const slot = h('div');
    listSlot.append(slot);
    showError(slot, error, 'Could not load your budgets');
  }
}

function createForm() {
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const listId = uid('currencies');
  const currency = h('input', {
    name: 'currency',
    required: true,
    value: 'EUR',
    list: listId,
    pattern: '[A-Za-z]{3}',
    maxlength: 3,
    autocomplete: 'off',
    class: 'short',
  });
  currency.addEventListener('input', () => {
    currency.value = currency.value.toUpperCase();
  });
  const zonesId = uid('zones');
  const zone = h('input', { name: 'time_zone', required: true, value: browserZone(), list: zonesId, autocomplete: 'off' });
  const errors = h('div', { class: 'form-errors' });
  const form = h(
    'form',
    { class: 'card', id: 'create-budget', 'aria-labelledby': 'create-budget-title' },
    h('h2', { id: 'create-budget-title' }, 'Create a budget'),
    h(
      'div',
      { class: 'form-grid' },
      field('Name', name),
      field('Currency', currency, 'ISO 4217 code, e.g. EUR, USD, JPY. It fixes the number of decimals.'),
      field('Time zone', zone, 'Decides which day "today" is for the budget.'),
    ),
    h('datalist', { id: listId }, COMMON_CURRENCIES.map((c) => h('option', { value: c }))),
    h('datalist', { id: zonesId }, timeZones().map((z) => h('option', { value: z }))),
    errors,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create budget')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const budget = await busy(
      form,
      errors,
      () => ledger.createBudget({ name: name.value.trim(), currency: currency.value.trim().toUpperCase(), time_zone: zone.value.trim() || 'UTC' }),
      'Could not create the budget',
    );
    if (budget) {
      rememberBudget(budget);
      setCurrentBudget(budget.id);
      announce(`Budget ${budget.name} created.`, 'success');
      navigate(monthPath(budget));
    }
  });
  return form;
}

/** /app/budgets/:budget → the budget's current month. */
export async function budgetHomeView({ main, params, stale }) {
  main.append(loading('Opening the budget…'));
  try {
    const budget = await loadBudget(params.budget);
    if (stale()) return;
    navigate(monthPath(budget), { replace: true });
  } catch (error) {
    if (stale()) return;
    main.replaceChildren(h('h1', {}, 'Budget'));
    const slot = h('div');
    main.append(slot);
    showError(slot, error, 'Could not open the budget');
    focusHeading(main);
  }
}
