// Settings (admin): the seed's cache settings and the job settings, checked here for
// shape and by the server for meaning; only changed keys are sent.

import { api, get } from './api.js';
import { h, clear, select, problemBlock, toast } from './dom.js';

const KEYS = [
  ['CaseManagement.CacheTimeout', 'Cache timeout (seconds)', 'number', 'How long a case-metadata cache entry lives.'],
  ['CaseManagement.BulkUpdateCacheInvalidation', 'Bulk update cache invalidation', ['immediate', 'deferred', 'ttl'],
    'immediate: drop each case’s cache entry as its change commits; deferred: drop them all before the job completes; ttl: never drop them (stale reads — the legacy behaviour).'],
  ['CaseManagement.SyncStatusAfterBulkUpdate', 'Report a job completed only once every node is fresh', 'boolean', 'Off lets a node read stale entries after “completed”.'],
  ['Jobs.MaxItemsPerRequest', 'Most items per bulk request', 'number', ''],
  ['Jobs.ChunkSize', 'Items applied per transaction', 'number', ''],
  ['Jobs.Retention', 'Keep finished jobs for (seconds)', 'number', ''],
  ['Changes.Retention', 'Keep the change feed for (seconds)', 'number', 'A feed cursor older than this gets 410 cursor_expired.'],
];

const idOf = key => 'set-' + key.replace(/\W/g, '-');

export async function settingsPage(main, ctx) {
  document.title = 'Settings · docket';
  if (!ctx.can.admin) {
    clear(main, h('h1', 'Settings'), h('p', 'Only a key with the admin scope may see or change the settings.'));
    return;
  }
  let current = await get('/api/v1/settings');
  const problems = h('div');
  const controls = {};
  for (const [key, , kind] of KEYS) {
    const id = idOf(key);
    const v = current[key];
    controls[key] = Array.isArray(kind) ? select(id, kind, v)
      : kind === 'boolean' ? h(`input#${id}`, { type: 'checkbox', checked: !!v })
      : h(`input#${id}`, { type: 'number', min: 0, step: 1, value: String(v ?? ''), required: true });
  }
  const form = h('form#settings-form',
    KEYS.map(([key, label, kind, help]) => h('div.field', { style: null },
      kind === 'boolean'
        ? h('span', controls[key], ' ', h('label', { for: idOf(key) }, label))
        : [h('label', { for: idOf(key) }, label), controls[key]],
      h('span.muted', { id: idOf(key) + '-help' }, `${key}${help ? ' — ' + help : ''}`))),
    problems,
    h('div.actions', h('button#save-settings.primary', { type: 'submit' }, 'Save settings')));
  for (const [key] of KEYS) controls[key].setAttribute('aria-describedby', idOf(key) + '-help');
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const patch = {};
    for (const c of Object.values(controls)) c.removeAttribute('aria-invalid');
    for (const [key, , kind] of KEYS) {
      const c = controls[key];
      const v = kind === 'boolean' ? c.checked : kind === 'number' ? Number(c.value) : c.value;
      if (kind === 'number' && (c.value.trim() === '' || !Number.isInteger(v))) {
        clear(problems, h('div.alert', { role: 'alert' }, `${key} must be a whole number.`));
        c.focus();
        return;
      }
      if (v !== current[key]) patch[key] = v;
    }
    if (Object.keys(patch).length === 0) { toast('Nothing changed.'); return; }
    try {
      current = (await api('PATCH', '/api/v1/settings', { body: patch })).data;
      clear(problems, h('p.notice', { role: 'status' }, `Saved: ${Object.keys(patch).join(', ')}.`));
    } catch (err) {
      clear(problems, problemBlock(err, 'The settings were not saved.'));
      for (const e of err.errors || []) {
        const c = controls[e.field];
        if (c) { c.setAttribute('aria-invalid', 'true'); c.focus(); }
      }
    }
  });
  clear(main, h('h1', 'Settings'), h('p.muted', 'Stored in the database and shared by every node; changes apply at once.'), form);
}
