#!/usr/bin/env node
// End-to-end test of the browser app (web/) in headless Chromium, driven with
// playwright-core against a running budget-host (or scripts/web-dev-server.py
// in front of one).
//
//   npm install --prefix web/.node playwright-core@1      # once
//   node scripts/browser-test.mjs --base-url http://127.0.0.1:8000 --admin-token "$BUDGET_ADMIN_TOKEN"
//
// It creates a user and a token through the admin API, then, in the browser:
// signs in (after a refused token), creates a budget, a group and categories,
// adds accounts, income, expenses (one split), edits, filters and deletes
// transactions, makes a transfer, assigns money and moves money (checking
// `available` and to-be-budgeted), imports a CSV and sees its overlap flagged
// as duplicate in the preview, renders the three report charts, and, in the
// release console, starts a canary of hello 2.0.0 (uploaded here: hello.wasm
// with a custom section appended), changes its weight, sees it in the status
// and aborts it. The host must serve the `hello` app and have the admin API on.
//
// Screenshots go to target/browser/. The last line is "N passed, N failed".

import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    'admin-token': { type: 'string', default: process.env.BUDGET_ADMIN_TOKEN },
    chromium: { type: 'string', default: process.env.CHROMIUM || '' },
    out: { type: 'string', default: join(repo, 'target', 'browser') },
    'hello-wasm': { type: 'string', default: join(repo, 'components', 'target', 'wasm32-wasip2', 'release', 'hello.wasm') },
    'playwright-dir': { type: 'string', default: process.env.PLAYWRIGHT_DIR || join(repo, 'web', '.node') },
    headed: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (args.help || !args['base-url'] || !args['admin-token']) {
  console.log('usage: node scripts/browser-test.mjs --base-url URL --admin-token TOKEN [--chromium PATH] [--out DIR] [--hello-wasm PATH] [--playwright-dir DIR]');
  process.exit(args.help ? 0 : 2);
}

const base = args['base-url'].replace(/\/+$/, '');
const adminToken = args['admin-token'];
const outDir = resolve(args.out);
mkdirSync(outDir, { recursive: true });

function loadPlaywright() {
  const dir = resolve(args['playwright-dir']);
  const require = createRequire(join(dir, 'package.json'));
  try {
    return require('playwright-core');
  } catch {
    const fallback = createRequire(import.meta.url);
    try {
      return fallback('playwright-core');
    } catch {
      console.error(`playwright-core not found. Install it with: npm install --prefix ${dir} playwright-core@1`);
      process.exit(2);
    }
  }
}

function findChromium() {
  if (args.chromium) return args.chromium;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    console.error('chromium not found: apt-get install -y chromium, or pass --chromium PATH');
    process.exit(2);
  }
}

// --- admin API (node side) -------------------------------------------------

async function adminCall(method, path, body, headers = {}) {
  const init = { method, headers: { authorization: `Bearer ${adminToken}`, ...headers } };
  if (body !== undefined) {
    if (body instanceof Uint8Array) {
      init.body = body;
    } else {
      init.body = JSON.stringify(body);
      init.headers['content-type'] = 'application/json';
    }
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  return { status: res.status, data };
}

function leb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** hello.wasm plus a custom section: same code, other bytes, so a new version. */
function helloV2() {
  const wasm = readFileSync(args['hello-wasm']);
  const name = Buffer.from('budget-web-browser-test');
  const payload = Buffer.from('hello 2.0.0 for the release console test');
  const content = Buffer.concat([Buffer.from(leb128(name.length)), name, payload]);
  return new Uint8Array(Buffer.concat([wasm, Buffer.from([0x00, ...leb128(content.length)]), content]));
}

// --- the run -----------------------------------------------------------------

const results = [];
const checkedViews = new Set();
let page;
let browser;
const pageErrors = [];

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    // Every step ends on a view: its whole text is checked too.
    if (page) await assertCleanText(`after "${name}"`);
    results.push({ name, ok: true });
    console.log(`ok   ${results.length}. ${name} (${Date.now() - started} ms)`);
    return true;
  } catch (error) {
    results.push({ name, ok: false, error });
    console.log(`FAIL ${results.length}. ${name} (${Date.now() - started} ms)\n     ${String(error && error.stack ? error.stack : error).split('\n').slice(0, 6).join('\n     ')}`);
    if (page) {
      const file = join(outDir, `failure-${results.length}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.log(`     screenshot: ${file}`);
      const status = await page.locator('#status').textContent().catch(() => '');
      const errors = await page.locator('.error-box').allTextContents().catch(() => []);
      if (status) console.log(`     status: ${status}`);
      for (const e of errors) console.log(`     error box: ${e}`);
    }
    return false;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Wait until `selector`'s text contains `text`. */
async function waitText(selector, text, timeout = 10000) {
  try {
    await page.waitForFunction(
      ([sel, t]) => {
        const el = document.querySelector(sel);
        return Boolean(el && el.textContent.includes(t));
      },
      [selector, text],
      { timeout },
    );
  } catch {
    const actual = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => '(missing)');
    throw new Error(`expected ${selector} to contain "${text}", found "${actual}"`);
  }
}

/**
 * The whole page's text has no stray "null", "undefined" or "NaN" word (a
 * null handed to Element.append, a missing field in a template string, a
 * float gone wrong). Waits for the view to finish loading first.
 */
async function assertCleanText(where) {
  await page.waitForFunction(() => !document.getElementById('main').hasAttribute('aria-busy') && !document.querySelector('main .loading'), null, { timeout: 10000 }).catch(() => {});
  const text = await page.evaluate(() => document.body.innerText);
  const m = /\b(null|undefined|NaN)\b/.exec(text);
  if (m) {
    const around = text.slice(Math.max(0, m.index - 80), m.index + 80).replace(/\s+/g, ' ');
    throw new Error(`${where}: the page shows a stray "${m[1]}": …${around}…`);
  }
  checkedViews.add(new URL(page.url()).pathname.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id').replace(/\d{4}-\d{2}$/, ':month'));
}

/**
 * The status message (shown now) covers no content: it overlaps neither
 * <main> nor any table row, canvas or control, with the page scrolled to
 * the top and with `bottomSelector` scrolled to the bottom of the screen.
 */
async function assertStatusCoversNothing(where, bottomSelector) {
  await page.locator('#status .status-message').waitFor({ state: 'visible' });
  // In the page's flow, not floating: then it covers nothing on any page,
  // however long, at any scroll position.
  const floating = await page.evaluate(() => {
    const out = [];
    for (let el = document.querySelector('#status .status-message'); el && el !== document.body; el = el.parentElement) {
      const { position } = getComputedStyle(el);
      if (position !== 'static' && position !== 'relative') out.push(`${el.id ? '#' + el.id : el.className || el.tagName} is position: ${position}`);
    }
    return out;
  });
  assert(!floating.length, `${where}: the status message floats over the page (${floating.join(', ')})`);
  const check = () =>
    page.evaluate(() => {
      const msg = document.querySelector('#status .status-message');
      if (!msg) return ['(the message is gone)'];
      const r = msg.getBoundingClientRect();
      const overlaps = (b) => b.width > 0 && b.height > 0 && r.left < b.right && b.left < r.right && r.top < b.bottom && b.top < r.bottom;
      const name = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.closest('table[id]') ? ' in #' + el.closest('table[id]').id : ''}`;
      const hits = [];
      if (overlaps(document.getElementById('main').getBoundingClientRect())) hits.push('main');
      for (const el of document.querySelectorAll('tr, canvas, input, select, button, h1, h2, a')) {
        if (el.closest('#status') || el.closest('.topbar')) continue;
        if (overlaps(el.getBoundingClientRect())) hits.push(name(el));
      }
      return hits.slice(0, 6);
    });
  await page.evaluate(() => window.scrollTo(0, 0));
  let hits = await check();
  assert(!hits.length, `${where}: the status message covers ${hits.join(', ')} (page at the top)`);
  if (bottomSelector) {
    await page.locator(bottomSelector).last().evaluate((el) => el.scrollIntoView({ block: 'end' }));
    hits = await check();
    assert(!hits.length, `${where}: the status message covers ${hits.join(', ')} (${bottomSelector} at the bottom of the screen)`);
    await page.evaluate(() => window.scrollTo(0, 0));
  }
}

function rowOf(tableSelector, text) {
  return page.locator(`${tableSelector} tbody tr`).filter({ hasText: text });
}

async function dialog() {
  const open = page.locator('dialog[open]');
  await open.waitFor();
  // Pin this very dialog: another may open as soon as it closes.
  const id = await open.getAttribute('aria-labelledby');
  return page.locator(`dialog[aria-labelledby="${id}"]`);
}

async function submitDialog(d) {
  await d.locator('button[type=submit]').click();
  await d.waitFor({ state: 'detached' });
}

async function optionValue(selectSelector, startsWith) {
  const value = await page.$eval(selectSelector, (el, prefix) => {
    const o = [...el.options].find((x) => x.textContent.startsWith(prefix));
    return o ? o.value : null;
  }, startsWith);
  assert(value !== null, `no option starting with "${startsWith}" in ${selectSelector}`);
  return value;
}

function monthIn(timeZone) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date());
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get('year')}-${get('month')}`;
}

async function main() {
  const { chromium } = loadPlaywright();
  const executablePath = findChromium();
  const stamp = new Date().toISOString().replace(/[-:T.Z]/g, '').slice(0, 14);
  const zone = 'Europe/Berlin';
  const month = monthIn(zone);
  let userToken;
  let budgetUrl;

  const ok0 = await step('admin API: create a user and a token, upload hello 2.0.0', async () => {
    const user = await adminCall('POST', '/admin/v1/users', { name: `browser-test-${stamp}` });
    assert(user.status === 201, `POST /admin/v1/users answered ${user.status}: ${JSON.stringify(user.data)}`);
    const token = await adminCall('POST', `/admin/v1/users/${user.data.id}/tokens`, { label: 'browser test' });
    assert(token.status === 201, `POST tokens answered ${token.status}`);
    userToken = token.data.token;
    const releases = await adminCall('GET', '/admin/v1/releases');
    assert(releases.status === 200, `GET /admin/v1/releases answered ${releases.status}`);
    const hello = releases.data.find((r) => r.app === 'hello');
    assert(hello, 'the host does not serve the `hello` app: add it to its apps.toml for the console step');
    if (hello.canary) {
      const abort = await adminCall('POST', '/admin/v1/apps/hello/release/abort', { reason: 'browser test: clean start' });
      assert(abort.status === 200, `abort of a leftover canary answered ${abort.status}`);
    }
    if (hello.stable !== '2.0.0') {
      const put = await adminCall('PUT', '/admin/v1/apps/hello/versions/2.0.0', helloV2(), { 'content-type': 'application/wasm', 'x-budget-notes': 'browser test' });
      assert(put.status === 201 || put.status === 200, `PUT hello 2.0.0 answered ${put.status}: ${JSON.stringify(put.data)}`);
    }
  });
  if (!ok0) return;

  browser = await chromium.launch({
    executablePath,
    headless: !args.headed,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'].filter((a) => args.headed ? a !== '--headless' : true),
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 4\d\d/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
  });

  const steps = [
    ['sign in (a refused token shows the 401 error first)', async () => {
      await page.goto(`${base}/app/budgets`);
      await page.waitForURL(/\/app\/signin\?next=/);
      await waitText('h1', 'Sign in');
      await assertCleanText('the sign-in page');
      await page.getByLabel('API token', { exact: true }).fill('bgt_not_a_real_token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await waitText('.error-box', '401');
      await waitText('.error-box', 'unknown or revoked');
      assert(await page.locator('.error-box .request-id').count() === 1, 'the error shows no request id');
      await page.getByLabel('API token', { exact: true }).fill(userToken);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/app\/budgets$/);
      await waitText('main', 'You have no budgets yet');
      await assertCleanText('the budget list');
      assert(await page.locator('#sign-out').isVisible(), 'no sign-out button');
    }],
    ['create a budget', async () => {
      await page.getByLabel('Name', { exact: true }).fill(`Household ${stamp}`);
      await page.getByLabel('Currency', { exact: true }).fill('EUR');
      await page.getByLabel('Time zone', { exact: true }).fill(zone);
      await page.getByRole('button', { name: 'Create budget' }).click();
      await page.waitForURL(new RegExp(`/app/budgets/[0-9a-f-]+/months/${month}$`));
      budgetUrl = page.url().replace(/\/months\/.*$/, '');
      await waitText('h1', `Household ${stamp}`);
      await waitText('#tbb', '0.00 EUR');
    }],
    ['create a category group and two categories', async () => {
      await page.click('#add-group');
      let d = await dialog();
      await d.getByLabel('Group name', { exact: true }).fill('Everyday');
      await submitDialog(d);
      d = await dialog(); // the category dialog follows, with the new group chosen
      await d.getByLabel('Category name', { exact: true }).fill('Groceries');
      await submitDialog(d);
      await rowOf('#categories-table', 'Groceries').waitFor();
      await page.click('#add-category');
      d = await dialog();
      await d.getByLabel('Group', { exact: true }).selectOption({ label: 'Everyday' });
      await d.getByLabel('Category name', { exact: true }).fill('Household');
      await submitDialog(d);
      await rowOf('#categories-table', 'Household').waitFor();
    }],
    ['add accounts', async () => {
      await page.getByRole('link', { name: 'Accounts', exact: true }).click();
      await page.waitForURL(/\/accounts$/);
      await waitText('#accounts', 'No accounts yet');
      await assertCleanText('the accounts page');
      for (const [name, type] of [['Checking', 'checking'], ['Savings', 'savings']]) {
        await page.click('#add-account');
        const d = await dialog();
        await d.getByLabel('Name', { exact: true }).fill(name);
        await d.getByLabel('Type', { exact: true }).selectOption(type);
        await submitDialog(d);
        await rowOf('#accounts-table', name).waitFor();
      }
      await waitText('#on-budget-total', '0.00 EUR');
    }],
    ['add income and expenses, one of them split (live remainder)', async () => {
      const add = async (payee, amount, category, extra) => {
        await page.click('#add-transaction');
        const d = await dialog();
        await d.locator('#tx-account').selectOption({ label: 'Checking' });
        await d.locator('#tx-payee').fill(payee);
        await d.locator('#tx-amount').fill(amount);
        await d.locator('#tx-category').selectOption({ label: category });
        if (extra) await extra(d);
        await submitDialog(d);
        await rowOf('#transactions-table', payee).waitFor();
      };
      await add('Employer', '2500.00', 'Ready to Assign');
      await add('Grocer', '-42.10', 'Groceries');
      await add('Market', '-100.00', 'Split between categories…', async (d) => {
        const lines = d.locator('.split-line');
        await lines.nth(0).locator('.split-amount').fill('-60.00');
        await lines.nth(0).locator('.split-category').selectOption({ label: 'Groceries' });
        await waitText('#split-remainder', '-40.00 EUR');
        await lines.nth(1).locator('.split-amount').fill('-39.99');
        await waitText('#split-remainder', '-0.01 EUR');
        await lines.nth(1).locator('.split-amount').fill('-40');
        await lines.nth(1).locator('.split-category').selectOption({ label: 'Household' });
        await lines.nth(1).locator('.split-memo').fill('soap');
        await waitText('#split-remainder', '0.00 EUR');
        await waitText('#split-remainder', 'add up');
      });
      await waitText('#transactions-table', 'Split: Groceries -60.00, Household -40.00');
      await waitText('#accounts-table', '2,357.90 EUR');
    }],
    ['edit, filter and delete transactions; transfer between accounts', async () => {
      // Edit (PATCH): a memo on the grocer's transaction.
      await page.locator('#transactions-table').getByRole('button', { name: /^Edit \S+ Grocer / }).click();
      let d = await dialog();
      await d.locator('#tx-memo').fill('weekly shop');
      await submitDialog(d);
      await waitText('#transactions-table', 'weekly shop');
      // A mistake, then its deletion.
      await page.click('#add-transaction');
      d = await dialog();
      await d.locator('#tx-payee').fill('Mistake');
      await d.locator('#tx-amount').fill('-1.00');
      await submitDialog(d);
      await rowOf('#transactions-table', 'Mistake').waitFor();
      await rowOf('#transactions-table', 'Mistake').getByRole('button', { name: /^Delete/ }).click();
      d = await dialog();
      await d.getByRole('button', { name: 'Delete' }).click();
      await d.waitFor({ state: 'detached' });
      await rowOf('#transactions-table', 'Mistake').waitFor({ state: 'detached' });
      await waitText('#tx-count', '3 transactions shown');
      // Filter by payee.
      await page.locator('#filter-payee').fill('Grocer');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await waitText('#tx-count', '1 transaction shown');
      await page.locator('#tx-filters').getByRole('button', { name: 'Clear' }).click();
      await waitText('#tx-count', '3 transactions shown');
      // Transfer 100.00 to savings.
      await page.click('#add-transfer');
      d = await dialog();
      await d.locator('#tr-from').selectOption({ label: 'Checking' });
      await d.locator('#tr-to').selectOption({ label: 'Savings' });
      await d.locator('#tr-amount').fill('100.00');
      await submitDialog(d);
      await rowOf('#transfers-table', 'Savings').waitFor();
      await waitText('#accounts-table', '2,257.90 EUR');
      await waitText('#on-budget-total', '2,357.90 EUR');
      await page.screenshot({ path: join(outDir, 'accounts.png'), fullPage: true });
    }],
    ['assign money and see available and to-be-budgeted update; move money', async () => {
      await page.getByRole('link', { name: 'Month', exact: true }).click();
      await page.waitForURL(new RegExp(`/months/${month}$`));
      await waitText('#tbb', '2,500.00 EUR');
      await assertCleanText('the month');
      const groceries = rowOf('#categories-table', 'Groceries');
      await groceries.locator('td.available').filter({ hasText: '-102.10' }).waitFor();
      const input = groceries.locator('input.cell-input');
      await input.fill('150');
      await input.press('Enter');
      await groceries.locator('td.available').filter({ hasText: '47.90' }).waitFor();
      await waitText('#tbb', '2,350.00 EUR');
      await waitText('#status', 'Available: 47.90 EUR');
      await assertStatusCoversNothing('the month, after assigning', '#categories-table tbody tr');
      // Excess precision is refused in the cell, before any request.
      const household = rowOf('#categories-table', 'Household');
      await household.locator('input.cell-input').fill('10.001');
      await household.locator('input.cell-input').press('Enter');
      await waitText('#categories-table', 'at most 2 fraction digits');
      await household.locator('input.cell-input').press('Escape');
      // Move 10.00 from Groceries to Household.
      await page.click('#move-money');
      const d = await dialog();
      await d.getByLabel('From', { exact: true }).selectOption(await optionValue('dialog[open] select[name=from]', 'Groceries'));
      await d.getByLabel('To', { exact: true }).selectOption(await optionValue('dialog[open] select[name=to]', 'Household'));
      await d.getByLabel(/^Amount/).fill('10.00');
      await submitDialog(d);
      await household.locator('td.available').filter({ hasText: '-30.00' }).waitFor();
      await groceries.locator('td.available').filter({ hasText: '37.90' }).waitFor();
      await waitText('#tbb', '2,350.00 EUR');
      // Amounts of a thousand and more: the assigned cell groups its digits
      // like every other figure (1,200.00, not 1200.00) and reads that back.
      const householdInput = household.locator('input.cell-input');
      await householdInput.fill('1200');
      await householdInput.press('Enter');
      await household.locator('td.available').filter({ hasText: '1,160.00' }).waitFor();
      await waitText('#tbb', '1,160.00 EUR');
      let shown = await householdInput.inputValue();
      assert(shown === '1,200.00', `the assigned cell shows "${shown}", not "1,200.00" as every other figure would`);
      await householdInput.fill('1,250.00'); // the grouped form, as shown, is accepted as input
      await householdInput.press('Enter');
      await household.locator('td.available').filter({ hasText: '1,210.00' }).waitFor();
      await waitText('#tbb', '1,110.00 EUR');
      await waitText('#status', 'Assigned 1,250.00 EUR to Household');
      await householdInput.fill('7');
      await householdInput.press('Escape');
      shown = await householdInput.inputValue();
      assert(shown === '1,250.00', `Escape put back "${shown}", not "1,250.00"`);
      const cells = await page.$$eval('#categories-table input.cell-input', (els) => els.map((e) => e.value));
      const groupRow = await page.locator('#categories-table tr.group-row').filter({ hasText: 'Everyday' }).locator('td').first().innerText();
      assert(groupRow === '1,390.00', `the group's assigned total is "${groupRow}", not "1,390.00"`);
      for (const v of cells) assert(/^-?\d{1,3}(,\d{3})*\.\d{2}$/.test(v), `an assigned cell shows "${v}", not a grouped amount`);
      await page.screenshot({ path: join(outDir, 'month.png'), fullPage: true });
      // 375 px wide: nothing overflows the page sideways, and every link of
      // the top navigation is on screen (the list wraps rather than scrolls).
      await page.setViewportSize({ width: 375, height: 812 });
      await page.waitForTimeout(200);
      const { overflow, culprits } = await page.evaluate(() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        culprits: [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest('.table-wrap'))
          .slice(0, 5)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + String(el.className).split(' ').join('.') : ''}`),
      }));
      const nav = await page.evaluate(() => {
        const list = document.getElementById('nav');
        const links = [...list.querySelectorAll('a')].map((a) => {
          const r = a.getBoundingClientRect();
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return {
            label: a.textContent,
            inside: r.left >= -0.5 && r.right <= window.innerWidth + 0.5 && r.width > 0 && r.height > 0,
            onTop: Boolean(hit && (hit === a || a.contains(hit))),
          };
        });
        return { links, scrolls: list.scrollWidth > list.clientWidth + 1 };
      });
      await page.screenshot({ path: join(outDir, 'month-375px.png'), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });
      assert(overflow <= 1, `at 375 px the page is ${overflow} px wider than the screen: ${culprits.join(', ')}`);
      const labels = nav.links.map((l) => l.label).join(', ');
      assert(labels === 'Budgets, Month, Accounts, Import, Reports, Console', `the navigation has ${labels}`);
      const hidden = nav.links.filter((l) => !l.inside || !l.onTop).map((l) => l.label);
      assert(!hidden.length, `at 375 px these navigation links are cut off or hidden: ${hidden.join(', ')}`);
      assert(!nav.scrolls, 'at 375 px the navigation scrolls sideways instead of wrapping');
    }],
    ['import a CSV; its overlap is flagged as duplicate in the preview', async () => {
      await page.getByRole('link', { name: 'Import', exact: true }).click();
      await page.waitForURL(/\/import$/);
      await page.locator('#import-account').selectOption({ label: 'Checking' });
      const csv1 = `Date,Payee,Amount\n${month}-02,Bakery,-4.20\n${month}-03,Pharmacy,-12.95\n${month}-04,Refund,8.00\n`;
      await page.locator('#import-csv').fill(csv1);
      await page.waitForFunction(() => [...document.querySelectorAll('#map-amount option')].some((o) => o.value === 'Amount'));
      await page.locator('#map-date').selectOption('Date');
      await page.locator('#map-payee').selectOption('Payee');
      await page.locator('#map-amount').selectOption('Amount');
      await page.click('#preview-import');
      await waitText('#import-counts', '3 to add');
      assert(await page.locator('#import-rows tbody tr[data-status=added]').count() === 3, 'the preview does not list 3 rows to add');
      await page.click('#run-import');
      await waitText('#import-counts', '3 added');
      const csv2 = `Date,Payee,Amount\n${month}-03,Pharmacy,-12.95\n${month}-04,Refund,8.00\n${month}-05,Cinema,-18.50\nnot a date,Broken,1.00\n`;
      await page.locator('#import-csv').fill(csv2);
      await page.click('#preview-import');
      await waitText('#import-counts', '2 duplicates');
      assert(await page.locator('#import-rows tbody tr[data-status=duplicate]').count() === 2, 'the overlap is not flagged duplicate');
      assert(await page.locator('#import-rows tbody tr[data-status=added]').count() === 1, 'the new row is not to be added');
      assert(await page.locator('#import-rows tbody tr[data-status=error]').count() === 1, 'the broken row is not an error');
      await waitText('#import-rows', 'Pharmacy');
      assert(await page.locator('#run-import').isEnabled(), 'Import is not enabled after the preview');
      await page.screenshot({ path: join(outDir, 'import-preview.png'), fullPage: true });
    }],
    ['reports: each chart renders', async () => {
      await page.getByRole('link', { name: 'Reports', exact: true }).click();
      await page.waitForURL(/\/reports/);
      const [y, m] = month.split('-').map(Number);
      const index = y * 12 + (m - 1) - 2;
      const from = `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
      await page.locator('#report-from').fill(from);
      await page.locator('#report-to').fill(`${month}`);
      await page.getByRole('button', { name: 'Show' }).click();
      for (const id of ['canvas-spending', 'canvas-income-expense', 'canvas-net-worth']) {
        await page.locator(`#${id}`).waitFor();
      }
      await page.waitForTimeout(300);
      const report = await page.evaluate(() =>
        ['canvas-spending', 'canvas-income-expense', 'canvas-net-worth'].map((id) => {
          const canvas = document.getElementById(id);
          const chart = window.Chart && window.Chart.getChart(canvas);
          const ctx = canvas.getContext('2d');
          const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
          return {
            id,
            chart: Boolean(chart),
            type: chart ? chart.config.type : null,
            points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0,
            width: canvas.width,
            height: canvas.height,
            painted,
          };
        }),
      );
      for (const r of report) {
        assert(r.chart, `${r.id}: no Chart instance`);
        assert(r.points > 0, `${r.id}: the chart has no data`);
        assert(r.id === 'canvas-spending' || r.points >= 3, `${r.id}: expected a point per month of the range`);
        assert(r.width > 0 && r.height > 0, `${r.id}: the canvas has no size`);
        assert(r.painted > 500, `${r.id}: the canvas is (nearly) blank (${r.painted} painted pixels)`);
      }
      console.log(`     charts: ${report.map((r) => `${r.id} ${r.type} ${r.points} points ${r.width}x${r.height} ${r.painted} px painted`).join('; ')}`);
      // Month-end figures are joined by straight segments, not curves that
      // draw values between them which no balance ever had.
      const lines = await page.evaluate(() => {
        const chart = window.Chart.getChart(document.getElementById('canvas-net-worth'));
        return chart.data.datasets.map((d, i) => {
          const o = chart.getDatasetMeta(i).dataset.options;
          return { label: d.label, tension: o.tension, mode: o.cubicInterpolationMode, stepped: o.stepped };
        });
      });
      for (const l of lines) {
        assert(l.tension === 0 && l.mode !== 'monotone', `net worth: "${l.label}" is drawn as a curve (tension ${l.tension}, ${l.mode})`);
      }
      await waitText('#status', 'Reports for');
      await assertStatusCoversNothing('the reports', '#canvas-net-worth');
      await page.locator('#chart-spending details summary').click();
      await waitText('#chart-spending details', 'Groceries');
      await page.screenshot({ path: join(outDir, 'reports.png'), fullPage: true });
    }],
    ['release console: start a canary, change its weight, see it in the status', async () => {
      await page.getByRole('link', { name: 'Console', exact: true }).click();
      await page.waitForURL(/\/app\/console$/);
      await assertCleanText('the operator sign-in');
      await page.getByLabel('Admin token', { exact: true }).fill(userToken); // a user token is not an admin token
      await page.getByRole('button', { name: 'Sign in as operator' }).click();
      await waitText('.error-box', '403');
      await page.getByLabel('Admin token', { exact: true }).fill(adminToken);
      await page.getByRole('button', { name: 'Sign in as operator' }).click();
      await rowOf('#releases-table', 'hello').waitFor();
      await assertCleanText('the release console');
      await page.locator('#releases-table').getByRole('link', { name: 'hello', exact: true }).click();
      await page.waitForURL(/\/app\/console\/apps\/hello$/);
      await page.locator('#canary-version').waitFor();
      await page.locator('#app-history table, #app-history .empty').first().waitFor();
      await assertCleanText('hello in the console, no canary');
      await page.locator('#canary-version').selectOption('2.0.0');
      await page.locator('#canary-weight').fill('10');
      await page.locator('#canary-reason').fill('browser test');
      await page.getByRole('button', { name: 'Start canary' }).click();
      await waitText('#status-canary', '2.0.0');
      await waitText('#status-weight', '10 %');
      await page.locator('#weight-input').fill('25');
      await page.getByRole('button', { name: 'Set weight' }).click();
      await waitText('#status-weight', '25 %');
      await waitText('#releases-table tr[data-app=hello] td.weight', '25 % canary');
      await waitText('#status', 'weight set to 25 %');
      await rowOf('#history-table', 'weight').first().waitFor();
      await assertCleanText('hello in the console, canary at 25 %');
      await assertStatusCoversNothing('the console, after setting the weight', '#versions-table tbody tr');
      await page.screenshot({ path: join(outDir, 'console.png'), fullPage: true });
      await page.click('#abort');
      const d = await dialog();
      await d.getByRole('button', { name: 'Abort canary' }).click();
      await d.waitFor({ state: 'detached' });
      await waitText('#status-canary', 'none');
      await rowOf('#history-table', 'abort').first().waitFor();
    }],
    ['sign out', async () => {
      await page.getByRole('link', { name: 'Budgets', exact: true }).click();
      await page.click('#sign-out');
      await page.waitForURL(/\/app\/signin/);
      const stored = await page.evaluate(() => sessionStorage.getItem('budget.token'));
      assert(stored === null, 'the token is still in sessionStorage');
      await page.goto(budgetUrl);
      await page.waitForURL(/\/app\/signin\?next=/);
    }],
  ];

  for (const [name, fn] of steps) {
    if (!(await step(name, fn))) break;
  }
  console.log(`     whole-page text checked on: ${[...checkedViews].sort().join(', ')}`);
  if (pageErrors.length) {
    results.push({ name: 'no JavaScript errors on the page', ok: false });
    console.log(`FAIL ${results.length}. no JavaScript errors on the page\n     ${pageErrors.join('\n     ')}`);
  } else if (results.every((r) => r.ok)) {
    results.push({ name: 'no JavaScript errors on the page', ok: true });
    console.log(`ok   ${results.length}. no JavaScript errors on the page`);
  }
}

try {
  await main();
} catch (error) {
  results.push({ name: 'the driver itself', ok: false, error });
  console.log(`FAIL the driver: ${error && error.stack ? error.stack : error}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`screenshots: ${outDir}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
