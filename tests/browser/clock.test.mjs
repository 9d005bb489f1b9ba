// Browser tests of the turn clock (the nodes run with TURN_SECS=3): the time the player to move has left counts down
// on both pages, starts again with each move, and when it runs out the game ends and both pages say who ran out of
// time; pages on computers whose clocks are off show it right too; no clock while waiting for an opponent, nor
// against the bot.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  byTest, launchBrowser, openPage, screenshotPath, signIn, startStack, waitText,
} from './harness.mjs';

const TURN_SECS = 3;

function assertClean(...pages) {
  for (const page of pages) assert.deepEqual(page.problems, [], 'console errors, uncaught exceptions or frames the contract does not describe');
}

/** The seconds the turn clock of `page` shows (`… · m:ss`), or null when it is hidden. */
async function clockSecs(page) {
  const clock = byTest(page, 'turn-clock');
  if (!(await clock.isVisible())) return null;
  const match = /· (\d+):(\d{2})$/.exec((await clock.textContent()) ?? '');
  assert.ok(match, `the turn clock reads m:ss: ${await clock.textContent()}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** The frames of `type` a page received, in order, on all its sockets. */
const received = (page, type) => page.sockets.flatMap((s) => s.received).filter((f) => f.type === type);

describe('the turn clock', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack('clock', { env: { TURN_SECS: String(TURN_SECS) } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('both pages count the mover\'s time down; a move starts it again; when it runs out the game ends on time', { timeout: 90_000 }, async () => {
    const alice = await openPage(browser, stack.url('a'));
    await signIn(alice, 'alice');
    await byTest(alice, 'new-game').click();
    const id = (await waitText(alice, 'game-id', /^[A-Za-z0-9]+$/)).trim();
    await waitText(alice, 'status', /Waiting for an opponent/);
    assert.equal(await byTest(alice, 'turn-clock').isVisible(), false, 'no clock while waiting');

    const bob = await openPage(browser, `${stack.url('b')}/?game=${id}`);
    await signIn(bob, 'bob');
    await waitText(alice, 'status', /^Your turn \(X\)/);
    // Both see X's clock, in the page's words for each.
    assert.match(await waitText(alice, 'turn-clock', /^Your move \(X\) · 0:0\d$/), /^Your move \(X\) · 0:0[0-3]$/);
    assert.match(await waitText(bob, 'turn-clock', /^alice \(X\) to move · 0:0\d$/), /· 0:0[0-3]$/);
    const deadline = received(alice, 'game.state').at(-1).game.turn_deadline;
    assert.equal(typeof deadline, 'number');

    // Alice moves at once: bob's clock starts, full again.
    await byTest(alice, 'cell-4').click();
    await waitText(bob, 'status', /^Your turn \(O\)/);
    await waitText(bob, 'turn-clock', /^Your move \(O\) · 0:0\d$/);
    await waitText(alice, 'turn-clock', /^bob \(O\) to move · 0:0\d$/);
    const first = await clockSecs(bob);
    assert.ok(first >= TURN_SECS - 1 && first <= TURN_SECS, `a fresh clock shows about ${TURN_SECS} s, got ${first}`);
    const fresh = received(bob, 'game.state').at(-1).game.turn_deadline;
    assert.ok(fresh > deadline, 'the move set a later deadline');

    // It counts down, each second, on both pages.
    await bob.waitForFunction((shown) => {
      const m = /· (\d+):(\d{2})$/.exec(document.querySelector('[data-testid="turn-clock"]').textContent);
      return m && Number(m[1]) * 60 + Number(m[2]) < shown;
    }, first, { timeout: 2500 });
    const second = await clockSecs(bob);
    assert.ok(second < first, `${second} after ${first}`);
    await bob.screenshot({ path: screenshotPath('turn-clock.png') });
    const aliceSees = await clockSecs(alice);
    assert.ok(aliceSees !== null && Math.abs(aliceSees - second) <= 1, `alice's page shows bob's time too (${aliceSees}, ${second})`);
    assert.equal(await alice.locator('[data-testid="turn-clock"][data-urgent="true"]').count(), 1, 'a few seconds left: urgent');

    // Bob lets it run out: the game ends on time, alice wins; the clock goes away.
    assert.match(await waitText(bob, 'status', /ran out of time/, 10_000), /^You ran out of time — alice \(X\) wins$/);
    assert.match(await waitText(alice, 'status', /ran out of time/), /^bob ran out of time — alice \(X\) wins$/);
    assert.equal(await byTest(alice, 'status').getAttribute('data-tone'), 'good');
    assert.equal(await byTest(bob, 'status').getAttribute('data-tone'), 'bad');
    const ended = received(alice, 'game.state').at(-1).game;
    assert.equal(ended.status, 'timeout');
    assert.equal(ended.winner, 'X');
    assert.ok(Date.now() >= fresh, 'not before the deadline');
    for (const page of [alice, bob]) {
      await page.locator('[data-testid="turn-clock"]').waitFor({ state: 'hidden' });
      await byTest(page, 'rematch').waitFor();
    }
    assert.equal(await byTest(bob, 'cell-4').textContent(), 'X');
    await alice.screenshot({ path: screenshotPath('game-timeout.png') });

    // A spectator arriving now reads the result too.
    const carol = await openPage(browser, `${stack.url('a')}/?game=${id}`);
    await signIn(carol, 'carol');
    assert.match(await waitText(carol, 'status', /ran out of time/), /^Watching · bob ran out of time — alice \(X\) wins$/);
    assert.equal(await byTest(carol, 'turn-clock').isVisible(), false);

    // A rematch: a fresh clock, for the new X (bob).
    await byTest(alice, 'rematch').click();
    await byTest(bob, 'rematch').click();
    await waitText(bob, 'status', /^Your turn \(X\)/);
    await waitText(bob, 'turn-clock', /^Your move \(X\) · 0:0\d$/);
    await waitText(alice, 'turn-clock', /^bob \(X\) to move · 0:0\d$/);

    assertClean(alice, bob, carol);
    await Promise.all([alice, bob, carol].map((p) => p.context().close()));
  });

  test('a computer whose clock is off by minutes still shows the time the server gives', { timeout: 60_000 }, async () => {
    // The deadline is a time on the server's clock; each page corrects its own by the node's `hello`.
    const erin = await openPage(browser, stack.url('a'), { clockOffsetMs: 10 * 60_000 });
    await signIn(erin, 'erin');
    await byTest(erin, 'new-game').click();
    const id = (await waitText(erin, 'game-id', /^[A-Za-z0-9]+$/)).trim();
    const fred = await openPage(browser, `${stack.url('b')}/?game=${id}`, { clockOffsetMs: -10 * 60_000 });
    await signIn(fred, 'fred');
    await waitText(erin, 'status', /^Your turn \(X\)/);
    // Ten minutes off would show 0:00 on erin's page and 10:03 on fred's.
    await Promise.all([[erin, /^Your move \(X\) · 0:0\d$/], [fred, /^erin \(X\) to move · 0:0\d$/]].map(async ([page, words]) => {
      await waitText(page, 'turn-clock', words);
      const shown = await clockSecs(page);
      assert.ok(shown >= 1 && shown <= TURN_SECS, `up to ${TURN_SECS} s left, not the page's own clock's idea: ${shown}`);
    }));
    assertClean(erin, fred);
    await Promise.all([erin, fred].map((p) => p.context().close()));
  });

  test('no clock against the bot', { timeout: 60_000 }, async () => {
    const dora = await openPage(browser, stack.url('b'));
    await signIn(dora, 'dora');
    await byTest(dora, 'vs-bot').click();
    await waitText(dora, 'status', /^Your turn \(X\)/);
    await byTest(dora, 'cell-4').click();
    await waitText(dora, 'cell-4', /^X$/);
    await waitText(dora, 'status', /^Your turn \(X\)/);
    // Longer than a turn: still playing, and no clock was ever shown.
    await new Promise((resolve) => setTimeout(resolve, (TURN_SECS + 1) * 1000));
    assert.match(await byTest(dora, 'status').textContent(), /^Your turn \(X\)/);
    assert.equal(await byTest(dora, 'turn-clock').isVisible(), false);
    assert.ok(received(dora, 'game.state').every((f) => f.game.turn_deadline === undefined));

    assertClean(dora);
    await dora.context().close();
  });
});
