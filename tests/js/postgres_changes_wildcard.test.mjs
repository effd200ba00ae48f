// A wildcard Postgres Changes subscription ({ event: '*', schema: 'public' }, as the Supabase
// docs write it: no table) receives the changes of a table added to the supabase_realtime
// publication after it subscribed (supabase/realtime subscription_manager.ex `:check_oids`
// re-subscribes every channel when the publication's tables change).

import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Inbox, SERVICE_ROLE_KEY, SOON_MS, closeClient, newClient, subscribe } from './helpers.mjs'

const T = { timeout: 30000 }
const clients = []

after(async () => {
  await Promise.all(clients.map(closeClient))
})

test('a schema-wide subscription sees a table published after it subscribed', T, async () => {
  const watcher = newClient()
  const service = newClient({ key: SERVICE_ROLE_KEY })
  clients.push(watcher, service)
  const changes = new Inbox()
  const system = new Inbox()
  const channel = watcher
    .channel('schema-db-changes')
    .on('postgres_changes', { event: '*', schema: 'public' }, changes.collect)
    .on('system', {}, system.collect)
  await subscribe(channel)
  const first = await system.waitFor((m) => m.extension === 'postgres_changes', SOON_MS, 'system')
  assert.equal(first.status, 'ok', first.message)

  const published = await service.rpc('test_publish_late_notes')
  assert.equal(published.error, null)
  const inserted = await service.from('late_notes').insert({ body: 'hello, late table' })
  assert.equal(inserted.error, null)

  const change = await changes.waitFor((c) => c.table === 'late_notes', SOON_MS, 'the INSERT')
  assert.equal(change.eventType, 'INSERT')
  assert.equal(change.schema, 'public')
  assert.equal(change.new.body, 'hello, late table')
})
