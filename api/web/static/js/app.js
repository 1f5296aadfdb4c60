// The console's shell: the header (KB picker, language, key), the tabs and a
// hash router. Routes: #/ (knowledge bases), #/keys (API keys, admin only)
// and #/kb/{name}/{page}[?q=…] where page is documents, search, chat,
// conversations, inbox, unanswered, webhooks, widget, eval or settings. A
// page the key's scope may not see says so instead of loading; error
// notices are cleared when the page or the key changes.

import { t, getLang, setLang, applyI18n, onLangChange } from './i18n.js';
import { api, auth, loadAuth, getKey, setKey, onUnauthorized } from './api.js';
import { h, setText, showError, clearErrors } from './dom.js';
import * as kbsView from './views/kbs.js';
import * as documentsView from './views/documents.js';
import * as searchView from './views/search.js';
import * as chatView from './views/chat.js';
import * as unansweredView from './views/unanswered.js';
import * as evalView from './views/eval.js';
import * as settingsView from './views/settings.js';
import * as conversationsView from './views/conversations.js';
import * as inboxView from './views/inbox.js';
import * as webhooksView from './views/webhooks.js';
import * as widgetView from './views/widget.js';
import * as keysView from './views/keys.js';

const views = {
  kbs: kbsView,
  documents: documentsView,
  search: searchView,
  chat: chatView,
  unanswered: unansweredView,
  eval: evalView,
  settings: settingsView,
  conversations: conversationsView,
  inbox: inboxView,
  webhooks: webhooksView,
  widget: widgetView,
  keys: keysView,
};

// The scope each page needs, and whether it needs a key for every KB
// rather than one KB's. The server decides in the end: a page it refuses
// (403) says so the same way.
const needs = {
  kbs: { scope: 'query' },
  documents: { scope: 'ingest' },
  search: { scope: 'query' },
  chat: { scope: 'query' },
  conversations: { scope: 'agent' },
  inbox: { scope: 'agent' },
  unanswered: { scope: 'ingest' },
  webhooks: { scope: 'admin' },
  widget: { scope: 'query' },
  eval: { scope: 'ingest' },
  settings: { scope: 'query' },
  keys: { scope: 'admin', allKBs: true },
};

// The scopes each scope includes, as kefu.Scope.Includes has them: admin
// all; ingest and agent query; query public.
const INCLUDES = {
  admin: ['admin', 'ingest', 'agent', 'query', 'public'],
  ingest: ['ingest', 'query', 'public'],
  agent: ['agent', 'query', 'public'],
  query: ['query', 'public'],
  public: ['public'],
};
const includes = (have, need) => (INCLUDES[have] || []).includes(need);

/** Whether the key in use may see page (of kb): dev mode sees everything. */
function allowed(page, kb) {
  if (auth.devMode) return true;
  const n = needs[page];
  if (!includes(auth.scope, n.scope)) return false;
  if (auth.kb && (n.allKBs || (kb && kb !== auth.kb))) return false;
  return true;
}

const main = document.getElementById('main');
const kbSelect = document.getElementById('kb-select');
const STORAGE_KB = 'kefu.kb';

let kbs = [];
let current = ''; // the selected KB
let renderSeq = 0;
let leaving = []; // what the current view stops when another replaces it (live streams)

/** Parses the hash into {page, kb, params}. */
function parseRoute(hash = location.hash) {
  const [path, query = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  if (path === '/keys') return { page: 'keys', kb: '', params };
  const m = path.match(/^\/kb\/([^/]+)\/([a-z]+)\/?$/);
  if (m && views[m[2]] && m[2] !== 'kbs' && m[2] !== 'keys') return { page: m[2], kb: decodeURIComponent(m[1]), params };
  return { page: 'kbs', kb: '', params };
}

/** The hash of a KB page, with optional query parameters. */
function href(kb, page, params) {
  if (page === 'keys') return '#/keys';
  if (page === 'kbs' || !kb) return '#/';
  const q = params ? `?${new URLSearchParams(params)}` : '';
  return `#/kb/${encodeURIComponent(kb)}/${page}${q}`;
}

/** Goes to a page (the router renders it). */
function go(kb, page, params) {
  const target = href(kb, page, params);
  if (location.hash === target) render();
  else location.hash = target;
}

/** Re-reads the KB list into the picker; returns it. */
async function refreshKBs() {
  try {
    const res = await api('GET', '/v1/kbs');
    kbs = res.kbs || [];
  } catch (err) {
    kbs = [];
    if (err.status !== 401) showError(err);
  }
  fillPicker();
  return kbs;
}

function fillPicker() {
  const opts = kbs.map((k) => h('option', { value: k.name }, k.name));
  if (!kbs.length) opts.push(h('option', { value: '', i18n: 'kb.none' }));
  kbSelect.replaceChildren(...opts);
  kbSelect.disabled = !kbs.length;
  if (current && !kbs.some((k) => k.name === current)) current = '';
  if (!current && kbs.length) current = remembered() || kbs[0].name;
  kbSelect.value = current;
  updateTabs(parseRoute().page);
}

function remembered() {
  let k = '';
  try { k = localStorage.getItem(STORAGE_KB) || ''; } catch { /* none */ }
  return kbs.some((x) => x.name === k) ? k : '';
}

function select(kb) {
  current = kb;
  try { localStorage.setItem(STORAGE_KB, kb); } catch { /* not remembered */ }
}

function updateTabs(page) {
  for (const a of document.querySelectorAll('#tabs a')) {
    const p = a.dataset.page;
    const needsKB = a.hasAttribute('data-kb');
    a.href = needsKB ? href(current, p) : href('', p);
    // The keys page is for admin keys of every KB only.
    if (p === 'keys') a.hidden = !allowed('keys', '');
    if (needsKB && !current) a.setAttribute('aria-disabled', 'true');
    else a.removeAttribute('aria-disabled');
    if (p === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // On a narrow screen the tabs scroll: keep the current one in view.
  const tabs = document.getElementById('tabs');
  const cur = tabs.querySelector('[aria-current="page"]');
  if (cur && tabs.scrollWidth > tabs.clientWidth) {
    tabs.scrollLeft = cur.offsetLeft - (tabs.clientWidth - cur.offsetWidth) / 2;
  }
}

/** Renders the page the hash names. */
async function render({ focus = false } = {}) {
  const seq = ++renderSeq;
  for (const f of leaving.splice(0)) f();
  const route = parseRoute();
  clearErrors(); // a new page: the last one's errors are no longer news
  if (route.kb) {
    if (!kbs.some((k) => k.name === route.kb)) await refreshKBs();
    select(route.kb);
    kbSelect.value = route.kb;
  }
  updateTabs(route.page);
  const view = views[route.page];
  const root = h('div', { class: `view view-${route.page}` });
  main.replaceChildren(root);
  const ctx = {
    kb: route.kb,
    params: route.params,
    kbs: () => kbs,
    stale: () => seq !== renderSeq,
    go,
    href,
    refreshKBs,
    onLeave: (f) => { if (seq === renderSeq) leaving.push(f); else f(); },
    authChanged: () => { showAuth(); updateTabs(route.page); },
  };
  if (!allowed(route.page, route.kb)) {
    root.append(forbidden(route.page, route.kb));
    if (focus) root.querySelector('h1')?.focus({ preventScroll: false });
    return;
  }
  try {
    await view.render(root, ctx);
  } catch (err) {
    if (ctx.stale()) return;
    if (err.status === 403) { // the server knows better than needs: say so the same way
      root.replaceChildren(forbidden(route.page, route.kb, err.message));
      return;
    }
    showError(err);
    root.append(h('p', { class: 'empty', i18n: 'common.failed' }));
  }
  if (focus && !ctx.stale()) root.querySelector('h1')?.focus({ preventScroll: false });
}

/** The notice of a page the key may not see, with what would see it. */
function forbidden(page, kb, detail) {
  const n = needs[page];
  const what = t(`nav.${page}`);
  let need = n.allKBs ? 'auth.need.admin_all' : `auth.need.${n.scope}`;
  if (!detail && auth.kb && kb && kb !== auth.kb && includes(auth.scope, n.scope)) need = 'auth.need.kb';
  if (!auth.scope) need = 'auth.need.key';
  return h('section', { class: 'card forbidden', role: 'status', dataset: { page, detail: detail || '' } },
    h('h1', { tabindex: '-1', i18n: ['auth.forbidden', { page: what }] }),
    h('p', { i18n: [need, { scope: auth.scope || '', kb: auth.kb || '' }] }),
    detail ? h('p', { class: 'muted small' }, detail) : null,
    h('button', { type: 'button', class: 'primary', i18n: 'auth.use_other', onclick: () => askKey() }));
}

// --- API key dialog ---

const keyDialog = document.getElementById('key-dialog');
const keyInput = document.getElementById('key-input');
const keyError = document.getElementById('key-error');
let keyOpen = false;

function askKey(err) {
  if (auth.devMode && !err) return;
  if (err && getKey()) { // the key in use was refused
    keyError.hidden = false;
    keyError.textContent = err.message;
  } else keyError.hidden = true;
  if (keyOpen) return; // keep what the user is typing
  keyInput.value = '';
  keyOpen = true;
  keyDialog.showModal();
  keyInput.focus();
}

const keySubmit = document.querySelector('#key-form button[type=submit]');
document.getElementById('key-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const k = keyInput.value.trim();
  if (!k || keySubmit.disabled) return;
  keySubmit.disabled = true;
  keyError.hidden = true;
  const prev = getKey();
  setKey(k);
  try {
    await loadAuth();
    if (!auth.devMode && !auth.scope) throw new Error(t('auth.invalid'));
  } catch (err) {
    setKey(prev); // keep only a key the server accepted
    keyError.hidden = false;
    keyError.textContent = err.message;
    return;
  } finally {
    keySubmit.disabled = false;
  }
  keyOpen = false;
  keyDialog.close();
  clearErrors(); // another key: the last one's refusals are moot
  showAuth();
  await refreshKBs();
  render();
});

document.getElementById('key-forget').addEventListener('click', () => {
  setKey('');
  keyInput.value = '';
  keyInput.focus();
});

keyDialog.addEventListener('cancel', (e) => {
  if (!auth.devMode && !getKey()) e.preventDefault(); // nothing works without one
  else keyOpen = false;
});
keyDialog.addEventListener('close', () => { keyOpen = false; });

document.getElementById('key-button').addEventListener('click', () => askKey());

function showAuth() {
  const el = document.getElementById('auth-status');
  document.getElementById('key-button').hidden = auth.devMode;
  if (auth.devMode) setText(el, 'auth.dev');
  else if (auth.scope) setText(el, auth.kb ? 'auth.scope_kb' : 'auth.scope', { scope: auth.scope, kb: auth.kb });
  else el.textContent = '';
}

// --- language ---

const langButton = document.getElementById('lang-toggle');
langButton.addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));
onLangChange(() => {
  fillPicker();
  // The notice names the page in the language it was made in: make it again.
  const f = main.querySelector('.forbidden');
  if (f) f.replaceWith(forbidden(f.dataset.page, parseRoute().kb, f.dataset.detail));
});

kbSelect.addEventListener('change', () => {
  select(kbSelect.value);
  const r = parseRoute();
  go(kbSelect.value, r.page === 'kbs' ? 'documents' : r.page);
});

// Tabs that need a KB do nothing until there is one.
document.getElementById('tabs').addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (a && a.getAttribute('aria-disabled') === 'true') e.preventDefault();
});

window.addEventListener('hashchange', () => render({ focus: true }));
onUnauthorized((err) => askKey(err));

async function boot() {
  applyI18n(document);
  try {
    await loadAuth();
  } catch (err) {
    showError(err);
  }
  showAuth();
  if (!auth.devMode && !getKey()) askKey();
  await refreshKBs();
  await render();
}

boot();
