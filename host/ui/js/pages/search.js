// Search by name, by property, by checksum (Artifactory's quick searches) and with
// AQL; every answer lists only what the user may read (the server filters).

import { h, mount, table, errorBox, bytes, when } from '../dom.js';
import { getJson, send, encPath } from '../api.js';

const KINDS = [['name', 'Name'], ['property', 'Property'], ['checksum', 'Checksum'], ['aql', 'AQL']];

/** A result's storage URI → [repo, path]. */
function fromUri(uri) {
  const m = String(uri).match(/\/api\/storage\/([^/]+)\/(.*)$/);
  return m ? [decodeURIComponent(m[1]), m[2].split('/').map(decodeURIComponent).join('/')] : [null, uri];
}

function link(repo, path) {
  return h('a', { href: `#/artifact/${encodeURIComponent(repo)}/${encPath(path)}`, class: 'result' }, `${repo}/${path}`);
}

export async function render(main, { params }) {
  const kind = KINDS.some(([k]) => k === params[0]) ? params[0] : 'name';
  const out = h('div', { id: 'results' });
  const tabs = h('nav', { class: 'tabs' }, KINDS.map(([k, t]) => h('a', { href: `#/search/${k}`, class: k === kind ? 'active' : '' }, t)));
  const run = (fn) => async (ev) => {
    ev.preventDefault();
    mount(out, h('p', { class: 'muted' }, 'Searching…'));
    try { mount(out, await fn()); } catch (e) { mount(out, errorBox(e)); }
  };
  const repos = h('input', { name: 'repos', id: 'search-repos', placeholder: 'all repositories' });
  const uris = async (url) => {
    const v = await getJson(url);
    return table(['Item'], (v.results || []).map((r) => { const [repo, path] = fromUri(r.uri); return [repo ? link(repo, path) : path]; }), 'Nothing found.');
  };
  const reposQ = () => (repos.value.trim() ? `&repos=${encodeURIComponent(repos.value.trim())}` : '');
  let form;
  if (kind === 'name') {
    const q = h('input', { name: 'name', id: 'search-name', required: true, placeholder: 'e.g. *.jar or lib-1.0.tgz' });
    form = h('form', { class: 'inline card', id: 'search-form', onsubmit: run(() => uris(`/artifactory/api/search/artifact?name=${encodeURIComponent(q.value)}${reposQ()}`)) },
      h('label', {}, 'Name (* and ? match)', q), h('label', {}, 'In repositories (a,b)', repos), h('button', { class: 'primary', type: 'submit' }, 'Search'));
  } else if (kind === 'property') {
    const k = h('input', { name: 'key', id: 'search-key', required: true });
    const v = h('input', { name: 'value', id: 'search-value' });
    form = h('form', { class: 'inline card', id: 'search-form', onsubmit: run(() => uris(`/artifactory/api/search/prop?${encodeURIComponent(k.value)}=${encodeURIComponent(v.value)}${reposQ()}`)) },
      h('label', {}, 'Key', k), h('label', {}, 'Value', v), h('label', {}, 'In repositories (a,b)', repos), h('button', { class: 'primary', type: 'submit' }, 'Search'));
  } else if (kind === 'checksum') {
    const c = h('input', { name: 'checksum', id: 'search-checksum', required: true, class: 'mono', size: 50 });
    const algo = () => ({ 32: 'md5', 40: 'sha1', 64: 'sha256' }[c.value.trim().length] || 'sha256');
    form = h('form', { class: 'inline card', id: 'search-form', onsubmit: run(() => uris(`/artifactory/api/search/checksum?${algo()}=${encodeURIComponent(c.value.trim())}${reposQ()}`)) },
      h('label', {}, 'SHA-256, SHA-1 or MD5', c), h('label', {}, 'In repositories (a,b)', repos), h('button', { class: 'primary', type: 'submit' }, 'Search'));
  } else {
    const q = h('textarea', { name: 'aql', id: 'search-aql' }, 'items.find({"name": {"$match": "*"}}).limit(50)');
    form = h('form', { class: 'stack card', id: 'search-form', onsubmit: run(async () => {
      const v = await send('POST', '/artifactory/api/search/aql', { body: q.value, headers: { 'Content-Type': 'text/plain' } });
      const rows = (v.results || []).map((r) => [
        r.repo && r.name ? link(r.repo, [r.path, r.name].filter((x) => x && x !== '.').join('/')) : h('code', {}, JSON.stringify(r)),
        h('td', { class: 'num' }, r.size !== undefined ? bytes(r.size) : ''), when(r.modified || r.created)]);
      return h('div', {}, h('p', { class: 'muted' }, v.range ? `${v.range.total} result(s)` : ''), table(['Item', { text: 'Size', class: 'num' }, 'Modified'], rows, 'Nothing found.'));
    }) }, h('label', {}, 'AQL query', q), h('button', { class: 'primary', type: 'submit' }, 'Run'));
  }
  mount(main, h('h1', {}, 'Search'), tabs, form, out);
}
