/**
 * Logs in on the Salesforce stand-in's HTML pages the way a person would, with plain HTTP:
 * open the authorize URL, post the login form, post the allow form, and return where
 * Salesforce redirects the browser (the bridge's callback with `code` and `state`).
 */
const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))).replace(/&amp;/g, '&')

export interface LoginResult {
  /** The redirect (to the bridge's callback), or null when Salesforce answered a page instead. */
  location: string | null
  status: number
  body: string
}

export async function loginAndAllow(authorizeUrl: string, credentials: { username: string; password?: string; action?: 'allow' | 'deny' }): Promise<LoginResult> {
  const origin = new URL(authorizeUrl).origin
  let cookie = ''
  const keepCookie = (res: Response) => {
    const set = res.headers.getSetCookie()
    if (set.length > 0) cookie = set.map((c) => c.split(';')[0]).join('; ')
  }
  const post = async (form: Record<string, string>) => {
    const res = await fetch(`${origin}/services/oauth2/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) }, body: new URLSearchParams(form).toString() })
    keepCookie(res)
    return res
  }

  const page = await fetch(authorizeUrl, { redirect: 'manual' })
  keepCookie(page)
  const loginHtml = await page.text()
  const pending = hidden(loginHtml, 'pending')
  if (!pending) return { location: page.headers.get('location'), status: page.status, body: loginHtml }

  const afterLogin = await post({ pending, action: 'login', username: credentials.username, pw: credentials.password ?? 'password' })
  if (afterLogin.status === 302) return { location: afterLogin.headers.get('location'), status: 302, body: '' }
  const allowHtml = await afterLogin.text()
  const confirm = hidden(allowHtml, 'confirm')
  const pendingAllow = hidden(allowHtml, 'pending')
  if (!confirm || !pendingAllow) return { location: null, status: afterLogin.status, body: allowHtml }

  const decided = await post({ pending: pendingAllow, confirm, action: credentials.action ?? 'allow' })
  return { location: decided.headers.get('location'), status: decided.status, body: decided.status === 302 ? '' : await decided.text() }
}
