#!/usr/bin/env node
// The `salesforce-bridge` command. The sources are TypeScript run by Node's type stripping,
// which needs Node 22.18 or later: `npx salesforce-bridge` and the npm scripts use the
// project's own Node 24 (the `node` devDependency).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`salesforce-bridge: needs Node >= 22.18 (this is ${process.version}); run it as \`npx salesforce-bridge\` from the checkout so the project's Node 24 is used\n`)
  process.exit(1)
}
await import('../src/cli/main.ts')
