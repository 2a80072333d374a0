// The console's entry: who is signed in, what they may do, and which page the path names.
// Every page is rendered in the browser from the public API; links are plain links.

import { api, get, Problem } from './api.js';
import { h, clear, problemBlock, pendingToast } from './dom.js';
import { casesPage } from './cases.js';
import { casePage } from './case.js';
import { jobsPage, jobPage } from './jobs.js';
import { changesPage } from './changes.js';
import { settingsPage } from './settings.js';
import { importPage } from './import.js';
import { webhooksPage, webhookPage } from './webhooks.js';

const main = document.getElementById('main');

/** What the signed-in caller may do, from GET /api/v1/whoami. */
function abilities(identity) {
  const has = s => identity.scopes.includes(s) || identity.scopes.includes('admin');
  return {
    readCases: has('cases:read'),
    write: has('cases:write'),
    readJobs: has('jobs:read'),
    admin: identity.scopes.includes('admin'),
  };
}

function header(identity, can, page) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    const name = a.dataset.nav;
    a.hidden = (name === 'jobs' && !can.readJobs) || ((name === 'settings' || name === 'webhooks') && !can.admin)
      || (name === 'changes' && !can.readCases) || (name === 'import' && !can.write);
    if (name === page) a.setAttribute('aria-current', 'page');
  }
  const who = document.getElementById('who');
  if (identity.open) {
    clear(who, h('span.badge', { title: 'No API key exists: every caller may do everything' }, 'open mode'));
    return;
  }
  clear(who,
    h('span#who-name', `${identity.name || 'key ' + identity.keyId} · ${identity.scopes.join(', ')}`),
    h('form', { method: 'post', action: '/console/sign-out' }, h('button#sign-out', { type: 'submit' }, 'Sign out')));
}

function signInPage() {
  const params = new URLSearchParams(location.search);
  const next = params.get('next') || '/console/cases';
  document.title = 'Sign in · docket';
  const key = h('input#key', { name: 'key', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'key-help' });
  clear(main,
    h('div.signin',
      h('h1', 'Sign in'),
      params.get('error') ? h('div.alert', { role: 'alert' }, 'That API key was not accepted: it is unknown or revoked.') : null,
      params.get('signedOut') ? h('p.notice', { role: 'status' }, 'You are signed out.') : null,
      h('form', { method: 'post', action: '/console/sign-in' },
        h('div.field', h('label', { for: 'key' }, 'API key'), key),
        h('p#key-help.muted', 'A key made with “docket keys create”. The browser does not keep it: signing in starts a session, held in a cookie the console\'s scripts never see, that ends when you sign out, when the key is revoked, or when it expires.'),
        h('input', { type: 'hidden', name: 'next', value: next }),
        h('button#sign-in.primary', { type: 'submit' }, 'Sign in'))));
  key.focus();
}

async function start() {
  const path = location.pathname.replace(/\/+$/, '');
  if (path === '/console/sign-in') return signInPage();
  let identity;
  try {
    identity = (await api('GET', '/api/v1/whoami')).data;
  } catch (e) {
    if (e instanceof Problem && e.status === 401) return; // on its way to sign-in
    clear(main, problemBlock(e, 'The server could not be reached.'));
    return;
  }
  const can = abilities(identity);
  const ctx = { identity, can, workflow: null };
  let parts;
  try {
    parts = path.split('/').slice(2).map(decodeURIComponent); // after "/console"
  } catch {
    parts = ['?'];
  }
  const page = parts[0] || 'cases';
  header(identity, can, page);
  pendingToast();
  try {
    if (can.readCases) ctx.workflow = await get('/api/v1/workflow');
    if (page === 'cases' && parts.length === 1) return await casesPage(main, ctx);
    if (page === 'cases' && parts.length === 2) return await casePage(main, ctx, parts[1]);
    if (page === 'jobs' && parts.length === 1) return await jobsPage(main, ctx);
    if (page === 'jobs' && parts.length === 2) return await jobPage(main, ctx, parts[1]);
    if (page === 'changes' && parts.length === 1) return await changesPage(main, ctx);
    if (page === 'webhooks' && parts.length === 1) return await webhooksPage(main, ctx);
    if (page === 'webhooks' && parts.length === 2) return await webhookPage(main, ctx, parts[1]);
    if (page === 'settings' && parts.length === 1) return await settingsPage(main, ctx);
    if (page === 'import' && parts.length === 1) return await importPage(main, ctx);
    clear(main, h('h1', 'Not found'), h('p', 'There is no such page. ', h('a', { href: '/console/cases' }, 'Go to the cases.')));
  } catch (e) {
    if (e instanceof Problem && e.status === 401) return;
    clear(main, problemBlock(e, 'This page could not be loaded.'));
  }
}

start();
