// A case's thread of comments and internal notes, oldest first with the newest at the
// bottom. A body is always shown as text (never as markup). Edits and deletions are
// sent with If-Match, as the case edit is: one made against an old version of the
// comment is refused (412) and shown as a conflict to settle, never applied unseen.

import { api, get } from './api.js';
import { h, clear, field, select, when, problemBlock, toast } from './dom.js';

const VISIBILITY = { internal: 'Internal note', public: 'Public comment' };

/**
 * Renders the thread into `box`. `caseChanged` is called after a comment is written or
 * deleted (the case's commentCount, so its version, moved).
 */
export async function commentThread(box, ctx, path, caseChanged) {
  const list = h('ol#comment-list.thread');
  const more = h('button#comments-more', { type: 'button' }, 'More comments');
  const count = h('span#comment-count');
  let cursor = '';
  let shown = 0;

  function item(c) {
    const li = h('li.comment', { dataset: { comment: c.commentId, visibility: c.visibility } });
    render(li, c);
    return li;
  }

  function render(li, c, notice) {
    const badge = h(`span.badge.${c.visibility}`, VISIBILITY[c.visibility] || c.visibility);
    const head = h('div.comment-head', h('strong', c.author), ' ', h('span.muted', when(c.createdAt)), ' ', badge,
      c.version > 1 ? h('span.muted', ` (edited ${when(c.updatedAt)})`) : null);
    const body = h('p.comment-body', c.body);
    const actions = ctx.can.write ? h('div.actions',
      h('button.comment-edit', { type: 'button', onclick: () => edit(li, c) }, 'Edit'),
      h('button.comment-delete.danger', { type: 'button', onclick: () => remove(li, c) }, 'Delete')) : null;
    clear(li, head, notice, body, actions);
  }

  /** The edit form in place of the comment; saves against the version shown. */
  function edit(li, c, conflict, draft) {
    const text = h('textarea.comment-edit-body', { rows: 4, 'aria-label': 'Comment text' });
    text.value = draft ? draft.body : c.body;
    const vis = select(`comment-edit-visibility-${c.commentId.replace(/[^\w-]/g, '_')}`, Object.entries(VISIBILITY), draft ? draft.visibility : c.visibility);
    const problems = h('div');
    const save = h('button.comment-save.primary', { type: 'submit' }, 'Save');
    const cancel = h('button.comment-cancel', { type: 'button', onclick: () => render(li, c) }, 'Cancel');
    const form = h('form.comment-form', conflict, text, field('Visibility', vis), problems, h('div.actions', save, cancel));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      const mine = { body: text.value, visibility: vis.value };
      try {
        const { data } = await api('PATCH', `${path}/comments/${encodeURIComponent(c.commentId)}`,
          { body: mine, headers: { 'If-Match': `"${c.version}"` } });
        render(li, data);
        toast(`Saved the comment (version ${data.version}).`);
      } catch (err) {
        if (err.status === 412) return editConflicted(li, c, mine);
        clear(problems, problemBlock(err, 'The comment was not saved.'));
      }
    });
    clear(li, form);
    text.focus();
  }

  /** Someone edited the comment since it was shown: theirs above, ours kept in the box. */
  async function editConflicted(li, c, mine) {
    const latest = await current(c);
    if (!latest) return gone(li, c);
    const box = h('div.alert.comment-conflict', { role: 'alert', tabindex: '-1' },
      h('strong', `Someone else changed this comment while you were editing (version ${c.version} → ${latest.version}).`),
      h('p', 'Nothing was saved. Their text now:'),
      h('blockquote.comment-body', latest.body),
      h('p', 'Your text is still in the box: save it over theirs, or cancel to keep theirs.'));
    edit(li, latest, box, mine);
    box.focus();
  }

  /** The comment as it is now (`null` if it is gone). */
  async function current(c) {
    let after = '';
    for (;;) {
      const res = await get(`${path}/comments`, { limit: 1000, cursor: after });
      const found = res.items.find(x => x.commentId === c.commentId);
      if (found) return found;
      if (!res.nextCursor) return null;
      after = res.nextCursor;
    }
  }

  function gone(li, c) {
    clear(li, h('p.alert', { role: 'alert' }, `Comment ${c.commentId} was deleted by someone else.`));
  }

  async function remove(li, c) {
    if (!window.confirm('Delete this comment? This cannot be undone.')) return;
    try {
      await api('DELETE', `${path}/comments/${encodeURIComponent(c.commentId)}`, { headers: { 'If-Match': `"${c.version}"` } });
    } catch (err) {
      if (err.status === 412) {
        const latest = await current(c);
        if (!latest) return gone(li, c);
        const again = h('button.comment-delete-again.danger', { type: 'button', onclick: () => remove(li, latest) }, `Delete version ${latest.version}`);
        render(li, latest, h('div.alert.comment-conflict', { role: 'alert' },
          h('strong', `Someone else changed this comment since it was shown (version ${c.version} → ${latest.version}). Nothing was deleted.`),
          h('div.actions', again)));
        return;
      }
      if (err.status === 404) return gone(li, c);
      toast(`The comment was not deleted: ${err.message}`);
      return;
    }
    li.remove();
    shown -= 1;
    setCount();
    toast('Deleted the comment.');
    await caseChanged();
  }

  function setCount() {
    count.textContent = shown ? ` (${shown}${cursor ? '+' : ''})` : '';
  }

  async function page() {
    const res = await get(`${path}/comments`, { limit: 100, cursor });
    for (const c of res.items) list.append(item(c));
    shown += res.items.length;
    cursor = res.nextCursor || '';
    more.hidden = !cursor;
    setCount();
  }

  function addForm() {
    if (!ctx.can.write) return null;
    const text = h('textarea#comment-body', { rows: 3, required: true, 'aria-label': 'New comment' });
    const vis = select('comment-visibility', Object.entries(VISIBILITY), 'internal');
    const problems = h('div');
    const form = h('form#comment-form', field('Add a comment', text), field('Visibility', vis),
      h('p.muted', 'Internal notes and public comments are labels for the reader: everyone who can read the case reads both.'),
      problems, h('div.actions', h('button#comment-add.primary', { type: 'submit' }, 'Add')));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      clear(problems);
      try {
        const { data } = await api('POST', `${path}/comments`, { body: { body: text.value, visibility: vis.value } });
        // Every page up to the newest is shown before a new comment goes at the bottom.
        while (cursor) await page();
        list.append(item(data));
        shown += 1;
        setCount();
        text.value = '';
        toast(`Added ${VISIBILITY[data.visibility].toLowerCase()} ${data.commentId}.`);
        await caseChanged();
      } catch (err) {
        clear(problems, problemBlock(err, 'The comment was not added.'));
      }
    });
    return form;
  }

  more.addEventListener('click', page);
  clear(box, h('h2#comments-heading', 'Comments', count), list, more, addForm());
  await page();
}
