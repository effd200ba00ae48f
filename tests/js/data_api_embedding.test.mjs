// Resource embedding with supabase-js, as the Supabase docs write it (guides/database/
// joins-and-nesting; reference javascript/select "Query referenced tables", "Filtering
// through referenced tables" with !inner) and as PostgREST answers it (its Error.hs for
// PGRST201; RLS applies to the embedded rows, which are read as the caller's role).

import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { closeClient, newClient } from './helpers.mjs'

const T = { timeout: 20000 }
const anon = newClient()

after(async () => {
  await closeClient(anon)
})

test('countries with their cities: a one-to-many embed, RLS-filtered', T, async () => {
  const { data, error } = await anon
    .from('countries')
    .select('name, cities(name)')
    .order('id')
    .order('id', { referencedTable: 'cities' })
  assert.equal(error, null)
  assert.deepEqual(data, [
    { name: 'Chile', cities: [{ name: 'Santiago' }, { name: 'Valparaiso' }] },
    { name: 'Peru', cities: [{ name: 'Lima' }] },
    { name: 'Atlantis', cities: [] },
  ])
})

test('cities with their country: a many-to-one embed under an alias', T, async () => {
  const { data, error } = await anon
    .from('cities')
    .select('name, country:countries(name)')
    .eq('name', 'Lima')
    .single()
  assert.equal(error, null)
  assert.deepEqual(data, { name: 'Lima', country: { name: 'Peru' } })
})

test('!inner with a filter on the referenced table filters the parents', T, async () => {
  const { data, error, count } = await anon
    .from('countries')
    .select('name, cities!inner(name)', { count: 'exact' })
    .eq('cities.name', 'Valparaiso')
  assert.equal(error, null)
  assert.equal(count, 1)
  assert.deepEqual(data, [{ name: 'Chile', cities: [{ name: 'Valparaiso' }] }])
})

test('limit on the referenced table', T, async () => {
  const { data, error } = await anon
    .from('countries')
    .select('name, cities(name)')
    .eq('name', 'Chile')
    .order('name', { referencedTable: 'cities', ascending: false })
    .limit(1, { referencedTable: 'cities' })
  assert.equal(error, null)
  assert.deepEqual(data, [{ name: 'Chile', cities: [{ name: 'Valparaiso' }] }])
})

test('an ambiguous embed answers PGRST201; a foreign key hint resolves it', T, async () => {
  const refused = await anon.from('orders').select('*, addresses(*)')
  assert.equal(refused.status, 300)
  assert.equal(refused.error.code, 'PGRST201')
  assert.equal(
    refused.error.hint,
    "Try changing 'addresses' to one of the following: 'addresses!billing', " +
      "'addresses!shipping'. Find the desired relationship in the 'details' key.",
  )
  assert.equal(refused.error.details.length, 2)

  const { data, error } = await anon
    .from('orders')
    .select('id, billing:addresses!billing(city), shipping:addresses!shipping(city)')
  assert.equal(error, null)
  assert.deepEqual(data, [{ id: 100, billing: { city: 'Lima' }, shipping: { city: 'Quito' } }])
})

test('an embed with no relationship answers PGRST200', T, async () => {
  const { error, status } = await anon.from('countries').select('name, orders(id)')
  assert.equal(status, 400)
  assert.equal(error.code, 'PGRST200')
  assert.equal(error.message, "Could not find a relationship between 'countries' and 'orders' in the schema cache")
})
