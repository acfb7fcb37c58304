export { registerOAuthRoutes } from './routes.ts'
export type { OAuthRouteDeps } from './routes.ts'
