// The bulk change: choose a field and a value, apply it to the selection or to every case
// the filter matches, preview it (a dry run: how many would change, how many would fail
// and why), confirm the count, then watch the job: a live progress bar fed by the job's
// event stream, the per-case outcomes, and "retry failed". A change of every case the
// filter matches is one job by filter: the server picks the cases, no id is collected
// here.

import { api, get } from './api.js';
import { h, clear, field, select, problemBlock, randomHex, scroller, toast } from './dom.js';

const PRIORITIES = ['Low', 'Medium', 'High', 'Critical'];
const FIELDS = { status: 'Status', priority: 'Priority', assignee: 'Assignee', tagsAdd: 'Add tag', tagsRemove: 'Remove tag', note: 'Add a note' };
/** Failed results read to count a preview's reasons. */
const REASON_SAMPLE = 5000;

/** The change one case gets: `f` set to `value` (a tag operator takes a list; a note is
 * an internal note added with the change, kept as typed). */
function change(f, value) {
  if (f === 'note') return { comment: { body: value, visibility: 'internal' } };
  return f === 'tagsAdd' || f === 'tagsRemove' ? { [f]: [value] } : { [f]: value };
}

/** The list filter as a bulk update's `filter` (only the filters given). */
function bulkFilter(f) {
  const out = {};
  for (const k of ['status', 'assignee', 'tag', 'q']) if (f[k]) out[k] = f[k];
  return out;
}

export function bulkPanel(ctx, { selection, filter, onDone }) {
  const statuses = ctx.workflow ? ctx.workflow.statuses : [];
  const target = name => h('input', { type: 'radio', name: 'bulk-target', id: `bulk-target-${name}`, value: name, checked: name === 'selected' });
  const selectedLabel = h('label', { for: 'bulk-target-selected' }, 'The selected cases');
  const fieldSel = select('bulk-field', Object.entries(FIELDS), 'status');
  const valueBox = h('div.field');
  const review = h('button#bulk-review.primary', { type: 'button' }, 'Review change…');
  const previewButton = h('button#bulk-preview', { type: 'button' }, 'Preview');
  const previewOut = h('div#bulk-preview-result', { 'aria-live': 'polite' });
  const out = h('div#bulk-job');
  let stopWatching = null; // ends the stream of the job shown, before another replaces it
  const problems = h('div');

  function valueControl() {
    const f = fieldSel.value;
    const choose = [['', 'Choose…']];
    const control = f === 'status' ? select('bulk-value', [...choose, ...statuses], '')
      : f === 'priority' ? select('bulk-value', [...choose, ...PRIORITIES], '')
      : f === 'assignee' ? h('input#bulk-value', { placeholder: 'name, or empty to unassign', size: 18 })
      : f === 'note' ? h('textarea#bulk-value', { rows: 3, cols: 30, placeholder: 'an internal note on each case' })
      : h('input#bulk-value', { placeholder: 'tag', size: 18 });
    clear(valueBox, h('label', { for: 'bulk-value' }, 'New value'), control);
  }
  fieldSel.addEventListener('change', valueControl);
  valueControl();

  const showSelected = () => { selectedLabel.textContent = selection.size === 1 ? 'The 1 selected case' : `The ${selection.size} selected cases`; };
  selection.onChange(showSelected);
  showSelected();

  /** The chosen field and value, or null (with the problem shown) when incomplete. */
  function chosen() {
    clear(problems);
    const f = fieldSel.value;
    const raw = document.getElementById('bulk-value').value;
    // A note is kept as typed (a blank one is refused below).
    const value = f === 'assignee' ? (raw.trim() || null) : f === 'note' ? (raw.trim() ? raw : '') : raw.trim();
    if (f !== 'assignee' && !value) {
      clear(problems, h('div.alert', { role: 'alert' }, f === 'note' ? 'Write the note first.' : `Choose the ${FIELDS[f].toLowerCase()} first.`));
      document.getElementById('bulk-value').focus();
      return null;
    }
    return { f, value };
  }

  /** The body of the change for the chosen target, without options. */
  function body(f, value) {
    if (document.getElementById('bulk-target-filter').checked) {
      return { filter: bulkFilter(filter()), set: change(f, value) };
    }
    return { updates: [...selection.ids].map(caseId => ({ caseId, ...change(f, value) })) };
  }

  previewButton.addEventListener('click', async () => {
    const c = chosen();
    if (!c) return;
    const b = body(c.f, c.value);
    if (b.updates && b.updates.length === 0) {
      clear(problems, h('div.alert', { role: 'alert' }, 'No case is selected: tick some cases first.'));
      return;
    }
    previewButton.disabled = true;
    clear(previewOut, h('p', 'Previewing…'));
    try {
      const p = await preview(b, ctx);
      clear(previewOut, h('p#bulk-preview-text.notice', previewText(p)));
    } catch (e) {
      clear(previewOut, problemBlock(e, 'The preview could not run.'));
    } finally {
      previewButton.disabled = false;
    }
  });

  review.addEventListener('click', async () => {
    const c = chosen();
    if (!c) return;
    const { f, value } = c;
    const byFilter = document.getElementById('bulk-target-filter').checked;
    const wait = !ctx.can.readJobs;
    if (byFilter) {
      // The server picks the cases; a dry run first says how many, and how many would fail.
      let p;
      try {
        p = await preview(body(f, value), ctx);
      } catch (e) {
        clear(problems, problemBlock(e, 'The matching cases could not be counted.'));
        return;
      }
      if (p.total === 0) {
        clear(problems, h('div.alert', { role: 'alert' }, 'No case matches the filter.'));
        return;
      }
      const warning = p.failed > 0 ? `${p.failed} of them would fail: ${reasonsText(p.reasons)}.` : null;
      const ok = await confirmDialog(FIELDS[f].toLowerCase(), value, p.total, 1, warning);
      if (!ok) { review.focus(); return; }
      review.disabled = true;
      if (stopWatching) stopWatching();
      try {
        const { data } = await api('POST', '/api/v1/cases/bulk-update', {
          body: { ...body(f, value), options: { returnJobId: true, waitForCompletion: wait, expectedCount: p.total } },
          headers: { 'Idempotency-Key': randomHex() },
        });
        follow(data, wait, false);
      } catch (e) {
        review.disabled = false;
        const msg = e.code === 'count_mismatch'
          ? 'The cases matching the filter changed since the count: review the change again.'
          : 'The bulk change was not accepted.';
        clear(problems, problemBlock(e, msg));
      }
      return;
    }
    const ids = [...selection.ids];
    if (ids.length === 0) {
      clear(problems, h('div.alert', { role: 'alert' }, 'No case is selected: tick some cases first.'));
      return;
    }
    // More cases than one request may carry run as several jobs, one after another.
    const batches = chunks(ids, ctx.identity.limits.maxItemsPerRequest);
    // Cases whose status the workflow does not let move to the new one will fail; say
    // how many before the user confirms (a case whose status is unknown is not counted).
    const forbidden = f === 'status' && ctx.workflow
      ? ids.filter(id => { const from = selection.status(id); return from && !allowed(ctx.workflow, from, value); }).length
      : 0;
    const ok = await confirmDialog(FIELDS[f].toLowerCase(), value, ids.length, batches.length, forbidden > 0 ? forbiddenText(forbidden, ids.length, value) : null);
    if (!ok) { review.focus(); return; }
    // A key that may not read jobs cannot follow one: it waits for the end in the request.
    review.disabled = true;
    if (stopWatching) stopWatching();
    if (batches.length > 1) {
      await runBatches(out, ctx, batches, f, value, wait);
      review.disabled = false;
      onDone({ failedIds: [] });
      return;
    }
    try {
      follow(await submit(ids, f, value, wait, randomHex()), wait, true);
    } catch (e) {
      review.disabled = false;
      clear(problems, problemBlock(e, 'The bulk change was not accepted.'));
    }
  });

  /** Follows a submitted job (or reports the one waited for). */
  function follow(data, wait, keepFailedSelected) {
    if (wait) {
      review.disabled = false;
      clear(out, h('p.notice', { role: 'status' }, `Job ${data.jobId} ${data.status}: ${data.succeeded ?? '?'} succeeded, ${data.failed ?? '?'} failed.`));
      onDone({ ...data, failedIds: [] });
      return;
    }
    stopWatching = watchJob(out, ctx, data.jobId, status => {
      review.disabled = false;
      const failed = new Set(status.failedIds || []);
      if (keepFailedSelected) selection.replace([...selection.ids].filter(id => failed.has(id)));
      onDone(status);
    });
    document.getElementById('job-heading').focus();
  }

  return h('section', { 'aria-labelledby': 'bulk-heading' },
    h('fieldset.bulk-form',
      h('legend#bulk-heading', 'Bulk change'),
      h('div.bulk',
        h('div.field', h('span', { id: 'bulk-target-label' }, 'Apply to'),
          h('div.radios', { role: 'radiogroup', 'aria-labelledby': 'bulk-target-label' },
            h('span', target('selected'), ' ', selectedLabel),
            h('span', target('filter'), ' ', h('label', { for: 'bulk-target-filter' }, 'Every case matching the filter')))),
        field('Change', fieldSel),
        valueBox,
        previewButton,
        review)),
    problems, previewOut, out);
}

/** Whether the workflow lets a case move from `from` to `to` (staying put always may). */
function allowed(workflow, from, to) {
  return from === to || (workflow.transitions[from] || []).includes(to);
}

/**
 * Runs `body` as a dry run and waits for it: `{total, succeeded, failed, reasons}`, the
 * reasons counted over the first failed results (a Map from code to count).
 */
async function preview(body, ctx) {
  let { data: job } = await api('POST', '/api/v1/cases/bulk-update', {
    body: { ...body, options: { dryRun: true, returnJobId: true, waitForCompletion: true, timeoutSeconds: 20 } },
  });
  while (!['completed', 'failed', 'cancelled'].includes(job.status)) {
    // Following a job needs jobs:read; without it the request's own wait is all there is.
    if (!ctx.can.readJobs) throw new Error('the preview is still running, and this key may not read jobs to follow it');
    job = await get(`/api/v1/jobs/${encodeURIComponent(job.jobId)}/status`, { waitSeconds: 20 });
  }
  const reasons = new Map();
  let cursor = '', read = 0;
  // A key that may not read jobs sees the counts only.
  while (job.failed > 0 && read < REASON_SAMPLE && ctx.can.readJobs) {
    const page = await get(`/api/v1/jobs/${encodeURIComponent(job.jobId)}/results`, { outcome: 'failed', limit: Math.min(1000, ctx.identity.limits.maxPageSize), cursor });
    for (const r of page.items) reasons.set(r.error.code, (reasons.get(r.error.code) || 0) + 1);
    read += page.items.length;
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return { total: job.total, succeeded: job.succeeded, failed: job.failed, reasons };
}

/** "invalid_transition: 3, precondition_failed: 1" */
function reasonsText(reasons) {
  return [...reasons].map(([code, n]) => `${code}: ${n}`).join(', ');
}

/** A preview in words: "N cases: n would change, m would fail (by reason)". */
function previewText(p) {
  const cases = p.total === 1 ? '1 case' : `${p.total} cases`;
  const why = p.failed > 0 ? ` (${reasonsText(p.reasons)})` : '';
  return `${cases}: ${p.succeeded} would change, ${p.failed} would fail${why}. Nothing was changed.`;
}

/** The warning of a status change the workflow forbids for `forbidden` of `n` cases. */
function forbiddenText(forbidden, n, value) {
  const cases = k => `${k} ${k === 1 ? 'case' : 'cases'}`;
  return `The workflow does not allow ${forbidden} of the ${cases(n)} to move to “${value}” from the status ${forbidden === 1 ? 'it is' : 'they are'} in: `
    + `${forbidden === 1 ? 'that case' : 'those cases'} will fail with invalid_transition and keep ${forbidden === 1 ? 'its' : 'their'} status.`;
}

/**
 * Submits one bulk job setting `f` to `value` on `ids`; with `wait`, the answer is the
 * job's end (the request waits for it). The idempotency key makes a resent submit
 * return the same job instead of a second one.
 */
async function submit(ids, f, value, wait, idempotencyKey) {
  const { data } = await api('POST', '/api/v1/cases/bulk-update', {
    body: { updates: ids.map(caseId => ({ caseId, ...change(f, value) })), options: { returnJobId: true, waitForCompletion: wait } },
    headers: { 'Idempotency-Key': idempotencyKey },
  });
  return data;
}

function chunks(ids, size) {
  const out = [];
  for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
  return out;
}

/**
 * Runs one job per batch, one after another, each followed like a single job, with an
 * overall progress bar and a row per finished job (its page has the outcomes and "retry
 * failed"). Stops at the first batch the server refuses; the jobs before it have run.
 */
async function runBatches(out, ctx, batches, f, value, wait) {
  const total = batches.reduce((n, b) => n + b.length, 0);
  const bar = h('progress#batch-progress', { max: total, value: 0, 'aria-labelledby': 'batch-label' });
  const text = h('p#batch-text', `0 of ${total} processed`);
  const announce = h('p#batch-announce.visually-hidden', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const current = h('div#batch-current');
  const heading = h('h2#batch-heading', { tabindex: '-1' }, `Bulk change of ${total} cases in ${batches.length} jobs`);
  clear(out, h('section.panel', { 'aria-labelledby': 'batch-heading' }, heading,
    h('div.progress', h('span#batch-label', 'Overall progress'), bar, text), announce,
    scroller(h('table#batch-table', h('caption', 'Jobs of this change'),
      h('thead', h('tr', ['Job', 'State', 'Items', 'Succeeded', 'Failed'].map(t => h('th', { scope: 'col' }, t)))), tbody)),
    current));
  heading.focus();
  const key = randomHex();
  let done = 0, succeeded = 0, failed = 0;
  for (let i = 0; i < batches.length; i++) {
    const where = `job ${i + 1} of ${batches.length}`;
    let end;
    try {
      const data = await submit(batches[i], f, value, wait, `${key}-${i}`);
      end = wait ? data : await new Promise(resolve => watchJob(current, ctx, data.jobId, resolve, s => {
        bar.value = done + s.processed;
        text.textContent = `${done + s.processed} of ${total} processed · ${where}`;
      }));
    } catch (e) {
      current.prepend(problemBlock(e, `The ${where} was not accepted; the jobs before it ran.`));
      break;
    }
    done += end.total || 0;
    succeeded += end.succeeded || 0;
    failed += end.failed || 0;
    bar.value = done;
    text.textContent = `${done} of ${total} processed · ${succeeded} succeeded · ${failed} failed`;
    tbody.append(h('tr', { dataset: { jobId: end.jobId } },
      h('td', h('a', { href: `/console/jobs/${end.jobId}` }, end.jobId)), h('td', h('span.badge', end.status)),
      h('td.num', end.total), h('td.num', end.succeeded), h('td.num', end.failed)));
  }
  const summary = `${tbody.children.length} of ${batches.length} jobs ended: ${succeeded} succeeded, ${failed} failed.`;
  text.textContent = `${done} of ${total} processed. ${summary}`;
  announce.textContent = summary;
  toast(summary);
}

/**
 * Asks "set X to Y on N cases?", with `warningText` first when some would fail;
 * resolves true on confirm. Keyboard: Tab, Enter, Escape.
 */
function confirmDialog(what, value, n, jobs, warningText = null) {
  return new Promise(resolve => {
    const shown = value === null ? 'nobody' : `“${value}”`;
    const cases = k => `${k} ${k === 1 ? 'case' : 'cases'}`;
    const yes = h('button#bulk-confirm-apply.primary', { type: 'button' }, `Apply to ${cases(n)}`);
    const no = h('button#bulk-confirm-cancel', { type: 'button' }, 'Cancel');
    const warning = warningText ? h('p#bulk-confirm-forbidden.alert', warningText) : null;
    const dlg = h('dialog#bulk-confirm', { 'aria-labelledby': 'bulk-confirm-title', 'aria-describedby': warning ? 'bulk-confirm-text bulk-confirm-forbidden' : 'bulk-confirm-text' },
      h('h2#bulk-confirm-title', 'Confirm bulk change'),
      what === 'add a note'
        ? h('p#bulk-confirm-text', `Add the internal note ${shown} to `, h('strong#bulk-confirm-count', String(n)), ` ${n === 1 ? 'case' : 'cases'}?`)
        : h('p#bulk-confirm-text', `Set ${what} to ${shown} on `, h('strong#bulk-confirm-count', String(n)), ` ${n === 1 ? 'case' : 'cases'}?`),
      warning,
      jobs > 1 ? h('p#bulk-confirm-jobs', `That is more than one request may carry, so it runs as ${jobs} jobs, one after another.`) : null,
      h('div.actions', yes, no));
    document.body.append(dlg);
    const done = v => { dlg.close(); dlg.remove(); resolve(v); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', e => { e.preventDefault(); done(false); });
    dlg.showModal();
    yes.focus();
  });
}

/**
 * Shows a job in `box`: live progress from GET /api/v1/jobs/{id}/events (falling back to
 * long-polling the status if the stream breaks), then its outcomes. Calls onDone(status)
 * once the job ends; `completed` means every read is fresh, so callers reload then.
 */
export function watchJob(box, ctx, jobId, onDone = () => {}, onProgress = () => {}) {
  const bar = h('progress#job-progress', { max: 100, value: 0, 'aria-labelledby': 'job-progress-label' });
  const label = h('span#job-progress-label', 'Job progress');
  const text = h('p#job-progress-text', 'Queued…');
  // Announced at each quarter and at the end only: every progress event would be too chatty.
  const announce = h('p#job-announce.visually-hidden', { 'aria-live': 'polite' });
  let announced = -1;
  const cancel = ctx.can.write ? h('button#job-cancel.danger', { type: 'button' }, 'Cancel job') : null;
  const outcomes = h('div#job-outcomes');
  const state = h('span#job-state.badge', 'queued');
  clear(box, h('section.panel', { 'aria-labelledby': 'job-heading' },
    h('h2#job-heading', { tabindex: '-1' }, 'Job ', h('a', { href: `/console/jobs/${jobId}` }, jobId), ' ', state),
    h('div.progress', label, bar, text, cancel),
    announce,
    outcomes));
  let finished = false;

  function show(s) {
    onProgress(s);
    const pct = s.total ? Math.floor((s.processed / s.total) * 100) : 0;
    bar.value = s.status === 'completed' ? 100 : pct;
    state.textContent = s.status;
    const counts = `${s.processed} of ${s.total} processed (${s.status === 'completed' ? 100 : pct}%) · ${s.succeeded} succeeded · ${s.failed} failed`;
    text.textContent = s.status === 'queued' && s.queuePosition != null ? `Queued, position ${s.queuePosition}. ${counts}` : counts;
    const quarter = Math.floor(pct / 25);
    if (quarter > announced && quarter < 4) { announced = quarter; announce.textContent = `${pct}% processed`; }
  }

  async function end(s) {
    if (finished) return;
    finished = true;
    show(s);
    if (cancel) cancel.remove();
    const summary = s.status === 'completed'
      ? `Completed: ${s.succeeded} succeeded, ${s.failed} failed.`
      : `Job ${s.status}: ${s.succeeded} succeeded, ${s.failed} failed.`;
    text.textContent = `${s.processed} of ${s.total} processed (100%). ${summary}`;
    announce.textContent = summary;
    toast(summary);
    let failedIds = [];
    failedIds = await outcomeTable(outcomes, ctx, s, newId => {
      watchJob(box, ctx, newId, onDone);
      document.getElementById('job-heading').focus();
    });
    onDone({ ...s, failedIds });
  }

  if (cancel) {
    cancel.addEventListener('click', async () => {
      try { await api('POST', `/api/v1/jobs/${jobId}/cancel`); } catch (e) { outcomes.prepend(problemBlock(e, 'The job could not be cancelled.')); }
    });
  }

  const stop = () => { finished = true; es.close(); };
  const es = new EventSource(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`);
  es.addEventListener('progress', e => show(JSON.parse(e.data)));
  for (const name of ['completed', 'failed', 'cancelled']) {
    es.addEventListener(name, e => { es.close(); end(JSON.parse(e.data)); });
  }
  es.onerror = () => {
    if (finished) return;
    es.close();
    poll();
  };
  return stop;

  async function poll() {
    while (!finished) {
      try {
        const s = await get(`/api/v1/jobs/${encodeURIComponent(jobId)}/status`, { waitSeconds: 10 });
        if (['completed', 'failed', 'cancelled'].includes(s.status)) return end(s);
        show(s);
      } catch (e) {
        if (e.status === 404 || e.status === 403) { text.textContent = `The job cannot be followed: ${e.message}`; return; }
        text.textContent = `Lost touch with the job (${e.message}); retrying…`;
        await new Promise(r => setTimeout(r, 2000));
      }
    }
  }
}

/**
 * The per-case outcomes of a finished job, a page at a time, failed ones first when there
 * are any; "Retry failed" starts a new job with them. Resolves to the failed case ids
 * (at most one page's worth).
 */
export async function outcomeTable(box, ctx, status, onRetry) {
  const only = h('select#outcome-filter', {},
    h('option', { value: 'failed', selected: status.failed > 0 }, 'Failed'),
    h('option', { value: '', selected: status.failed === 0 }, 'All'),
    h('option', { value: 'succeeded' }, 'Succeeded'),
    h('option', { value: 'cancelled' }, 'Cancelled'));
  const tbody = h('tbody');
  const more = h('button#outcomes-more', { type: 'button' }, 'Show more');
  const retry = ctx.can.write && status.failed > 0
    ? h('button#retry-failed.primary', { type: 'button' }, `Retry ${status.failed} failed`)
    : null;
  const problems = h('div');
  clear(box,
    h('h3', 'Outcomes'),
    h('div.row', h('div.field', h('label', { for: 'outcome-filter' }, 'Show'), only), retry),
    problems,
    scroller(h('table#outcome-table', h('caption', 'Per-case outcomes'),
      h('thead', h('tr', ['#', 'Case', 'Outcome', 'Reason', 'Detail', 'Version'].map(t => h('th', { scope: 'col' }, t)))),
      tbody)),
    more);
  let cursor = '';
  const failedIds = [];
  async function page(reset) {
    if (reset) { cursor = ''; tbody.replaceChildren(); }
    let res;
    try {
      res = await get(`/api/v1/jobs/${encodeURIComponent(status.jobId)}/results`, { outcome: only.value, limit: 100, cursor });
    } catch (e) {
      clear(problems, problemBlock(e, 'The outcomes could not be read.'));
      return;
    }
    for (const r of res.items) {
      if (r.outcome === 'failed') failedIds.push(r.caseId);
      tbody.append(h('tr', { dataset: { caseId: r.caseId, outcome: r.outcome } },
        h('td.num', r.index), h('td', h('a', { href: `/console/cases/${encodeURIComponent(r.caseId)}` }, r.caseId)),
        h('td', h(`span.outcome-${r.outcome}`, r.outcome)),
        h('td', r.error ? r.error.code : ''), h('td', r.error ? r.error.detail : ''),
        h('td.num', r.version ?? '')));
    }
    if (!tbody.children.length) tbody.append(h('tr', h('td', { colSpan: 6 }, 'None.')));
    cursor = res.nextCursor || '';
    more.hidden = !res.nextCursor;
  }
  only.addEventListener('change', () => page(true));
  more.addEventListener('click', () => page(false));
  if (retry) {
    retry.addEventListener('click', async () => {
      retry.disabled = true;
      try {
        const { data } = await api('POST', `/api/v1/jobs/${encodeURIComponent(status.jobId)}/retry-failed`);
        onRetry(data.jobId);
      } catch (e) {
        retry.disabled = false;
        clear(problems, problemBlock(e, 'The failed cases could not be retried.'));
      }
    });
  }
  await page(true);
  return failedIds;
}
