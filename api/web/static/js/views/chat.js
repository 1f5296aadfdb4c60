// The chat playground: questions over the WebSocket chat protocol, the
// answer shown as it streams, then its citations, route, confidence and
// timings; follow-ups share a conversation id; thumbs up/down feedback.

import { api, kbPath, ChatSocket } from '../api.js';
import { h, setText, busy, badge, confClass } from '../dom.js';

// Each KB keeps its conversation (socket, log, id) while the console is open.
const sessions = new Map();

function session(kb) {
  let s = sessions.get(kb);
  if (!s) {
    const status = h('span', { class: 'conn', dataset: { state: 'idle' } });
    s = {
      kb,
      conversation: newConversationID(),
      log: h('div', { class: 'chat-log', id: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-busy': 'false', tabindex: '0', 'i18n-aria-label': 'chat.log' }),
      status,
      asking: null, // the id of the answer streaming now
      socket: null,
    };
    s.socket = new ChatSocket(kb, (state) => {
      status.dataset.state = state;
      setText(status, `chat.conn.${state}`);
    });
    setText(status, 'chat.conn.idle');
    sessions.set(kb, s);
  }
  return s;
}

/** A conversation id made here, so follow-ups work before any answer. */
function newConversationID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b); // randomUUID needs a secure context; this does not
  return `web-${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

export async function render(root, ctx) {
  const s = session(ctx.kb);
  const settings = ctx.kbs().find((k) => k.name === ctx.kb)?.settings;
  const convLabel = h('span', { class: 'mono small conv-id', title: s.conversation }, s.conversation.slice(0, 16));
  const reset = h('button', { type: 'button', class: 'ghost small', id: 'chat-new', i18n: 'chat.new' });
  reset.addEventListener('click', () => {
    if (s.asking) stop(s);
    s.conversation = newConversationID();
    convLabel.textContent = s.conversation.slice(0, 16);
    convLabel.title = s.conversation;
    if (s.log.querySelector('.msg')) s.log.append(h('div', { class: 'conv-divider', role: 'separator' }, h('span', { i18n: 'chat.new' })));
    stick(s.log);
    input.focus();
  });

  const input = h('textarea', { id: 'chat-input', rows: '2', maxlength: '4000', required: true, 'i18n-placeholder': 'chat.placeholder' });
  const send = h('button', { type: 'submit', class: 'primary', id: 'chat-send', i18n: 'chat.send' });
  const stopBtn = h('button', { type: 'button', class: 'ghost', id: 'chat-stop', i18n: 'chat.stop', hidden: true });
  const form = h('form', { class: 'composer', id: 'chat-form' },
    h('label', { for: 'chat-input', class: 'sr-only', i18n: 'chat.input' }),
    input,
    h('div', { class: 'composer-actions' }, stopBtn, send));

  const setBusy = (on) => {
    send.disabled = on;
    stopBtn.hidden = !on;
    s.log.setAttribute('aria-busy', on ? 'true' : 'false');
  };
  s.setBusy = setBusy; // the answer handlers call the current view's
  setBusy(!!s.asking);

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  stopBtn.addEventListener('click', () => stop(s));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q || s.asking) return;
    input.value = '';
    ask(s, q, settings, ctx);
  });

  if (!s.log.childElementCount) s.log.append(emptyHint());
  root.append(
    h('div', { class: 'chat-head' },
      h('h1', { tabindex: '-1', i18n: 'chat.title' }),
      h('div', { class: 'chat-tools' },
        s.status,
        h('span', { class: 'muted small', i18n: 'chat.conversation' }), convLabel,
        reset)),
    h('div', { class: 'chat card' }, s.log, form));
  s.log.scrollTop = s.log.scrollHeight;
  const q = ctx.params.get('q');
  if (q) input.value = q;
  input.focus();
}

function emptyHint() {
  return h('p', { class: 'chat-empty muted', i18n: 'chat.empty' });
}

function stop(s) {
  if (!s.asking) return;
  const id = s.asking;
  s.socket.cancel(id);
  s.current?.stopped();
  s.current = null;
  s.asking = null;
  s.setBusy(false);
}

function ask(s, question, settings, ctx) {
  s.log.querySelector('.chat-empty')?.remove();
  s.log.append(h('div', { class: 'msg user' },
    h('div', { class: 'who sr-only', i18n: 'chat.you' }),
    h('div', { class: 'bubble' }, question)));
  const m = botMessage(s, question, settings, ctx);
  s.log.append(m.el);
  s.log.scrollTop = s.log.scrollHeight;
  s.setBusy(true);
  s.current = m;
  const finish = () => {
    if (s.current === m) {
      s.asking = null;
      s.current = null;
      s.setBusy(false);
    }
  };
  s.asking = s.socket.ask(question, s.conversation, {
    delta: (text) => { m.delta(text); stick(s.log); },
    citations: (list) => { m.citations(list); stick(s.log); },
    done: (answer, type) => {
      if (answer.conversation_id) s.conversation = answer.conversation_id;
      m.done(answer, type);
      finish();
      stick(s.log);
    },
    error: (err) => { m.error(err); finish(); },
  });
  m.el.dataset.id = s.asking;
}

/** Keeps the log scrolled to the bottom while the user has not scrolled up. */
function stick(log) {
  if (log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
}

function botMessage(s, question, settings, ctx) {
  const textNode = document.createTextNode('');
  const text = h('div', { class: 'answer-text' }, textNode);
  const cites = h('ol', { class: 'citations', hidden: true });
  const meta = h('div', { class: 'meta', hidden: true });
  const extra = h('div', { class: 'extra' });
  const el = h('article', { class: 'msg bot streaming' },
    h('div', { class: 'who sr-only', i18n: 'chat.bot' }),
    h('div', { class: 'bubble' }, text, h('span', { class: 'typing', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), extra, meta, cites));
  let answerID = '';

  const showCitations = (list) => {
    cites.replaceChildren(...list.map((c) => h('li', { id: citeID(el, c.n), value: String(c.n || 1), dataset: { doc: c.doc_id || '', chunk: c.chunk_id || '' } },
      h('div', { class: 'cite-title' },
        c.url ? h('a', { href: c.url, target: '_blank', rel: 'noopener noreferrer' }, c.title || c.doc_id) : h('strong', null, c.title || c.doc_id),
        c.title && c.doc_id && c.title !== c.doc_id ? h('span', { class: 'muted small mono' }, ` ${c.doc_id}`) : null),
      c.snippet ? h('p', { class: 'snippet' }, c.snippet) : null)));
    cites.hidden = !list.length;
    if (list.length) cites.prepend(h('li', { class: 'cites-label', 'aria-hidden': 'true', i18n: 'chat.citations' }));
  };

  return {
    el,
    delta(piece) { textNode.appendData(piece); },
    citations: showCitations,
    done(a, type) {
      el.classList.remove('streaming');
      el.dataset.route = a.route || (type === 'handoff' ? 'handoff' : '');
      answerID = a.id || '';
      let body = a.text ?? textNode.data;
      if (a.disclaimer && body.endsWith(a.disclaimer)) body = body.slice(0, -a.disclaimer.length).trimEnd();
      text.replaceChildren(...linkCitations(body, el));
      if (a.disclaimer) extra.append(h('p', { class: 'disclaimer' }, a.disclaimer));
      if (a.citations) showCitations(a.citations);
      meta.hidden = false;
      const route = a.route || 'unknown';
      meta.append(...[
        badge(route, `chat.route.${route}`),
        route === 'handoff' ? null // nothing was retrieved
          : h('span', { class: `pill ${confClass(a.confidence ?? 0, settings)}`, i18n: ['chat.confidence', { c: (a.confidence ?? 0).toFixed(3) }] }),
        a.timings ? h('span', { class: 'muted small', i18n: ['chat.timings', { total: Math.round(a.timings.total_ms || 0), retrieve: Math.round(a.timings.retrieve_ms || 0) }] }) : null,
        a.cached ? h('span', { class: 'tag', i18n: 'chat.cached' }) : null,
        a.query && a.query !== question ? h('span', { class: 'muted small', i18n: ['chat.rewritten', { q: a.query }] }) : null,
        h('a', { class: 'small', href: ctx.href(s.kb, 'search', { q: a.query || question }), i18n: 'chat.hits' }),
        answerID ? feedback(s.kb, answerID) : null,
      ].filter(Boolean));
    },
    error(err) {
      el.classList.remove('streaming');
      el.classList.add('failed');
      extra.append(h('p', { class: 'form-error', role: 'alert' }, err.message, err.code ? h('code', null, ` ${err.code}`) : null));
    },
    stopped() {
      el.classList.remove('streaming');
      el.classList.add('stopped');
      extra.append(h('p', { class: 'muted small', i18n: 'chat.cancelled' }));
    },
  };
}

function citeID(el, n) {
  return `cite-${el.dataset.id || 'x'}-${n}`;
}

/** The answer text with each [n] linked to its citation below. */
function linkCitations(body, el) {
  const out = [];
  let last = 0;
  for (const m of body.matchAll(/\[(\d{1,2})\]/g)) {
    out.push(body.slice(last, m.index));
    out.push(h('a', { class: 'cite-ref', href: `#${citeID(el, m[1])}`, onclick: (e) => {
      e.preventDefault(); // the router owns the hash
      document.getElementById(citeID(el, m[1]))?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    } }, m[0]));
    last = m.index + m[0].length;
  }
  out.push(body.slice(last));
  return out;
}

function feedback(kb, answerID) {
  const up = h('button', { type: 'button', class: 'vote up', 'aria-pressed': 'false', 'i18n-aria-label': 'chat.feedback.up', 'i18n-title': 'chat.feedback.up' }, thumb(false));
  const down = h('button', { type: 'button', class: 'vote down', 'aria-pressed': 'false', 'i18n-aria-label': 'chat.feedback.down', 'i18n-title': 'chat.feedback.down' }, thumb(true));
  const box = h('span', { class: 'feedback' }, up, down);
  const send = async (vote, comment, button) => {
    const ok = await busy(button, () => api('POST', `${kbPath(kb)}/answers/${encodeURIComponent(answerID)}/feedback`, comment ? { vote, comment } : { vote }).then(() => true));
    if (!ok) return;
    up.setAttribute('aria-pressed', String(vote === 1));
    down.setAttribute('aria-pressed', String(vote === -1));
    up.disabled = down.disabled = true;
    box.append(h('span', { class: 'muted small thanks', i18n: 'chat.feedback.thanks' }));
  };
  up.addEventListener('click', () => send(1, '', up));
  down.addEventListener('click', () => {
    if (box.querySelector('form')) return;
    const comment = h('input', { maxlength: '1000', 'i18n-placeholder': 'chat.feedback.comment', 'i18n-aria-label': 'chat.feedback.comment' });
    const ok = h('button', { type: 'submit', class: 'small', i18n: 'chat.feedback.send' });
    const f = h('form', { class: 'feedback-form' }, comment, ok);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      await send(-1, comment.value.trim(), ok);
      f.remove();
    });
    box.append(f);
    comment.focus();
  });
  return box;
}

const SVG = 'http://www.w3.org/2000/svg'; // the SVG namespace, not a fetch

/** A thumb icon (inline SVG: emoji fonts are not everywhere). */
function thumb(down) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', 'M7 10v11H3V10h4zm2 11h8.3a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18.7 10H14l.9-4.4a1.6 1.6 0 0 0-2.8-1.4L9 9v12z');
  svg.append(path);
  if (down) svg.style.transform = 'rotate(180deg)';
  return svg;
}
