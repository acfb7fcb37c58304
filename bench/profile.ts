/**
 * A CPU profile of one phase of a benchmark, on this thread: `BENCH_PROFILE=dir` writes
 * `{dir}/{name}.cpuprofile` (open it in Chrome's DevTools or summarise it with
 * `node bench/profile-summary.ts file`); without it `profile()` only runs the phase.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'

export async function profile<T>(name: string, phase: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE
  if (!dir) return phase()
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 200 })
  await session.post('Profiler.start')
  try {
    return await phase()
  } finally {
    const { profile: result } = await session.post('Profiler.stop')
    await mkdir(dir, { recursive: true })
    await writeFile(`${dir}/${name}.cpuprofile`, JSON.stringify(result))
    session.disconnect()
  }
}
