// One file: checksums, size, dates, properties (editable by users who may annotate:
// the server decides and says no otherwise), download, the build that produced it
// (its build.name/build.number properties) and how to use it with its format's client.

import { h, mount, facts, table, bytes, when, errorBox } from '../dom.js';
import { getJson, call, encPath } from '../api.js';
import { crumbs } from './tree.js';

// Artifactory's property-list syntax: ; between entries, = and , inside, \ escapes.
const esc = (s) => String(s).replace(/[\\;,=|]/g, (c) => '\\' + c);

export async function render(main, { params, session }) {
  const [repo, ...rest] = params;
  const path = rest.join('/');
  const api = `/artifactory/api/storage/${encodeURIComponent(repo)}/${encPath(path)}`;
  const info = await getJson(api);
  if (info.children) {
    location.hash = `#/tree/${encodeURIComponent(repo)}/${encPath(path)}`;
    return;
  }
  const propsRes = await call('GET', `${api}?properties`, { allow: [404] });
  const props = propsRes.ok ? (await propsRes.json()).properties || {} : {};
  const repos = await getJson('/artifactory/api/repositories');
  const repoInfo = repos.find((r) => r.key === repo) || {};
  const sums = info.checksums || {};
  const name = path.split('/').pop();

  const propMsg = h('div');
  const propRows = Object.entries(props).map(([k, vs]) => [
    h('td', { class: 'wrap mono' }, k),
    h('td', { class: 'wrap prop-value' }, (vs || []).join(', ')),
    session.user ? h('button', { class: 'danger', onclick: async () => {
      try { await call('DELETE', `${api}?properties=${encodeURIComponent(esc(k))}`); await render(main, { params, session }); } catch (e) { mount(propMsg, errorBox(e)); }
    } }, 'Remove') : '',
  ]);
  const key = h('input', { name: 'key', id: 'prop-key', required: true, placeholder: 'key' });
  const value = h('input', { name: 'value', id: 'prop-value', placeholder: 'value (a,b for several)' });
  const editForm = session.user ? h('form', { class: 'inline', id: 'prop-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const values = value.value.split(',').map((v) => esc(v.trim())).join(',');
    try {
      await call('PUT', `${api}?properties=${encodeURIComponent(`${esc(key.value.trim())}=${values}`)}`);
      await render(main, { params, session });
    } catch (e) { mount(propMsg, errorBox(e)); }
  } }, h('label', {}, 'Property', key), h('label', {}, 'Value', value), h('button', { class: 'primary', type: 'submit' }, 'Set')) : null;

  const buildName = (props['build.name'] || [])[0];
  const buildNumber = (props['build.number'] || [])[0];
  const download = `/artifactory/${encodeURIComponent(repo)}/${encPath(path)}`;

  mount(main,
    crumbs(repo, path),
    h('h1', {}, name),
    h('div', { class: 'grid2' },
      h('div', { class: 'card' },
        facts([
          ['Repository', repo],
          ['Path', info.path],
          ['Size', `${bytes(Number(info.size))} (${info.size} bytes)`],
          ['Type', info.mimeType],
          ['Created', `${when(info.created)} by ${info.createdBy || ''}`],
          ['Modified', `${when(info.lastModified)} by ${info.modifiedBy || ''}`],
          ['SHA-256', h('span', { class: 'mono', id: 'sha256' }, sums.sha256 || '')],
          ['SHA-1', h('span', { class: 'mono' }, sums.sha1 || '')],
          ['MD5', h('span', { class: 'mono' }, sums.md5 || '')],
          ['Built by', buildName ? h('a', { href: `#/builds/${encodeURIComponent(buildName)}${buildNumber ? '/' + encodeURIComponent(buildNumber) : ''}`, id: 'built-by' }, `${buildName} #${buildNumber || '?'}`) : h('span', { class: 'muted' }, 'no build recorded')],
        ]),
        h('p', {}, h('a', { href: download, download: name, id: 'download' }, '⬇ Download'))),
      h('div', { class: 'card' }, h('h2', {}, 'Use it'), usage(repoInfo.packageType || '', repo, path, props, info.downloadUri))),
    h('h2', {}, 'Properties'),
    table(['Key', 'Values', ''], propRows, 'No properties.'),
    editForm, propMsg);
}

function first(props, k) { return (props[k] || [])[0]; }

/** The client command for this file, by the repository's package type. */
export function usage(type, repo, path, props, downloadUri) {
  const origin = location.origin;
  const t = type.toLowerCase();
  let text;
  if (t === 'npm') {
    const n = first(props, 'npm.name'), v = first(props, 'npm.version');
    text = `npm install ${n ? `${n}@${v || 'latest'}` : '<package>'} --registry ${origin}/artifactory/api/npm/${repo}/`;
  } else if (t === 'pypi') {
    const n = first(props, 'pypi.name'), v = first(props, 'pypi.version');
    text = `pip install ${n ? `${n}${v ? '==' + v : ''}` : '<package>'} --index-url ${origin}/artifactory/api/pypi/${repo}/simple`;
  } else if (t === 'maven' || t === 'gradle') {
    const p = path.split('/');
    const g = first(props, 'maven.groupId') || p.slice(0, -3).join('.');
    const a = first(props, 'maven.artifactId') || p[p.length - 3] || '';
    const v = first(props, 'maven.version') || p[p.length - 2] || '';
    text = `<dependency>\n  <groupId>${g}</groupId>\n  <artifactId>${a}</artifactId>\n  <version>${v}</version>\n</dependency>\n\n<!-- settings.xml / pom.xml repository: ${origin}/artifactory/${repo}/ -->`;
  } else if (t === 'docker' || t === 'oci') {
    const image = first(props, 'docker.repoName') || path.split('/').slice(0, -2).join('/') || '<image>';
    const tag = first(props, 'docker.manifest') || path.split('/').slice(-2, -1)[0] || 'latest';
    text = `docker pull ${location.host}/${repo}/${image}:${tag}`;
  } else if (t === 'go') {
    const m = first(props, 'go.module') || '<module>';
    const v = first(props, 'go.version') || 'latest';
    text = `GOPROXY=${origin}/artifactory/api/go/${repo} go get ${m}@${v}`;
  } else if (t === 'nuget') {
    const id = first(props, 'nuget.id') || '<package>';
    const v = first(props, 'nuget.version');
    text = `nuget install ${id}${v ? ' -Version ' + v : ''} -Source ${origin}/artifactory/api/nuget/v3/${repo}/index.json`;
  } else {
    text = `curl -O ${downloadUri || `${origin}/artifactory/${repo}/${encPath(path)}`}`;
  }
  return h('pre', { id: 'usage' }, text);
}
