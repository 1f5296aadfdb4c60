// Review of what the bot could not answer: the unanswered questions (asked
// below the KB's threshold), similar ones grouped with counts, and the
// answers customers voted down, with the question, answer and
// conversation. Each can become a new FAQ entry or another phrasing of an
// existing entry (re-indexed before the action returns), or be resolved or
// dismissed.

import { api, kbPath } from '../api.js';
import { h, time, badge, busy, notify, field } from '../dom.js';

const LIMIT = 200;
let formN = 0; // ids of the action forms' fields

export async function render(root, ctx) {
  const kb = ctx.kb;
  const [groups, fb] = await Promise.all([
    api('GET', `${kbPath(kb)}/unanswered?group=true&state=open&limit=${LIMIT}`),
    api('GET', `${kbPath(kb)}/feedback?vote=-1&limit=${LIMIT}`),
  ]);
  if (ctx.stale()) return;
  root.append(h('h1', { tabindex: '-1', i18n: 'un.title' }), h('p', { class: 'muted', i18n: 'un.hint' }));
  const gs = groups.groups || [];
  const un = h('section', { class: 'card table-wrap', 'aria-labelledby': 'un-open-title' },
    h('h2', { id: 'un-open-title', i18n: 'un.open' }));
  if (!gs.length) un.append(h('p', { class: 'empty', i18n: 'un.empty' }));
  else {
    un.append(h('p', { class: 'muted small', i18n: ['un.count', { n: gs.reduce((n, g) => n + g.count, 0), groups: gs.length }] }));
    un.append(table(['un.col.question', ['un.col.count', 'num'], 'chat.route', ['un.col.time', 'opt']],
      gs.map((g) => ({
        id: g.answer_ids.join(','),
        question: g.question,
        ids: g.answer_ids,
        cells: [
          h('td', { class: 'num count' }, String(g.count)),
          h('td', null, Object.keys(g.routes || {}).map((r) => badge(r, `chat.route.${route(r)}`))),
          h('td', { class: 'opt' }, time(g.last_at)),
        ],
        extra: g.questions && g.questions.length > 1
          ? h('details', { class: 'small' }, h('summary', { i18n: ['un.phrasings', { n: g.questions.length }] }), h('ul', null, g.questions.map((q) => h('li', null, q))))
          : null,
      })), ctx));
  }

  // Thumbs-down answers, the same question counted once with its votes.
  const byQ = new Map();
  for (const f of fb.feedback || []) {
    const k = (f.question || '').trim().toLowerCase();
    const e = byQ.get(k) || { question: f.question || '', items: [] };
    e.items.push(f);
    byQ.set(k, e);
  }
  const down = h('section', { class: 'card table-wrap', 'aria-labelledby': 'un-down-title' },
    h('h2', { id: 'un-down-title', i18n: 'un.down' }));
  if (!byQ.size) down.append(h('p', { class: 'empty', i18n: 'un.down.empty' }));
  else {
    down.append(table(['un.col.question', ['un.col.count', 'num'], 'un.col.answer', ['un.col.time', 'opt']],
      [...byQ.values()].map((e) => {
        const f = e.items[0];
        return {
          id: e.items.map((x) => x.answer_id).join(','),
          question: e.question,
          ids: e.items.map((x) => x.answer_id),
          cells: [
            h('td', { class: 'num count' }, String(e.items.length)),
            h('td', { class: 'small' }, h('div', { class: 'clip' }, f.answer || ''),
              e.items.filter((x) => x.comment).map((x) => h('div', { class: 'muted' }, `“${x.comment}”`)),
              e.items.filter((x) => x.conversation_id).slice(0, 3).map((x) => h('a', { class: 'small mono', href: ctx.href(ctx.kb, 'conversations', { c: x.conversation_id }) }, `${x.conversation_id} `))),
            h('td', { class: 'opt' }, time(f.at)),
          ],
        };
      }), ctx));
  }
  root.append(un, down);
}

const ROUTES = ['handoff', 'faq', 'generated', 'extractive', 'disclaimer', 'unknown'];

function route(r) { return ROUTES.includes(r) ? r : 'unknown'; }

/** A table of questions, each with its actions and a row for their forms. */
function table(cols, items, ctx) {
  const head = h('thead', null, h('tr', null,
    [...cols, ['common.actions', 'actions']].map((c) => {
      const [k, cls] = Array.isArray(c) ? c : [c];
      return h('th', { scope: 'col', class: cls, i18n: k });
    })));
  const body = h('tbody');
  for (const it of items) {
    const panel = h('tr', { class: 'action-row', hidden: true }, h('td', { colspan: String(cols.length + 1) }));
    const row = h('tr', { dataset: { ids: it.id } },
      h('th', { scope: 'row' }, it.question, it.extra || null),
      it.cells);
    row.append(h('td', { class: 'actions' }, actions(it, panel, row, ctx)));
    body.append(row, panel);
  }
  return h('table', { class: 'table review-table' }, head, body);
}

function actions(it, panel, row, ctx) {
  const kb = ctx.kb;
  const done = (key) => {
    notify(key);
    panel.remove();
    row.remove();
  };
  const post = (button, body) => busy(button, () => api('POST', `${kbPath(kb)}/unanswered/actions`, { answer_ids: it.ids, ...body }));
  const open = (content) => {
    panel.hidden = false;
    panel.firstElementChild.replaceChildren(content);
    content.querySelector('input, textarea')?.focus();
  };
  const faq = h('button', { type: 'button', class: 'small', dataset: { action: 'add_faq' }, i18n: 'un.add_faq' });
  faq.addEventListener('click', () => {
    const q = h('input', { value: it.question, required: true, maxlength: '1000' });
    const a = h('textarea', { rows: '3', required: true, maxlength: '8000' });
    const ok = h('button', { type: 'submit', class: 'primary small', i18n: 'un.add_faq.submit' });
    const form = h('form', { class: 'review-form' },
      field(`faq-q-${++formN}`, 'un.faq.question', q),
      field(`faq-a-${formN}`, 'un.faq.answer', a),
      h('div', { class: 'buttons' }, ok));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (await post(ok, { action: 'add_faq', question: q.value.trim(), answer: a.value.trim() })) done('un.added');
    });
    open(form);
  });
  const phr = h('button', { type: 'button', class: 'small', dataset: { action: 'add_phrasing' }, i18n: 'un.add_phrasing' });
  phr.addEventListener('click', () => {
    const q = h('input', { value: it.question, required: true, maxlength: '1000' });
    const find = h('button', { type: 'submit', class: 'small', i18n: 'un.find' });
    const hits = h('ul', { class: 'entry-hits' });
    const form = h('form', { class: 'review-form' },
      h('p', { class: 'muted small', i18n: 'un.phrasing.hint' }),
      h('div', { class: 'row' }, h('div', { class: 'field grow' }, field(`phr-q-${++formN}`, 'un.faq.question', q)), find),
      hits);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const res = await busy(find, () => api('POST', `${kbPath(kb)}/search`, { query: q.value.trim(), k: 10 }));
      if (!res) return;
      const entries = (res.hits || []).filter((x) => x.chunk && x.chunk.kind === 'faq').slice(0, 5);
      hits.replaceChildren(...(entries.length ? entries.map((x) => {
        const use = h('button', { type: 'button', class: 'primary small', i18n: 'un.use' });
        use.addEventListener('click', async () => {
          if (await post(use, { action: 'add_phrasing', question: q.value.trim(), doc_id: x.chunk.doc_id, chunk_id: x.chunk.chunk_id })) done('un.added');
        });
        return h('li', { dataset: { chunk: x.chunk.chunk_id } },
          h('strong', null, (x.chunk.questions || [])[0] || x.chunk.title || x.chunk.chunk_id), ' ',
          h('span', { class: 'muted small mono' }, x.chunk.doc_id), ' ', use,
          h('div', { class: 'muted small clip' }, x.chunk.text));
      }) : [h('li', { class: 'muted small', i18n: 'un.no_entries' })]));
    });
    open(form);
    form.requestSubmit();
  });
  const simple = (action, key, doneKey) => {
    const b = h('button', { type: 'button', class: 'ghost small', dataset: { action }, i18n: key });
    b.addEventListener('click', async () => { if (await post(b, { action })) done(doneKey); });
    return b;
  };
  return [
    faq, phr,
    simple('resolve', 'un.resolve', 'un.resolved'),
    simple('dismiss', 'un.dismiss', 'un.dismissed'),
    h('a', { class: 'button ghost small', href: ctx.href(kb, 'search', { q: it.question }), i18n: 'un.test' }),
    h('a', { class: 'button ghost small', href: ctx.href(kb, 'chat', { q: it.question }), i18n: 'un.ask' }),
  ];
}
