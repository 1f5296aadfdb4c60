// A KB's settings: description, confidence threshold and floor, sensitive
// words; the rest of its configuration read-only; delete.

import { t, fmtNum, fmtBytes } from '../i18n.js';
import { api, kbPath } from '../api.js';
import { h, field, busy, notify, confirmAction, time } from '../dom.js';

export async function render(root, ctx) {
  root.append(h('h1', { tabindex: '-1', i18n: ['settings.title', { name: ctx.kb }] }));
  const kb = await api('GET', kbPath(ctx.kb));
  if (ctx.stale()) return;
  const s = kb.settings || {};

  const desc = h('input', { value: kb.description || '', maxlength: '500', autocomplete: 'off' });
  const threshold = h('input', { type: 'number', min: '0', max: '1', step: '0.01', required: true, value: String(s.threshold ?? 0.85), inputmode: 'decimal' });
  const floor = h('input', { type: 'number', min: '0', max: '1', step: '0.01', required: true, value: String(s.floor ?? 0.4), inputmode: 'decimal' });
  const words = h('textarea', { rows: '5', spellcheck: 'false' });
  words.value = (s.sensitive_words || []).join('\n');
  const save = h('button', { type: 'submit', class: 'primary', i18n: 'common.save' });
  const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });

  const form = h('form', { class: 'card settings-form', 'aria-labelledby': 'settings-answer' },
    h('h2', { id: 'settings-answer', i18n: 'settings.answering' }),
    field('set-description', 'kbs.description', desc),
    h('div', { class: 'row' },
      field('set-threshold', 'settings.threshold', threshold, 'settings.threshold.hint'),
      field('set-floor', 'settings.floor', floor, 'settings.floor.hint')),
    field('set-words', 'settings.sensitive', words, 'settings.sensitive.hint'),
    error,
    h('div', { class: 'buttons' }, save));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const th = Number(threshold.value);
    const fl = Number(floor.value);
    if (!(th >= 0 && th <= 1 && fl >= 0 && fl <= 1 && fl <= th)) {
      error.hidden = false;
      error.textContent = t('settings.invalid');
      return;
    }
    const list = [...new Set(words.value.split(/[\n,，、]/).map((w) => w.trim()).filter(Boolean))];
    const body = { description: desc.value.trim(), settings: { threshold: th, floor: fl, sensitive_words: list } };
    const updated = await busy(save, () => api('PATCH', kbPath(ctx.kb), body));
    if (!updated) return;
    words.value = (updated.settings?.sensitive_words || list).join('\n');
    notify('common.saved');
  });

  const f = s.fusion || {};
  const c = s.chunking || {};
  const st = kb.stats || {};
  const info = h('section', { class: 'card', 'aria-labelledby': 'settings-info' },
    h('h2', { id: 'settings-info', i18n: 'settings.info' }),
    h('dl', { class: 'facts' },
      fact('settings.model', h('span', { class: 'mono' }, kb.model || '—')),
      fact('settings.dim', fmtNum(kb.dim)),
      fact('settings.fusion', `${f.method || '—'} · ${t('settings.vector_weight')} ${f.vector_weight ?? '—'}`),
      fact('settings.chunking', t('settings.chunk_tokens', { n: c.max_tokens || 0, o: c.overlap_tokens || 0 })),
      fact('settings.reranker', s.reranker || t('settings.off')),
      fact('settings.llm', s.llm ? `${s.llm.model} @ ${s.llm.base_url}` : t('settings.llm.global')),
      fact('kbs.col.documents', fmtNum(st.documents)),
      fact('kbs.col.chunks', fmtNum(st.chunks)),
      fact('kbs.col.size', fmtBytes(st.bytes)),
      fact('settings.created', time(kb.created_at))));

  const del = h('button', { type: 'button', class: 'danger', i18n: 'settings.delete' });
  del.addEventListener('click', async () => {
    if (!(await confirmAction(t('kbs.delete.confirm', { name: ctx.kb })))) return;
    const ok = await busy(del, () => api('DELETE', kbPath(ctx.kb)).then(() => true));
    if (!ok) return;
    notify('kbs.deleted', { name: ctx.kb });
    await ctx.refreshKBs();
    ctx.go('', 'kbs');
  });
  const danger = h('section', { class: 'card danger-zone', 'aria-labelledby': 'settings-danger' },
    h('h2', { id: 'settings-danger', i18n: 'settings.danger' }),
    h('p', { class: 'muted', i18n: 'settings.delete.hint' }),
    del);

  root.append(h('div', { class: 'grid-2' }, form, h('div', { class: 'stack' }, info, danger)));
}

function fact(key, value) {
  return [h('dt', { i18n: key }), h('dd', null, value)];
}
