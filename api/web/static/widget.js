// kefu's chat widget: one script tag on any site, nothing else to load.
//
//   <script src="{kefu}/widget.js" data-kb="shop" data-key="kefu_…" data-lang="zh" async></script>
//
// where {kefu} is the server's address. Optional: data-user (the site's own id of the visitor, else one made and
// kept here), data-title, data-open="true" (open at once).
//
// It speaks the WebSocket chat protocol of the server it was loaded from
// (answers stream in; agent replies and changes of hands arrive live), with
// a public key bound to this page's origin. Where a proxy or firewall lets
// HTTP through but not WebSocket (two attempts that never open), it asks
// over HTTP with server-sent events instead (POST …/ask) and listens to the
// conversation's event stream (EventSource): the same answers and replies. Its DOM lives in a shadow root,
// so the page's CSS cannot reach it, and it shows API text as text only.
// The conversation id is kept in localStorage: a reload, or another tab,
// continues the conversation, its transcript read back from the server.
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || window.__kefuWidget) return;
  window.__kefuWidget = true;

  const cfg = script.dataset;
  const base = new URL(script.src, location.href);
  const kb = cfg.kb || '';
  const key = cfg.key || '';
  const kbPath = `${base.origin}/v1/kbs/${encodeURIComponent(kb)}`;
  const nav = (navigator.language || 'en').toLowerCase();
  const lang = cfg.lang === 'zh' || cfg.lang === 'en' ? cfg.lang : nav.startsWith('zh') ? 'zh' : 'en';

  const STRINGS = {
    en: {
      title: 'Customer service', open: 'Chat with us', close: 'Close chat', placeholder: 'Type your question…', send: 'Send',
      you: 'You', bot: 'Assistant', agent: 'Agent', sources: 'Sources', up: 'Helpful', down: 'Not helpful', thanks: 'Thanks!',
      waiting: 'A person will reply here soon. You can keep writing.', agentOn: '{name} is replying.', agentAnon: 'A person is replying.',
      resolved: 'This conversation was resolved. Ask anything else.', closed: 'This conversation is closed.',
      offline: 'Reconnecting…', failed: 'Not sent: {msg}', restart: 'New conversation', empty: 'Hello! How can we help?',
      nokb: 'The chat is not set up (data-kb and data-key are needed).',
    },
    zh: {
      title: '在线客服', open: '联系客服', close: '关闭对话', placeholder: '请输入您的问题…', send: '发送',
      you: '我', bot: '智能客服', agent: '人工客服', sources: '参考来源', up: '有帮助', down: '没帮助', thanks: '感谢反馈！',
      waiting: '人工客服稍后会在这里回复您，您可以继续留言。', agentOn: '客服 {name} 正在为您服务。', agentAnon: '人工客服正在为您服务。',
      resolved: '本次会话已解决，如有其他问题请继续提问。', closed: '本次会话已结束。',
      offline: '正在重新连接…', failed: '发送失败：{msg}', restart: '新对话', empty: '您好！请问有什么可以帮您？',
      nokb: '客服组件未配置（需要 data-kb 和 data-key）。',
    },
  };
  const t = (k, args) => (STRINGS[lang][k] || k).replace(/\{(\w+)\}/g, (m, a) => (args && a in args ? String(args[a]) : m));

  const store = {
    get(k) { try { return localStorage.getItem(k) || ''; } catch { return ''; } },
    set(k, v) { try { if (v) localStorage.setItem(k, v); else localStorage.removeItem(k); } catch { /* private mode */ } },
  };
  const CONV = `kefu:widget:${kb}:${key.slice(-8)}:conversation`;
  const VISITOR = 'kefu:widget:visitor';
  const OPEN = `kefu:widget:${kb}:open`;
  let visitor = cfg.user || store.get(VISITOR);
  if (!visitor) {
    const b = new Uint8Array(9);
    crypto.getRandomValues(b);
    visitor = `v_${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
    store.set(VISITOR, visitor);
  }

  // --- DOM ---
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) if (c != null && c !== false) e.append(c);
    return e;
  };

  const host = document.createElement('kefu-widget');
  host.setAttribute('style', 'all: initial !important; position: fixed !important; z-index: 2147483000 !important; right: 20px !important; bottom: 20px !important; display: block !important;');
  const root = host.attachShadow({ mode: 'open' });
  root.append(el('style', null, CSS()));

  const BUBBLE = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2h-7l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z';
  const THUMB = 'M7 10v11H3V10h4zm2 11h8.3a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18.7 10H14l.9-4.4a1.6 1.6 0 0 0-2.8-1.4L9 9v12z';
  const launcher = el('button', { type: 'button', class: 'launcher', 'aria-label': t('open'), title: t('open'), 'aria-expanded': 'false' }, icon(BUBBLE));
  const status = el('div', { class: 'status', hidden: true, role: 'status' });
  const log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite' });
  const input = el('textarea', { rows: '1', maxlength: '2000', placeholder: t('placeholder'), 'aria-label': t('placeholder') });
  const send = el('button', { type: 'submit', class: 'send' }, t('send'));
  const form = el('form', { class: 'composer' }, input, send);
  const restart = el('button', { type: 'button', class: 'link', title: t('restart') }, t('restart'));
  const close = el('button', { type: 'button', class: 'x', 'aria-label': t('close'), title: t('close') }, '×');
  const conn = el('span', { class: 'conn', hidden: true }, t('offline'));
  const panel = el('section', { class: 'panel', role: 'dialog', 'aria-label': cfg.title || t('title'), hidden: true, lang: lang === 'zh' ? 'zh-CN' : 'en' },
    el('header', null, el('strong', null, cfg.title || t('title')), conn, restart, close),
    status, log, form);
  root.append(panel, launcher);

  // --- conversation state ---
  let conversation = store.get(CONV);
  let convState = 'bot';
  let lastSeq = 0; // the newest message seq seen: join replays agent replies after it
  const seen = new Set(); // agent message seqs shown
  const pending = new Map(); // ask id → handlers
  let askN = 0;
  let ws = null;
  let retry = 0;
  let retryTimer = 0;
  let wsFailures = 0; // WebSocket attempts in a row that never opened
  let overHTTP = false; // WebSocket is blocked: ask over HTTP, listen with EventSource
  let events = null; // the conversation's EventSource, over HTTP
  let loaded = false;

  const scroll = () => { log.scrollTop = log.scrollHeight; };

  function line(role, text, extra) {
    const who = { customer: t('you'), bot: t('bot'), agent: t('agent') }[role] || '';
    const m = el('div', { class: `msg ${role}`, 'data-role': role },
      el('span', { class: 'who' }, extra && extra.author ? `${t('agent')} ${extra.author}` : who),
      el('div', { class: 'text' }, text || ''));
    log.querySelector('.empty')?.remove();
    log.append(m);
    scroll();
    return m;
  }

  function notice(text) {
    log.append(el('div', { class: 'notice' }, text));
    scroll();
  }

  function safeURL(u) {
    try {
      const x = new URL(u, location.href);
      return x.protocol === 'https:' || x.protocol === 'http:' ? x.href : '';
    } catch { return ''; }
  }

  function citations(m, list) {
    m.querySelector('.cites')?.remove();
    if (!list || !list.length) return;
    m.append(el('ol', { class: 'cites', 'aria-label': t('sources') }, list.slice(0, 5).map((c) => {
      const title = c.title || c.doc_id || '';
      const href = c.url ? safeURL(c.url) : '';
      return el('li', { value: String(c.n || 1), title: c.snippet || '' },
        href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, title) : title);
    })));
  }

  function votes(m, answerID) {
    const box = el('span', { class: 'votes' });
    const vote = (v) => async () => {
      for (const b of box.querySelectorAll('button')) b.disabled = true;
      try {
        await call('POST', `${kbPath}/answers/${encodeURIComponent(answerID)}/feedback`, { vote: v });
        box.replaceChildren(t('thanks'));
      } catch (err) {
        box.replaceChildren(t('failed', { msg: err.message }));
      }
    };
    box.append(el('button', { type: 'button', class: 'vote', 'aria-label': t('up'), title: t('up'), onclick: vote(1) }, icon(THUMB)),
      el('button', { type: 'button', class: 'vote down', 'aria-label': t('down'), title: t('down'), onclick: vote(-1) }, icon(THUMB)));
    m.append(box);
  }

  let holder = ''; // the agent who has the conversation
  function setState(state, assignee) {
    if ((convState === 'waiting' || convState === 'agent') && state === 'resolved') notice(t('resolved'));
    if (assignee !== undefined || state !== 'agent') holder = assignee || '';
    assignee = holder;
    convState = state || 'bot';
    host.dataset.state = convState;
    const text = { waiting: t('waiting'), agent: assignee ? t('agentOn', { name: assignee }) : t('agentAnon'), closed: t('closed') }[convState];
    status.hidden = !text;
    status.textContent = text || '';
    status.dataset.state = convState;
  }

  function remember(id) {
    if (!id || id === conversation) return;
    conversation = id;
    store.set(CONV, id);
  }

  function forget() {
    if (events) { events.close(); events = null; }
    conversation = '';
    store.set(CONV, '');
    lastSeq = 0;
    seen.clear();
    setState('bot');
  }

  // showAgent shows an agent's reply once, however often it arrives.
  function showAgent(msg) {
    if (!msg || msg.role !== 'agent' || seen.has(msg.seq)) return;
    seen.add(msg.seq);
    lastSeq = Math.max(lastSeq, msg.seq || 0);
    line('agent', msg.text, { author: msg.author });
  }

  // --- the API ---
  async function call(method, url, body) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), mode: 'cors', credentials: 'omit' });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // loadTranscript shows the stored conversation after a reload.
  async function loadTranscript() {
    if (!conversation) return;
    let view;
    try {
      view = await call('GET', `${kbPath}/conversations/${encodeURIComponent(conversation)}`);
    } catch (err) {
      if (err.status === 404) forget(); // purged, or another key's
      return;
    }
    for (const m of view.messages || []) {
      lastSeq = Math.max(lastSeq, m.seq || 0);
      if (m.role === 'customer') line('customer', m.text);
      else if (m.role === 'agent') showAgent(m);
      else if (m.role === 'bot' && m.text) {
        const b = line('bot', m.text);
        if (m.answer) citations(b, m.answer.citations);
      }
    }
    const c = view.conversation || {};
    setState(c.state, c.assignee);
  }

  function wsURL() {
    const u = new URL(`${kbPath}/chat`);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('access_token', key);
    return u.href;
  }

  function connect() {
    if (overHTTP) {
      listen();
      for (const [id, p] of pending) if (!p.sent) { p.sent = true; askHTTP(id, p); }
      return;
    }
    if (ws && ws.readyState <= WebSocket.OPEN) return;
    clearTimeout(retryTimer);
    const s = new WebSocket(wsURL());
    ws = s;
    let opened = false;
    s.addEventListener('open', () => {
      opened = true;
      retry = 0;
      wsFailures = 0;
      conn.hidden = true;
      if (conversation) s.send(JSON.stringify({ type: 'join', id: `j${++askN}`, conversation_id: conversation, after: lastSeq }));
      for (const p of pending.values()) if (!p.sent) { p.sent = true; s.send(JSON.stringify(p.msg)); }
    });
    s.addEventListener('message', (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      receive(m);
    });
    s.addEventListener('close', () => {
      if (ws === s) ws = null;
      if (!opened && ++wsFailures >= 2) {
        overHTTP = true;
        conn.hidden = true;
        connect();
        return;
      }
      for (const [id, p] of pending) if (p.sent) { pending.delete(id); p.fail(new Error(t('offline'))); }
      // Keep listening while a person may reply, or while the chat is open.
      if (!panel.hidden || convState === 'waiting' || convState === 'agent') {
        conn.hidden = false;
        retry = Math.min(retry + 1, 6);
        retryTimer = setTimeout(connect, 500 * 2 ** retry);
      }
    });
  }

  // listen follows the conversation's live events over HTTP: agents'
  // replies and changes of hands. EventSource reconnects by itself, sending
  // the last reply's seq back so none is missed.
  function listen() {
    if (!overHTTP || !conversation) return;
    if (events && events.conv === conversation && events.readyState !== EventSource.CLOSED) return;
    if (events) events.close();
    const u = new URL(`${kbPath}/conversations/${encodeURIComponent(conversation)}/events`);
    u.searchParams.set('access_token', key);
    u.searchParams.set('after', String(lastSeq));
    const es = new EventSource(u.href);
    es.conv = conversation;
    const data = (e) => { try { return JSON.parse(e.data); } catch { return null; } };
    es.addEventListener('message', (e) => showAgent(data(e)));
    es.addEventListener('state', (e) => {
      const st = data(e);
      if (st && st.conversation_id === conversation) setState(st.state, st.assignee);
    });
    events = es;
  }

  // askHTTP asks over HTTP, reading the answer's server-sent events as the
  // WebSocket's messages of the same names.
  async function askHTTP(id, p) {
    const fail = (err) => { if (pending.delete(id)) p.fail(err); };
    const { question, user, metadata } = p.msg;
    const body = { question, user, metadata };
    if (conversation) body.conversation_id = conversation;
    try {
      const res = await fetch(`${kbPath}/ask`, {
        method: 'POST', mode: 'cors', credentials: 'omit', body: JSON.stringify(body),
        headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
      });
      if (!res.ok || !res.body) {
        let msg = `HTTP ${res.status}`;
        try { msg = (await res.json()).error.message || msg; } catch { /* not JSON */ }
        if (res.status === 404 && conversation) forget();
        fail(new Error(msg));
        return;
      }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let name = 'message';
          let raw = '';
          for (const l of block.split('\n')) {
            if (l.startsWith('event:')) name = l.slice(6).trim();
            else if (l.startsWith('data:')) raw += l.slice(5).trimStart();
          }
          let d;
          try { d = JSON.parse(raw); } catch { continue; } // keep-alives have no data
          if (name === 'delta') receive({ type: 'delta', id, text: d.text });
          else if (name === 'citations') receive({ type: 'citations', id, citations: d });
          else if (name === 'done' || name === 'handoff') { receive({ type: name, id, answer: d }); listen(); }
          else if (name === 'error') receive({ type: 'error', id, code: d.code, message: d.message });
        }
      }
      fail(new Error(t('offline'))); // the stream ended without its answer
    } catch (err) {
      fail(err);
    }
  }

  function receive(m) {
    const p = pending.get(m.id);
    switch (m.type) {
      case 'delta': if (p) p.delta(m.text || ''); break;
      case 'citations': if (p) p.citations(m.citations); break;
      case 'done':
      case 'handoff':
        if (p) { pending.delete(m.id); p.done(m.answer || {}); }
        break;
      case 'message': if (m.conversation_id === conversation) showAgent(m.message); break;
      case 'state': if (m.conversation_id === conversation) setState(m.state, m.assignee); break;
      case 'error':
        if (p) { pending.delete(m.id); p.fail(new Error(m.message || m.code)); } else if (m.code === 'not_found') forget();
        break;
      default: break;
    }
  }

  function ask(question) {
    line('customer', question);
    const b = line('bot', '');
    b.classList.add('streaming');
    const text = b.querySelector('.text');
    const id = `a${++askN}`;
    const msg = { type: 'ask', id, question, user: visitor, metadata: { page: location.href.slice(0, 1000) } };
    if (conversation) msg.conversation_id = conversation;
    const p = {
      msg, sent: false,
      delta: (d) => { text.append(d); scroll(); },
      citations: (list) => citations(b, list),
      done: (a) => {
        b.classList.remove('streaming');
        remember(a.conversation_id);
        b.dataset.route = a.route || '';
        if (a.route === 'agent' && !a.text) b.remove(); // passed on to the person; the bot stays quiet
        else {
          text.textContent = a.text || text.textContent;
          if (a.route === 'agent' || a.route === 'handoff') b.classList.add('handoff');
          else if (a.id) votes(b, a.id);
        }
        if (a.state) setState(a.state);
        scroll();
      },
      fail: (err) => {
        b.classList.remove('streaming');
        b.classList.add('error');
        text.textContent = t('failed', { msg: err.message });
      },
    };
    pending.set(id, p);
    if (overHTTP) { p.sent = true; askHTTP(id, p); } else if (ws && ws.readyState === WebSocket.OPEN) { p.sent = true; ws.send(JSON.stringify(msg)); } else connect();
  }

  // --- events ---
  function open(on) {
    panel.hidden = !on;
    launcher.setAttribute('aria-expanded', String(on));
    host.dataset.open = String(on);
    try { sessionStorage.setItem(OPEN, on ? '1' : ''); } catch { /* not kept */ }
    if (!on) return;
    if (!kb || !key) { notice(t('nokb')); form.hidden = true; return; }
    if (!loaded) {
      loaded = true;
      if (!conversation) log.append(el('p', { class: 'empty' }, t('empty')));
    }
    connect();
    input.focus();
  }
  launcher.addEventListener('click', () => open(panel.hidden));
  close.addEventListener('click', () => open(false));
  restart.addEventListener('click', () => {
    forget();
    log.replaceChildren(el('p', { class: 'empty' }, t('empty')));
    input.focus();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    input.value = '';
    ask(q);
  });

  function start() {
    document.body.append(host);
    let wasOpen = false;
    try { wasOpen = sessionStorage.getItem(OPEN) === '1'; } catch { /* none */ }
    const ready = kb && key && conversation ? loadTranscript() : Promise.resolve();
    ready.then(() => {
      loaded = loaded || !!conversation;
      // A person may still reply: listen even while the panel is shut.
      if (convState === 'waiting' || convState === 'agent') connect();
      if (wasOpen || cfg.open === 'true') open(true);
    });
  }
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);

  // Icons are inline SVG: emoji fonts are not on every machine.
  function icon(d) {
    const ns = 'http://www.w3.org/2000/svg'; // a namespace, not a fetch
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
    return svg;
  }

  function CSS() {
    return `
:host { all: initial; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; background: #2563eb; color: #fff; cursor: pointer;
  box-shadow: 0 6px 20px rgba(0,0,0,.25); display: grid; place-items: center; margin-left: auto; }
.launcher svg { width: 26px; height: 26px; fill: currentColor; }
.launcher:focus-visible, button:focus-visible, textarea:focus-visible { outline: 2px solid #93c5fd; outline-offset: 2px; }
.panel { position: absolute; right: 0; bottom: 68px; width: 360px; height: 540px; max-height: calc(100vh - 100px);
  display: flex; flex-direction: column; background: #fff; color: #111827; border-radius: 14px; overflow: hidden;
  box-shadow: 0 12px 40px rgba(0,0,0,.25); font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; }
header { display: flex; align-items: center; gap: 8px; padding: 12px 14px; background: #2563eb; color: #fff; }
header strong { flex: 1; font-size: 15px; }
header button { background: none; border: 0; color: inherit; cursor: pointer; font: inherit; }
.x { font-size: 22px; line-height: 1; padding: 0 4px; }
.link { font-size: 12px; opacity: .85; text-decoration: underline; }
.conn { font-size: 12px; opacity: .9; }
.status { padding: 8px 14px; background: #fef3c7; color: #78350f; font-size: 13px; border-bottom: 1px solid #fde68a; }
.status[data-state="agent"] { background: #dcfce7; color: #14532d; border-color: #bbf7d0; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px; background: #f9fafb; }
.empty, .notice { color: #6b7280; text-align: center; font-size: 13px; margin: 8px 0; }
.msg { max-width: 85%; display: flex; flex-direction: column; gap: 2px; }
.who { font-size: 11px; color: #6b7280; }
.text { padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid #e5e7eb; }
.customer { align-self: flex-end; align-items: flex-end; }
.customer .text { background: #2563eb; color: #fff; border-color: #2563eb; }
.agent .text { background: #ecfdf5; border-color: #a7f3d0; }
.handoff .text { background: #fffbeb; border-color: #fde68a; }
.error .text { background: #fef2f2; border-color: #fecaca; color: #991b1b; }
.streaming .text:empty::after { content: "…"; color: #9ca3af; }
.cites { margin: 4px 0 0; padding-left: 20px; font-size: 12px; color: #4b5563; }
.cites a { color: #2563eb; }
.votes { font-size: 12px; color: #6b7280; }
.vote { background: none; border: 0; cursor: pointer; padding: 0 3px; opacity: .6; color: inherit; }
.vote svg { width: 15px; height: 15px; fill: currentColor; vertical-align: middle; }
.vote.down svg { transform: rotate(180deg); }
.vote:hover { opacity: 1; }
.composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }
textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 10px; padding: 8px 10px; font: inherit; color: inherit; background: #fff; max-height: 120px; }
.send { border: 0; border-radius: 10px; padding: 0 14px; background: #2563eb; color: #fff; font: inherit; cursor: pointer; }
@media (max-width: 480px) {
  .panel { position: fixed; inset: 0; width: auto; height: auto; max-height: none; border-radius: 0; }
}
@media (prefers-color-scheme: dark) {
  .panel { background: #111827; color: #f3f4f6; }
  .log { background: #0b1220; }
  .text, .composer, textarea { background: #1f2937; border-color: #374151; color: inherit; }
  .agent .text { background: #064e3b; border-color: #065f46; }
  .handoff .text { background: #451a03; border-color: #78350f; }
}`;
  }
})();
