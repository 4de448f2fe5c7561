// Exponential back-off with full jitter (AWS's "full jitter"): each wait is uniform in [0, min(max, base·2^n)],
// so many nodes retrying after one event spread out instead of arriving together.
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt; each call doubles the ceiling up to `maxMs`. */
  nextMs(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(1, Math.floor(this.random() * ceiling));
  }

  /** After a success: the next failure starts from `baseMs` again. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
