// Webhook settings (admin): the subscriptions for this KB and for every KB,
// each with its last delivery's status; create one (its signing secret is
// shown once), ping, rotate the secret, delete; the delivery log with each
// attempt, and redelivery.

import { t } from '../i18n.js';
import { api } from '../api.js';
import { h, field, busy, time, notify, confirmAction, badge } from '../dom.js';

const EVENTS = ['handoff.requested', 'conversation.message', 'conversation.resolved', 'answer.unknown', 'feedback.created', 'document.ingested'];
const DELIVERY_STATES = ['pending', 'delivered', 'dead'];
const LOG = 20;
const REFRESH_MS = 2000;

export async function render(root, ctx) {
  const kb = ctx.kb;
  const secretBox = h('div', { id: 'webhook-secret' });
  const list = h('section', { class: 'card', 'aria-labelledby': 'webhooks-list-title' },
    h('h2', { id: 'webhooks-list-title', i18n: 'hooks.list' }),
    h('p', { class: 'loading', i18n: 'common.loading' }));
  root.append(
    h('h1', { tabindex: '-1', i18n: 'hooks.title' }),
    h('p', { class: 'muted', i18n: 'hooks.hint' }),
    createForm(kb, secretBox, () => fill(list, ctx, secretBox)),
    secretBox,
    list);
  await fill(list, ctx, secretBox);
}

function createForm(kb, secretBox, refresh) {
  const url = h('input', { type: 'url', required: true, placeholder: 'https://', autocomplete: 'off', maxlength: '2000' });
  const scope = h('select', null,
    h('option', { value: kb, i18n: ['hooks.scope.kb', { kb }] }),
    h('option', { value: '', i18n: 'hooks.scope.all' }));
  const desc = h('input', { maxlength: '500', autocomplete: 'off' });
  const boxes = EVENTS.map((e) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'event', value: e, checked: e !== 'conversation.message' }), ' ', h('code', null, e)));
  const submit = h('button', { type: 'submit', class: 'primary', i18n: 'hooks.create.submit' });
  const error = h('p', { class: 'form-error', hidden: true, role: 'alert' });
  const form = h('form', { class: 'card', id: 'webhook-form', 'aria-labelledby': 'webhook-form-title' },
    h('h2', { id: 'webhook-form-title', i18n: 'hooks.create' }),
    h('div', { class: 'row' },
      h('div', { class: 'field grow' }, field('webhook-url', 'hooks.url', url)),
      field('webhook-scope', 'hooks.scope', scope),
      field('webhook-desc', 'hooks.description', desc)),
    h('fieldset', { class: 'events' }, h('legend', { i18n: 'hooks.events' }), boxes),
    h('div', { class: 'buttons' }, submit),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!events.length) {
      error.hidden = false;
      error.textContent = t('hooks.events.none');
      return;
    }
    const body = { url: url.value.trim(), events, kb: scope.value };
    if (desc.value.trim()) body.description = desc.value.trim();
    const res = await busy(submit, () => api('POST', '/v1/webhooks', body));
    if (!res) return;
    url.value = '';
    desc.value = '';
    showSecret(secretBox, res.webhook, res.secret);
    await refresh();
  });
  return form;
}

/** Shows a signing secret, which the server returns this once. */
function showSecret(box, sub, secret) {
  const input = h('input', { class: 'mono', readonly: true, value: secret, id: 'webhook-secret-value', 'i18n-aria-label': 'hooks.secret' });
  const copy = h('button', { type: 'button', class: 'small', i18n: 'common.copy' });
  copy.addEventListener('click', () => copyText(input));
  const hide = h('button', { type: 'button', class: 'ghost small', i18n: 'common.close' });
  hide.addEventListener('click', () => box.replaceChildren());
  box.replaceChildren(h('div', { class: 'secret-once', role: 'alert' },
    h('p', null, h('strong', { i18n: ['hooks.secret.once', { url: sub.url }] })),
    h('div', { class: 'row' }, h('div', { class: 'field grow' }, input), copy, hide)));
  input.select();
}

/** Copies an input's text, with the selection as the fallback. */
export async function copyText(input) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    notify('common.copied');
  } catch {
    document.execCommand?.('copy'); // http pages have no clipboard API
    notify('common.copied');
  }
}

async function fill(list, ctx, secretBox) {
  const kb = ctx.kb;
  const res = await api('GET', '/v1/webhooks');
  if (ctx.stale()) return;
  const subs = (res.webhooks || []).filter((s) => !s.kb || s.kb === kb);
  const title = list.firstElementChild;
  if (!subs.length) {
    list.replaceChildren(title, h('p', { class: 'empty', i18n: 'hooks.empty' }));
    return;
  }
  const rows = [];
  for (const sub of subs) {
    const last = h('span', { class: 'muted small' }, '—');
    const logRow = h('tr', { class: 'log-row', hidden: true }, h('td', { colspan: '5' }));
    const toggle = h('button', { type: 'button', class: 'ghost small', 'aria-expanded': 'false', dataset: { action: 'log' }, i18n: 'hooks.log' });
    toggle.addEventListener('click', async () => {
      const open = logRow.hidden;
      toggle.setAttribute('aria-expanded', String(open));
      logRow.hidden = !open;
      if (open) await deliveries(logRow.firstElementChild, sub, ctx);
    });
    const ping = h('button', { type: 'button', class: 'ghost small', dataset: { action: 'ping' }, i18n: 'hooks.ping' });
    ping.addEventListener('click', async () => {
      if (!(await busy(ping, () => api('POST', `/v1/webhooks/${encodeURIComponent(sub.id)}/ping`)))) return;
      notify('hooks.pinged');
      if (!logRow.hidden) await deliveries(logRow.firstElementChild, sub, ctx);
    });
    const rotate = h('button', { type: 'button', class: 'ghost small', dataset: { action: 'rotate' }, i18n: 'hooks.rotate' });
    rotate.addEventListener('click', async () => {
      if (!(await confirmAction(t('hooks.rotate.confirm', { url: sub.url })))) return;
      const r = await busy(rotate, () => api('POST', `/v1/webhooks/${encodeURIComponent(sub.id)}/rotate`));
      if (r) showSecret(secretBox, r.webhook, r.secret);
    });
    const del = h('button', { type: 'button', class: 'ghost danger-text small', dataset: { action: 'delete' }, i18n: 'common.delete' });
    del.addEventListener('click', async () => {
      if (!(await confirmAction(t('hooks.delete.confirm', { url: sub.url })))) return;
      const ok = await busy(del, () => api('DELETE', `/v1/webhooks/${encodeURIComponent(sub.id)}`).then(() => true));
      if (!ok) return;
      notify('hooks.deleted');
      await fill(list, ctx, secretBox);
    });
    rows.push(h('tr', { dataset: { webhook: sub.id } },
      h('th', { scope: 'row' }, h('span', { class: 'mono small' }, sub.url),
        sub.description ? h('div', { class: 'muted small' }, sub.description) : null,
        sub.disabled ? h('span', { class: 'tag', i18n: 'hooks.disabled' }) : null),
      h('td', null, sub.kb ? sub.kb : h('span', { i18n: 'hooks.scope.all' })),
      h('td', { class: 'small' }, (sub.events || []).map((e) => h('code', { class: 'tag' }, e))),
      h('td', { class: 'last-status' }, last),
      h('td', { class: 'actions' }, toggle, ping, rotate, del)), logRow);
    lastStatus(last, sub);
  }
  const head = h('thead', null, h('tr', null,
    [['hooks.url'], ['hooks.scope'], ['hooks.events'], ['hooks.last'], ['common.actions', 'actions']]
      .map(([k, c]) => h('th', { scope: 'col', class: c, i18n: k }))));
  list.replaceChildren(title, h('div', { class: 'table-wrap' }, h('table', { class: 'table webhooks-table' }, head, h('tbody', null, rows))));
}

/** Shows a subscription's newest delivery: its state and the receiver's status. */
async function lastStatus(el, sub) {
  try {
    const res = await api('GET', `/v1/deliveries?webhook=${encodeURIComponent(sub.id)}&limit=1`);
    const d = (res.deliveries || [])[0];
    if (d) el.replaceChildren(deliveryBadge(d), ' ', d.last_status ? h('code', null, String(d.last_status)) : null, ' ', time(d.updated_at));
    else el.replaceChildren(h('span', { class: 'muted small', i18n: 'hooks.never' }));
  } catch { /* the list still shows */ }
}

function deliveryBadge(d) {
  const st = DELIVERY_STATES.includes(d.state) ? d.state : 'pending';
  return badge(`delivery-${st}`, `hooks.state.${st}`);
}

/**
 * The delivery log of one subscription, with redelivery; while a delivery
 * is pending and the log is open, it is read again every few seconds.
 */
async function deliveries(cell, sub, ctx) {
  clearTimeout(cell.refresh);
  if (!cell.childElementCount) cell.replaceChildren(h('p', { class: 'loading', i18n: 'common.loading' }));
  const res = await api('GET', `/v1/deliveries?webhook=${encodeURIComponent(sub.id)}&limit=${LOG}`);
  if (ctx.stale() || !cell.isConnected || cell.parentElement.hidden) return;
  if ((res.deliveries || []).some((d) => d.state === 'pending')) {
    cell.refresh = setTimeout(() => deliveries(cell, sub, ctx).catch(() => {}), REFRESH_MS);
  }
  const ds = res.deliveries || [];
  if (!ds.length) {
    cell.replaceChildren(h('p', { class: 'muted small', i18n: 'hooks.never' }));
    return;
  }
  const rows = ds.map((d) => {
    const again = h('button', { type: 'button', class: 'ghost small', dataset: { action: 'redeliver' }, i18n: 'hooks.redeliver' });
    again.addEventListener('click', async () => {
      if (!(await busy(again, () => api('POST', `/v1/deliveries/${encodeURIComponent(d.id)}/redeliver`)))) return;
      notify('hooks.redelivering');
      await deliveries(cell, sub, ctx);
    });
    const tries = (d.log || []).map((a) => h('li', null, time(a.at), ' ',
      a.status ? h('code', null, String(a.status)) : null, ' ', a.error || '', a.response ? h('span', { class: 'muted' }, ` ${a.response}`) : null));
    return h('tr', { dataset: { delivery: d.id, state: d.state } },
      h('td', null, h('code', null, d.event_type), h('div', { class: 'muted small mono' }, d.event_id)),
      h('td', null, deliveryBadge(d)),
      h('td', { class: 'num' }, String(d.attempts || 0)),
      h('td', { class: 'small' }, d.last_status ? h('code', null, String(d.last_status)) : null, ' ', d.last_error || '',
        tries.length ? h('details', null, h('summary', { i18n: 'hooks.attempts' }), h('ol', { class: 'small' }, tries)) : null),
      h('td', null, time(d.created_at), d.next_at && d.state === 'pending' ? h('div', { class: 'muted small', i18n: ['hooks.next', { at: new Date(d.next_at).toLocaleString() }] }) : null),
      h('td', { class: 'actions' }, again));
  });
  const head = h('thead', null, h('tr', null,
    [['hooks.event'], ['hooks.state'], ['hooks.tries', 'num'], ['hooks.result'], ['hooks.when'], ['common.actions', 'actions']]
      .map(([k, c]) => h('th', { scope: 'col', class: c, i18n: k }))));
  cell.replaceChildren(h('table', { class: 'table deliveries' }, head, h('tbody', null, rows)));
}
