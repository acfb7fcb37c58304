/** Request and response shapes of the settings API (contracts §2), also the OpenAPI source. */
import { z } from 'zod'

export const MerchantParams = z.object({ merchantId: z.string().min(1).max(128) })
export const ObjectParams = MerchantParams.extend({ object: z.string().min(1).max(80) })
export const RefreshQuery = z.object({ refresh: z.enum(['true', 'false']).optional() })

const apiName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,79}$/, 'a Salesforce API name')
const propertyKey = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'lower case letters, digits and _, starting with a letter')

export const ImportSettings = z.object({
  enabled: z.boolean(),
  object: apiName.optional(),
  emailField: apiName.optional(),
  mode: z.enum(['all', 'existing']).default('all'),
  fields: z.array(z.object({ field: apiName, property: propertyKey.optional() })).max(500).default([]),
})
export type ImportSettings = z.infer<typeof ImportSettings>

export const ExportSettings = z.object({
  enabled: z.boolean(),
  cohortUserIdField: apiName.optional(),
  mode: z.enum(['all', 'existing']).default('existing'),
  mappings: z.array(z.object({ property: propertyKey, field: apiName })).max(500).default([]),
  createDefaults: z.record(apiName, z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
  apiBudgetPercent: z.number().int().min(1).max(100).optional(),
})
export type ExportSettings = z.infer<typeof ExportSettings>

export const ObjectList = z.object({ objects: z.array(z.object({ name: z.string(), label: z.string(), custom: z.boolean(), cdcChannel: z.string() })) })
export const FieldList = z.object({
  fields: z.array(z.object({
    name: z.string(), label: z.string(), type: z.string(), length: z.number(), nillable: z.boolean(), readable: z.boolean(),
    createable: z.boolean(), updateable: z.boolean(), defaultedOnCreate: z.boolean(), emailCapable: z.boolean(),
  })),
})
export const AuditList = z.object({
  data: z.array(z.object({ id: z.string(), actor: z.string(), action: z.string(), details: z.unknown(), at: z.string() })),
  nextCursor: z.string().nullable(),
})
export const PageQuery = z.object({ cursor: z.string().optional(), limit: z.coerce.number<string>().int().min(1).max(1000).optional() })
