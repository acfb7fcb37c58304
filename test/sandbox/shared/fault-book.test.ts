import t from 'tap'
import { createFaultBook } from '../../../sandbox/shared/fault-book.ts'

t.test('a fault applies to the next `count` matching calls, then is gone', async (t) => {
  const book = createFaultBook<{ kind: string; count: number; match?: string }>()
  book.add({ kind: 'a', count: 2, match: '/users/lookup' })
  t.equal(book.take('GET', '/users'), null, 'another path')
  t.equal(book.take('POST', '/internal/merchants/m/users/lookup')?.kind, 'a')
  t.equal(book.pending()[0]?.count, 1)
  t.equal(book.take('POST', '/internal/merchants/m/users/lookup')?.kind, 'a')
  t.equal(book.take('POST', '/internal/merchants/m/users/lookup'), null, 'used up')
  t.same(book.pending(), [])
})

t.test('match: a substring of "METHOD /path", a /regex/flags, or every call', async (t) => {
  const book = createFaultBook<{ kind: string; count: number; match?: string }>()
  book.add({ kind: 'method', count: 1, match: 'PATCH ' })
  book.add({ kind: 'regex', count: 1, match: '/^GET .*\\/query$/i' })
  book.add({ kind: 'path-that-looks-like-a-regex', count: 1, match: '/sobjects/Contact' })
  t.equal(book.take('POST', '/x'), null)
  t.equal(book.take('PATCH', '/x')?.kind, 'method')
  t.equal(book.take('get', '/services/data/v62.0/query')?.kind, 'regex')
  t.equal(book.take('GET', '/services/data/v62.0/sobjects/Contact/describe')?.kind, 'path-that-looks-like-a-regex')
  book.add({ kind: 'all', count: 1 })
  t.equal(book.take('DELETE', '/anything')?.kind, 'all')
  book.add({ kind: 'x', count: 5 })
  book.clear()
  t.equal(book.take('GET', '/'), null)
})
