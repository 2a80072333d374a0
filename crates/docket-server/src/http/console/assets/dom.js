// Building DOM nodes without innerHTML: text is always text, so nothing a case holds can
// run as markup.

/** h('tag#id.class', {attr: value, onclick: fn}, ...children) */
export function h(spec, attrs, ...children) {
  const [, tag = 'div', id, classes] = spec.match(/^([a-z0-9]+)?(?:#([\w-]+))?((?:\.[\w-]+)*)$/) || [];
  const el = document.createElement(tag);
  if (id) el.id = id;
  if (classes) el.className = classes.split('.').filter(Boolean).join(' ');
  if (attrs === null || attrs === undefined || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    if (attrs !== null && attrs !== undefined) children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled control: <div class=field><label for=id>text</label>control</div>. */
export function field(text, control) {
  return h('div.field', h('label', { for: control.id }, text), control);
}

export function select(id, options, value, attrs = {}) {
  return h(`select#${id}`, attrs, options.map(o => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    // The attribute, not the property: it is the option's default, which form.reset() keeps.
    return h('option', { value: v, selected: v === value ? '' : null }, label);
  }));
}

/**
 * Runs `render` (which may replace the focused element) and gives the focus back to the
 * element with the same id afterwards, so keyboard users do not fall back to the page top.
 */
export function keepFocus(render) {
  const id = document.activeElement && document.activeElement.id;
  const out = render();
  if (id && document.activeElement?.id !== id) document.getElementById(id)?.focus();
  return out;
}

/** A table in a box of its own that scrolls sideways when the table is wider than the page. */
export function scroller(table) {
  return h('div.table-scroll', table);
}

let toastTimer;
export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 4000);
}

/** Leaves a toast for the next page this tab opens (when this one navigates away). */
export function toastNext(text) {
  try { sessionStorage.setItem('docket.toast', text); } catch { /* storage refused: no toast */ }
}

/** Shows the toast the previous page left with toastNext, if any. */
export function pendingToast() {
  let text = null;
  try {
    text = sessionStorage.getItem('docket.toast');
    sessionStorage.removeItem('docket.toast');
  } catch { /* storage refused */ }
  if (text) toast(text);
}

/** A problem (or any error) as an alert block. */
export function problemBlock(err, what) {
  const list = err.errors && err.errors.length
    ? h('ul.errors', err.errors.map(e => h('li', `${e.field}: ${e.message}`)))
    : null;
  return h('div.alert', { role: 'alert' },
    h('strong', what), ' ',
    h('p', err.detail || err.message || String(err)),
    err.code ? h('p.muted', `code: ${err.code}`) : null,
    list);
}

export function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString();
}

/** A random hex string (crypto.randomUUID needs a secure context; this does not). */
export function randomHex(bytes = 16) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, b => b.toString(16).padStart(2, '0')).join('');
}
