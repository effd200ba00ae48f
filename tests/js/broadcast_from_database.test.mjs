// The chat flow of Supabase's docs, Broadcast from Database: each new message is sent by a
// trigger (realtime.send) to its members' private topics user:<id>, which RLS on
// realtime.messages lets only that user join.

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  Inbox,
  PASSWORD,
  binaryKind,
  closeClient,
  directChat,
  newClient,
  recordingTransport,
  sendMessage,
  signUpUser,
  subscribe,
  subscribeOutcome,
} from './helpers.mjs'

const T = { timeout: 40000 }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let alice, bob, carol, bobFrames, chatId

before(async () => {
  const recorder = recordingTransport()
  bobFrames = recorder.frames
  ;[alice, bob, carol] = await Promise.all([
    signUpUser('alice'),
    signUpUser('bob', { transport: recorder.transport }),
    signUpUser('carol'),
  ])
  chatId = await directChat(alice, bob)
})

after(async () => {
  await Promise.all([alice, bob, carol].filter(Boolean).map((u) => closeClient(u.client)))
})

/** A user's own private topic, joined as the docs show: setAuth, then private: true. */
async function joinOwnTopic(user, inbox) {
  await user.client.realtime.setAuth(user.session.access_token)
  // supabase-js hands back an existing channel of the same topic: start from a fresh one.
  const topic = `realtime:user:${user.user.id}`
  const previous = user.client.getChannels().find((c) => c.topic === topic)
  if (previous) await user.client.removeChannel(previous)
  const channel = user.client
    .channel(`user:${user.user.id}`, { config: { private: true } })
    .on('broadcast', { event: 'message' }, inbox.collect)
  return subscribe(channel)
}

test('a member receives each new message of their chat on their private topic', T, async () => {
  const bobInbox = new Inbox()
  const aliceInbox = new Inbox()
  await joinOwnTopic(bob, bobInbox)
  await joinOwnTopic(alice, aliceInbox)

  const stored = await sendMessage(alice, chatId, 'hello bob')
  const got = await bobInbox.waitFor(
    (m) => m.payload?.id === stored.id,
    undefined,
    'alice’s message at bob',
  )
  assert.equal(got.type, 'broadcast')
  assert.equal(got.event, 'message')
  assert.equal(got.payload.seq, stored.seq)
  assert.equal(typeof got.payload.seq, 'number')
  assert.equal(got.payload.body, 'hello bob')
  assert.equal(got.payload.chat_id, chatId)
  assert.equal(got.payload.sender_id, alice.user.id)
  assert.equal(got.payload.client_msg_id, stored.client_msg_id)
  assert.deepEqual(got.payload.member_ids, [alice.user.id, bob.user.id].sort())
  assert.match(got.meta.id, UUID, 'meta.id is the realtime.messages row id')

  // The sender's other devices hear it on the sender's own topic too.
  await aliceInbox.waitFor((m) => m.payload?.id === stored.id, undefined, 'the echo at alice')

  const binary = bobFrames.filter((f) => f.dir === 'in' && binaryKind(f.data) !== null)
  assert.ok(binary.length >= 1 && binary.every((f) => binaryKind(f.data) === 4), 'kind-4 frames')
})

test('messages arrive once each, in seq order', T, async () => {
  const bobInbox = new Inbox()
  await joinOwnTopic(bob, bobInbox)
  const sent = []
  for (const body of ['one', 'two', 'three', 'four']) {
    sent.push(await sendMessage(alice, chatId, body))
  }
  // By id, not by chat: a late delivery from an earlier test may still reach this channel.
  const ids = new Set(sent.map((m) => m.id))
  const isSent = (m) => ids.has(m.payload?.id)
  const got = await bobInbox.waitForCount(isSent, sent.length, undefined, 'messages')
  assert.deepEqual(
    got.map((m) => m.payload.seq),
    sent.map((m) => m.seq),
  )
  const more = () => bobInbox.items.filter(isSent).length > sent.length
  await bobInbox.expectNone(more, undefined, 'a duplicate delivery')
})

test('another user cannot join user:<bob> and never receives bob’s messages', T, async () => {
  await carol.client.realtime.setAuth(carol.session.access_token)
  const spied = new Inbox()
  const spy = carol.client
    .channel(`user:${bob.user.id}`, { config: { private: true } })
    .on('broadcast', { event: 'message' }, spied.collect)
  const { status, err } = await subscribeOutcome(spy)
  assert.equal(status, 'CHANNEL_ERROR')
  assert.match(
    err.message,
    new RegExp(
      `^Unauthorized: You do not have permissions to read from this Channel topic: user:${bob.user.id}$`,
    ),
  )
  await carol.client.removeChannel(spy)

  // The public channel of the same name is a different channel: DB broadcasts are private.
  const publicSpied = new Inbox()
  const publicSpy = carol.client
    .channel(`user:${bob.user.id}`)
    .on('broadcast', { event: 'message' }, publicSpied.collect)
  await subscribe(publicSpy)
  const carolOwn = new Inbox()
  await joinOwnTopic(carol, carolOwn)

  const bobInbox = new Inbox()
  await joinOwnTopic(bob, bobInbox)
  const stored = await sendMessage(alice, chatId, 'for bob only')
  await bobInbox.waitFor((m) => m.payload?.id === stored.id, undefined, 'the message at bob')
  // Deliveries follow commit order on carol's socket: her own later message is a fence.
  const carolChat = await directChat(alice, carol)
  const fence = await sendMessage(alice, carolChat, 'for carol')
  await carolOwn.waitFor((m) => m.payload?.id === fence.id, undefined, 'carol’s own message')
  assert.deepEqual(
    carolOwn.items.map((m) => m.payload.id),
    [fence.id],
  )
  assert.deepEqual(publicSpied.items, [], 'nothing on the public channel named user:<bob>')
  assert.deepEqual(spied.items, [])
})

test('a signed-out socket (anon key only) cannot join a private user topic', T, async () => {
  const anon = newClient()
  try {
    const channel = anon.channel(`user:${bob.user.id}`, { config: { private: true } })
    const { status, err } = await subscribeOutcome(channel)
    assert.equal(status, 'CHANNEL_ERROR')
    assert.match(err.message, /^Unauthorized: /)
  } finally {
    await closeClient(anon)
  }
})

test('after the token changes and setAuth, the private channel keeps delivering', T, async () => {
  const bobInbox = new Inbox()
  await joinOwnTopic(bob, bobInbox)
  // A new sign-in always yields a different token (a refresh within the same second may not).
  const { data, error } = await bob.client.auth.signInWithPassword({
    email: bob.email,
    password: PASSWORD,
  })
  assert.equal(error, null)
  assert.notEqual(data.session.access_token, bob.session.access_token)
  await bob.client.realtime.setAuth(data.session.access_token)
  const sentToken = () =>
    bobFrames.some(
      (f) =>
        f.dir === 'out' &&
        typeof f.data === 'string' &&
        f.data.includes('"access_token",{"access_token"'),
    )
  assert.ok(sentToken(), 'setAuth pushes access_token to the joined channel')

  const stored = await sendMessage(alice, chatId, 'after refresh')
  await bobInbox.waitFor((m) => m.payload?.id === stored.id, undefined, 'the message after refresh')
  assert.equal(bob.client.getChannels()[0].state, 'joined')
})

test('coming back online with broadcast replay delivers the messages missed', T, async () => {
  const since = Date.now() - 1000
  const missed = []
  for (const body of ['while away 1', 'while away 2']) {
    missed.push(await sendMessage(alice, chatId, body))
  }

  // A new connection, as a device coming back online (a re-join on a socket that still
  // receives the old channel's deliveries could also see those live copies).
  const device = newClient()
  try {
    await device.realtime.setAuth(bob.session.access_token)
    const inbox = new Inbox()
    const channel = device
      .channel(`user:${bob.user.id}`, {
        config: { private: true, broadcast: { replay: { since, limit: 25 } } },
      })
      .on('broadcast', { event: 'message' }, inbox.collect)
    await subscribe(channel)

    const ids = new Set(missed.map((m) => m.id))
    const isMissed = (m) => ids.has(m.payload?.id)
    const replayed = await inbox.waitForCount(isMissed, missed.length, undefined, 'replays')
    assert.deepEqual(
      replayed.map((m) => m.payload.seq),
      missed.map((m) => m.seq),
      'oldest first, once each',
    )
    assert.ok(replayed.every((m) => m.meta?.replayed === true), 'marked meta.replayed')

    const live = await sendMessage(alice, chatId, 'back online')
    const got = await inbox.waitFor((m) => m.payload?.id === live.id, undefined, 'a live message')
    assert.notEqual(got.meta?.replayed, true)
    assert.equal(inbox.items.filter(isMissed).length, missed.length, 'no replayed one twice')
  } finally {
    await closeClient(device)
  }
})
