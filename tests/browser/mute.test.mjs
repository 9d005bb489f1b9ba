// Browser tests of muting in the game's chat: a player mutes another from one of their lines; that name's lines
// leave the view and no longer arrive (nor does its typing), while a spectator and the muted player still see them;
// the muted list survives a reload; unmuting lets new lines through again.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  byTest, launchBrowser, lines, openPage, say, screenshotPath, signIn, startStack, waitText,
} from './harness.mjs';

function assertClean(...pages) {
  for (const page of pages) assert.deepEqual(page.problems, [], 'console errors, uncaught exceptions or frames the contract does not describe');
}

/** Every frame of `type` a page received, on all its sockets. */
const received = (page, type) => page.sockets.flatMap((s) => s.received).filter((f) => f.type === type);
/** Every frame of `type` a page sent, on all its sockets. */
const sent = (page, type) => page.sockets.flatMap((s) => s.sent).filter((f) => f.type === type);

describe('muting in the game chat', () => {
  let stack;
  let browser;

  before(async () => {
    stack = await startStack('mute');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('alice mutes bob: his lines leave her chat and stop coming, carol and bob still see them; unmuting lets them through', { timeout: 90_000 }, async () => {
    const alice = await openPage(browser, stack.url('a'));
    await signIn(alice, 'alice');
    await byTest(alice, 'new-game').click();
    const id = (await waitText(alice, 'game-id', /^[A-Za-z0-9]+$/)).trim();
    const bob = await openPage(browser, `${stack.url('b')}/?game=${id}`);
    await signIn(bob, 'bob');
    await waitText(alice, 'status', /^Your turn \(X\)/);
    // A third party in the same chat: a spectator, on node A like alice.
    const carol = await openPage(browser, `${stack.url('a')}/?game=${id}`);
    await signIn(carol, 'carol');
    await waitText(carol, 'status', /^Watching/);
    assert.equal(await byTest(alice, 'muted-list').isVisible(), false, 'nobody muted yet');

    await say(bob, 'hi from bob');
    await say(carol, 'hi from carol');
    await waitText(alice, 'chat-log', /hi from carol/);
    assert.deepEqual(await lines(alice), ['hi from bob', 'hi from carol']);
    // A mute button on the lines of others, none on one's own.
    assert.equal(await bob.locator('[data-testid="chat-log"] li.mine button.mute').count(), 0);
    const muteBob = alice.locator('[data-testid="chat-log"] li[data-from="bob"] button.mute').first();
    assert.equal(await muteBob.textContent(), 'mute');

    await muteBob.click();
    await waitText(alice, 'muted-list', /bob/);
    assert.equal(await alice.locator('.muted-list .muted-name').count(), 1);
    await alice.locator('.muted-list button.unmute[data-name="bob"]').waitFor();
    // Bob's line left alice's view; carol's stayed.
    await alice.waitForFunction(() => !document.querySelector('[data-testid="chat-log"] li[data-from="bob"]'));
    assert.deepEqual(await lines(alice), ['hi from carol']);
    assert.equal(sent(alice, 'user.mute').length, 1);
    assert.equal(sent(alice, 'user.mute')[0].name, 'bob');
    const ack = received(alice, 'ack').find((f) => f.ref === sent(alice, 'user.mute')[0].ref);
    assert.ok(ack, 'the mute was acknowledged');
    const typingBefore = received(alice, 'room.typing').length;

    // Bob types and speaks: carol sees both, alice neither, and nothing of it reaches her page.
    // (A page tells the others at most once a second that its user types: past the last time first.)
    await bob.waitForTimeout(1100);
    await byTest(bob, 'chat-input').pressSequentially('you cannot', { delay: 20 });
    await waitText(carol, 'chat-typing', /^bob is typing…$/);
    await byTest(bob, 'chat-input').fill('');
    await say(bob, 'you cannot hear me');
    await waitText(carol, 'chat-log', /you cannot hear me/);
    await waitText(bob, 'chat-log', /you cannot hear me/);
    await say(carol, 'but I can');
    await waitText(alice, 'chat-log', /but I can/);
    assert.deepEqual(await lines(alice), ['hi from carol', 'but I can']);
    assert.equal((await byTest(alice, 'chat-typing').textContent()).trim(), '');
    assert.deepEqual(received(alice, 'room.message').filter((f) => f.from === 'bob' && f.text === 'you cannot hear me'), []);
    assert.deepEqual(received(alice, 'room.typing').slice(typingBefore).filter((f) => f.name === 'bob'), []);
    assert.deepEqual(await lines(carol), ['hi from bob', 'hi from carol', 'you cannot hear me', 'but I can']);
    // The game goes on between them as before.
    await byTest(alice, 'cell-4').click();
    await waitText(bob, 'cell-4', /^X$/);
    await alice.screenshot({ path: screenshotPath('chat-muted.png') });

    // The list is the session's: after a reload it is still there, and the chat's history leaves bob out.
    await alice.reload();
    await waitText(alice, 'connection', /^online$/);
    await waitText(alice, 'game-id', new RegExp(`^${id}$`));
    await waitText(alice, 'chat-log', /but I can/);
    await waitText(alice, 'muted-list', /bob/);
    assert.deepEqual(await lines(alice), ['hi from carol', 'but I can']);

    // Unmuted: the list empties, and what bob says from now on shows again.
    await alice.locator('.muted-list button.unmute[data-name="bob"]').click();
    await alice.locator('[data-testid="muted-list"]').waitFor({ state: 'hidden' });
    assert.equal(sent(alice, 'user.unmute').at(-1)?.name, 'bob');
    await say(bob, 'back again');
    await waitText(alice, 'chat-log', /back again/);
    assert.equal((await lines(alice)).at(-1), 'back again');
    assert.ok(received(alice, 'room.message').some((f) => f.from === 'bob' && f.text === 'back again'));

    assertClean(alice, bob, carol);
    await Promise.all([alice, bob, carol].map((p) => p.context().close()));
  });
});
