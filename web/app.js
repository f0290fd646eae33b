// Entry point: the shell (navigation, session), the routes, and the guard
// that sends signed-out users to the sign-in page.

import { onUnauthorized, tokens } from './js/api.js';
import { announce, h, clear } from './js/dom.js';
import { guard, navigate, notFound, route, start } from './js/router.js';
import { currentBudgetId, forgetAll, setCurrentBudget } from './js/state.js';
import { signInView } from './js/views/signin.js';
import { budgetsView, budgetHomeView } from './js/views/budgets.js';
import { monthView } from './js/views/month.js';
import { accountsView } from './js/views/accounts.js';
import { importView } from './js/views/import.js';
import { reportsView, reportsPickerView } from './js/views/reports.js';
import { consoleView } from './js/views/console.js';
import { focusHeading } from './js/router.js';

const PUBLIC = new Set(['/app/signin']);

route('/', () => navigate('/app/budgets', { replace: true }));
route('/app', () => navigate('/app/budgets', { replace: true }));
route('/app/signin', signInView);
route('/app/budgets', budgetsView);
route('/app/budgets/:budget', budgetHomeView);
route('/app/budgets/:budget/months/:month', monthView);
route('/app/budgets/:budget/accounts', accountsView);
route('/app/budgets/:budget/import', importView);
route('/app/budgets/:budget/reports', reportsView);
route('/app/reports', reportsPickerView);
route('/app/console', consoleView);
route('/app/console/apps/:app', consoleView);
notFound(async ({ main }) => {
  main.append(
    h('h1', {}, 'Page not found'),
    h('p', {}, 'There is nothing at this address. ', h('a', { href: '/app/budgets' }, 'Go to your budgets'), '.'),
  );
  focusHeading(main);
});

guard((found, url) => {
  const path = url.pathname;
  const isConsole = path === '/app/console' || path.startsWith('/app/console/');
  if (!PUBLIC.has(path) && !isConsole && !tokens.user()) {
    return `/app/signin?next=${encodeURIComponent(path + url.search)}`;
  }
  if (found && found.params.budget) {
    if (currentBudgetId() !== found.params.budget) setCurrentBudget(found.params.budget);
  }
  return null;
});

// A 401 on a user call means the token was revoked or mistyped: sign out and
// ask again. (The console handles admin 401s itself.)
onUnauthorized(({ admin }) => {
  if (admin) return;
  if (!tokens.user()) return;
  tokens.clearUser();
  forgetAll();
  announce('Your token was refused (401). Please sign in again.', 'error');
  const here = location.pathname + location.search;
  if (!here.startsWith('/app/signin')) navigate(`/app/signin?next=${encodeURIComponent(here)}&expired=1`, { replace: true });
});

function navLink(href, label, current) {
  const active = current === href || (href !== '/app/budgets' && current.startsWith(href));
  return h('li', {}, h('a', { href, 'aria-current': active ? 'page' : null }, label));
}

function renderShell() {
  const nav = clear(document.getElementById('nav'));
  const session = clear(document.getElementById('session'));
  const path = location.pathname;
  const signedIn = Boolean(tokens.user());
  if (signedIn) {
    nav.append(navLink('/app/budgets', 'Budgets', path));
    const b = currentBudgetId();
    if (b) {
      const base = `/app/budgets/${encodeURIComponent(b)}`;
      const monthActive = path.startsWith(`${base}/months`);
      nav.append(
        h('li', {}, h('a', { href: base, 'aria-current': monthActive ? 'page' : null }, 'Month')),
        navLink(`${base}/accounts`, 'Accounts', path),
        navLink(`${base}/import`, 'Import', path),
        navLink(`${base}/reports`, 'Reports', path),
      );
    }
  }
  nav.append(navLink('/app/console', 'Console', path));
  if (signedIn) {
    session.append(
      h(
        'button',
        {
          type: 'button',
          class: 'link-button',
          id: 'sign-out',
          onclick: () => {
            tokens.clearUser();
            forgetAll();
            announce('Signed out.');
            navigate('/app/signin');
          },
        },
        'Sign out',
      ),
    );
  } else if (path !== '/app/signin') {
    session.append(h('a', { href: '/app/signin' }, 'Sign in'));
  }
}

document.addEventListener('routechange', renderShell);
document.addEventListener('budgetchange', renderShell);

start();
