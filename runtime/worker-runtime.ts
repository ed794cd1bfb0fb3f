import type { NatsConnection } from "@nats-io/transport-node";
import { createLogger, type Logger } from "../observability/log.ts";
import { createWorkerMetrics, type WorkerMetrics } from "../observability/metrics.ts";
import { initTracing } from "../observability/tracing.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { openStores } from "../shared/stores/open-store.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { WORKER_METRICS, WORKER_PING } from "../shared/subjects.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { HUB_NAME, readDeployment } from "../shared/topology/deployment.ts";
import { runtimeIdentity } from "../shared/topology/nats-identities.ts";
import type { LoopStats } from "./consume-loop.ts";

/** What `ferry status` learns from a worker answering a ping. */
export interface WorkerInfo {
  stage: string;
  cloud: string;
  worker: string;
  pid: number;
  startedAt: string;
  stats: LoopStats;
}

export interface WorkerRuntime {
  deployment: Deployment;
  nc: NatsConnection;
  stores: Map<string, BlobStore>;
  log: Logger;
  stats: LoopStats;
  /** This process's metrics; `onOutcome` is the consume loop's hook. */
  metrics: WorkerMetrics;
  /** Aborts when the process is asked to stop (SIGTERM, SIGINT). */
  stopping: AbortSignal;
  close(): Promise<void>;
}

/**
 * Sets up a worker process: reads the deployment, connects to `url`, opens every cloud's store,
 * answers status pings and metrics requests, and turns SIGTERM/SIGINT into an orderly stop.
 */
export async function startWorkerRuntime(options: {
  dataDir: string;
  stage: string;
  cloud: string;
  worker: string;
  url: (d: Deployment) => string | string[];
  /**
   * Which stores the process opens with their credentials: `own` (its cloud's; other clouds' objects
   * are reached through their gateways), `none`, or `every` (the default).
   */
  stores?: "own" | "none" | "every";
}): Promise<WorkerRuntime> {
  const deployment = readDeployment(options.dataDir);
  const log = createLogger({ stage: options.stage, cloud: options.cloud, worker: options.worker });
  // OTEL_EXPORTER_OTLP_ENDPOINT wins; else the deployment's Jaeger, when `ferry up` started one.
  const tracing = initTracing({
    service: `ferry-${options.stage}`,
    ...(options.cloud === HUB_NAME ? {} : { cloud: options.cloud }),
    log,
    ...(deployment.jaeger ? { otlpUrl: deployment.jaeger.otlpUrl } : {}),
  });
  const nc = await connectNats(options.url(deployment), options.worker, {
    name: runtimeIdentity(options.stage, options.cloud),
    home: options.dataDir,
  });
  const stores = openWorkerStores(deployment, options.stores ?? "every", options.cloud);
  const stats: LoopStats = { handled: 0, retried: 0, deadLettered: 0 };
  const info: Omit<WorkerInfo, "stats"> = {
    stage: options.stage,
    cloud: options.cloud,
    worker: options.worker,
    pid: process.pid,
    startedAt: new Date().toISOString(),
  };
  const metrics = createWorkerMetrics({ stage: options.stage, cloud: options.cloud });
  answerWorkerRequests(nc, info, stats, metrics);
  const stop = new AbortController();
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => stop.abort());
  let closed: Promise<void> | undefined;
  return {
    deployment,
    nc,
    stores,
    log,
    stats,
    metrics,
    stopping: stop.signal,
    close: () =>
      (closed ??= (async () => {
        await tracing
          .shutdown()
          .catch((err: unknown) => log.warn({ err: String(err) }, "could not export the last spans"));
        await nc.drain().catch(() => undefined);
        await Promise.all([...stores.values()].map((s) => s.close()));
      })()),
  };
}

/** The stores a process opens with their credentials: every cloud's, only its own cloud's, or none. */
function openWorkerStores(d: Deployment, which: "own" | "none" | "every", cloud: string): Map<string, BlobStore> {
  if (which === "none") return new Map();
  return openStores(d, which === "own" ? cloud : undefined);
}

/** Answers `ferry status` pings with who this process is, and metrics requests with its registry. */
function answerWorkerRequests(
  nc: NatsConnection,
  info: Omit<WorkerInfo, "stats">,
  stats: LoopStats,
  metrics: WorkerMetrics,
): void {
  nc.subscribe(WORKER_PING, {
    callback: (_err, m) => {
      m.respond(JSON.stringify({ ...info, stats }));
    },
  });
  nc.subscribe(WORKER_METRICS, {
    callback: (_err, m) => {
      void metrics.registry.getMetricsAsJSON().then((json) => m.respond(JSON.stringify({ ...info, metrics: json })));
    },
  });
}

/** Where a process of `cloud` connects: its cloud's leaf, or a clear error when the deployment has no such cloud. */
export function leafUrlOf(cloud: string): (d: Deployment) => string {
  return (d) => {
    const leaf = d.leaves[cloud];
    if (!leaf)
      throw new Error(`cloud "${cloud}" is not in the deployment (clouds: ${Object.keys(d.leaves).join(", ")})`);
    return leaf.url;
  };
}
