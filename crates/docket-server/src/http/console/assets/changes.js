// Changes: the change feed, live. It starts at the present (or, on request, at the oldest
// change kept) and follows GET /api/v1/changes/stream, newest first, keeping the last
// MAX_ROWS rows. Every value a change holds is shown as text.

import { get, qs } from './api.js';
import { h, clear, field, select, when, problemBlock, scroller } from './dom.js';

/** The most rows the page keeps: older ones are dropped as new ones come. */
const MAX_ROWS = 500;
/** The longest value a summary shows of a field (the whole summary is in the tooltip). */
const MAX_VALUE = 60;
const TYPES = ['case.created', 'case.updated', 'case.deleted', 'task.created', 'task.updated',
  'job.completed', 'job.failed', 'job.cancelled'];
const STATES = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', paused: 'Paused', stopped: 'Stopped' };

/** A value of a change as short text. */
function value(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (Array.isArray(v)) return v.length ? v.map(x => (typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x))).join(', ') : '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/** "field: from → to; …", or a job's end; the full text and the one shown. */
function summary(c) {
  if (c.job && typeof c.job === 'object') {
    const j = c.job;
    const text = `${value(j.status)}: ${value(j.succeeded)} succeeded, ${value(j.failed)} failed`;
    return [text, text];
  }
  const parts = Array.isArray(c.changes) ? c.changes : [];
  const full = parts.map(x => `${value(x.field)}: ${value(x.from)} → ${value(x.to)}`).join('; ');
  const shown = parts.map(x => `${value(x.field)}: ${cut(value(x.from), MAX_VALUE)} → ${cut(value(x.to), MAX_VALUE)}`).join('; ');
  return [full, cut(shown, 4 * MAX_VALUE)];
}

export async function changesPage(main, ctx) {
  document.title = 'Changes · docket';
  if (!ctx.can.readCases) {
    clear(main, h('h1', 'Changes'), h('p', 'Only a key with the cases:read scope may follow the change feed.'));
    return;
  }
  const params = new URLSearchParams(location.search);
  const typeSel = select('changes-type', [['', 'All types'], ...TYPES], TYPES.includes(params.get('type')) ? params.get('type') : '');
  const fromOldest = h('button#changes-from-oldest', { type: 'button' }, 'Load from the oldest kept change');
  const fromNow = h('button#changes-from-now', { type: 'button' }, 'Start from now');
  const pause = h('button#changes-pause', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  const state = h('span#changes-state.badge');
  const origin = h('span#changes-origin.muted');
  const count = h('p#changes-count.muted');
  const problems = h('div');
  const tbody = h('tbody');
  const empty = h('tr#changes-empty', h('td', { colSpan: 7 }, 'No change yet: changes appear here as they are committed.'));
  clear(main, h('h1', 'Changes'),
    h('p.muted', 'Every committed change, as it commits: case and task changes, and the end of bulk jobs.'),
    h('div.row', field('Type', typeSel), fromOldest, fromNow, pause),
    h('p.feed-state', { role: 'status' }, 'Feed: ', state, ' ', origin),
    problems,
    scroller(h('table#change-table', h('caption', `Changes, newest first (the last ${MAX_ROWS} kept)`),
      h('thead', h('tr', ['Position', 'Type', 'Case or job', 'Version', 'Who', 'When', 'Changes'].map(t => h('th', { scope: 'col' }, t)))),
      tbody)),
    count);

  let mode = params.get('from') === 'oldest' ? 'oldest' : 'now';
  let es = null; // the open EventSource, if any
  let cursor = null; // the position the next change comes after; null: from the oldest kept
  let generation = 0; // raised by every restart: callbacks of an older stream do nothing
  let retries = 0;
  let retryTimer = null;
  let pending = []; // changes received, not yet shown (bounded like the table)
  let flushTimer = null;
  let total = 0;

  function setState(s) {
    state.textContent = STATES[s];
    state.dataset.state = s;
    state.className = `badge state-${s}`;
    pause.textContent = s === 'paused' ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(s === 'paused'));
    pause.disabled = s === 'stopped';
  }

  function writeUrl() {
    const p = new URLSearchParams();
    if (typeSel.value) p.set('type', typeSel.value);
    if (mode === 'oldest') p.set('from', 'oldest');
    history.replaceState(null, '', location.pathname + (p.toString() ? '?' + p : ''));
  }

  function subject(c) {
    const job = c.jobId ? (ctx.can.readJobs ? h('a', { href: `/console/jobs/${encodeURIComponent(c.jobId)}` }, String(c.jobId)) : String(c.jobId)) : null;
    // A deleted case has no page to go to.
    const kase = c.caseId ? (c.type === 'case.deleted' ? String(c.caseId) : h('a', { href: `/console/cases/${encodeURIComponent(c.caseId)}` }, String(c.caseId))) : null;
    return [kase, c.taskId ? ` · task ${c.taskId}` : null, kase && job ? ' · job ' : null, job];
  }

  function row(c) {
    const [full, shown] = summary(c);
    const data = { position: String(c.position ?? ''), type: String(c.type ?? '') };
    if (c.caseId) data.caseId = String(c.caseId);
    if (c.jobId) data.jobId = String(c.jobId);
    return h('tr', { dataset: data },
      h('td.num', String(c.position ?? '')),
      h('td', h('span.badge', String(c.type ?? ''))),
      h('td.nowrap', subject(c)),
      h('td.num', c.version === undefined || c.version === null ? '' : String(c.version)),
      h('td', String(c.actor ?? '')),
      h('td.nowrap', when(c.at)),
      h('td.changes', { title: full !== shown ? full : null }, shown));
  }

  /** Shows what came since the last flush, newest on top, dropping rows past MAX_ROWS. */
  function flush() {
    flushTimer = null;
    const batch = pending.slice(-MAX_ROWS);
    pending = [];
    if (!batch.length) return;
    empty.remove();
    tbody.prepend(...batch.reverse().map(row));
    while (tbody.children.length > MAX_ROWS) tbody.lastElementChild.remove();
    count.textContent = total > MAX_ROWS
      ? `${total} changes received; the newest ${MAX_ROWS} are shown.`
      : `${total} ${total === 1 ? 'change' : 'changes'} received.`;
  }

  // Changes are shown in batches, so a burst (or the backlog from the oldest change)
  // costs one table update per batch, not one per change.
  function received(c) {
    total += 1;
    pending.push(c);
    if (pending.length > 2 * MAX_ROWS) pending = pending.slice(-MAX_ROWS);
    if (!flushTimer) flushTimer = setTimeout(flush, 50);
  }

  function stop() {
    generation += 1;
    if (es) es.close();
    es = null;
    clearTimeout(retryTimer);
  }

  /**
   * Opens the stream after `cursor`. The browser reconnects on its own after a broken
   * connection, sending the last position as Last-Event-ID; a refusal (an error status)
   * closes it for good, and then `diagnose` asks the feed why.
   */
  function connect() {
    const mine = generation;
    const source = new EventSource('/api/v1/changes/stream' + qs({ after: cursor ?? '', types: typeSel.value }));
    es = source;
    source.onopen = () => {
      if (mine !== generation) return;
      retries = 0;
      clear(problems);
      setState('live');
    };
    const onChange = e => {
      if (mine !== generation) return;
      let c;
      try { c = JSON.parse(e.data); } catch { return; }
      if (!c || typeof c !== 'object') return;
      cursor = e.lastEventId || (c.position === undefined || c.position === null ? cursor : String(c.position));
      received(c);
    };
    for (const t of [...TYPES, 'change', 'message']) source.addEventListener(t, onChange);
    source.onerror = () => {
      if (mine !== generation) return;
      setState('reconnecting');
      if (source.readyState === EventSource.CLOSED) diagnose(mine);
    };
  }

  /** The stream was refused: read the feed at the same place to learn why, then go on. */
  async function diagnose(mine) {
    try {
      await get('/api/v1/changes', { after: cursor ?? '', types: typeSel.value, limit: 1 });
    } catch (e) {
      if (mine !== generation || e.status === 401) return; // 401: on its way to sign-in
      if (e.status === 400 || e.status === 403 || e.status === 410) {
        setState('stopped');
        clear(problems, problemBlock(e, 'The feed cannot go on from here.'),
          h('div.actions', h('button#changes-restart.primary', { type: 'button', onclick: () => start('now') }, 'Start again from now')));
        return;
      }
    }
    if (mine !== generation) return;
    retries += 1;
    retryTimer = setTimeout(() => { if (mine === generation) connect(); }, Math.min(30000, 1000 * 2 ** Math.min(retries, 5)));
  }

  /** Starts over, empty, from `how`: 'now' or 'oldest'. */
  async function start(how) {
    stop();
    const mine = generation;
    mode = how;
    writeUrl();
    clearTimeout(flushTimer);
    flushTimer = null;
    pending = [];
    total = 0;
    clear(tbody, empty);
    clear(problems);
    count.textContent = '';
    origin.textContent = how === 'oldest' ? 'from the oldest change kept' : 'changes since you started watching';
    setState('connecting');
    cursor = null;
    if (how === 'oldest') {
      connect();
      return;
    }
    // Start at a position of our own, not at `now`: a stream the browser reopens by
    // itself before any change has come would start at a later "now" and miss some.
    let page;
    try {
      page = await get('/api/v1/changes', { after: 'now', limit: 100, types: typeSel.value });
    } catch (e) {
      if (mine !== generation || e.status === 401) return;
      setState('stopped');
      clear(problems, problemBlock(e, 'The change feed could not be read.'),
        h('div.actions', h('button#changes-restart.primary', { type: 'button', onclick: () => start('now') }, 'Try again')));
      return;
    }
    if (mine !== generation) return;
    for (const c of page.items) received(c);
    cursor = page.nextAfter;
    connect();
  }

  typeSel.addEventListener('change', () => start(mode));
  fromOldest.addEventListener('click', () => start('oldest'));
  fromNow.addEventListener('click', () => start('now'));
  pause.addEventListener('click', () => {
    if (state.dataset.state === 'paused') {
      // Resumes right after the last change received: nothing is missed. (Paused before
      // the start position was known, it starts again from now.)
      if (mode === 'now' && cursor === null) { start('now'); return; }
      setState('connecting');
      connect();
    } else {
      stop();
      setState('paused');
    }
  });
  await start(mode);
}
