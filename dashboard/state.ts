/**
 * What the dashboard shows, as one JSON snapshot: topology and links, workers, per-stage rates, lag
 * and share of time, the bottleneck, files with progress and trace links, replicas per cloud and
 * dead letters. Measured afresh for each snapshot, except what the event tail and file watch follow.
 */
import { jetstream } from "@nats-io/jetstream";
import {
  type ConsumerLag,
  countDeadLetters,
  measureConsumerLag,
  type PipelineConnections,
} from "../observability/metrics-endpoint.ts";
import { analyse, type Bottleneck, type PipelineReport, recentRates } from "../observability/monitor.ts";
import { jaegerQueryUrl, traceUrl } from "../observability/trace-link.ts";
import { pingWorkers } from "../runtime/ping.ts";
import type { WorkerInfo } from "../runtime/worker-runtime.ts";
import { type FileRecord, type FileState, openManifest } from "../shared/manifest.ts";
import { leafLinks } from "../shared/nats/monitoring.ts";
import type { ScrubRecord } from "../shared/scrub.ts";
import { STAGES, type Stage } from "../shared/stages.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { type DeadLetterRow, EventTail } from "./event-tail.ts";
import { FileWatch } from "./file-watch.ts";

/** Stage events the bottleneck is worked out over. */
export const BOTTLENECK_WINDOW_MS = 10 * 60_000;
/** Stage events the live rates are averaged over. */
export const RATE_WINDOW_MS = 10_000;
/** Finished files listed under the ones in flight. */
const RECENT_FINISHED = 8;
/** How long a status ping waits for workers. */
const PING_WAIT_MS = 400;

export interface LagView {
  /** Messages not yet delivered (num_pending). */
  pending: number;
  /** Delivered, not yet acknowledged (num_ack_pending). */
  ackPending: number;
}

export interface LeafView {
  cloud: string;
  url: string;
  /** null when the hub's monitoring port does not answer. */
  linked: boolean | null;
  /** Workers answering a ping, per stage. */
  workers: Record<Stage, number>;
  /** Verified chunk replicas stored in this cloud, and their bytes. */
  replicas: number;
  replicaBytes: number;
}

export interface StageView {
  stage: Stage;
  bytesPerSec: number;
  chunksPerSec: number;
  /** Share of pipeline time over the bottleneck window (0..1). */
  share: number;
  /** Summed over the clouds that answered; null when none did. Ingest's one consumer is on the hub. */
  lag: LagView | null;
  lagByCloud: Array<LagView & { cloud: string }>;
  workers: number;
}

export interface FileView {
  fileId: string;
  name: string;
  state: FileState;
  size: number;
  chunkCount: number | null;
  /** While ingest is still cutting (chunkCount unknown): size / chunk size, rounded up (record boundaries can add a few). */
  chunkCountEstimate?: number;
  /** Chunks with every replica verified. */
  chunksComplete: number;
  reason?: string;
  /** While durable: the clouds holding every chunk (fewer than the replicas wanted). */
  heldBy?: string[];
  createdAt: string;
  completedAt?: string;
  /** The file's trace id, when it has one and the deployment a Jaeger: the dashboard draws it at /trace/<traceId>. */
  traceId?: string;
  /** The file's trace in Jaeger's own UI (which a Jaeger built without its UI assets does not have), alongside traceId. */
  traceUrl?: string;
}

export interface DashboardState {
  at: string;
  hub: { url: string; domain: string; monitoring: boolean; orchestrators: number; lag: LagView | null };
  leaves: LeafView[];
  stages: StageView[];
  bottleneck: Bottleneck | null;
  bottleneckWindowMs: number;
  rateWindowMs: number;
  files: { total: number; complete: number; failed: number; durable: number; inFlight: number; rows: FileView[] };
  deadLetters: { stored: number | null; latest: DeadLetterRow[] };
  /** The latest scrub pass (shared/scrub.ts), or null before the first. */
  scrub: ScrubView | null;
  /** False while the event history is still being read (replica counts are partial). */
  historyLoaded: boolean;
}

/** The live sources of a deployment's dashboard. */
export interface StateSource {
  snapshot(): Promise<DashboardState>;
  close(): Promise<void>;
}

/** Starts the event tail and the file watch over `conns` (which the caller closes). */
export async function openStateSource(conns: PipelineConnections): Promise<StateSource> {
  const hubJs = jetstream(conns.hub, { domain: conns.deployment.topology.hubDomain });
  const kv = await openManifest(hubJs);
  const tail = new EventTail(hubJs, BOTTLENECK_WINDOW_MS);
  const files = new FileWatch(kv);
  return {
    snapshot: () => snapshot(conns, tail, files),
    close: async () => {
      await Promise.all([tail.stop(), files.stop()]);
    },
  };
}

async function snapshot(p: PipelineConnections, tail: EventTail, watch: FileWatch): Promise<DashboardState> {
  const d = p.deployment;
  const clouds = d.topology.clouds.map((c) => c.name);
  const [links, workers, lag, stored] = await Promise.all([
    leafLinks(d.hubNodes, clouds).catch(() => undefined),
    pingWorkers(p.hub, PING_WAIT_MS),
    measureConsumerLag(p),
    countDeadLetters(p).catch(() => undefined),
  ]);
  const now = Date.now();
  const recent = tail.recent(now);
  const report = analyse(recent);
  const hubLag = lag.find((l) => l.stage === "orchestrator");
  return {
    at: new Date(now).toISOString(),
    hub: {
      url: d.hub.url,
      domain: d.topology.hubDomain,
      monitoring: links !== undefined,
      orchestrators: countWorkers(workers, "orchestrator", "hub"),
      lag: hubLag ? { pending: hubLag.pending, ackPending: hubLag.ackPending } : null,
    },
    leaves: leafViews(d, links, workers, tail.replicas()),
    stages: stageViews(lag, recentRates(recent, now, RATE_WINDOW_MS), report, workers),
    bottleneck: report.bottleneck ?? null,
    bottleneckWindowMs: BOTTLENECK_WINDOW_MS,
    rateWindowMs: RATE_WINDOW_MS,
    files: filesView(watch.files(), d),
    deadLetters: { stored: stored ? sum(stored.map((x) => x.count)) : null, latest: tail.latestDeadLetters() },
    scrub: scrubView(watch.latestScrub()),
    historyLoaded: tail.caughtUp,
  };
}

export type ScrubView = Omit<ScrubRecord, "repaired">;

function scrubView(r: ScrubRecord | undefined): ScrubView | null {
  if (!r) return null;
  const { repaired: _listed, ...view } = r;
  return view;
}

/** Workers of `stage` in `cloud` that answered the ping. */
const countWorkers = (workers: WorkerInfo[], stage: string, cloud: string): number =>
  workers.filter((w) => w.stage === stage && w.cloud === cloud).length;

/** Each cloud's leaf: its link to the hub (null when the hub's monitoring did not answer), workers and replicas. */
function leafViews(
  d: Deployment,
  links: Record<string, boolean> | undefined,
  workers: WorkerInfo[],
  replicas: Map<string, { replicas: number; bytes: number }>,
): LeafView[] {
  return d.topology.clouds.map(({ name: cloud }) => ({
    cloud,
    url: d.leaves[cloud]?.url ?? "",
    linked: links ? (links[cloud] ?? false) : null,
    workers: Object.fromEntries(STAGES.map((s) => [s, countWorkers(workers, s, cloud)])) as Record<Stage, number>,
    replicas: replicas.get(cloud)?.replicas ?? 0,
    replicaBytes: replicas.get(cloud)?.bytes ?? 0,
  }));
}

/** Each stage's live rates, share of time over the bottleneck window, lag summed over the clouds, and workers. */
function stageViews(
  lag: ConsumerLag[],
  rates: ReturnType<typeof recentRates>,
  report: PipelineReport,
  workers: WorkerInfo[],
): StageView[] {
  return STAGES.map((stage) => {
    const mine = lag.filter((l) => l.stage === stage);
    return {
      stage,
      bytesPerSec: rates[stage].bytesPerSec,
      chunksPerSec: rates[stage].chunksPerSec,
      share: report.stages.find((s) => s.stage === stage)?.share ?? 0,
      lag: mine.length
        ? { pending: sum(mine.map((l) => l.pending)), ackPending: sum(mine.map((l) => l.ackPending)) }
        : null,
      lagByCloud: mine.map((l) => ({ cloud: l.cloud, pending: l.pending, ackPending: l.ackPending })),
      workers: workers.filter((w) => w.stage === stage).length,
    };
  });
}

/** Counts of files by state, and the rows shown. */
function filesView(files: FileRecord[], d: Deployment): DashboardState["files"] {
  const byState = (s: FileState) => files.filter((f) => f.state === s).length;
  return {
    total: files.length,
    complete: byState("complete"),
    failed: byState("failed"),
    durable: byState("durable"),
    inFlight: byState("ingesting") + byState("processing"),
    rows: fileRows(files, d),
  };
}

/** Files in flight, oldest first, then the most recently finished ones. */
function fileRows(files: FileRecord[], d: Deployment): FileView[] {
  const inFlight = files
    .filter((f) => f.state === "ingesting" || f.state === "processing" || f.state === "durable")
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const finished = files
    .filter((f) => f.state === "complete" || f.state === "failed")
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.fileId.localeCompare(b.fileId))
    .slice(0, RECENT_FINISHED);
  return [...inFlight, ...finished].map((f) => {
    const traceUrl = traceLink(f, d);
    const estimate =
      f.chunkCount === undefined && f.size > 0 && f.chunkSize > 0 ? Math.ceil(f.size / f.chunkSize) : undefined;
    return {
      fileId: f.fileId,
      name: f.name,
      state: f.state,
      size: f.size,
      chunkCount: f.chunkCount ?? null,
      chunksComplete: f.chunksComplete,
      ...(estimate ? { chunkCountEstimate: estimate } : {}),
      createdAt: f.createdAt,
      ...(f.reason ? { reason: f.reason } : {}),
      ...(f.heldBy ? { heldBy: f.heldBy } : {}),
      ...(f.completedAt ? { completedAt: f.completedAt } : {}),
      ...(traceUrl && f.traceId ? { traceId: f.traceId, traceUrl } : {}),
    };
  });
}

/** Jaeger's page for the file's trace; only a well-formed W3C trace id and an http(s) Jaeger make a link. */
function traceLink(f: FileRecord, d: Deployment): string | undefined {
  const base = jaegerQueryUrl(d);
  if (!f.traceId || !/^[0-9a-f]{32}$/.test(f.traceId) || !base || !/^https?:\/\//.test(base)) return undefined;
  return traceUrl(base, f.traceId);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
