// A Secret volume as the kubelet writes it (its AtomicWriter): each version of the files in a
// directory of its own, `..data` a symlink to the current one, swapped by renaming a new symlink
// over it, and every file name a symlink through `..data`. So a rotation is one atomic rename.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs'
import { join } from 'node:path'

export class KubeSecretVolume {
  readonly dir: string
  #version = 0
  #current: string | undefined

  constructor(dir: string, files: Record<string, string>) {
    this.dir = dir
    mkdirSync(dir, { recursive: true })
    this.rotate(files)
  }

  /** The path a pod reads a key at: `<dir>/<key>`. */
  path(key: string): string {
    return join(this.dir, key)
  }

  /** Writes a new version of the files and swaps `..data` to it, as the kubelet does on a Secret update. */
  rotate(files: Record<string, string>): void {
    const version = `..2024_01_01_00_00_${String(this.#version++).padStart(2, '0')}.000000001`
    mkdirSync(join(this.dir, version))
    for (const [key, value] of Object.entries(files)) writeFileSync(join(this.dir, version, key), value)
    symlinkSync(version, join(this.dir, '..data_tmp'))
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'))
    for (const key of Object.keys(files)) {
      const link = join(this.dir, key)
      if (!existsSync(link) && !isLink(link)) symlinkSync(join('..data', key), link)
    }
    if (this.#current) rmSync(join(this.dir, this.#current), { recursive: true })
    this.#current = version
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}
