// Browser tests of playing and chatting: two people on two nodes, a spectator, quick match, the bot's chat and a game against the bot.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  board, byTest, latestMove, launchBrowser, lines, openPage, say, screenshotPath, signIn, startStack, waitText,
} from './harness.mjs';

/** Clicks `cell` on `page` and waits until every page in `watchers` shows `mark` there. */
async function move(page, cell, mark, watchers) {
  await byTest(page, `cell-${cell}`).click();
  for (const p of watchers) await waitText(p, `cell-${cell}`, new RegExp(`^${mark}$`));
}

function assertClean(...pages) {
  for (const page of pages) assert.deepEqual(page.problems, [], 'console errors or uncaught exceptions');
}

describe('the browser client', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack('play');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('two people on two nodes play a game by clicks, chat, and keep both over a reload', { timeout: 90_000 }, async () => {
    const alice = await openPage(browser, stack.url('a'));
    await signIn(alice, 'alice');
    await byTest(alice, 'new-game').click();
    const id = (await waitText(alice, 'game-id', /^[A-Za-z0-9]+$/)).trim();
    await waitText(alice, 'status', /Waiting for an opponent/);
    const link = await byTest(alice, 'share-link').textContent();
    assert.ok(link.endsWith(`/?game=${id}`), link);
    await alice.screenshot({ path: screenshotPath('game-waiting.png') });

    // The friend opens the link through the other node.
    const bob = await openPage(browser, `${stack.url('b')}/?game=${id}`);
    await signIn(bob, 'bob');
    await waitText(bob, 'game-id', new RegExp(`^${id}$`));
    await waitText(alice, 'status', /^Your turn \(X\)/);
    await waitText(bob, 'status', /alice \(X\)'s turn/);

    await say(alice, 'hello bob');
    await waitText(bob, 'chat-log', /hello bob/);
    // While bob types, alice sees it; his message then takes its place.
    await byTest(bob, 'chat-input').pressSequentially('hi al', { delay: 20 });
    await waitText(alice, 'chat-typing', /^bob is typing…$/);
    await alice.screenshot({ path: screenshotPath('game-typing.png') });
    assert.equal((await byTest(bob, 'chat-typing').textContent()).trim(), '');
    await say(bob, 'hi alice, good luck');
    await waitText(alice, 'chat-typing', /^$/);
    await waitText(alice, 'chat-log', /hi alice, good luck/);

    await move(alice, 0, 'X', [alice, bob]);
    await waitText(bob, 'status', /^Your turn \(O\)/);
    await move(bob, 4, 'O', [alice, bob]);

    // A reload keeps the name, the seat, the board and the chat (once each).
    await bob.reload();
    await waitText(bob, 'connection', /^online$/);
    await waitText(bob, 'game-id', new RegExp(`^${id}$`));
    await waitText(bob, 'chat-log', /hi alice, good luck/);
    assert.equal(await bob.locator('#who').textContent(), 'bob');
    assert.deepEqual(await lines(bob, 'chat-log'), ['hello bob', 'hi alice, good luck']);
    assert.deepEqual(await board(bob), ['X', '', '', '', 'O', '', '', '', '']);
    await waitText(bob, 'status', /alice \(X\)'s turn/);
    // The latest move is marked, on both boards.
    assert.deepEqual(await latestMove(bob), ['4']);
    assert.deepEqual(await latestMove(alice), ['4']);

    await move(alice, 1, 'X', [alice, bob]);
    await move(bob, 8, 'O', [alice, bob]);
    await move(alice, 2, 'X', [alice, bob]);

    assert.match(await waitText(alice, 'status', /wins/), /alice \(X\) wins/);
    assert.match(await waitText(bob, 'status', /wins/), /alice \(X\) wins/);
    const winning = await alice.locator('#board .cell.win').evaluateAll((cells) => cells.map((c) => c.dataset.cell));
    assert.deepEqual(winning, ['0', '1', '2']);
    await byTest(alice, 'rematch').waitFor();

    // Someone else opening the link watches, as a spectator.
    const carol = await openPage(browser, `${stack.url('a')}/?game=${id}`, { viewport: { width: 390, height: 844 } });
    await signIn(carol, 'carol');
    assert.match(await waitText(carol, 'status', /wins/), /^Watching · alice \(X\) wins/);
    await waitText(carol, 'chat-log', /hi alice, good luck/);
    assert.equal(await byTest(carol, 'rematch').isVisible(), false);

    await alice.screenshot({ path: screenshotPath('game-finished.png') });
    await carol.screenshot({ path: screenshotPath('game-phone.png'), fullPage: true });

    // A rematch once both ask: seats swap, bob (now X) starts.
    await byTest(alice, 'rematch').click();
    await waitText(alice, 'rematch', /Waiting/);
    // The other player and the spectator see that alice asked.
    await waitText(bob, 'status', /^alice \(X\) wins — better luck next time · alice wants a rematch$/);
    await waitText(carol, 'status', /alice wants a rematch$/);
    assert.equal(await byTest(bob, 'rematch').textContent(), 'Accept rematch');
    await byTest(bob, 'rematch').click();
    await waitText(bob, 'status', /^Your turn \(X\)/);
    await waitText(alice, 'status', /bob \(X\)'s turn/);
    assert.deepEqual(await board(alice), ['', '', '', '', '', '', '', '', '']);
    assert.deepEqual(await latestMove(alice), [], 'a fresh board has no latest move');

    assertClean(alice, bob, carol);
    await Promise.all([alice, bob, carol].map((p) => p.context().close()));
  });

  test('quick match pairs two people on different nodes; leaving hands the win to the other', { timeout: 90_000 }, async () => {
    const erin = await openPage(browser, stack.url('a'));
    await signIn(erin, 'erin');
    await byTest(erin, 'quick-match').click();
    await waitText(erin, 'status', /Waiting for an opponent/);

    const frank = await openPage(browser, stack.url('b'));
    await signIn(frank, 'frank');
    await byTest(frank, 'quick-match').click();
    await waitText(frank, 'status', /erin \(X\)'s turn/);
    await waitText(erin, 'status', /^Your turn \(X\)/);
    assert.equal(await byTest(frank, 'game-id').textContent(), await byTest(erin, 'game-id').textContent());

    // Leaving a game in play asks once more, then loses it.
    await erin.locator('#leave').click();
    await waitText(erin, 'leave', /Leave and lose/);
    await erin.locator('#leave').click();
    await byTest(erin, 'quick-match').waitFor();
    assert.match(await waitText(frank, 'status', /wins/), /erin left — frank \(O\) wins/);
    assert.equal(await byTest(frank, 'rematch').isVisible(), false, 'no rematch with a player who left');

    assertClean(erin, frank);
    await Promise.all([erin, frank].map((p) => p.context().close()));
  });

  test('a return visit with a token the server no longer knows asks for the name again', { timeout: 90_000 }, async () => {
    const ivy = await openPage(browser, stack.url('b'));
    await ivy.evaluate(() => localStorage.setItem('token', '00000000-0000-4000-8000-000000000000'));
    await ivy.reload();
    await byTest(ivy, 'name-input').waitFor();
    assert.equal(await ivy.evaluate(() => localStorage.getItem('token')), null);
    await ivy.screenshot({ path: screenshotPath('name-step.png') });
    await signIn(ivy, 'ivy');
    const token = await ivy.evaluate(() => localStorage.getItem('token'));
    assert.match(token, /^[0-9a-f-]{36}$/);

    // The next visit reuses the token: no name step.
    await ivy.reload();
    await waitText(ivy, 'connection', /^online$/);
    assert.equal(await byTest(ivy, 'name-input').isVisible(), false);
    assert.equal(await ivy.evaluate(() => localStorage.getItem('token')), token);

    // The browser reports the 404 of /refresh_token for the stale token itself; nothing else.
    assert.deepEqual(ivy.problems.filter((p) => !/status of 404/.test(p)), []);
    await ivy.context().close();
  });

  test('the bot answers in the bot panel, and its history survives a reload', { timeout: 90_000 }, async () => {
    const gina = await openPage(browser, stack.url('b'));
    await signIn(gina, 'gina');
    await byTest(gina, 'bot-input').fill('hello there');
    await byTest(gina, 'bot-send').click();
    await gina.locator('[data-testid="bot-log"] li.msg.bot .text').first().waitFor();
    const before = await lines(gina, 'bot-log');
    assert.equal(before.length, 2, JSON.stringify(before));
    assert.equal(before[0], 'hello there');
    assert.ok(before[1].length > 0);

    await gina.reload();
    await waitText(gina, 'connection', /^online$/);
    await gina.locator('[data-testid="bot-log"] li.msg.bot .text').first().waitFor();
    assert.deepEqual(await lines(gina, 'bot-log'), before);

    assertClean(gina);
    await gina.context().close();
  });

  test('a game against the bot by clicks and keys, to its end, then the lobby shows the leaderboard', { timeout: 90_000 }, async () => {
    const hugo = await openPage(browser, stack.url('a'));
    await signIn(hugo, 'hugo');
    await byTest(hugo, 'vs-bot').click();
    await waitText(hugo, 'status', /^Your turn \(X\)/);

    // The first move by keyboard: the centre cell has the focus; Enter presses it.
    await byTest(hugo, 'cell-4').focus();
    await hugo.keyboard.press('Enter');
    await waitText(hugo, 'cell-4', /^X$/);
    await hugo.keyboard.press('ArrowLeft');
    assert.equal(await hugo.evaluate(() => document.activeElement.dataset.testid), 'cell-3');

    const preference = [0, 2, 6, 8, 1, 3, 5, 7];
    for (;;) {
      const status = await waitText(hugo, 'status', /Your turn|wins|draw/);
      if (/wins|draw/.test(status)) break;
      const cells = await board(hugo);
      const cell = preference.find((i) => !cells[i]);
      await move(hugo, cell, 'X', [hugo]);
    }
    const result = await byTest(hugo, 'status').textContent();
    assert.match(result, /The bot \(O\) wins|draw/);

    // A rematch against the bot starts at once, the bot (now X) moving first.
    await byTest(hugo, 'rematch').click();
    await waitText(hugo, 'status', /^Your turn \(O\)/);
    assert.equal((await board(hugo)).filter((c) => c === 'X').length, 1);

    await hugo.locator('#leave').click();
    await hugo.locator('#leave').click();
    await waitText(hugo, 'leaderboard', /alice/);
    await waitText(hugo, 'players-count', /\d+ players today/);
    await hugo.screenshot({ path: screenshotPath('lobby.png') });

    assertClean(hugo);
    await hugo.context().close();
  });
});
