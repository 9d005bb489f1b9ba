// Browser test of the load balancer: two people reach the nodes through nginx (deploy/nginx.local.conf.in, as
// scripts/run.sh runs it); the node under a page is killed mid-game, and the page reconnects through the
// balancer to the other node by itself and carries on: seat, board and chat, nothing missing, nothing twice.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  board, byTest, launchBrowser, lines, openBeforeADrop, openPage, say, signIn, startStack, unexpected, until, waitText,
} from './harness.mjs';

/** Keeps every state the connection pill shows, in order, in `window.connectionStates`. */
async function recordConnectionStates(page) {
  await page.evaluate(() => {
    const pill = document.querySelector('[data-testid="connection"]');
    window.connectionStates = [pill.dataset.state];
    new MutationObserver(() => {
      const states = window.connectionStates;
      if (states[states.length - 1] !== pill.dataset.state) states.push(pill.dataset.state);
    }).observe(pill, { attributes: true, attributeFilter: ['data-state'] });
  });
}

const connectionStates = (page) => page.evaluate(() => window.connectionStates);

/** The node the page's current socket is on, as its `hello` named it. */
const nodeOf = (page) => page.sockets.at(-1)?.node;

describe('the load balancer', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack('balancer', { balancer: true });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('a node dies mid-game: the pages reconnect through the balancer to the other node and play on', { timeout: 60_000 }, async (t) => {
    const { url } = stack.balancer;
    const alice = await openPage(browser, url);
    await recordConnectionStates(alice);
    await signIn(alice, 'alice');
    await byTest(alice, 'new-game').click();
    const id = (await waitText(alice, 'game-id', /^[A-Za-z0-9]+$/)).trim();
    const link = (await byTest(alice, 'share-link').textContent()).trim();
    assert.equal(link, `${url}/?game=${id}`);

    // The friend opens the share link: the same balancer.
    const bob = await openPage(browser, link);
    await recordConnectionStates(bob);
    await signIn(bob, 'bob');
    await waitText(bob, 'game-id', new RegExp(`^${id}$`));
    await openBeforeADrop(alice, bob);
    await waitText(bob, 'status', /^Your turn \(O\)/);

    // Where each page is: the `hello` of its one socket names the node.
    const people = { alice, bob };
    const nodeIds = Object.values(stack.nodes).map((n) => n.id);
    for (const [name, page] of Object.entries(people)) {
      assert.equal(page.sockets.length, 1, `${name}: ${JSON.stringify(page.sockets.map((s) => s.url))}`);
      assert.ok(nodeIds.includes(nodeOf(page)), `${name} is on ${nodeOf(page)}`);
      assert.equal(await byTest(page, 'connection').getAttribute('title'), `connected to node ${nodeOf(page)}`);
    }
    const victim = Object.keys(stack.nodes).find((n) => stack.nodes[n].id === nodeOf(alice));
    const survivor = nodeIds.find((n) => n !== stack.nodes[victim].id);
    const hit = new Set([alice, bob].filter((page) => nodeOf(page) === nodeOf(alice)));
    t.diagnostic(`alice on ${nodeOf(alice)}, bob on ${nodeOf(bob)}: killing ${stack.nodes[victim].id}`);
    const lastSeen = await alice.locator('[data-testid="chat-log"] li').last().getAttribute('data-id');
    const mark = new Map();
    for (const page of [alice, bob]) mark.set(page, (await connectionStates(page)).length);

    await stack.killNode(victim, 'SIGKILL');

    /**
     * A page that was on the dead node: it reconnects by itself through the balancer, to the other node,
     * shows online again, and takes its seat and the chat back (`game.join` with `since` the last
     * message it saw, its room answered `recovered`). A page on the other node keeps its socket.
     */
    async function back(name) {
      const page = people[name];
      if (!hit.has(page)) return;
      const socket = await until(`${name}'s new socket`, () => page.sockets.slice(1).find((s) => s.node), 20_000);
      assert.equal(socket.node, survivor);
      await waitText(page, 'connection', /^online$/);
      assert.equal(await byTest(page, 'connection').getAttribute('title'), `connected to node ${survivor}`);
      await until(`${name}'s chat recovered`, () => socket.received.some((f) => f.type === 'room.joined' && f.recovered));
      // One request takes the seat back and asks for the game's chat after the last
      // message seen.
      assert.deepEqual(
        socket.sent.filter((f) => f.type === 'game.join').map((f) => [f.game, typeof f.since]),
        [[id, 'string']],
      );
    }

    // Bob says something and plays his move as soon as his page is online (at once if it never went).
    await back('bob');
    await say(bob, 'are you there?');
    await waitText(bob, 'chat-log', /are you there\?/);
    await waitText(bob, 'status', /^Your turn \(O\)/);
    await byTest(bob, 'cell-0').click();
    await waitText(bob, 'cell-0', /^O$/);

    // Alice is back with what happened meanwhile, and the game goes on.
    await back('alice');
    assert.equal(alice.sockets.at(-1).sent.find((f) => f.type === 'game.join').since, lastSeen);
    await waitText(alice, 'chat-log', /are you there\?/);
    await waitText(alice, 'cell-0', /^O$/);
    await waitText(alice, 'status', /^Your turn \(X\)/);
    await say(alice, 'back again');
    await waitText(bob, 'chat-log', /back again/);
    await waitText(alice, 'chat-log', /back again/);

    await byTest(alice, 'cell-2').click();
    await waitText(bob, 'cell-2', /^X$/);
    await waitText(bob, 'status', /^Your turn \(O\)/);
    await byTest(bob, 'cell-1').click();
    await waitText(alice, 'cell-1', /^O$/);
    await waitText(alice, 'status', /^Your turn \(X\)/);
    await byTest(alice, 'cell-6').click();
    assert.match(await waitText(bob, 'status', /wins/), /alice \(X\) wins/);
    assert.match(await waitText(alice, 'status', /wins/), /alice \(X\) wins/);
    assert.deepEqual(await board(alice), ['O', 'O', 'X', '', 'X', '', 'X', '', '']);
    assert.deepEqual(await board(bob), ['O', 'O', 'X', '', 'X', '', 'X', '', '']);

    // Every chat line once, in order, on both pages.
    const expected = ['before the drop', 'seen it', 'are you there?', 'back again'];
    assert.deepEqual(await lines(alice), expected);
    assert.deepEqual(await lines(bob), expected);

    // Both end on the surviving node; the pill went reconnecting → online on a page that was hit,
    // and never left online on the other.
    for (const [name, page] of Object.entries(people)) {
      assert.equal(nodeOf(page), survivor, name);
      const states = (await connectionStates(page)).slice(mark.get(page));
      if (hit.has(page)) {
        assert.deepEqual(states, ['reconnecting', 'online'], name);
      } else {
        assert.deepEqual(states, [], name);
        assert.equal(page.sockets.length, 1, name);
      }
    }

    assert.deepEqual(unexpected(alice.problems), []);
    assert.deepEqual(unexpected(bob.problems), []);
    await Promise.all([alice, bob].map((p) => p.context().close()));
  });
});
