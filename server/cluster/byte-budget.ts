// A bound on bytes in flight: pulls wait for room before each chunk, so several large pulls at
// once cannot hold more than the bound in request bodies.
export class ByteBudget {
  readonly #limit: number
  #used = 0
  readonly #waiting: Array<{ bytes: number, go: () => void }> = []

  constructor (limit: number) {
    this.#limit = limit
  }

  async take (bytes: number): Promise<void> {
    const wanted = Math.min(bytes, this.#limit)
    if (this.#used + wanted <= this.#limit && this.#waiting.length === 0) {
      this.#used += wanted
      return
    }
    await new Promise<void>((resolve) => { this.#waiting.push({ bytes: wanted, go: resolve }) })
  }

  give (bytes: number): void {
    this.#used -= Math.min(bytes, this.#limit)
    while (this.#waiting.length > 0 && this.#used + this.#waiting[0].bytes <= this.#limit) {
      const next = this.#waiting.shift() as { bytes: number, go: () => void }
      this.#used += next.bytes
      next.go()
    }
  }
}
