// The repositories the user may read: type, package type and, for administrators
// (the storage summary is theirs), size and file count.

import { h, mount, table, bytes } from '../dom.js';
import { getJson } from '../api.js';

export async function render(main, { session }) {
  const repos = await getJson('/artifactory/api/repositories');
  let sizes = {};
  if (session.admin) {
    const info = await getJson('/artifactory/api/storageinfo');
    for (const r of info.repositoriesSummaryList || []) sizes[r.repoKey] = r;
  }
  const rows = repos.map((r) => [
    h('a', { href: `#/tree/${encodeURIComponent(r.key)}`, class: 'repo-link' }, r.key),
    r.type,
    r.packageType,
    h('td', { class: 'num' }, sizes[r.key] ? bytes(sizes[r.key].usedSpaceInBytes) : ''),
    h('td', { class: 'num' }, sizes[r.key] ? String(sizes[r.key].filesCount) : ''),
    h('td', { class: 'wrap muted' }, r.description || ''),
  ]);
  mount(main,
    h('h1', {}, 'Repositories'),
    session.admin ? h('p', {}, h('a', { href: '#/admin/repos/new' }, '+ New repository')) : null,
    table(['Key', 'Type', 'Package type', { text: 'Size', class: 'num' }, { text: 'Files', class: 'num' }, 'Description'], rows,
      'No repositories you may read.'));
}
