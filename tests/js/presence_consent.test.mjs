// What a direct Realtime / Data API user sees of presence and messages once consent rules
// apply (sql/20261204100100..300): by default presence only between people who share a
// chat, on each user's own topic presence:<user id>; never across a block; a blocked
// sender told only what a user who does not exist is told.
// Followed: Supabase Realtime authorizes a private channel at its join by RLS on
// realtime.messages, extension 'presence' for reading and tracking (supabase/realtime
// lib/realtime/tenants/authorization.ex); an unauthorized join is answered
// "Unauthorized: You do not have permissions to read from this Channel topic: <topic>".

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  Inbox,
  closeClient,
  directChat,
  sendMessage,
  signUpUser,
  subscribe,
  subscribeOutcome,
  waitFor,
  watchPresence,
} from './helpers.mjs'

const T = { timeout: 40000 }

let alice, bob, carol, chatId

before(async () => {
  ;[alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((l) => signUpUser(l)))
  chatId = await directChat(alice, bob)
  for (const user of [alice, bob, carol]) {
    await user.client.realtime.setAuth(user.session.access_token)
  }
})

after(async () => {
  await Promise.all([alice, bob, carol].filter(Boolean).map((u) => closeClient(u.client)))
})

function presenceChannel(user, topic, events) {
  const config = { private: true, presence: { key: user.user.id } }
  return watchPresence(user.client.channel(topic, { config }), events)
}

async function refused(user, topic) {
  const { status, err } = await subscribeOutcome(presenceChannel(user, topic, new Inbox()))
  assert.equal(status, 'CHANNEL_ERROR', `${topic} should be refused`)
  assert.match(err.message, /^Unauthorized: You do not have permissions to read/)
  await user.client.removeAllChannels()
}

test('by default nobody reads the list of everyone online', T, async () => {
  await refused(carol, 'online-users')
  await refused(bob, 'online-users')
})

test('a user tracks themselves; people who share a chat see it, strangers cannot join', T, async () => {
  const topic = `presence:${alice.user.id}`
  const own = await subscribe(presenceChannel(alice, topic, new Inbox()))
  assert.equal(await own.track({ online_at: 'now' }), 'ok')

  const bobEvents = new Inbox()
  const watcher = await subscribe(presenceChannel(bob, topic, bobEvents))
  await waitFor(() => alice.user.id in watcher.presenceState(), bobEvents, undefined, 'alice at bob')
  // Only alice may publish on her topic.
  assert.equal(await watcher.track({ pretending: true }), 'error')

  await refused(carol, topic)
  await alice.client.removeAllChannels()
  await bob.client.removeAllChannels()
})

test('once blocked, no presence, no message, no new chat; unblocked, all is back', T, async () => {
  // alice blocks bob, through the Data API as any app would.
  const blocked = await alice.client.rpc('block_user', { user_id: bob.user.id })
  assert.equal(blocked.error, null)
  const { data: mine } = await alice.client.from('user_blocks').select('blocked_id')
  assert.deepEqual(mine, [{ blocked_id: bob.user.id }])
  // bob cannot read alice's blocks of him.
  const { data: theirs } = await bob.client.from('user_blocks').select('blocker_id')
  assert.deepEqual(theirs, [])

  // Presence, both ways.
  await refused(bob, `presence:${alice.user.id}`)
  await refused(alice, `presence:${bob.user.id}`)

  // Messages: the blocked sender is answered as if alice did not exist.
  const sent = await bob.client.rpc('send_direct_message', { peer_id: alice.user.id, body: 'hi' })
  assert.equal(sent.error.code, 'PT404')
  assert.equal(sent.error.message, 'no such user')
  const opened = await bob.client.rpc('get_or_create_direct_chat', { peer_id: alice.user.id })
  assert.equal(opened.error.code, 'PT404')
  // A direct insert gets RLS's own refusal, as any refused insert does.
  await assert.rejects(sendMessage(bob, chatId, 'sneaking in'), /row-level security/)
  // The blocker is told to unblock first.
  const back = await alice.client.rpc('send_direct_message', { peer_id: bob.user.id, body: 'x' })
  assert.equal(back.error.code, '42501')

  const lifted = await alice.client.rpc('unblock_user', { user_id: bob.user.id })
  assert.equal(lifted.error, null)
  const again = await bob.client.rpc('send_direct_message', { peer_id: alice.user.id, body: 'hi' })
  assert.equal(again.error, null)
  const watcher = await subscribe(presenceChannel(bob, `presence:${alice.user.id}`, new Inbox()))
  assert.ok(watcher)
  await bob.client.removeAllChannels()
})

test('a user cannot block on behalf of someone else', T, async () => {
  const { error } = await carol.client
    .from('user_blocks')
    .insert({ blocker_id: alice.user.id, blocked_id: bob.user.id })
  assert.equal(error.code, '42501')
})
