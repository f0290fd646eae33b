// Small DOM helpers: an element builder, status messages, error and empty
// states, dialogs. No framework.

/**
 * h('button', {class: 'primary', onclick: fn}, 'Save') → HTMLButtonElement.
 * Attributes: `class`, `dataset` (object), `on<event>` (listener), `style`
 * (string), booleans (true sets an empty attribute, false/null leaves it out),
 * and anything else as an attribute. Children: strings, nodes, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' && 'value' in el) {
      el.value = value;
    } else if (key === 'checked' || key === 'selected') {
      el[key] = Boolean(value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) appendAll(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/**
 * append(el, a, b, …): like el.append(a, b, …), but null, undefined and
 * false are left out (Element.append writes them as the text "null"…) and
 * arrays are flattened, as in h(). Returns el. Use it whenever a child may be
 * missing (`cond ? node : null`).
 */
export function append(el, ...children) {
  appendAll(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let idCounter = 0;
export function uid(prefix = 'f') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: {label, input, hint}. The input gets an id if it has none. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid('field');
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { class: 'hint', id: `${input.id}-hint` }, hint);
    input.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl);
}

/** A <select> from [{value, label}] (or [value]). */
export function select(options, attrs = {}) {
  const el = h('select', attrs);
  for (const o of options) {
    const opt = typeof o === 'object' ? o : { value: o, label: o };
    if (opt.group) {
      const og = h('optgroup', { label: opt.group });
      for (const inner of opt.options) og.appendChild(h('option', { value: inner.value }, inner.label));
      el.appendChild(og);
    } else {
      el.appendChild(h('option', { value: opt.value, disabled: opt.disabled }, opt.label));
    }
  }
  if (attrs.value !== undefined) el.value = attrs.value;
  return el;
}

// --- status messages -------------------------------------------------------

/** How long a status message stays on screen. */
export const STATUS_MS = 6000;

/**
 * Polite announcement in the global status region (and visible there: a
 * strip under the top bar, in the page's flow, never over its content).
 */
export function announce(message, kind = 'info') {
  const region = document.getElementById('status');
  if (!region) return;
  region.dataset.kind = kind;
  // Clearing first makes screen readers repeat an identical message.
  region.textContent = '';
  window.clearTimeout(announce.shown);
  announce.shown = window.setTimeout(() => {
    region.replaceChildren(h('span', { class: 'status-message' }, message));
  }, 30);
  window.clearTimeout(announce.timer);
  announce.timer = window.setTimeout(() => {
    if (region.textContent === message) region.textContent = '';
  }, STATUS_MS);
}

/** An error box for an ApiError (or any Error): detail, name, status, request id, invalid fields. */
export function errorBox(error, title = 'Something went wrong') {
  const rows = [];
  if (error && error.status !== undefined) {
    if (error.fields && error.fields.length) {
      rows.push(h('ul', { class: 'error-fields' }, error.fields.map((f) => h('li', {}, h('code', {}, f.field), ': ', f.message))));
    }
    const meta = [];
    if (error.status) meta.push(`HTTP ${error.status}`);
    if (error.code) meta.push(error.code);
    rows.push(
      h(
        'p',
        { class: 'error-meta' },
        meta.join(' · '),
        error.requestId ? [' · request id ', h('code', { class: 'request-id' }, error.requestId)] : null,
      ),
    );
  }
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('strong', {}, title, ': '),
    h('span', { class: 'error-detail' }, (error && (error.detail || error.message)) || String(error)),
    rows,
  );
}

/** Put an error box in `slot` (replacing what was there) and return it. */
export function showError(slot, error, title) {
  clear(slot);
  const box = errorBox(error, title);
  slot.appendChild(box);
  return box;
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function empty(text, action) {
  return h('div', { class: 'empty' }, h('p', {}, text), action || null);
}

/**
 * Run an async action from a form or button: disables `busyEl` while it
 * runs, shows an error in `errorSlot` (if given) and returns the result, or
 * undefined after an error.
 */
export async function busy(busyEl, errorSlot, fn, errorTitle) {
  if (errorSlot) clear(errorSlot);
  if (busyEl) {
    busyEl.setAttribute('aria-busy', 'true');
    busyEl.querySelectorAll?.('button, input, select, textarea').forEach((el) => {
      if (!el.disabled) {
        el.dataset.busyDisabled = '1';
        el.disabled = true;
      }
    });
    if (busyEl.tagName === 'BUTTON') busyEl.disabled = true;
  }
  try {
    return await fn();
  } catch (error) {
    if (errorSlot) showError(errorSlot, error, errorTitle);
    else announce(error.detail || error.message, 'error');
    if (!(error && error.status !== undefined) && !(error && error.name === 'MoneyError')) console.error(error);
    return undefined;
  } finally {
    if (busyEl) {
      busyEl.removeAttribute('aria-busy');
      busyEl.querySelectorAll?.('[data-busy-disabled]').forEach((el) => {
        el.disabled = false;
        delete el.dataset.busyDisabled;
      });
      if (busyEl.tagName === 'BUTTON') busyEl.disabled = false;
    }
  }
}

// --- dialogs ---------------------------------------------------------------

/**
 * A modal <dialog> with a form. `build(form, close)` fills the form; the
 * dialog is removed from the page when closed and focus goes back to the
 * element that opened it.
 */
export function openDialog(title, build) {
  const opener = document.activeElement;
  const titleId = uid('dlg-title');
  const form = h('form', { method: 'dialog', class: 'dialog-form' });
  const dialog = h(
    'dialog',
    { 'aria-labelledby': titleId, class: 'dialog' },
    h('div', { class: 'dialog-head' }, h('h2', { id: titleId }, title)),
    form,
  );
  const close = () => dialog.close();
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener && document.contains(opener)) opener.focus();
  });
  document.body.appendChild(dialog);
  build(form, close);
  dialog.showModal();
  const first = form.querySelector('input:not([type=hidden]), select, textarea, button');
  if (first) first.focus();
  return { dialog, form, close };
}

/** A row of buttons for a dialog's form: a primary submit and Cancel. */
export function dialogButtons(submitLabel, close) {
  return h(
    'div',
    { class: 'actions' },
    h('button', { type: 'submit', class: 'primary', value: 'default' }, submitLabel),
    h('button', { type: 'button', onclick: close }, 'Cancel'),
  );
}
