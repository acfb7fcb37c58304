export { changeKeyOf, ChangeMessageSchema, orderOf, parseChangeMessage } from './message.ts'
export type { ChangeMessage, ChangeType } from './message.ts'
export { DeliveredEventSchema, flatFieldName, flattenFields, fromEvent, fromRecord, OVERFLOW_RECORD_ID } from './from-event.ts'
export type { EventContext, FromEvent } from './from-event.ts'
