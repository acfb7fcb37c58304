export { createSalesforceConnections, loginUrlOf, redirectUriOf, tokenContext } from './connections.ts'
export type { SalesforceConnections } from './connections.ts'
export { createDescribeService, toSalesforceError, withSalesforceDeadline } from './describe.ts'
export type { DescribeService, FieldInfo, ObjectInfo } from './describe.ts'
