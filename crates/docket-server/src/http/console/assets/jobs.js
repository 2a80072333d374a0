// Jobs: the running and past bulk jobs with their progress, and one job's page (live
// progress, outcomes, cancel, retry failed, revert, forget).

import { api, get } from './api.js';
import { h, clear, field, select, when, problemBlock, scroller, toast, keepFocus } from './dom.js';
import { watchJob } from './bulk.js';

const STATES = [['', 'Any state'], 'queued', 'running', 'completed', 'failed', 'cancelled'];
const RUNNING = s => s === 'queued' || s === 'running';

export async function jobsPage(main, ctx) {
  document.title = 'Jobs · docket';
  const params = new URLSearchParams(location.search);
  const stateSel = select('jobs-status', STATES, params.get('status') || '');
  const tbody = h('tbody');
  const more = h('button#jobs-more', { type: 'button' }, 'Older jobs');
  const problems = h('div');
  let cursor = '';
  let timer = null;
  clear(main, h('h1', 'Jobs'),
    h('div.row', field('State', stateSel)),
    problems,
    scroller(h('table#job-table', h('caption', 'Bulk jobs, newest first'),
      // The last column holds the Cancel buttons: its header needs a name too (for
      // screen readers; it is plain from the buttons for everyone else).
      h('thead', h('tr', ['Job', 'State', 'Outcome', 'Progress', 'Items', 'Failed', 'Created', 'Took'].map(t => h('th', { scope: 'col' }, t)),
        h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
      tbody)),
    more);

  function row(j) {
    const pct = j.total ? Math.floor((j.processed / j.total) * 100) : 0;
    const cancel = ctx.can.write && RUNNING(j.status)
      ? h('button.danger', { type: 'button', id: `cancel-${j.jobId}`, 'aria-label': `Cancel ${j.jobId}`, onclick: async () => {
        try { await api('POST', `/api/v1/jobs/${j.jobId}/cancel`); toast(`Cancelling ${j.jobId}.`); refresh(); } catch (e) { clear(problems, problemBlock(e, 'The job could not be cancelled.')); }
      } }, 'Cancel')
      : null;
    return h('tr', { dataset: { jobId: j.jobId } },
      h('td', h('a', { href: `/console/jobs/${j.jobId}` }, j.jobId)),
      h('td', h('span.badge', j.status)), h('td', j.outcome || ''),
      h('td', h('progress', { max: 100, value: j.status === 'completed' ? 100 : pct, 'aria-label': `${j.jobId} progress` }), ` ${j.status === 'completed' ? 100 : pct}%`),
      h('td.num', `${j.processed} / ${j.total}`), h('td.num', j.failed),
      h('td', when(j.createdAt)), h('td.num', j.durationMs != null ? `${j.durationMs} ms` : ''), h('td', cancel));
  }

  async function load(reset) {
    if (reset) { cursor = ''; }
    let page;
    try {
      page = await get('/api/v1/jobs', { status: stateSel.value, limit: 50, cursor });
    } catch (e) {
      clear(problems, problemBlock(e, 'The jobs could not be listed.'));
      return;
    }
    keepFocus(() => {
      if (reset) tbody.replaceChildren();
      for (const j of page.items) tbody.append(row(j));
      if (!tbody.children.length) tbody.append(h('tr', h('td', { colSpan: 9 }, 'No jobs.')));
    });
    cursor = page.nextCursor || '';
    more.hidden = !cursor;
    // While some job shown is running, keep the first page current.
    clearTimeout(timer);
    // (Only while the first page alone is shown: a refresh would drop the older pages.)
    if (!showingOlder && page.items.some(j => RUNNING(j.status))) timer = setTimeout(refresh, 1500);
  }
  let showingOlder = false;
  const refresh = () => load(true);
  stateSel.addEventListener('change', () => { showingOlder = false; refresh(); });
  more.addEventListener('click', () => { showingOlder = true; load(false); });
  await load(true);
}

export async function jobPage(main, ctx, jobId) {
  document.title = `${jobId} · docket`;
  const job = await get(`/api/v1/jobs/${encodeURIComponent(jobId)}/status`);
  const box = h('div');
  const link = id => h('a', { href: `/console/jobs/${id}` }, id);
  const facts = h('dl.facts',
    h('dt', 'Type'), h('dd#job-type', job.type), h('dt', 'Created'), h('dd', when(job.createdAt)),
    h('dt', 'Items'), h('dd', job.total),
    job.dryRun ? [h('dt', 'Dry run'), h('dd#job-dry-run', 'yes: no case was changed')] : null,
    job.parentJobId ? [h('dt', 'Retry of'), h('dd', link(job.parentJobId))] : null,
    job.revertOf ? [h('dt', 'Reverts'), h('dd#job-reverts', link(job.revertOf))] : null);
  const forget = ctx.can.write && !RUNNING(job.status)
    ? h('button#job-delete.danger', { type: 'button' }, 'Forget this job')
    : null;
  // A finished job that changed cases can be undone (not a dry run, not a deletion).
  const revert = ctx.can.write && !RUNNING(job.status) && !job.dryRun && job.type !== 'bulk-delete'
    ? h('button#job-revert', { type: 'button' }, 'Revert this job…')
    : null;
  const problems = h('div');
  clear(main, h('p', h('a', { href: '/console/jobs' }, '← All jobs')), h('h1', `Job ${jobId}`), facts, box, problems,
    h('div.actions', revert, forget));
  if (revert) {
    revert.addEventListener('click', async () => {
      const ok = await confirmRevert(jobId);
      if (!ok) { revert.focus(); return; }
      revert.disabled = true;
      try {
        const { data } = await api('POST', `/api/v1/jobs/${encodeURIComponent(jobId)}/revert`);
        location.assign(`/console/jobs/${data.jobId}`);
      } catch (e) {
        revert.disabled = false;
        clear(problems, problemBlock(e, 'The job could not be reverted.'));
      }
    });
  }
  if (forget) {
    forget.addEventListener('click', async () => {
      if (!confirm(`Forget ${jobId} and its results?`)) return;
      try { await api('DELETE', `/api/v1/jobs/${encodeURIComponent(jobId)}`); location.assign('/console/jobs'); } catch (e) { clear(problems, problemBlock(e, 'The job could not be forgotten.')); }
    });
  }
  watchJob(box, ctx, jobId);
}

/**
 * Asks whether to revert `jobId`: what a revert does, and what it cannot undo. Resolves
 * true on confirm. Keyboard: Tab, Enter, Escape.
 */
function confirmRevert(jobId) {
  return new Promise(resolve => {
    const yes = h('button#revert-confirm-apply.primary', { type: 'button' }, 'Revert');
    const no = h('button#revert-confirm-cancel', { type: 'button' }, 'Cancel');
    const dlg = h('dialog#revert-confirm', { 'aria-labelledby': 'revert-confirm-title', 'aria-describedby': 'revert-confirm-text' },
      h('h2#revert-confirm-title', `Revert ${jobId}?`),
      h('p#revert-confirm-text', 'A new job sets every field this job changed back to its value before it, on each case it changed. '
        + 'A case changed since then is left as it is (it fails with version_conflict); tasks the job closed stay closed.'),
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
