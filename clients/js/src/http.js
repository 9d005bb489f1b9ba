// Node URLs and the HTTP routes the client needs: POST /token (a new session) and GET /refresh_token (an existing one).

import { ClientError } from './errors.js';

/**
 * Normalises one node (or balancer) URL: `http(s)://` or `ws(s)://`, with an optional path prefix.
 * Returns `{http, ws}` without a trailing slash, e.g. `{http: 'http://h:8080', ws: 'ws://h:8080'}`.
 */
export function nodeUrl(url) {
  const base = globalThis.location?.href;
  let parsed;
  try {
    parsed = base ? new URL(url, base) : new URL(url);
  } catch {
    throw new ClientError('bad_url', `not a URL: ${url}`);
  }
  const scheme = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' }[parsed.protocol];
  if (!scheme) throw new ClientError('bad_url', `unsupported scheme in ${url}: use http(s):// or ws(s)://`);
  const path = parsed.pathname.replace(/\/+$/, '');
  const host = parsed.host;
  return {
    http: `${scheme}//${host}${path}`,
    ws: `${scheme === 'https:' ? 'wss:' : 'ws:'}//${host}${path}`,
  };
}

/** Calls a route; resolves with the JSON body of a 2xx answer, rejects with a {@link ClientError}. */
export async function httpJson(fetchImpl, url, init = {}) {
  let response;
  try {
    response = await fetchImpl(url, { cache: 'no-store', ...init });
  } catch (cause) {
    throw new ClientError('network', `cannot reach ${url}: ${cause?.message ?? cause}`, { cause });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) {
    const error = body?.error ?? {};
    const extra = { status: response.status };
    if (typeof error.retry_after_ms === 'number') extra.retryAfterMs = error.retry_after_ms;
    throw new ClientError(error.code ?? `http_${response.status}`, error.message ?? `HTTP ${response.status} from ${url}`, extra);
  }
  return body;
}

/** A new session for `name`: the session document `{token, name, session_start, messages, muted}`. */
export function createSession(fetchImpl, base, name) {
  return httpJson(fetchImpl, `${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
}

/** The session document of `token` with its bot-chat history; `session_not_found` (404) when unknown or expired. */
export function refreshSession(fetchImpl, base, token) {
  return httpJson(fetchImpl, `${base}/refresh_token?token=${encodeURIComponent(token)}`);
}

/** Whether an HTTP failure may be retried on another node (unreachable, or the node's own 5xx). */
export function retryElsewhere(error) {
  return error.code === 'network' || (error.status ?? 0) >= 500;
}
