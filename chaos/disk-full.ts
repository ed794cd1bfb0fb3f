/**
 * `ferry chaos disk-full`: one cloud's disk fills while files are ingested: its store's folder (an fs
 * store's root, or its local store server's data), or its leaf's JetStream folder, sits on a small
 * disk (small-disk.ts) that a filler file takes to the last byte, held full for a while, then freed.
 * Nothing may crash or be lost meanwhile, and every file must be complete within 30 s of the space
 * returning (the target). Stopped servers are started again by the supervisor.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { becomesTrue } from "../shared/retry.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { formatBytes } from "../shared/units.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import { readRecords } from "./drill-client.ts";
import type { Fault, FaultContext, FaultOutcome } from "./fault-drill.ts";
import { everyFileIs } from "./lose-cloud.ts";
import { sample } from "./random.ts";
import { fillDisk, mountSmallDisk } from "./small-disk.ts";

/** Which folder of the cloud sits on the small disk. */
export type FullDisk = "store" | "jetstream";

export interface DiskFullOptions {
  disk: FullDisk;
  /** How long the disk stays full. @default 15 s */
  fullForMs?: number;
  /** Size of the small disk. @default 256 MiB */
  diskBytes?: number;
  /** The cloud whose disk fills. @default one chosen by the seed */
  cloud?: string;
}

/** The target: resumed by itself within 30 s of space returning. */
const RESUME_TARGET_MS = 30_000;

export function diskFull(options: DiskFullOptions): Fault {
  let dir = "";
  let victim = "";
  const diskBytes = options.diskBytes ?? 256 * 1024 * 1024;
  return {
    name: "disk-full",
    async prepare(d, rand) {
      victim = options.cloud ?? (sample(rand, Object.keys(d.leaves), 1)[0] as string);
      dir = folderOf(d, victim, options.disk);
      mountSmallDisk(dir, diskBytes);
    },
    run: (ctx) => runDiskFull(ctx, { ...options, diskBytes }, victim, dir),
  };
}

/** The folder of `cloud` that `disk` names, in the planned deployment. */
function folderOf(d: Deployment, cloud: string, disk: FullDisk): string {
  if (disk === "jetstream") return (d.leaves[cloud] as { storeDir: string }).storeDir;
  const spec = d.stores[cloud];
  if (spec && "root" in spec && typeof spec.root === "string") return spec.root;
  const server = d.localStores[cloud];
  if (server) return server.dataDir;
  throw new Error(`disk-full: ${cloud}'s store is neither an fs store nor a store server ferry runs`);
}

async function runDiskFull(
  ctx: FaultContext,
  o: DiskFullOptions & { diskBytes: number },
  victim: string,
  dir: string,
): Promise<FaultOutcome> {
  const { pipeline, log } = ctx;
  const fullForMs = o.fullForMs ?? 15_000;
  const before = processIds(pipeline);
  const filler = await fillDisk(dir);
  const fullAt = Date.now();
  log(`${victim}'s ${o.disk} disk is full (${formatBytes(filler.bytes)} of filler) for ${fullForMs} ms`);
  const files = await ctx.submit();
  await sleep(Math.max(0, fullAt + fullForMs - Date.now()));
  const records = [...(await readRecords(ctx.client.kv, files)).values()];
  const completeWhileFull = records.filter((r) => r?.state === "complete").length;
  filler.release();
  const freedAt = Date.now();
  log(`space is back on ${victim}'s ${o.disk} disk; ${completeWhileFull} of ${files.length} file(s) were complete`);
  const resumed = await becomesTrue(async () => everyFileIs(ctx, files, ["complete"]), {
    timeoutMs: RESUME_TARGET_MS,
    intervalMs: 250,
  });
  const resumedMs = Date.now() - freedAt;
  log(`${resumed ? "every file complete" : "NOT every file complete"} ${resumedMs} ms after space returned`);
  const restarted = changed(before, processIds(pipeline));
  const figures = {
    cloud: victim,
    disk: o.disk,
    diskBytes: o.diskBytes,
    fillerBytes: filler.bytes,
    fullForMs,
    completeWhileFull,
    completeAfterSpaceMs: resumedMs,
    restarted: restarted.join(",") || "none",
  };
  const violations = [
    ...(resumed ? [] : [`files not complete within ${RESUME_TARGET_MS / 1000} s of space returning`]),
    ...restarted.filter((name) => !name.startsWith("store-") && name !== victim).map((n) => `${n} crashed`),
  ];
  return { figures, violations };
}

/** Every worker's and server's pid, by name. */
function processIds(p: Pipeline): Map<string, number | undefined> {
  const servers: Array<[string, number | undefined]> = [
    ["hub", p.nats.hub.pid],
    ...Object.entries(p.nats.leaves).map(([c, s]): [string, number | undefined] => [c, s.pid]),
    ...[...p.localStores.entries()].map(([c, s]): [string, number | undefined] => [`store-${c}`, s.pid]),
  ];
  return new Map([...servers, ...[...p.workers.entries()].map(([n, w]): [string, number | undefined] => [n, w.pid])]);
}

/** The names whose process is not the one it was (it died, and was started again or not). */
function changed(before: Map<string, number | undefined>, after: Map<string, number | undefined>): string[] {
  return [...before.entries()].filter(([name, pid]) => after.get(name) !== pid).map(([name]) => name);
}
