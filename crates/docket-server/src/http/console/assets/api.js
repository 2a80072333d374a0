// The console's only way to the server: the public HTTP API (api.md), signed in by the
// HttpOnly session cookie the sign-in form set. Writes echo the CSRF cookie in a header,
// which a page of another site cannot read.

export class Problem extends Error {
  constructor(status, body, text) {
    const b = body && typeof body === 'object' ? body : {};
    super(b.detail || b.title || text || `HTTP ${status}`);
    this.status = status;
    this.code = b.code || null;
    this.detail = b.detail || b.title || text || `HTTP ${status}`;
    this.errors = b.errors || [];
    this.body = body;
  }
}

function csrf() {
  // `__Host-docket_csrf` over TLS, `docket_csrf` on plain HTTP (see console/mod.rs).
  const m = document.cookie.match(/(?:^|;\s*)(?:__Host-)?docket_csrf=([^;]+)/);
  return m ? m[1] : '';
}

export function signInAgain() {
  const here = location.pathname + location.search;
  location.assign('/console/sign-in?next=' + encodeURIComponent(here));
}

/** Query string from an object, leaving out empty values. */
export function qs(query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/** One API call: resolves to {status, data, headers}; throws a Problem on non-2xx. */
export async function api(method, path, { body, headers = {}, query, raw, type } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (raw !== undefined) h['Content-Type'] = type;
  if (method !== 'GET') h['X-CSRF-Token'] = csrf();
  const res = await fetch(path + qs(query), {
    method,
    headers: h,
    body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401) {
    signInAgain();
  }
  if (!res.ok) throw new Problem(res.status, data, text);
  return { status: res.status, data, headers: res.headers };
}

export const get = (path, query) => api('GET', path, { query }).then(r => r.data);
