// The HTTP API client: JSON over fetch, uploads over XHR (fetch reports no
// upload progress), and the WebSocket chat protocol. The API key, when the
// server needs one, is kept in localStorage and sent as a Bearer token
// (?access_token= on the WebSocket, whose browser API cannot set headers).

const KEY = 'kefu.key';
let memKey = ''; // the key when localStorage is unavailable

/** An error the API answered with: {"error":{"code","message"},"request_id"}. */
export class APIError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** What GET /v1/auth said: dev mode, the key's scope and KB. */
export const auth = { devMode: true, scope: null, kb: '', agent: '' };

let unauthorized = () => {};

/** Sets the callback run when the API answers 401 (ask for a key). */
export function onUnauthorized(f) { unauthorized = f; }

export function getKey() {
  try { return localStorage.getItem(KEY) || ''; } catch { return ''; }
}

export function setKey(k) {
  try {
    if (k) localStorage.setItem(KEY, k);
    else localStorage.removeItem(KEY);
  } catch { /* private mode: the key lasts for this page only */ memKey = k; }
}

function bearer() { return getKey() || memKey; }

function errorFrom(status, text, requestId, statusText) {
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: a proxy's page */ }
  const e = body && body.error;
  return new APIError(status, e?.code || `http_${status}`, e?.message || statusText || `HTTP ${status}`,
    body?.request_id || requestId || '');
}

/** Calls the API; resolves with the JSON body (null for 204) or throws APIError. */
export async function api(method, path, body, { signal, headers } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const k = bearer();
  if (k) h.Authorization = `Bearer ${k}`;
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(0, 'network', err.message || 'network error', '');
  }
  const text = await res.text();
  if (!res.ok) {
    const err = errorFrom(res.status, text, res.headers.get('X-Request-ID'), res.statusText);
    if (res.status === 401) unauthorized(err);
    throw err;
  }
  if (res.status === 204 || text === '') return null;
  return JSON.parse(text);
}

/** Reads GET /v1/auth into auth. */
export async function loadAuth() {
  const a = await api('GET', '/v1/auth');
  auth.devMode = !!a.dev_mode;
  auth.scope = a.scope || null;
  auth.kb = a.kb || '';
  auth.agent = a.agent || '';
  return auth;
}

/** An EventSource on an API stream, the key in ?access_token= (EventSource sends no headers). */
export function events(path) {
  const u = new URL(path, location.href);
  const k = bearer();
  if (k) u.searchParams.set('access_token', k);
  return new EventSource(u.toString());
}

/** Fetches path with the key and saves the answer as a file named name. */
export async function download(path, name) {
  const h = {};
  const k = bearer();
  if (k) h.Authorization = `Bearer ${k}`;
  const res = await fetch(path, { headers: h });
  if (!res.ok) throw errorFrom(res.status, await res.text(), res.headers.get('X-Request-ID'), res.statusText);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export const kbPath = (kb) => `/v1/kbs/${encodeURIComponent(kb)}`;
export const docPath = (kb, id) => `${kbPath(kb)}/documents/${encodeURIComponent(id)}`;

/**
 * Uploads files to a KB as one ingest job. onProgress(loaded, total) follows
 * the request body; resolves with the Job the server accepted.
 */
export function upload(kb, files, docID, onProgress) {
  const form = new FormData();
  for (const f of files) form.append('file', f, f.name);
  if (docID) form.append('doc_id', docID);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${kbPath(kb)}/documents`);
    xhr.setRequestHeader('Accept', 'application/json');
    const k = bearer();
    if (k) xhr.setRequestHeader('Authorization', `Bearer ${k}`);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { resolve(JSON.parse(xhr.responseText)); } catch (err) { reject(err); }
        return;
      }
      const err = errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader('X-Request-ID'), xhr.statusText);
      if (xhr.status === 401) unauthorized(err);
      reject(err);
    });
    xhr.addEventListener('error', () => reject(new APIError(0, 'network', 'upload failed: network error', '')));
    xhr.addEventListener('abort', () => reject(new APIError(0, 'aborted', 'upload aborted', '')));
    xhr.send(form);
  });
}

/**
 * ChatSocket speaks the chat protocol on /v1/kbs/{kb}/chat. ask() sends a
 * question and routes the server's delta / citations / done / handoff /
 * error messages for its id to the handlers given; several asks may be in
 * flight. The socket opens on the first ask and again after it closes.
 */
export class ChatSocket {
  constructor(kb, onState = () => {}) {
    this.kb = kb;
    this.onState = onState;
    this.ws = null;
    this.pending = new Map();
    this.seq = 0;
  }

  url() {
    const u = new URL(`${kbPath(this.kb)}/chat`, location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const k = bearer();
    if (k) u.searchParams.set('access_token', k);
    return u.toString();
  }

  open() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return this.ready;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.onState('connecting');
    this.ready = new Promise((resolve, reject) => {
      ws.addEventListener('open', () => { this.onState('open'); resolve(ws); }, { once: true });
      ws.addEventListener('error', () => reject(new APIError(0, 'network', 'WebSocket connection failed', '')), { once: true });
    });
    ws.addEventListener('message', (e) => this.receive(e.data));
    ws.addEventListener('close', (e) => {
      if (this.ws === ws) this.ws = null;
      this.onState('closed');
      const err = new APIError(e.code, 'unavailable', e.reason || `connection closed (${e.code})`, '');
      for (const hs of this.pending.values()) hs.error?.(err);
      this.pending.clear();
    });
    return this.ready;
  }

  receive(data) {
    let m;
    try { m = JSON.parse(data); } catch { return; }
    const hs = this.pending.get(m.id);
    if (!hs) return; // cancelled or unknown
    switch (m.type) {
      case 'delta': hs.delta?.(m.text || ''); break;
      case 'citations': hs.citations?.(m.citations || []); break;
      case 'done':
      case 'handoff':
        this.pending.delete(m.id);
        hs.done?.(m.answer || {}, m.type);
        break;
      case 'error':
        this.pending.delete(m.id);
        hs.error?.(new APIError(0, m.code || 'internal', m.message || 'error', ''));
        break;
      default: break;
    }
  }

  /** Sends a question; handlers: delta(text), citations(list), done(answer, type), error(err). Returns its id. */
  ask(question, conversationID, handlers) {
    const id = `c${++this.seq}`;
    this.pending.set(id, handlers);
    const msg = { type: 'ask', id, question };
    if (conversationID) msg.conversation_id = conversationID;
    this.open().then((ws) => {
      if (this.pending.has(id)) ws.send(JSON.stringify(msg));
    }, (err) => {
      if (this.pending.delete(id)) handlers.error?.(err);
    });
    return id;
  }

  /** Stops the answer to id; its handlers hear nothing more. */
  cancel(id) {
    if (!this.pending.delete(id)) return;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'cancel', id }));
  }

  close() {
    this.ws?.close(1000);
    this.ws = null;
  }
}
