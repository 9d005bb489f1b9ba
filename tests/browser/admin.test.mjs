// Browser tests of the operators' dashboard (/admin, web/admin.html): without ADMIN_KEY every /admin route is 404;
// with it, a wrong key is refused on the page, the right one opens live uPlot charts and tables filled by the
// traffic of two players (and the bot), and each moderation action works from the page as the players see it: a
// system message reaches their chat, a deleted message leaves it, a disconnect with a ban closes a player's socket
// with 4003 (the page says so, and the ban holds), and the audit list shows every action.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  byTest, launchBrowser, lines, openPage, ROOT, say, screenshotPath, signIn, startStack, until, waitText,
} from './harness.mjs';

const KEY = 'test-admin-key-0123456789';

/** Every frame of `type` a page received, on all its sockets. */
const received = (page, type) => page.sockets.flatMap((s) => s.received).filter((f) => f.type === type);

/** What a chart box tells of its data: labels, values drawn, the largest, and whether uPlot drew a canvas. */
function chart(page, testid) {
  return page.evaluate((id) => {
    const box = document.querySelector(`[data-testid="${id}"]`);
    const canvas = box.querySelector('.uplot canvas');
    return {
      series: (box.dataset.series ?? '').split(',').filter(Boolean),
      points: Number(box.dataset.points ?? 0),
      peak: Number(box.dataset.peak ?? 0),
      canvas: canvas ? { width: canvas.width, height: canvas.height } : null,
    };
  }, testid);
}

/** Whether a canvas of the chart has anything drawn on it (axes, grid, series). */
function drawn(page, testid) {
  return page.evaluate((id) => {
    const canvas = document.querySelector(`[data-testid="${id}"] .uplot canvas`);
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted += 1;
    return painted;
  }, testid);
}

/** The rows of a table body as arrays of cell texts. */
function rows(page, testid) {
  return page.locator(`[data-testid="${testid}"] tbody tr`).evaluateAll((trs) => trs
    .filter((tr) => !tr.querySelector('td.empty'))
    .map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent.trim())));
}

/** Opens the dashboard and gives the key. */
async function openDashboard(browser, url, key) {
  const admin = await openPage(browser, `${url}/admin`, { viewport: { width: 1400, height: 1000 } });
  await byTest(admin, 'key-input').fill(key);
  await byTest(admin, 'key-submit').click();
  return admin;
}

/** The console errors of a page but the failed loads its test caused on purpose (`statuses`, e.g. [401]). */
function problemsBut(page, statuses) {
  const expected = new RegExp(`status of (${statuses.join('|')}) `);
  return statuses.length ? page.problems.filter((p) => !expected.test(p)) : [...page.problems];
}

describe('the operators\' dashboard without ADMIN_KEY', () => {
  let stack;

  before(async () => {
    stack = await startStack('admin-off');
  });

  after(async () => {
    await stack?.stop();
  });

  test('/admin, the page included, is 404 on every node, with the JSON error of other 404s', { timeout: 60_000 }, async () => {
    for (const node of ['a', 'b']) {
      for (const [method, route, headers] of [
        ['GET', '/admin', {}],
        ['GET', '/admin.html', {}],
        ['GET', '/admin/overview', { authorization: `Bearer ${KEY}` }],
        ['GET', '/admin/audit', { authorization: `Bearer ${KEY}` }],
        ['POST', '/admin/disconnect', { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }],
      ]) {
        const response = await fetch(`${stack.url(node)}${route}`, {
          method, headers, body: method === 'POST' ? JSON.stringify({ name: 'x' }) : undefined,
        });
        assert.equal(response.status, 404, `${method} ${route} on node ${node}`);
        assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal((await response.json()).error?.code, 'not_found', `${method} ${route}`);
      }
    }
    // The player's page is there as always.
    assert.equal((await fetch(`${stack.url('a')}/`)).status, 200);
  });
});

describe('the operators\' dashboard', () => {
  let stack;
  let browser;
  /** Shared by the tests below, in order: the players' pages, their game, the dashboard. */
  const s = {};

  before(async () => {
    stack = await startStack('admin', { env: { ADMIN_KEY: KEY } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('the page and uPlot are served; the API refuses a missing or wrong key (401); the page refuses a wrong key', { timeout: 60_000 }, async () => {
    const url = stack.url('a');
    const page = await fetch(`${url}/admin`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /src="\/js\/admin\.js"/);
    // uPlot comes from its npm package (scripts/web-vendor.sh copies it), served like the page's files.
    const uplot = await fetch(`${url}/vendor/uplot/uPlot.esm.js`);
    assert.equal(uplot.status, 200);
    assert.equal(await uplot.text(), readFileSync(path.join(ROOT, 'web/node_modules/uplot/dist/uPlot.esm.js'), 'utf8'));
    assert.equal((await fetch(`${url}/vendor/uplot/uPlot.min.css`)).status, 200);

    for (const headers of [{}, { authorization: 'Bearer not-the-key' }]) {
      const response = await fetch(`${url}/admin/overview`, { headers });
      assert.equal(response.status, 401, JSON.stringify(headers));
      assert.equal((await response.json()).error?.code, 'unauthorized');
    }

    const admin = await openDashboard(browser, url, 'not-the-key');
    await waitText(admin, 'key-error', /^That key was refused\.$/);
    assert.equal(await byTest(admin, 'dashboard').isVisible(), false);
    assert.equal(await byTest(admin, 'feed').getAttribute('data-state'), 'refused');
    assert.equal(await admin.evaluate(() => sessionStorage.getItem('admin-key')), null, 'a refused key is not kept');
    await admin.screenshot({ path: screenshotPath('admin-refused.png') });

    // The right key: the dashboard, and the key kept for this tab (a reload needs no key).
    await byTest(admin, 'key-input').fill(KEY);
    await byTest(admin, 'key-submit').click();
    await byTest(admin, 'dashboard').waitFor();
    await waitText(admin, 'feed', /^live$/);
    assert.equal(await byTest(admin, 'key-error').textContent(), '');
    await admin.reload();
    await byTest(admin, 'dashboard').waitFor();
    assert.equal(await admin.locator('#key-view').isVisible(), false);
    // Signing out forgets the key.
    await byTest(admin, 'sign-out').click();
    await byTest(admin, 'key-input').waitFor();
    assert.equal(await admin.evaluate(() => sessionStorage.getItem('admin-key')), null);

    assert.deepEqual(problemsBut(admin, [401]), []);
    await admin.context().close();
  });

  test('live charts and tables: nodes, sockets, frames, sessions, the bot queue, Redis, rooms and games in play', { timeout: 90_000 }, async () => {
    // Two players on two nodes, in a game, chatting; alice also talks to the bot.
    const alice = await openPage(browser, stack.url('a'), { recordFrames: true });
    await signIn(alice, 'alice');
    await byTest(alice, 'new-game').click();
    const id = (await waitText(alice, 'game-id', /^[A-Za-z0-9]+$/)).trim();
    const bob = await openPage(browser, `${stack.url('b')}/?game=${id}`, { recordFrames: true });
    await signIn(bob, 'bob');
    await waitText(alice, 'status', /^Your turn \(X\)/);
    await byTest(alice, 'cell-4').click();
    await waitText(bob, 'cell-4', /^X$/);
    await say(alice, 'hi bob');
    await say(bob, 'hi alice');
    await waitText(alice, 'chat-log', /hi alice/);
    await byTest(alice, 'bot-input').fill('hello bot');
    await byTest(alice, 'bot-send').click();
    await alice.locator('[data-testid="bot-log"] li.msg.bot .text').first().waitFor();
    Object.assign(s, { alice, bob, id, room: `game:${id}` });

    const admin = await openDashboard(browser, stack.url('b'), KEY);
    await byTest(admin, 'dashboard').waitFor();
    s.admin = admin;

    // Tables: both nodes, the game in play between alice and bob, its chat among the busiest rooms.
    await until('both nodes in the nodes table', async () => (await rows(admin, 'nodes-table')).length === 2, 15_000, 200);
    const nodes = await rows(admin, 'nodes-table');
    assert.deepEqual(nodes.map((r) => r[0]).sort(), [stack.nodes.a.id, stack.nodes.b.id].sort());
    await until('the game in the games table', async () => (await rows(admin, 'games-table')).some((r) => r[0] === id), 15_000, 200);
    const game = (await rows(admin, 'games-table')).find((r) => r[0] === id);
    assert.deepEqual(game, [id, 'alice', 'bob', 'playing', 'people']);
    await until('the game\'s chat among the busiest rooms', async () => (await rows(admin, 'rooms-table')).some((r) => r[0] === s.room && r[1] === '2'), 15_000, 200);
    // Sockets are counted by the nodes' heartbeats (every 5 s).
    await until('both players\' sockets counted', async () => Number(await byTest(admin, 'tile-sockets').textContent()) >= 2, 15_000, 250);
    assert.ok(Number(await byTest(admin, 'tile-games').textContent()) >= 1);
    assert.ok(Number(await byTest(admin, 'tile-rooms').textContent()) >= 1);
    assert.match(await byTest(admin, 'tile-redis').textContent(), /\d+(\.\d)? (B|KB|MB|GB)/);

    // Charts: drawn by uPlot, each with data. The frames chart has the kinds the players sent, the sockets chart
    // both nodes, the sessions chart this hour's sessions, the queue chart the bot's stream, Redis its memory.
    // Samples accumulate every 3 s: wait for two.
    await until('two samples in the time charts, with both sockets', async () => {
      const sockets = await chart(admin, 'chart-sockets');
      return sockets.points >= 2 * 3 && sockets.peak >= 2;
    }, 15_000, 250);
    await until('room.say in the frames chart', async () => {
      const frames = await chart(admin, 'chart-frames');
      return frames.series.includes('room.say') && frames.series.includes('game.move') && frames.peak > 0;
    }, 15_000, 250);
    const charts = {};
    for (const name of ['chart-frames', 'chart-sockets', 'chart-sessions', 'chart-queue', 'chart-redis']) {
      charts[name] = await chart(admin, name);
      assert.ok(charts[name].canvas && charts[name].canvas.width > 0 && charts[name].canvas.height > 0, `${name}: a uPlot canvas`);
      assert.ok(charts[name].points > 0, `${name}: points drawn ${JSON.stringify(charts[name])}`);
      assert.ok(await drawn(admin, name) > 0, `${name}: something painted on the canvas`);
    }
    assert.ok(charts['chart-sockets'].series.includes(stack.nodes.a.id) && charts['chart-sockets'].series.includes(stack.nodes.b.id), JSON.stringify(charts['chart-sockets']));
    assert.ok(charts['chart-sockets'].peak >= 2);
    assert.ok(charts['chart-sessions'].series.includes('ws'), JSON.stringify(charts['chart-sessions']));
    assert.ok(charts['chart-sessions'].peak >= 1, 'alice\'s and bob\'s sessions today');
    assert.deepEqual(charts['chart-queue'].series.slice(0, 3), ['length', 'lag', 'pending']);
    assert.ok(charts['chart-queue'].peak >= 1, 'the bot message is in message_channel');
    assert.ok(charts['chart-redis'].series.includes('used') && charts['chart-redis'].peak > 100_000, JSON.stringify(charts['chart-redis']));
    await waitText(admin, 'updated', /^updated /);
    await admin.screenshot({ path: screenshotPath('admin-dashboard.png'), fullPage: true });

    assert.deepEqual(problemsBut(admin, []), []);
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });

  test('moderation from the page: a system message, a deletion, a disconnect with a ban; the audit list', { timeout: 120_000 }, async () => {
    const { alice, bob, admin, room } = s;
    assert.ok(admin, 'the previous test opened the dashboard');

    // A system message to the game's chat: both players see it, as the moderator's.
    await admin.locator(`[data-testid="rooms-table"] tr[data-room="${room}"] button.moderate`).click();
    assert.equal(await byTest(admin, 'say-room').inputValue(), room);
    await byTest(admin, 'say-text').fill('Please keep it friendly.');
    await byTest(admin, 'say-submit').click();
    await waitText(admin, 'say-result', new RegExp(`^Posted to ${room} as system \\(ID \\d+-\\d+\\)\\.$`));
    for (const page of [alice, bob]) {
      await waitText(page, 'chat-log', /Please keep it friendly\./);
      const line = page.locator('[data-testid="chat-log"] li.msg.system');
      assert.equal(await line.locator('.text').textContent(), 'Please keep it friendly.');
      assert.equal(await line.locator('.from').textContent(), 'Moderator');
      assert.equal(await line.locator('button.mute').count(), 0, 'the moderator cannot be muted');
      assert.ok(received(page, 'room.message').some((f) => f.from === 'system' && f.text === 'Please keep it friendly.'));
    }
    await alice.screenshot({ path: screenshotPath('admin-system-message.png') });

    // A deletion: bob's rude line leaves both chats (and alice's history after a reload).
    await say(bob, 'a rude line');
    await waitText(alice, 'chat-log', /a rude line/);
    const rude = await alice.locator('[data-testid="chat-log"] li[data-from="bob"]').last().getAttribute('data-id');
    assert.match(rude, /^\d+-\d+$/);
    await byTest(admin, 'delete-room').fill(room);
    await byTest(admin, 'delete-id').fill(rude);
    await byTest(admin, 'delete-submit').click();
    await waitText(admin, 'delete-result', new RegExp(`^Deleted message ${rude} from ${room}\\.$`));
    for (const page of [alice, bob]) {
      await page.waitForFunction((msg) => !document.querySelector(`[data-testid="chat-log"] li[data-id="${msg}"]`), rude);
      assert.ok(!(await lines(page)).includes('a rude line'));
      assert.ok(received(page, 'room.deleted').some((f) => f.room === room && f.id === rude));
    }
    assert.deepEqual(await lines(alice), ['hi bob', 'hi alice', 'Please keep it friendly.']);
    await alice.reload();
    await waitText(alice, 'connection', /^online$/);
    await waitText(alice, 'chat-log', /Please keep it friendly\./);
    assert.deepEqual(await lines(alice), ['hi bob', 'hi alice', 'Please keep it friendly.']);
    // A message the room does not have: refused, said so on the page.
    await byTest(admin, 'delete-room').fill(room);
    await byTest(admin, 'delete-id').fill(rude);
    await byTest(admin, 'delete-submit').click();
    await waitText(admin, 'delete-result', new RegExp(`^${room} has no message ${rude}\\.$`));
    assert.equal(await byTest(admin, 'delete-result').getAttribute('data-tone'), 'bad');

    // A disconnect by name with a ban: bob's socket closes with 4003, his page says so and does not reconnect;
    // while the ban lasts he cannot come back, by reload or under his name. Alice stays.
    const closeCode = bob.evaluate(() => new Promise((resolve) => {
      window.lastSocket.addEventListener('close', (event) => resolve(event.code));
    }));
    const socketsBefore = bob.sockets.length;
    await byTest(admin, 'disconnect-by').selectOption('name');
    await byTest(admin, 'disconnect-value').fill('bob');
    await byTest(admin, 'disconnect-ban').fill('300');
    await byTest(admin, 'disconnect-submit').click();
    await waitText(admin, 'disconnect-result', /^(\d+ sockets? of name bob closed|name bob disconnected on every node); banned until .+\.$/);
    assert.equal(await closeCode, 4003);
    await waitText(bob, 'connection', /^disconnected by a moderator$/);
    assert.match(await byTest(bob, 'connection').getAttribute('title'), /^closed by the server: 4003/);
    await bob.waitForTimeout(1500);
    await bob.screenshot({ path: screenshotPath('admin-disconnected.png') });
    assert.equal(bob.sockets.length, socketsBefore, 'no reconnect after 4003');
    await waitText(alice, 'connection', /^online$/);

    await bob.reload();
    await waitText(bob, 'connection', /^disconnected by a moderator$/);
    const refused = await fetch(`${stack.url('a')}/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bob' }),
    });
    assert.equal(refused.status, 403);
    assert.equal((await refused.json()).error?.code, 'banned');
    const other = await openPage(browser, stack.url('a'));
    await byTest(other, 'name-input').fill('bob');
    await byTest(other, 'name-submit').click();
    await other.locator('#name-error').filter({ hasText: /banned this name/ }).waitFor();
    await other.context().close();

    // The audit list: the three actions, newest first, with what they did.
    await until('the actions in the audit list', async () => (await rows(admin, 'audit-table')).length >= 3, 10_000, 200);
    const audit = await rows(admin, 'audit-table');
    const actions = audit.map((r) => r[2]);
    assert.equal(actions[0], 'disconnect', JSON.stringify(audit));
    assert.ok(actions.indexOf('room.delete') > 0 && actions.indexOf('room.message') > actions.indexOf('room.delete'), JSON.stringify(actions));
    assert.match(audit[0][3], /bob/);
    assert.match(audit[0][1], /^127\.0\.0\.1$|^::1$|^::ffff:127\.0\.0\.1$/);
    assert.match(audit.find((r) => r[2] === 'room.delete')[3], new RegExp(rude));
    assert.match(audit.find((r) => r[2] === 'room.message')[3], /Please keep it friendly\./);
    await admin.screenshot({ path: screenshotPath('admin-moderation.png'), fullPage: true });

    // The failed deletion's 404 and the refusals of bob's socket are the only errors the pages saw.
    assert.deepEqual(problemsBut(admin, [404]), []);
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(problemsBut(bob, [403]), []);
    await Promise.all([alice, bob, admin].map((p) => p.context().close()));
  });
});
