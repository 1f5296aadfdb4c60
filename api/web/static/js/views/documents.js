// Documents: upload one or many files (progress of the upload, then of the
// ingest job), the list with status, a document's chunks, delete, re-index.

import { t, fmtNum, fmtBytes } from '../i18n.js';
import { api, kbPath, docPath, upload } from '../api.js';
import { h, setText, field, busy, time, notify, confirmAction, badge, showError } from '../dom.js';

const POLL_MS = 700;
const POLL_MAX = 2000; // ~25 minutes of polling per job at most

// One job panel per KB outlives the view, so leaving the page and coming
// back still shows a running job's progress.
const panels = new Map();

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'docs.title' }));
  const list = h('section', { class: 'card', 'aria-labelledby': 'docs-list-title', id: 'documents' });
  if (!panels.has(ctx.kb)) panels.set(ctx.kb, h('div', { class: 'jobs', 'aria-live': 'polite' }));
  root.append(uploadForm(ctx, list), list);
  await fill(list, ctx);
}

function uploadForm(ctx, list) {
  const input = h('input', { type: 'file', multiple: true, name: 'file', class: 'file-input' });
  const chosen = h('p', { class: 'chosen muted', i18n: 'docs.none_chosen' });
  const drop = h('label', { class: 'drop', for: 'doc-files' },
    h('span', { class: 'drop-icon', 'aria-hidden': 'true' }, '⇪'),
    h('span', { i18n: 'docs.drop' }),
    h('small', { class: 'muted', i18n: 'docs.files.hint' }));
  input.id = 'doc-files';
  const docID = h('input', { autocomplete: 'off', spellcheck: 'false', maxlength: '512' });
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'docs.upload.submit' });
  const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });

  const showChosen = () => {
    const n = input.files.length;
    if (!n) setText(chosen, 'docs.none_chosen');
    else if (n === 1) { chosen.textContent = `${input.files[0].name} (${fmtBytes(input.files[0].size)})`; delete chosen.dataset.i18n; }
    else setText(chosen, 'docs.chosen', { n, size: fmtBytes([...input.files].reduce((a, f) => a + f.size, 0)) });
  };
  input.addEventListener('change', showChosen);
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer?.files?.length) {
      input.files = e.dataTransfer.files;
      showChosen();
    }
  });

  const form = h('form', { class: 'card upload', id: 'upload-form', 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title', i18n: 'docs.upload' }),
    input, drop, chosen,
    h('div', { class: 'row' },
      field('doc-id', 'docs.docid', docID, 'docs.docid.hint'),
      h('div', { class: 'field field-submit' }, submit)),
    error,
    panels.get(ctx.kb));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const files = [...input.files];
    const id = docID.value.trim();
    let msg = '';
    if (!files.length) msg = 'docs.nofiles';
    else if (id && files.length > 1) msg = 'docs.docid.single';
    if (msg) {
      error.hidden = false;
      setText(error, msg);
      return;
    }
    const job = startJob(ctx, files.map((f) => f.name));
    submit.disabled = true;
    try {
      const accepted = await upload(ctx.kb, files, id, (loaded, total) => job.uploading(loaded, total));
      input.value = '';
      docID.value = '';
      showChosen();
      job.track(accepted, () => { if (!ctx.stale()) fill(list, ctx); });
    } catch (err) {
      job.fail(err);
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** A job's progress panel: the upload's bytes, then the job's documents. */
function startJob(ctx, names) {
  const label = h('p', { class: 'job-label', i18n: ['docs.uploading', { pct: 0 }] });
  const bar = h('progress', { max: '100', value: '0' });
  bar.setAttribute('aria-label', names.join(', '));
  const detail = h('p', { class: 'job-detail muted small' }, names.length > 3 ? `${names.slice(0, 3).join(', ')} …` : names.join(', '));
  const failures = h('ul', { class: 'job-failures' });
  const el = h('div', { class: 'job', dataset: { state: 'uploading' } }, label, bar, detail, failures);
  panels.get(ctx.kb).prepend(el);
  const kb = ctx.kb;

  const show = (job) => {
    const [state, key] = outcome(job);
    el.dataset.state = state;
    el.dataset.job = job.job_id;
    const total = Math.max(job.documents || 0, job.files || 0);
    const finished = (job.done || 0) + (job.unchanged || 0) + (job.failed?.length || 0);
    if (key) {
      bar.value = 100;
      setText(label, key, counts(job));
    } else if (job.state === 'queued') {
      bar.removeAttribute('value'); // indeterminate
      setText(label, 'docs.job.queued');
    } else {
      if (total) bar.value = Math.min(100, Math.round((100 * finished) / total));
      else bar.removeAttribute('value');
      setText(label, 'docs.processing', { done: finished, total, chunks: job.chunks || 0, embedded: job.embedded || 0 });
    }
    failures.replaceChildren(...(job.failed || []).map((f) =>
      h('li', null, h('strong', null, f.source), ': ', f.reason, ' ', h('code', { class: 'muted' }, f.code))));
  };

  return {
    uploading(loaded, total) {
      const pct = total ? Math.round((100 * loaded) / total) : 0;
      bar.value = pct;
      setText(label, loaded >= total ? 'docs.uploaded' : 'docs.uploading', { pct });
    },
    async track(job, onDone) {
      show(job);
      for (let i = 0; i < POLL_MAX && job.state !== 'done' && job.state !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        try {
          job = await api('GET', `/v1/jobs/${encodeURIComponent(job.job_id)}`);
        } catch (err) {
          showError(err);
          if (err.status === 404 || err.status === 401 || err.status === 403) break;
          continue;
        }
        show(job);
      }
      const [, key] = outcome(job);
      if (key) notify(key, counts(job)); // failed files' reasons are in the panel
      if (panels.get(kb)) onDone();
    },
    fail(err) {
      el.dataset.state = 'failed';
      bar.value = 0;
      label.textContent = err.message;
      delete label.dataset.i18n;
    },
  };
}

/**
 * A job's outcome: [state, label key]. A finished job where some files
 * failed is "partial", not "done", and one where every file failed is
 * "failed"; the key is null while it runs.
 */
export function outcome(job) {
  const failed = job.failed?.length || 0;
  const ok = (job.done || 0) + (job.unchanged || 0);
  if (job.state === 'failed') return ['failed', 'docs.job.failed'];
  if (job.state !== 'done') return [job.state, null];
  if (!failed) return ['done', 'docs.job.done'];
  if (!ok) return ['failed', 'docs.job.allfailed'];
  return ['partial', 'docs.job.partial'];
}

function counts(job) {
  return { done: job.done || 0, unchanged: job.unchanged || 0, failed: job.failed?.length || 0, chunks: job.chunks || 0 };
}

async function fill(list, ctx) {
  const title = h('div', { class: 'card-head' },
    h('h2', { id: 'docs-list-title', i18n: 'docs.list' }),
    h('button', { type: 'button', class: 'ghost small', i18n: 'docs.refresh', onclick: () => fill(list, ctx) }));
  if (!list.childElementCount) list.append(title, h('p', { class: 'loading', i18n: 'common.loading' }));
  const res = await api('GET', `${kbPath(ctx.kb)}/documents`);
  if (ctx.stale()) return;
  const docs = (res.documents || []).slice().sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)));
  if (!docs.length) {
    list.replaceChildren(title, h('p', { class: 'empty', i18n: 'docs.empty' }));
    return;
  }
  const head = h('thead', null, h('tr', null,
    [['docs.col.title'], ['docs.col.format', 'opt'], ['kbs.col.chunks', 'num'], ['kbs.col.size', 'num opt'], ['docs.col.status'], ['kbs.col.updated', 'opt'], ['common.actions', 'actions']]
      .map(([k, c]) => h('th', { scope: 'col', class: c, i18n: k }))));
  const rows = docs.map((d) => row(d, list, ctx));
  list.replaceChildren(title,
    h('p', { class: 'muted small', i18n: res.total > docs.length ? ['docs.count_of', { n: docs.length, total: res.total }] : ['docs.count', { n: docs.length }] }),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table docs-table' }, head, h('tbody', null, rows))));
}

function row(d, list, ctx) {
  const chunks = h('button', { type: 'button', class: 'ghost small', i18n: 'docs.view', 'aria-expanded': 'false' });
  const reindex = h('button', { type: 'button', class: 'ghost small', i18n: 'docs.reindex' });
  const del = h('button', { type: 'button', class: 'ghost small danger-text', i18n: 'common.delete' });
  const name = d.title && d.title !== d.source ? d.title : d.source || d.doc_id;
  const tr = h('tr', { dataset: { doc: d.doc_id, status: d.status } },
    h('th', { scope: 'row' },
      d.url ? h('a', { href: d.url, target: '_blank', rel: 'noopener noreferrer' }, name) : h('span', null, name),
      h('div', { class: 'muted small mono' }, d.doc_id)),
    h('td', { class: 'opt' }, h('span', { class: 'tag' }, d.format || '—')),
    h('td', { class: 'num' }, fmtNum(d.chunks)),
    h('td', { class: 'num opt' }, fmtBytes(d.bytes)),
    h('td', null, badge(d.status, `docs.status.${d.status}`), d.error ? h('div', { class: 'small danger-text' }, d.error) : null),
    h('td', { class: 'opt' }, time(d.updated_at)),
    h('td', { class: 'actions' }, chunks, reindex, del));

  let detail = null;
  chunks.addEventListener('click', async () => {
    if (detail) {
      detail.remove();
      detail = null;
      chunks.setAttribute('aria-expanded', 'false');
      return;
    }
    const doc = await busy(chunks, () => api('GET', docPath(ctx.kb, d.doc_id)));
    if (!doc) return;
    detail = h('tr', { class: 'chunks-row' }, h('td', { colspan: '7' }, chunkList(doc.chunks || [])));
    tr.after(detail);
    chunks.setAttribute('aria-expanded', 'true');
  });
  reindex.addEventListener('click', async () => {
    const job = await busy(reindex, () => api('POST', `${docPath(ctx.kb, d.doc_id)}/reindex`));
    if (!job) return;
    notify('docs.reindexing', { id: d.doc_id });
    startJob(ctx, [d.source || d.doc_id]).track(job, () => { if (!ctx.stale()) fill(list, ctx); });
  });
  del.addEventListener('click', async () => {
    if (!(await confirmAction(t('docs.delete.confirm', { id: d.doc_id })))) return;
    const ok = await busy(del, () => api('DELETE', docPath(ctx.kb, d.doc_id)).then(() => true));
    if (!ok) return;
    notify('docs.deleted', { id: d.doc_id });
    fill(list, ctx);
  });
  return tr;
}

function chunkList(chunks) {
  if (!chunks.length) return h('p', { class: 'muted', i18n: 'docs.nochunks' });
  return h('ol', { class: 'chunk-list' }, chunks.slice(0, 500).map((c) =>
    h('li', null,
      h('div', { class: 'chunk-head' },
        h('span', { class: 'tag' }, c.kind),
        c.headings?.length ? h('span', { class: 'muted small' }, c.headings.join(' › ')) : null,
        c.page ? h('span', { class: 'muted small', i18n: ['docs.page', { n: c.page }] }) : null),
      c.questions?.length ? h('p', { class: 'chunk-q' }, c.questions.join(' · ')) : null,
      h('p', { class: 'chunk-text' }, c.text))));
}
