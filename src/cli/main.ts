/**
 * `salesforce-bridge <command>`: the same environment as the service, acting directly on the
 * store and Kafka they name. Exit 0 on success; otherwise one clear line, no stack trace.
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.ts'
import { AppError } from '../errors.ts'
import { runMigrate } from './migrate.ts'
import { runStatus } from './status.ts'

const USAGE = `usage: salesforce-bridge <command> [options]

commands:
  serve                      run the service (HTTP, consumers, scheduler)
  migrate                    create or upgrade the state store
  status [--merchant M] [--json]
                             connections, consumer lag, error counts
`

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  switch (command) {
    case 'serve': {
      const { main } = await import('../server.ts')
      await main()
      return -1 // the server owns the process from here
    }
    case 'migrate': {
      parseArgs({ args: rest, options: {}, strict: true })
      await runMigrate(loadConfig(process.env), process.stdout)
      return 0
    }
    case 'status': {
      const { values } = parseArgs({ args: rest, options: { merchant: { type: 'string' }, json: { type: 'boolean' } }, strict: true })
      await runStatus(loadConfig(process.env), { merchantId: values.merchant, json: values.json ?? false }, process.stdout)
      return 0
    }
    default:
      throw new AppError('request.invalid', `unknown command "${command}" (see salesforce-bridge --help)`)
  }
}

// kafkajs 2.2.4 sets one timer with a negative delay on Node >= 23 (tulios/kafkajs#1751),
// which Node reports as a warning; it is harmless, and a command's stderr stays for its errors.
process.removeAllListeners('warning')
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') process.stderr.write(`warning: ${warning.name}: ${warning.message}\n`)
})

try {
  const code = await run(process.argv.slice(2))
  if (code >= 0) process.exitCode = code
} catch (err) {
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`salesforce-bridge: ${message}\n`)
  process.exitCode = 1
}
