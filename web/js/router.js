// Client-side routing with the History API. Routes are patterns such as
// "/app/budgets/:budget/months/:month"; a view is an async function that
// fills the <main> element and may return a cleanup function, called when
// the next route replaces it.

const routes = [];
let cleanup = null;
let renderToken = 0;
let notFoundView = null;
let beforeEach = null;

export function route(pattern, view) {
  const keys = [];
  const source = pattern
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) {
        keys.push(part.slice(1));
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  routes.push({ pattern, regex: new RegExp(`^${source}/?$`), keys, view });
}

export function notFound(view) {
  notFoundView = view;
}

/** A hook run before each view: may return a path to redirect to. */
export function guard(fn) {
  beforeEach = fn;
}

export function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (m) {
      const params = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1]);
      });
      return { route: r, params };
    }
  }
  return null;
}

export function navigate(path, { replace = false, state = null } = {}) {
  if (replace) history.replaceState(state, '', path);
  else history.pushState(state, '', path);
  return render();
}

export function currentPath() {
  return location.pathname + location.search;
}

/** Render the view for the current location into #main. */
export async function render() {
  const token = ++renderToken;
  const main = document.getElementById('main');
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error(e);
    }
    cleanup = null;
  }
  const url = new URL(location.href);
  const found = match(url.pathname);
  if (beforeEach) {
    const redirect = beforeEach(found, url);
    if (redirect && redirect !== url.pathname + url.search) {
      history.replaceState(null, '', redirect);
      return render();
    }
  }
  main.replaceChildren();
  main.setAttribute('aria-busy', 'true');
  const ctx = {
    main,
    params: found ? found.params : {},
    query: url.searchParams,
    path: url.pathname,
    // True once another render has started: a slow view must stop touching the page.
    stale: () => token !== renderToken,
  };
  try {
    const view = found ? found.route.view : notFoundView;
    const result = await view(ctx);
    if (token === renderToken && typeof result === 'function') cleanup = result;
    else if (typeof result === 'function') result();
  } finally {
    if (token === renderToken) {
      main.removeAttribute('aria-busy');
      document.dispatchEvent(new CustomEvent('routechange', { detail: { path: url.pathname } }));
    }
  }
}

/** Intercept clicks on same-origin links to /app/... and popstate. */
export function start() {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/app')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => render());
  return render();
}

/** Move focus to the view's heading so keyboard and screen-reader users land on the new page. */
export function focusHeading(main) {
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
    document.title = `${heading.textContent} · Budget`;
  }
}
