// The release console (docs/releases.md): every app's release status,
// one app's versions and history, and the canary actions. Behind the admin
// token, which has its own sign-in and is kept in sessionStorage.

import { ApiError, admin, request, tokens } from '../api.js';
import { announce, append, busy, clear, empty, field, h, loading, select, showError } from '../dom.js';
import { focusHeading, navigate } from '../router.js';
import { confirmDialog } from './txform.js';

const REFRESH_MS = 5000;

export async function consoleView(ctx) {
  const { main, params } = ctx;
  main.append(h('h1', {}, 'Release console'));
  if (!tokens.admin()) {
    main.append(operatorSignIn(ctx));
    focusHeading(main);
    main.querySelector('input').focus();
    return;
  }
  const page = new ConsolePage(ctx, params.app || null);
  return page.mount();
}

function operatorSignIn(ctx) {
  const input = h('input', { type: 'password', id: 'admin-token', required: true, autocomplete: 'off', spellcheck: 'false' });
  const errors = h('div', { class: 'form-errors' });
  const form = h(
    'form',
    { class: 'card narrow', id: 'operator-signin', 'aria-labelledby': 'operator-title' },
    h('h2', { id: 'operator-title' }, 'Operator sign-in'),
    field('Admin token', input, 'The host’s admin token (BUDGET_ADMIN_TOKEN). It stays in this tab only, apart from your API token.'),
    errors,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in as operator')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    const ok = await busy(form, errors, async () => {
      try {
        await request('GET', '/admin/v1/releases', { token, admin: true });
      } catch (error) {
        if (error instanceof ApiError) {
          const detail = {
            401: 'no admin token reached the server.',
            403: 'this is not the admin token (an API user token does not work here).',
            404: 'the admin API is off on this host (it has no admin token).',
          }[error.status];
          if (detail) throw new ApiError(error.status, { error: { name: error.code, detail, id: error.requestId } }, error.requestId);
        }
        throw error;
      }
      return true;
    }, 'Operator sign-in failed');
    if (ok) {
      tokens.setAdmin(token);
      announce('Signed in as operator.');
      navigate(ctx.path, { replace: true });
    } else {
      input.focus();
    }
  });
  return form;
}

function pct(n) {
  return `${n} %`;
}

function describeObserved(status) {
  const o = status.observed;
  if (!status.canary || !o) return '—';
  if (o.unavailable) return 'unavailable';
  if (o.canary_percent === null || o.canary_percent === undefined) return 'no traffic';
  return `${o.canary_percent.toFixed(1)} %`;
}

function describeStep(canary) {
  if (!canary) return '—';
  if (!canary.steps || !canary.steps.length) return 'fixed weight';
  return `${canary.step + 1}/${canary.steps.length}`;
}

function describeVerdict(status) {
  const v = status.verdict;
  if (v) return `${v.outcome}: ${v.reason}`;
  if (!status.canary) return '—';
  if (status.canary.state === 'paused') return 'paused: not judged';
  return `collecting (${status.canary.analysis ? status.canary.analysis.interval_s : '?'} s per verdict)`;
}

function describePod(pod) {
  if (!pod) return '—';
  if (pod.state !== 'ready') return `${pod.state}${pod.reason ? `: ${pod.reason}` : ''}`;
  return `ready, gen ${pod.generation}${pod.canary ? `, canary ${pod.canary.version} at ${pod.canary.weight} %` : ''}`;
}

class ConsolePage {
  constructor(ctx, app) {
    this.ctx = ctx;
    this.main = ctx.main;
    this.app = app;
    this.timer = null;
    this.actionsKey = null;
  }

  mount() {
    const auto = h('input', { type: 'checkbox', id: 'auto-refresh', checked: true });
    auto.addEventListener('change', () => this.schedule());
    this.updated = h('span', { class: 'muted', id: 'console-updated' });
    this.tableSlot = h('div', { class: 'table-wrap', id: 'releases' });
    this.errorSlot = h('div');
    this.autoToggle = auto;
    this.main.append(
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', id: 'console-refresh', onclick: () => this.refresh(true) }, 'Refresh'),
        h('span', { class: 'toggle' }, auto, h('label', { for: 'auto-refresh' }, `Refresh every ${REFRESH_MS / 1000} s`)),
        this.updated,
        h(
          'button',
          {
            type: 'button',
            class: 'link-button',
            id: 'operator-sign-out',
            onclick: () => {
              tokens.clearAdmin();
              announce('Operator signed out.');
              navigate('/app/console');
            },
          },
          'Operator sign out',
        ),
      ),
      this.errorSlot,
      h('section', { 'aria-labelledby': 'apps-title' }, h('h2', { id: 'apps-title' }, 'Apps'), this.tableSlot),
    );
    if (this.app) {
      this.detail = new AppDetail(this, this.app);
      this.main.append(this.detail.el);
    } else {
      this.main.append(h('p', { class: 'muted' }, 'Choose an app to see its versions and history and to run a canary.'));
    }
    focusHeading(this.main);
    this.tableSlot.append(loading('Loading releases…'));
    this.refresh(true);
    return () => window.clearTimeout(this.timer);
  }

  schedule() {
    window.clearTimeout(this.timer);
    if (this.autoToggle.checked && !this.ctx.stale()) this.timer = window.setTimeout(() => this.refresh(false), REFRESH_MS);
  }

  async refresh(full) {
    window.clearTimeout(this.timer);
    // Only the latest refresh draws: an older one still in flight (an
    // automatic one when an action answers) must not draw stale data.
    this.seq = (this.seq || 0) + 1;
    const seq = this.seq;
    const superseded = () => seq !== this.seq || this.ctx.stale();
    try {
      const statuses = await admin.releases();
      if (superseded()) return;
      clear(this.errorSlot);
      this.renderTable(statuses);
      if (this.detail) {
        const status = statuses.find((s) => s.app === this.app);
        await this.detail.update(status, full, superseded);
      }
      if (superseded()) return;
      this.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (superseded()) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        tokens.clearAdmin();
        announce('The admin token was refused. Sign in as operator again.', 'error');
        navigate(this.ctx.path, { replace: true });
        return;
      }
      this.tableSlot.querySelector('.loading')?.remove();
      showError(this.errorSlot, error, 'Could not load the releases');
    }
    this.schedule();
  }

  renderTable(statuses) {
    // Redraw only on a change: a table replaced every few seconds under a
    // screen reader's or a mouse's position is hard to use.
    const json = JSON.stringify(statuses);
    if (json === this.lastTable) return;
    this.lastTable = json;
    clear(this.tableSlot);
    if (!statuses.length) {
      this.tableSlot.append(empty('This host serves no apps.'));
      return;
    }
    this.tableSlot.append(
      h(
        'table',
        { id: 'releases-table' },
        h('caption', { class: 'visually-hidden' }, 'Release status of every app'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['App', 'Stable', 'Canary', 'State', 'Weight set', 'Observed', 'Step', 'Verdict', 'This pod'].map((x) => h('th', { scope: 'col' }, x)),
          ),
        ),
        h(
          'tbody',
          {},
          statuses.map((s) =>
            h(
              'tr',
              { dataset: { app: s.app }, class: s.app === this.app ? 'selected' : null, 'aria-current': s.app === this.app ? 'true' : null },
              h('th', { scope: 'row' }, h('a', { href: `/app/console/apps/${encodeURIComponent(s.app)}` }, s.app)),
              h('td', {}, s.stable),
              h('td', {}, s.canary ? s.canary.version : '—'),
              h('td', {}, s.canary ? h('span', { class: `badge ${s.canary.state}` }, s.canary.state) : 'stable'),
              h('td', { class: 'weight' }, s.canary ? `${pct(s.canary.weight)} canary / ${pct(100 - s.canary.weight)} stable` : '100 % stable'),
              h('td', {}, describeObserved(s)),
              h('td', {}, describeStep(s.canary)),
              h('td', { class: 'verdict' }, describeVerdict(s)),
              h('td', {}, describePod(s.pod)),
            ),
          ),
        ),
      ),
    );
  }
}

class AppDetail {
  constructor(page, app) {
    this.page = page;
    this.app = app;
    this.status = null;
    this.statusSlot = h('div', { id: 'app-status' });
    this.actionsSlot = h('div', { id: 'app-actions' });
    this.versionsSlot = h('div', { class: 'table-wrap', id: 'app-versions' });
    this.historySlot = h('div', { class: 'table-wrap', id: 'app-history' });
    this.errorSlot = h('div');
    this.el = h(
      'section',
      { class: 'card', 'aria-labelledby': 'app-title', id: 'app-detail' },
      h('h2', { id: 'app-title' }, `App ${app}`),
      this.statusSlot,
      this.errorSlot,
      this.actionsSlot,
      h('h3', {}, 'Versions'),
      this.versionsSlot,
      h('h3', {}, 'History'),
      this.historySlot,
    );
    this.actionsKey = null;
  }

  async update(status, full, superseded = () => false) {
    if (!status) {
      clear(this.statusSlot).append(empty(`There is no app called ${this.app} on this host.`));
      clear(this.actionsSlot);
      return;
    }
    this.status = status;
    this.renderStatus();
    const key = status.canary ? `${status.canary.version}|${status.canary.state}` : `none|${status.stable}`;
    if (full || key !== this.actionsKey || !this.versions) {
      try {
        const [versions, history] = await Promise.all([admin.versions(this.app), admin.history(this.app)]);
        if (superseded()) return;
        this.versions = versions;
        this.renderVersions();
        this.renderHistory(history);
      } catch (error) {
        showError(this.errorSlot, error, 'Could not load versions and history');
      }
    } else {
      // History changes with the analysis's own steps too.
      await admin.history(this.app).then((history) => superseded() || this.renderHistory(history), () => {});
    }
    if (superseded()) return;
    if (key !== this.actionsKey) {
      this.actionsKey = key;
      this.renderActions();
    }
  }

  renderStatus() {
    const s = this.status;
    const json = JSON.stringify(s);
    if (json === this.lastStatus) return;
    this.lastStatus = json;
    const c = s.canary;
    const row = (label, value, id) => h('div', { class: 'stat' }, h('dt', {}, label), h('dd', { id }, value));
    // dom.append: without a canary the note below is null, which
    // Element.append would write as the text "null".
    append(
      clear(this.statusSlot),
      h(
        'dl',
        { class: 'stats release-stats' },
        row('Stable', `${s.stable}${c ? ` (${pct(100 - c.weight)})` : ' (100 %)'}`, 'status-stable'),
        row('Canary', c ? `${c.version} (${c.state})` : 'none', 'status-canary'),
        row('Weight set', c ? pct(c.weight) : '—', 'status-weight'),
        row('Observed', describeObserved(s), 'status-observed'),
        row('Step', c && c.steps && c.steps.length ? `${describeStep(c)} (steps ${c.steps.join(', ')} %)` : describeStep(c), 'status-step'),
        row('Verdict', describeVerdict(s), 'status-verdict'),
        row('Generation', String(s.generation), 'status-generation'),
        row('This pod', describePod(s.pod), 'status-pod'),
      ),
      c ? h('p', { class: 'muted' }, `On success: ${c.on_success}; on failure: ${c.on_failure}. Updated ${s.updated_at || '—'}.`) : null,
    );
  }

  async act(action, body, message, form) {
    const status = await busy(form || this.actionsSlot, this.errorSlot, () => admin.action(this.app, action, body), `Could not ${action.replace('_', ' ')}`);
    if (status) {
      this.actionsKey = null;
      await this.page.refresh(true);
      // Announced once the page shows the change.
      announce(message(status), 'success');
      const focus = this.actionsSlot.querySelector('input, select, button');
      if (focus && !this.actionsSlot.contains(document.activeElement)) focus.focus();
    }
    return status;
  }

  renderActions() {
    const s = this.status;
    clear(this.actionsSlot);
    if (!s.canary) {
      this.actionsSlot.append(this.startForm());
      return;
    }
    const c = s.canary;
    const reason = h('input', { id: 'action-reason', maxlength: 500, autocomplete: 'off' });
    const weight = h('input', { type: 'number', id: 'weight-input', min: 0, max: 100, step: 1, required: true, value: String(c.weight), class: 'short' });
    const weightForm = h('form', { class: 'inline-form', id: 'weight-form', 'aria-label': 'Set the canary weight' }, field('Canary weight (%)', weight), h('button', { type: 'submit', class: 'primary' }, 'Set weight'));
    weightForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const w = Number.parseInt(weight.value, 10);
      if (!Number.isInteger(w) || w < 0 || w > 100) {
        showError(this.errorSlot, new Error('The weight is a whole number from 0 to 100.'), 'Check the weight');
        return;
      }
      const body = { weight: w };
      if (reason.value.trim()) body.reason = reason.value.trim();
      this.act('weight', body, (st) => `${this.app}: canary ${st.canary ? st.canary.version : ''} weight set to ${st.canary ? st.canary.weight : w} %.`, weightForm);
    });
    const withReason = () => (reason.value.trim() ? { reason: reason.value.trim() } : {});
    const buttons = h(
      'div',
      { class: 'actions' },
      c.state === 'paused'
        ? h('button', { type: 'button', id: 'resume', onclick: () => this.act('resume', withReason(), () => `${this.app}: canary resumed.`) }, 'Resume')
        : h('button', { type: 'button', id: 'pause', onclick: () => this.act('pause', withReason(), () => `${this.app}: canary paused.`) }, 'Pause'),
      h(
        'button',
        {
          type: 'button',
          id: 'promote',
          onclick: () =>
            confirmDialog(`Promote ${c.version}?`, `Make ${c.version} the stable version of ${this.app} for everyone now.`, 'Promote', async () => {
              const st = await admin.action(this.app, 'promote', withReason());
              this.actionsKey = null;
              await this.page.refresh(true);
              announce(`${this.app}: ${st.stable} is now stable.`, 'success');
            }),
        },
        'Promote',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          id: 'abort',
          onclick: () =>
            confirmDialog(`Abort the canary ${c.version}?`, `Send every user of ${this.app} back to ${s.stable}.`, 'Abort canary', async () => {
              await admin.action(this.app, 'abort', withReason());
              this.actionsKey = null;
              await this.page.refresh(true);
              announce(`${this.app}: canary aborted; everyone is on ${s.stable}.`, 'success');
            }),
        },
        'Abort',
      ),
    );
    this.actionsSlot.append(h('h3', {}, 'Canary actions'), weightForm, field('Reason for the history (optional)', reason), buttons);
  }

  startForm() {
    const s = this.status;
    const candidates = (this.versions || []).filter((v) => v.version !== s.stable);
    const wrap = h('div', {}, h('h3', {}, 'Start a canary'));
    if (!candidates.length) {
      wrap.append(empty(`No other version of ${this.app} is uploaded. Upload one with PUT /admin/v1/apps/${this.app}/versions/{version} or budget-host push.`));
      return wrap;
    }
    const version = select(candidates.slice().reverse().map((v) => ({ value: v.version, label: `${v.version}${v.notes ? ` (${v.notes})` : ''}` })), { id: 'canary-version' });
    const modeWeight = h('input', { type: 'radio', name: 'canary-mode', id: 'mode-weight', value: 'weight', checked: true });
    const modeSteps = h('input', { type: 'radio', name: 'canary-mode', id: 'mode-steps', value: 'steps' });
    const weight = h('input', { type: 'number', id: 'canary-weight', min: 0, max: 100, step: 1, value: '5', class: 'short' });
    const steps = h('input', { id: 'canary-steps', value: '5,25,50,100', autocomplete: 'off', pattern: '\\s*\\d{1,3}(\\s*,\\s*\\d{1,3})*\\s*' });
    const interval = h('input', { type: 'number', id: 'canary-interval', min: 1, max: 3600, value: '30', class: 'short' });
    const minRequests = h('input', { type: 'number', id: 'canary-min-requests', min: 0, value: '50', class: 'short' });
    const maxError = h('input', { id: 'canary-max-error', value: '0.01', inputmode: 'decimal', class: 'short' });
    const maxP95 = h('input', { id: 'canary-max-p95', value: '1.5', inputmode: 'decimal', class: 'short' });
    const onSuccess = select([{ value: 'promote', label: 'Promote' }, { value: 'pause', label: 'Pause for an operator' }], { id: 'canary-on-success' });
    const onFailure = select([{ value: 'rollback', label: 'Roll back' }, { value: 'pause', label: 'Pause where it is' }], { id: 'canary-on-failure' });
    const reason = h('input', { id: 'canary-reason', maxlength: 500, autocomplete: 'off' });
    const weightField = field('Weight (%)', weight, 'Fixed: the analysis can roll back, only an operator promotes.');
    const stepsField = field('Steps (%)', steps, 'Ascending weights, comma separated; each passed interval moves to the next.');
    stepsField.hidden = true;
    const sync = () => {
      weightField.hidden = !modeWeight.checked;
      stepsField.hidden = !modeSteps.checked;
    };
    modeWeight.addEventListener('change', sync);
    modeSteps.addEventListener('change', sync);
    const errors = h('div', { class: 'form-errors' });
    const form = h(
      'form',
      { id: 'canary-form', 'aria-label': 'Start a canary' },
      h('div', { class: 'form-grid' }, field('Version', version)),
      h(
        'fieldset',
        { class: 'radios' },
        h('legend', {}, 'Traffic'),
        h('div', { class: 'check' }, modeWeight, h('label', { for: 'mode-weight' }, 'A fixed weight')),
        h('div', { class: 'check' }, modeSteps, h('label', { for: 'mode-steps' }, 'Steps')),
      ),
      h('div', { class: 'form-grid' }, weightField, stepsField),
      h(
        'details',
        {},
        h('summary', {}, 'Analysis'),
        h('div', { class: 'form-grid' }, field('Interval (s)', interval), field('Min. requests', minRequests), field('Max. error rate (0–1)', maxError), field('Max. p95 ratio', maxP95), field('On success', onSuccess), field('On failure', onFailure)),
      ),
      field('Reason (optional)', reason),
      errors,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Start canary')),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(errors);
      const body = { version: version.value, on_success: onSuccess.value, on_failure: onFailure.value };
      try {
        if (modeWeight.checked) {
          const w = Number.parseInt(weight.value, 10);
          if (!Number.isInteger(w) || w < 0 || w > 100) throw new Error('The weight is a whole number from 0 to 100.');
          body.weight = w;
        } else {
          const list = steps.value.split(',').map((x) => x.trim()).filter(Boolean).map((x) => Number.parseInt(x, 10));
          if (!list.length || list.some((x) => !Number.isInteger(x) || x < 0 || x > 100)) throw new Error('Steps are whole numbers from 0 to 100.');
          for (let i = 1; i < list.length; i++) if (list[i] <= list[i - 1]) throw new Error('Steps must go strictly up.');
          body.steps = list;
        }
        const analysis = {};
        const intervalS = Number.parseInt(interval.value, 10);
        if (Number.isInteger(intervalS)) analysis.interval_s = intervalS;
        const minR = Number.parseInt(minRequests.value, 10);
        if (Number.isInteger(minR)) analysis.min_requests = minR;
        // Rates and ratios, not money: plain Numbers.
        const me = Number(maxError.value);
        if (maxError.value.trim() !== '' && Number.isFinite(me)) analysis.max_error_rate = me;
        const mp = Number(maxP95.value);
        if (maxP95.value.trim() !== '' && Number.isFinite(mp)) analysis.max_p95_ratio = mp;
        body.analysis = analysis;
        if (reason.value.trim()) body.reason = reason.value.trim();
      } catch (error) {
        showError(errors, error, 'Check the canary');
        return;
      }
      await this.act('canary', body, (st) => `${this.app}: canary ${st.canary ? st.canary.version : body.version} started at ${st.canary ? st.canary.weight : '?'} %.`, form);
    });
    wrap.append(form);
    return wrap;
  }

  renderVersions() {
    const s = this.status;
    clear(this.versionsSlot);
    if (!this.versions.length) {
      this.versionsSlot.append(empty(`No uploaded versions. ${this.app} serves its apps.toml version (${s.stable}).`));
      return;
    }
    this.versionsSlot.append(
      h(
        'table',
        { id: 'versions-table' },
        h('caption', { class: 'visually-hidden' }, `Uploaded versions of ${this.app}, oldest first`),
        h('thead', {}, h('tr', {}, ['Version', 'Role', 'Digest', 'Size', 'Uploaded', 'By', 'Notes'].map((x) => h('th', { scope: 'col' }, x)))),
        h(
          'tbody',
          {},
          this.versions.map((v) =>
            h(
              'tr',
              { dataset: { version: v.version } },
              h('th', { scope: 'row' }, v.version),
              h('td', {}, v.version === s.stable ? 'stable' : s.canary && s.canary.version === v.version ? 'canary' : ''),
              h('td', {}, h('code', { title: v.digest }, v.digest.slice(0, 12))),
              h('td', { class: 'num' }, `${Math.round(v.size / 1024)} KiB`),
              h('td', { class: 'nowrap' }, v.uploaded_at),
              h('td', {}, v.uploader),
              h('td', {}, v.notes),
            ),
          ),
        ),
      ),
    );
  }

  renderHistory(history) {
    const json = JSON.stringify(history);
    if (json === this.lastHistory && !this.historyToggled) return;
    this.lastHistory = json;
    this.historyToggled = false;
    clear(this.historySlot);
    if (!history.length) {
      this.historySlot.append(empty('No release changes yet.'));
      return;
    }
    const limit = 20;
    const all = history;
    if (!this.showAllHistory && history.length > limit) history = history.slice(0, limit);
    const toggle =
      all.length > limit
        ? h(
            'button',
            {
              type: 'button',
              class: 'link-button',
              id: 'history-toggle',
              'aria-expanded': this.showAllHistory ? 'true' : 'false',
              onclick: () => {
                this.showAllHistory = !this.showAllHistory;
                this.historyToggled = true;
                this.renderHistory(all);
                document.getElementById('history-toggle')?.focus();
              },
            },
            this.showAllHistory ? `Show the latest ${limit} only` : `Show all ${all.length} changes`,
          )
        : null;
    append(
      this.historySlot,
      h(
        'table',
        { id: 'history-table' },
        h('caption', { class: 'visually-hidden' }, `Release history of ${this.app}, newest first`),
        h('thead', {}, h('tr', {}, ['At', 'Gen', 'Action', 'From → to', 'Weight', 'Actor', 'Reason'].map((x) => h('th', { scope: 'col' }, x)))),
        h(
          'tbody',
          {},
          history.map((e) =>
            h(
              'tr',
              { dataset: { action: e.action } },
              h('td', { class: 'nowrap' }, e.at),
              h('td', { class: 'num' }, String(e.generation)),
              h('td', {}, h('span', { class: `badge ${e.action}` }, e.action)),
              h('td', { class: 'nowrap' }, `${e.from_version} → ${e.to_version}`),
              h('td', { class: 'num' }, pct(e.weight)),
              h('td', {}, e.actor),
              h('td', {}, e.reason),
            ),
          ),
        ),
      ),
      toggle,
    );
  }
}
