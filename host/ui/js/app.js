// The UI's entry point: who is logged in, the navigation, and a hash router that
// hands each page its element and parameters. Pages are ES modules in pages/.

import { h, mount, errorBox } from './dom.js';
import { getJson, send, setCsrf, ApiError } from './api.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

/** The current session: {user, admin, anonymousAccess, csrfToken}. */
export const session = { user: null, admin: false, anonymousAccess: false };

async function loadSession() {
  const s = await getJson('/ui/api/session');
  Object.assign(session, s);
  setCsrf(s.csrfToken);
}

// route prefix → [module, title, needs admin]
const ROUTES = [
  ['login', './pages/login.js'],
  ['tree', './pages/tree.js'],
  ['artifact', './pages/artifact.js'],
  ['search', './pages/search.js'],
  ['builds', './pages/builds.js'],
  ['admin', './pages/admin.js'],
  ['', './pages/repos.js'],
];

function navLinks(current) {
  const links = [['#/', 'Repositories', ''], ['#/search', 'Search', 'search'], ['#/builds', 'Builds', 'builds']];
  if (session.admin) links.push(['#/admin', 'Administration', 'admin']);
  mount(nav, links.map(([href, text, key]) => h('a', { href, class: key === current ? 'active' : '' }, text)));
  if (session.user) {
    mount(who, h('span', {}, session.user), session.admin ? h('span', { class: 'badge' }, 'admin') : null,
      h('button', { id: 'logout', onclick: logout }, 'Log out'));
  } else {
    mount(who, h('a', { href: '#/login', id: 'login-link' }, 'Log in'));
  }
}

async function logout() {
  try { await send('POST', '/ui/api/logout'); } catch { /* the session may be gone already */ }
  setCsrf(null);
  Object.assign(session, { user: null, admin: false, csrfToken: null });
  location.hash = '#/login';
}

/** Re-reads the session (after a login), then shows `hash` or the current route. */
export async function refresh(hash) {
  await loadSession();
  // The session is known before the route changes: the hashchange handler reads it.
  if (hash && location.hash !== hash) location.hash = hash;
  else await route();
}

async function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  const first = parts[0] || '';
  const entry = ROUTES.find(([k]) => k === first) || ROUTES[ROUTES.length - 1];
  navLinks(first);
  document.getElementById('nav').classList.remove('open');
  if (!session.user && !session.anonymousAccess && first !== 'login') {
    location.hash = '#/login';
    return;
  }
  mount(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const mod = await import(entry[1]);
    await mod.render(main, { params: entry[0] === '' ? parts : parts.slice(1), session, refresh });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && !session.user) {
      location.hash = '#/login';
      return;
    }
    mount(main, errorBox(e));
  }
}

document.getElementById('menu-toggle').addEventListener('click', (ev) => {
  const open = nav.classList.toggle('open');
  ev.currentTarget.setAttribute('aria-expanded', String(open));
});
window.addEventListener('hashchange', route);
refresh().catch((e) => mount(main, errorBox(e)));
