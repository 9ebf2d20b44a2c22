// Log in with a binyard account (the same as for the REST API). Failed attempts
// count towards the account's lockout like any other login.

import { h, mount, errorBox } from '../dom.js';
import { send, setCsrf } from '../api.js';

export async function render(main, { session, refresh }) {
  const msg = h('div');
  const user = h('input', { name: 'username', id: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'stack card login', id: 'login-form', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const s = await send('POST', '/ui/api/login', { json: { username: user.value, password: pass.value } });
      setCsrf(s.csrfToken);
      await refresh('#/');
    } catch (e) {
      mount(msg, errorBox(e));
    }
  } },
  h('h1', {}, 'Log in to binyard'),
  h('label', {}, 'User name', user),
  h('label', {}, 'Password', pass),
  msg,
  h('button', { class: 'primary', type: 'submit' }, 'Log in'),
  session.anonymousAccess ? h('p', { class: 'muted' }, 'Anonymous browsing is on: ', h('a', { href: '#/' }, 'browse without logging in')) : null);
  mount(main, form);
  user.focus();
}
