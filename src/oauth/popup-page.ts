/**
 * The small page the OAuth pop-up ends on: it posts one message to the dashboard's origin
 * (and only there), then closes itself. Its inline script runs under a per-response nonce.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyReply } from 'fastify'

export type PopupMessage = { type: 'salesforce-connected'; merchantId: string } | { type: 'salesforce-error'; code: string }

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
/** JSON safe inside a <script>: no `<`, no line separators. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

export function sendPopupPage(reply: FastifyReply, status: number, dashboardOrigin: string, message: PopupMessage): FastifyReply {
  const nonce = randomBytes(16).toString('base64')
  const text = message.type === 'salesforce-connected' ? 'Salesforce is connected. You can close this window.' : `Salesforce could not be connected (${message.code}). You can close this window and try again.`
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Salesforce</title></head>
<body><p>${escapeHtml(text)}</p>
<script nonce="${nonce}">
(function () {
  var message = ${scriptJson(message)};
  if (window.opener) window.opener.postMessage(message, ${scriptJson(dashboardOrigin)});
  window.close();
})();
</script></body></html>`
  return reply
    .code(status)
    .header('content-security-policy', `default-src 'none'; script-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(html)
}
