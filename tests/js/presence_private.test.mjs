// Presence in the docs' chat flow, on private channels authorized by RLS on
// realtime.messages: chat members on chat:<chat id> (policies in presence_private.setup.sql)
// and the project's online-users topic, which signed-in users may read but not write.

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  Inbox,
  SERVICE_ROLE_KEY,
  closeClient,
  directChat,
  newClient,
  signUpUser,
  subscribe,
  subscribeOutcome,
  waitFor,
  waitForLeave,
  watchPresence,
} from './helpers.mjs'

const T = { timeout: 40000 }

let alice, bob, carol, chatId
const extraClients = []

before(async () => {
  ;[alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((l) => signUpUser(l)))
  chatId = await directChat(alice, bob)
  for (const user of [alice, bob, carol]) {
    await user.client.realtime.setAuth(user.session.access_token)
  }
})

after(async () => {
  const clients = [alice, bob, carol].filter(Boolean).map((u) => u.client)
  await Promise.all([...clients, ...extraClients].map(closeClient))
})

/** A private presence channel keyed by the user's id, with its presence events in `events`. */
function presenceChannel(user, topic, events) {
  const config = { private: true, presence: { key: user.user.id } }
  return watchPresence(user.client.channel(topic, { config }), events)
}

const keys = (channel) => Object.keys(channel.presenceState()).sort()

test('two members of a chat see each other online on its private channel', T, async () => {
  const topic = `chat:${chatId}`
  const aliceEvents = new Inbox()
  const bobEvents = new Inbox()
  const aliceChannel = await subscribe(presenceChannel(alice, topic, aliceEvents))
  const bobChannel = await subscribe(presenceChannel(bob, topic, bobEvents))

  assert.equal(await aliceChannel.track({ user_id: alice.user.id, status: 'online' }), 'ok')
  assert.equal(await bobChannel.track({ user_id: bob.user.id, status: 'online' }), 'ok')
  const both = [alice.user.id, bob.user.id].sort()
  const bothAt = (channel) => () => keys(channel).join() === both.join()
  await waitFor(bothAt(aliceChannel), aliceEvents, undefined, 'both at alice')
  await waitFor(bothAt(bobChannel), bobEvents, undefined, 'both at bob')
  assert.equal(aliceChannel.presenceState()[bob.user.id][0].status, 'online')

  // Leaving the channel takes bob out of alice's view.
  await bob.client.removeChannel(bobChannel)
  const left = await waitForLeave(aliceChannel, aliceEvents, bob.user.id)
  assert.equal(left.leftPresences[0].user_id, bob.user.id)
  assert.deepEqual(keys(aliceChannel), [alice.user.id])
  await alice.client.removeChannel(aliceChannel)
})

test('someone outside the chat cannot join its presence channel', T, async () => {
  const channel = presenceChannel(carol, `chat:${chatId}`, new Inbox())
  const { status, err } = await subscribeOutcome(channel)
  assert.equal(status, 'CHANNEL_ERROR')
  assert.match(err.message, new RegExp(`^Unauthorized: .*chat:${chatId}$`))
  await carol.client.removeAllChannels()
})

test('online-users: users see whom the gateway tracks but cannot track themselves', T, async () => {
  // A gateway tracks users online with the service_role key (it bypasses RLS).
  const gateway = newClient({ key: SERVICE_ROLE_KEY })
  extraClients.push(gateway)
  const gatewayEvents = new Inbox()
  const gatewayChannel = await subscribe(
    gateway
      .channel('online-users', { config: { private: true, presence: { key: alice.user.id } } })
      .on('presence', { event: 'join' }, gatewayEvents.collect),
  )
  assert.equal(await gatewayChannel.track({ user_id: alice.user.id }), 'ok')

  const bobEvents = new Inbox()
  const watcher = await subscribe(presenceChannel(bob, 'online-users', bobEvents))
  const aliceOnline = () => alice.user.id in watcher.presenceState()
  await waitFor(aliceOnline, bobEvents, undefined, 'alice online at bob')

  // No insert policy for users on online-users: the track is refused and nobody sees bob.
  assert.equal(await watcher.track({ user_id: bob.user.id }), 'error')
  await gatewayEvents.expectNone((e) => e.key === bob.user.id, undefined, 'bob’s own presence')
  assert.deepEqual(keys(watcher), [alice.user.id])

  // The gateway's socket going away takes alice offline for the watchers.
  gateway.realtime.disconnect()
  await waitForLeave(watcher, bobEvents, alice.user.id)
  assert.deepEqual(keys(watcher), [])
})
