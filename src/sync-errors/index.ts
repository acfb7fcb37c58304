export { registerErrorRoutes } from './routes.ts'
export { retryErrors } from './retry.ts'
export type { RetryOutcome } from './retry.ts'
