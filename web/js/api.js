// The HTTP routes of the lobby: the leaderboard and the player count. Sessions, the socket and everything on it
// are the client library's (clients/js, served here as ./client/).

/** An HTTP answer that was not 2xx; `status` and the server's `code` when it sent one. */
export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(path) {
  let response;
  try {
    response = await fetch(path, { cache: 'no-store' });
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

/** Top 10 players: `[{name, wins, losses, draws}]`. */
export async function leaderboard() {
  return (await call('/leaderboard')).top ?? [];
}

/** About how many distinct names played today (UTC). */
export async function playersToday() {
  return (await call('/players/count')).estimated ?? 0;
}
