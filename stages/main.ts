/**
 * Entry of a stage worker process: `node stages/main.ts <stage> <cloud> <dataDir>`.
 * It connects only to its own cloud's leaf and pulls from its stage's durable consumer.
 */
import { type JsMsg, jetstream } from "@nats-io/jetstream";
import { traceStores } from "../observability/traced-store.ts";
import { runConsumeLoop } from "../runtime/consume-loop.ts";
import { makeWorkerId, publishDeadLetter, type WorkerContext } from "../runtime/context.ts";
import { startWorkerRuntime } from "../runtime/worker-runtime.ts";
import { describeError } from "../shared/errors.ts";
import { STAGES, type Stage } from "../shared/stages.ts";
import { stageSource } from "../shared/stream-names.ts";
import { createIngestHandler } from "./ingest/handler.ts";
import { createPlaceHandler } from "./place/handler.ts";
import { createProcessHandler } from "./process/handler.ts";
import { createVerifyHandler } from "./verify/handler.ts";

type Handler = (msg: JsMsg, signal: AbortSignal) => Promise<void>;
const HANDLERS: Record<Stage, (ctx: WorkerContext) => Handler> = {
  ingest: createIngestHandler,
  process: createProcessHandler,
  place: createPlaceHandler,
  verify: createVerifyHandler,
};

/**
 * One worker per cloud (its ingest worker) removes what writers killed mid-put left in the cloud's
 * store, once it has sat untouched for `orphanAge`: at start and then periodically.
 */
function sweepOrphans(ctx: WorkerContext, stopping: AbortSignal): void {
  const store = ctx.stores.get(ctx.cloud);
  if (!store?.sweepTemp) return;
  const sweep = () => {
    store
      .sweepTemp?.(ctx.topology.orphanAgeMs)
      .then((n) => n > 0 && ctx.log.info({ removed: n }, "removed temp objects of dead writers"))
      .catch((err: unknown) => ctx.log.warn({ err: describeError(err) }, "orphan sweep failed"));
  };
  sweep();
  const timer = setInterval(sweep, Math.max(1000, ctx.topology.orphanAgeMs / 2));
  timer.unref();
  stopping.addEventListener("abort", () => clearInterval(timer), { once: true });
}

async function main(argv: string[]): Promise<void> {
  const [stage, cloud, dataDir] = argv;
  if (!stage || !STAGES.includes(stage as Stage) || !cloud || !dataDir) {
    throw new Error(`usage: stages/main.ts <${STAGES.join("|")}> <cloud> <dataDir>`);
  }
  const workerId = makeWorkerId(stage, cloud);
  const rt = await startWorkerRuntime({
    dataDir,
    stage,
    cloud,
    worker: workerId,
    url: (d) => {
      const leaf = d.leaves[cloud];
      if (!leaf)
        throw new Error(`cloud "${cloud}" is not in the deployment (clouds: ${Object.keys(d.leaves).join(", ")})`);
      return leaf.url;
    },
  });
  const t = rt.deployment.topology;
  const ctx: WorkerContext = {
    stage: stage as Stage,
    cloud,
    workerId,
    topology: t,
    nc: rt.nc,
    js: jetstream(rt.nc),
    stores: traceStores(rt.stores),
    log: rt.log,
  };
  const source = stageSource(stage as Stage, cloud);
  const sourceJs = jetstream(rt.nc, { domain: source.onHub ? t.hubDomain : cloud });
  rt.log.info({ stream: source.stream, consumer: source.consumer }, "worker started");
  if (stage === "ingest") sweepOrphans(ctx, rt.stopping);
  await runConsumeLoop({
    getConsumer: () => sourceJs.consumers.get(source.stream, source.consumer),
    concurrency: t.concurrency[stage as Stage],
    maxAttempts: t.maxAttempts,
    ackWaitMs: t.ackWaitMs,
    handle: HANDLERS[stage as Stage](ctx),
    deadLetter: (msg, err) => publishDeadLetter(ctx, msg, err),
    log: rt.log,
    signal: rt.stopping,
    stats: rt.stats,
    onOutcome: rt.metrics.onOutcome,
  });
  rt.log.info("worker stopped");
  await rt.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ferry worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
