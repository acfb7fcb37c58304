/**
 * No Docker engine runs here, so no image is built: the Dockerfile and docker-compose.yml are
 * checked as files — their structure, the pinned versions, that every local path the
 * Dockerfile copies exists and is not excluded by .dockerignore, that the command the image
 * runs works from a checkout, and that the bridge's compose environment is a configuration
 * the real config module accepts in production mode.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.ts'

const root = new URL('../../', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, root), 'utf8')

interface Instruction {
  op: string
  args: string
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/)
      return { op: op.toUpperCase(), args: rest.join(' ') }
    })
}

/** `${NAME:-default}` → the default (what compose uses when NAME is unset). */
function interpolateDefaults(value: string): string {
  return value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')
}

t.test('Dockerfile (parsed, not built): multi-stage on Node 24 slim, production, non-root, serves the CLI', async (t) => {
  const steps = parseDockerfile(read('Dockerfile'))
  const froms = steps.filter((s) => s.op === 'FROM')
  t.ok(froms.length >= 2, 'multi-stage')
  for (const f of froms) t.match(f.args, /^node:24(\.\d+)*-slim\b/, `base ${f.args}`)
  const lastFrom = steps.lastIndexOf(froms.at(-1)!)
  const final = steps.slice(lastFrom)
  t.ok(final.some((s) => s.op === 'ENV' && /NODE_ENV=production/.test(s.args)), 'NODE_ENV=production')
  const user = final.filter((s) => s.op === 'USER').at(-1)
  t.ok(user && !/^(root|0)$/.test(user.args), 'runs as a non-root user')
  t.ok(final.some((s) => s.op === 'COPY' && /--from=deps/.test(s.args)), 'production dependencies come from the first stage')
  t.ok(steps.some((s) => s.op === 'RUN' && /npm ci --omit=dev/.test(s.args)), 'dev dependencies left out')
  t.match(final.find((s) => s.op === 'CMD')?.args ?? '', /bin\/salesforce-bridge\.js", "serve"/)
  t.match(lastFrom >= 0 ? froms.at(-1)?.args : '', / AS runtime$/, 'the service is the default (last) target')
  const sandbox = steps.slice(steps.findIndex((s) => s.op === 'FROM' && / AS sandbox$/.test(s.args)), lastFrom)
  t.ok(sandbox.some((s) => s.op === 'COPY' && s.args.includes('sandbox')), 'a sandbox target carries the stand-ins')
  t.match(sandbox.find((s) => s.op === 'CMD')?.args ?? '', /sandbox\/main\.ts/)
  t.ok(final.some((s) => s.op === 'HEALTHCHECK' && /\/healthz/.test(s.args)))
  for (const path of ['bin', 'src', 'package.json']) {
    t.ok(final.some((s) => s.op === 'COPY' && s.args.includes(path)), `copies ${path}`)
  }
  const ignored = read('.dockerignore')
  t.match(ignored, /node_modules/)
  t.match(ignored, /\.kafka/)

  // Every local COPY source exists and is not ignored, or the build would fail or ship less.
  const ignoredPaths = ignored.split(/\r?\n/).map((l) => l.trim().replace(/\/$/, '')).filter((l) => l && !l.startsWith('#'))
  for (const step of steps.filter((s) => s.op === 'COPY' && !/--from=/.test(s.args))) {
    const sources = step.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1)
    for (const source of sources) {
      t.ok(existsSync(fileURLToPath(new URL(source, root))), `COPY source ${source} exists`)
      t.notOk(ignoredPaths.includes(source), `COPY source ${source} is not in .dockerignore`)
    }
  }
})

t.test('the image command works from a checkout: the CLI it runs answers', async (t) => {
  // The runtime CMD is `node bin/salesforce-bridge.js serve`; its entry must load and parse.
  const result = spawnSync(process.execPath, ['bin/salesforce-bridge.js', '--help'], { cwd: fileURLToPath(root), encoding: 'utf8' })
  t.equal(result.status, 0, result.stderr)
  t.match(result.stdout, /serve\s+run the service/)
})

t.test('docker-compose.yml (parsed, not run): official Kafka image in KRaft mode, PostgreSQL, the bridge, the stand-ins', async (t) => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, { image?: string; build?: { target?: string }; environment?: Record<string, string>; depends_on?: Record<string, unknown>; network_mode?: string }> }
  const { kafka, postgres, bridge, sandbox } = compose.services
  t.ok(kafka && postgres && bridge && sandbox, 'four services')
  t.equal(sandbox!.build?.target, 'sandbox')
  t.equal(bridge!.build?.target, 'runtime')
  t.ok(Object.values(compose.services).every((s) => s.network_mode === 'host'), 'one address for the browser and the bridge')

  const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(read('scripts/kafka/pom.xml'))?.[1]
  t.equal(kafka!.image, `apache/kafka:${pinned}`, 'same Kafka version as the local broker')
  const kenv = kafka!.environment ?? {}
  t.equal(kenv.KAFKA_PROCESS_ROLES, 'broker,controller', 'KRaft combined mode')
  t.ok(kenv.KAFKA_CONTROLLER_QUORUM_VOTERS, 'controller quorum set')
  for (const key of ['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']) {
    t.equal(kenv[key], '1', `${key}=1 on one node`)
  }
  t.match(postgres!.image, /^postgres:\d+/)
  t.ok(bridge!.build, 'bridge built from the Dockerfile')
  t.same(Object.keys(bridge!.depends_on ?? {}).sort(), ['kafka', 'postgres', 'sandbox'])

  // The bridge's environment, with compose's defaults filled in, must be a valid production config.
  const env = Object.fromEntries(Object.entries(bridge!.environment ?? {}).map(([k, v]) => [k, interpolateDefaults(String(v))]))
  const config = loadConfig({ NODE_ENV: 'production', ...env })
  t.same(config.kafka.brokers, [String(kenv.KAFKA_ADVERTISED_LISTENERS).replace('PLAINTEXT://', '')])
  t.match(config.databaseUrl, /^postgres:\/\/.+@127\.0\.0\.1:5433\//)
  t.equal(config.salesforce.loginUrl, 'http://127.0.0.1:8081', 'the Salesforce stand-in')
  t.equal(config.dashboard.jwtSecret.reveal(), interpolateDefaults(String(sandbox!.environment?.DASHBOARD_JWT_SECRET)), 'the dashboard stand-in signs with the bridge\'s secret')
})
