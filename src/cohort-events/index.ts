export { CohortEventType, CohortUserEvent, cohortEventKeyOf } from './event.ts'
export { registerWebhookRoutes, WEBHOOK_ID_TTL_MS, WEBHOOK_PATH } from './webhook.ts'
export type { WebhookRouteDeps } from './webhook.ts'
