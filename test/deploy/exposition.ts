// Reads the Prometheus text exposition format: which series a scrape holds, and their labels.

export interface Sample { name: string, labels: Record<string, string>, value: number }

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export function parseExposition(text: string): Sample[] {
  return text.split('\n').filter(line => line.trim() !== '' && !line.startsWith('#')).map(line => {
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map(l => [l[1]!, l[2]!]))
    return { name: m[1]!, labels, value: Number(m[3]) }
  })
}

/** Series name → the label names seen on its samples. */
export function seriesLabels(samples: Sample[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const s of samples) {
    const labels = out.get(s.name) ?? new Set<string>()
    for (const l of Object.keys(s.labels)) labels.add(l)
    out.set(s.name, labels)
  }
  return out
}
