// Realtime at supabase-js's default protocol (vsn 2.0.0) on public channels: client
// broadcasts (binary kind-3 pushes, kind-4 deliveries) with self/ack, and presence.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, test } from 'node:test'
import {
  ANON_KEY,
  Inbox,
  binaryKind,
  closeClient,
  newClient,
  recordingTransport,
  subscribe,
  waitFor,
  waitForLeave,
  watchPresence,
} from './helpers.mjs'

const T = { timeout: 30000 }
const clients = []

function client() {
  const recorder = recordingTransport()
  const c = newClient({ key: ANON_KEY, transport: recorder.transport })
  clients.push(c)
  return { client: c, frames: recorder.frames }
}

after(async () => {
  await Promise.all(clients.map(closeClient))
})

const keyed = (key) => ({ config: { presence: { key } } })
const isChat = (text) => (m) => m.event === 'chat' && m.payload?.text === text

test('two clients broadcast to each other; self and ack behave as configured', T, async () => {
  const room = `room:${randomUUID()}`
  const a = client()
  const b = client()
  assert.equal(a.client.realtime.vsn, '2.0.0', 'supabase-js speaks vsn 2.0.0 by default')

  const aInbox = new Inbox()
  const bInbox = new Inbox()
  const aChannel = a.client
    .channel(room, { config: { broadcast: { self: true, ack: true } } })
    .on('broadcast', { event: 'chat' }, aInbox.collect)
  const bChannel = b.client
    .channel(room, { config: { broadcast: { self: false, ack: true } } })
    .on('broadcast', { event: 'chat' }, bInbox.collect)
  await Promise.all([subscribe(aChannel), subscribe(bChannel)])

  const hiBob = { type: 'broadcast', event: 'chat', payload: { text: 'hi bob' } }
  assert.equal(await aChannel.send(hiBob), 'ok', 'with ack, send resolves on the server reply')
  const received = await bInbox.waitFor(isChat('hi bob'), undefined, 'alice’s broadcast at bob')
  assert.deepEqual(received, hiBob)
  await aInbox.waitFor(isChat('hi bob'), undefined, 'alice’s own broadcast (self: true)')

  assert.equal(
    await bChannel.send({ type: 'broadcast', event: 'chat', payload: { text: 'hi alice' } }),
    'ok',
  )
  await aInbox.waitFor(isChat('hi alice'), undefined, 'bob’s broadcast at alice')
  await bInbox.expectNone(isChat('hi alice'), undefined, 'bob’s own broadcast (self: false)')

  // Under the hood: kind-3 binary pushes out, kind-4 binary broadcasts in.
  const pushes = a.frames.filter((f) => f.dir === 'out' && binaryKind(f.data) !== null)
  assert.deepEqual(pushes.map((f) => binaryKind(f.data)), [3])
  const deliveries = b.frames.filter((f) => f.dir === 'in' && binaryKind(f.data) !== null)
  assert.deepEqual(deliveries.map((f) => binaryKind(f.data)), [4])
})

test('an event filter only hears its event; "*" hears them all', T, async () => {
  const room = `room:${randomUUID()}`
  const a = client()
  const b = client()
  const typing = new Inbox()
  const everything = new Inbox()
  const bChannel = b.client
    .channel(room)
    .on('broadcast', { event: 'typing' }, typing.collect)
    .on('broadcast', { event: '*' }, everything.collect)
  const aChannel = a.client.channel(room)
  await Promise.all([subscribe(aChannel), subscribe(bChannel)])

  // Without ack, send resolves at once: the first delivery is the proof it went out.
  await aChannel.send({ type: 'broadcast', event: 'chat', payload: { text: 'one' } })
  await aChannel.send({ type: 'broadcast', event: 'typing', payload: { who: 'alice' } })
  await everything.waitForCount(() => true, 2, undefined, 'broadcasts')
  assert.deepEqual(everything.items.map((m) => m.event), ['chat', 'typing'])
  assert.deepEqual(typing.items.map((m) => m.payload), [{ who: 'alice' }])
})

test('presence: track, sync, join and leave between two clients', T, async () => {
  const lobby = `lobby:${randomUUID()}`
  const a = client()
  const b = client()
  const aEvents = new Inbox()
  const bEvents = new Inbox()
  const aChannel = watchPresence(a.client.channel(lobby, keyed('alice')), aEvents)
  const bChannel = watchPresence(b.client.channel(lobby, keyed('bob')), bEvents)

  await subscribe(aChannel)
  assert.equal(await aChannel.track({ name: 'Alice', status: 'online' }), 'ok')
  await subscribe(bChannel)
  // Bob joined after Alice tracked: his first presence_state already has her.
  await waitFor(() => 'alice' in bChannel.presenceState(), bEvents, undefined, 'alice at bob')
  assert.equal(bChannel.presenceState().alice[0].name, 'Alice')
  assert.ok(bChannel.presenceState().alice[0].presence_ref, 'each meta has a presence_ref')

  assert.equal(await bChannel.track({ name: 'Bob', status: 'online' }), 'ok')
  const joined = await aEvents.waitFor(
    (e) => e.kind === 'join' && e.key === 'bob',
    undefined,
    'bob’s join at alice',
  )
  assert.equal(joined.newPresences[0].name, 'Bob')
  const both = () => Object.keys(aChannel.presenceState()).sort().join() === 'alice,bob'
  await waitFor(both, aEvents, undefined, 'both in alice’s state')

  // An update is a leave and a join of the same key; the state keeps one meta.
  assert.equal(await bChannel.track({ name: 'Bob', status: 'away' }), 'ok')
  const away = () => aChannel.presenceState().bob?.[0]?.status === 'away'
  await waitFor(away, aEvents, undefined, 'bob away at alice')
  assert.equal(aChannel.presenceState().bob.length, 1)

  assert.equal(await aChannel.untrack(), 'ok')
  const left = await waitForLeave(bChannel, bEvents, 'alice')
  assert.equal(left.leftPresences[0].name, 'Alice')
})

test('presence: a client that disconnects leaves the others’ state', T, async () => {
  const lobby = `lobby:${randomUUID()}`
  const a = client()
  const b = client()
  const bEvents = new Inbox()
  const aChannel = a.client.channel(lobby, keyed('alice'))
  const bChannel = watchPresence(b.client.channel(lobby, keyed('bob')), bEvents)
  await Promise.all([subscribe(aChannel), subscribe(bChannel)])
  assert.equal(await aChannel.track({ name: 'Alice' }), 'ok')
  await waitFor(() => 'alice' in bChannel.presenceState(), bEvents, undefined, 'alice online')

  a.client.realtime.disconnect()
  const left = await waitForLeave(bChannel, bEvents, 'alice')
  assert.equal(left.leftPresences[0].name, 'Alice')
})

test('httpSend broadcasts over REST to the channel’s subscribers', T, async () => {
  const room = `room:${randomUUID()}`
  const a = client()
  const b = client()
  const bInbox = new Inbox()
  const bChannel = b.client.channel(room).on('broadcast', { event: 'news' }, bInbox.collect)
  await subscribe(bChannel)
  const result = await a.client.channel(room).httpSend('news', { headline: 'REST works' })
  assert.deepEqual(result, { success: true })
  const got = await bInbox.waitFor((m) => m.event === 'news', undefined, 'the REST broadcast')
  assert.deepEqual(got.payload, { headline: 'REST works' })
})

test('heartbeats are answered, so the client keeps its connection', T, async () => {
  const beats = new Inbox()
  const c = newClient({
    realtime: { heartbeatIntervalMs: 100, heartbeatCallback: (status) => beats.push(status) },
  })
  clients.push(c)
  await subscribe(c.channel(`room:${randomUUID()}`))
  await beats.waitForCount((s) => s === 'ok', 3, undefined, 'heartbeat replies')
  assert.deepEqual(
    beats.items.filter((s) => s === 'timeout' || s === 'error'),
    [],
  )
  assert.equal(c.realtime.isConnected(), true)
})
