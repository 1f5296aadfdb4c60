// Conversations: every stored conversation of the KB, newest first, with
// filters (state, route, time, customer), pages, the JSONL export, and a
// conversation's transcript (?c=ID).

import { api, download } from '../api.js';
import { h, field, busy, time } from '../dom.js';
import { convPath, stateBadge, transcript, facts, who } from '../transcript.js';

const STATES = ['', 'bot', 'waiting', 'agent', 'resolved', 'closed'];
const ROUTES = ['', 'faq', 'generated', 'extractive', 'disclaimer', 'unknown', 'handoff', 'agent'];
const PAGE = 50;

export async function render(root, ctx) {
  const kb = ctx.kb;
  const p = ctx.params;
  if (p.get('c')) {
    await renderOne(root, ctx, p.get('c'));
    return;
  }
  const opt = (prefix, v) => h('option', { value: v, i18n: v ? `${prefix}${v}` : 'convs.any' });
  const state = h('select', { name: 'state' }, STATES.map((v) => opt('conv.state.', v)));
  const route = h('select', { name: 'route' }, ROUTES.map((v) => opt('conv.route.', v)));
  const since = h('input', { type: 'datetime-local', name: 'since' });
  const until = h('input', { type: 'datetime-local', name: 'until' });
  const user = h('input', { name: 'end_user', autocomplete: 'off', spellcheck: 'false', maxlength: '200' });
  state.value = p.get('state') || '';
  route.value = p.get('route') || '';
  since.value = p.get('since') || '';
  until.value = p.get('until') || '';
  user.value = p.get('end_user') || '';
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'convs.filter' });
  const exportBtn = h('button', { type: 'button', class: 'ghost', id: 'convs-export', i18n: 'convs.export' });
  const form = h('form', { class: 'card', id: 'convs-filter' },
    h('div', { class: 'row' },
      field('convs-state', 'conv.col.state', state),
      field('convs-route', 'convs.route', route),
      field('convs-since', 'convs.since', since),
      field('convs-until', 'convs.until', until),
      field('convs-user', 'conv.col.user', user),
      h('div', { class: 'field field-submit' }, submit)));
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'ghost', id: 'convs-more', hidden: true, i18n: 'convs.more' });
  const table = h('table', { class: 'table convs-table' },
    h('thead', null, h('tr', null,
      [['conv.col.user'], ['conv.col.state'], ['conv.col.channel', 'opt'], ['convs.messages', 'num'], ['conv.col.assignee', 'opt'], ['conv.col.updated']]
        .map(([k, c]) => h('th', { scope: 'col', class: c, i18n: k })))),
    body);
  const empty = h('p', { class: 'empty', hidden: true, i18n: 'convs.empty' });
  root.append(
    h('div', { class: 'chat-head' }, h('h1', { tabindex: '-1', i18n: 'convs.title' }), exportBtn),
    form,
    h('div', { class: 'card table-wrap' }, table, empty, h('div', { class: 'buttons' }, more)));

  // The filter as query parameters of the API (times as RFC 3339) and of
  // the page's hash (as typed).
  const filter = () => {
    const q = { kb };
    if (state.value) q.state = state.value;
    if (route.value) q.route = route.value;
    if (user.value.trim()) q.end_user = user.value.trim();
    for (const [k, el] of [['since', since], ['until', until]]) {
      if (el.value) q[k] = new Date(el.value).toISOString();
    }
    return q;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const hp = {};
    for (const el of [state, route, since, until, user]) if (el.value.trim()) hp[el.name] = el.value.trim();
    ctx.go(kb, 'conversations', hp);
  });
  exportBtn.addEventListener('click', () => busy(exportBtn,
    () => download(`/v1/conversations/export?${new URLSearchParams(filter())}`, `${kb}-conversations.jsonl`)));

  let next = null;
  const load = async () => {
    const q = { ...filter(), limit: String(PAGE) };
    if (next) Object.assign(q, { until: next.until, after: next.after });
    const res = await api('GET', `/v1/conversations?${new URLSearchParams(q)}`);
    if (ctx.stale()) return;
    for (const c of res.conversations || []) {
      body.append(h('tr', { dataset: { conv: c.id, state: c.state } },
        h('th', { scope: 'row' }, h('a', { href: ctx.href(kb, 'conversations', { c: c.id }), class: 'mono small' }, who(c)),
          c.trigger ? h('div', { class: 'muted small' }, c.trigger) : null),
        h('td', null, stateBadge(c.state)),
        h('td', { class: 'opt' }, c.channel),
        h('td', { class: 'num' }, String(c.messages || 0)),
        h('td', { class: 'opt' }, c.assignee || ''),
        h('td', null, time(c.updated_at))));
    }
    next = res.next || null;
    more.hidden = !next;
    empty.hidden = body.childElementCount > 0;
  };
  more.addEventListener('click', () => busy(more, load));
  await load();
}

async function renderOne(root, ctx, id) {
  const kb = ctx.kb;
  const view = await api('GET', convPath(kb, id));
  if (ctx.stale()) return;
  const c = view.conversation;
  const tr = transcript();
  for (const m of view.messages || []) tr.add(m);
  root.append(
    h('p', null, h('a', { href: ctx.href(kb, 'conversations'), i18n: 'convs.back' })),
    h('div', { class: 'chat-head' },
      h('h1', { tabindex: '-1', class: 'mono' }, who(c)),
      h('a', { class: 'button primary', id: 'conv-open-inbox', href: ctx.href(kb, 'inbox', { c: c.id }), i18n: 'convs.open_inbox' })),
    h('div', { class: 'grid-2 conv-view' },
      h('section', { class: 'card' }, h('h2', { i18n: 'convs.transcript' }), tr.el,
        (view.messages || []).length >= 1000 ? h('p', { class: 'muted small', i18n: 'convs.truncated' }) : null),
      h('section', { class: 'card' }, facts(c))));
}
