// Administration (admins only; the server refuses everyone else anyway): each
// section below is one REST resource, listed, created, changed and deleted here.

import { h, mount, table, facts, errorBox, bytes, when, list } from '../dom.js';
import { call, getJson, send } from '../api.js';

const enc = encodeURIComponent;
const SECTIONS = [
  ['repos', 'Repositories'], ['users', 'Users'], ['groups', 'Groups'], ['permissions', 'Permissions'],
  ['tokens', 'Tokens'], ['webhooks', 'Webhooks'], ['plugins', 'Plugins'], ['retention', 'Retention'], ['storage', 'Storage'],
];

export async function render(main, { params, session }) {
  if (!session.admin) {
    mount(main, errorBox('Administrator privileges are required.'));
    return;
  }
  const [section = 'repos', ...rest] = params;
  const tabs = h('nav', { class: 'tabs', id: 'admin-tabs' }, SECTIONS.map(([k, t]) => h('a', { href: `#/admin/${k}`, class: k === section ? 'active' : '' }, t)));
  const body = h('div');
  mount(main, h('h1', {}, 'Administration'), tabs, body);
  const page = PAGES[section];
  if (!page) { mount(body, errorBox(`No section '${section}'`)); return; }
  const again = () => page(body, rest, again);
  await page(body, rest, again);
}

/** A form whose submit runs `fn` and shows its error (or `done`'s result). */
function form(attrs, fields, fn) {
  const msg = h('div', { class: 'form-msg' });
  const f = h('form', { class: 'stack card', ...attrs, onsubmit: async (ev) => {
    ev.preventDefault();
    const btn = f.querySelector('button[type=submit]');
    if (btn) btn.disabled = true;
    try { const out = await fn(f); if (out) mount(msg, out); } catch (e) { mount(msg, errorBox(e)); } finally { if (btn) btn.disabled = false; }
  } }, fields, msg);
  return f;
}
const field = (label, name, attrs = {}) => h('label', {}, label, h('input', { name, id: `f-${name}`, ...attrs }));
const check = (label, name, checked = false) => h('label', { class: 'row' }, h('input', { type: 'checkbox', name, id: `f-${name}`, checked }), label);
const submit = (text) => h('button', { class: 'primary', type: 'submit' }, text);
const del = (text, fn, again) => h('button', { class: 'danger', onclick: async (ev) => {
  if (!confirm(`${text}?`)) return;
  try { await fn(); await again(); } catch (e) { ev.target.after(errorBox(e)); }
} }, 'Delete');
const val = (f, n) => (f.elements[n] ? (f.elements[n].type === 'checkbox' ? f.elements[n].checked : f.elements[n].value.trim()) : undefined);

const PAGES = {
  async repos(body, [key], again) {
    if (key) return repoForm(body, key === 'new' ? null : await getJson(`/artifactory/api/repositories/${enc(key)}`));
    const repos = await getJson('/artifactory/api/repositories');
    mount(body, h('p', {}, h('a', { href: '#/admin/repos/new', id: 'new-repo' }, '+ New repository')),
      table(['Key', 'Type', 'Package type', 'URL', ''], repos.map((r) => [
        h('a', { href: `#/admin/repos/${enc(r.key)}` }, r.key), r.type, r.packageType, h('td', { class: 'wrap muted' }, r.url || ''),
        del(`Delete repository ${r.key} and every file in it`, () => call('DELETE', `/artifactory/api/repositories/${enc(r.key)}`), again)])));
  },

  async users(body, _, again) {
    const v = await getJson('/access/api/v2/users');
    mount(body,
      table(['User', 'Email', 'Admin', ''], (v.users || []).map((u) => [u.username, u.email || '', u.admin ? 'yes' : '',
        u.username === 'admin' ? '' : del(`Delete user ${u.username}`, () => call('DELETE', `/access/api/v2/users/${enc(u.username)}`), again)])),
      h('h2', {}, 'New user'),
      form({ id: 'user-form' }, [field('User name', 'username', { required: true }), field('Email', 'email', { type: 'email', required: true }),
        field('Password', 'password', { type: 'password', required: true, autocomplete: 'new-password' }), field('Groups (a,b)', 'groups'), check('Administrator', 'admin'), submit('Create user')],
      async (f) => {
        await send('POST', '/access/api/v2/users', { json: { username: val(f, 'username'), email: val(f, 'email'), password: f.elements.password.value, admin: val(f, 'admin'), groups: list(val(f, 'groups')) } });
        await again();
      }));
  },

  async groups(body, _, again) {
    const v = await getJson('/access/api/v2/groups');
    const groups = v.groups || [];
    const details = await Promise.all(groups.map((g) => getJson(`/access/api/v2/groups/${enc(g.group_name || g.name)}`).catch(() => g)));
    mount(body,
      table(['Group', 'Description', 'Auto-join', 'Admin', 'Members', ''], details.map((g) => [g.name, g.description || '', g.auto_join ? 'yes' : '', g.admin_privileges ? 'yes' : '',
        h('td', { class: 'wrap' }, (g.members || []).join(', ')), del(`Delete group ${g.name}`, () => call('DELETE', `/access/api/v2/groups/${enc(g.name)}`), again)])),
      h('h2', {}, 'New group'),
      form({ id: 'group-form' }, [field('Name', 'name', { required: true }), field('Description', 'description'), field('Members (a,b)', 'members'), check('Add new users automatically', 'auto_join'), check('Administrator privileges', 'admin_privileges'), submit('Create group')],
      async (f) => {
        await send('POST', '/access/api/v2/groups', { json: { name: val(f, 'name'), description: val(f, 'description'), auto_join: val(f, 'auto_join'), admin_privileges: val(f, 'admin_privileges'), members: list(val(f, 'members')) } });
        await again();
      }));
  },

  async permissions(body, _, again) {
    const names = await getJson('/artifactory/api/v2/security/permissions');
    const all = await Promise.all((names || []).map((p) => getJson(`/artifactory/api/v2/security/permissions/${enc(p.name)}`)));
    const who = (actions) => Object.entries(actions || {}).map(([n, a]) => `${n}: ${a.join('/')}`).join('; ');
    mount(body,
      table(['Target', 'Repositories', 'Patterns', 'Users', 'Groups', ''], all.map((p) => {
        const r = p.repo || {};
        return [p.name, h('td', { class: 'wrap' }, (r.repositories || []).join(', ')), h('td', { class: 'wrap mono' }, `+${(r['include-patterns'] || ['**']).join(',')} -${(r['exclude-patterns'] || []).join(',')}`),
          h('td', { class: 'wrap' }, who(r.actions && r.actions.users)), h('td', { class: 'wrap' }, who(r.actions && r.actions.groups)),
          del(`Delete permission target ${p.name}`, () => call('DELETE', `/artifactory/api/v2/security/permissions/${enc(p.name)}`), again)];
      })),
      h('h2', {}, 'New permission target'),
      form({ id: 'permission-form' }, [field('Name', 'name', { required: true }), field('Repositories (a,b; ANY, ANY LOCAL, ANY REMOTE)', 'repositories', { required: true }),
        field('Include patterns', 'include', { value: '**' }), field('Exclude patterns', 'exclude'),
        field('Users (name, name)', 'users'), field('Groups (name, name)', 'groups'),
        field('Actions (read, annotate, write, delete, manage)', 'actions', { value: 'read' }), submit('Create permission target')],
      async (f) => {
        const actions = list(val(f, 'actions'));
        const to = (names) => Object.fromEntries(list(names).map((n) => [n, actions]));
        await send('POST', `/artifactory/api/v2/security/permissions/${enc(val(f, 'name'))}`, { json: { name: val(f, 'name'), repo: {
          repositories: list(val(f, 'repositories')), 'include-patterns': list(val(f, 'include')), 'exclude-patterns': list(val(f, 'exclude')),
          actions: { users: to(val(f, 'users')), groups: to(val(f, 'groups')) } } } });
        await again();
      }));
  },

  async tokens(body, _, again) {
    const v = await getJson('/access/api/v1/tokens');
    const shown = h('div', { id: 'token-shown' });
    mount(body,
      table(['Id', 'Subject', 'Scope', 'Description', 'Issued', 'Expires', ''], (v.tokens || []).map((t) => [h('td', { class: 'mono wrap' }, t.token_id), h('td', { class: 'wrap' }, t.subject), h('td', { class: 'wrap' }, t.scope), t.description || '',
        when((t.issued_at || 0) * 1000), t.expiry ? when(t.expiry * 1000) : 'never',
        h('button', { class: 'danger', onclick: async () => { if (confirm('Revoke this token?')) { await call('DELETE', `/access/api/v1/tokens/${enc(t.token_id)}`); await again(); } } }, 'Revoke')]), 'No tokens.'),
      h('h2', {}, 'New token'),
      form({ id: 'token-form' }, [field('For user', 'username', { required: true }), field('Scope', 'scope', { value: 'applied-permissions/user' }),
        field('Expires in (seconds; empty: the default, 0: never)', 'expires_in', { type: 'number', min: 0 }), field('Description', 'description'), submit('Create token')],
      async (f) => {
        const req = { username: val(f, 'username'), scope: val(f, 'scope'), description: val(f, 'description') };
        if (val(f, 'expires_in') !== '') req.expires_in = Number(val(f, 'expires_in'));
        const t = await send('POST', '/access/api/v1/tokens', { json: req });
        mount(shown, h('div', { class: 'card' }, h('p', {}, h('strong', {}, 'Copy the token now: it is shown only once.')), h('div', { class: 'secret', id: 'new-token' }, t.access_token)));
        f.reset();
      }), shown);
  },

  async webhooks(body, [key], again) {
    if (key) return webhook(body, key);
    const subs = await getJson('/event/api/v1/subscriptions');
    mount(body,
      table(['Key', 'URL', 'Events', 'Formatter', 'Enabled', ''], subs.map((s) => [h('a', { href: `#/admin/webhooks/${enc(s.key)}`, class: 'webhook' }, s.key), h('td', { class: 'wrap' }, s.url),
        h('td', { class: 'wrap' }, s.events.join(', ')), s.formatter, s.enabled ? 'yes' : 'no', del(`Delete webhook ${s.key}`, () => call('DELETE', `/event/api/v1/subscriptions/${enc(s.key)}`), again)]), 'No webhooks.'),
      h('h2', {}, 'New webhook'),
      form({ id: 'webhook-form' }, [field('Key', 'key', { required: true }), field('URL', 'url', { type: 'url', required: true }),
        field('Events (deployed, deleted, moved, copied, property_added, property_deleted)', 'events', { value: 'deployed' }),
        field('Repositories (empty: all)', 'repos'), field('Formatter plugin', 'formatter', { value: 'jfrog' }), field('Secret (signs each body)', 'secret', { type: 'password', autocomplete: 'off' }), submit('Create webhook')],
      async (f) => {
        const repos = list(val(f, 'repos'));
        await send('POST', '/event/api/v1/subscriptions', { json: { key: val(f, 'key'), url: val(f, 'url'), events: list(val(f, 'events')), formatter: val(f, 'formatter'), secret: f.elements.secret.value,
          criteria: repos.length ? { repoKeys: repos } : { anyLocal: true, anyRemote: true } } });
        location.hash = `#/admin/webhooks/${enc(val(f, 'key'))}`;
      }));
  },

  async plugins(body, _, again) {
    const plugins = await getJson('/artifactory/api/plugins');
    const row = (p) => [h('strong', {}, p.name), p.kind, p.packageType || '', h('td', { class: 'plugin-version' }, p.version),
      h('td', { class: 'mono wrap plugin-sha' }, p.sha256.slice(0, 16) + '…'), when(p.loadedAt),
      h('td', { class: 'num' }, `${p.stats.calls} / ${p.stats.failures} / ${p.stats.timeouts}`),
      h('td', {}, h('button', { onclick: async (ev) => { try { await send('POST', `/artifactory/api/plugins/${enc(p.name)}/reload`); await again(); } catch (e) { ev.target.after(errorBox(e)); } } }, 'Reload'), ' ',
        del(`Unload plugin ${p.name} and remove its file`, () => call('DELETE', `/artifactory/api/plugins/${enc(p.name)}`), again))];
    const file = h('input', { type: 'file', name: 'wasm', id: 'plugin-file', accept: '.wasm,application/wasm', required: true });
    mount(body,
      table(['Name', 'Kind', 'Package type', 'Version', 'SHA-256', 'Loaded', { text: 'Calls / failures / timeouts', class: 'num' }, ''], plugins.map(row), 'No plugins loaded.'),
      h('h2', {}, 'Install or replace a plugin'),
      form({ id: 'plugin-form' }, [field('Name (a loaded name replaces that plugin: hot swap)', 'name', { required: true, pattern: '[a-z0-9][a-z0-9._-]*' }), h('label', {}, 'Component (.wasm)', file), submit('Upload')],
      async (f) => {
        const wasm = file.files[0];
        const res = await call('PUT', `/artifactory/api/plugins/${enc(val(f, 'name'))}`, { body: wasm, headers: { 'Content-Type': 'application/wasm' } });
        const p = await res.json();
        await again();
        body.prepend(h('div', { class: 'ok', id: 'plugin-installed' }, `${res.status === 201 ? 'Installed' : 'Replaced'} ${p.name} ${p.version} (sha256 ${p.sha256.slice(0, 16)}…)`));
      }));
  },

  async retention(body, _, again) {
    const policies = await getJson('/artifactory/api/retention/policies');
    const report = h('div', { id: 'retention-report' });
    const runIt = (p, dry) => async () => {
      if (!dry && !confirm(`Run ${p.key} now and delete what it decides?`)) return;
      try {
        const r = await send('POST', `/artifactory/api/retention/policies/${enc(p.key)}/run${dry ? '?dryRun=1' : ''}`);
        mount(report, h('h2', {}, `${r.dryRun ? 'Dry run' : 'Run'} of ${r.policy}: ${r.candidates} candidate(s), ${r.dryRun ? 'would delete' : 'deleted'} ${r.dryRun ? r.decisions.filter((d) => d.delete).length : r.deleted}, kept ${r.kept}`),
          table(['Item', 'Group', 'Version', 'Decision', 'Reason', 'Outcome'], r.decisions.map((d) => [h('td', { class: 'wrap' }, d.id), d.group, d.version,
            h('span', { class: `badge ${d.delete ? 'bad' : 'good'}` }, d.delete ? 'delete' : 'keep'), h('td', { class: 'wrap' }, d.reason), d.outcome || '']), 'No candidates.'));
      } catch (e) { mount(report, errorBox(e)); }
    };
    mount(body,
      table(['Key', 'Plugin', 'Repositories', 'Config', 'Every (min)', 'Run as', ''], policies.map((p) => [p.key, p.plugin, h('td', { class: 'wrap' }, p.repositories.join(', ')),
        h('td', { class: 'mono wrap' }, JSON.stringify(p.config)), p.intervalMinutes || 'API only', p.runAs,
        h('td', {}, h('button', { onclick: runIt(p, true), class: 'dry-run' }, 'Dry run'), ' ', h('button', { onclick: runIt(p, false) }, 'Run'), ' ',
          del(`Delete policy ${p.key}`, () => call('DELETE', `/artifactory/api/retention/policies/${enc(p.key)}`), again))]), 'No policies.'),
      report,
      h('h2', {}, 'New or changed policy'),
      form({ id: 'retention-form' }, [field('Key', 'key', { required: true }), field('Plugin', 'plugin', { value: 'retention_keep_last', required: true }), field('Repositories (a,b)', 'repositories', { required: true }),
        h('label', {}, 'Configuration (JSON)', h('textarea', { name: 'config', id: 'f-config' }, '{"keep": 5}')), field('Every N minutes (0: only when run here)', 'interval', { type: 'number', min: 0, value: '0' }), submit('Save policy')],
      async (f) => {
        let config;
        try { config = JSON.parse(f.elements.config.value || '{}'); } catch (e) { throw new Error(`The configuration is not JSON: ${e.message}`); }
        await send('PUT', `/artifactory/api/retention/policies/${enc(val(f, 'key'))}`, { json: { plugin: val(f, 'plugin'), repositories: list(val(f, 'repositories')), config, intervalMinutes: Number(val(f, 'interval') || 0) } });
        await again();
      }));
  },

  async storage(body) {
    const s = await getJson('/artifactory/api/storageinfo');
    const out = h('div', { id: 'gc-result' });
    const b = s.binariesSummary || {};
    mount(body,
      h('div', { class: 'card' }, facts([['Binaries', `${b.binariesCount} (${b.binariesSize})`], ['Artifacts', `${b.artifactsCount} (${b.artifactsSize})`], ['Items', b.itemsCount],
        ['Deduplication', b.optimization], ['Store', `${s.fileStoreSummary.storageType} at ${s.fileStoreSummary.storageDirectory}`]])),
      table(['Repository', 'Type', 'Package type', { text: 'Files', class: 'num' }, { text: 'Folders', class: 'num' }, { text: 'Size', class: 'num' }],
        (s.repositoriesSummaryList || []).map((r) => [r.repoKey, r.repoType, r.packageType || '', h('td', { class: 'num' }, String(r.filesCount)), h('td', { class: 'num' }, String(r.foldersCount)), h('td', { class: 'num' }, bytes(r.usedSpaceInBytes))])),
      h('p', {}, h('button', { id: 'run-gc', class: 'primary', onclick: async () => {
        try {
          const r = await send('POST', '/artifactory/api/system/storage/gc');
          mount(out, h('div', { class: 'ok' }, `Garbage collection: ${r.blobsDeleted} blob(s) deleted, ${bytes(r.bytesFreed)} freed, ${r.tempFilesDeleted} temporary file(s) removed.`));
        } catch (e) { mount(out, errorBox(e)); }
      } }, 'Collect garbage now')), out);
  },
};

async function repoForm(body, existing) {
  const isNew = !existing;
  const rclass = h('select', { name: 'rclass', id: 'f-rclass', disabled: !isNew }, ['local', 'remote', 'virtual'].map((c) => h('option', { value: c, selected: existing && existing.rclass === c }, c)));
  // The package types this server serves: generic, and those of the loaded plugins.
  const plugins = await getJson('/artifactory/api/plugins');
  const types = ['generic', ...new Set(plugins.map((p) => p.packageType).filter(Boolean))];
  if (existing && !types.includes(existing.packageType)) types.push(existing.packageType);
  const pkg = h('select', { name: 'packageType', id: 'f-packageType', disabled: !isNew }, types.map((t) => h('option', { value: t, selected: existing && existing.packageType === t }, t)));
  const f = form({ id: 'repo-form' }, [
    field('Key', 'key', { required: true, value: existing ? existing.key : '', readonly: !isNew }),
    h('label', {}, 'Class', rclass), h('label', {}, 'Package type', pkg),
    field('Description', 'description', { value: existing ? existing.description : '' }),
    field('Include patterns', 'includesPattern', { value: existing ? existing.includesPattern : '**/*' }),
    field('Exclude patterns', 'excludesPattern', { value: existing ? existing.excludesPattern : '' }),
    field('Remote: upstream URL', 'url', { type: 'url', value: existing && existing.url ? existing.url : '' }),
    field('Virtual: member repositories, in order (a,b)', 'repositories', { value: existing && existing.repositories ? existing.repositories.join(',') : '' }),
    field('Virtual: deploy to (a local member)', 'defaultDeploymentRepo', { value: existing && existing.defaultDeploymentRepo ? existing.defaultDeploymentRepo : '' }),
    submit(isNew ? 'Create repository' : 'Save changes'),
  ], async (form) => {
    const c = rclass.value;
    const cfg = { rclass: c, packageType: pkg.value, description: val(form, 'description'), includesPattern: val(form, 'includesPattern'), excludesPattern: val(form, 'excludesPattern') };
    if (c === 'remote') cfg.url = val(form, 'url');
    if (c === 'virtual') {
      cfg.repositories = list(val(form, 'repositories'));
      if (val(form, 'defaultDeploymentRepo')) cfg.defaultDeploymentRepo = val(form, 'defaultDeploymentRepo');
    }
    const key = val(form, 'key');
    await call(isNew ? 'PUT' : 'POST', `/artifactory/api/repositories/${enc(key)}`, { json: cfg });
    location.hash = '#/admin/repos';
  });
  mount(body, h('h2', {}, isNew ? 'New repository' : `Repository ${existing.key}`), f);
}

async function webhook(body, key) {
  const s = await getJson(`/event/api/v1/subscriptions/${enc(key)}`);
  const log = await getJson(`/event/api/v1/subscriptions/${enc(key)}/deliveries`);
  const entries = Array.isArray(log) ? log : log.deliveries || [];
  const out = h('div');
  mount(body,
    h('nav', { class: 'crumbs' }, h('a', { href: '#/admin/webhooks' }, 'Webhooks')),
    h('h2', {}, `Webhook ${s.key}`),
    h('div', { class: 'card' }, facts([['URL', s.url], ['Events', s.events.join(', ')], ['Formatter', s.formatter], ['Enabled', s.enabled ? 'yes' : 'no'], ['Criteria', h('code', {}, JSON.stringify(s.criteria))]]),
      h('p', {}, h('button', { id: 'webhook-test', onclick: async () => {
        try { const r = await send('POST', `/event/api/v1/subscriptions/${enc(key)}/test`); mount(out, h('div', { class: 'ok' }, `Test: ${JSON.stringify(r)}`)); } catch (e) { mount(out, errorBox(e)); }
      } }, 'Send a test event'), ' ', h('button', { onclick: () => webhook(body, key) }, 'Refresh')), out),
    h('h2', {}, 'Delivery log'),
    table(['Time', 'Event', 'Status', 'Attempts', 'HTTP', 'Last error'], entries.slice().reverse().map((d) => [when(d.time_ms ?? d.timeMs), `${d.event_type ?? d.eventType} ${d.event_id ?? d.eventId ?? ''}`,
      h('span', { class: `badge delivery ${d.status === 'delivered' ? 'good' : 'bad'}` }, d.status), String(d.attempts), d.http_status ?? d.httpStatus ?? '', h('td', { class: 'wrap' }, d.last_error ?? d.lastError ?? '')]), 'No deliveries yet.'));
}
