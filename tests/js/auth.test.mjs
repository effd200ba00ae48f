// Auth with supabase-js: sign up, sign in, who am I, refresh, sign out.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PASSWORD, newClient, signUpUser, uniqueEmail } from './helpers.mjs'

const T = { timeout: 20000 }

test('signUp returns a session for the new user', T, async () => {
  const client = newClient()
  const email = uniqueEmail('alice')
  const { data, error } = await client.auth.signUp({
    email,
    password: PASSWORD,
    options: { data: { display_name: 'Alice' } },
  })
  assert.equal(error, null)
  assert.equal(data.user.email, email)
  assert.equal(data.user.user_metadata.display_name, 'Alice')
  assert.equal(data.session.token_type, 'bearer')
  assert.equal(data.session.user.id, data.user.id)
  assert.ok(data.session.access_token.split('.').length === 3, 'the access token is a JWT')
  assert.ok(data.session.refresh_token)
  assert.ok(data.session.expires_at > Date.now() / 1000)
  const { data: current } = await client.auth.getSession()
  assert.equal(current.session.access_token, data.session.access_token)
})

test('signing up twice with one email is refused', T, async () => {
  const { email } = await signUpUser('twice')
  const { data, error } = await newClient().auth.signUp({ email, password: PASSWORD })
  assert.equal(data.session, null)
  assert.equal(error.status, 422)
  assert.equal(error.code, 'user_already_exists')
})

test('signInWithPassword opens a new session; a wrong password is refused', T, async () => {
  const { user, email, session: first } = await signUpUser('bob')
  const client = newClient()
  const { data, error } = await client.auth.signInWithPassword({ email, password: PASSWORD })
  assert.equal(error, null)
  assert.equal(data.user.id, user.id)
  assert.notEqual(data.session.refresh_token, first.refresh_token)

  const wrong = await newClient().auth.signInWithPassword({ email, password: 'not it' })
  assert.equal(wrong.data.session, null)
  assert.equal(wrong.error.name, 'AuthApiError')
  assert.equal(wrong.error.status, 400)
  assert.equal(wrong.error.code, 'invalid_credentials')
  assert.equal(wrong.error.message, 'Invalid login credentials')
})

test('getUser answers with the signed-in user, verified by the server', T, async () => {
  const { client, user, email, session } = await signUpUser('carol')
  const { data, error } = await client.auth.getUser()
  assert.equal(error, null)
  assert.equal(data.user.id, user.id)
  assert.equal(data.user.email, email)
  assert.equal(data.user.role, 'authenticated')
  const byToken = await newClient().auth.getUser(session.access_token)
  assert.equal(byToken.data.user.id, user.id)
  const forged = await newClient().auth.getUser(session.access_token.slice(0, -4) + 'AAAA')
  assert.equal(forged.data.user, null)
  assert.equal(forged.error.status, 403)
  assert.equal(forged.error.code, 'bad_jwt')
})

test('refreshSession rotates the refresh token and keeps the user signed in', T, async () => {
  const { client, user, session } = await signUpUser('dave')
  const { data, error } = await client.auth.refreshSession()
  assert.equal(error, null)
  assert.equal(data.user.id, user.id)
  assert.notEqual(data.session.refresh_token, session.refresh_token)
  const { data: current } = await client.auth.getSession()
  assert.equal(current.session.refresh_token, data.session.refresh_token)
  const { data: me } = await client.auth.getUser()
  assert.equal(me.user.id, user.id)
})

test('signOut ends the session: its tokens no longer work', T, async () => {
  const { client, session } = await signUpUser('erin')
  const { error } = await client.auth.signOut()
  assert.equal(error, null)
  const { data: current } = await client.auth.getSession()
  assert.equal(current.session, null)

  const stale = await newClient().auth.getUser(session.access_token)
  assert.equal(stale.data.user, null)
  // auth-js turns the server's 403 session_not_found into AuthSessionMissingError.
  assert.equal(stale.error.name, 'AuthSessionMissingError')

  const reuse = await newClient().auth.refreshSession({ refresh_token: session.refresh_token })
  assert.equal(reuse.data.session, null)
  assert.equal(reuse.error.status, 400)
  assert.match(reuse.error.code, /refresh_token_not_found|refresh_token_already_used/)
})
