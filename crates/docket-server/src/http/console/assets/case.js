// One case: its fields, tasks, comments and history, and a synchronous edit sent with If-Match, so
// an edit made against an old version is refused (412) and shown as a conflict to settle
// instead of silently overwriting someone else's change. Deleting is confirmed first and
// sent with If-Match too: a case changed since it was shown is not deleted unseen.

import { api, get } from './api.js';
import { h, clear, field, select, when, problemBlock, scroller, toast, toastNext } from './dom.js';
import { Selection } from './cases.js';
import { commentThread } from './comments.js';

const PRIORITIES = ['Low', 'Medium', 'High', 'Critical'];
const EDITABLE = ['title', 'status', 'statusReason', 'priority', 'assignee', 'tags'];
/** What a delete conflict compares: the fields the page shows. */
const SHOWN = ['title', 'description', 'status', 'statusReason', 'priority', 'assignee', 'tags', 'fields', 'openTasks', 'commentCount'];

function show(v) {
  if (Array.isArray(v)) return v.join(', ');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return v === null || v === undefined || v === '' ? '—' : String(v);
}

/**
 * Asks "really delete?" in a modal dialog; resolves true on Delete. The focus starts on
 * Cancel, so a second Enter does not delete; Escape cancels.
 */
function confirmDelete(kase) {
  return new Promise(resolve => {
    const yes = h('button#case-delete-apply.danger', { type: 'button' }, `Delete ${kase.caseId}`);
    const no = h('button#case-delete-cancel', { type: 'button' }, 'Cancel');
    const dlg = h('dialog#case-delete-confirm', { 'aria-labelledby': 'case-delete-title', 'aria-describedby': 'case-delete-text' },
      h('h2#case-delete-title', `Delete ${kase.caseId}?`),
      h('p#case-delete-text', `Really delete ${kase.caseId} (“${kase.title}”, version ${kase.version}) with its tasks, comments and history? This cannot be undone.`),
      h('div.actions', yes, no));
    document.body.append(dlg);
    const done = v => { dlg.close(); dlg.remove(); resolve(v); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', e => { e.preventDefault(); done(false); });
    dlg.showModal();
    no.focus();
  });
}

export async function casePage(main, ctx, caseId) {
  const path = `/api/v1/cases/${encodeURIComponent(caseId)}`;
  let kase = await get(path);
  document.title = `${kase.caseId} · docket`;
  const facts = h('dl#case-facts.facts');
  const editBox = h('section', { 'aria-labelledby': 'edit-heading' });
  const tasks = h('section', { 'aria-labelledby': 'tasks-heading' });
  const comments = h('section#comments', { 'aria-labelledby': 'comments-heading' });
  const history = h('section', { 'aria-labelledby': 'history-heading' });
  const deleteBox = h('section', { 'aria-labelledby': 'delete-heading' });
  const heading = h('h1');
  clear(main, h('p', h('a', { href: '/console/cases' }, '← All cases')), heading,
    h('div.cols', h('div', facts, editBox, deleteBox), h('div', tasks, comments, history)));

  function renderFacts() {
    heading.textContent = `${kase.caseId}: ${kase.title}`;
    const rows = [['Status', kase.status], ['Status reason', kase.statusReason], ['Priority', kase.priority],
      ['Assignee', kase.assignee], ['Tags', kase.tags], ['Open tasks', kase.openTasks], ['Comments', kase.commentCount], ['Version', kase.version],
      ['Created', when(kase.createdAt)], ['Updated', when(kase.updatedAt)], ['Description', kase.description]];
    for (const [k, v] of Object.entries(kase.fields || {})) rows.push([k, typeof v === 'object' ? JSON.stringify(v) : v]);
    clear(facts, rows.map(([k, v]) => [h('dt', k), h('dd', { dataset: { fact: k } }, show(v))]));
  }

  /** The status choices from here: the current one and the workflow's moves from it. */
  function statusChoices(current) {
    const moves = (ctx.workflow && ctx.workflow.transitions[current]) || [];
    return [current, ...moves.filter(s => s !== current)];
  }

  function renderEdit(draft, conflict) {
    if (!ctx.can.write) { clear(editBox); return; }
    const controls = {
      title: h('input#edit-title', { value: draft.title, required: true, size: 40 }),
      status: select('edit-status', statusChoices(kase.status), draft.status),
      statusReason: h('input#edit-statusReason', { value: draft.statusReason || '', size: 40 }),
      priority: select('edit-priority', PRIORITIES, draft.priority),
      assignee: h('input#edit-assignee', { value: draft.assignee || '' }),
      tags: h('input#edit-tags', { value: draft.tags.join(', '), 'aria-describedby': 'tags-help' }),
    };
    const problems = h('div');
    const form = h('form#edit-form',
      h('h2#edit-heading', 'Edit'),
      conflict,
      field('Title', controls.title), field('Status', controls.status), field('Status reason', controls.statusReason),
      field('Priority', controls.priority), field('Assignee', controls.assignee),
      field('Tags', controls.tags), h('p#tags-help.muted', 'Separate tags with commas.'),
      problems,
      h('div.actions', h('button#save-case.primary', { type: 'submit' }, 'Save'),
        h('span.muted', `Editing version ${kase.version}`)));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      const mine = read(controls);
      await save(mine, kase, problems);
    });
    clear(editBox, form);
  }

  function read(controls) {
    const v = {};
    for (const k of EDITABLE) v[k] = controls[k].value;
    v.tags = v.tags.split(',').map(t => t.trim()).filter(Boolean);
    v.assignee = v.assignee.trim() || null;
    v.statusReason = v.statusReason.trim() || null;
    return v;
  }

  /** The fields of `mine` that differ from `base`. */
  function changes(mine, base) {
    const out = {};
    for (const k of EDITABLE) {
      const a = JSON.stringify(mine[k] ?? null);
      const b = JSON.stringify(base[k] ?? null);
      if (a !== b) out[k] = mine[k];
    }
    return out;
  }

  async function save(mine, base, problems) {
    const body = changes(mine, base);
    if (Object.keys(body).length === 0) { toast('Nothing to save.'); return; }
    try {
      const { data } = await api('PATCH', path, { body, headers: { 'If-Match': `"${base.version}"` } });
      kase = data;
      renderFacts();
      renderEdit(kase, null);
      await renderHistory();
      toast(`Saved: ${kase.caseId} is now at version ${kase.version}.`);
    } catch (e) {
      if (e.status === 412) return conflicted(mine, base);
      clear(problems, problemBlock(e, 'The case was not saved.'));
    }
  }

  /** Someone changed the case since it was loaded: show theirs beside ours, let the user choose. */
  async function conflicted(mine, base) {
    const latest = await get(path);
    const ours = changes(mine, base);
    const theirs = changes(latest, base);
    const rows = Object.keys({ ...ours, ...theirs }).map(k => h('tr',
      h('th', { scope: 'row' }, k), h('td', show(base[k])), h('td', k in theirs ? show(latest[k]) : '(unchanged)'),
      h('td', k in ours ? show(mine[k]) : '(unchanged)')));
    const keepMine = h('button#conflict-apply-mine.primary', { type: 'button' }, 'Apply my changes to the latest version');
    const takeTheirs = h('button#conflict-discard', { type: 'button' }, 'Discard my changes');
    const box = h('div#conflict.alert', { role: 'alert', tabindex: '-1' },
      h('strong', `Someone else changed this case while you were editing (version ${base.version} → ${latest.version}).`),
      h('p', 'Nothing was saved. Compare the changes and choose:'),
      scroller(h('table', h('thead', h('tr', ['Field', `Was (v${base.version})`, `Theirs (v${latest.version})`, 'Yours'].map(t => h('th', { scope: 'col' }, t)))), h('tbody', rows))),
      h('div.actions', keepMine, takeTheirs));
    kase = latest;
    renderFacts();
    // The form now edits the latest version, with the user's own changes laid on top.
    renderEdit({ ...latest, ...ours }, box);
    // Saves what the form holds now (the user may have typed more since the conflict).
    keepMine.addEventListener('click', () => document.getElementById('edit-form').requestSubmit());
    takeTheirs.addEventListener('click', () => { renderEdit(latest, null); toast('Your changes were discarded.'); });
    box.focus();
    await renderHistory();
  }

  function renderDelete() {
    if (!ctx.can.write) { clear(deleteBox); return; }
    const problems = h('div');
    const button = h('button#delete-case.danger', { type: 'button' }, `Delete ${kase.caseId}…`);
    button.addEventListener('click', async () => {
      clear(problems);
      const base = kase; // the version shown, which the delete names in If-Match
      if (!await confirmDelete(base)) { button.focus(); return; }
      button.disabled = true;
      try { await remove(base, problems); } finally { button.disabled = false; }
    });
    clear(deleteBox, h('h2#delete-heading', 'Delete'),
      h('p.muted', 'Deletes the case with its tasks, comments and history, only if nobody changed it since it was shown.'),
      problems, h('div.actions', button));
  }

  async function remove(base, problems) {
    try {
      await api('DELETE', path, { headers: { 'If-Match': `"${base.version}"` } });
    } catch (e) {
      if (e.status === 412) return deleteConflicted(base, problems);
      clear(problems, problemBlock(e, 'The case was not deleted.'));
      return;
    }
    const selection = new Selection();
    if (selection.has(base.caseId)) selection.set(base.caseId, false);
    toastNext(`Deleted ${base.caseId}.`);
    location.assign('/console/cases');
  }

  /** The edits typed into the form and not saved yet (against the version it edits). */
  function unsaved() {
    if (!document.getElementById('edit-form')) return {};
    const controls = Object.fromEntries(EDITABLE.map(k => [k, document.getElementById(`edit-${k}`)]));
    return changes(read(controls), kase);
  }

  /** Someone changed the case since it was shown: nothing was deleted; show what changed. */
  async function deleteConflicted(base, problems) {
    let latest;
    try {
      latest = await get(path);
    } catch (e) {
      clear(problems, problemBlock(e, 'The case was not deleted: it changed since it was shown, and could not be read again.'));
      return;
    }
    const theirs = SHOWN.filter(k => JSON.stringify(base[k] ?? null) !== JSON.stringify(latest[k] ?? null));
    const rows = theirs.length
      ? theirs.map(k => h('tr', h('th', { scope: 'row' }, k), h('td', show(base[k])), h('td', show(latest[k]))))
      : [h('tr', h('td', { colSpan: 3 }, 'None of the fields shown here changed.'))];
    const again = h('button#delete-conflict-confirm.danger', { type: 'button' }, `Delete version ${latest.version}`);
    const keep = h('button#delete-conflict-keep', { type: 'button' }, 'Keep the case');
    const box = h('div#delete-conflict.alert', { role: 'alert', tabindex: '-1' },
      h('strong', `Someone else changed this case since it was shown (version ${base.version} → ${latest.version}).`),
      h('p', 'Nothing was deleted. What changed:'),
      scroller(h('table', h('thead', h('tr', ['Field', `Was (v${base.version})`, `Now (v${latest.version})`].map(t => h('th', { scope: 'col' }, t)))), h('tbody', rows))),
      h('div.actions', again, keep));
    // The page now shows the latest version; the edit form edits it, keeping what the
    // user typed and has not saved.
    const mine = unsaved();
    kase = latest;
    renderFacts();
    renderEdit({ ...latest, ...mine }, null);
    clear(problems, box);
    again.addEventListener('click', () => { again.disabled = true; remove(latest, problems); });
    keep.addEventListener('click', () => {
      clear(problems);
      toast(`${latest.caseId} was kept.`);
      document.getElementById('delete-case').focus();
    });
    box.focus();
    await renderHistory();
  }

  async function renderTasks() {
    const rows = h('tbody');
    const more = h('button#tasks-more', { type: 'button' }, 'More tasks');
    let cursor = '';
    async function page() {
      const res = await get(`${path}/tasks`, { limit: 100, cursor });
      for (const t of res.items) rows.append(h('tr', h('td', t.taskId), h('td', t.title), h('td', t.status), h('td', t.assignee || '')));
      if (!rows.children.length) rows.append(h('tr', h('td', { colSpan: 4 }, 'No tasks.')));
      cursor = res.nextCursor || '';
      more.hidden = !cursor;
    }
    more.addEventListener('click', page);
    clear(tasks, h('h2#tasks-heading', 'Tasks'),
      scroller(h('table#task-table', h('thead', h('tr', ['Task', 'Title', 'Status', 'Assignee'].map(t => h('th', { scope: 'col' }, t)))), rows)), more);
    await page();
  }

  async function renderHistory() {
    const rows = h('tbody');
    const more = h('button#history-more', { type: 'button' }, 'Older changes');
    let cursor = '';
    async function page() {
      const res = await get(`${path}/history`, { limit: 50, cursor });
      for (const e of res.items) {
        rows.append(h('tr', h('td', when(e.at)), h('td', e.actor), h('td', e.field), h('td', show(e.from)), h('td', show(e.to)),
          h('td', e.jobId ? h('a', { href: `/console/jobs/${e.jobId}` }, e.jobId) : '')));
      }
      if (!rows.children.length) rows.append(h('tr', h('td', { colSpan: 6 }, 'No changes yet.')));
      cursor = res.nextCursor || '';
      more.hidden = !cursor;
    }
    more.addEventListener('click', page);
    clear(history, h('h2#history-heading', 'History'),
      scroller(h('table#history-table', h('thead', h('tr', ['When', 'Who', 'Field', 'From', 'To', 'Job'].map(t => h('th', { scope: 'col' }, t)))), rows)), more);
    await page();
  }

  /** A comment was written or deleted: the case's count and version moved. The edit
   * form now edits the new version, keeping what the user typed and has not saved. */
  async function commentsChanged() {
    const mine = unsaved();
    kase = await get(path);
    renderFacts();
    renderEdit({ ...kase, ...mine }, null);
  }

  renderFacts();
  renderEdit(kase, null);
  renderDelete();
  await Promise.all([renderTasks(), commentThread(comments, ctx, path, commentsChanged), renderHistory()]);
}
