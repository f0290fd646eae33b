// What the app remembers between views: budgets it has loaded, the budget
// in use, and category groups created in this session (the API lists a group
// only once it holds a category, and has no endpoint for groups alone).

import { ledger } from './api.js';

const budgets = new Map();
const CURRENT_KEY = 'budget.current';

export function rememberBudget(budget) {
  budgets.set(budget.id, budget);
}

export async function loadBudget(id) {
  if (budgets.has(id)) return budgets.get(id);
  const budget = await ledger.budget(id);
  rememberBudget(budget);
  return budget;
}

export function forgetAll() {
  budgets.clear();
  sessionStorage.removeItem(CURRENT_KEY);
  for (let i = sessionStorage.length - 1; i >= 0; i--) {
    const key = sessionStorage.key(i);
    if (key && key.startsWith('budget.groups.')) sessionStorage.removeItem(key);
  }
}

export function currentBudgetId() {
  return sessionStorage.getItem(CURRENT_KEY);
}

export function setCurrentBudget(id) {
  if (id) sessionStorage.setItem(CURRENT_KEY, id);
  else sessionStorage.removeItem(CURRENT_KEY);
  document.dispatchEvent(new CustomEvent('budgetchange', { detail: { id } }));
}

function groupsKey(budgetId) {
  return `budget.groups.${budgetId}`;
}

export function sessionGroups(budgetId) {
  try {
    return JSON.parse(sessionStorage.getItem(groupsKey(budgetId)) || '[]');
  } catch {
    return [];
  }
}

export function addSessionGroup(budgetId, group) {
  const list = sessionGroups(budgetId).filter((g) => g.id !== group.id);
  list.push({ id: group.id, name: group.name, is_income: Boolean(group.is_income) });
  sessionStorage.setItem(groupsKey(budgetId), JSON.stringify(list));
}

/**
 * Groups known for a budget: those the category list shows (in its order),
 * then those created in this session that hold no category yet.
 */
export function groupsFrom(categories, budgetId) {
  const seen = new Map();
  for (const c of categories) {
    if (!seen.has(c.group_id)) seen.set(c.group_id, { id: c.group_id, name: c.group_name, is_income: c.is_income });
  }
  for (const g of sessionGroups(budgetId)) if (!seen.has(g.id)) seen.set(g.id, g);
  return [...seen.values()];
}

/** Options for a category <select>, grouped: [{group, options:[{value,label}]}]. */
export function categoryOptions(categories, { includeIncome = true, includeHidden = false } = {}) {
  const groups = new Map();
  for (const c of categories) {
    if (!includeIncome && c.is_income) continue;
    if (!includeHidden && c.hidden) continue;
    if (!groups.has(c.group_id)) groups.set(c.group_id, { group: c.group_name, options: [] });
    groups.get(c.group_id).options.push({ value: c.id, label: c.name });
  }
  return [...groups.values()];
}
