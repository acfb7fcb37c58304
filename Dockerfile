# syntax=docker/dockerfile:1
# Node 24 runs the TypeScript sources directly (type stripping): no build output. Stages:
#   deps     production dependencies only
#   sandbox  the local stand-ins (Salesforce, Cohort, dashboard) for demos: --target sandbox
#   runtime  the service (the default target, last)

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# The `node` devDependency is left out (--omit=dev): the image's own Node 24 runs the service.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-slim AS sandbox
ENV NODE_ENV=development
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node src ./src
COPY --chown=node:node sandbox ./sandbox
COPY --chown=node:node scripts/lib ./scripts/lib
USER node
EXPOSE 8081 8082 3000
CMD ["node", "sandbox/main.ts"]

FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node src ./src
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# `serve` migrates the store, then runs HTTP, consumers and the scheduler; SIGTERM drains.
CMD ["node", "bin/salesforce-bridge.js", "serve"]
