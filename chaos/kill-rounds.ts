/**
 * The drill's faults: rounds of SIGKILLs at seeded random victims and pauses, for as long as files are
 * in flight and the time allows.
 */
import { becomesTrue } from "../shared/retry.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import { allFinished, type DrillClient, readRecords } from "./drill-client.ts";
import type { CompiledOptions } from "./drill-options.ts";
import { serversDown } from "./drill-pipeline.ts";
import type { DrillFile, FileRecords } from "./invariants.ts";
import { mulberry32, sample } from "./random.ts";
import { isBusy, perRound, type Victim } from "./victims.ts";

/**
 * One SIGKILL (of a worker, or of a store server `store-<cloud>`). `busy`: the worker had work in flight
 * (unacknowledged messages or a chunk's file open); always false for a store server.
 */
export interface Kill {
  round: number;
  atMs: number;
  worker: string;
  pid: number;
  busy: boolean;
}

/** Kill rounds until every file is finished or `durationMs` has passed; returns the number of rounds. */
export async function killWhileInFlight(
  p: Pipeline,
  targets: Map<string, Victim>,
  c: DrillClient,
  files: DrillFile[],
  options: CompiledOptions,
  kills: Kill[],
  log: (l: string) => void,
): Promise<number> {
  const rand = mulberry32(options.seed);
  const names = [...targets.keys()].sort();
  const started = Date.now();
  const deadline = started + options.durationMs;
  let latest: FileRecords = new Map();
  const done = async () => {
    latest = await readRecords(c.kv, files);
    return allFinished(latest);
  };
  for (let round = 1; ; round++) {
    // Draw every choice before waiting, so the sequence depends on the seed alone, not on timing.
    const pause = options.intervalMs * (0.5 + rand());
    const victims = sample(rand, names, 1 + Math.floor(rand() * perRound(options, p)));
    if (await becomesTrue(done, { timeoutMs: Math.min(deadline - Date.now(), pause), intervalMs: 200 }))
      return round - 1;
    if (Date.now() >= deadline || serversDown(p).length > 0) return round - 1;
    const alive = victims.flatMap((name) => {
      const target = targets.get(name);
      return target?.pid === undefined ? [] : [{ name, pid: target.pid, target }];
    });
    const busy = await Promise.all(
      alive.map((v) => !v.name.startsWith("store-") && isBusy(c, p.deployment, v.name, v.pid, files)),
    );
    await Promise.all(alive.map((v) => v.target.kill()));
    const atMs = Date.now() - started;
    for (const [i, v] of alive.entries())
      kills.push({ round, atMs, worker: v.name, pid: v.pid, busy: busy[i] === true });
    const skipped = victims.filter((n) => !alive.some((v) => v.name === n));
    log(
      `round ${round} +${(atMs / 1000).toFixed(1)}s [${progress(latest)}]: killed ${alive.map((v, i) => `${v.name} (pid ${v.pid}${busy[i] ? ", busy" : ""})`).join(", ") || "nobody"}${skipped.length ? `; ${skipped.join(", ")} already down` : ""}`,
    );
  }
}

function progress(records: FileRecords): string {
  const rs = [...records.values()];
  const done = rs.filter((r) => r?.state === "complete").length;
  const chunks = rs.reduce((n, r) => n + (r?.chunksComplete ?? 0), 0);
  const total = rs.every((r) => r?.chunkCount !== undefined)
    ? String(rs.reduce((n, r) => n + (r?.chunkCount ?? 0), 0))
    : "?";
  return `${done}/${rs.length} files, ${chunks}/${total} chunks complete`;
}
