// Import: upload a CSV (or JSON, NDJSON) file of cases; the server reads it whole (a
// malformed line refuses the file, naming the line) and creates the cases, or updates
// the ones with the rows' externalId, as one job, followed live here.

import { h, clear, problemBlock } from './dom.js';
import { api } from './api.js';
import { watchJob } from './bulk.js';

/** The content type of a chosen file, by its name. */
function contentType(name) {
  const n = name.toLowerCase();
  if (n.endsWith('.ndjson') || n.endsWith('.jsonl')) return 'application/x-ndjson';
  if (n.endsWith('.json')) return 'application/json';
  return 'text/csv';
}

export async function importPage(main, ctx) {
  document.title = 'Import · docket';
  const file = h('input#import-file', { type: 'file', accept: '.csv,.json,.ndjson,.jsonl,text/csv,application/json', required: true });
  const upsert = h('input#import-upsert', { type: 'checkbox' });
  const dry = h('input#import-dry-run', { type: 'checkbox' });
  const go = h('button#import-start.primary', { type: 'submit' }, 'Import');
  const problems = h('div');
  const out = h('div#import-job');
  const form = h('form#import-form',
    h('div.field', h('label', { for: 'import-file' }, 'File'), file),
    h('p.muted', 'CSV: a header row naming the fields (title, caseId, description, status, statusReason, priority, assignee, externalId, tags separated by ;, fields.NAME). JSON: an array of cases. NDJSON: one case per line.'),
    h('div.field', h('span', upsert, ' ', h('label', { for: 'import-upsert' }, 'Update the case that already has a row\'s externalId'))),
    h('div.field', h('span', dry, ' ', h('label', { for: 'import-dry-run' }, 'Dry run: change nothing, report what each row would do'))),
    go);
  clear(main, h('h1', 'Import cases'), ctx.can.write ? form : h('p', 'Importing needs the cases:write scope.'), problems, out);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    clear(problems);
    const f = file.files[0];
    if (!f) {
      clear(problems, h('div.alert', { role: 'alert' }, 'Choose a file first.'));
      return;
    }
    go.disabled = true;
    try {
      const body = await f.text();
      const query = { upsertBy: upsert.checked ? 'externalId' : '', dryRun: dry.checked ? 'true' : '', waitForCompletion: ctx.can.readJobs ? '' : 'true' };
      const data = await upload(contentType(f.name), body, query);
      if (!ctx.can.readJobs) {
        clear(out, h('p.notice', { role: 'status' }, `Job ${data.jobId} ${data.status}: ${data.succeeded ?? '?'} succeeded, ${data.failed ?? '?'} failed.`));
      } else {
        watchJob(out, ctx, data.jobId, () => { go.disabled = false; });
        document.getElementById('job-heading').focus();
        return;
      }
    } catch (err) {
      clear(problems, problemBlock(err, 'The file was not imported: nothing was created.'));
    }
    go.disabled = false;
  });
}

/** POSTs the file's text as it is, in its content type. */
async function upload(type, text, query) {
  const { data } = await api('POST', '/api/v1/cases/bulk-create', { raw: text, type, query });
  return data;
}
