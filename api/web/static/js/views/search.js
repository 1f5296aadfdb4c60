// Hit testing: a query's hits with the keyword, vector and fused scores and
// ranks side by side, the retrieval's confidence and its features.

import { api, kbPath } from '../api.js';
import { h, field, busy, fmtScore, confClass } from '../dom.js';

const MODES = ['hybrid', 'bm25', 'dense'];

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'search.title' }));
  const query = h('input', { type: 'search', required: true, maxlength: '4096', autocomplete: 'off', 'i18n-placeholder': 'search.placeholder' });
  const k = h('input', { type: 'number', min: '1', max: '100', value: '10', inputmode: 'numeric' });
  const mode = h('select', null, MODES.map((m) => h('option', { value: m, i18n: `search.mode.${m}` })));
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'search.submit' });
  const out = h('section', { class: 'results', 'aria-live': 'polite', 'aria-labelledby': 'search-results-title' });
  const form = h('form', { class: 'card search-form', role: 'search' },
    h('div', { class: 'row' },
      h('div', { class: 'grow' }, field('search-query', 'search.query', query)),
      field('search-k', 'search.k', k),
      field('search-mode', 'search.mode', mode),
      h('div', { class: 'field field-submit' }, submit)));
  root.append(form, out);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = query.value.trim();
    if (!q) return;
    const body = { query: q, k: Math.max(1, Math.min(100, Number(k.value) || 10)), mode: mode.value };
    const res = await busy(submit, () => api('POST', `${kbPath(ctx.kb)}/search`, body));
    if (res && !ctx.stale()) show(out, res, body.mode, ctx.kbs().find((x) => x.name === ctx.kb)?.settings);
  });

  const q = ctx.params.get('q');
  if (q) {
    query.value = q;
    form.requestSubmit();
  } else query.focus();
}

function show(out, res, mode, settings) {
  const hits = res.hits || [];
  const summary = h('div', { class: 'summary' },
    h('h2', { id: 'search-results-title', i18n: ['search.results', { n: hits.length }] }),
    h('span', { class: `pill ${confClass(res.confidence, settings)}`, i18n: ['search.confidence', { c: (res.confidence ?? 0).toFixed(3) }] }),
    h('span', { class: 'muted small', i18n: ['search.took', { ms: (res.took_ms ?? 0).toFixed(1) }] }));
  if (!hits.length) {
    out.replaceChildren(summary, h('p', { class: 'empty card', i18n: 'search.nohits' }));
    return;
  }
  const max = (key) => Math.max(1e-9, ...hits.map((x) => Math.abs(x[key] || 0)));
  const mf = max('score');
  const mk = max('keyword_score');
  const mv = max('vector_score');
  const head = h('thead', null, h('tr', null,
    h('th', { scope: 'col', class: 'num', i18n: 'search.col.rank' }),
    h('th', { scope: 'col', i18n: 'search.col.hit' }),
    h('th', { scope: 'col', class: 'score-col', i18n: 'search.col.fused' }),
    h('th', { scope: 'col', class: 'score-col', i18n: 'search.col.keyword' }),
    h('th', { scope: 'col', class: 'score-col', i18n: 'search.col.vector' })));
  const rows = hits.map((x, i) => h('tr', { dataset: { chunk: x.chunk_id } },
    h('td', { class: 'num rank' }, String(i + 1)),
    h('td', { class: 'hit' },
      h('div', { class: 'hit-head' },
        h('span', { class: 'tag' }, x.kind || 'passage'),
        h('strong', null, x.title || x.source || x.doc_id),
        x.headings?.length ? h('span', { class: 'muted small' }, ` › ${x.headings.join(' › ')}`) : null,
        x.page ? h('span', { class: 'muted small', i18n: ['docs.page', { n: x.page }] }) : null),
      x.questions?.length ? h('p', { class: 'chunk-q' }, x.questions[0]) : null,
      h('p', { class: 'hit-text' }, x.text),
      h('div', { class: 'muted small mono' }, x.chunk_id)),
    scoreCell(x.score, mf, 0, 'fused'),
    scoreCell(x.keyword_score, mk, x.keyword_rank, mode === 'dense' ? 'off' : 'keyword'),
    scoreCell(x.vector_score, mv, x.vector_rank, mode === 'bm25' ? 'off' : 'vector')));
  const features = res.features && Object.keys(res.features).length
    ? h('details', { class: 'card features' },
      h('summary', { i18n: 'search.features' }),
      h('dl', { class: 'facts' }, Object.entries(res.features).map(([key, v]) =>
        [h('dt', { class: 'mono' }, key), h('dd', { class: 'mono' }, typeof v === 'number' ? fmtScore(v) : JSON.stringify(v))])))
    : null;
  out.replaceChildren(summary,
    h('div', { class: 'card table-wrap' }, h('table', { class: 'table hits-table' }, head, h('tbody', null, rows))),
    features);
}

function scoreCell(score, max, rank, kind) {
  const retrieved = kind === 'fused' || rank > 0;
  const width = retrieved ? Math.max(2, Math.round((100 * Math.abs(score || 0)) / max)) : 0;
  return h('td', { class: `score ${kind}`, dataset: { score: String(score ?? '') } },
    h('div', { class: 'score-line' },
      h('span', { class: 'score-num' }, retrieved ? fmtScore(score) : '—'),
      rank > 0 ? h('span', { class: 'muted small', i18n: ['search.rank', { r: rank }] }) : null),
    h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${width}%` })),
    !retrieved ? h('span', { class: 'muted small', i18n: 'search.norank' }) : null);
}

