export { registerSettingsRoutes } from './routes.ts'
export type { SettingsRouteDeps } from './routes.ts'
