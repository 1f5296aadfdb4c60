// How the KB's confidence is calibrated, running an evaluation or a
// self-calibration in the server, and the latest evaluation summary of the
// KB (retrieval, calibration, answers), with a link to its HTML report.
// Text the server writes in English (how a calibration was fitted, report
// notes) sits in collapsed details, marked lang="en".

import { t, fmtNum } from '../i18n.js';
import { api, kbPath, getKey, auth, APIError } from '../api.js';
import { h, setText, showError, notify, time } from '../dom.js';

const POLL_MS = 700;

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'eval.title' }));
  const kb = await api('GET', kbPath(ctx.kb));
  if (ctx.stale()) return;
  root.append(confidence(kb.settings?.calibration), runCard(ctx));
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
    fact('eval.dataset', h('span', { class: 'mono' }, rep.dataset || '—')),
    fact('eval.split', SPLITS[rep.split] ? h('span', { i18n: SPLITS[rep.split] }) : h('span', { class: 'mono' }, rep.split || '—')),
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
    root.append(h('section', { class: 'card' }, h('details', { lang: 'en' },
      h('summary', { i18n: ['eval.notes', { n: rep.notes.length }] }),
      h('ul', null, rep.notes.map((n) => h('li', null, n))))));
  }
}

// Whether the key may fit the KB's settings (self-calibrate, calibrate).
const mayFit = () => auth.devMode || auth.scope === 'admin';

// runCard starts an evaluation in the server: labelled questions from a
// JSONL file, the KB's self-calibration, or both; it follows the job and
// shows the new results when it ends.
function runCard(ctx) {
  const file = h('input', { type: 'file', accept: '.jsonl,.json,application/jsonl,application/json' });
  const check = (id, key, props) => {
    const box = h('input', { type: 'checkbox', id, ...props });
    return [box, h('label', { for: id }, box, h('span', { i18n: key }))];
  };
  const [self, selfLabel] = check('eval-self', 'eval.run.self', { checked: mayFit(), disabled: !mayFit() });
  const [cal, calLabel] = check('eval-calibrate', 'eval.run.calibrate', { disabled: true });
  const [ans, ansLabel] = check('eval-answers', 'eval.run.answers', { disabled: true });
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'eval.run.submit' });
  const label = h('p', { class: 'job-label' });
  const bar = h('progress', { max: '100' });
  const panel = h('div', { class: 'job', hidden: true, 'aria-live': 'polite' }, label, bar);
  const sync = () => {
    const has = file.files.length > 0;
    cal.disabled = !has || !mayFit();
    ans.disabled = !has;
    if (!has) { cal.checked = false; ans.checked = false; }
    if (cal.checked) self.checked = false; // one fit or the other
    self.disabled = !mayFit() || cal.checked;
    submit.disabled = !has && !self.checked;
  };
  for (const el of [file, self, cal, ans]) el.addEventListener('change', sync);
  const form = h('form', { class: 'card eval-run', id: 'eval-run', 'aria-labelledby': 'eval-run-title' },
    h('h2', { id: 'eval-run-title', i18n: 'eval.run' }),
    h('p', { class: 'muted small', i18n: mayFit() ? 'eval.run.hint' : 'eval.run.hint_ingest' }),
    h('div', { class: 'field' }, h('label', { for: 'eval-questions', i18n: 'eval.run.questions' }), file,
      h('small', { class: 'hint', i18n: 'eval.run.questions.hint' })),
    h('div', { class: 'checks' }, selfLabel, calLabel, ansLabel),
    h('div', { class: 'buttons' }, submit),
    panel);
  file.id = 'eval-questions';
  sync();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const body = { self_calibrate: self.checked, calibrate: cal.checked, answers: ans.checked };
      const f = file.files[0];
      if (f) {
        body.questions = await f.text();
        body.questions_name = f.name;
      }
      let job = await api('POST', `${kbPath(ctx.kb)}/eval`, body);
      panel.hidden = false;
      panel.dataset.state = job.state;
      while (!job.finished_at) {
        setText(label, job.stage ? 'eval.run.progress' : 'eval.run.queued', { stage: stageName(job.stage), done: job.done, total: job.total });
        if (job.total) bar.value = Math.round((100 * job.done) / job.total);
        else bar.removeAttribute('value');
        await new Promise((r) => setTimeout(r, POLL_MS));
        job = await api('GET', `${kbPath(ctx.kb)}/eval/jobs/${encodeURIComponent(job.job_id)}`);
      }
      panel.dataset.state = job.state;
      bar.value = 100;
      if (job.error) {
        setText(label, 'eval.run.failed');
        showError(new APIError(0, job.error.code, job.error.message, ''));
        return;
      }
      notify('eval.run.done');
      if (!ctx.stale()) ctx.go(ctx.kb, 'eval'); // show what it measured
    } catch (err) {
      showError(err);
    } finally {
      submit.disabled = false;
      sync();
    }
  });
  return form;
}

// The stages the evaluator reports, in the console's words.
const STAGES = { 'self-calibration': 'eval.stage.self', 'test queries': 'eval.stage.test', 'train queries': 'eval.stage.train', answers: 'eval.stage.answers' };

function stageName(stage) {
  return STAGES[stage] ? t(STAGES[stage]) : stage || '';
}

function fact(key, value) {
  return [h('dt', { i18n: key }), h('dd', null, value)];
}

// The splits labelled questions (eval.ParseQuestions, SplitQuestions) and
// datasets come in, translated.
const SPLITS = {
  all: 'eval.split.all', train: 'eval.split.train', dev: 'eval.split.dev', test: 'eval.split.test',
  'test (hash half)': 'eval.split.test_half',
};

const byName = (a, b) => a.localeCompare(b, 'en', { numeric: true });

/** A mode's label: bm25, dense and hybrid are translated. */
function modeName(mode) {
  return ['bm25', 'dense', 'hybrid'].includes(mode) ? h('span', { i18n: `eval.mode.${mode}` }) : mode;
}

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
      typeof name === 'string' ? h('th', { scope: 'row', dataset: { mode: name } }, modeName(name)) : h('th', { scope: 'row' }, name),
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
    fact('eval.conf.when', cal.fitted_at ? time(cal.fitted_at) : '—'),
    fact('eval.conf.questions', fmtNum(cal.samples || 0)),
    cal.threshold ? fact('eval.conf.precision', [num(cal.precision), ` (≥ ${cal.threshold})`]) : null,
    cal.threshold ? fact('eval.conf.coverage', num(cal.coverage)) : null,
    fact('eval.conf.ece', num(cal.ece)),
    cal.fitted_on ? fact('eval.conf.details', h('details', { lang: 'en', class: 'small' }, h('summary', { i18n: 'eval.conf.details.show' }), cal.fitted_on)) : null));
  return card;
}

// answers shows how labelled questions were answered, per language.
function answers(a) {
  const pct = (v) => `${(100 * (v || 0)).toFixed(1)}%`;
  const rows = Object.entries(a.langs || {}).sort(([x], [y]) => x.localeCompare(y)).map(([l, st]) => [h('span', { class: 'mono' }, l), st]);
  rows.push([h('span', { i18n: 'eval.ans.all' }), a.all]);
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
      if (k === 'source') return [h('dt', { i18n: label }), h('dd', { class: 'small' }, sourceOf(String(v)))];
      return [h('dt', { i18n: label }), h('dd', { class: 'mono' }, typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v))];
    })));
}

// sourceOf names the mapping a report measured (eval.Evaluator's words:
// "default mapping (…)", "stored calibration (…)", "fitted on …"), with
// the server's English detail collapsed.
function sourceOf(s) {
  const key = s.startsWith('default') ? 'cal.src.default' : s.startsWith('stored') ? 'cal.src.stored' : s.startsWith('fitted') ? 'cal.src.fitted' : '';
  if (!key) return h('span', { lang: 'en' }, s);
  return [h('span', { i18n: key }), ' ', h('details', { lang: 'en' }, h('summary', { i18n: 'eval.conf.details.show' }), s)];
}

function tuning(tu) {
  const fusion = (f) => (f ? `${f.method} · w=${f.vector_weight}` : '—');
  return h('section', { class: 'card' },
    h('h2', { i18n: 'eval.tuning' }),
    h('p', null, h('span', { i18n: 'eval.tuning.change' }), ' ', h('span', { class: 'mono' }, `${fusion(tu.before)} → ${fusion(tu.after)}`),
      tu.tuned_on ? h('span', { class: 'muted small', i18n: ['eval.tuning.on', { split: tu.tuned_on }] }) : null),
    metricsTable([[h('span', { i18n: 'eval.before' }), tu.before_metrics], [h('span', { i18n: 'eval.after' }), tu.after_metrics]], 'eval.tuning'));
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
