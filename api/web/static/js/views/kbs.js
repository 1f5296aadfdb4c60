// Knowledge bases: the list with stats, create, delete.

import { t, fmtNum, fmtBytes } from '../i18n.js';
import { api, kbPath, auth } from '../api.js';
import { h, field, busy, time, notify, confirmAction } from '../dom.js';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: 'kbs.title' }));
  const list = h('section', { class: 'card', 'aria-labelledby': 'kbs-list-title' },
    h('h2', { id: 'kbs-list-title', class: 'sr-only', i18n: 'kbs.title' }),
    h('p', { class: 'loading', i18n: 'common.loading' }));
  if (!auth.scope || auth.scope === 'admin' || auth.devMode) root.append(createForm(ctx));
  root.append(list);
  await fill(list, ctx);
}

function createForm(ctx) {
  const name = h('input', { name: 'name', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: '63', pattern: '[a-z0-9][a-z0-9_\\-]{0,62}', 'i18n-placeholder': 'kbs.name.placeholder' });
  const desc = h('input', { name: 'description', autocomplete: 'off', maxlength: '500' });
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'kbs.create.submit' });
  const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'card create-kb', id: 'create-kb', 'aria-labelledby': 'create-kb-title' },
    h('h2', { id: 'create-kb-title', i18n: 'kbs.create' }),
    h('div', { class: 'row' },
      field('kb-name', 'kbs.name', name, 'kbs.name.hint'),
      field('kb-description', 'kbs.description', desc),
      h('div', { class: 'field field-submit' }, submit)),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    error.hidden = true;
    if (!NAME.test(n)) {
      error.hidden = false;
      error.textContent = t('kbs.name.invalid');
      name.focus();
      return;
    }
    const body = { name: n };
    if (desc.value.trim()) body.description = desc.value.trim();
    const kb = await busy(submit, () => api('POST', '/v1/kbs', body));
    if (!kb) return;
    notify('kbs.created', { name: kb.name || n });
    await ctx.refreshKBs();
    ctx.go(kb.name || n, 'documents');
  });
  return form;
}

async function fill(list, ctx) {
  const kbs = await ctx.refreshKBs();
  if (ctx.stale()) return;
  const title = list.firstElementChild;
  if (!kbs.length) {
    list.replaceChildren(title, h('p', { class: 'empty', i18n: 'kbs.empty' }));
    return;
  }
  const head = h('thead', null, h('tr', null,
    ['kbs.col.name', 'kbs.col.documents', 'kbs.col.chunks', 'kbs.col.vectors', 'kbs.col.size', 'kbs.col.model', 'kbs.col.updated', 'common.actions']
      .map((k, i) => h('th', { scope: 'col', class: i >= 1 && i <= 4 ? 'num' : ({ 5: 'opt', 6: 'opt', 7: 'actions' }[i] || null), i18n: k }))));
  const rows = kbs.map((kb) => {
    const s = kb.stats || {};
    const del = h('button', { type: 'button', class: 'ghost danger-text small', i18n: 'common.delete' });
    del.addEventListener('click', async () => {
      if (!(await confirmAction(t('kbs.delete.confirm', { name: kb.name })))) return;
      const ok = await busy(del, () => api('DELETE', kbPath(kb.name)).then(() => true));
      if (!ok) return;
      notify('kbs.deleted', { name: kb.name });
      await fill(list, ctx);
    });
    return h('tr', { dataset: { kb: kb.name } },
      h('th', { scope: 'row' },
        h('a', { href: ctx.href(kb.name, 'documents'), class: 'kb-name' }, kb.name),
        kb.description ? h('div', { class: 'muted small' }, kb.description) : null),
      h('td', { class: 'num' }, fmtNum(s.documents)),
      h('td', { class: 'num' }, fmtNum(s.chunks)),
      h('td', { class: 'num' }, fmtNum(s.vectors)),
      h('td', { class: 'num' }, fmtBytes(s.bytes)),
      h('td', { class: 'mono small opt' }, (kb.model || '').split('@')[0]),
      h('td', { class: 'opt' }, time(kb.updated_at)),
      h('td', { class: 'actions' },
        h('a', { class: 'button ghost small', href: ctx.href(kb.name, 'chat'), i18n: 'nav.chat' }),
        h('a', { class: 'button ghost small', href: ctx.href(kb.name, 'settings'), i18n: 'nav.settings' }),
        del));
  });
  list.replaceChildren(title, h('div', { class: 'table-wrap' }, h('table', { class: 'table kbs-table' }, head, h('tbody', null, rows))));
}
