// The agents' inbox: the queue of conversations waiting for a person and
// those agents hold, kept live by the inbox event stream; a conversation's
// transcript, where an agent claims it, replies (delivered live to the
// customer), adds internal notes, hands it back to the bot, resolves or
// closes it.

import { api, auth, events } from '../api.js';
import { h, busy, setText, time } from '../dom.js';
import { convPath, stateBadge, transcript, facts, who } from '../transcript.js';

const NAME = 'kefu.agent';
const OPEN = ['waiting', 'agent'];

/** The name this agent acts as: chosen here, else the key's. */
function agentName() {
  let n = '';
  try { n = localStorage.getItem(NAME) || ''; } catch { /* none */ }
  return n || auth.agent || 'admin';
}

export async function render(root, ctx) {
  const kb = ctx.kb;
  const queue = new Map(); // id → conversation
  const unread = new Set();
  let selected = ctx.params.get('c') || '';
  let pane = null; // the open conversation's pane

  const live = h('span', { class: 'conn', id: 'inbox-live', dataset: { state: 'connecting' }, i18n: 'inbox.live.connecting' });
  const me = h('input', { id: 'inbox-agent', value: agentName(), maxlength: '100', autocomplete: 'off', class: 'small-input' });
  me.addEventListener('change', () => {
    try { localStorage.setItem(NAME, me.value.trim()); } catch { /* not kept */ }
    drawQueue();
  });
  const waitingList = h('ul', { class: 'queue-list', id: 'queue-waiting' });
  const agentList = h('ul', { class: 'queue-list', id: 'queue-agent' });
  const waitingCount = h('span', { class: 'tag' }, '0');
  const agentCount = h('span', { class: 'tag' }, '0');
  const right = h('section', { class: 'card inbox-pane', id: 'inbox-conv', 'aria-live': 'polite' },
    h('p', { class: 'empty', i18n: 'inbox.pick' }));

  root.append(
    h('div', { class: 'chat-head' },
      h('h1', { tabindex: '-1', i18n: 'inbox.title' }),
      h('div', { class: 'chat-tools' }, live,
        h('label', { for: 'inbox-agent', class: 'muted small', i18n: 'inbox.as' }), me)),
    h('div', { class: 'inbox' },
      h('aside', { class: 'card queue', 'aria-labelledby': 'queue-title' },
        h('h2', { id: 'queue-title', class: 'sr-only', i18n: 'inbox.queue' }),
        h('h3', null, h('span', { i18n: 'inbox.waiting' }), ' ', waitingCount), waitingList,
        h('h3', null, h('span', { i18n: 'inbox.held' }), ' ', agentCount), agentList),
      right));

  function drawQueue() {
    const mine = me.value.trim() || agentName();
    const item = (c) => {
      const b = h('button', { type: 'button', class: 'queue-item', 'aria-current': c.id === selected ? 'true' : 'false' },
        h('span', { class: 'queue-top' }, h('strong', { class: 'mono small' }, who(c)), time(c.updated_at)),
        h('span', { class: 'queue-sub muted small' },
          c.channel, c.trigger ? [' · ', h('span', { i18n: `inbox.trigger.${trigger(c.trigger)}` })] : null,
          c.assignee ? [' · ', c.assignee === mine ? h('span', { i18n: 'inbox.mine' }) : c.assignee] : null));
      b.addEventListener('click', () => select(c.id));
      return h('li', { dataset: { conv: c.id, state: c.state, unread: String(unread.has(c.id)) } }, b);
    };
    const all = [...queue.values()].sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || ''));
    const waiting = all.filter((c) => c.state === 'waiting');
    const held = all.filter((c) => c.state === 'agent');
    waitingList.replaceChildren(...(waiting.length ? waiting.map(item) : [h('li', { class: 'muted small', i18n: 'inbox.none' })]));
    agentList.replaceChildren(...(held.length ? held.map(item) : [h('li', { class: 'muted small', i18n: 'inbox.none' })]));
    waitingCount.textContent = String(waiting.length);
    agentCount.textContent = String(held.length);
  }

  function upsert(c) {
    if (!c || c.kb !== kb) return;
    if (OPEN.includes(c.state)) queue.set(c.id, c);
    else queue.delete(c.id);
    if (pane && pane.id === c.id) pane.update(c);
    drawQueue();
  }

  async function loadQueue() {
    const lists = await Promise.all(OPEN.map((st) => api('GET', `/v1/conversations?kb=${encodeURIComponent(kb)}&state=${st}&limit=200`)));
    queue.clear();
    for (const l of lists) for (const c of l.conversations || []) queue.set(c.id, c);
    drawQueue();
  }

  async function select(id) {
    selected = id;
    unread.delete(id);
    history.replaceState(null, '', ctx.href(kb, 'inbox', { c: id }));
    drawQueue();
    const view = await api('GET', convPath(kb, id));
    if (ctx.stale() || selected !== id) return;
    pane = conversationPane(kb, view, me);
    right.replaceChildren(pane.el);
  }

  await loadQueue();
  if (ctx.stale()) return;
  if (selected) select(selected).catch((err) => right.replaceChildren(h('p', { class: 'form-error' }, err.message)));

  // Live: every message and change of state of the KB's conversations.
  const es = events(`/v1/conversations/events?kb=${encodeURIComponent(kb)}`);
  ctx.onLeave(() => es.close());
  let ready = false;
  const setLive = (state) => {
    live.dataset.state = state;
    setText(live, `inbox.live.${state}`);
  };
  es.addEventListener('ready', () => {
    setLive('open');
    if (ready) { // a reconnect: catch up on what the stream missed
      loadQueue().catch(() => {});
      if (pane) pane.refresh();
    }
    ready = true;
  });
  es.addEventListener('error', () => setLive('connecting'));
  es.addEventListener('conversation', (e) => upsert(JSON.parse(e.data)));
  es.addEventListener('message', (e) => {
    const { conversation: c, message: m } = JSON.parse(e.data);
    if (pane && pane.id === m.conversation_id) pane.add(m);
    else if (m.role === 'customer') unread.add(m.conversation_id);
    upsert(c);
  });
}

const TRIGGERS = ['sensitive', 'request', 'unknown', 'thumbs_down', 'agent'];

function trigger(tr) { return TRIGGERS.includes(tr) ? tr : 'other'; }

/** The open conversation: facts, actions, transcript, composer. */
function conversationPane(kb, view, me) {
  let conv = view.conversation;
  const tr = transcript();
  for (const m of view.messages || []) tr.add(m);
  const head = h('div', { class: 'pane-head' });
  const actions = h('div', { class: 'buttons pane-actions' });
  const text = h('textarea', { id: 'inbox-text', rows: '3', maxlength: '8000', 'i18n-placeholder': 'inbox.placeholder', 'i18n-aria-label': 'inbox.placeholder' });
  const reply = h('button', { type: 'submit', class: 'primary', id: 'inbox-reply', i18n: 'inbox.reply' });
  const note = h('button', { type: 'button', class: 'ghost', id: 'inbox-note', i18n: 'inbox.note' });
  const form = h('form', { class: 'composer', id: 'inbox-form' }, text, h('div', { class: 'composer-actions' }, note, reply));
  const el = h('div', { class: 'pane', dataset: { conv: conv.id } }, head, actions, tr.el, form);

  const act = async (action, button, body = {}) => {
    const res = await busy(button, () => api('POST', `${convPath(kb, conv.id)}/${action}`, { agent: me.value.trim() || agentName(), ...body }));
    if (res && res.conversation) update(res.conversation);
    return res;
  };

  function update(c) {
    conv = c;
    el.dataset.state = c.state;
    head.replaceChildren(h('h2', { class: 'mono' }, who(c)), facts(c));
    const mine = c.assignee && c.assignee === (me.value.trim() || agentName());
    const btn = (action, key, cls, show) => {
      if (!show) return null;
      const b = h('button', { type: 'button', class: `${cls} small`, dataset: { action }, i18n: key });
      b.addEventListener('click', () => act(action, b, action === 'claim' && c.assignee && !mine ? { force: true } : {}));
      return b;
    };
    actions.replaceChildren(...[
      btn('claim', c.assignee && !mine ? 'inbox.take' : 'inbox.claim', 'primary', c.state !== 'closed' && !mine),
      btn('release', 'inbox.release', 'ghost', c.state === 'agent' || c.state === 'waiting'),
      btn('resolve', 'inbox.resolve', 'ghost', c.state !== 'resolved' && c.state !== 'closed'),
      btn('close', 'inbox.close', 'ghost danger-text', c.state !== 'closed'),
    ].filter(Boolean));
    form.hidden = c.state === 'closed';
  }
  update(conv);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const s = text.value.trim();
    if (!s) return;
    if (await act('reply', reply, { text: s })) text.value = '';
  });
  note.addEventListener('click', async () => {
    const s = text.value.trim();
    if (!s) { text.focus(); return; }
    if (await act('note', note, { text: s })) text.value = '';
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });

  const scrollDown = () => { tr.el.scrollTop = tr.el.scrollHeight; };
  queueMicrotask(scrollDown);
  return {
    el,
    id: conv.id,
    update,
    add(m) { if (tr.add(m)) scrollDown(); },
    async refresh() {
      const v = await api('GET', `${convPath(kb, conv.id)}?after=${tr.last()}`);
      for (const m of v.messages || []) tr.add(m);
      update(v.conversation);
      scrollDown();
    },
  };
}
