/**
 * Whom a kill round may choose: every worker, and with `--kill-stores` every local store server; how
 * many at once; and whether the one chosen had work in flight when it died.
 */
import { readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { isFsOpenSpec } from "../shared/stores/fs/kind.ts";
import { localServerOf } from "../shared/stores/registry.ts";
import { EVENTS_STREAM, LEAF_CONSUMERS, leafStageStream, ORCHESTRATOR_CONSUMER } from "../shared/stream-names.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import type { DrillClient } from "./drill-client.ts";
import type { CompiledOptions } from "./drill-options.ts";
import type { DrillFile } from "./invariants.ts";

/** What a round can kill: a worker process, or a local store server. */
export interface Victim {
  readonly pid: number | undefined;
  kill(): Promise<void>;
}

/** How many workers one round may kill: the share of all of them, at least one. */
export const perRound = (options: CompiledOptions, p: Pipeline): number =>
  Math.max(1, Math.floor(options.maxFraction * p.workers.size));

/** Every worker by name, and with `stores` every local store server as `store-<cloud>`. */
export function victimsOf(p: Pipeline, stores: boolean): Map<string, Victim> {
  const victims = new Map<string, Victim>(p.workers);
  if (!stores) return victims;
  for (const [cloud, server] of p.localStores) {
    const kind = p.deployment.localStores[cloud]?.kind;
    const losesWritesOnKill = kind !== undefined && localServerOf(kind).losesWritesOnKill;
    victims.set(`store-${cloud}`, {
      get pid() {
        return server.pid;
      },
      kill: () => (losesWritesOnKill ? server.stop() : server.kill()),
    });
  }
  return victims;
}

/**
 * Whether a worker has work in flight right now. The orchestrator, and a process, place or verify
 * worker (the only one of its stage in its cloud), is busy while its durable consumer has
 * unacknowledged messages. An ingest worker (all clouds share the hub's consumer) or a worker on fs
 * stores is busy while it has a file open that belongs to the work: the source, a staged object, a
 * replica, or the temp file it is writing (Linux /proc; elsewhere it reads as idle).
 */
export async function isBusy(
  c: DrillClient,
  d: Deployment,
  name: string,
  pid: number,
  files: DrillFile[],
): Promise<boolean> {
  try {
    if (name === "orchestrator")
      return (await c.hubJsm.consumers.info(EVENTS_STREAM, ORCHESTRATOR_CONSUMER)).num_ack_pending > 0;
    const [stage, cloud] = name.split("-");
    const leaf = cloud === undefined ? undefined : c.leaves.get(cloud);
    const leafStage = LEAF_CONSUMERS.find((lc) => lc.stage === stage)?.stage;
    if (leaf && cloud !== undefined && leafStage !== undefined) {
      if ((await leaf.consumers.info(leafStageStream(leafStage, cloud), leafStage)).num_ack_pending > 0) return true;
    }
    const sources = new Set(files.map((f) => f.path));
    const roots = Object.values(d.stores).flatMap((s) => (isFsOpenSpec(s) ? [`${s.root}/`] : []));
    return await hasOpen(pid, (path) => sources.has(path) || roots.some((r) => path.startsWith(r)));
  } catch {
    return false;
  }
}

/** Whether process `pid` has a file open that `wanted` accepts. */
async function hasOpen(pid: number, wanted: (path: string) => boolean): Promise<boolean> {
  const dir = `/proc/${pid}/fd`;
  for (const fd of await readdir(dir).catch(() => [] as string[])) {
    if (wanted(await readlink(join(dir, fd)).catch(() => ""))) return true;
  }
  return false;
}
