// A repository's folders, one page (100 children by name) at a time: the listing
// asks the storage API for `?limit=100&after=<last name>`, so a folder of any size
// answers its first page at once. Users who may deploy can upload into the folder.

import { h, mount, table, bytes, when, errorBox } from '../dom.js';
import { getJson, call, encPath } from '../api.js';

const PAGE = 100;

export function crumbs(repo, path) {
  const parts = path ? path.split('/') : [];
  const out = [h('a', { href: '#/' }, 'Repositories'), h('span', { class: 'sep' }, '/'),
    h('a', { href: `#/tree/${encodeURIComponent(repo)}` }, repo)];
  parts.forEach((p, i) => {
    out.push(h('span', { class: 'sep' }, '/'));
    out.push(h('a', { href: `#/tree/${encodeURIComponent(repo)}/${encPath(parts.slice(0, i + 1).join('/'))}` }, p));
  });
  return h('nav', { class: 'crumbs' }, out);
}

export async function render(main, { params }) {
  const [repo, ...rest] = params;
  const path = rest.join('/');
  const base = `/artifactory/api/storage/${encodeURIComponent(repo)}${path ? '/' + encPath(path) : ''}`;
  const first = await getJson(`${base}?limit=${PAGE}`);
  if (!first.children) {
    location.hash = `#/artifact/${encodeURIComponent(repo)}/${encPath(path)}`;
    return;
  }
  const body = h('tbody');
  const more = h('div');
  const addRows = (page) => {
    for (const c of page.children) {
      const name = c.uri.replace(/^\//, '');
      const child = path ? `${path}/${decodeURIComponent(name)}` : decodeURIComponent(name);
      const href = c.folder ? `#/tree/${encodeURIComponent(repo)}/${encPath(child)}` : `#/artifact/${encodeURIComponent(repo)}/${encPath(child)}`;
      body.append(h('tr', {},
        h('td', { class: 'wrap' }, h('a', { href, class: c.folder ? 'folder' : 'file' }, (c.folder ? '📁 ' : '📄 ') + decodeURIComponent(name))),
        h('td', { class: 'num' }, c.folder ? '' : bytes(c.size)),
        h('td', {}, when(c.lastModified))));
    }
    mount(more, page.nextAfter ? h('button', { id: 'more', onclick: async () => {
      try { addRows(await getJson(`${base}?limit=${PAGE}&after=${encodeURIComponent(page.nextAfter)}`)); } catch (e) { mount(more, errorBox(e)); }
    } }, `Show the next ${PAGE}`) : null);
  };
  addRows(first);
  const listing = first.children.length
    ? h('div', { class: 'table-wrap' }, h('table', { id: 'tree' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', { class: 'num' }, 'Size'), h('th', {}, 'Modified'))), body))
    : h('p', { class: 'muted', id: 'tree' }, 'This folder is empty.');
  mount(main, crumbs(repo, path), h('h1', {}, path ? path.split('/').pop() : repo), listing, more, uploadForm(repo, path));
}

function uploadForm(repo, path) {
  const msg = h('div');
  const file = h('input', { type: 'file', name: 'file', id: 'upload-file', required: true });
  const name = h('input', { name: 'name', id: 'upload-name', placeholder: 'the file’s own name' });
  return h('form', { class: 'card inline', id: 'upload-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return;
    const target = [path, name.value.trim() || f.name].filter(Boolean).join('/');
    try {
      await call('PUT', `/artifactory/${encodeURIComponent(repo)}/${encPath(target)}`, { body: f });
      location.hash = `#/artifact/${encodeURIComponent(repo)}/${encPath(target)}`;
    } catch (e) { mount(msg, errorBox(e)); }
  } }, h('label', {}, 'Upload a file here', file), h('label', {}, 'Store as (optional path)', name),
  h('button', { class: 'primary', type: 'submit' }, 'Upload'), msg);
}
