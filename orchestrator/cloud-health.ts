/**
 * How each cloud's store has been doing lately, as the active orchestrator sees it in the events it
 * projects: how long its place and verify workers take per MiB (an exponentially weighted mean), and
 * its failures (a dead letter from its place or verify workers, or a replica it was asked for and did
 * not verify within the placement deadline). Placement failover hands a chunk to the best-ranked
 * cloud (orchestrator/placement-watch.ts): first the clouds with no failure in the last few minutes
 * and no more than `slowFactor` times slower than the fastest, then the slow ones, then the failing
 * ones; topology order within each. A cloud not measured yet counts as healthy and fast.
 *
 * It is memory only: an orchestrator that takes the lease over starts with every cloud healthy and
 * learns again from the next events.
 */

/** A chunk smaller than this counts as this big, so that tiny chunks' fixed costs do not look slow per MiB. */
const MIN_MEASURED_BYTES = 64 * 1024;
const MIB = 1024 * 1024;
/** Weight of the newest sample in the mean. */
const ALPHA = 0.2;

export interface CloudHealthOptions {
  /** How long a failure counts against its cloud. @default 5 min */
  failureWindowMs?: number;
  /** A cloud more than this many times slower per MiB than the fastest is ranked after the others. @default 1.5 */
  slowFactor?: number;
  now?: () => number;
}

/** What the orchestrator knows of one cloud's store now. */
export interface CloudStanding {
  cloud: string;
  /** Mean time its place and verify workers take per MiB, once measured. */
  msPerMiB?: number;
  /** Failures within the window. */
  failures: number;
  rank: "healthy" | "slow" | "failing";
}

const RANK_ORDER: Record<CloudStanding["rank"], number> = { healthy: 0, slow: 1, failing: 2 };

export class CloudHealth {
  readonly #speed = new Map<string, number>();
  readonly #failures = new Map<string, number[]>();
  readonly #windowMs: number;
  readonly #slowFactor: number;
  readonly #now: () => number;

  constructor(options: CloudHealthOptions = {}) {
    this.#windowMs = options.failureWindowMs ?? 5 * 60_000;
    this.#slowFactor = options.slowFactor ?? 1.5;
    this.#now = options.now ?? Date.now;
  }

  /** Learns from one projected event: a placed or verified replica's time, or a place or verify dead letter. */
  observe(subject: string, e: Record<string, unknown>): void {
    const [kind, what, cloud] = subject.split(".");
    if (!cloud) return;
    if (kind === "chunks" && (what === "placed" || what === "verified")) this.#measured(cloud, e.size, e.durationMs);
    else if (kind === "deadletter" && (what === "place" || what === "verify")) this.failed(cloud);
  }

  /** Counts one failure of `cloud`'s store (or of the cloud as a whole) now. */
  failed(cloud: string): void {
    const recent = this.#recent(cloud);
    recent.push(this.#now());
    this.#failures.set(cloud, recent);
  }

  standings(clouds: readonly string[]): CloudStanding[] {
    const measured = clouds.map((c) => this.#speed.get(c)).filter((s): s is number => s !== undefined);
    const fastest = measured.length > 0 ? Math.min(...measured) : undefined;
    return clouds.map((cloud) => {
      const msPerMiB = this.#speed.get(cloud);
      const failures = this.#recent(cloud).length;
      const slow = msPerMiB !== undefined && fastest !== undefined && msPerMiB > this.#slowFactor * fastest;
      const rank = failures > 0 ? "failing" : slow ? "slow" : "healthy";
      return { cloud, ...(msPerMiB === undefined ? {} : { msPerMiB: Math.round(msPerMiB) }), failures, rank };
    });
  }

  /** `clouds` best first: healthy, then slow, then failing, in the given order within each. */
  rank(clouds: readonly string[]): string[] {
    return this.standings(clouds)
      .map((s, i) => ({ s, i }))
      .sort((a, b) => RANK_ORDER[a.s.rank] - RANK_ORDER[b.s.rank] || a.i - b.i)
      .map(({ s }) => s.cloud);
  }

  #measured(cloud: string, size: unknown, durationMs: unknown): void {
    if (typeof size !== "number" || typeof durationMs !== "number") return;
    if (!Number.isFinite(size) || !Number.isFinite(durationMs) || size < 0 || durationMs < 0) return;
    const sample = durationMs / (Math.max(size, MIN_MEASURED_BYTES) / MIB);
    const mean = this.#speed.get(cloud);
    this.#speed.set(cloud, mean === undefined ? sample : mean + ALPHA * (sample - mean));
  }

  #recent(cloud: string): number[] {
    const since = this.#now() - this.#windowMs;
    return (this.#failures.get(cloud) ?? []).filter((at) => at > since);
  }
}
