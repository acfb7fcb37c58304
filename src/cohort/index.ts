export { BATCH_CHUNK, createCohortClient, LOOKUP_CHUNK, PAGE_LIMIT } from './client.ts'
export type { CallOptions, CohortClient, CohortClientOptions } from './client.ts'
export type { BatchOperation, BatchResult, PropertyDefinition, PropertyType, PropertyValue, User } from './schemas.ts'
