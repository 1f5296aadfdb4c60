// A small element builder, so views build the DOM from data without
// innerHTML (API text is never parsed as HTML), plus the toasts and the
// confirm dialog every view shares.

import { t, fmtTime } from './i18n.js';

/**
 * h('button', {class: 'primary', i18n: 'common.save', onclick: f}, ...children)
 *
 * Props: class; i18n (a key, or [key, args]) sets the translated text;
 * i18n-placeholder / i18n-aria-label / i18n-title translate an attribute;
 * on<event> adds a listener; dataset; DOM properties (value, checked,
 * disabled…) for non-string values; any other attribute as a string.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'i18n') setText(el, ...(Array.isArray(v) ? v : [v]));
    else if (k.startsWith('i18n-')) {
      const attr = k.slice(5);
      el.setAttribute(`data-i18n-${attr}`, v);
      el.setAttribute(attr, t(v));
    } else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (typeof v !== 'string' && k in el) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Sets el's text to the translation of key, kept in sync with the language. */
export function setText(el, key, args) {
  el.dataset.i18n = key;
  if (args) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, args);
  return el;
}

/** A <time> element that re-formats itself when the language changes. */
export function time(iso) {
  const el = h('time', { datetime: iso || '' });
  el.dataset.time = '';
  el.textContent = fmtTime(iso);
  return el;
}

/** Shows an error (an APIError or any Error) as a toast. */
export function showError(err) {
  const parts = [h('strong', { i18n: 'common.error' }), ' ', err.message || String(err)];
  if (err.code) parts.push(' ', h('code', null, err.code));
  if (err.requestId) parts.push(' ', h('span', { class: 'muted', i18n: ['common.request_id', { id: err.requestId }] }));
  toast(parts, 'error');
}

/** Shows a short notice; errors stay longer. */
function toast(content, kind = 'info') {
  const box = document.getElementById('toasts');
  const close = h('button', { type: 'button', class: 'toast-close', 'i18n-aria-label': 'common.close' }, '×');
  const el = h('div', { class: `toast ${kind}` }, h('div', { class: 'toast-body' }, content), close);
  close.addEventListener('click', () => el.remove());
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 12000 : 4000);
}

/** Shows a translated notice that follows language switches. */
export function notify(key, args) {
  toast(h('span', { i18n: [key, args] }));
}

/** Asks the user to confirm a destructive action; resolves true on OK. */
export function confirmAction(message) {
  const dlg = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = message;
  dlg.returnValue = '';
  dlg.showModal();
  document.getElementById('confirm-ok').focus();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
  });
}

/** A labelled form field: label + control (+ hint), ids wired for a11y. */
export function field(id, labelKey, control, hintKey) {
  control.id = id;
  const kids = [h('label', { for: id, i18n: labelKey }), control];
  if (hintKey) {
    const hint = h('small', { id: `${id}-hint`, class: 'hint', i18n: hintKey });
    control.setAttribute('aria-describedby', hint.id);
    kids.push(hint);
  }
  return h('div', { class: 'field' }, kids);
}

/** Runs an async action with button disabled, reporting its error. */
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** A status badge, e.g. a document status or an answer route. */
export function badge(kind, key, args) {
  return h('span', { class: `badge badge-${kind}`, i18n: [key, args] });
}

/** Formats a score in [0,1] (or a raw BM25 score) for tables. */
export function fmtScore(x) {
  if (x == null || Number.isNaN(x)) return '—';
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3);
}

/** Colours a confidence against the KB's threshold and floor. */
export function confClass(c, settings) {
  if (c >= (settings?.threshold ?? 0.85)) return 'good';
  if (c >= (settings?.floor ?? 0.4)) return 'warn';
  return 'bad';
}

/** Removes the error notices on screen (the page or the key changed). */
export function clearErrors() {
  for (const el of document.querySelectorAll('#toasts .toast.error')) el.remove();
}
