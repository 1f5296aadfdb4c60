// The chat widget for web sites: make a public key for this KB bound to the
// sites' origins, and copy the one script tag that embeds the widget. The
// key's secret is shown once, in the snippet; keys are managed on the Keys
// page.

import { t } from '../i18n.js';
import { api, auth } from '../api.js';
import { h, field, busy, time } from '../dom.js';
import { copyText } from './webhooks.js';

const LANGS = ['zh', 'en'];

/** The script tag that embeds the widget. */
export function snippet(kb, key, lang) {
  const src = `${location.origin}${location.pathname.replace(/[^/]*$/, '')}widget.js`; // served beside the console
  return `<script src="${src}" data-kb="${kb}" data-key="${key}" data-lang="${lang}" async></script>`;
}

export async function render(root, ctx) {
  const kb = ctx.kb;
  const admin = auth.devMode || (auth.scope === 'admin' && !auth.kb);
  const out = h('div', { id: 'widget-new' });
  root.append(
    h('h1', { tabindex: '-1', i18n: 'snippet.title' }),
    h('p', { class: 'muted', i18n: 'snippet.hint' }),
    h('p', { class: 'small' }, h('a', { href: '#/keys', i18n: 'snippet.keys' })));
  if (!admin) {
    root.append(h('p', { class: 'empty card', i18n: 'snippet.admin' }));
    return;
  }
  const list = h('section', { class: 'card', 'aria-labelledby': 'widget-keys-title' },
    h('h2', { id: 'widget-keys-title', i18n: 'snippet.keys.title' }));
  root.append(createForm(kb, out, () => fill(list, ctx)), out, list);
  await fill(list, ctx);
}

function createForm(kb, out, refresh) {
  const name = h('input', { maxlength: '200', autocomplete: 'off', value: `${kb} widget` });
  const origins = h('textarea', { rows: '3', required: true, spellcheck: 'false', placeholder: 'https://shop.example.com' });
  const lang = h('select', null, LANGS.map((l) => h('option', { value: l, i18n: `snippet.lang.${l}` })));
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'snippet.create.submit' });
  const form = h('form', { class: 'card', id: 'widget-form', 'aria-labelledby': 'widget-form-title' },
    h('h2', { id: 'widget-form-title', i18n: 'snippet.create' }),
    auth.devMode ? h('p', { class: 'form-error', i18n: 'snippet.devmode' }) : null,
    h('div', { class: 'row' },
      field('widget-name', 'snippet.name', name),
      field('widget-lang', 'snippet.lang', lang)),
    field('widget-origins', 'snippet.origins', origins, 'snippet.origins.hint'),
    h('div', { class: 'buttons' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const list = origins.value.split(/[\s,]+/).map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean);
    const res = await busy(submit, () => api('POST', '/v1/keys', { scope: 'public', kb, name: name.value.trim(), origins: list }));
    if (!res) return;
    const code = h('textarea', { class: 'snippet-box', id: 'widget-snippet', readonly: true, rows: '3', spellcheck: 'false', 'i18n-aria-label': 'snippet.code' });
    code.value = snippet(kb, res.key, lang.value);
    const copy = h('button', { type: 'button', class: 'primary small', id: 'widget-copy', i18n: 'common.copy' });
    copy.addEventListener('click', () => copyText(code));
    out.replaceChildren(h('div', { class: 'secret-once card', role: 'alert' },
      h('p', null, h('strong', { i18n: 'snippet.once' })), code, h('div', { class: 'buttons' }, copy)));
    code.select();
    await refresh();
  });
  return form;
}

async function fill(list, ctx) {
  const res = await api('GET', '/v1/keys');
  if (ctx.stale()) return;
  const keys = (res.keys || []).filter((k) => k.scope === 'public' && k.kb === ctx.kb);
  const title = list.firstElementChild;
  if (!keys.length) {
    list.replaceChildren(title, h('p', { class: 'empty', i18n: 'snippet.none' }));
    return;
  }
  const head = h('thead', null, h('tr', null,
    [['snippet.name'], ['snippet.origins'], ['snippet.created']].map(([k]) => h('th', { scope: 'col', i18n: k }))));
  const rows = keys.map((k) => h('tr', { dataset: { key: k.id } },
    h('th', { scope: 'row' }, k.name || '', h('div', { class: 'muted small mono' }, k.id)),
    h('td', { class: 'mono small' }, (k.origins || []).join(' ')),
    h('td', null, time(k.created_at))));
  list.replaceChildren(title,
    h('p', { class: 'muted small', i18n: 'snippet.lost' }),
    h('pre', { class: 'small' }, snippet(ctx.kb, t('snippet.placeholder'), 'zh')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, head, h('tbody', null, rows))));
}
