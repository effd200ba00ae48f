// The Data API as signed-in users: the chat rpc, inserts with and without a returned row,
// filtered and counted reads, and row-level security between chats.

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { closeClient, directChat, newClient, sendMessage, signUpUser } from './helpers.mjs'

const T = { timeout: 20000 }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let alice, bob, carol, chatId

before(async () => {
  ;[alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((l) => signUpUser(l)))
  chatId = await directChat(alice, bob)
})

after(async () => {
  await Promise.all([alice, bob, carol].filter(Boolean).map((u) => closeClient(u.client)))
})

test('get_or_create_direct_chat gives both sides the same chat', T, async () => {
  assert.match(chatId, UUID)
  assert.equal(await directChat(bob, alice), chatId)
  assert.equal(await directChat(alice, bob), chatId)

  const { data, error, status } = await alice.client
    .from('chat_members')
    .select('user_id')
    .eq('chat_id', chatId)
    .order('user_id')
  assert.equal(error, null)
  assert.equal(status, 200)
  assert.deepEqual(data.map((m) => m.user_id), [alice.user.id, bob.user.id].sort())
})

test('a chat with oneself is refused with the function error', T, async () => {
  const { data, error, status } = await alice.client.rpc('get_or_create_direct_chat', {
    peer_id: alice.user.id,
  })
  assert.equal(data, null)
  assert.equal(status, 400)
  assert.equal(error.code, 'PT400')
  assert.equal(error.message, 'a direct chat needs another user')
})

test('insert without .select() answers 201 with no body', T, async () => {
  const result = await alice.client.from('messages').insert({ chat_id: chatId, body: 'first' })
  assert.equal(result.error, null)
  assert.equal(result.status, 201)
  assert.equal(result.statusText, 'Created')
  assert.equal(result.data, null)
})

test('insert with .select().single() answers the stored row with its seq', T, async () => {
  const { data, error, status } = await bob.client
    .from('messages')
    .insert({ chat_id: chatId, body: 'second', client_msg_id: 'bob-1' })
    .select()
    .single()
  assert.equal(error, null)
  assert.equal(status, 201)
  assert.equal(data.chat_id, chatId)
  assert.equal(data.sender_id, bob.user.id, 'the sender is the signed-in user')
  assert.equal(data.body, 'second')
  assert.equal(data.client_msg_id, 'bob-1')
  assert.equal(typeof data.seq, 'number')
  assert.equal(typeof data.id, 'number')
  assert.ok(data.seq >= 1)
  assert.ok(!Number.isNaN(Date.parse(data.created_at)))
})

test('select with filters, order and limit reads the newest messages first', T, async () => {
  for (const body of ['third', 'fourth', 'fifth']) await sendMessage(alice, chatId, body)
  const { data, error, status } = await bob.client
    .from('messages')
    .select('seq, body, sender_id')
    .eq('chat_id', chatId)
    .eq('sender_id', alice.user.id)
    .gte('seq', 2)
    .order('seq', { ascending: false })
    .limit(2)
  assert.equal(error, null)
  assert.equal(status, 200)
  assert.deepEqual(
    data.map((m) => m.body),
    ['fifth', 'fourth'],
  )
  assert.deepEqual(Object.keys(data[0]).sort(), ['body', 'sender_id', 'seq'])
  assert.ok(data[0].seq > data[1].seq)

  const inList = await bob.client
    .from('messages')
    .select('body')
    .eq('chat_id', chatId)
    .in('body', ['third', 'fifth', 'nope'])
    .order('seq')
  assert.deepEqual(inList.data.map((m) => m.body), ['third', 'fifth'])
})

test("count: 'exact' with range gives the total and one page", T, async () => {
  for (const body of ['p1', 'p2', 'p3']) await sendMessage(bob, chatId, body)
  const all = await alice.client.from('messages').select('seq').eq('chat_id', chatId).order('seq')
  const seqs = all.data.map((m) => m.seq)
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'seq is gapless from 1')

  const { data, count, error, status } = await alice.client
    .from('messages')
    .select('seq, body', { count: 'exact' })
    .eq('chat_id', chatId)
    .order('seq')
    .range(1, 2)
  assert.equal(error, null)
  assert.equal(count, seqs.length)
  assert.equal(status, 206, 'a partial page of a counted read')
  assert.deepEqual(data.map((m) => m.seq), [2, 3])

  const head = await alice.client
    .from('messages')
    .select('*', { count: 'exact', head: true })
    .eq('chat_id', chatId)
  assert.equal(head.count, seqs.length)
  assert.equal(head.data, null)
})

test('RLS: a third user reads nothing of the chat and cannot write into it', T, async () => {
  const messages = await carol.client.from('messages').select('*').eq('chat_id', chatId)
  assert.equal(messages.error, null)
  assert.deepEqual(messages.data, [])
  const chats = await carol.client.from('chats').select('*')
  assert.deepEqual(chats.data, [])
  const counted = await carol.client
    .from('messages')
    .select('*', { count: 'exact', head: true })
  assert.equal(counted.count, 0)

  const { data, error, status } = await carol.client
    .from('messages')
    .insert({ chat_id: chatId, body: 'let me in' })
  assert.equal(data, null)
  assert.equal(status, 403)
  assert.equal(error.code, '42501')
  // The seq trigger (BEFORE INSERT) refuses before RLS's WITH CHECK runs, with RLS's own
  // words, so a refusal tells nothing about the chat or its members.
  assert.equal(error.message, 'new row violates row-level security policy for table "messages"')

  const spoof = await alice.client
    .from('messages')
    .insert({ chat_id: chatId, body: 'as bob', sender_id: bob.user.id })
  assert.equal(spoof.status, 403, 'nobody sends in another member’s name')
  assert.equal(spoof.error.code, '42501')
  assert.equal(
    spoof.error.message,
    'new row violates row-level security policy for table "messages"',
  )
})

test('the anon key alone reads no messages', T, async () => {
  const { data, error, status } = await newClient().from('messages').select('*')
  assert.equal(data, null)
  assert.equal(status, 401)
  assert.equal(error.code, '42501')
})
