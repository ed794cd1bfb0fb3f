/**
 * `ferry chaos lose-cloud`: a whole cloud vanishes (its leaf server, every worker and gateway of it,
 * and its local store server frozen with SIGSTOP, so nothing of it answers or reports) while files are
 * ingested in the other clouds, stays gone for the outage, then returns (SIGCONT). Measured: how long
 * after the loss every file is complete or durable (re-placed on another cloud, or held by the clouds
 * that answer), and how long after the return every file is complete again, with its full replicas.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { becomesTrue } from "../shared/retry.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import { readRecords } from "./drill-client.ts";
import type { Fault, FaultContext, FaultOutcome } from "./fault-drill.ts";
import type { DrillFile } from "./invariants.ts";
import { sample } from "./random.ts";

export interface LoseCloudOptions {
  /** How long the cloud stays gone, from the loss. @default twice the placement deadline + 10 s */
  outageMs?: number;
  /** The cloud to lose. @default one chosen by the seed */
  cloud?: string;
}

export function loseCloud(options: LoseCloudOptions = {}): Fault {
  return { name: "lose-cloud", run: (ctx) => runLoseCloud(ctx, options) };
}

/** The targets: re-placed or durable within the deadline + 30 s; back to R within 60 s of the return. */
const SETTLE_TARGET_MS = 30_000;
const RETURN_TARGET_MS = 60_000;

export async function everyFileIs(ctx: FaultContext, files: DrillFile[], states: string[]): Promise<boolean> {
  return [...(await readRecords(ctx.client.kv, files)).values()].every(
    (r) => r !== undefined && states.includes(r.state),
  );
}

async function runLoseCloud(ctx: FaultContext, options: LoseCloudOptions): Promise<FaultOutcome> {
  const { pipeline, client, log } = ctx;
  const t = pipeline.deployment.topology;
  const clouds = t.clouds.map((c) => c.name);
  const victim = options.cloud ?? (sample(ctx.rand, clouds, 1)[0] as string);
  const outageMs = options.outageMs ?? 2 * t.placementDeadlineMs + 10_000;
  const pids = cloudProcesses(pipeline, victim);
  log(`losing ${victim} for ${outageMs} ms: freezing ${pids.length} processes (leaf, workers, gateway, store)`);
  const lostAt = Date.now();
  for (const pid of pids) process.kill(pid, "SIGSTOP");
  try {
    const files = await ctx.submit(clouds.filter((c) => c !== victim));
    const settledBy = t.placementDeadlineMs + SETTLE_TARGET_MS;
    const settledInTime = await becomesTrue(async () => everyFileIs(ctx, files, ["complete", "durable"]), {
      timeoutMs: settledBy - (Date.now() - lostAt),
      intervalMs: 250,
    });
    const settled = Date.now() - lostAt;
    const records = [...(await readRecords(client.kv, files)).values()];
    const durable = records.filter((r) => r?.state === "durable").length;
    log(
      `${settledInTime ? "every file complete or durable" : "NOT every file complete or durable"} ${settled} ms after the loss (${durable} durable)`,
    );
    await sleep(Math.max(0, lostAt + outageMs - Date.now()));
    for (const pid of pids.splice(0)) process.kill(pid, "SIGCONT");
    const returnedAt = Date.now();
    log(`${victim} is back`);
    const backInTime = await becomesTrue(async () => everyFileIs(ctx, files, ["complete"]), {
      timeoutMs: RETURN_TARGET_MS,
      intervalMs: 250,
    });
    const backToR = Date.now() - returnedAt;
    log(`${backInTime ? "every file complete" : "NOT every file complete"} ${backToR} ms after the return`);
    const violations = [
      ...(settledInTime
        ? []
        : [`files not complete or durable within the placement deadline + ${SETTLE_TARGET_MS / 1000} s of the loss`]),
      ...(backInTime ? [] : [`files not complete within ${RETURN_TARGET_MS / 1000} s of the cloud's return`]),
    ];
    const figures = {
      cloud: victim,
      outageMs,
      settledAfterLossMs: settled,
      durableFiles: durable,
      completeAfterReturnMs: backToR,
    };
    return { figures, violations };
  } finally {
    for (const pid of pids) process.kill(pid, "SIGCONT");
  }
}

/** Every process that is `cloud`: its leaf server, its workers and gateway, its local store server. */
function cloudProcesses(p: Pipeline, cloud: string): number[] {
  const own = new RegExp(`^[a-z]+-${cloud}(-\\d+)?$`);
  const workers = [...p.workers.entries()].filter(([name]) => own.test(name)).map(([, w]) => w.pid);
  return [p.nats.leaves[cloud]?.pid, ...workers, p.localStores.get(cloud)?.pid].filter(
    (pid): pid is number => pid !== undefined,
  );
}
