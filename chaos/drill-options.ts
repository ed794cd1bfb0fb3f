/** What the kill-workers drill is asked to do, and the same with every default filled in and checked. */
import { ConfigError } from "../shared/errors.ts";
import type { Topology } from "../shared/topology/config.ts";
import { randomSeed } from "./random.ts";

export interface KillWorkersOptions {
  /** Folder for the private deployment (servers, stores, logs under `logs/`). */
  dataDir: string;
  topology: Topology;
  /** Local files to ingest. */
  files: string[];
  /** Longest time to keep killing; files still in flight then get the drain time without faults. @default 120000 */
  durationMs?: number;
  /** Time allowed, after the kills stop, for files to finish and every consumer to drain. @default max(60 s, 4 × ackWait) */
  drainTimeoutMs?: number;
  /** Largest share of all workers killed in one round (at least one is). @default 0.2 */
  maxFraction?: number;
  /** Mean pause between rounds; each pause is drawn from 0.5×..1.5× of it. @default 1500 */
  intervalMs?: number;
  /** @default a random seed, reported */
  seed?: number;
  /** Slows every store write in the workers (FERRY_FS_THROTTLE_BPS) so kills land mid-chunk. */
  throttleBytesPerSec?: number;
  /**
   * Also kill the local store servers (`store-<cloud>`), which the deployment restarts within about a
   * second. Azurite is stopped with SIGTERM instead: it saves its metadata every 5 s, so a SIGKILL loses
   * writes it had acknowledged, which real Azure never does. @default false
   */
  killStores?: boolean;
  log: (line: string) => void;
}

/** The drill's timing, share and seed, every default filled in. */
export type CompiledOptions = Required<
  Pick<KillWorkersOptions, "durationMs" | "drainTimeoutMs" | "maxFraction" | "intervalMs" | "seed">
>;

/** Fills in the defaults; throws ConfigError, naming the option, on one that makes no sense. */
export function compileOptions(options: KillWorkersOptions): CompiledOptions {
  if (options.files.length === 0) throw new ConfigError("kill-workers drill: files: give at least one file to ingest");
  const positive = (key: string, v: number) => {
    if (!(Number.isFinite(v) && v > 0))
      throw new ConfigError(`kill-workers drill: ${key}: ${v} is not a positive number`);
    return v;
  };
  const maxFraction = options.maxFraction ?? 0.2;
  if (!(maxFraction > 0 && maxFraction <= 1))
    throw new ConfigError(`kill-workers drill: maxFraction: ${maxFraction} is not in (0, 1]`);
  return {
    durationMs: positive("durationMs", options.durationMs ?? 120_000),
    drainTimeoutMs: positive(
      "drainTimeoutMs",
      options.drainTimeoutMs ?? Math.max(60_000, 4 * options.topology.ackWaitMs),
    ),
    maxFraction,
    intervalMs: positive("intervalMs", options.intervalMs ?? 1500),
    seed: options.seed ?? randomSeed(),
  };
}
