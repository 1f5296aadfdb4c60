// The unanswered questions: asked below the KB's threshold, newest first,
// each a link to hit testing and to the chat playground.

import { api, kbPath } from '../api.js';
import { h, time, badge, confClass } from '../dom.js';

const LIMIT = 200;

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'un.title' }), h('p', { class: 'muted', i18n: 'un.hint' }));
  const res = await api('GET', `${kbPath(ctx.kb)}/unanswered?limit=${LIMIT}`);
  if (ctx.stale()) return;
  const qs = res.questions || [];
  if (!qs.length) {
    root.append(h('p', { class: 'empty card', i18n: 'un.empty' }));
    return;
  }
  const settings = ctx.kbs().find((k) => k.name === ctx.kb)?.settings;
  const head = h('thead', null, h('tr', null,
    [['un.col.question'], ['chat.route'], ['un.col.confidence', 'num'], ['un.col.time', 'opt'], ['common.actions', 'actions']]
      .map(([k, c]) => h('th', { scope: 'col', class: c, i18n: k }))));
  const rows = qs.map((r) => h('tr', null,
    h('th', { scope: 'row' }, r.question,
      r.query && r.query !== r.question ? h('div', { class: 'muted small', i18n: ['chat.rewritten', { q: r.query }] }) : null),
    h('td', null, badge(r.route, `chat.route.${r.route}`)),
    h('td', { class: 'num' }, h('span', { class: `pill ${confClass(r.confidence ?? 0, settings)}` }, (r.confidence ?? 0).toFixed(3))),
    h('td', { class: 'opt' }, time(r.at)),
    h('td', { class: 'actions' },
      h('a', { class: 'button ghost small', href: ctx.href(ctx.kb, 'search', { q: r.query || r.question }), i18n: 'un.test' }),
      h('a', { class: 'button ghost small', href: ctx.href(ctx.kb, 'chat', { q: r.question }), i18n: 'un.ask' }))));
  root.append(
    h('p', { class: 'muted small', i18n: ['un.count', { n: qs.length }] }),
    h('div', { class: 'card table-wrap' }, h('table', { class: 'table' }, head, h('tbody', null, rows))));
}
