/**
 * Entry of the orchestrator process: `node orchestrator/main.ts <dataDir>`. Connects to the hub,
 * projects every cloud's events into the manifest and finishes complete files.
 */
import { jetstream } from "@nats-io/jetstream";
import { runConsumeLoop } from "../runtime/consume-loop.ts";
import { makeWorkerId } from "../runtime/context.ts";
import { startWorkerRuntime } from "../runtime/worker-runtime.ts";
import { describeError } from "../shared/errors.ts";
import { openManifest } from "../shared/manifest.ts";
import { EVENTS_STREAM, ORCHESTRATOR_CONSUMER } from "../shared/stream-names.ts";
import { createOrchestratorHandler } from "./dispatch.ts";
import { startSourceWatchdog } from "./source-watchdog.ts";

async function main(argv: string[]): Promise<void> {
  const [dataDir] = argv;
  if (!dataDir) throw new Error("usage: orchestrator/main.ts <dataDir>");
  const workerId = makeWorkerId("orchestrator", "hub");
  const rt = await startWorkerRuntime({
    dataDir,
    stage: "orchestrator",
    cloud: "hub",
    worker: workerId,
    url: (d) => d.hub.url,
  });
  const t = rt.deployment.topology;
  const hubJs = jetstream(rt.nc, { domain: t.hubDomain });
  const kv = await openManifest(hubJs);
  const handle = createOrchestratorHandler(
    { kv, defaultReplicas: Math.min(t.replicas, t.clouds.length) },
    { kv, hubJs, stores: rt.stores, log: rt.log },
  );
  rt.log.info("orchestrator started");
  // nats-server waits ~40 s before it retries a leaf source after the hub restarts: nudge it.
  void startSourceWatchdog({
    nc: rt.nc,
    hubDomain: t.hubDomain,
    clouds: t.clouds.map((c) => c.name),
    log: rt.log,
    signal: rt.stopping,
  });
  await runConsumeLoop({
    getConsumer: () => hubJs.consumers.get(EVENTS_STREAM, ORCHESTRATOR_CONSUMER),
    // One event at a time keeps the projection simple; it is a few KV writes per event.
    concurrency: 1,
    maxAttempts: t.maxAttempts,
    ackWaitMs: t.ackWaitMs,
    handle,
    deadLetter: async (msg, err) => {
      rt.log.error(
        { subject: msg.subject, seq: msg.info.streamSequence, err: describeError(err) },
        "event cannot be projected; skipped",
      );
    },
    log: rt.log,
    signal: rt.stopping,
    stats: rt.stats,
    onOutcome: rt.metrics.onOutcome,
  });
  rt.log.info("orchestrator stopped");
  await rt.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ferry orchestrator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
