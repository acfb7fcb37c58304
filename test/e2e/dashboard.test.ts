/**
 * A person's path through the dashboard stand-in, in headless Chromium (Debian's package,
 * driven by playwright-core): click Connect, log in on the Salesforce stand-in's page in the
 * pop-up, allow, see the connected org; choose Contact, Email and fields, enable import; map a
 * property and enable export. Screenshots go to test-output/screenshots/.
 */
import { mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { createDashboardSandbox } from '../../sandbox/dashboard/index.ts'
import { randomName } from '../helpers/index.ts'
import { DASHBOARD_SECRET, freePort, startStack } from '../helpers/stack.ts'

const SHOTS = new URL('../../test-output/screenshots/', import.meta.url)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// The flags this machine needs: no sandbox as root, no GPU, and no background network calls.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true })
}

t.test('connect, enable import and export from the dashboard', async (t) => {
  const dashboardPort = await freePort()
  const dashboardOrigin = `http://127.0.0.1:${dashboardPort}`
  const stack = await startStack(t, { env: { DASHBOARD_ORIGIN: dashboardOrigin } })
  const dashboard = createDashboardSandbox({ port: dashboardPort, bridgeUrl: stack.url, jwtSecret: DASHBOARD_SECRET, cohort: { url: stack.cohort.url, token: 'sandbox-cohort-token' } })
  await dashboard.start()
  t.teardown(() => dashboard.stop())

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const merchantId = randomName('m')
  await page.goto(`${dashboard.url}/?merchantId=${merchantId}`)
  await page.waitForSelector('body[data-ready="true"]')
  t.equal(await page.textContent('#connection-status'), 'Not connected')
  await shot(page, '1-not-connected')

  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')])
  await popup.waitForSelector('#username')
  await shot(popup, '2-salesforce-login')
  await popup.fill('#username', 'integration@example.com')
  await popup.fill('#password', 'password')
  await Promise.all([popup.waitForSelector('#oaapprove'), popup.click('#Login')])
  await shot(popup, '3-salesforce-allow')
  await Promise.all([popup.waitForEvent('close'), popup.click('#oaapprove')])

  await page.waitForSelector('#connection-status[data-state="connected"]')
  t.equal(await page.textContent('#username'), 'integration@example.com')
  t.match(await page.textContent('#org-id'), /^00D/)
  t.equal(await page.textContent('#message'), 'Salesforce connected.')
  await page.waitForSelector('#import-fields input[data-field="Title"]')
  await shot(page, '4-connected')

  await page.check('#import-enabled')
  await page.selectOption('#import-object', 'Contact')
  await page.waitForSelector('#import-fields input[data-field="Loyalty_Tier__c"]')
  await page.selectOption('#import-email', 'Email')
  await page.check('input[name=import-mode][value=all]')
  await page.check('#import-fields input[data-field="Title"]')
  await page.check('#import-fields input[data-field="Loyalty_Tier__c"]')
  await page.click('#import-save')
  await page.locator('#message', { hasText: 'Import settings saved.' }).waitFor()
  await shot(page, '5-import-enabled')

  const status = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })
  t.match(status.body.import, { enabled: true, object: 'Contact', emailField: 'Email', mode: 'all', fields: [{ field: 'Title', property: 'title' }, { field: 'Loyalty_Tier__c', property: 'loyalty_tier' }] })

  await page.waitForSelector('#export-enabled:not([disabled])')
  await page.check('#export-enabled')
  await page.selectOption('#export-id-field', 'Cohort_User_Id__c')
  await page.click('#export-add-mapping')
  await page.selectOption('#export-mappings .mapping-property', 'loyalty_tier')
  await page.selectOption('#export-mappings .mapping-field', 'Loyalty_Tier__c')
  await page.click('#export-save')
  await page.locator('#message', { hasText: 'Export settings saved.' }).waitFor()
  await shot(page, '6-export-enabled')
  const after = await stack.call('GET', `/v1/merchants/${merchantId}/salesforce`, { merchantId })
  t.match(after.body.export, { enabled: true, cohortUserIdField: 'Cohort_User_Id__c', mode: 'existing', mappings: [{ property: 'loyalty_tier', field: 'Loyalty_Tier__c' }] })
})
