// Builds: the list, a build's runs, one run (modules with their artifacts and
// dependencies, promotion status) and the diff of two runs.

import { h, mount, table, facts, when } from '../dom.js';
import { call, getJson } from '../api.js';

const enc = encodeURIComponent;
const num = (uri) => decodeURIComponent(String(uri).replace(/^\//, ''));

export async function render(main, { params }) {
  const [name, number, what, other] = params;
  if (!name) return list(main);
  if (!number) return runs(main, name);
  if (what === 'diff' && other) return diff(main, name, number, other);
  return run(main, name, number);
}

async function list(main) {
  const res = await call('GET', '/artifactory/api/build', { allow: [404] });
  const builds = res.ok ? (await res.json()).builds || [] : [];
  mount(main, h('h1', {}, 'Builds'),
    table(['Build', 'Last started'], builds.map((b) => [h('a', { href: `#/builds/${enc(num(b.uri))}`, class: 'build' }, num(b.uri)), when(b.lastStarted)]), 'No builds you may read.'));
}

async function runs(main, name) {
  const v = await getJson(`/artifactory/api/build/${enc(name)}`);
  const numbers = v.buildsNumbers || [];
  mount(main, h('nav', { class: 'crumbs' }, h('a', { href: '#/builds' }, 'Builds')), h('h1', {}, name),
    table(['Run', 'Started'], numbers.map((r) => [h('a', { href: `#/builds/${enc(name)}/${enc(num(r.uri))}`, class: 'run' }, num(r.uri)), when(r.started)]), 'No runs.'));
}

function files(list, key) {
  return table([key === 'id' ? 'Id' : 'Name', 'Type', 'SHA-1'], (list || []).map((f) => [h('td', { class: 'wrap' }, f[key] || f.name || f.id || ''), f.type || '', h('td', { class: 'mono wrap' }, f.sha1 || '')]), 'None.');
}

async function run(main, name, number) {
  const v = await getJson(`/artifactory/api/build/${enc(name)}/${enc(number)}`);
  const b = v.buildInfo || {};
  let others = [];
  try { others = ((await getJson(`/artifactory/api/build/${enc(name)}`)).buildsNumbers || []).map((r) => num(r.uri)).filter((n) => n !== number); } catch { /* only this run */ }
  const pick = h('select', { id: 'diff-with' }, others.map((o) => h('option', { value: o }, o)));
  const statuses = b.statuses || [];
  mount(main,
    h('nav', { class: 'crumbs' }, h('a', { href: '#/builds' }, 'Builds'), h('span', { class: 'sep' }, '/'), h('a', { href: `#/builds/${enc(name)}` }, name)),
    h('h1', {}, `${name} #${number}`),
    h('div', { class: 'card' }, facts([
      ['Started', when(b.started)],
      ['Agent', b.agent ? `${b.agent.name || ''} ${b.agent.version || ''}` : ''],
      ['Build agent', b.buildAgent ? `${b.buildAgent.name || ''} ${b.buildAgent.version || ''}` : ''],
      ['URL', b.url ? h('a', { href: b.url, rel: 'noopener noreferrer' }, b.url) : ''],
      ['VCS', (b.vcs || []).map((x) => `${x.url || ''} ${x.revision || ''}`).join('; ') || b.vcsRevision || ''],
      ['Promotion', statuses.length ? h('span', { id: 'promotion' }, statuses.map((s) => h('span', { class: 'badge' }, `${s.status} → ${s.repository || ''} (${when(s.timestamp)} by ${s.user || ''})`))) : h('span', { class: 'muted', id: 'promotion' }, 'not promoted')],
    ])),
    others.length ? h('form', { class: 'inline card', id: 'diff-form', onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/builds/${enc(name)}/${enc(number)}/diff/${enc(pick.value)}`; } },
      h('label', {}, 'Compare with run', pick), h('button', { class: 'primary', type: 'submit' }, 'Diff')) : null,
    (b.modules || []).map((m) => h('section', { class: 'card module' },
      h('h2', {}, `Module ${m.id || ''}`),
      h('h3', {}, 'Artifacts'), files(m.artifacts, 'name'),
      h('h3', {}, 'Dependencies'), files(m.dependencies, 'id'))),
    b.properties && Object.keys(b.properties).length ? h('div', {}, h('h2', {}, 'Properties'),
      table(['Key', 'Value'], Object.entries(b.properties).map(([k, x]) => [h('td', { class: 'mono wrap' }, k), h('td', { class: 'wrap' }, String(x))]))) : null);
}

async function diff(main, name, number, other) {
  const d = await getJson(`/artifactory/api/build/diff/${enc(name)}/${enc(number)}?otherNumber=${enc(other)}`);
  const section = (title, part, key) => {
    const rows = [];
    for (const kind of ['new', 'updated', 'removed', 'unchanged']) {
      for (const f of (part && part[kind]) || []) rows.push([h('span', { class: `badge ${kind === 'new' ? 'good' : kind === 'removed' ? 'bad' : ''}` }, kind), h('td', { class: 'wrap' }, f[key] || f.name || f.id || ''), h('td', { class: 'mono wrap' }, f.sha1 || '')]);
    }
    return h('section', { class: 'card' }, h('h2', {}, title), table(['Change', 'Name', 'SHA-1'], rows, 'No entries.'));
  };
  const props = d.properties || {};
  const propRows = [];
  for (const kind of ['new', 'updated', 'removed', 'unchanged']) {
    for (const [k, v] of Object.entries(props[kind] || {})) propRows.push([h('span', { class: 'badge' }, kind), h('td', { class: 'mono wrap' }, k), h('td', { class: 'wrap' }, typeof v === 'object' ? JSON.stringify(v) : String(v))]);
  }
  mount(main,
    h('nav', { class: 'crumbs' }, h('a', { href: '#/builds' }, 'Builds'), h('span', { class: 'sep' }, '/'), h('a', { href: `#/builds/${enc(name)}` }, name),
      h('span', { class: 'sep' }, '/'), h('a', { href: `#/builds/${enc(name)}/${enc(number)}` }, number)),
    h('h1', { id: 'diff-title' }, `${name}: #${number} compared with #${other}`),
    section('Artifacts', d.artifacts, 'name'), section('Dependencies', d.dependencies, 'id'),
    h('section', { class: 'card' }, h('h2', {}, 'Properties'), table(['Change', 'Key', 'Value'], propRows, 'No properties.')));
}
