// Browser tests of dropped sockets: the node under a page dies and a new one comes up on its address (the page reconnects, resyncs the game, recovers the chat without gaps or duplicates, and a line typed while it gets back waits for it); a socket closed while waiting for a quick match.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  board, byTest, launchBrowser, lines, openBeforeADrop, openPage, say, signIn, startStack, unexpected, waitText,
} from './harness.mjs';

describe('a dropped connection', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack('reconnect');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('the page reconnects when its node dies and carries on: seat, board and chat, nothing twice', { timeout: 90_000 }, async () => {
    const alice = await openPage(browser, stack.url('a'), { recordFrames: true });
    await signIn(alice, 'alice');
    await byTest(alice, 'new-game').click();
    const id = (await waitText(alice, 'game-id', /^[A-Za-z0-9]+$/)).trim();

    const bob = await openPage(browser, `${stack.url('b')}/?game=${id}`);
    await signIn(bob, 'bob');
    await openBeforeADrop(alice, bob);

    // Node A dies under alice; bob, on node B, goes on talking and plays his move.
    const lastSeen = await alice.locator('[data-testid="chat-log"] li').last().getAttribute('data-id');
    const portA = stack.nodes.a.port;
    await stack.killNode('a');
    await waitText(alice, 'connection', /reconnecting/);
    await say(bob, 'are you there?');
    await say(bob, 'third message while you were away');
    await waitText(bob, 'chat-log', /third message while you were away/);
    await byTest(bob, 'cell-0').click();
    await waitText(bob, 'cell-0', /^O$/);

    // A new node on the same address: alice's page reconnects to it by itself. Her bot
    // history comes back slowly this time, and she types as soon as the page is online:
    // the line waits until the page is back in the game, and reaches it.
    await alice.route('**/refresh_token**', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await route.continue();
    });
    await stack.startNode('a', portA);
    await waitText(alice, 'connection', /^online$/, 30_000);
    await say(alice, 'typed at once');
    await waitText(bob, 'chat-log', /typed at once/);
    await waitText(alice, 'chat-log', /typed at once/);
    await waitText(alice, 'cell-0', /^O$/);
    await waitText(alice, 'status', /^Your turn \(X\)/);
    const expected = ['before the drop', 'seen it', 'are you there?', 'third message while you were away', 'typed at once'];
    assert.deepEqual(await lines(alice, 'chat-log'), expected);
    // The page took its seat back and, in the same request, asked for the chat after the
    // last message it had seen.
    const sent = await alice.evaluate(() => window.sentFrames);
    const rejoin = sent.filter((f) => f.type === 'game.join' && f.game === id);
    assert.deepEqual(rejoin.map((f) => f.since), [lastSeen], JSON.stringify(sent));
    assert.deepEqual(sent.filter((f) => f.type === 'room.join'), []);

    // It carries on: chat both ways, and the game to its end.
    await say(alice, 'back again');
    await waitText(bob, 'chat-log', /back again/);
    await waitText(alice, 'chat-log', /back again/);
    assert.deepEqual(await lines(alice, 'chat-log'), [...expected, 'back again']);
    assert.deepEqual(await lines(bob, 'chat-log'), [...expected, 'back again']);
    await byTest(alice, 'cell-2').click();
    await waitText(bob, 'cell-2', /^X$/);
    await byTest(bob, 'cell-1').click();
    await waitText(alice, 'cell-1', /^O$/);
    await byTest(alice, 'cell-6').click();
    assert.match(await waitText(bob, 'status', /wins/), /alice \(X\) wins/);
    assert.match(await waitText(alice, 'status', /wins/), /alice \(X\) wins/);
    assert.deepEqual(await board(alice), ['O', 'O', 'X', '', 'X', '', 'X', '', '']);

    assert.deepEqual(unexpected(alice.problems), []);
    assert.deepEqual(bob.problems, []);
  });

  test('a socket closed while waiting for a quick match: the page reconnects and queues again', { timeout: 90_000 }, async () => {
    const erin = await openPage(browser, stack.url('a'), { recordFrames: true });
    await signIn(erin, 'erin');
    await byTest(erin, 'quick-match').click();
    await waitText(erin, 'status', /Waiting for an opponent/);
    const first = (await byTest(erin, 'game-id').textContent()).trim();

    // The socket goes; the server ends the waiting game (nobody could join a dead seat).
    await erin.evaluate(() => window.lastSocket.close());
    await waitText(erin, 'connection', /^online$/);
    await erin.waitForFunction((first) => {
      const id = document.querySelector('[data-testid="game-id"]').textContent;
      return id && id !== first;
    }, first);
    await waitText(erin, 'status', /Waiting for an opponent/);
    const second = (await byTest(erin, 'game-id').textContent()).trim();
    assert.equal((await erin.evaluate(() => window.sentFrames)).filter((f) => f.type === 'game.quick').length, 2);

    // The next one asking is matched with her.
    const frank = await openPage(browser, stack.url('b'));
    await signIn(frank, 'frank');
    await byTest(frank, 'quick-match').click();
    await waitText(frank, 'game-id', new RegExp(`^${second}$`));
    await waitText(erin, 'status', /^Your turn \(X\)/);
    await waitText(frank, 'status', /erin \(X\)'s turn/);

    assert.deepEqual(erin.problems, []);
    assert.deepEqual(frank.problems, []);
  });
});
