// The REST API, called with the session cookie. Every state-changing call carries
// the session's CSRF token; errors come back as Artifactory's
// {"errors":[{"status","message"}]} and are thrown as Error(message).

let csrf = null;

/** Remembers the CSRF token of the current session. */
export function setCsrf(token) { csrf = token || null; }

/** An API error with its HTTP status. */
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function fail(res) {
  let msg = `${res.status} ${res.statusText}`;
  const text = await res.text();
  try {
    const v = JSON.parse(text);
    if (v.errors && v.errors[0] && v.errors[0].message) msg = v.errors[0].message;
  } catch { if (text) msg = text; }
  throw new ApiError(res.status, msg);
}

/** fetch with the cookie and CSRF token; answers the Response (throws on non-2xx). */
export async function call(method, path, { body, json, headers = {}, allow = [] } = {}) {
  // Marks the UI's calls: their 401s then carry no Basic challenge (no browser password prompt).
  const h = { 'X-Requested-With': 'binyard-ui', ...headers };
  if (method !== 'GET' && method !== 'HEAD' && csrf) h['X-CSRF-Token'] = csrf;
  if (json !== undefined) { h['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  const res = await fetch(path, { method, headers: h, body, credentials: 'same-origin' });
  if (!res.ok && !allow.includes(res.status)) await fail(res);
  return res;
}

/** GET/POST… and parse JSON (null for an empty body). */
export async function getJson(path, opts) { return parse(await call('GET', path, opts)); }
export async function send(method, path, opts) { return parse(await call(method, path, opts)); }

async function parse(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

/** Percent-encodes each segment of a repository path. */
export function encPath(p) {
  return String(p || '').split('/').filter(Boolean).map(encodeURIComponent).join('/');
}
