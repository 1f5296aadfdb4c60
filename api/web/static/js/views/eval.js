// How the KB's confidence is calibrated, and the latest `kefu eval` summary
// of the KB (retrieval, calibration, answers), with a link to its HTML report.

import { t, fmtNum } from '../i18n.js';
import { api, kbPath, getKey, APIError } from '../api.js';
import { h, showError } from '../dom.js';

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'eval.title' }));
  const kb = await api('GET', kbPath(ctx.kb));
  if (ctx.stale()) return;
  root.append(confidence(kb.settings?.calibration));
  let rep;
  try {
    rep = await api('GET', `${kbPath(ctx.kb)}/eval`);
  } catch (err) {
    if (err.status !== 404) throw err;
    if (!ctx.stale()) root.append(h('div', { class: 'card empty' }, h('p', { i18n: 'eval.none' }), h('pre', { class: 'mono' }, `kefu eval --kb ${ctx.kb} --questions questions.jsonl --out …`)));
    return;
  }
  if (ctx.stale()) return;

  const reportURL = `${kbPath(ctx.kb)}/eval/report.html`;
  const link = h('a', { class: 'button primary', href: reportURL, target: '_blank', rel: 'noopener', i18n: 'eval.report' });
  link.addEventListener('click', (e) => {
    if (!getKey()) return; // dev mode: a plain link works
    e.preventDefault(); // a link cannot send the key: fetch it and open a copy
    openWithKey(reportURL);
  });

  const facts = h('dl', { class: 'facts' },
    fact('eval.dataset', rep.dataset || '—'),
    fact('eval.split', rep.split || '—'),
    fact('eval.queries', fmtNum(rep.queries)),
    fact('settings.model', h('span', { class: 'mono' }, rep.model || '—')),
    rep.k ? fact('eval.k', String(rep.k)) : null);

  root.append(h('section', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', { i18n: 'eval.summary' }), link), facts));
  if (rep.modes && Object.keys(rep.modes).length) root.append(modesTable(rep.modes));
  if (rep.answers) root.append(answers(rep.answers));
  if (rep.calibration) root.append(calibration(rep.calibration));
  if (rep.tuning) root.append(tuning(rep.tuning));
  if (rep.notes?.length) {
    root.append(h('section', { class: 'card' }, h('h2', { i18n: 'eval.notes' }), h('ul', null, rep.notes.map((n) => h('li', null, n)))));
  }
}

function fact(key, value) {
  return [h('dt', { i18n: key }), h('dd', null, value)];
}

const byName = (a, b) => a.localeCompare(b, 'en', { numeric: true });

function metricsTable(rows, captionKey) {
  const cols = [...new Set(rows.flatMap(([, m]) => Object.keys(m || {})))].sort(byName);
  // The best value of a column is marked only where the rows differ.
  const best = Object.fromEntries(cols.map((c) => {
    const vs = rows.map(([, m]) => m?.[c]).filter((v) => typeof v === 'number');
    return [c, Math.min(...vs) < Math.max(...vs) ? Math.max(...vs) : null];
  }));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table metrics' },
    h('caption', { class: 'sr-only', i18n: captionKey }),
    h('thead', null, h('tr', null, h('th', { scope: 'col', i18n: 'eval.mode' }), cols.map((c) => h('th', { scope: 'col', class: 'num mono' }, c)))),
    h('tbody', null, rows.map(([name, m]) => h('tr', null,
      h('th', { scope: 'row' }, name),
      cols.map((c) => {
        const v = m?.[c];
        return h('td', { class: `num mono${v === best[c] ? ' best' : ''}` }, typeof v === 'number' ? v.toFixed(4) : '—');
      }))))));
}

function modesTable(modes) {
  const order = ['bm25', 'dense', 'hybrid'];
  const rows = Object.entries(modes).sort(([a], [b]) => (order.indexOf(a) + 1 || 9) - (order.indexOf(b) + 1 || 9) || a.localeCompare(b));
  return h('section', { class: 'card' }, h('h2', { i18n: 'eval.retrieval' }), metricsTable(rows, 'eval.retrieval'));
}

// confidence shows the KB's own calibration: self-calibrated from its
// content, fitted on labelled questions, or not yet.
function confidence(cal) {
  const card = h('section', { class: 'card' }, h('h2', { i18n: 'eval.confidence' }));
  if (!cal || !cal.weights?.length) {
    card.append(h('p', { i18n: 'eval.conf.default' }));
    return card;
  }
  const source = { self: 'eval.conf.self', labelled: 'eval.conf.labelled', mixed: 'eval.conf.mixed' }[cal.source] || 'eval.conf.labelled';
  const num = (v) => h('span', { class: 'mono' }, typeof v === 'number' ? v.toFixed(3) : '—');
  card.append(h('dl', { class: 'facts' },
    fact('eval.conf.source', h('span', { i18n: source })),
    fact('eval.conf.when', cal.fitted_at ? new Date(cal.fitted_at).toLocaleString() : '—'),
    fact('eval.conf.questions', fmtNum(cal.samples || 0)),
    cal.threshold ? fact('eval.conf.precision', [num(cal.precision), ` (≥ ${cal.threshold})`]) : null,
    cal.threshold ? fact('eval.conf.coverage', num(cal.coverage)) : null,
    fact('eval.conf.ece', num(cal.ece)),
    fact('eval.conf.details', h('span', { class: 'small' }, cal.fitted_on || '—'))));
  return card;
}

// answers shows how labelled questions were answered, per language.
function answers(a) {
  const pct = (v) => `${(100 * (v || 0)).toFixed(1)}%`;
  const rows = Object.entries(a.langs || {}).sort(([x], [y]) => x.localeCompare(y));
  rows.push(['all', a.all]);
  const cols = ['eval.ans.questions', 'eval.ans.right', 'eval.ans.plainright', 'eval.ans.precision', 'eval.ans.negatives', 'eval.ans.handoffs'];
  return h('section', { class: 'card' }, h('h2', { i18n: 'eval.answers' }),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table metrics' },
      h('caption', { class: 'sr-only', i18n: 'eval.answers' }),
      h('thead', null, h('tr', null, h('th', { scope: 'col', i18n: 'eval.ans.lang' }), cols.map((c) => h('th', { scope: 'col', class: 'num', i18n: c })))),
      h('tbody', null, rows.map(([lang, st]) => h('tr', null,
        h('th', { scope: 'row' }, lang),
        h('td', { class: 'num mono' }, String(st.questions)),
        h('td', { class: 'num mono' }, pct(st.right_share)),
        h('td', { class: 'num mono' }, pct(st.confident_right_share)),
        h('td', { class: 'num mono' }, st.confident ? pct(st.precision) : '—'),
        h('td', { class: 'num mono' }, `${st.negative_confident} / ${st.negatives}`),
        h('td', { class: 'num mono' }, `${st.handoffs_caught} / ${st.handoffs}`)))))));
}

// The calibration figures of a report, in the console's words.
const calibrationLabels = [
  ['source', 'cal.source'], ['threshold', 'cal.threshold'], ['precision', 'cal.precision'], ['coverage', 'cal.coverage'],
  ['confident', 'cal.confident'], ['queries', 'cal.queries'], ['ece', 'cal.ece'],
];

function calibration(c) {
  const items = calibrationLabels.filter(([k]) => c[k] !== undefined && c[k] !== null);
  return h('section', { class: 'card' },
    h('h2', { i18n: 'eval.calibration' }),
    h('dl', { class: 'facts' }, items.map(([k, label]) => {
      const v = c[k];
      return [h('dt', { i18n: label }), h('dd', { class: k === 'source' ? 'small' : 'mono' }, typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v))];
    })));
}

function tuning(tu) {
  const fusion = (f) => (f ? `${f.method} · w=${f.vector_weight}` : '—');
  return h('section', { class: 'card' },
    h('h2', { i18n: 'eval.tuning' }),
    h('p', null, h('span', { i18n: 'eval.tuning.change' }), ' ', h('span', { class: 'mono' }, `${fusion(tu.before)} → ${fusion(tu.after)}`),
      tu.tuned_on ? h('span', { class: 'muted small', i18n: ['eval.tuning.on', { split: tu.tuned_on }] }) : null),
    metricsTable([[t('eval.before'), tu.before_metrics], [t('eval.after'), tu.after_metrics]], 'eval.tuning'));
}

async function openWithKey(url) {
  const win = window.open('', '_blank');
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${getKey()}` } });
    if (!res.ok) throw new APIError(res.status, `http_${res.status}`, `${t('eval.report')}: HTTP ${res.status}`, res.headers.get('X-Request-ID') || '');
    const blob = new Blob([await res.text()], { type: 'text/html' });
    const u = URL.createObjectURL(blob);
    if (win) win.location = u;
    else location.assign(u);
  } catch (err) {
    win?.close();
    showError(err);
  }
}
