// HTTP client for the budget API (/v1/...) and the admin API (/admin/v1/...),
// same origin. Tokens live in sessionStorage: they are gone when the tab
// closes, and no other tab sees them.

const USER_TOKEN_KEY = 'budget.token';
const ADMIN_TOKEN_KEY = 'budget.adminToken';

// Where the API lives. Empty means this origin's root (/v1/..., /admin/v1/...).
// A deployment that mounts it elsewhere (say /api) sets
// <meta name="budget-api-base" content="/api"> in index.html.
function apiBase() {
  const meta = document.querySelector('meta[name="budget-api-base"]');
  const base = meta ? meta.getAttribute('content') || '' : '';
  return base.replace(/\/+$/, '');
}

export const tokens = {
  user: () => sessionStorage.getItem(USER_TOKEN_KEY),
  setUser: (t) => sessionStorage.setItem(USER_TOKEN_KEY, t),
  clearUser: () => sessionStorage.removeItem(USER_TOKEN_KEY),
  admin: () => sessionStorage.getItem(ADMIN_TOKEN_KEY),
  setAdmin: (t) => sessionStorage.setItem(ADMIN_TOKEN_KEY, t),
  clearAdmin: () => sessionStorage.removeItem(ADMIN_TOKEN_KEY),
};

/** An error answer, carrying the API's envelope {"error": {name, detail, id, fields?}}. */
export class ApiError extends Error {
  constructor(status, envelope, requestId) {
    const e = (envelope && envelope.error) || {};
    super(e.detail || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = e.name || (status === 0 ? 'network_error' : `http_${status}`);
    this.detail = e.detail || (status === 0 ? 'the server could not be reached' : `the server answered ${status}`);
    this.requestId = e.id || requestId || null;
    this.fields = Array.isArray(e.fields) ? e.fields : [];
  }
}

// Listeners told about 401s, so the app can send the user to sign in again.
const unauthorizedListeners = new Set();
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

function newKey() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `k-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/**
 * request('GET', '/v1/budgets') → parsed JSON (or null for 204).
 * options: {body, admin (use the admin token), token (explicit token),
 *           query (object; empty values dropped), idempotencyKey, raw (Blob/ArrayBuffer body)}
 */
export async function request(method, path, options = {}) {
  const { body, admin = false, query, raw, headers: extra = {} } = options;
  const token = options.token ?? (admin ? tokens.admin() : tokens.user());
  let url = apiBase() + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  }
  const headers = { accept: 'application/json', ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['content-type'] = headers['content-type'] || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  if (method !== 'GET' && !admin) {
    // Every ledger write takes an Idempotency-Key; one per call is enough to
    // make a retried network failure safe at the HTTP layer.
    headers['idempotency-key'] = options.idempotencyKey || newKey();
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, { error: { name: 'network_error', detail: `the server could not be reached (${err.message})` } });
  }
  const requestId = res.headers.get('x-request-id');
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data, requestId);
    if (res.status === 401) for (const fn of unauthorizedListeners) fn({ admin, error });
    throw error;
  }
  return data;
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body, options = {}) => request('POST', path, { ...options, body }),
  patch: (path, body, options = {}) => request('PATCH', path, { ...options, body }),
  put: (path, body, options = {}) => request('PUT', path, { ...options, body }),
  del: (path, options) => request('DELETE', path, options),
};

const enc = encodeURIComponent;

// The budget API, one function per endpoint the app uses (docs/api.md).
export const ledger = {
  budgets: () => api.get('/v1/budgets'),
  budget: (b) => api.get(`/v1/budgets/${enc(b)}`),
  createBudget: (body) => api.post('/v1/budgets', body),
  accounts: (b) => api.get(`/v1/budgets/${enc(b)}/accounts`),
  createAccount: (b, body) => api.post(`/v1/budgets/${enc(b)}/accounts`, body),
  categories: (b) => api.get(`/v1/budgets/${enc(b)}/categories`),
  createGroup: (b, body) => api.post(`/v1/budgets/${enc(b)}/category-groups`, body),
  createCategory: (b, body) => api.post(`/v1/budgets/${enc(b)}/categories`, body),
  month: (b, m) => api.get(`/v1/budgets/${enc(b)}/months/${enc(m)}`),
  assign: (b, m, c, assigned) => api.patch(`/v1/budgets/${enc(b)}/months/${enc(m)}/categories/${enc(c)}`, { assigned }),
  move: (b, m, body) => api.post(`/v1/budgets/${enc(b)}/months/${enc(m)}/moves`, body),
  transactions: (b, query) => api.get(`/v1/budgets/${enc(b)}/transactions`, { query }),
  createTransaction: (b, body) => api.post(`/v1/budgets/${enc(b)}/transactions`, body),
  updateTransaction: (b, t, body) => api.patch(`/v1/budgets/${enc(b)}/transactions/${enc(t)}`, body),
  deleteTransaction: (b, t) => api.del(`/v1/budgets/${enc(b)}/transactions/${enc(t)}`),
  transfers: (b) => api.get(`/v1/budgets/${enc(b)}/transfers`),
  createTransfer: (b, body) => api.post(`/v1/budgets/${enc(b)}/transfers`, body),
  importCsv: (b, body) => api.post(`/v1/budgets/${enc(b)}/imports`, body),
  report: (b, kind, from, to) => api.get(`/v1/budgets/${enc(b)}/reports/${kind}`, { query: { from, to } }),
};

// The admin API's release endpoints (docs/releases.md).
export const admin = {
  releases: () => api.get('/admin/v1/releases', { admin: true }),
  release: (app) => api.get(`/admin/v1/apps/${enc(app)}/release`, { admin: true }),
  versions: (app) => api.get(`/admin/v1/apps/${enc(app)}/versions`, { admin: true }),
  history: (app) => api.get(`/admin/v1/apps/${enc(app)}/release/history`, { admin: true }),
  action: (app, action, body = {}) =>
    api.post(`/admin/v1/apps/${enc(app)}/release/${action}`, body, { admin: true, headers: { 'x-budget-actor': 'web console' } }),
};
