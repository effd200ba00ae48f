// Postgres Changes with supabase-js: an INSERT into messages reaches the subscribers whose
// RLS lets them read the row, typed by column (supabase-js converts values by Postgres type).

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  Inbox,
  SOON_MS,
  closeClient,
  directChat,
  sendMessage,
  signUpUser,
  subscribe,
} from './helpers.mjs'

const T = { timeout: 30000 }
const MESSAGE_INSERTS = { event: 'INSERT', schema: 'public', table: 'messages' }

let alice, bob, carol

before(async () => {
  ;[alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((l) => signUpUser(l)))
})

after(async () => {
  await Promise.all([alice, bob, carol].filter(Boolean).map((u) => closeClient(u.client)))
})

/**
 * Subscribe `user` to INSERTs on public.messages. Resolves once the server confirmed the
 * database subscription ("Subscribed to PostgreSQL"), after which no insert can be missed.
 */
async function watchMessageInserts(user, name) {
  await user.client.realtime.setAuth(user.session.access_token)
  const changes = new Inbox()
  const system = new Inbox()
  const channel = user.client
    .channel(name)
    .on('postgres_changes', MESSAGE_INSERTS, changes.collect)
    .on('system', {}, system.collect)
  await subscribe(channel)
  const ready = await system.waitFor(
    (m) => m.extension === 'postgres_changes',
    SOON_MS,
    'the postgres_changes system message',
  )
  assert.equal(ready.status, 'ok', `subscription failed: ${ready.message}`)
  assert.equal(ready.message, 'Subscribed to PostgreSQL')
  return { channel, changes }
}

test('a member receives a message INSERT with typed values; an outsider does not', T, async () => {
  const chatId = await directChat(alice, bob)
  const forBob = await watchMessageInserts(bob, 'bob-inbox')
  const forCarol = await watchMessageInserts(carol, 'carol-inbox')

  const stored = await sendMessage(alice, chatId, 'hello over postgres changes')
  const change = await forBob.changes.waitFor(
    (c) => c.new?.id === stored.id,
    SOON_MS,
    'the INSERT at bob',
  )
  assert.equal(change.eventType, 'INSERT')
  assert.equal(change.schema, 'public')
  assert.equal(change.table, 'messages')
  assert.equal(change.errors, null)
  assert.deepEqual(change.old, {})
  assert.ok(!Number.isNaN(Date.parse(change.commit_timestamp)))
  assert.equal(change.new.seq, stored.seq)
  assert.equal(typeof change.new.seq, 'number', 'int8 arrives as a number')
  assert.equal(typeof change.new.id, 'number')
  assert.equal(change.new.body, 'hello over postgres changes')
  assert.equal(change.new.chat_id, chatId)
  assert.equal(change.new.sender_id, alice.user.id)
  assert.equal(change.new.client_msg_id, stored.client_msg_id)
  assert.equal(Date.parse(change.new.created_at), Date.parse(stored.created_at))

  // Changes reach a subscriber in commit order, so a later insert carol may read is a fence:
  // once it arrives, anything of the earlier one would have arrived before it.
  const carolChat = await directChat(alice, carol)
  const toCarol = await sendMessage(alice, carolChat, 'hi carol')
  await forCarol.changes.waitFor((c) => c.new?.id === toCarol.id, SOON_MS, 'carol’s own message')
  assert.deepEqual(
    forCarol.changes.items.map((c) => c.new.id),
    [toCarol.id],
    'carol got nothing of the chat she is not in',
  )
  const fence = await sendMessage(alice, chatId, 'fence for bob')
  await forBob.changes.waitFor((c) => c.new?.id === fence.id, SOON_MS, 'the fence at bob')
  assert.deepEqual(
    forBob.changes.items.map((c) => c.new.id),
    [stored.id, fence.id],
    'bob got nothing of carol’s chat',
  )
})

test('changes arrive in commit order, one per insert', T, async () => {
  const chatId = await directChat(alice, bob)
  const forBob = await watchMessageInserts(bob, 'bob-order')
  const sent = []
  for (const body of ['a', 'b', 'c']) sent.push(await sendMessage(bob, chatId, body))
  const inChat = (c) => c.new?.chat_id === chatId
  const got = await forBob.changes.waitForCount(inChat, 3, SOON_MS, 'INSERTs')
  assert.deepEqual(
    got.map((c) => c.new.seq),
    sent.map((m) => m.seq),
  )
})

test('a filter narrows the subscription to one chat', T, async () => {
  const withBob = await directChat(alice, bob)
  const withCarol = await directChat(alice, carol)
  await alice.client.realtime.setAuth(alice.session.access_token)
  const changes = new Inbox()
  const system = new Inbox()
  const channel = alice.client
    .channel('alice-bob-only')
    .on(
      'postgres_changes',
      { event: 'INSERT', schema: 'public', table: 'messages', filter: `chat_id=eq.${withBob}` },
      changes.collect,
    )
    .on('system', {}, system.collect)
  await subscribe(channel)
  await system.waitFor((m) => m.extension === 'postgres_changes' && m.status === 'ok')

  const other = await sendMessage(alice, withCarol, 'to carol')
  const wanted = await sendMessage(alice, withBob, 'to bob')
  const first = await changes.waitFor(() => true, SOON_MS, 'the filtered INSERT')
  assert.equal(first.new.id, wanted.id, `${other.id} was filtered out`)
  await changes.expectNone((c) => c.new.id === other.id, undefined, 'the other chat’s message')
})
