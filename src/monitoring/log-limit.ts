// Rate-limited logging: an event that repeats (a retried hand-over, an unreachable peer) is logged once per
// window with the count of the repeats it stands for, instead of once per partition or per retry.
import type { Logger } from 'pino';

export const LOG_LIMITS = Object.freeze({
  /** One line per kind of event per this window; the next line says how many were suppressed. */
  windowMs: 10_000,
  /** Kinds tracked at once (older ones are forgotten first). */
  kindsMax: 256,
});

type Level = 'info' | 'warn' | 'error';

export class LimitedLog {
  private readonly seen = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly log: Logger | undefined,
    private readonly nowMs: () => number,
    private readonly windowMs = LOG_LIMITS.windowMs,
  ) {}

  /** Logs `msg` unless a line of the same `kind` went out within the window (then it is only counted). */
  write(level: Level, kind: string, fields: Record<string, unknown>, msg: string): void {
    if (this.log === undefined) return;
    const now = this.nowMs();
    const s = this.seen.get(kind);
    if (s !== undefined && now - s.atMs < this.windowMs) {
      s.suppressed++;
      return;
    }
    const suppressed = s?.suppressed ?? 0;
    this.seen.delete(kind);
    this.seen.set(kind, { atMs: now, suppressed: 0 });
    if (this.seen.size > LOG_LIMITS.kindsMax) this.seen.delete(this.seen.keys().next().value!);
    this.log[level](suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  }

  warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.write('warn', kind, fields, msg);
  }

  error(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.write('error', kind, fields, msg);
  }
}
