import { ApiError, request, tokens } from '../api.js';
import { announce, append, busy, field, h } from '../dom.js';
import { focusHeading, navigate } from '../router.js';
import { forgetAll } from '../state.js';

export async function signInView({ main, query }) {
  const next = query.get('next');
  const target = next && next.startsWith('/app') && !next.startsWith('/app/signin') ? next : '/app/budgets';
  const input = h('input', {
    type: 'password',
    name: 'token',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'bgt_…',
  });
  const errors = h('div', { class: 'form-errors' });
  const form = h(
    'form',
    { class: 'card narrow', 'aria-label': 'Sign in with an API token' },
    field('API token', input, 'Paste the bgt_… token you were issued. It stays in this tab only (sessionStorage) until you sign out or close the tab.'),
    errors,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    const ok = await busy(
      form,
      errors,
      async () => {
        try {
          // Any authenticated call checks the token; the budget list is the cheapest useful one.
          await request('GET', '/v1/budgets', { token });
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) {
            const detail =
              error.code === 'invalid_token'
                ? 'this token is unknown or revoked. Check that you pasted the whole bgt_… token, or ask for a new one.'
                : 'the server received no bearer token.';
            throw new ApiError(401, { error: { name: error.code, detail, id: error.requestId } }, error.requestId);
          }
          throw error;
        }
        return true;
      },
      'Sign-in failed',
    );
    if (ok) {
      forgetAll();
      tokens.setUser(token);
      announce('Signed in.');
      navigate(target, { replace: true });
    } else {
      input.focus();
    }
  });

  // dom.append: Element.append would write the missing notice as the text "null".
  append(
    main,
    h('h1', {}, 'Sign in'),
    query.get('expired') ? h('p', { class: 'notice', role: 'alert' }, 'Your token was refused. Please sign in again.') : null,
    form,
  );
  focusHeading(main);
  input.focus();
}
