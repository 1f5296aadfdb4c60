// Every string the console shows comes from strings.json: one table per
// language, the same keys in each. Elements carry their key in data-i18n (and
// data-i18n-args, data-i18n-placeholder, data-i18n-aria-label,
// data-i18n-title), so switching the language re-translates the page in place
// without reloading anything.

const STORAGE = 'kefu.lang';
const LANGS = ['en', 'zh'];

const table = await fetch(new URL('../strings.json', import.meta.url)).then((r) => {
  if (!r.ok) throw new Error(`strings.json: HTTP ${r.status}`);
  return r.json();
});

let lang = initial();
const listeners = new Set();

function stored() {
  try { return localStorage.getItem(STORAGE); } catch { return null; }
}

function initial() {
  const s = stored();
  if (LANGS.includes(s)) return s;
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return nav.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** The current language, "en" or "zh". */
export function getLang() { return lang; }

/** The BCP 47 tag of the current language, for <html lang> and Intl. */
function locale() { return lang === 'zh' ? 'zh-CN' : 'en'; }

/** Switches the language, remembers it and re-translates the document. */
export function setLang(l) {
  if (!LANGS.includes(l)) return;
  lang = l;
  try { localStorage.setItem(STORAGE, l); } catch { /* private mode: not remembered */ }
  document.documentElement.lang = locale();
  applyI18n(document);
  for (const f of listeners) f(l);
}

/** Calls f after every language switch. */
export function onLangChange(f) { listeners.add(f); }

/** Translates key, filling {name} placeholders from args. */
export function t(key, args) {
  let s = table[lang]?.[key] ?? table.en?.[key] ?? key;
  if (args) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in args ? fmtArg(args[k]) : m));
  return s;
}

function fmtArg(v) {
  if (typeof v === 'number') return new Intl.NumberFormat(locale(), { maximumFractionDigits: 3 }).format(v);
  return String(v);
}

const ATTRS = ['placeholder', 'aria-label', 'title'];

/** Re-translates every element under root that carries a key. */
export function applyI18n(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined;
    el.textContent = t(el.dataset.i18n, args);
  }
  for (const a of ATTRS) {
    for (const el of root.querySelectorAll(`[data-i18n-${a}]`)) el.setAttribute(a, t(el.getAttribute(`data-i18n-${a}`)));
  }
  for (const el of root.querySelectorAll('time[data-time]')) el.textContent = fmtTime(el.dateTime);
  if (root === document) document.title = t('app.title');
}

/** Formats an ISO time in the current language. */
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getFullYear() < 2000) return '—';
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

/** Formats a count in the current language. */
export function fmtNum(n) { return new Intl.NumberFormat(locale()).format(n ?? 0); }

/** Formats a byte count: 1.2 MB. */
export function fmtBytes(n) {
  n = n ?? 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: i ? 1 : 0 }).format(n)} ${units[i]}`;
}

document.documentElement.lang = locale();
