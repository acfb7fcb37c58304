/** Salesforce failures map to the service's codes; the allocation limit is not a retriable outage. */
import t from 'tap'
import { AppError, isRetriable } from '../../src/errors.ts'
import { toSalesforceError } from '../../src/salesforce/index.ts'

const jsforceError = (errorCode: string, message: string) => Object.assign(new Error(message), { name: errorCode, errorCode })

t.test('REQUEST_LIMIT_EXCEEDED is salesforce.limit-exceeded, not retried', async (t) => {
  const err = toSalesforceError(jsforceError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'), 'query')
  t.equal(err.code, 'salesforce.limit-exceeded')
  t.notOk(isRetriable(err), 'retrying a spent allocation only spends more')
  t.match(err.message, /query: TotalRequests Limit exceeded/)
  t.type(err.cause, Error, 'the jsforce error is the cause')
})

t.test('outages stay retriable, refusals do not', async (t) => {
  t.equal(toSalesforceError(jsforceError('UNABLE_TO_LOCK_ROW', 'locked'), 'update').code, 'salesforce.unavailable')
  t.ok(isRetriable(toSalesforceError(jsforceError('SERVER_UNAVAILABLE', 'down'), 'update')))
  t.ok(isRetriable(toSalesforceError(new Error('fetch failed'), 'update')))
  t.equal(toSalesforceError(jsforceError('INVALID_TYPE', 'sObject type Nope is not supported'), 'describe').code, 'not-found')
  t.equal(toSalesforceError(jsforceError('INVALID_FIELD', 'No such column'), 'query').code, 'salesforce.rejected')
  const own = new AppError('cohort.unavailable', 'x')
  t.equal(toSalesforceError(own, 'x'), own, 'an AppError passes through')
})
