// A StateStore with some of its parts' methods replaced, to inject failures and lost leases.
import type { StateStore } from '../../src/state/state-store.ts'

type Part = 'checkpoints' | 'changes' | 'conflicts' | 'lease' | 'signals'

/** `replace(part, method)` returns a stand-in for `part.method`, or undefined to keep the real one. */
export function replacing(store: StateStore, replace: (part: Part, method: string, real: StateStore[Part]) => ((...args: never[]) => unknown) | undefined): StateStore {
  const parts = new Map<PropertyKey, object>()
  for (const part of ['checkpoints', 'changes', 'conflicts', 'lease', 'signals'] as const) {
    const real = store[part]
    parts.set(part, new Proxy(real, {
      get(target, name, receiver) {
        const stand = typeof name === 'string' ? replace(part, name, real) : undefined
        if (stand) return stand
        const v = Reflect.get(target, name, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    }))
  }
  return new Proxy(store, {
    get(target, name, receiver) {
      if (parts.has(name)) return parts.get(name)
      const v = Reflect.get(target, name, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}
