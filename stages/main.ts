/**
 * Entry of a stage worker process: `node stages/main.ts <stage> <cloud> <dataDir>`.
 * It connects only to its own cloud's leaf and pulls from its stage's durable consumer.
 */
import { jetstream } from "@nats-io/jetstream";
import { traceStores } from "../observability/traced-store.ts";
import { runConsumeLoop } from "../runtime/consume-loop.ts";
import { makeWorkerId, publishDeadLetter, type WorkerContext } from "../runtime/context.ts";
import { leafUrlOf, startWorkerRuntime } from "../runtime/worker-runtime.ts";
import { isStage, STAGES } from "../shared/stages.ts";
import { stageSource } from "../shared/stream-names.ts";
import { STAGE_WORKERS } from "./handlers.ts";

async function main(argv: string[]): Promise<void> {
  const [stage, cloud, dataDir] = argv;
  if (!stage || !isStage(stage) || !cloud || !dataDir) {
    throw new Error(`usage: stages/main.ts <${STAGES.join("|")}> <cloud> <dataDir>`);
  }
  const workerId = makeWorkerId(stage, cloud);
  const rt = await startWorkerRuntime({
    dataDir,
    stage,
    cloud,
    worker: workerId,
    url: leafUrlOf(cloud),
    // A cloud's credentials stay in it: other clouds' objects are reached through their gateways.
    stores: "own",
  });
  const t = rt.deployment.topology;
  const ctx: WorkerContext = {
    stage,
    cloud,
    workerId,
    topology: t,
    deployment: rt.deployment,
    nc: rt.nc,
    js: jetstream(rt.nc),
    stores: traceStores(rt.stores),
    log: rt.log,
    countLinkBytes: rt.metrics.countLinkBytes,
    countScrub: rt.metrics.countScrub,
  };
  const worker = STAGE_WORKERS[stage];
  const source = stageSource(stage, cloud);
  const sourceJs = jetstream(rt.nc, { domain: source.onHub ? t.hubDomain : cloud });
  rt.log.info({ stream: source.stream, consumer: source.consumer }, "worker started");
  worker.background?.(ctx, rt.stopping);
  await runConsumeLoop({
    getConsumer: () => sourceJs.consumers.get(source.stream, source.consumer),
    concurrency: t.concurrency[stage],
    maxAttempts: t.maxAttempts,
    ackWaitMs: t.ackWaitMs,
    handle: worker.createHandler(ctx),
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
