/** `Sforce-Limit-Info` read once for the API budget and the Bulk reader. */
import t from 'tap'
import { parseLimitInfo } from '../../src/salesforce/limit-info.ts'

t.test('api-usage=used/max from a header value, an array of them, or nothing', async (t) => {
  t.same(parseLimitInfo('api-usage=12/100000'), { used: 12, max: 100000 })
  t.same(parseLimitInfo('per-app-api-usage=1/10(appName=x), api-usage=7/15000'), { used: 7, max: 15000 }, 'by name, not the per-app entry')
  t.same(parseLimitInfo('api-bursts=2/50; api-usage=8/15000'), { used: 8, max: 15000 })
  t.same(parseLimitInfo(['per-app-api-usage=1/10', 'api-usage=3/5']), { used: 3, max: 5 })
  t.equal(parseLimitInfo(null), null)
  t.equal(parseLimitInfo(undefined), null)
  t.equal(parseLimitInfo('api-usage=x/y'), null)
})
