#!/usr/bin/env node
// An off-the-shelf relying party signing a user in at jwtd, end to end: openid-client does
// everything a real app's OpenID Connect library does (discovery, the authorization URL with
// PKCE S256, state and nonce, the code exchange with ID token validation, refresh); this script
// only plays the user agent in between (the login page and its form) with fetch and a cookie jar.
//
//   RP_CLIENT_SECRET=… RP_PASSWORD=… node tests/rp/rp.mjs \
//       --issuer http://127.0.0.1:8080 --client-id ID --redirect-uri http://127.0.0.1:9/cb \
//       --username alice@example.com [--scope "openid email"] [--until discovery]
//
// Without RP_CLIENT_SECRET the client is public (token_endpoint_auth_method "none"); with it,
// confidential (client_secret_basic). Secrets come from the environment, never the command line.
// `--until discovery` stops after discovery (a check that needs no authorization endpoint).
// `--dpop` makes every token request and userinfo call with a DPoP proof of a fresh ES256 key
// (RFC 9449, the library's own DPoP support, nonces included); `--resource-url URL` then calls
// that resource server with the access token (DPoP-bound with --dpop) and reports its answer.
// Prints a JSON summary on success; on any failure prints the reason to stderr and exits 1.

import { parseArgs } from 'node:util'
import { readFile } from 'node:fs/promises'
import * as client from 'openid-client'

const HTTP_TIMEOUT_MS = 10_000
const MAX_HOPS = 5

function options() {
  const { values } = parseArgs({
    options: {
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'redirect-uri': { type: 'string' },
      username: { type: 'string' },
      scope: { type: 'string', default: 'openid email' },
      until: { type: 'string' },
      'post-logout-redirect-uri': { type: 'string' },
      'private-key-file': { type: 'string' },
      kid: { type: 'string' },
      dpop: { type: 'boolean', default: false },
      'resource-url': { type: 'string' },
    },
    strict: true,
  })
  const service = values.until === 'discovery' || values.until === 'client-credentials'
  const required = service ? ['issuer', 'client-id'] : ['issuer', 'client-id', 'redirect-uri', 'username']
  for (const name of required) {
    if (!values[name]) throw new Error(`--${name} is required`)
  }
  if (values.until !== undefined && !service) throw new Error('--until takes "discovery" or "client-credentials"')
  if (values.until === 'client-credentials' && !values['private-key-file']) throw new Error('--private-key-file is required')
  if (!service && !process.env.RP_PASSWORD) throw new Error('RP_PASSWORD is required')
  return values
}

/** Cookies of the one origin this user agent talks to (jwtd), by name. */
class CookieJar {
  #cookies = new Map()

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0]
      const eq = pair.indexOf('=')
      if (eq > 0) this.#cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
    }
  }

  header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  names() {
    return [...this.#cookies.keys()]
  }
}

async function request(jar, url, init = {}) {
  const headers = new Headers(init.headers)
  const cookie = jar.header()
  if (cookie) headers.set('cookie', cookie)
  const response = await fetch(url, {
    ...init,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  })
  jar.store(response)
  return response
}

function decodeEntities(text) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10)
      return String.fromCodePoint(code)
    }
    return named[entity.toLowerCase()] ?? whole
  })
}

function attributes(tag) {
  const found = {}
  for (const match of tag.matchAll(/([a-z_:-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    found[match[1].toLowerCase()] = decodeEntities(match[3] ?? match[4] ?? match[5])
  }
  return found
}

/** The login form: where it posts and the values of its named inputs. */
function loginForm(html, pageUrl) {
  const form = html.match(/<form\b[^>]*>/i)
  if (!form) throw new Error(`the login page has no form: ${html.slice(0, 500)}`)
  const { method = 'get', action = '' } = attributes(form[0])
  if (method.toLowerCase() !== 'post') throw new Error(`the login form's method is ${method}, not post`)
  const fields = {}
  for (const input of html.matchAll(/<input\b[^>]*>/gi)) {
    const { name, value = '' } = attributes(input[0])
    if (name) fields[name] = value
  }
  for (const name of ['csrf_token', 'auth_request', 'username', 'password']) {
    if (!(name in fields)) throw new Error(`the login form has no input ${name}`)
  }
  return { action: new URL(action, pageUrl), fields }
}

/**
 * The user agent's part: open the authorization URL, sign in on the login page, and return the
 * URL jwtd finally redirects to (the redirect URI with code, state and iss).
 */
async function signIn(authorizationUrl, redirectUri, username, password) {
  const jar = new CookieJar()
  let url = authorizationUrl
  let response = await request(jar, url)
  for (let hop = 0; ; hop++) {
    if (response.status === 200) break
    const location = response.headers.get('location')
    if (![302, 303].includes(response.status) || !location) {
      throw new Error(`GET ${url} answered ${response.status}: ${(await response.text()).slice(0, 500)}`)
    }
    const next = new URL(location, url)
    if (next.href.startsWith(redirectUri)) return next // a live session: no login page
    if (hop >= MAX_HOPS) throw new Error(`more than ${MAX_HOPS} redirects from ${authorizationUrl}`)
    url = next
    response = await request(jar, url)
  }
  const page = await response.text()
  const { action, fields } = loginForm(page, url)
  fields.username = username
  fields.password = password
  const login = await request(jar, action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })
  const location = login.headers.get('location')
  if (login.status !== 303 || !location) {
    throw new Error(`POST ${action} answered ${login.status}, not 303: ${(await login.text()).slice(0, 500)}`)
  }
  const callback = new URL(location, action)
  if (!callback.href.startsWith(redirectUri)) throw new Error(`the login redirected to ${callback}, not to ${redirectUri}`)
  if (!jar.names().includes('__Host-jwtd_session')) throw new Error(`no session cookie after the login: ${jar.names()}`)
  return callback
}

/**
 * RP-initiated logout as the library builds it (the end_session_endpoint from discovery, the ID
 * token as id_token_hint, a post-logout redirect URI and state); then the refresh token, which
 * the logout must have revoked. Returns where jwtd sent the user agent and what the refresh got.
 */
async function logOut(config, idToken, postLogoutRedirectUri, refreshToken) {
  const state = client.randomState()
  const url = client.buildEndSessionUrl(config, {
    id_token_hint: idToken,
    post_logout_redirect_uri: postLogoutRedirectUri,
    state,
  })
  const response = await request(new CookieJar(), url)
  const location = response.headers.get('location')
  if (response.status !== 303 || !location) {
    throw new Error(`GET ${url} answered ${response.status}, not 303: ${(await response.text()).slice(0, 500)}`)
  }
  const back = new URL(location)
  if (back.searchParams.get('state') !== state) throw new Error(`the logout lost its state: ${back}`)
  let refreshAfter = 'accepted'
  try {
    await client.refreshTokenGrant(config, refreshToken)
  } catch (error) {
    refreshAfter = error.error ?? error.message
  }
  return { redirected_to: `${back.origin}${back.pathname}`, refresh_after_logout: refreshAfter }
}

/**
 * `private_key_jwt` as the library does it: the client's ES256 private key (PKCS#8 DER in a
 * file), assertions signed by the library for each request.
 */
async function privateKeyAuth(path, kid) {
  const der = await readFile(path)
  const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  return client.PrivateKeyJwt({ key, kid })
}

/** GET `url` with the access token, as the library presents it (DPoP with a proof, or Bearer). */
async function callResource(config, accessToken, url, dpop) {
  const response = await client.fetchProtectedResource(config, accessToken, new URL(url), 'GET', undefined, undefined, dpop)
  const text = await response.text()
  let body = null
  try {
    body = JSON.parse(text)
  } catch {
    body = text.slice(0, 500)
  }
  return { status: response.status, body, www_authenticate: response.headers.get('www-authenticate') }
}

async function main() {
  const args = options()
  const secret = process.env.RP_CLIENT_SECRET
  const keyFile = args['private-key-file']
  const mode = keyFile ? 'private_key_jwt' : secret ? 'confidential' : 'public'
  const auth = keyFile
    ? await privateKeyAuth(keyFile, args.kid)
    : secret
      ? client.ClientSecretBasic(secret)
      : client.None()
  const metadata = keyFile ? { token_endpoint_auth_method: 'private_key_jwt' } : secret ? {} : { token_endpoint_auth_method: 'none' }
  const config = await client.discovery(new URL(args.issuer), args['client-id'], metadata, auth, {
    execute: [client.allowInsecureRequests], // the test issuer is http on loopback
  })
  const server = config.serverMetadata()
  if (args.until === 'discovery') {
    const { issuer, authorization_endpoint = null, token_endpoint, jwks_uri } = server
    return { mode, step: 'discovery', issuer, authorization_endpoint, token_endpoint, jwks_uri }
  }
  if (args.until === 'client-credentials') {
    const tokens = await client.clientCredentialsGrant(config, { scope: args.scope })
    // A second token: each request carries a fresh assertion (its jti is good once).
    const again = await client.clientCredentialsGrant(config, { scope: args.scope })
    return { mode, step: 'client-credentials', token_type: tokens.token_type, scope: tokens.scope ?? null, second: Boolean(again.access_token), access_token: tokens.access_token }
  }
  if (!server.authorization_endpoint) throw new Error(`${server.issuer} publishes no authorization_endpoint`)

  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: args['redirect-uri'],
    scope: args.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  const callback = await signIn(authorizationUrl, args['redirect-uri'], args.username, process.env.RP_PASSWORD)

  // With --dpop, one key for the whole session: the library signs a proof for each request.
  const dpop = args.dpop ? { DPoP: client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256')) } : undefined
  // Checks state and iss (RFC 9207) in the response, then the ID token: signature (JWKS), iss,
  // aud, exp, iat, nonce, azp.
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    dpop,
  )
  const claims = tokens.claims()
  if (!claims) throw new Error('no ID token')
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, dpop)
  if (!tokens.refresh_token) throw new Error('no refresh token from the code exchange')
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, dpop)
  if (!refreshed.access_token) throw new Error('no access token from the refresh')
  const resource = args['resource-url']
    ? await callResource(config, refreshed.access_token, args['resource-url'], dpop)
    : null
  const logout = args['post-logout-redirect-uri']
    ? await logOut(config, tokens.id_token, args['post-logout-redirect-uri'], refreshed.refresh_token)
    : null

  return {
    mode,
    sub: claims.sub,
    iss: claims.iss,
    aud: claims.aud,
    scope: tokens.scope ?? null,
    token_type: tokens.token_type,
    refreshed_token_type: refreshed.token_type,
    userinfo_email: userinfo.email ?? null,
    resource,
    refreshed: true,
    refresh_token_rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
    logout,
  }
}

try {
  console.log(JSON.stringify(await main()))
} catch (error) {
  const detail = [error.code, error.error, error.error_description].filter(Boolean).join(' ')
  console.error(`rp: ${error.message}${detail ? ` (${detail})` : ''}`)
  if (error.cause) console.error('cause:', error.cause)
  process.exit(1)
}
