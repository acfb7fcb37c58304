/**
 * `npm run bench [-- <name> ...] [-- --short]`: runs bench/<name>.bench.ts (all of them when no
 * name is given) one after another, each in its own Node 24 process, passing the flags on.
 * Every benchmark prints one JSON line of figures; docs/benchmarks.md records them.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const args = process.argv.slice(2).filter((a) => a !== '--')
const names = args.filter((a) => !a.startsWith('--'))
const flags = args.filter((a) => a.startsWith('--'))
const all = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort()
const chosen = names.length > 0 ? names : all
let failed = 0
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`no benchmark "${name}" (have: ${all.join(', ')})`)
    failed++
    continue
  }
  console.error(`# ${name}`)
  const result = spawnSync(process.execPath, ['--expose-gc', `${dir}${name}.bench.ts`, ...flags], { stdio: 'inherit' })
  if (result.status !== 0) failed++
}
process.exitCode = failed === 0 ? 0 : 1
