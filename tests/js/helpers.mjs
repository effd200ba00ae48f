// Shared pieces of the supabase-js suite: clients for the stack tests/test_supabase_js.py
// started, signed-up users, and deadline-bound waits on events (never fixed sleeps).

import { randomUUID } from 'node:crypto'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

function required(name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set: run python -m pytest tests/test_supabase_js.py`)
  }
  return value
}

export const SUPABASE_URL = required('SUPABASE_URL')
export const ANON_KEY = required('SUPABASE_ANON_KEY')
export const SERVICE_ROLE_KEY = required('SUPABASE_SERVICE_ROLE_KEY')

/** Default deadline for anything that should happen promptly on a local stack. */
export const SOON_MS = 5000
/** How long "nothing arrives" is watched for: a wait that must time out. */
export const QUIET_MS = 700
/** A refused join is answered after Supabase's 5 s channel-error backoff. */
export const JOIN_ERROR_MS = 10000

/**
 * A `ws` WebSocket that also records the frames it sends and receives, so a test can check
 * the wire format (binary kinds) the client really used. Node 20 has no global WebSocket:
 * supabase-js needs the transport passed in.
 */
export function recordingTransport() {
  const frames = []
  class RecordingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args)
      this.addEventListener('message', (event) => frames.push({ dir: 'in', data: event.data }))
    }

    send(data, ...rest) {
      frames.push({ dir: 'out', data })
      return super.send(data, ...rest)
    }
  }
  return { transport: RecordingWebSocket, frames }
}

/** The first byte of a binary frame, or null for a text frame. */
export function binaryKind(data) {
  if (typeof data === 'string') return null
  const bytes = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data)
  return bytes[0]
}

/** A supabase-js client as a server-side Node app would build it (no session storage). */
export function newClient({ key = ANON_KEY, transport = WebSocket, realtime = {} } = {}) {
  return createClient(SUPABASE_URL, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport, ...realtime },
  })
}

export const PASSWORD = 'correct horse battery staple'

export function uniqueEmail(label) {
  return `${label}-${randomUUID()}@example.com`
}

/** Sign a new user up on a fresh client: `{ client, user, session, email }`. */
export async function signUpUser(label, options = {}) {
  const client = newClient(options)
  const email = uniqueEmail(label)
  const { data, error } = await client.auth.signUp({ email, password: PASSWORD })
  if (error) throw new Error(`signUp of ${label} failed: ${error.message}`)
  if (!data.session) throw new Error(`signUp of ${label} returned no session`)
  return { client, user: data.user, session: data.session, email }
}

/** Close everything a client opened, so node's test runner can exit. */
export async function closeClient(client) {
  // Leaving needs the server's reply; on a socket already closed it would wait for the timeout.
  if (client.realtime.isConnected()) await client.removeAllChannels()
  client.realtime.disconnect()
}

export class TimeoutError extends Error {
  name = 'TimeoutError'
}

/**
 * Events collected from callbacks. `waitFor` resolves with the first event matching a
 * predicate (already received or still to come) and rejects at the deadline.
 */
export class Inbox {
  items = []
  #waiters = new Set()

  push(item) {
    this.items.push(item)
    for (const waiter of [...this.#waiters]) waiter(item)
  }

  /** A callback for `.on(...)` that pushes what it is given. */
  get collect() {
    return (item) => this.push(item)
  }

  waitFor(predicate, ms = SOON_MS, what = 'an event') {
    const found = this.items.find(predicate)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const waiter = (item) => {
        if (!predicate(item)) return
        this.#waiters.delete(waiter)
        clearTimeout(timer)
        resolve(item)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        const seen = JSON.stringify(this.items).slice(0, 2000)
        reject(new TimeoutError(`waited ${ms} ms for ${what} in vain; received: ${seen}`))
      }, ms)
      this.#waiters.add(waiter)
    })
  }

  /** Resolves once `count` events match (in arrival order). */
  async waitForCount(predicate, count, ms = SOON_MS, what = 'events') {
    let matched = 0
    await this.waitFor((item) => predicate(item) && ++matched >= count, ms, `${count} ${what}`)
    return this.items.filter(predicate)
  }

  /** "Nothing arrives": a wait for a matching event that must time out. */
  async expectNone(predicate, ms = QUIET_MS, what = 'event') {
    try {
      const item = await this.waitFor(predicate, ms, what)
      throw new Error(`unexpected ${what}: ${JSON.stringify(item)}`)
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err
    }
  }
}

/**
 * Wait until `predicate()` holds, re-checking it whenever `inbox` receives an event
 * (e.g. presence sync events while the predicate reads channel.presenceState()).
 */
export async function waitFor(predicate, inbox, ms = SOON_MS, what = 'the condition') {
  if (predicate()) return
  await inbox.waitFor(() => predicate(), ms, what)
}

/** Push `channel`'s presence events into `inbox` as `{ kind: 'sync'|'join'|'leave', ... }`. */
export function watchPresence(channel, inbox) {
  return channel
    .on('presence', { event: 'sync' }, () => inbox.push({ kind: 'sync' }))
    .on('presence', { event: 'join' }, (e) => inbox.push({ kind: 'join', ...e }))
    .on('presence', { event: 'leave' }, (e) => inbox.push({ kind: 'leave', ...e }))
}

/** Wait for `key`'s leave event and for `key` to be gone from the channel's state. */
export async function waitForLeave(channel, inbox, key, ms = SOON_MS) {
  const left = await inbox.waitFor((e) => e.kind === 'leave' && e.key === key, ms, `${key}'s leave`)
  await waitFor(() => !(key in channel.presenceState()), inbox, ms, `${key} gone from the state`)
  return left
}

/**
 * Subscribe and resolve on SUBSCRIBED; reject on CHANNEL_ERROR, TIMED_OUT or CLOSED. The
 * deadline outlasts the join-error backoff, so a refused join fails with its reason.
 */
export function subscribe(channel, ms = JOIN_ERROR_MS) {
  return subscribeOutcome(channel, ms).then(({ status, err }) => {
    if (status !== 'SUBSCRIBED') {
      throw new Error(`subscribing ${channel.topic} ended ${status}: ${err?.message ?? ''}`)
    }
    return channel
  })
}

/** Subscribe and resolve with the first outcome: `{ status, err }`. */
export function subscribeOutcome(channel, ms = JOIN_ERROR_MS) {
  return new Promise((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(new TimeoutError(`subscribing ${channel.topic}: no outcome within ${ms} ms`))
    }, ms)
    channel.subscribe((status, err) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ status, err })
    }, ms)
  })
}

/** The direct chat between `sender` and `peer` (created on first use), through the rpc. */
export async function directChat(sender, peer) {
  const { data, error } = await sender.client.rpc('get_or_create_direct_chat', {
    peer_id: peer.user.id,
  })
  if (error) throw new Error(`get_or_create_direct_chat failed: ${error.message}`)
  return data
}

/** Insert a message into a chat as `sender`, returning the stored row. */
export async function sendMessage(sender, chatId, body) {
  const { data, error } = await sender.client
    .from('messages')
    .insert({ chat_id: chatId, body, client_msg_id: randomUUID() })
    .select()
    .single()
  if (error) throw new Error(`insert into messages failed: ${error.message}`)
  return data
}
