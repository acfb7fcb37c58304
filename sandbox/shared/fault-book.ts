/**
 * The stand-ins' fault injection bookkeeping: a fault applies to the next `count` calls whose
 * "METHOD /path" matches `match` — a substring, or a regular expression written `/…/flags`;
 * every call when omitted — and is forgotten once used up.
 */

export interface CountedFault {
  count: number
  match?: string | undefined
}

export interface FaultBook<F extends CountedFault> {
  add(fault: F): void
  /** The fault for this call, if any, counting it down. */
  take(method: string, path: string): F | null
  pending(): F[]
  clear(): void
}

function matcher(match: string | undefined): (call: string) => boolean {
  if (match === undefined) return () => true
  // `/users/lookup` is a path, not a regex with flags "lookup": only real flags make a regex.
  const re = /^\/(.+)\/([dgimsuy]*)$/.exec(match)
  if (re) {
    try {
      const regex = new RegExp(re[1]!, re[2])
      return (call) => regex.test(call)
    } catch {
      // not a valid expression: a substring after all
    }
  }
  return (call) => call.includes(match)
}

export function createFaultBook<F extends CountedFault>(): FaultBook<F> {
  let faults: { fault: F; test: (call: string) => boolean }[] = []
  return {
    add(fault) {
      faults.push({ fault: { ...fault }, test: matcher(fault.match) })
    },
    take(method, path) {
      const call = `${method} ${path}`
      const entry = faults.find((f) => f.test(call))
      if (!entry) return null
      entry.fault.count--
      if (entry.fault.count <= 0) faults = faults.filter((f) => f !== entry)
      return entry.fault
    },
    pending: () => faults.map((f) => ({ ...f.fault })),
    clear() {
      faults = []
    },
  }
}
