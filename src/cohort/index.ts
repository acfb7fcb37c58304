export { BATCH_CHUNK, createCohortClient, LOOKUP_CHUNK, PAGE_LIMIT } from './client.ts'
export type { CallOptions, CohortClient, CohortClientOptions } from './client.ts'
export type { BatchOperation, BatchResult, PropertyDefinition, PropertyType, User } from './schemas.ts'
export { PropertyValue } from './schemas.ts'
