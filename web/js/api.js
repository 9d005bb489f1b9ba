// The HTTP routes the page uses: sessions (POST /token, GET /refresh_token), the leaderboard and the player count.

/** An HTTP answer that was not 2xx; `status` and the server's `code` when it sent one. */
export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { cache: 'no-store', ...options });
  } catch {
    throw new HttpError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const error = body?.error ?? {};
    throw new HttpError(response.status, error.code ?? 'http', error.message ?? `HTTP ${response.status}`);
  }
  return body;
}

/** A new session for `name`: `{token, name, session_start, messages}`. */
export function createSession(name) {
  return call('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
}

/** The session document of `token` with its whole bot-chat history; 404 when unknown or expired. */
export function refreshSession(token) {
  return call(`/refresh_token?token=${encodeURIComponent(token)}`);
}

/** Top 10 players: `[{name, wins, losses, draws}]`. */
export async function leaderboard() {
  return (await call('/leaderboard')).top ?? [];
}

/** About how many distinct names played today (UTC). */
export async function playersToday() {
  return (await call('/players/count')).estimated ?? 0;
}
