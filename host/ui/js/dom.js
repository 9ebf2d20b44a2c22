// Building the page from data without innerHTML: every text goes in as text, so
// names and properties from the server can never become markup.

/** h('a', {href: '#/x', onclick}, 'text', child…) → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table from column headers and rows of cells. */
export function table(headers, rows, empty = 'Nothing here.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', typeof x === 'object' ? x : {}, typeof x === 'object' ? x.text : x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c))))))));
}

/** A definition list of [label, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '')]));
}

/** A message box for an error (Error or string). */
export function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));
}

/** Human-readable bytes. */
export function bytes(n) {
  if (n === undefined || n === null || n < 0) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${u[i]}`;
}

/** A date from an ISO string or epoch milliseconds. */
export function when(v) {
  if (v === undefined || v === null || v === '' || v === 0) return '';
  const d = typeof v === 'number' ? new Date(v) : new Date(String(v));
  return isNaN(d) ? String(v) : d.toLocaleString();
}

/** A form's fields as an object (checkboxes as booleans). */
export function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

/** Splits "a, b ,c" into ["a","b","c"]. */
export function list(s) {
  return String(s || '').split(',').map((x) => x.trim()).filter(Boolean);
}
