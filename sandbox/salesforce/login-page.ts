/**
 * The HTML of the authorize flow: a login page, an allow ("Allow Access?") page and an error
 * page. Plain forms without script, so a browser or a scripted client can submit them.
 */

const escape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

const STYLE = `body{font-family:system-ui,sans-serif;background:#f3f2f2;margin:0}main{max-width:360px;margin:64px auto;background:#fff;
border:1px solid #ddd;border-radius:6px;padding:24px}h1{font-size:20px;color:#032d60}label{display:block;margin:12px 0 4px}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:8px}button{margin-top:16px;padding:8px 16px;
background:#0176d3;color:#fff;border:0;border-radius:4px}button.secondary{background:#fff;color:#0176d3;border:1px solid #0176d3}
.error{color:#c23934}.note{color:#666;font-size:12px}`

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>${STYLE}</style></head>` +
    `<body><main><h1>${escape(title)}</h1>${body}<p class="note">Local Salesforce stand-in</p></main></body></html>`
}

export function renderLoginPage(input: { pending: string; username: string; error?: string }): string {
  return page('Login | Salesforce', `
${input.error ? `<p class="error" id="error">${escape(input.error)}</p>` : ''}
<form method="post" action="/services/oauth2/authorize" id="login_form">
<input type="hidden" name="pending" value="${escape(input.pending)}">
<input type="hidden" name="action" value="login">
<label for="username">Username</label><input type="email" id="username" name="username" value="${escape(input.username)}" autocomplete="username">
<label for="password">Password</label><input type="password" id="password" name="pw" autocomplete="current-password">
<button type="submit" id="Login">Log In</button>
</form>`)
}

export function renderAllowPage(input: { pending: string; confirm: string; username: string; appName: string; scopes: string[] }): string {
  const items = input.scopes.map((s) => `<li>${escape(SCOPE_TEXT[s] ?? s)}</li>`).join('')
  return page('Allow Access?', `
<p><strong>${escape(input.appName)}</strong> is asking to:</p><ul>${items}</ul>
<p>Logged in as ${escape(input.username)}.</p>
<form method="post" action="/services/oauth2/authorize" id="allow_form">
<input type="hidden" name="pending" value="${escape(input.pending)}">
<input type="hidden" name="confirm" value="${escape(input.confirm)}">
<button type="submit" name="action" value="allow" id="oaapprove">Allow</button>
<button type="submit" name="action" value="deny" id="oadeny" class="secondary">Deny</button>
</form>`)
}

/** Salesforce shows authorize errors it cannot redirect (bad client, bad redirect URI) as a page. */
export function renderErrorPage(error: string, description: string): string {
  return page('OAuth Error', `<p>We can't authorize you because of an OAuth error. For more information, contact your Salesforce administrator.</p>
<p class="error" id="oauth_error">error=${escape(error)}&amp;error_description=${escape(description)}</p>`)
}

const SCOPE_TEXT: Record<string, string> = {
  api: 'Manage user data via APIs (api)',
  refresh_token: 'Perform requests at any time (refresh_token, offline_access)',
  offline_access: 'Perform requests at any time (refresh_token, offline_access)',
  id: 'Access the identity URL service (id, profile, email, address, phone)',
  full: 'Full access (full)',
  web: 'Manage user data via Web browsers (web)',
  openid: 'Access unique user identifiers (openid)',
}
