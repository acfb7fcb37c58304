/** The stand-ins' admin APIs answer callers on this machine only (contracts §7). */
export function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || address?.startsWith('127.') === true
}

/** `decodeURIComponent` that keeps a malformed `%` sequence as it is instead of throwing. */
export function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}
