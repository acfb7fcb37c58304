/**
 * The stand-ins' fault injection bookkeeping: a fault applies to the next `count` calls whose
 * "METHOD /path" matches `match` — a substring, or a regular expression written `/…/flags`;
 * every call when omitted — and is forgotten once used up. A fault may also be used up in
 * other units than calls (records of a call, say) through `matching` and `useUp`.
 */

export interface CountedFault {
  count: number
  match?: string | undefined
}

export interface FaultBook<F extends CountedFault> {
  add(fault: F): void
  /** The first fault for this call that `accept` takes (every one by default), counting it down by one. */
  take(method: string, path: string, accept?: (fault: F) => boolean): F | null
  /** Every pending fault for this call that `accept` takes, oldest first, without counting down. */
  matching(method: string, path: string, accept?: (fault: F) => boolean): F[]
  /** Count a fault returned by `matching` down by `units`; forgotten at zero. */
  useUp(fault: F, units: number): void
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
  const all = () => true
  const useUp = (fault: F, units: number) => {
    const entry = faults.find((f) => f.fault === fault)
    if (!entry || units <= 0) return
    entry.fault.count -= units
    if (entry.fault.count <= 0) faults = faults.filter((f) => f !== entry)
  }
  return {
    add(fault) {
      faults.push({ fault: { ...fault }, test: matcher(fault.match) })
    },
    take(method, path, accept = all) {
      const call = `${method} ${path}`
      const entry = faults.find((f) => accept(f.fault) && f.test(call))
      if (!entry) return null
      useUp(entry.fault, 1)
      return entry.fault
    },
    matching(method, path, accept = all) {
      const call = `${method} ${path}`
      return faults.filter((f) => accept(f.fault) && f.test(call)).map((f) => f.fault)
    },
    useUp,
    pending: () => faults.map((f) => ({ ...f.fault })),
    clear() {
      faults = []
    },
  }
}
