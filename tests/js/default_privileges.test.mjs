// Supabase's default privileges (supabase/postgres init-scripts/00000000000000-initial-schema.sql:
// whatever `postgres` creates in public is granted to anon, authenticated and service_role):
// a table made with the docs' SQL and no grant (default_privileges.setup.sql) answers every
// API role through the Data API and Postgres Changes, and RLS alone decides the rows.

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  Inbox,
  SERVICE_ROLE_KEY,
  SOON_MS,
  closeClient,
  newClient,
  signUpUser,
  subscribe,
} from './helpers.mjs'

const T = { timeout: 30000 }

let user, anon, service

before(async () => {
  user = await signUpUser('cartographer')
  anon = newClient()
  service = newClient({ key: SERVICE_ROLE_KEY })
})

after(async () => {
  await Promise.all([user?.client, anon, service].filter(Boolean).map((c) => closeClient(c)))
})

test('a signed-in user inserts, anon and service_role read, with no grant written', T, async () => {
  const inserted = await user.client.from('countries').insert({ name: 'Chile' }).select().single()
  assert.equal(inserted.error, null)
  assert.equal(inserted.status, 201)
  assert.equal(inserted.data.added_by, user.user.id)

  const forAnon = await anon.from('countries').select('name')
  assert.equal(forAnon.error, null)
  assert.deepEqual(forAnon.data, [{ name: 'Chile' }])

  const forService = await service.from('countries').select('name, added_by')
  assert.equal(forService.error, null)
  assert.deepEqual(forService.data, [{ name: 'Chile', added_by: user.user.id }])

  const refused = await anon.from('countries').insert({ name: 'Atlantis' })
  assert.equal(refused.status, 401)
  assert.equal(refused.error.code, '42501')
  assert.equal(refused.error.message, 'new row violates row-level security policy for table "countries"')
})

test('a filtered Postgres Changes subscription on it is accepted and delivers', T, async () => {
  await user.client.realtime.setAuth(user.session.access_token)
  const changes = new Inbox()
  const system = new Inbox()
  const channel = user.client
    .channel('my-countries')
    .on(
      'postgres_changes',
      { event: 'INSERT', schema: 'public', table: 'countries', filter: `added_by=eq.${user.user.id}` },
      changes.collect,
    )
    .on('system', {}, system.collect)
  await subscribe(channel)
  const ready = await system.waitFor((m) => m.extension === 'postgres_changes', SOON_MS, 'system')
  assert.equal(ready.status, 'ok', ready.message)

  const { error } = await user.client.from('countries').insert({ name: 'Peru' })
  assert.equal(error, null)
  const change = await changes.waitFor((c) => c.new?.name === 'Peru', SOON_MS, 'the INSERT')
  assert.equal(change.new.added_by, user.user.id)
})
