// Reports with Chart.js: spending by category, income vs expense by month,
// net worth by month.
//
// Chart.js plots Numbers. It is given integer minor units (exact below
// 2^53, see toChartNumber), never fractional major units, and every label it
// shows (axis ticks, tooltips) is written by formatMoney from BigInt.

import { ledger } from '../api.js';
import { addMonths, currentMonth, isMonth, shortMonthLabel } from '../dates.js';
import { announce, busy, clear, empty, field, h, loading, showError } from '../dom.js';
import { formatMoney, fromApi, toChartNumber } from '../money.js';
import { focusHeading, navigate } from '../router.js';
import { currentBudgetId, loadBudget } from '../state.js';

const COLORS = ['#2f6fdf', '#e0703a', '#2e9e6b', '#b0489c', '#c9a227', '#4aa3c4', '#d1495b', '#6c5ce7', '#7a8b99', '#00897b'];

/** /app/reports: the budget in use, or a choice of budget. */
export async function reportsPickerView({ main, stale }) {
  const id = currentBudgetId();
  if (id) {
    navigate(`/app/budgets/${encodeURIComponent(id)}/reports`, { replace: true });
    return;
  }
  main.append(h('h1', {}, 'Reports'), loading('Loading budgets…'));
  focusHeading(main);
  try {
    const { items } = await ledger.budgets();
    if (stale()) return;
    main.querySelector('.loading').remove();
    if (!items.length) {
      main.append(empty('Create a budget first.', h('a', { href: '/app/budgets' }, 'Go to budgets')));
    } else if (items.length === 1) {
      navigate(`/app/budgets/${encodeURIComponent(items[0].id)}/reports`, { replace: true });
    } else {
      main.append(h('p', {}, 'Choose a budget:'), h('ul', {}, items.map((b) => h('li', {}, h('a', { href: `/app/budgets/${encodeURIComponent(b.id)}/reports` }, b.name)))));
    }
  } catch (error) {
    if (stale()) return;
    main.querySelector('.loading')?.remove();
    showError(main.appendChild(h('div')), error, 'Could not load your budgets');
  }
}

export async function reportsView(ctx) {
  const { main, params, query, stale } = ctx;
  main.append(h('h1', {}, 'Reports'), loading());
  focusHeading(main);
  let budget;
  try {
    budget = await loadBudget(params.budget);
  } catch (error) {
    if (stale()) return;
    main.querySelector('.loading')?.remove();
    showError(main.appendChild(h('div')), error, 'Could not open the budget');
    return;
  }
  if (stale()) return;
  main.querySelector('.loading').remove();
  main.querySelector('h1').append(h('span', { class: 'subtitle' }, ` · ${budget.name}`));
  document.title = `Reports · ${budget.name} · Budget`;

  const now = currentMonth(budget.time_zone);
  const fromValue = isMonth(query.get('from')) ? query.get('from') : addMonths(now, -5);
  const toValue = isMonth(query.get('to')) ? query.get('to') : now;
  const from = h('input', { type: 'month', id: 'report-from', value: fromValue, min: '1900-01', max: '2200-12', required: true });
  const to = h('input', { type: 'month', id: 'report-to', value: toValue, min: '1900-01', max: '2200-12', required: true });
  const errors = h('div', { class: 'form-errors' });
  const form = h('form', { class: 'filters', id: 'report-range', 'aria-label': 'Report range' }, field('From month', from), field('To month', to), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Show')), errors);

  const charts = [];
  const cards = {
    spending: chartCard('spending', 'Spending by category', 'Outflows per category over the whole range, on-budget accounts only.'),
    incomeExpense: chartCard('income-expense', 'Income vs expense by month', 'Income through income categories; expense net of refunds. Uncategorized inflows stay outside until categorised.'),
    netWorth: chartCard('net-worth', 'Net worth by month', 'Every account’s balance at each month’s end; positive balances are assets, negative ones liabilities.'),
  };
  main.append(form, h('div', { class: 'charts' }, cards.spending.el, cards.incomeExpense.el, cards.netWorth.el));

  const destroy = () => {
    while (charts.length) charts.pop().destroy();
  };

  async function load() {
    const f = from.value;
    const t = to.value;
    if (!isMonth(f) || !isMonth(t)) {
      showError(errors, new Error('Choose both months.'), 'Check the range');
      return;
    }
    if (t < f) {
      showError(errors, new Error('"To" is before "From".'), 'Check the range');
      return;
    }
    history.replaceState(history.state, '', `${location.pathname}?from=${f}&to=${t}`);
    destroy();
    for (const c of Object.values(cards)) c.loading();
    const result = await busy(form, errors, () =>
      Promise.all([ledger.report(budget.id, 'spending', f, t), ledger.report(budget.id, 'income-expense', f, t), ledger.report(budget.id, 'net-worth', f, t)]),
      'Could not load the reports',
    );
    if (stale()) return;
    if (!result) {
      for (const c of Object.values(cards)) c.clear();
      return;
    }
    if (!window.Chart) {
      showError(errors, new Error('The charting library (vendor/chartjs) did not load.'), 'Charts unavailable');
      return;
    }
    const [spending, incomeExpense, netWorth] = result.map((r) => r.items);
    charts.push(...[spendingChart(cards.spending, spending, budget), incomeExpenseChart(cards.incomeExpense, incomeExpense, budget), netWorthChart(cards.netWorth, netWorth, budget)].filter(Boolean));
    announce(`Reports for ${shortMonthLabel(f)} to ${shortMonthLabel(t)} are shown.`);
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });
  await load();
  return destroy;
}

function chartCard(id, title, description) {
  const body = h('div', { class: 'chart-body' });
  const table = h('div', { class: 'chart-table' });
  const el = h(
    'section',
    { class: 'card chart-card', id: `chart-${id}`, 'aria-labelledby': `chart-${id}-title` },
    h('h2', { id: `chart-${id}-title` }, title),
    h('p', { class: 'muted' }, description),
    body,
    h('details', {}, h('summary', {}, 'Show the figures as a table'), table),
  );
  return {
    el,
    loading() {
      clear(body).append(loading());
      clear(table);
    },
    clear() {
      clear(body);
      clear(table);
    },
    canvas(label) {
      const canvas = h('canvas', { id: `canvas-${id}`, role: 'img', 'aria-label': label });
      clear(body).append(h('div', { class: 'canvas-wrap' }, canvas));
      return canvas;
    },
    empty(text) {
      clear(body).append(empty(text));
    },
    table(headers, rows) {
      clear(table).append(
        h(
          'div',
          { class: 'table-wrap' },
          h('table', {}, h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { scope: 'col', class: i ? 'num' : null }, x)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((x, i) => (i ? h('td', { class: 'num' }, x) : h('th', { scope: 'row' }, x))))))),
        ),
      );
    },
  };
}

function moneyScale(budget) {
  const exp = budget.exponent;
  return {
    beginAtZero: true,
    ticks: {
      precision: 0,
      // Tick values are integer minor units; write them with the BigInt formatter.
      callback: (value) => formatMoney(BigInt(Math.round(value)), exp, ''),
    },
    title: { display: true, text: budget.currency },
  };
}

function tooltipLabel(budget) {
  return (item) => {
    const text = item.dataset.moneyLabels ? item.dataset.moneyLabels[item.dataIndex] : formatMoney(BigInt(Math.round(item.raw)), budget.exponent, budget.currency);
    return `${item.dataset.label}: ${text}`;
  };
}

function spendingChart(card, items, budget) {
  const exp = budget.exponent;
  const totals = new Map();
  for (const it of items) {
    const key = it.category_id || 'uncategorized';
    const prev = totals.get(key) || { name: it.category_name, minor: 0n };
    prev.minor += fromApi(it.spent, exp);
    totals.set(key, prev);
  }
  const rows = [...totals.values()].filter((r) => r.minor !== 0n).sort((a, b) => (b.minor > a.minor ? 1 : b.minor < a.minor ? -1 : a.name.localeCompare(b.name)));
  if (!rows.length) {
    card.empty('No spending in this range.');
    return null;
  }
  const display = rows.map((r) => formatMoney(r.minor, exp, budget.currency));
  card.table(['Category', 'Spent'], rows.map((r, i) => [r.name, display[i]]));
  const canvas = card.canvas(`Bar chart of spending by category: ${rows.map((r, i) => `${r.name} ${display[i]}`).join('; ')}`);
  return new window.Chart(canvas, {
    type: 'bar',
    data: {
      labels: rows.map((r) => r.name),
      datasets: [{ label: 'Spent', data: rows.map((r) => toChartNumber(r.minor)), moneyLabels: display, backgroundColor: rows.map((_, i) => COLORS[i % COLORS.length]) }],
    },
    options: {
      indexAxis: 'y',
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: tooltipLabel(budget) } } },
      scales: { x: moneyScale(budget) },
    },
  });
}

function incomeExpenseChart(card, items, budget) {
  const exp = budget.exponent;
  if (!items.length) {
    card.empty('No months in this range.');
    return null;
  }
  const income = items.map((i) => fromApi(i.income, exp));
  const expense = items.map((i) => fromApi(i.expense, exp));
  const net = items.map((i) => fromApi(i.net, exp));
  const f = (v) => formatMoney(v, exp, budget.currency);
  card.table(['Month', 'Income', 'Expense', 'Net'], items.map((it, i) => [shortMonthLabel(it.month), f(income[i]), f(expense[i]), f(net[i])]));
  const canvas = card.canvas(`Bar chart of income and expense per month: ${items.map((it, i) => `${shortMonthLabel(it.month)} income ${f(income[i])}, expense ${f(expense[i])}`).join('; ')}`);
  return new window.Chart(canvas, {
    type: 'bar',
    data: {
      labels: items.map((i) => shortMonthLabel(i.month)),
      datasets: [
        { label: 'Income', data: income.map(toChartNumber), moneyLabels: income.map(f), backgroundColor: '#2e9e6b' },
        { label: 'Expense', data: expense.map(toChartNumber), moneyLabels: expense.map(f), backgroundColor: '#d1495b' },
      ],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: { tooltip: { callbacks: { label: tooltipLabel(budget) } } },
      scales: { y: moneyScale(budget) },
    },
  });
}

function netWorthChart(card, items, budget) {
  const exp = budget.exponent;
  if (!items.length) {
    card.empty('No months in this range.');
    return null;
  }
  const f = (v) => formatMoney(v, exp, budget.currency);
  const assets = items.map((i) => fromApi(i.assets, exp));
  const liabilities = items.map((i) => fromApi(i.liabilities, exp));
  const worth = items.map((i) => fromApi(i.net_worth, exp));
  card.table(['Month', 'Assets', 'Liabilities', 'Net worth'], items.map((it, i) => [shortMonthLabel(it.month), f(assets[i]), f(liabilities[i]), f(worth[i])]));
  const canvas = card.canvas(`Line chart of net worth per month: ${items.map((it, i) => `${shortMonthLabel(it.month)} ${f(worth[i])}`).join('; ')}`);
  const scale = moneyScale(budget);
  scale.beginAtZero = false;
  return new window.Chart(canvas, {
    type: 'line',
    data: {
      labels: items.map((i) => shortMonthLabel(i.month)),
      datasets: [
        { label: 'Net worth', data: worth.map(toChartNumber), moneyLabels: worth.map(f), borderColor: '#2f6fdf', backgroundColor: 'rgba(47,111,223,0.15)', fill: true, pointRadius: 4 },
        { label: 'Assets', data: assets.map(toChartNumber), moneyLabels: assets.map(f), borderColor: '#2e9e6b', borderDash: [6, 4], pointRadius: 2 },
        { label: 'Liabilities', data: liabilities.map(toChartNumber), moneyLabels: liabilities.map(f), borderColor: '#d1495b', borderDash: [2, 3], pointRadius: 2 },
      ],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      // Straight segments between the month-end points: a curve would draw
      // values between them (and overshoots) that no balance ever had.
      elements: { line: { tension: 0, cubicInterpolationMode: 'default' } },
      plugins: { tooltip: { callbacks: { label: tooltipLabel(budget) } } },
      scales: { y: scale },
    },
  });
}
