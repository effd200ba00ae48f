// `config.broadcast.replication_ready`, as supabase-js documents it (RealtimeChannel.d.ts,
// `RealtimeSystemPayload`): the server emits one `system` event, extension 'system', status
// 'ok', message 'Replication connection established', once the replication connection behind
// the channel is up (supabase/realtime realtime_channel.ex `:notify_replication_ready`).

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, test } from 'node:test'
import { Inbox, SOON_MS, closeClient, newClient, subscribe } from './helpers.mjs'

const T = { timeout: 30000 }
const clients = []

after(async () => {
  await Promise.all(clients.map(closeClient))
})

function channel(name, config) {
  const client = newClient()
  clients.push(client)
  const system = new Inbox()
  const ch = client.channel(name, { config }).on('system', {}, system.collect)
  return { ch, system }
}

test('a channel that asks is told once replication is ready, exactly as documented', T, async () => {
  const name = `room:${randomUUID()}`
  const { ch, system } = channel(name, { broadcast: { replication_ready: true } })
  await subscribe(ch)
  const ready = await system.waitFor((m) => m.extension === 'system', SOON_MS, 'the ready message')
  assert.deepEqual(ready, {
    extension: 'system',
    status: 'ok',
    message: 'Replication connection established',
    channel: name,
  })
  await system.expectNone((m) => m !== ready, undefined, 'a second system message')
})

test('a channel that does not ask gets no system message', T, async () => {
  const { ch, system } = channel(`room:${randomUUID()}`, { broadcast: { self: true } })
  await subscribe(ch)
  await system.expectNone(() => true, undefined, 'a system message')
})
