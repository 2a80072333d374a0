// The case list: filters, sorting, cursor paging, a selection that survives paging, and
// the bulk change of the selection or of everything the filter matches.

import { get } from './api.js';
import { h, clear, field, select, when, problemBlock, keepFocus, scroller } from './dom.js';
import { bulkPanel } from './bulk.js';

const SORTS = { createdAt: 'Created', updatedAt: 'Updated' };
const PAGE_SIZES = ['25', '50', '100', '250'];

/**
 * The selected case ids, kept for this browser tab across pages and reloads, with the
 * status each had when last listed, so the bulk confirmation can count the moves the
 * workflow forbids without reading every selected case again (the server still decides
 * each one).
 */
export class Selection {
  constructor(key = 'docket.selection') {
    this.key = key;
    const stored = (k, empty) => { try { return JSON.parse(sessionStorage.getItem(k) || empty); } catch { return JSON.parse(empty); } };
    this.ids = new Set(stored(key, '[]'));
    this.statuses = new Map(stored(`${key}.statuses`, '[]'));
    this.listeners = [];
  }
  has(id) { return this.ids.has(id); }
  get size() { return this.ids.size; }
  /** The status the case had when last listed, if known. */
  status(id) { return this.statuses.get(id); }
  set(id, on, status) {
    if (on) { this.ids.add(id); if (status) this.statuses.set(id, status); } else { this.ids.delete(id); this.statuses.delete(id); }
    this.save();
  }
  /** Notes the statuses of the selected cases among `cases` (a page just listed). */
  saw(cases) {
    for (const c of cases) if (this.ids.has(c.caseId)) this.statuses.set(c.caseId, c.status);
    this.persist();
  }
  replace(ids) {
    this.ids = new Set(ids);
    for (const id of [...this.statuses.keys()]) if (!this.ids.has(id)) this.statuses.delete(id);
    this.save();
  }
  clear() { this.ids.clear(); this.statuses.clear(); this.save(); }
  persist() {
    sessionStorage.setItem(this.key, JSON.stringify([...this.ids]));
    sessionStorage.setItem(`${this.key}.statuses`, JSON.stringify([...this.statuses]));
  }
  save() {
    this.persist();
    for (const f of this.listeners) f();
  }
  onChange(f) { this.listeners.push(f); }
}

function readFilter() {
  const p = new URLSearchParams(location.search);
  return {
    status: p.get('status') || '',
    assignee: p.get('assignee') || '',
    tag: p.get('tag') || '',
    q: p.get('q') || '',
    sort: p.get('sort') || '-createdAt',
    limit: PAGE_SIZES.includes(p.get('limit')) ? p.get('limit') : '50',
  };
}

function writeFilter(f) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  history.replaceState(null, '', location.pathname + (p.toString() ? '?' + p : ''));
}

export async function casesPage(main, ctx) {
  document.title = 'Cases · docket';
  const filter = readFilter();
  const selection = new Selection();
  const statuses = ctx.workflow ? ctx.workflow.statuses : [];
  let cursors = [null]; // the cursor of each page seen, for "Previous"
  let page = null;
  let current = 0; // index of the page shown

  const form = h('form#filters.filters', { role: 'search', 'aria-label': 'Filter cases' },
    field('Status', select('f-status', [['', 'Any status'], ...statuses], filter.status, { name: 'status' })),
    field('Assignee', h('input#f-assignee', { name: 'assignee', value: filter.assignee, size: 14 })),
    field('Tag', h('input#f-tag', { name: 'tag', value: filter.tag, size: 12 })),
    // Three characters at least: the title index works on trigrams, and a shorter text
    // would make the server walk every case (see store/title_search.rs).
    field('Title contains', h('input#f-q', { name: 'q', type: 'search', value: filter.q, size: 18, minlength: '3', title: 'At least 3 characters' })),
    field('Per page', select('f-limit', PAGE_SIZES, filter.limit, { name: 'limit' })),
    h('button#apply-filter.primary', { type: 'submit' }, 'Apply'),
    h('button#reset-filter', { type: 'button', onclick: () => { form.reset(); for (const el of form.elements) if (el.name && el.name !== 'limit') el.value = ''; apply(); } }, 'Reset'));
  form.addEventListener('submit', e => { e.preventDefault(); apply(); });

  const count = h('span#selection-count', { 'aria-live': 'polite' });
  const clearSel = h('button#clear-selection', { type: 'button', onclick: () => { selection.clear(); marks(); pageBox.focus(); } }, 'Clear selection');
  const selectionBar = h('div.selection', count, clearSel);
  const showCount = () => {
    count.textContent = selection.size === 1 ? '1 case selected' : `${selection.size} cases selected`;
    clearSel.disabled = selection.size === 0;
  };
  selection.onChange(showCount);

  const tbody = h('tbody');
  const pageBox = h('input#select-page', { type: 'checkbox', 'aria-label': 'Select every case on this page' });
  pageBox.addEventListener('change', () => {
    for (const c of page.items) selection.set(c.caseId, pageBox.checked, c.status);
    marks();
  });
  const sortHeader = key => {
    const cur = filter.sort.replace(/^-/, '');
    const desc = filter.sort.startsWith('-');
    const state = cur === key ? (desc ? 'descending' : 'ascending') : 'none';
    const next = cur === key && !desc ? '-' + key : (cur === key ? key : '-' + key);
    return h('th', { scope: 'col', 'aria-sort': state },
      h('button.sort', { type: 'button', id: `sort-${key}`, onclick: () => { filter.sort = next; apply(); } },
        SORTS[key], state === 'none' ? '' : (desc ? ' ▼' : ' ▲'),
        h('span.visually-hidden', state === 'none' ? ', sort' : `, sorted ${state}`)));
  };
  const caption = h('caption', 'Cases');
  const thead = h('thead');
  const table = h('table#case-table', caption, thead, tbody);
  const prev = h('button#prev-page', { type: 'button', onclick: () => go(-1) }, '← Previous');
  const next = h('button#next-page', { type: 'button', onclick: () => go(1) }, 'Next →');
  const pageInfo = h('span#page-info.muted', { 'aria-live': 'polite' });
  const pager = h('nav.pager', { 'aria-label': 'Case pages' }, prev, pageInfo, next);
  const errors = h('div');

  const bulk = ctx.can.write
    ? bulkPanel(ctx, { selection, filter: () => ({ ...filter }), onDone: () => load(current) })
    : null;

  let loads = 0;
  clear(main, h('h1', 'Cases'), form, ctx.can.write ? selectionBar : null, bulk, errors, scroller(table), pager);

  function renderHead() {
    clear(thead, h('tr',
      ctx.can.write ? h('th', { scope: 'col' }, pageBox, h('span.visually-hidden', 'Selected')) : null,
      h('th', { scope: 'col' }, 'Case'), h('th', { scope: 'col' }, 'Title'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Priority'), h('th', { scope: 'col' }, 'Assignee'), h('th', { scope: 'col' }, 'Tags'),
      sortHeader('updatedAt'), sortHeader('createdAt')));
  }

  /** Shows the selection on the rows in place (no re-render, so the focus stays put). */
  function marks() {
    showCount();
    for (const box of tbody.querySelectorAll('input[type=checkbox]')) {
      box.checked = selection.has(box.dataset.caseId);
      box.closest('tr').classList.toggle('selected', box.checked);
    }
    pageBox.checked = !!page && page.items.length > 0 && page.items.every(c => selection.has(c.caseId));
  }

  function renderRows() {
    showCount();
    if (!page) return;
    clear(tbody, page.items.map(c => {
      const box = h('input', { type: 'checkbox', id: `select-${c.caseId}`, checked: selection.has(c.caseId), 'aria-label': `Select ${c.caseId}`, dataset: { caseId: c.caseId } });
      box.addEventListener('change', () => { selection.set(c.caseId, box.checked, c.status); marks(); });
      return h('tr', { class: selection.has(c.caseId) ? 'selected' : '', dataset: { caseId: c.caseId } },
        ctx.can.write ? h('td', box) : null,
        h('td.nowrap', h('a', { href: `/console/cases/${encodeURIComponent(c.caseId)}` }, c.caseId)),
        h('td', c.title),
        h('td.status', h('span.badge', c.status)),
        h('td', c.priority),
        h('td', c.assignee || ''),
        h('td', c.tags.join(', ')),
        h('td.nowrap', when(c.updatedAt)),
        h('td.nowrap', when(c.createdAt)));
    }));
    if (page.items.length === 0) clear(tbody, h('tr', h('td', { colSpan: 9 }, 'No case matches the filter.')));
    table.dataset.loads = String(loads);
    pageBox.checked = page.items.length > 0 && page.items.every(c => selection.has(c.caseId));
  }

  let asked = 0; // the latest load; an older answer arriving late is dropped
  async function load(i) {
    const mine = ++asked;
    let got;
    try {
      got = await get('/api/v1/cases', {
        status: filter.status, assignee: filter.assignee, tag: filter.tag, q: filter.q,
        sort: filter.sort, limit: filter.limit, cursor: cursors[i] || '',
      });
    } catch (e) {
      if (mine === asked) clear(errors, problemBlock(e, 'The cases could not be listed.'));
      return;
    }
    if (mine !== asked) return;
    page = got;
    selection.saw(page.items);
    clear(errors);
    cursors = cursors.slice(0, i + 1);
    if (page.nextCursor) cursors.push(page.nextCursor);
    caption.textContent = `Cases, page ${i + 1}`;
    pageInfo.textContent = `Page ${i + 1} · ${page.items.length} shown`;
    prev.disabled = i === 0;
    next.disabled = !page.nextCursor;
    current = i;
    loads += 1;
    keepFocus(() => { renderHead(); renderRows(); });
  }

  function go(step) { load(current + step); }

  function apply() {
    for (const k of ['status', 'assignee', 'tag', 'q', 'limit']) filter[k] = form.elements[k].value.trim();
    writeFilter(filter);
    cursors = [null];
    load(0);
  }

  await load(0);
}
