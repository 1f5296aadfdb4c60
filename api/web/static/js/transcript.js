// A conversation as agents see it: the transcript (customer, bot, agent,
// internal notes and state events), the state badge, and the conversation's
// facts. Shared by the Conversations page and the Inbox.

import { h, badge, time } from './dom.js';
import { kbPath } from './api.js';

/** The API path of a conversation. */
export const convPath = (kb, id) => `${kbPath(kb)}/conversations/${encodeURIComponent(id)}`;

/** A state badge: bot, waiting, agent, resolved or closed. */
export function stateBadge(state) {
  return badge(`state-${state || 'bot'}`, `conv.state.${state || 'bot'}`);
}

/** The customer's id in the listing: the channel's end user, else none. */
export function who(conv) {
  return conv.end_user || conv.key_id || '—';
}

/**
 * A transcript element that messages can be added to live: add(m) shows a
 * message once (by seq) in order.
 */
export function transcript() {
  const el = h('ol', { class: 'transcript', role: 'log', 'aria-live': 'polite' });
  const seqs = new Set();
  return {
    el,
    add(m) {
      if (!m || seqs.has(m.seq)) return false;
      seqs.add(m.seq);
      const row = message(m);
      const after = [...el.children].reverse().find((c) => Number(c.dataset.seq) < m.seq);
      if (after) after.after(row);
      else el.prepend(row);
      return true;
    },
    last() { return Math.max(0, ...seqs); },
  };
}

function message(m) {
  const role = m.role || 'event';
  const props = { class: `tm tm-${role}`, dataset: { seq: String(m.seq), role } };
  if (role === 'event') {
    return h('li', props, h('span', { class: 'tm-event', i18n: [`conv.event.${eventName(m.event)}`, { agent: m.author || '' }] }), ' ', time(m.at));
  }
  const a = m.answer;
  const head = h('div', { class: 'tm-head' },
    h('strong', { i18n: `conv.role.${role}` }),
    m.author ? h('span', { class: 'muted small' }, ` ${m.author}`) : null,
    ' ', time(m.at),
    a && a.route ? badge(a.route, `conv.route.${routeName(a.route)}`) : null,
    a && a.route && a.route !== 'agent' && a.route !== 'handoff' ? h('span', { class: 'muted small' }, ` ${(a.confidence ?? 0).toFixed(3)}`) : null,
    m.vote ? h('span', { class: 'tag', i18n: m.vote > 0 ? 'conv.vote.up' : 'conv.vote.down' }) : null);
  const cites = a && a.citations && a.citations.length
    ? h('div', { class: 'muted small tm-cites' }, h('span', { i18n: 'chat.citations' }), ' ',
      a.citations.map((c) => `[${c.n}] ${c.title || c.doc_id}`).join(' · '))
    : null;
  const text = m.text || (role === 'bot' && a && a.route === 'agent' ? null : '');
  return h('li', props, head,
    text === null ? h('p', { class: 'muted small', i18n: 'conv.quiet' }) : h('p', { class: 'tm-text' }, text),
    cites);
}

const EVENTS = ['handoff', 'claimed', 'released', 'resolved', 'closed', 'reopened'];

function eventName(e) { return EVENTS.includes(e) ? e : 'other'; }

const ROUTES = ['faq', 'generated', 'extractive', 'disclaimer', 'unknown', 'handoff', 'agent'];

function routeName(r) { return ROUTES.includes(r) ? r : 'unknown'; }

/** The facts of a conversation: channel, customer, assignee, trigger, times. */
export function facts(conv) {
  const row = (k, v) => (v ? [h('dt', { i18n: k }), h('dd', null, v)] : null);
  return h('dl', { class: 'facts conv-facts' },
    row('conv.col.state', stateBadge(conv.state)),
    row('conv.col.channel', conv.channel),
    row('conv.col.user', conv.end_user),
    row('conv.col.assignee', conv.assignee),
    row('conv.col.trigger', conv.trigger),
    row('conv.col.created', time(conv.created_at)),
    row('conv.col.updated', time(conv.updated_at)),
    conv.metadata && conv.metadata.page ? row('conv.col.page', h('span', { class: 'mono small' }, conv.metadata.page)) : null,
    row('conv.col.id', h('span', { class: 'mono small' }, conv.id)));
}
