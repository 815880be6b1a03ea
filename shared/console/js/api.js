// The public API, as any client calls it: `config.apiBase` + path, a bearer token when signed in.

import * as auth from './auth.js';

let base = '';

export async function loadConfig() {
  const response = await fetch(new URL('../config.json', import.meta.url), { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = await response.json();
  base = (config.apiBase || '').replace(/\/$/, '');
  return config;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error || {};
    super(error.message || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || 'http_error';
    this.field = error.field || null;
    this.body = body;
  }
}

/** `api('/api/voip/search', {query: {q}})`, `api(path, {method: 'POST', body})`: the JSON answer. */
export async function api(path, { method = 'GET', query, body, signal } = {}) {
  const url = new URL(base + path, location.href);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = { accept: 'application/json' };
  const jwt = auth.token();
  if (jwt) headers.authorization = `Bearer ${jwt}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const data = await response.json().catch(() => null);
  if (response.status === 401 && auth.required()) {
    auth.signOut('Your session ended. Please sign in again.');
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
