/**
 * The state store: a small domain interface, not a generic SQL layer, split per capability
 * (one file each here, one file each per backend). Two implementations (SQLite through
 * node:sqlite, PostgreSQL through pg) pass one contract suite (test/store/contract/).
 */
import type { AuditStore } from './audit.ts'
import type { LifecycleStore } from './base.ts'
import type { BatchStore } from './batches.ts'
import type { CheckpointStore } from './checkpoints.ts'
import type { ConnectionStore, OAuthStateStore } from './connections.ts'
import type { ErrorStore } from './errors.ts'
import type { ExportStateStore } from './export-state.ts'
import type { ExportVersionStore } from './export-versions.ts'
import type { FieldStateStore } from './field-states.ts'
import type { HealthStore } from './health.ts'
import type { HousekeepingStore } from './housekeeping.ts'
import type { LeaseStore } from './leases.ts'
import type { LinkStore } from './links.ts'
import type { ParkedStore } from './parked.ts'
import type { RunStore } from './runs.ts'
import type { SettingsStore } from './settings.ts'
import type { TraceStore } from './traces.ts'
import type { WebhookStore } from './webhooks.ts'

export type * from './audit.ts'
export type * from './base.ts'
export type * from './batches.ts'
export type * from './checkpoints.ts'
export type * from './connections.ts'
export type * from './errors.ts'
export type * from './export-state.ts'
export type * from './export-versions.ts'
export type * from './field-states.ts'
export type * from './health.ts'
export type * from './housekeeping.ts'
export type * from './leases.ts'
export type * from './links.ts'
export type * from './parked.ts'
export type * from './runs.ts'
export type * from './settings.ts'
export type * from './traces.ts'
export type * from './webhooks.ts'

/** The whole store, one flat interface: what callers take as a dependency. */
export interface Store
  extends LifecycleStore,
    ConnectionStore,
    OAuthStateStore,
    SettingsStore,
    LinkStore,
    FieldStateStore,
    ExportVersionStore,
    ExportStateStore,
    ErrorStore,
    RunStore,
    LeaseStore,
    CheckpointStore,
    ParkedStore,
    WebhookStore,
    AuditStore,
    TraceStore,
    BatchStore,
    HousekeepingStore,
    HealthStore {}
