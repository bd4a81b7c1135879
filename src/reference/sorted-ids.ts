// A set of strings kept in code-unit order, so a page "after id X" is a binary search away
// instead of a sort per request.
export class SortedIds {
  #ids: string[] = []

  add(id: string): void {
    const i = this.#lowerBound(id)
    if (this.#ids[i] !== id) this.#ids.splice(i, 0, id)
  }

  delete(id: string): void {
    const i = this.#lowerBound(id)
    if (this.#ids[i] === id) this.#ids.splice(i, 1)
  }

  /** Position of the first id strictly greater than `after`; 0 without `after`. */
  indexAfter(after: string | undefined): number {
    if (after === undefined) return 0
    const i = this.#lowerBound(after)
    return this.#ids[i] === after ? i + 1 : i
  }

  at(index: number): string | undefined {
    return this.#ids[index]
  }

  /** Position of the first id not less than `id`. */
  #lowerBound(id: string): number {
    let lo = 0
    let hi = this.#ids.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#ids[mid]! < id) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
