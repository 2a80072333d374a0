// Webhooks (admin): the subscriptions that push the change feed to a URL. The list with a
// form to create one; the signing secret, shown once, after a create or a rotation; one
// webhook's page with its actions (enable or disable, send a test event, rotate the
// secret, delete) and its delivery log, with redelivery. Every value is shown as text.

import { api, get } from './api.js';
import { h, clear, field, select, when, problemBlock, scroller, toast, toastNext, keepFocus } from './dom.js';

/** The change types a webhook may name (docket_api::CHANGE_TYPES). */
const EVENT_TYPES = ['case.created', 'case.updated', 'case.deleted', 'task.created', 'task.updated',
  'comment.created', 'comment.updated', 'comment.deleted', 'job.completed', 'job.failed', 'job.cancelled'];
const DELIVERY_STATES = [['', 'Any status'], 'pending', 'succeeded', 'failed'];
/** Deliveries one page of the log shows. */
const PAGE_SIZE = 50;
/** How often the log's first page is read again while it shows a pending delivery. */
const REFRESH_MS = 3000;
const FILTER_KEYS = [['status', 'status'], ['assignee', 'assignee'], ['tag', 'tag'], ['fields', 'changed fields']];
const LOG_COLUMNS = ['Delivery', 'Type', 'Case', 'Position', 'Status', 'Attempts', 'Last attempt', 'Status code',
  'Error', 'Next attempt'];

const apiPath = id => `/api/v1/webhooks/${encodeURIComponent(id)}`;
const pagePath = id => `/console/webhooks/${encodeURIComponent(id)}`;
/** Comma-separated text as the list of its non-empty items. */
const items = text => text.split(',').map(s => s.trim()).filter(Boolean);

function eventsText(events) {
  const list = Array.isArray(events) ? events : [];
  return list.includes('*') ? 'every change (*)' : list.join(', ');
}

function filterText(filter) {
  const parts = FILTER_KEYS.filter(([k]) => filter && Array.isArray(filter[k]) && filter[k].length)
    .map(([k, label]) => `${label}: ${filter[k].join(', ')}`);
  return parts.length ? parts.join('; ') : 'none';
}

/** Enabled, or disabled (with the reason, when docket disabled it). */
function stateOf(hook) {
  if (hook.enabled) return h('span.good', 'Enabled');
  return [h('span.bad', 'Disabled'), hook.disabledReason ? `: ${hook.disabledReason}` : ''];
}

/** A webhook as the API answers, without the secret a create or a rotation carries. */
function withoutSecret(data) {
  const { secret, ...hook } = data;
  return hook;
}

/** Only admins manage webhooks; anyone else is told so. Whether the page stops here. */
function adminOnly(main, ctx, title) {
  if (ctx.can.admin) return false;
  clear(main, h('h1', title), h('p', 'Only a key with the admin scope may see or change the webhooks.'));
  return true;
}

/**
 * Asks a question in a modal dialog; resolves true on `yes`. The focus starts on Cancel,
 * so a second Enter does nothing; Escape cancels.
 */
function confirmDialog(id, title, text, yes, kind) {
  return new Promise(resolve => {
    const apply = h(`button#${id}-apply.${kind}`, { type: 'button' }, yes);
    const cancel = h(`button#${id}-cancel`, { type: 'button' }, 'Cancel');
    const dlg = h(`dialog#${id}`, { 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-text` },
      h(`h2#${id}-title`, title),
      h(`p#${id}-text`, text),
      h('div.actions', apply, cancel));
    document.body.append(dlg);
    const done = v => { dlg.close(); dlg.remove(); resolve(v); };
    apply.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', e => { e.preventDefault(); done(false); });
    dlg.showModal();
    cancel.focus();
  });
}

/** Copies `text`; without clipboard access, selects `node` for the user to copy. */
async function copyText(text, node) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch { /* no clipboard here (not a secure context, or refused): select it instead */ }
  const range = document.createRange();
  range.selectNodeContents(node);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  try { return document.execCommand('copy'); } catch { return false; }
}

/**
 * The signing secret, shown this once, with a copy button. Nothing keeps it: it goes with
 * the box (hidden, or the page left), and neither the page nor the API shows it again.
 */
function secretBox(secret, heading) {
  const value = h('code#webhook-secret-value', secret);
  const said = h('span#webhook-secret-said', { role: 'status' });
  const copy = h('button#webhook-secret-copy.primary', { type: 'button' }, 'Copy the secret');
  const hide = h('button#webhook-secret-hide', { type: 'button' }, 'I have stored it: hide it');
  const box = h('section#webhook-secret.secret-box', { 'aria-labelledby': 'webhook-secret-title', tabindex: '-1' },
    h('h2#webhook-secret-title', heading),
    h('p', h('strong', 'Copy it now: it will not be shown again.'),
      ' Neither this page nor the API shows a webhook’s secret after this. If it is lost, rotate the secret to get a new one.'),
    h('p.secret-value', value),
    h('p.muted', 'The receiver checks the webhook-signature header of each delivery with it (Standard Webhooks).'),
    h('div.actions', copy, hide, said));
  copy.addEventListener('click', async () => {
    said.textContent = await copyText(secret, value)
      ? 'Copied to the clipboard.'
      : 'The secret is selected: press Ctrl+C (⌘C on a Mac) to copy it.';
  });
  hide.addEventListener('click', () => {
    box.remove();
    document.getElementById('main').focus();
  });
  return box;
}

/**
 * The enable / disable button of `hook`: PATCHes `enabled` and hands the changed webhook
 * to `onChanged`. (Not disabled while busy: a disabled button would lose the focus.)
 */
function toggleButton(hook, id, problems, onChanged) {
  const verb = hook.enabled ? 'Disable' : 'Enable';
  const button = h('button.webhook-toggle', { type: 'button', id, 'aria-label': `${verb} the webhook to ${hook.url}` }, verb);
  let busy = false;
  button.addEventListener('click', async () => {
    if (busy) return;
    busy = true;
    clear(problems);
    try {
      const { data } = await api('PATCH', apiPath(hook.webhookId), { body: { enabled: !hook.enabled } });
      toast(data.enabled
        ? `Enabled ${data.webhookId}: its pending deliveries go out again.`
        : `Disabled ${data.webhookId}: its deliveries wait until it is enabled again.`);
      await onChanged(data);
    } catch (e) {
      clear(problems, problemBlock(e, `The webhook could not be ${hook.enabled ? 'disabled' : 'enabled'}.`));
    } finally {
      busy = false;
    }
  });
  return button;
}

/** The form that creates a webhook; `onCreated` gets the answer (with its secret). */
function createForm(ctx, onCreated) {
  const statuses = ctx.workflow ? ctx.workflow.statuses : [];
  const url = h('input#wh-url', { type: 'url', required: true, size: 50, autocomplete: 'off', 'aria-describedby': 'wh-url-help' });
  const description = h('input#wh-description', { maxlength: '1000', size: 50 });
  const all = h('input#wh-event-all', { type: 'checkbox', value: '*' });
  const eventBoxes = EVENT_TYPES.map(t => h('input', { type: 'checkbox', id: `wh-event-${t.replace('.', '-')}`, value: t }));
  const statusBoxes = statuses.map((s, i) => h('input', { type: 'checkbox', id: `wh-status-${i}`, value: s }));
  // Without the workflow (it is not readable), the statuses are typed.
  const statusText = statuses.length ? null : h('input#wh-status', { size: 30, 'aria-describedby': 'wh-list-help' });
  const assignee = h('input#wh-assignee', { size: 30, 'aria-describedby': 'wh-list-help' });
  const tag = h('input#wh-tag', { size: 30, 'aria-describedby': 'wh-list-help' });
  const fields = h('input#wh-fields', { size: 30, 'aria-describedby': 'wh-list-help' });
  const problems = h('div');
  const create = h('button#create-webhook.primary', { type: 'submit' }, 'Create webhook');
  const check = (box, text) => h('span', box, ' ', h('label', { for: box.id }, text));
  const syncAll = () => { for (const b of eventBoxes) b.disabled = all.checked; };
  all.addEventListener('change', syncAll);

  const form = h('form#webhook-form', { 'aria-labelledby': 'create-heading' },
    h('h2#create-heading', 'New webhook'),
    field('URL', url),
    h('p#wh-url-help.muted', 'Where docket POSTs each change, signed (Standard Webhooks). Which hosts are allowed is set in the server’s configuration.'),
    h('fieldset#wh-events',
      h('legend', 'Events'),
      h('div.checks', check(all, 'All changes (*)')),
      h('div.checks', eventBoxes.map(b => check(b, b.value)))),
    h('fieldset#wh-filter',
      h('legend', 'Filter (optional)'),
      h('p.muted', 'For case, task and comment changes, the case after the change must match every key given, by any of its values. Job events are not filtered.'),
      statusText
        ? field('Status', statusText)
        : h('div.field', h('span#wh-status-label', 'Status'),
          h('div.checks', { role: 'group', 'aria-labelledby': 'wh-status-label' }, statusBoxes.map(b => check(b, b.value)))),
      field('Assignee', assignee),
      field('Tag', tag),
      field('Changed fields', fields),
      h('p#wh-list-help.muted', 'Separate several values with commas. Changed fields: any of the fields the change touched (status, priority, fields.channel…).')),
    field('Description (optional)', description),
    problems,
    h('div.actions', create));

  form.addEventListener('submit', async e => {
    e.preventDefault();
    clear(problems);
    for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
    const events = all.checked ? ['*'] : eventBoxes.filter(b => b.checked).map(b => b.value);
    if (!events.length) {
      clear(problems, h('div.alert', { role: 'alert' }, 'Choose the events to send: one change type at least, or all changes.'));
      all.focus();
      return;
    }
    const filter = {};
    const status = statusText ? items(statusText.value) : statusBoxes.filter(b => b.checked).map(b => b.value);
    if (status.length) filter.status = status;
    for (const [k, c] of [['assignee', assignee], ['tag', tag], ['fields', fields]]) {
      const v = items(c.value);
      if (v.length) filter[k] = v;
    }
    const body = { url: url.value.trim(), events };
    if (Object.keys(filter).length) body.filter = filter;
    if (description.value.trim()) body.description = description.value.trim();
    create.disabled = true;
    let data;
    try {
      data = (await api('POST', '/api/v1/webhooks', { body })).data;
    } catch (err) {
      clear(problems, problemBlock(err, 'The webhook was not created.'));
      const controls = { url, description, events: all, 'filter.status': statusText || statusBoxes[0],
        'filter.assignee': assignee, 'filter.tag': tag, 'filter.fields': fields };
      let first = null;
      for (const fe of err.errors || []) {
        const c = controls[fe.field];
        if (c) { c.setAttribute('aria-invalid', 'true'); first = first || c; }
      }
      if (first) first.focus();
      return;
    } finally {
      create.disabled = false;
    }
    form.reset();
    syncAll();
    await onCreated(data);
  });
  return form;
}

/** /console/webhooks: every webhook, and the form that creates one. */
export async function webhooksPage(main, ctx) {
  document.title = 'Webhooks · docket';
  if (adminOnly(main, ctx, 'Webhooks')) return;
  const secretSlot = h('div#webhook-secret-slot');
  const problems = h('div');
  const tbody = h('tbody');
  const table = h('table#webhook-table', h('caption', 'Webhooks, oldest first'),
    h('thead', h('tr', ['URL', 'Events', 'Filter', 'State', 'Description'].map(t => h('th', { scope: 'col' }, t)),
      h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
    tbody);
  let loads = 0;

  function row(w) {
    return h('tr', { dataset: { webhookId: w.webhookId, enabled: String(w.enabled) } },
      h('td.url', h('a', { href: pagePath(w.webhookId) }, w.url), h('br'), h('span.muted', w.webhookId)),
      h('td', eventsText(w.events)),
      h('td', filterText(w.filter)),
      h('td', stateOf(w)),
      h('td', w.description || ''),
      h('td', toggleButton(w, `toggle-${w.webhookId}`, problems, load)));
  }

  async function load() {
    let page;
    try {
      page = await get('/api/v1/webhooks');
    } catch (e) {
      clear(problems, problemBlock(e, 'The webhooks could not be listed.'));
      return;
    }
    keepFocus(() => {
      clear(tbody, page.items.map(row));
      if (!page.items.length) tbody.append(h('tr', h('td', { colSpan: 6 }, 'No webhook yet: create one below.')));
    });
    loads += 1;
    table.dataset.loads = String(loads);
  }

  const form = createForm(ctx, async created => {
    clear(secretSlot, secretBox(created.secret, `The secret of the new webhook ${created.webhookId}`));
    toast(`Created webhook ${created.webhookId}.`);
    await load();
    document.getElementById('webhook-secret')?.focus();
  });
  clear(main, h('h1', 'Webhooks'),
    h('p.muted', 'Each webhook is sent the changes it names as they commit: signed, retried with backoff, in order per case. Open one for its delivery log, a test event, its secret, or to delete it.'),
    secretSlot, problems, scroller(table), form);
  await load();
}

/**
 * A webhook's delivery log, newest first: a status filter, a page at a time, Refresh, and
 * Redeliver on each row. While the first page shows a pending delivery it is read again
 * every few seconds.
 */
function deliveryLog(webhookId) {
  const params = new URLSearchParams(location.search);
  const wanted = params.get('status');
  const stateSel = select('deliveries-status', DELIVERY_STATES, DELIVERY_STATES.includes(wanted) ? wanted : '');
  const refresh = h('button#deliveries-refresh', { type: 'button' }, 'Refresh');
  const tbody = h('tbody');
  const caption = h('caption', 'Deliveries, newest first');
  const table = h('table#delivery-table', caption,
    h('thead', h('tr', LOG_COLUMNS.map(t => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
    tbody);
  const prev = h('button#deliveries-prev', { type: 'button' }, '← Newer');
  const next = h('button#deliveries-next', { type: 'button' }, 'Older →');
  const info = h('span#deliveries-page.muted', { 'aria-live': 'polite' });
  const problems = h('div');
  const section = h('section', { 'aria-labelledby': 'deliveries-heading' },
    h('h2#deliveries-heading', 'Deliveries'),
    h('p.muted', 'One row per change sent (or test event): a pending one is retried until it succeeds or its retry window ends. Redeliver sends one again now, whatever its status.'),
    h('div.row', field('Status', stateSel), refresh),
    problems,
    scroller(table),
    h('nav.pager', { 'aria-label': 'Delivery pages' }, prev, info, next));
  let cursors = [null]; // the cursor of each page seen, for "Newer"
  let current = 0;
  let asked = 0; // the latest load; an older answer arriving late is dropped
  let loads = 0;
  let timer = null;

  function row(d) {
    // A deleted case has no page to go to.
    const kase = !d.caseId ? '—'
      : d.type === 'case.deleted' ? String(d.caseId)
        : h('a', { href: `/console/cases/${encodeURIComponent(d.caseId)}` }, String(d.caseId));
    const again = h('button.redeliver', { type: 'button', id: `redeliver-${d.deliveryId}`, 'aria-label': `Redeliver ${d.deliveryId}` }, 'Redeliver');
    again.addEventListener('click', () => redeliver(d));
    return h('tr', { dataset: { deliveryId: String(d.deliveryId), type: String(d.type), status: String(d.status) } },
      h('td.nowrap', String(d.deliveryId)),
      h('td', h('span.badge', String(d.type))),
      h('td.nowrap', kase),
      h('td.num', d.position ?? '—'),
      h('td', h('span', { class: `outcome-${d.status}` }, String(d.status))),
      h('td.num', String(d.attempts ?? 0)),
      h('td.nowrap', when(d.lastAttemptAt)),
      h('td.num', d.lastStatusCode ?? ''),
      h('td.error', d.lastError || ''),
      h('td.nowrap', when(d.nextAttemptAt)),
      h('td', again));
  }

  async function load(i) {
    const mine = ++asked;
    clearTimeout(timer);
    let page;
    try {
      page = await get(`${apiPath(webhookId)}/deliveries`, { status: stateSel.value, limit: PAGE_SIZE, cursor: cursors[i] || '' });
    } catch (e) {
      if (mine === asked) clear(problems, problemBlock(e, 'The deliveries could not be listed.'));
      return;
    }
    if (mine !== asked) return;
    clear(problems);
    cursors = cursors.slice(0, i + 1);
    if (page.nextCursor) cursors.push(page.nextCursor);
    current = i;
    caption.textContent = `Deliveries, newest first, page ${i + 1}`;
    info.textContent = `Page ${i + 1} · ${page.items.length} shown`;
    prev.disabled = i === 0;
    next.disabled = !page.nextCursor;
    keepFocus(() => {
      clear(tbody, page.items.map(row));
      if (!page.items.length) {
        tbody.append(h('tr', h('td', { colSpan: LOG_COLUMNS.length + 1 }, stateSel.value
          ? `No ${stateSel.value} delivery.`
          : 'No delivery yet: the changes this webhook names are logged here as they are sent.')));
      }
    });
    loads += 1;
    table.dataset.loads = String(loads);
    if (i === 0 && page.items.some(d => d.status === 'pending')) timer = setTimeout(() => load(0), REFRESH_MS);
  }

  async function redeliver(d) {
    clear(problems);
    try {
      await api('POST', `${apiPath(webhookId)}/deliveries/${encodeURIComponent(d.deliveryId)}/redeliver`);
    } catch (e) {
      clear(problems, problemBlock(e, `${d.deliveryId} could not be redelivered.`));
      return;
    }
    toast(`Redelivering ${d.deliveryId}.`);
    await load(current);
  }

  stateSel.addEventListener('change', () => {
    const p = new URLSearchParams();
    if (stateSel.value) p.set('status', stateSel.value);
    history.replaceState(null, '', location.pathname + (p.toString() ? '?' + p : ''));
    cursors = [null];
    load(0);
  });
  refresh.addEventListener('click', () => load(current));
  prev.addEventListener('click', () => load(current - 1));
  next.addEventListener('click', () => load(current + 1));
  return { section, load };
}

/** /console/webhooks/{id}: one webhook, its actions and its delivery log. */
export async function webhookPage(main, ctx, webhookId) {
  document.title = `${webhookId} · docket`;
  if (adminOnly(main, ctx, 'Webhook')) return;
  let hook = await get(apiPath(webhookId));
  const facts = h('dl#webhook-facts.facts');
  const actions = h('div#webhook-actions.actions');
  const secretSlot = h('div#webhook-secret-slot');
  const problems = h('div');
  const log = deliveryLog(hook.webhookId);

  const test = h('button#webhook-test', { type: 'button' }, 'Send a test event');
  test.addEventListener('click', async () => {
    clear(problems);
    let d;
    try {
      d = (await api('POST', `${apiPath(hook.webhookId)}/test`)).data;
    } catch (e) {
      clear(problems, problemBlock(e, 'The test event was not queued.'));
      return;
    }
    toast(`Test event ${d.deliveryId} queued.`);
    await log.load(0);
  });

  const rotate = h('button#webhook-rotate', { type: 'button' }, 'Rotate the secret…');
  rotate.addEventListener('click', async () => {
    clear(problems);
    const ok = await confirmDialog('webhook-rotate-confirm', 'Rotate the secret?',
      `docket makes a new signing secret for the webhook to ${hook.url} and shows it once. For 24 hours deliveries carry signatures by both the new and the old secret, so the receiver can switch over without losing any; then only the new one signs.`,
      'Rotate the secret', 'primary');
    if (!ok) { rotate.focus(); return; }
    let data;
    try {
      data = (await api('POST', `${apiPath(hook.webhookId)}/rotate-secret`)).data;
    } catch (e) {
      clear(problems, problemBlock(e, 'The secret was not rotated.'));
      return;
    }
    hook = withoutSecret(data);
    render();
    clear(secretSlot, secretBox(data.secret, 'The new secret'));
    document.getElementById('webhook-secret').focus();
  });

  const remove = h('button#webhook-delete.danger', { type: 'button' }, 'Delete the webhook…');
  remove.addEventListener('click', async () => {
    clear(problems);
    const ok = await confirmDialog('webhook-delete-confirm', `Delete ${hook.webhookId}?`,
      `Really delete the webhook to ${hook.url} with its delivery log? Its pending deliveries are never sent. This cannot be undone.`,
      `Delete ${hook.webhookId}`, 'danger');
    if (!ok) { remove.focus(); return; }
    try {
      await api('DELETE', apiPath(hook.webhookId));
    } catch (e) {
      clear(problems, problemBlock(e, 'The webhook was not deleted.'));
      return;
    }
    toastNext(`Deleted webhook ${hook.webhookId}.`);
    location.assign('/console/webhooks');
  });

  function render() {
    const rows = [['URL', hook.url], ['Events', eventsText(hook.events)], ['Filter', filterText(hook.filter)],
      ['Description', hook.description || '—'], ['State', stateOf(hook)],
      ['Created', when(hook.createdAt)], ['Updated', when(hook.updatedAt)]];
    clear(facts, rows.map(([k, v]) => [h('dt', k), h('dd', { dataset: { fact: k } }, v)]));
    keepFocus(() => clear(actions,
      toggleButton(hook, 'webhook-toggle', problems, changed => { hook = changed; render(); }),
      test, rotate, remove));
  }

  clear(main, h('p', h('a', { href: '/console/webhooks' }, '← All webhooks')),
    h('h1', `Webhook ${hook.webhookId}`),
    secretSlot, facts, problems, actions, log.section);
  render();
  await log.load(0);
}
