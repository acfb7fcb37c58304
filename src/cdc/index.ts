export { createCdcEngine } from './engine.ts'
export type { CdcEngine, CdcEngineOptions } from './engine.ts'
export type { StreamContext, StreamHooks, StreamState } from './stream.ts'
