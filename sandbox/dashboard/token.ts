/**
 * Mints the tokens Cohort's dashboard sends the bridge (HS256, aud `salesforce-bridge`,
 * short-lived). Used by the dashboard stand-in and by tests.
 */
import { SignJWT } from 'jose'

export interface DashboardTokenClaims {
  merchantId?: string
  role?: 'ops'
  sub?: string
}

export async function mintDashboardToken(secret: string, claims: DashboardTokenClaims, options: { ttlSeconds?: number; audience?: string; algorithm?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const { sub, ...rest } = claims
  const jwt = new SignJWT({ ...rest })
    .setProtectedHeader({ alg: options.algorithm ?? 'HS256' })
    .setAudience(options.audience ?? 'salesforce-bridge')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 600))
  if (sub) jwt.setSubject(sub)
  return jwt.sign(new TextEncoder().encode(secret))
}
