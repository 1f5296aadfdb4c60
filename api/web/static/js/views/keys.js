// API keys (admin keys of every KB only): the list, create (the secret is
// shown once, with a copy button) and revoke, through /v1/keys.

import { t } from '../i18n.js';
import { api, auth, getKey, setKey, loadAuth } from '../api.js';
import { h, field, busy, time, notify, confirmAction } from '../dom.js';

// The scopes this page makes keys of; public keys, which need their web
// origins, are made on the Widget page.
const SCOPES = ['query', 'ingest', 'agent', 'admin'];

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'keys.title' }), h('p', { class: 'muted', i18n: 'keys.intro' }));
  if (auth.devMode) root.append(h('p', { class: 'notice', id: 'keys-dev', i18n: 'keys.devmode' }));
  const list = h('section', { class: 'card', 'aria-labelledby': 'keys-list-title', id: 'keys-list' },
    h('h2', { id: 'keys-list-title', i18n: 'keys.list' }),
    h('p', { class: 'loading', i18n: 'common.loading' }));
  const secret = h('div', { class: 'secret-box', id: 'key-secret', hidden: true, 'aria-live': 'polite' });
  root.append(createForm(ctx, list, secret), secret, list);
  await fill(list, ctx);
}

function createForm(ctx, list, secretBox) {
  const scope = h('select', { name: 'scope' }, SCOPES.map((s) => h('option', { value: s, i18n: `keys.scope.${s}` })));
  if (auth.devMode) scope.value = 'admin'; // the first key ends development mode: it had better be an admin's
  const kb = h('select', { name: 'kb' },
    h('option', { value: '', i18n: 'keys.kb.all' }),
    ctx.kbs().map((k) => h('option', { value: k.name }, k.name)));
  const name = h('input', { name: 'name', autocomplete: 'off', maxlength: '200', 'i18n-placeholder': 'keys.name.placeholder' });
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'keys.create.submit' });
  const form = h('form', { class: 'card', id: 'create-key', 'aria-labelledby': 'create-key-title' },
    h('h2', { id: 'create-key-title', i18n: 'keys.create' }),
    h('div', { class: 'row' },
      field('key-scope', 'keys.scope', scope, 'keys.scope.hint'),
      field('key-kb', 'keys.kb', kb),
      field('key-name', 'keys.name', name),
      h('div', { class: 'field field-submit' }, submit)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { scope: scope.value };
    if (kb.value) body.kb = kb.value;
    if (name.value.trim()) body.name = name.value.trim();
    const wasDev = auth.devMode;
    const res = await busy(submit, () => api('POST', '/v1/keys', body));
    if (!res) return;
    name.value = '';
    showSecret(secretBox, res);
    if (wasDev && res.scope === 'admin' && !res.kb) {
      // Development mode ended with this key: this browser goes on with it.
      setKey(res.key);
      await loadAuth();
      ctx.authChanged();
    }
    if (!ctx.stale()) await fill(list, ctx);
  });
  return form;
}

/** Shows a new key's secret, once: it is not stored anywhere readable. */
function showSecret(box, res) {
  const value = h('input', { class: 'mono secret-value', readonly: true, value: res.key, spellcheck: 'false', 'i18n-aria-label': 'keys.secret' });
  const copied = h('span', { class: 'muted small', role: 'status' });
  const copy = h('button', { type: 'button', class: 'ghost', i18n: 'keys.copy' });
  copy.addEventListener('click', async () => {
    value.select();
    try {
      await navigator.clipboard.writeText(res.key);
    } catch {
      document.execCommand('copy'); // no clipboard API (plain http): copy the selection
    }
    copied.dataset.i18n = 'keys.copied';
    copied.textContent = t('keys.copied');
  });
  const done = h('button', { type: 'button', class: 'ghost', i18n: 'common.close', onclick: () => { box.hidden = true; box.replaceChildren(); } });
  box.replaceChildren(
    h('p', null, h('strong', { i18n: ['keys.created', { id: res.id, scope: res.scope }] })),
    h('p', { class: 'small', i18n: 'keys.once' }),
    h('div', { class: 'secret-row' }, value, copy, done),
    copied);
  box.hidden = false;
  value.focus();
  value.select();
}

async function fill(list, ctx) {
  const res = await api('GET', '/v1/keys');
  if (ctx.stale()) return;
  const title = list.firstElementChild;
  const keys = (res.keys || []).slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  if (!keys.length) {
    list.replaceChildren(title, h('p', { class: 'empty', i18n: 'keys.empty' }));
    return;
  }
  const head = h('thead', null, h('tr', null,
    [['keys.col.id'], ['keys.name'], ['keys.scope'], ['keys.kb'], ['keys.col.created', 'opt'], ['common.actions', 'actions']]
      .map(([k, c]) => h('th', { scope: 'col', class: c, i18n: k }))));
  const rows = keys.map((k) => {
    const revoke = h('button', { type: 'button', class: 'ghost danger-text small', i18n: 'keys.revoke' });
    revoke.addEventListener('click', async () => {
      if (!(await confirmAction(t('keys.revoke.confirm', { id: k.id, name: k.name || '—' })))) return;
      const ok = await busy(revoke, () => api('DELETE', `/v1/keys/${encodeURIComponent(k.id)}`).then(() => true));
      if (!ok) return;
      notify('keys.revoked', { id: k.id });
      if (!ctx.stale()) await fill(list, ctx);
    });
    return h('tr', { dataset: { key: k.id } },
      h('th', { scope: 'row', class: 'mono' }, k.id),
      h('td', null, k.name || '—'),
      h('td', null, h('span', { class: 'tag', i18n: `keys.scope.${k.scope}` })),
      h('td', null, k.kb ? h('span', { class: 'mono' }, k.kb) : h('span', { class: 'muted', i18n: 'keys.kb.all' })),
      h('td', { class: 'opt' }, time(k.created_at)),
      h('td', { class: 'actions' }, revoke));
  });
  list.replaceChildren(title,
    h('p', { class: 'muted small', i18n: ['keys.count', { n: keys.length }] }),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table keys-table' }, head, h('tbody', null, rows))),
    getKey() ? h('p', { class: 'muted small', i18n: 'keys.self' }) : null);
}
