/** What the kill-workers drill reports: what it killed, what it ingested and how each invariant fared. */
import { basename, join } from "node:path";
import type { Pipeline } from "../supervisor/pipeline.ts";
import type { InvariantResult } from "./drill-checks.ts";
import type { DrillFile, FileRecords } from "./invariants.ts";
import type { Kill } from "./kill-rounds.ts";

export interface KillWorkersReport {
  seed: number;
  /** Every invariant held. */
  passed: boolean;
  rounds: number;
  kills: Kill[];
  killsPerWorker: Record<string, number>;
  /** Times each worker process was started (1 + restarts). */
  startsPerWorker: Record<string, number>;
  files: Array<{ fileId: string; name: string; size: number; state: string; chunks: number | undefined }>;
  bytes: number;
  /** From the first ingest request to the last kill round. */
  chaosMs: number;
  /** The whole drill, servers' start and invariant checks included. */
  wallMs: number;
  invariants: InvariantResult[];
  /** Every process the drill started (servers and each worker incarnation), all stopped when it returns. */
  pids: number[];
  logDir: string;
}

/** What a finished drill knows, before it is summed up. */
export interface DrillOutcome {
  seed: number;
  pipeline: Pipeline;
  files: Array<DrillFile & { size: number }>;
  rounds: number;
  kills: Kill[];
  records: FileRecords;
  invariants: InvariantResult[];
  chaosMs: number;
  wallMs: number;
  pids: number[];
}

export function drillReport(outcome: DrillOutcome): KillWorkersReport {
  const { pipeline, records, kills, invariants } = outcome;
  return {
    seed: outcome.seed,
    passed: invariants.every((i) => i.violations.length === 0),
    rounds: outcome.rounds,
    kills,
    killsPerWorker: countBy(kills.map((k) => k.worker)),
    startsPerWorker: Object.fromEntries([...pipeline.workers].map(([name, w]) => [name, w.starts])),
    files: outcome.files.map((f) => {
      const r = records.get(f.fileId);
      return {
        fileId: f.fileId,
        name: basename(f.path),
        size: f.size,
        state: r?.state ?? "unknown",
        chunks: r?.chunkCount,
      };
    }),
    bytes: totalBytes(outcome.files),
    chaosMs: outcome.chaosMs,
    wallMs: outcome.wallMs,
    invariants,
    pids: outcome.pids,
    logDir: join(pipeline.deployment.dataDir, "logs"),
  };
}

export const totalBytes = (files: Array<{ size: number }>): number => files.reduce((n, f) => n + f.size, 0);

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}
