/**
 * The classifier of Bayeux meta replies: every error string of the reference (salesforce.md
 * §2.5), with the spacing variants live orgs send, gives the signal the stream acts on.
 */
import t from 'tap'
import { classify } from '../../src/cdc/classify.ts'
import { limitError, needsReauthError, subscribeError } from '../../src/cdc/health.ts'

const reply = (channel: string, fields: Record<string, unknown>) => ({ channel, id: '9', clientId: 'c1', ...fields })

t.test('handshake: success, token refused, limits, busy', async (t) => {
  t.same(classify(reply('/meta/handshake', { successful: true })), { kind: 'handshake' })
  const denied = (reason: string) => reply('/meta/handshake', { successful: false, error: '403::Handshake denied', ext: { sfdc: { failureReason: reason } }, advice: { reconnect: 'none', interval: 0 } })
  t.match(classify(denied('401::Authentication invalid')), { kind: 'auth', error: '401::Authentication invalid' })
  t.match(classify(denied('401::Request requires authentication')), { kind: 'auth' })
  t.match(classify(denied('403::Organization concurrent user limit exceeded')), { kind: 'limit', code: 'cdc.client-limit' })
  t.match(classify(reply('/meta/handshake', { successful: false, error: '403::Organization concurrent user limit exceeded', advice: { reconnect: 'none' } })), { kind: 'limit', code: 'cdc.client-limit' }, 'top-level placement too')
  t.match(classify(denied('403::To protect all customers from excessive use and Denial of Service attacks, we limit the number of simultaneous connections per server. Your request has been denied because this limit has been exceeded. Please try your request again later.')), { kind: 'busy' })
  t.match(classify(reply('/meta/handshake', { successful: false, error: '403::Handshake denied', ext: { sfdc: { failureReason: '503::Server is too busy.  Please try your request again later.' } } })), { kind: 'busy' })
  t.match(classify(reply('/meta/handshake', { successful: false, error: '403::Handshake denied', advice: { reconnect: 'none' } })), { kind: 'gone' }, 'an unlisted refusal with advice none needs a new client')
})

t.test('connect: auth, unknown client by advice, delivery limit, advice none after success', async (t) => {
  t.equal(classify(reply('/meta/connect', { successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 110000 } })), null)
  t.match(classify(reply('/meta/connect', { successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none', interval: 0 } })), { kind: 'auth' })
  t.match(classify(reply('/meta/connect', { successful: false, error: '401::Authentication  invalid' })), { kind: 'auth' }, 'two spaces')
  t.match(classify(reply('/meta/connect', { successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake', interval: 0 } })), { kind: 'rehandshake' }, 'faye re-handshakes by itself')
  t.match(classify(reply('/meta/connect', { successful: false, error: '403::Unknown client', advice: { reconnect: 'none', interval: 0 } })), { kind: 'gone' }, 'advice none: nobody would')
  t.match(classify(reply('/meta/connect', { successful: false, error: '400::Client abc has established a session, but no BAYEUX_BROWSER cookie present', advice: { reconnect: 'handshake' } })), { kind: 'rehandshake' })
  t.match(classify(reply('/meta/connect', { successful: false, error: '403::Organization total events daily limit exceeded', advice: { reconnect: 'none' } })), { kind: 'limit', code: 'cdc.delivery-limit' })
  t.match(classify(reply('/meta/connect', { successful: true, advice: { reconnect: 'none', interval: 0 } })), { kind: 'gone' }, 'a server disconnect ends with advice none')
  t.equal(classify(reply('/meta/connect', { successful: false, error: '500::something odd', advice: { reconnect: 'retry' } })), null, 'faye retries that itself')
})

t.test('subscribe: acknowledged, not enabled, no access, replay invalid (raw text, any spacing), other', async (t) => {
  t.same(classify(reply('/meta/subscribe', { successful: true, subscription: '/data/ContactChangeEvent' })), { kind: 'subscribed', channel: '/data/ContactChangeEvent' })
  const refused = (error: string) => classify(reply('/meta/subscribe', { successful: false, subscription: '/data/ContactChangeEvent', error }))
  t.match(refused('400::The channel you requested to subscribe to does not exist {/data/Member__ChangeEvent}'), { kind: 'subscribe-failed', code: 'cdc.not-enabled' })
  t.match(refused("400::The channel you requested to subscribe to doesn't exist /data/Member__ChangeEvent"), { code: 'cdc.not-enabled' }, 'newer spelling')
  t.match(refused('403::User not allowed to subscribe CDC without View All Data permissions'), { code: 'cdc.no-access' })
  t.match(refused('403::Restricted channel'), { code: 'cdc.no-access' })
  t.match(refused('403::Cannot create channel /data/ContactChangeEvent'), { code: 'cdc.no-access' })
  t.match(refused('400::The replayId {4211} you provided was invalid. Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.'), { code: 'cdc.replay-invalid' })
  t.match(refused('400::The replayId {4211} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.'), { code: 'cdc.replay-invalid' }, 'two spaces after invalid.')
  t.match(refused('400::The  replayId 4211  you provided was invalid'), { code: 'cdc.replay-invalid' })
  t.match(refused('400::Channel name not specified'), { code: 'cdc.subscribe-failed', error: '400::Channel name not specified' })
  t.match(classify(reply('/meta/subscribe', { successful: false, error: '403::Unknown client', advice: { reconnect: 'handshake' } })), { kind: 'rehandshake' }, 'faye resubscribes after its handshake')
  t.match(classify(reply('/meta/subscribe', { successful: false, error: '401::Authentication invalid', advice: { reconnect: 'none' } })), { kind: 'auth' })
})

t.test('the server\'s own /meta/disconnect; events and other channels mean nothing', async (t) => {
  t.same(classify({ channel: '/meta/disconnect', clientId: 'c1', successful: true }), { kind: 'server-disconnect' })
  t.equal(classify({ channel: '/data/ContactChangeEvent', data: {} }), null)
  t.equal(classify({ channel: '/meta/unsubscribe', successful: true }), null)
})

t.test('what the administrator is told: one sentence naming the object', async (t) => {
  t.same(subscribeError('cdc.not-enabled', 'Contact', '400::x').action, 'In Setup › Change Data Capture, add Contact to the selected entities.')
  t.match(subscribeError('cdc.no-access', 'Lead', '403::User not allowed to subscribe CDC without View All Data permissions'), {
    code: 'cdc.no-access', message: /Lead.*403::User not allowed/, action: 'Give the integration user the View All Records permission on Lead (or View All Data) in its profile or a permission set.',
  })
  t.match(limitError('cdc.delivery-limit', '403::Organization total events daily limit exceeded'), { code: 'cdc.delivery-limit', action: /resumes/ })
  t.match(needsReauthError('refused'), { code: 'salesforce.needs-reauth', action: 'Reconnect Salesforce from the Cohort dashboard (Apps › Salesforce › Connect).' })
})
