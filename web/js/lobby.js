// The lobby: quick match, new game, the bot, join by link, a game to resume, the leaderboard and today's player count.

import { leaderboard, playersToday } from './api.js';
import { $, el } from './ui.js';

const REFRESH_MS = 15_000;

/** A game ID from what someone pasted: a link with `?game=ID`, or the bare ID. */
export function parseGameInput(text) {
  const value = text.trim();
  if (!value) return null;
  try {
    const url = new URL(value, location.origin);
    const id = url.searchParams.get('game');
    if (id) return id.trim();
  } catch { /* not a link */ }
  return /^[A-Za-z0-9]{1,32}$/.test(value) ? value : null;
}

export class Lobby {
  /** `actions`: `quick()`, `create()`, `bot()`, `join(id)`, `resume(id)`. */
  constructor({ myName, actions }) {
    this.actions = actions;
    this.timer = null;
    this.busy = false;
    $('lobby-name').textContent = myName;
    $('quick-match').addEventListener('click', () => this.run(actions.quick));
    $('new-game').addEventListener('click', () => this.run(actions.create));
    $('vs-bot').addEventListener('click', () => this.run(actions.bot));
    $('join-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const id = parseGameInput($('join-input').value);
      if (!id) {
        $('join-input').setCustomValidity('Paste a game link (…/?game=ID) or a game ID');
        $('join-input').reportValidity();
        return;
      }
      $('join-input').value = '';
      this.run(() => actions.join(id));
    });
    $('join-input').addEventListener('input', () => $('join-input').setCustomValidity(''));
    $('resume-button').addEventListener('click', () => this.run(() => actions.resume($('resume-id').textContent)));
  }

  /** Runs one lobby action at a time, with the buttons disabled meanwhile. */
  async run(action) {
    if (this.busy) return;
    this.setBusy(true);
    try { await action(); } finally { this.setBusy(false); }
  }

  setBusy(busy) {
    this.busy = busy;
    for (const id of ['quick-match', 'new-game', 'vs-bot', 'join-submit', 'resume-button']) $(id).disabled = busy;
  }

  show(resumeId) {
    $('lobby').hidden = false;
    $('resume').hidden = !resumeId;
    $('resume-id').textContent = resumeId ?? '';
    document.title = 'Tic-tac-toe & chat';
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  hide() {
    $('lobby').hidden = true;
    clearInterval(this.timer);
    this.timer = null;
  }

  async refresh() {
    try {
      const [top, count] = await Promise.all([leaderboard(), playersToday()]);
      this.renderLeaderboard(top);
      $('players-count').textContent = `${count} ${count === 1 ? 'player' : 'players'} today`;
    } catch {
      // The figures are a nicety: keep the last ones shown and try again on the next refresh.
    }
  }

  renderLeaderboard(top) {
    const rows = top.map((player, index) => el('tr', {},
      el('td', { className: 'rank', textContent: String(index + 1) }),
      el('td', { className: 'name', textContent: player.name }),
      el('td', { textContent: String(player.wins) }),
      el('td', { textContent: String(player.losses) }),
      el('td', { textContent: String(player.draws) })));
    $('leaderboard-rows').replaceChildren(...rows);
    $('leaderboard-empty').hidden = top.length > 0;
  }
}
