/** Contract: field states, newer wins, many records at once, keyset pages. */
import type { Test } from 'tap'
import type { FieldState } from '../../../src/store/index.ts'
import { fieldState, uid, type ContractContext } from './helpers.ts'

export async function fieldStatesContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('field states: only strictly newer changes are written', async (t) => {
    const merchantId = uid('m')
    const at = 1_700_000_000_000
    t.same(await store.getFieldStates(merchantId, 'r1'), [])
    t.same(await store.saveFieldStates([]), [])

    const written = await store.saveFieldStates([
      fieldState(merchantId, 'r1', 'Email', 'a@example.com', at, 1),
      fieldState(merchantId, 'r1', 'Phone', null, at, 1),
      fieldState(merchantId, 'r1', 'Tags', ['x', 'y'], at, 1),
      fieldState(merchantId, 'r1', 'Address', { city: 'Oslo', zip: 150 }, at, 1),
      fieldState(merchantId, 'r2', 'Email', 'b@example.com', at, 1),
    ])
    t.same(written.sort(), ['Address', 'Email', 'Phone', 'Tags'])
    t.same(await store.getFieldStates(merchantId, 'r1'), [
      fieldState(merchantId, 'r1', 'Address', { city: 'Oslo', zip: 150 }, at, 1),
      fieldState(merchantId, 'r1', 'Email', 'a@example.com', at, 1),
      fieldState(merchantId, 'r1', 'Phone', null, at, 1),
      fieldState(merchantId, 'r1', 'Tags', ['x', 'y'], at, 1),
    ], 'values of every JSON kind round-trip')

    t.same(await store.saveFieldStates([fieldState(merchantId, 'r1', 'Email', 'same@example.com', at, 1)]), [], 'an equal (changedAt, sequence) is not newer')
    t.same(await store.saveFieldStates([fieldState(merchantId, 'r1', 'Email', 'old@example.com', at - 1, 99)]), [], 'an older changedAt loses whatever its sequence')
    t.same(await store.saveFieldStates([fieldState(merchantId, 'r1', 'Email', 'seq@example.com', at, 2)]), ['Email'], 'a higher sequence at the same time wins')
    const mixed = await store.saveFieldStates([
      { ...fieldState(merchantId, 'r1', 'Phone', '+47 123', at + 1, 0), direction: 'export' },
      fieldState(merchantId, 'r1', 'Tags', [], at - 5, 0),
    ])
    t.same(mixed, ['Phone'], 'only the fields written are returned')

    const states = await store.getFieldStates(merchantId, 'r1')
    t.same(states.find((s) => s.field === 'Email'), fieldState(merchantId, 'r1', 'Email', 'seq@example.com', at, 2))
    t.same(states.find((s) => s.field === 'Phone'), { ...fieldState(merchantId, 'r1', 'Phone', '+47 123', at + 1, 0), direction: 'export' })
    t.same(states.find((s) => s.field === 'Tags')?.value, ['x', 'y'])
    t.same(await store.getFieldStates(merchantId, 'r2'), [fieldState(merchantId, 'r2', 'Email', 'b@example.com', at, 1)])
  })

  await t.test('field states: repeats of one field in one call keep the newest', async (t) => {
    const merchantId = uid('m')
    const at = 1_700_000_000_000
    t.same(await store.saveFieldStates([
      fieldState(merchantId, 'r1', 'Email', 'second@example.com', at + 2, 0),
      fieldState(merchantId, 'r1', 'Email', 'first@example.com', at + 1, 0),
      fieldState(merchantId, 'r1', 'Email', 'tie@example.com', at + 2, 0),
    ]), ['Email'])
    t.equal((await store.getFieldStates(merchantId, 'r1'))[0]?.value, 'second@example.com', 'the newest, and the first of equals')
  })

  await t.test('getFieldStatesOf reads many records at once', async (t) => {
    const merchantId = uid('m')
    const at = 1_700_000_000_000
    await store.saveFieldStates([
      fieldState(merchantId, 'r2', 'Phone', '2', at, 1),
      fieldState(merchantId, 'r1', 'Phone', '1', at, 1),
      fieldState(merchantId, 'r1', 'Email', 'a@example.com', at, 1),
      fieldState(merchantId, 'r3', 'Email', 'c@example.com', at, 1),
    ])
    const states = await store.getFieldStatesOf(merchantId, ['r2', 'r1', 'missing'])
    t.same(states.map((s) => [s.recordId, s.field]), [['r1', 'Email'], ['r1', 'Phone'], ['r2', 'Phone']], 'ordered by record, then field')
    t.same(await store.getFieldStatesOf(merchantId, []), [])
  })

  await t.test('keyset pages and walks of field states, by (record id, field)', async (t) => {
    const merchantId = uid('m')
    const at = 1_700_000_000_000
    const keys: Array<[string, string]> = [['r2', 'b'], ['r1', 'b'], ['r1', 'a'], ['r2', 'A'], ['r3', 'a']]
    await store.saveFieldStates(keys.map(([r, f]) => fieldState(merchantId, r, f, f, at, 1)))
    const sorted = [...keys].sort((x, y) => (x[0] === y[0] ? (x[1] < y[1] ? -1 : 1) : x[0] < y[0] ? -1 : 1))
    const p1 = await store.listFieldStatesPage(merchantId, { limit: 2 })
    t.same(p1.data.map((s) => [s.recordId, s.field]), sorted.slice(0, 2))
    t.same(p1.next, { recordId: sorted[1]![0], field: sorted[1]![1] })
    const p2 = await store.listFieldStatesPage(merchantId, { after: p1.next, limit: 2 })
    t.same(p2.data.map((s) => [s.recordId, s.field]), sorted.slice(2, 4), 'the page crosses records correctly')

    const walked: FieldState[][] = []
    for await (const page of store.walkFieldStates(merchantId, { pageSize: 2 })) walked.push(page)
    t.same(walked.map((p) => p.length), [2, 2, 1])
    t.same(walked.flat().map((s) => [s.recordId, s.field]), sorted)
  })
}
