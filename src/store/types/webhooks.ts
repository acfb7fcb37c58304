/** Ids of Cohort webhooks already handled, so a redelivery is recognised until it expires. */

export interface WebhookStore {
  /**
   * Remember a webhook id until `expiresAt`. True when it is new (or the earlier one has
   * expired, by the database's clock), false when seen before and unexpired. Race-safe:
   * of two concurrent calls with one id, one gets true.
   */
  rememberWebhookId(id: string, expiresAt: Date): Promise<boolean>
  /** True when the id is remembered and unexpired (a read: the ingress checks before it publishes). */
  hasWebhookId(id: string): Promise<boolean>
}
