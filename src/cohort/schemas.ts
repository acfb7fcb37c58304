/** Shapes of the Cohort internal API (contracts §4), checked on every response. */
import { z } from 'zod'

export const PropertyType = z.enum(['text', 'number', 'boolean', 'date'])
export type PropertyType = z.infer<typeof PropertyType>

export const PropertyValue = z.union([z.string(), z.number(), z.boolean(), z.null()])
export type PropertyValue = z.infer<typeof PropertyValue>

export const User = z.object({
  id: z.string().min(1),
  email: z.string(),
  properties: z.record(z.string(), PropertyValue),
  version: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
})
export type User = z.infer<typeof User>

export const PropertyDefinition = z.object({ key: z.string().min(1), name: z.string(), type: PropertyType })
export type PropertyDefinition = z.infer<typeof PropertyDefinition>

export const UserList = z.object({ data: z.array(User) })
export const UserPage = z.object({ data: z.array(User), nextCursor: z.string().min(1).nullable() })
export const PropertyList = z.object({ data: z.array(PropertyDefinition) })

export const BatchResult = z.union([
  z.object({ ok: z.literal(true), user: User }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string() }),
])
export type BatchResult = z.infer<typeof BatchResult>
export const BatchResponse = z.object({ results: z.array(BatchResult) })

/** What Cohort answers on refusal: 417 (and 401/404/429) with `{ code, message }`. */
export const ErrorBody = z.object({ code: z.string(), message: z.string() })

export type BatchOperation =
  | { op: 'create'; email: string; properties: Record<string, PropertyValue> }
  | { op: 'update'; userId: string; properties: Record<string, PropertyValue> }
