// Loaded with `node --import` into a dualread child: on exit, prints which @opentelemetry packages
// the process loaded, so a test can tell that tracing off loads no SDK at all. Worker threads inherit
// `--import`, so each thread prints its own line when it exits.
import { registerHooks } from 'node:module'

const loaded = new Set<string>()
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context)
    const m = /node_modules\/(@opentelemetry\/[^/]+)\//.exec(resolved.url)
    if (m) loaded.add(m[1]!)
    return resolved
  },
})
process.on('exit', () => process.stderr.write(`opentelemetry packages loaded: ${JSON.stringify([...loaded].sort())}\n`))
