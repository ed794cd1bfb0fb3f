/**
 * Entry of the orchestrator process: `node orchestrator/main.ts <dataDir>`. Connects to every hub node,
 * waits as a standby until it holds the orchestrator lease, then projects every cloud's events into the
 * manifest and finishes complete files. When it loses the lease it stops writing and exits; its
 * supervisor starts it again, as a standby.
 */
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { runConsumeLoop } from "../runtime/consume-loop.ts";
import { makeWorkerId } from "../runtime/context.ts";
import { startWorkerRuntime, type WorkerRuntime } from "../runtime/worker-runtime.ts";
import { describeError, PoisonMessageError } from "../shared/errors.ts";
import { openManifest } from "../shared/manifest.ts";
import { EVENTS_STREAM, LEADER_BUCKET, ORCHESTRATOR_CONSUMER } from "../shared/stream-names.ts";
import { hubUrls } from "../shared/topology/deployment.ts";
import { CloudHealth } from "./cloud-health.ts";
import { runConsumerAudit } from "./consumer-audit.ts";
import { createOrchestratorHandler, notYetWaitMs } from "./dispatch.ts";
import { fencedKv } from "./fenced-kv.ts";
import { acquireLease, type Lease } from "./lease.ts";
import { PlacementWatch } from "./placement-watch.ts";
import { Scrubber } from "./scrubber.ts";
import { sourcingStreams, startSourceWatchdog } from "./source-watchdog.ts";

/** Exit status of an orchestrator that lost its lease (its supervisor starts it again as a standby). */
const EXIT_LEASE_LOST = 3;

async function main(argv: string[]): Promise<void> {
  const [dataDir] = argv;
  if (!dataDir) throw new Error("usage: orchestrator/main.ts <dataDir>");
  const workerId = makeWorkerId("orchestrator", "hub");
  const rt = await startWorkerRuntime({
    dataDir,
    stage: "orchestrator",
    cloud: "hub",
    worker: workerId,
    url: hubUrls,
    // Staging is deleted by each cloud's own workers: the orchestrator holds no store credentials.
    stores: "none",
  });
  const hubJs = jetstream(rt.nc, { domain: rt.deployment.topology.hubDomain });
  rt.log.info("orchestrator standing by for the lease");
  let lease: Lease;
  try {
    lease = await acquireLease({
      kv: await new Kvm(hubJs).open(LEADER_BUCKET),
      holder: workerId,
      log: rt.log,
      signal: rt.stopping,
    });
  } catch {
    await rt.close(); // stopped while standing by
    return;
  }
  rt.log.info("orchestrator active: holds the lease");
  await runActive(rt, lease, workerId);
  const lost = lease.lost.aborted && !rt.stopping.aborted;
  await lease.release();
  rt.log.info(lost ? "orchestrator stopped: lease lost" : "orchestrator stopped");
  await rt.close();
  if (lost) process.exit(EXIT_LEASE_LOST);
}

/** Projects events until the process stops or the lease is lost; every write is fenced by the lease. */
async function runActive(rt: WorkerRuntime, lease: Lease, workerId: string): Promise<void> {
  const t = rt.deployment.topology;
  const hubJs = jetstream(rt.nc, { domain: t.hubDomain });
  const refused = (what: string) => rt.log.warn({ what }, "write refused: this orchestrator no longer holds the lease");
  const kv = fencedKv(await openManifest(hubJs), lease, refused);
  const assertActive = (what: string): void => lease.assertHeld(what);
  const health = new CloudHealth();
  const placement = startWatches(rt, { kv, hubJs, workerId, signal: lease.lost, assertActive, health });
  const handle = createOrchestratorHandler(
    { kv, defaultReplicas: Math.min(t.replicas, t.clouds.length), log: rt.log },
    { kv, hubJs, log: rt.log, assertActive },
    notYetWaitMs(t.ackWaitMs),
    (subject, e) => {
      if (typeof e.fileId === "string") placement.track(e.fileId);
      health.observe(subject, e);
    },
  );
  await runConsumeLoop({
    getConsumer: () => hubJs.consumers.get(EVENTS_STREAM, ORCHESTRATOR_CONSUMER),
    // One event at a time keeps the projection simple; it is a few KV writes per event.
    concurrency: 1,
    maxAttempts: t.maxAttempts,
    ackWaitMs: t.ackWaitMs,
    handle,
    // Only a malformed event is the event's fault; a hub electing a leader or a lost lease is not.
    waits: (err) => !(err instanceof PoisonMessageError),
    deadLetter: async (msg, err) => {
      rt.log.error(
        { subject: msg.subject, seq: msg.info.streamSequence, err: describeError(err) },
        "event cannot be projected; skipped",
      );
    },
    log: rt.log,
    signal: lease.lost,
    stats: rt.stats,
    onOutcome: rt.metrics.onOutcome,
  });
}

/** What the active orchestrator runs beside the projection: placement failover, scrubs, the consumer audit, the source watchdog. */
function startWatches(
  rt: WorkerRuntime,
  o: {
    kv: KV;
    hubJs: JetStreamClient;
    workerId: string;
    signal: AbortSignal;
    assertActive: (what: string) => void;
    health: CloudHealth;
  },
): PlacementWatch {
  const t = rt.deployment.topology;
  const { health, ...rest } = o;
  const common = { ...rest, nc: rt.nc, topology: t, log: rt.log };
  const placement = new PlacementWatch({ ...common, health });
  void placement.run();
  const scrubber = new Scrubber(common);
  scrubber.serve();
  void scrubber.run();
  // nats-server waits ~40 s before it retries a leaf source after the hub restarts, and 20-30 s
  // before a leaf's WORK resumes after its link heals: nudge them.
  void runConsumerAudit({ nc: rt.nc, topology: t, log: rt.log, signal: o.signal, assertActive: o.assertActive });
  for (const sourcing of sourcingStreams(t))
    void startSourceWatchdog({ ...sourcing, nc: rt.nc, log: rt.log, signal: o.signal });
  return placement;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ferry orchestrator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
