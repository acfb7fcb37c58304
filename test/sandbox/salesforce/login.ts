/**
 * Test helpers for the Salesforce stand-in: a scripted login through its HTML forms (fetch
 * the authorize page, post the login form, post the allow form, read `code` from the redirect
 * to the loopback redirect_uri), a token exchange, and a stand-in per test that stops itself.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createSalesforceSandbox, type SalesforceSandbox, type SalesforceSandboxOptions } from '../../../sandbox/salesforce/index.ts'

export const CLIENT_ID = 'sandbox-client-id'
export const CLIENT_SECRET = 'sandbox-client-secret'
export const REDIRECT_URI = 'http://127.0.0.1:8080/oauth/salesforce/callback'
export const API_USER = 'integration@example.com'
export const UI_USER = 'admin@example.com'
export const ORG2_USER = 'integration@other.example.com'
export const PASSWORD = 'password'

interface Teardown { teardown(fn: () => unknown): void }

/** A stand-in on a random port, stopped when the test ends. */
export async function startSandbox(t: Teardown, options: SalesforceSandboxOptions = {}): Promise<SalesforceSandbox> {
  const sandbox = createSalesforceSandbox({ port: 0, ...options })
  await sandbox.start()
  t.teardown(() => sandbox.stop())
  return sandbox
}

export interface LoginResult {
  /** The redirect the flow ended with. */
  redirect: URL
  code: string | null
  state: string | null
  error: string | null
  errorDescription: string | null
  /** The session cookie, to log in again without the login form. */
  cookie: string | null
  /** Every page seen on the way, for assertions on the HTML. */
  pages: string[]
}

export interface LoginOptions {
  username?: string
  password?: string
  /** Press "Deny" instead of "Allow". */
  deny?: boolean
  /** A session cookie from an earlier login. */
  cookie?: string | null
}

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')

/** The first form of a page: its action and hidden inputs. */
export function readForm(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) throw new Error(`no form in page: ${html.slice(0, 200)}`)
  const fields: Record<string, string> = {}
  for (const input of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1]
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? ''
    if (name) fields[unescape(name)] = unescape(value)
  }
  return { action: unescape(form[1]!), fields }
}

/**
 * Walk the authorize flow as a browser would, from `authorizeUrl` (e.g. jsforce's
 * `getAuthorizationUrl()`), and return where it redirected.
 */
export async function scriptedLogin(authorizeUrl: string, options: LoginOptions = {}): Promise<LoginResult> {
  const pages: string[] = []
  let cookie = options.cookie ?? null
  const origin = new URL(authorizeUrl).origin
  const send = async (url: string, form?: Record<string, string>) => {
    const headers: Record<string, string> = {}
    if (cookie) headers.cookie = cookie
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded'
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, redirect: 'manual', body: form ? new URLSearchParams(form).toString() : undefined })
    const setCookie = res.headers.get('set-cookie')
    if (setCookie) cookie = setCookie.split(';')[0]!
    return res
  }
  const finish = (res: Response): LoginResult => {
    const redirect = new URL(res.headers.get('location')!)
    const p = redirect.searchParams
    return { redirect, code: p.get('code'), state: p.get('state'), error: p.get('error'), errorDescription: p.get('error_description'), cookie, pages }
  }

  let res = await send(authorizeUrl)
  if (res.status === 302) return finish(res)
  let html = await res.text()
  pages.push(html)
  if (res.status !== 200) throw new Error(`authorize page answered ${res.status}: ${html.slice(0, 300)}`)
  if (html.includes('id="login_form"')) {
    const { action, fields } = readForm(html)
    res = await send(new URL(action, origin).toString(), { ...fields, username: options.username ?? API_USER, pw: options.password ?? PASSWORD })
    if (res.status === 302) return finish(res)
    html = await res.text()
    pages.push(html)
    if (html.includes('id="login_form"')) throw new Error('login refused')
  }
  const { action, fields } = readForm(html)
  res = await send(new URL(action, origin).toString(), { ...fields, action: options.deny ? 'deny' : 'allow' })
  if (res.status !== 302) throw new Error(`allow form answered ${res.status}: ${(await res.text()).slice(0, 300)}`)
  return finish(res)
}

/** A PKCE pair: a random verifier and its S256 challenge. */
export function makePkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export function authorizeUrl(baseUrl: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, ...params })
  return `${baseUrl}/services/oauth2/authorize?${q}`
}

/** POST the token endpoint; returns status and parsed JSON. */
export async function postToken(baseUrl: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${baseUrl}/services/oauth2/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(),
  })
  return { status: res.status, body: (await res.json()) as Record<string, string> }
}

export interface Tokens { access_token: string; refresh_token: string; instance_url: string; id: string; issued_at: string; signature: string; scope: string; token_type: string }

/** Log `username` in through the forms and exchange the code: a ready API session. */
export async function connect(baseUrl: string, username = API_USER): Promise<Tokens> {
  const login = await scriptedLogin(authorizeUrl(baseUrl, { scope: 'api refresh_token id' }), { username })
  if (!login.code) throw new Error(`login failed: ${login.error}`)
  const { status, body } = await postToken(baseUrl, {
    grant_type: 'authorization_code', code: login.code, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uri: REDIRECT_URI,
  })
  if (status !== 200) throw new Error(`token exchange failed: ${JSON.stringify(body)}`)
  return body as unknown as Tokens
}
