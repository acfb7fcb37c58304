/** Contract: per-record errors, attempts, resolution, counts and pages. */
import type { Test } from 'tap'
import { uid, type ContractContext } from './helpers.ts'

export async function errorsContract(t: Test, { store }: ContractContext): Promise<void> {
  await t.test('record errors: the same refusal again bumps attempts', async (t) => {
    const merchantId = uid('m')
    const first = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', email: 'a@example.com', code: 'DUPLICATE', message: 'first', payload: { attempt: 1 } })
    t.match(first, { merchantId, direction: 'export', recordId: 'r1', userId: 'u1', email: 'a@example.com', code: 'DUPLICATE', message: 'first', payload: { attempt: 1 }, attempts: 1, resolvedAt: null })
    t.equal(first.firstAt.getTime(), first.at.getTime())

    const again = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', code: 'DUPLICATE', message: 'second', payload: [2] })
    t.equal(again.id, first.id, 'same row')
    t.equal(again.attempts, 2)
    t.equal(again.message, 'second')
    t.same(again.payload, [2])
    t.equal(again.email, 'a@example.com', 'a missing email keeps the known one')
    t.equal(again.firstAt.getTime(), first.firstAt.getTime())
    t.ok(again.at.getTime() >= first.at.getTime())
    t.same(await store.getError(merchantId, first.id), again)

    const otherCode = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', code: 'REQUIRED_FIELD_MISSING', message: 'x' })
    const otherDirection = await store.recordError({ merchantId, direction: 'import', recordId: 'r1', userId: 'u1', code: 'DUPLICATE', message: 'x' })
    const noUser = await store.recordError({ merchantId, direction: 'export', recordId: 'r1', code: 'DUPLICATE', message: 'x' })
    t.equal(new Set([first.id, otherCode.id, otherDirection.id, noUser.id]).size, 4, 'code, direction and user are part of the key')
    t.equal(noUser.payload, null, 'a missing payload reads back as null')

    const anonymous = await store.recordError({ merchantId, direction: 'import', code: 'UNKNOWN', message: 'a' })
    const anonymousAgain = await store.recordError({ merchantId, direction: 'import', recordId: null, userId: null, code: 'UNKNOWN', message: 'b' })
    t.equal(anonymousAgain.id, anonymous.id, 'null record and user ids still match')
    t.equal(anonymousAgain.attempts, 2)

    t.equal(await store.countErrors(merchantId), 5)
    t.equal(await store.getError(uid('m'), first.id), null, 'errors are per merchant')
    t.equal(await store.deleteError(uid('m'), first.id), false)
    t.equal(await store.deleteError(merchantId, first.id), true)
    t.equal(await store.deleteError(merchantId, first.id), false)
    t.equal(await store.getError(merchantId, first.id), null)
    t.equal(await store.countErrors(merchantId), 4)
    t.equal(await store.getError(merchantId, 'not-an-id'), null)
  })

  await t.test('record errors: resolving closes them, counts see open ones only', async (t) => {
    const merchantId = uid('m')
    const r1 = await store.recordError({ merchantId, direction: 'import', recordId: 'r1', code: 'STRING_TOO_LONG', message: 'x' })
    await store.recordError({ merchantId, direction: 'import', recordId: 'r1', code: 'INVALID_EMAIL_ADDRESS', message: 'x' })
    await store.recordError({ merchantId, direction: 'import', recordId: 'r2', code: 'STRING_TOO_LONG', message: 'x' })
    const u1 = await store.recordError({ merchantId, direction: 'export', userId: 'u1', code: 'STRING_TOO_LONG', message: 'x' })
    await store.recordError({ merchantId, direction: 'export', recordId: 'r1', userId: 'u1', code: 'DUPLICATES_DETECTED', message: 'x' })
    t.same(await store.countErrorsByCode(merchantId), { DUPLICATES_DETECTED: 1, INVALID_EMAIL_ADDRESS: 1, STRING_TOO_LONG: 3 })
    t.same(await store.countErrorsByCode(uid('m')), {})

    t.equal(await store.resolveErrors(merchantId, [{ direction: 'import', recordId: 'r1' }]), 2, 'every code of the record in that direction')
    t.equal(await store.resolveErrors(merchantId, [{ direction: 'import', recordId: 'r1' }]), 0, 'resolved once')
    t.equal(await store.resolveErrors(merchantId, [{ direction: 'export', userId: 'u1', code: 'STRING_TOO_LONG' }]), 1, 'by user and code')
    t.equal(await store.countErrors(merchantId), 2)
    t.same(await store.countErrorsByCode(merchantId), { DUPLICATES_DETECTED: 1, STRING_TOO_LONG: 1 })
    t.ok((await store.getError(merchantId, r1.id))?.resolvedAt instanceof Date, 'a resolved error keeps its row with resolvedAt')
    t.same((await store.listErrors(merchantId)).data.map((e) => e.code).sort(), ['DUPLICATES_DETECTED', 'STRING_TOO_LONG'], 'listErrors lists open ones')
    t.equal((await store.listErrors(merchantId, { state: 'resolved' })).data.length, 3)
    t.equal((await store.listErrors(merchantId, { state: 'all' })).data.length, 5)

    const reopened = await store.recordError({ merchantId, direction: 'export', userId: 'u1', code: 'STRING_TOO_LONG', message: 'again' })
    t.not(reopened.id, u1.id, 'a refusal after resolution is a new open error')
    t.equal(reopened.attempts, 1)
    t.equal(await store.countErrors(merchantId), 3)
    await t.rejects(store.resolveErrors(merchantId, [{ direction: 'import' }]), { code: 'internal' }, 'a resolution needs a record or a user')
    t.equal(await store.resolveErrors(merchantId, []), 0)
  })

  await t.test('record errors: many records resolved at once, in both directions, repeats counted once', async (t) => {
    const merchantId = uid('m')
    for (const recordId of ['a', 'b', 'c']) await store.recordError({ merchantId, direction: 'import', recordId, code: 'STRING_TOO_LONG', message: 'x' })
    await store.recordError({ merchantId, direction: 'import', recordId: 'a', code: 'INVALID_EMAIL_ADDRESS', message: 'x' })
    await store.recordError({ merchantId, direction: 'export', recordId: 'a', userId: 'u1', code: 'STRING_TOO_LONG', message: 'x' })
    await store.recordError({ merchantId, direction: 'export', recordId: 'b', userId: 'u2', code: 'STRING_TOO_LONG', message: 'x' })
    await store.recordError({ merchantId: uid('m'), direction: 'import', recordId: 'a', code: 'STRING_TOO_LONG', message: 'x' })
    const resolved = await store.resolveErrors(merchantId, [
      { direction: 'import', recordId: 'a' }, { direction: 'import', recordId: 'b' }, { direction: 'import', recordId: 'a' },
      { direction: 'import', recordId: 'zz' }, { direction: 'export', recordId: 'b' }, { direction: 'export', recordId: 'a', code: 'DUPLICATES_DETECTED' },
    ])
    t.equal(resolved, 4, 'a: two codes, b: one; export b; nothing for an unknown record or another code')
    t.same((await store.listErrors(merchantId)).data.map((e) => `${e.direction}:${e.recordId}`).sort(), ['export:a', 'import:c'])
  })

  await t.test('listErrors pages newest first with a stable cursor', async (t) => {
    const merchantId = uid('m')
    const made: string[] = []
    for (let i = 0; i < 7; i++) made.push((await store.recordError({ merchantId, direction: 'import', recordId: `r${i}`, code: 'X', message: `m${i}` })).id)
    await store.recordError({ merchantId: uid('m'), direction: 'import', recordId: 'r0', code: 'X', message: 'other merchant' })
    const newestFirst = [...made].reverse()

    const all = await store.listErrors(merchantId)
    t.same(all.data.map((e) => e.id), newestFirst, 'default limit, newest first')
    t.equal(all.nextCursor, null)

    const p1 = await store.listErrors(merchantId, { limit: 3 })
    t.same(p1.data.map((e) => e.id), newestFirst.slice(0, 3))
    t.type(p1.nextCursor, 'string')
    // A newer error arriving between pages must not shift the next page.
    await store.recordError({ merchantId, direction: 'import', recordId: 'late', code: 'X', message: 'late' })
    const p2 = await store.listErrors(merchantId, { limit: 3, cursor: p1.nextCursor })
    t.same(p2.data.map((e) => e.id), newestFirst.slice(3, 6))
    const p3 = await store.listErrors(merchantId, { limit: 3, cursor: p2.nextCursor })
    t.same(p3.data.map((e) => e.id), newestFirst.slice(6))
    t.equal(p3.nextCursor, null)

    t.equal((await store.listErrors(merchantId, { limit: 8 })).nextCursor, null, 'no cursor when the page holds the rest exactly')
    t.equal((await store.listErrors(merchantId, { limit: 0 })).data.length, 1, 'limit is at least 1')
    t.equal((await store.listErrors(merchantId, { limit: 5000 })).data.length, 8, 'limit is at most 1000')
    t.equal((await store.listErrors(merchantId, { cursor: null })).data.length, 8)
    await t.rejects(store.listErrors(merchantId, { cursor: 'not a cursor' }), { code: 'request.invalid' })
    await t.rejects(store.listErrors(merchantId, { cursor: Buffer.from('[1]').toString('base64url') }), { code: 'request.invalid' })
  })
}
