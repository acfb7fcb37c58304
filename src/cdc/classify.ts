/**
 * What a Bayeux meta reply from Salesforce means for the stream (reference salesforce.md
 * §2.5). Matched on the raw `error` text, never on faye's parsed error: faye's Error.parse
 * gives up on strings with `{`, `}` or `'` (the replayId error), so its `code` is null there.
 * The texts vary in spacing between docs and live orgs, so every pattern is whitespace
 * tolerant and anchored on the stable prefix only.
 */
import type { Message } from './faye-types.ts'

/** Subscribe refusals the Salesforce administrator (or the resync) has to fix. */
export type SubscribeFailure = 'cdc.not-enabled' | 'cdc.no-access' | 'cdc.replay-invalid' | 'cdc.subscribe-failed'

/** Allocations of the org: wait, then try again. */
export type LimitCode = 'cdc.delivery-limit' | 'cdc.client-limit'

export type Signal =
  /** A handshake succeeded (the first, or faye's own after `403::Unknown client`). */
  | { kind: 'handshake' }
  | { kind: 'subscribed'; channel: string }
  /** The token is no longer good: refresh it and build a new client (faye keeps the old header). */
  | { kind: 'auth'; error: string }
  /** The session is gone but faye re-handshakes by itself (advice `handshake`). */
  | { kind: 'rehandshake'; error: string }
  /** The client will never reconnect by itself (advice `none`): build a new one. */
  | { kind: 'gone'; error: string }
  /** A refusal that passes (server busy, too many connections per server): back off, build again. */
  | { kind: 'busy'; error: string }
  | { kind: 'limit'; code: LimitCode; error: string }
  | { kind: 'subscribe-failed'; code: SubscribeFailure; error: string }
  /** The server ended the session itself (API 64.0+); what follows it says what to do. */
  | { kind: 'server-disconnect' }

const AUTH = /^401::\s*(Authentication\s+invalid|Request\s+requires\s+authentication)/i
const UNKNOWN_CLIENT = /^403::\s*Unknown\s+client/i
// "400::Client <id> has established a session, but no <cookie> cookie present": the cookie jar lost it.
const NO_COOKIE = /^400::\s*Client\s+\S+\s+has\s+established\s+a\s+session,?\s+but\s+no\s+\S+\s+cookie\s+present/i
const DAILY_LIMIT = /^403::\s*Organization\s+total\s+events\s+daily\s+limit\s+exceeded/i
const CLIENT_LIMIT = /^403::\s*Organization\s+concurrent\s+user\s+limit\s+exceeded/i
const BUSY = /^503::|too\s+busy|simultaneous\s+connections/i
const NOT_ENABLED = /^400::\s*The\s+channel\s+you\s+requested\s+to\s+subscribe\s+to\s+(does\s*n[o']t|doesn't)\s+exist/i
const NO_ACCESS = /^403::\s*(User\s+not\s+allowed\s+to\s+subscribe|Restricted\s+channel|Cannot\s+create\s+channel)/i
const REPLAY_INVALID = /^400::\s*The\s+replayId\s+[\s\S]*?\s+you\s+provided\s+was\s+invalid/i

const textOf = (value: unknown): string => (typeof value === 'string' ? value.trim() : '')

/** `ext.sfdc.failureReason` of a handshake refusal, when there is one. */
function failureReasonOf(message: Message): string {
  const sfdc = (message.ext as { sfdc?: { failureReason?: unknown } } | undefined)?.sfdc
  return textOf(sfdc?.failureReason)
}

/** Refusals any meta channel may carry, by the error or the handshake's failure reason. */
function classifyRefusal(error: string, reason: string, adviceNone: boolean): Signal | null {
  const both = [error, reason]
  const raw = reason || error
  if (both.some((s) => AUTH.test(s))) return { kind: 'auth', error: raw }
  if (both.some((s) => DAILY_LIMIT.test(s))) return { kind: 'limit', code: 'cdc.delivery-limit', error: raw }
  if (both.some((s) => CLIENT_LIMIT.test(s))) return { kind: 'limit', code: 'cdc.client-limit', error: raw }
  if (UNKNOWN_CLIENT.test(error) || NO_COOKIE.test(error)) return adviceNone ? { kind: 'gone', error } : { kind: 'rehandshake', error }
  if (both.some((s) => BUSY.test(s))) return { kind: 'busy', error: raw }
  return null
}

function classifySubscribeFailure(error: string): Signal {
  if (NOT_ENABLED.test(error)) return { kind: 'subscribe-failed', code: 'cdc.not-enabled', error }
  if (NO_ACCESS.test(error)) return { kind: 'subscribe-failed', code: 'cdc.no-access', error }
  if (REPLAY_INVALID.test(error)) return { kind: 'subscribe-failed', code: 'cdc.replay-invalid', error }
  return { kind: 'subscribe-failed', code: 'cdc.subscribe-failed', error }
}

/**
 * One incoming message → what it means, or null when it needs nothing from the stream
 * (successful connects, events, replies faye handles alone).
 */
export function classify(message: Message): Signal | null {
  const error = textOf(message.error)
  const adviceNone = message.advice?.reconnect === 'none'
  switch (message.channel) {
    case '/meta/handshake': {
      if (message.successful) return { kind: 'handshake' }
      const reason = failureReasonOf(message)
      const refusal = classifyRefusal(error, reason, adviceNone)
      if (refusal) return refusal
      // A denied handshake for a reason not listed: faye would retry at a fixed pace, or never.
      return adviceNone ? { kind: 'gone', error: reason || error } : { kind: 'busy', error: reason || error }
    }
    case '/meta/connect': {
      if (message.successful) return adviceNone ? { kind: 'gone', error: 'the server advised reconnect none' } : null
      return classifyRefusal(error, '', adviceNone) ?? (adviceNone ? { kind: 'gone', error } : null)
    }
    case '/meta/subscribe': {
      if (message.successful) return { kind: 'subscribed', channel: [message.subscription].flat()[0] ?? '' }
      return classifyRefusal(error, '', adviceNone) ?? classifySubscribeFailure(error)
    }
    case '/meta/disconnect':
      // The reply to our own disconnect never reaches here: a closing client stops listening.
      return { kind: 'server-disconnect' }
    default:
      return null
  }
}
