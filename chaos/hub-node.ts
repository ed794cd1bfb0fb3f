/**
 * `ferry chaos hub-node`: one node of the 3-node hub SIGKILLed, round after round (the first round
 * takes the JetStream meta leader, the next ones a node chosen by the seed), each while a batch of
 * files is ingested; the supervisor starts the node again, as `ferry up` does. Measured per round:
 * how long after the kill the batch's first file was in the manifest with a chunk under way (an
 * ingest request went hub to worker, and its events worker to hub to orchestrator: the issue's
 * target, processing resumes within 10 s), and when the whole batch was complete.
 */
import { metaLeader as metaLeaderOf } from "../shared/nats/monitoring.ts";
import { becomesTrue, pollUntil } from "../shared/retry.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import { readRecords } from "./drill-client.ts";
import type { Fault, FaultContext, FaultOutcome } from "./fault-drill.ts";
import type { DrillFile } from "./invariants.ts";
import { sample } from "./random.ts";

export interface HubNodeOptions {
  /** Kills, one after another. @default 3 */
  rounds?: number;
}

/** The target: processing resumes within 10 s of the kill. */
const RESUME_TARGET_MS = 10_000;
/** How long a round's batch may take to complete. */
const BATCH_TIMEOUT_MS = 60_000;

export function hubNode(options: HubNodeOptions = {}): Fault {
  return { name: "hub-node", run: (ctx) => runHubNode(ctx, options.rounds ?? 3) };
}

async function runHubNode(ctx: FaultContext, rounds: number): Promise<FaultOutcome> {
  const { pipeline, log } = ctx;
  const nodes = pipeline.nats.hubNodes;
  if (nodes.length < 3)
    throw new Error("hub-node: the hub has one node; the drill needs the 3-node hub (--hub-nodes 3)");
  const resumed: number[] = [];
  const completed: number[] = [];
  const killed: string[] = [];
  const violations: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    const name = round === 1 ? await metaLeader(pipeline) : (sample(ctx.rand, nodes, 1)[0]?.endpoint.name as string);
    const node = nodes.find((n) => n.endpoint.name === name);
    if (node?.pid === undefined) throw new Error(`hub-node: no running hub node ${name}`);
    log(`round ${round}: SIGKILL ${name} (pid ${node.pid})${round === 1 ? ", the meta leader" : ""}`);
    const killedAt = Date.now();
    process.kill(node.pid, "SIGKILL");
    killed.push(name);
    const files = await ctx.submit();
    const first = await becomesTrue(async () => (await countIn(ctx, files, UNDER_WAY)) > 0, {
      timeoutMs: BATCH_TIMEOUT_MS,
      intervalMs: 100,
    });
    resumed.push(first ? Date.now() - killedAt : -1);
    const all = await becomesTrue(async () => (await countIn(ctx, files, ["complete"])) === files.length, {
      timeoutMs: BATCH_TIMEOUT_MS,
      intervalMs: 250,
    });
    completed.push(all ? Date.now() - killedAt : -1);
    log(`round ${round}: processing ${resumed.at(-1)} ms after the kill, every file complete ${completed.at(-1)} ms`);
    if (!first || (resumed.at(-1) as number) > RESUME_TARGET_MS)
      violations.push(`round ${round}: nothing processed within ${RESUME_TARGET_MS / 1000} s of killing ${name}`);
    if (!all) violations.push(`round ${round}: files not complete within ${BATCH_TIMEOUT_MS / 1000} s of the kill`);
    await backInCluster(pipeline, name);
  }
  const figures = {
    killed: killed.join(","),
    resumedMs: resumed.join(","),
    batchCompleteMs: completed.join(","),
    worstResumedMs: Math.max(...resumed),
  };
  return { figures, violations };
}

/** A file past its ingest: chunks of it are being processed, placed and verified, or it is done. */
const UNDER_WAY = ["processing", "durable", "complete"];

async function countIn(ctx: FaultContext, files: DrillFile[], states: string[]): Promise<number> {
  const records = [...(await readRecords(ctx.client.kv, files)).values()];
  return records.filter((r) => r !== undefined && states.includes(r.state)).length;
}

/** The node leading the JetStream meta group; the first node when none says. */
async function metaLeader(p: Pipeline): Promise<string> {
  const nodes = p.nats.hubNodes.map((n) => n.endpoint);
  return (await metaLeaderOf(nodes)) ?? (nodes[0]?.name as string);
}

/** Waits until the supervisor has started `name` again and it answers /healthz (its streams recovered). */
async function backInCluster(p: Pipeline, name: string): Promise<void> {
  const node = p.nats.hubNodes.find((n) => n.endpoint.name === name);
  await pollUntil(
    `hub node ${name} back`,
    async () => {
      if (!node?.isRunning) return "not running yet";
      const res = await fetch(`http://127.0.0.1:${node.endpoint.monitorPort}/healthz`, {
        signal: AbortSignal.timeout(2000),
      }).catch(() => undefined);
      return res?.status === 200 || `/healthz ${res?.status ?? "no answer"}`;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}
