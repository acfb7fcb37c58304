/**
 * Zod schemas drive request validation, response serialisation and the OpenAPI document
 * served at `GET /docs/json`.
 */
import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  await app.register(swagger, {
    openapi: {
      info: { title: 'salesforce-bridge', description: 'Keeps Cohort users in sync with Salesforce.', version },
      components: { securitySchemes: { dashboardJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ dashboardJwt: [] }],
    },
    transform: jsonSchemaTransform,
  })
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger())
}
