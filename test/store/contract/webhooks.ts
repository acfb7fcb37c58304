/** Contract: webhook ids with expiry. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function webhooksContract(t: Test, { store, open }: ContractContext): Promise<void> {
  await t.test('webhook ids: new once until they expire', async (t) => {
    const later = new Date(Date.now() + 3_600_000)
    const id = uid('msg')
    t.equal(await store.hasWebhookId(id), false, 'unknown before')
    t.equal(await store.rememberWebhookId(id, later), true, 'new')
    t.equal(await store.hasWebhookId(id), true, 'known after')
    t.equal(await store.rememberWebhookId(id, later), false, 'seen and unexpired')

    const expired = uid('msg')
    t.equal(await store.rememberWebhookId(expired, new Date(Date.now() - 1000)), true)
    t.equal(await store.hasWebhookId(expired), false, 'an expired id is not known')
    t.equal(await store.rememberWebhookId(expired, later), true, 'the earlier one expired: new again')
    t.equal(await store.rememberWebhookId(expired, later), false, 'and remembered until the new expiry')

    const other = await open(t)
    const raced = uid('msg')
    const answers = await Promise.all([store.rememberWebhookId(raced, later), other.rememberWebhookId(raced, later), store.rememberWebhookId(raced, later), other.rememberWebhookId(raced, later)])
    t.equal(answers.filter(Boolean).length, 1, 'concurrent deliveries: one is new')
  })
}
