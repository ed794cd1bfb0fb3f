/**
 * The one Prometheus endpoint of a deployment: every worker's registry (asked for over NATS and
 * summed with prom-client's AggregatorRegistry) plus what only the outside can see: consumer lag on
 * each leaf and on the hub, the leaf links, and the dead letters the hub holds.
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AggregatorRegistry, Gauge, type MetricObjectWithValues, type MetricValue } from "prom-client";
import { connectNats } from "../shared/nats/connect.ts";
import { leafLinks } from "../shared/nats/monitoring.ts";
import { STAGES } from "../shared/stages.ts";
import {
  EVENTS_STREAM,
  FILES_STREAM,
  HUB_CONSUMERS,
  hubConsumerName,
  LEAF_CONSUMERS,
  leafStageStream,
  ORCHESTRATOR_CONSUMER,
} from "../shared/stream-names.ts";
import { WORKER_METRICS } from "../shared/subjects.ts";
import { type Deployment, hubUrls } from "../shared/topology/deployment.ts";
import { dashboardOf } from "../shared/topology/nats-identities.ts";

/** How long a scrape waits for workers to answer. @default 500 */
const WORKER_WAIT_MS = 500;
/** A JetStream API call that takes longer than this is skipped in this scrape (its leaf is probably cut off). */
const API_TIMEOUT_MS = 1500;

/** A deployment's hub connection and, opened on first use, a connection to each leaf. */
export interface PipelineConnections {
  deployment: Deployment;
  hub: NatsConnection;
  /** The JetStream manager of `cloud`'s leaf (connected directly, so it answers while the link is cut). */
  leafJsm(cloud: string): Promise<JetStreamManager>;
  hubJsm(): Promise<JetStreamManager>;
  close(): Promise<void>;
}

/** Connects to the hub; leaves are connected lazily and a failed leaf connection is tried again next time. */
export async function connectPipeline(d: Deployment, name = "ferry-metrics"): Promise<PipelineConnections> {
  const hub = await connectNats(hubUrls(d), name, dashboardOf(d));
  const leaves = new Map<string, Promise<NatsConnection>>();
  const leafConn = (cloud: string): Promise<NatsConnection> => {
    let c = leaves.get(cloud);
    if (!c) {
      const url = d.leaves[cloud]?.url;
      if (!url) return Promise.reject(new Error(`cloud "${cloud}" has no leaf in the deployment`));
      c = connectNats(url, `${name}-${cloud}`, dashboardOf(d));
      c.catch(() => leaves.delete(cloud));
      leaves.set(cloud, c);
    }
    return c;
  };
  return {
    deployment: d,
    hub,
    leafJsm: async (cloud) => jetstreamManager(await leafConn(cloud), { timeout: API_TIMEOUT_MS, checkAPI: false }),
    hubJsm: () => jetstreamManager(hub, { domain: d.topology.hubDomain, timeout: API_TIMEOUT_MS, checkAPI: false }),
    close: async () => {
      const conns = await Promise.allSettled([...leaves.values()]);
      await Promise.all(
        [hub, ...conns.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))].map((nc) => nc.close()),
      );
    },
  };
}

/** Backlog of one durable consumer. Ingest's consumers live on the hub, one per cloud. */
export interface ConsumerLag {
  stage: string;
  cloud: string;
  /** Messages not yet delivered (num_pending). */
  pending: number;
  /** Messages delivered and not yet acknowledged (num_ack_pending). */
  ackPending: number;
}

/** Lag of every consumer that can be reached now; an unreachable one is left out, not reported as 0. */
export async function measureConsumerLag(p: PipelineConnections): Promise<ConsumerLag[]> {
  const hubDomain = p.deployment.topology.hubDomain;
  const probes: Array<Promise<ConsumerLag>> = [
    ...HUB_CONSUMERS.flatMap((stage) =>
      p.deployment.topology.clouds.map(({ name }) =>
        lagOf(p.hubJsm(), FILES_STREAM, hubConsumerName(stage, name), stage, name),
      ),
    ),
    lagOf(p.hubJsm(), EVENTS_STREAM, ORCHESTRATOR_CONSUMER, "orchestrator", hubDomain),
  ];
  for (const c of p.deployment.topology.clouds) {
    for (const { stage } of LEAF_CONSUMERS)
      probes.push(lagOf(p.leafJsm(c.name), leafStageStream(stage, c.name), stage, stage, c.name));
  }
  const results = await Promise.allSettled(probes);
  return results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
}

async function lagOf(
  jsm: Promise<JetStreamManager>,
  stream: string,
  consumer: string,
  stage: string,
  cloud: string,
): Promise<ConsumerLag> {
  const info = await (await jsm).consumers.info(stream, consumer);
  return { stage, cloud, pending: info.num_pending, ackPending: info.num_ack_pending };
}

/** Dead letters the hub's EVENTS stream holds, per stage and cloud (0 for every pair that has none). */
export async function countDeadLetters(
  p: PipelineConnections,
): Promise<Array<{ stage: string; cloud: string; count: number }>> {
  const info = await (await p.hubJsm()).streams.info(EVENTS_STREAM, { subjects_filter: "deadletter.>" });
  const counts = new Map<string, number>();
  for (const c of p.deployment.topology.clouds) for (const stage of STAGES) counts.set(`${stage}.${c.name}`, 0);
  // deadletter.<stage>.<cloud>
  for (const [subject, n] of Object.entries(info.state.subjects ?? {}))
    counts.set(subject.slice("deadletter.".length), n);
  return [...counts].map(([key, count]) => {
    const dot = key.indexOf(".");
    return { stage: key.slice(0, dot), cloud: key.slice(dot + 1), count };
  });
}

type RegistryJson = MetricObjectWithValues<MetricValue<string>>[];

/** One worker's answer on `ferry.workers.metrics`. */
interface WorkerMetricsReply {
  stage: string;
  cloud: string;
  worker: string;
  metrics: RegistryJson;
}

/** Asks every worker reachable from the hub for its registry; a cloud cut off from the hub is missing until its link returns. */
async function gatherWorkerMetrics(nc: NatsConnection): Promise<WorkerMetricsReply[]> {
  const out: WorkerMetricsReply[] = [];
  try {
    for await (const m of await nc.requestMany(WORKER_METRICS, undefined, {
      maxWait: WORKER_WAIT_MS,
      strategy: "timer",
    })) {
      try {
        const r = m.json<WorkerMetricsReply>();
        if (Array.isArray(r.metrics)) out.push(r);
      } catch {
        // a foreign responder on the subject: ignore it
      }
    }
  } catch {
    // no responders: no worker is running
  }
  return out;
}

/** The Content-Type of what `scrapeMetrics` returns (Prometheus text exposition format 0.0.4). */
export const METRICS_CONTENT_TYPE = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;

/** The whole deployment's metrics in Prometheus text format: the workers' summed, then the measured gauges. */
export async function scrapeMetrics(p: PipelineConnections): Promise<string> {
  const d = p.deployment;
  const clouds = d.topology.clouds.map((c) => c.name);
  const [workers, lag, links, deadLetters] = await Promise.all([
    gatherWorkerMetrics(p.hub),
    measureConsumerLag(p),
    leafLinks(d.hubNodes, clouds).catch(() => undefined),
    countDeadLetters(p).catch(() => undefined),
  ]);
  const registry = AggregatorRegistry.aggregate(workers.map((w) => w.metrics));
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });

  const answering = gauge(
    "ferry_workers_answering",
    "Worker processes that answered this scrape, per stage and cloud.",
    ["stage", "cloud"],
  );
  for (const w of workers) answering.inc({ stage: w.stage, cloud: w.cloud });

  const pending = gauge(
    "ferry_consumer_pending_messages",
    "Messages waiting in a stage's durable consumer, not yet delivered (num_pending).",
    ["stage", "cloud"],
  );
  const ackPending = gauge(
    "ferry_consumer_ack_pending_messages",
    "Messages delivered to a stage's workers and not yet acknowledged (num_ack_pending).",
    ["stage", "cloud"],
  );
  for (const l of lag) {
    pending.set({ stage: l.stage, cloud: l.cloud }, l.pending);
    ackPending.set({ stage: l.stage, cloud: l.cloud }, l.ackPending);
  }
  if (links) {
    const linkUp = gauge("ferry_leaf_link_up", "1 while the cloud's leaf server is linked to the hub, else 0.", [
      "cloud",
    ]);
    for (const [cloud, up] of Object.entries(links)) linkUp.set({ cloud }, up ? 1 : 0);
  }
  if (deadLetters) {
    const stored = gauge(
      "ferry_dead_letters_stored",
      "Dead letters held in the hub's EVENTS stream (within eventRetention), per stage and cloud.",
      ["stage", "cloud"],
    );
    for (const x of deadLetters) stored.set({ stage: x.stage, cloud: x.cloud }, x.count);
  }
  return registry.metrics();
}
