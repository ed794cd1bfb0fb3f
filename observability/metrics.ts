/**
 * The metrics of one worker process: a prom-client Registry that the consume loop feeds through its
 * `onOutcome` hook, and that the worker hands out as JSON on `ferry.workers.metrics` so one endpoint
 * can aggregate every process (observability/metrics-endpoint.ts). The README lists every metric.
 */
import { stat } from "node:fs/promises";
import type { JsMsg } from "@nats-io/jetstream";
import { Counter, Histogram, Registry } from "prom-client";
import { takesIngestRequests } from "../shared/stages.ts";

/**
 * How handling one message ended: acked, acked as not this worker's work (`skipped`: a place worker
 * seeing a chunk meant for other clouds), nak'ed for a later try, or dead-lettered.
 */
export type HandlingOutcome = "ok" | "skipped" | "retry" | "dead_letter";

const OUTCOMES: readonly HandlingOutcome[] = ["ok", "skipped", "retry", "dead_letter"];

/**
 * Handling-time buckets in seconds. An 8 MiB chunk takes 20–200 ms on local disks and up to
 * seconds across real clouds; an ingest message is a whole file, so the top buckets reach minutes.
 */
export const HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface WorkerMetrics {
  registry: Registry;
  /** The consume loop's hook: counts the message, its bytes and its handling time. */
  onOutcome(outcome: HandlingOutcome, msg: JsMsg, durationMs: number): void;
  /** Counts chunk bytes read from cloud `from` by a worker of cloud `to`: data crossing that link. */
  countLinkBytes(from: string, to: string, bytes: number): void;
  /** Counts one replica a scrub checked in this worker's cloud, by what it found. */
  countScrub(finding: ScrubFinding): void;
}

/** What a scrub found a replica to be: good, gone (written again), or corrupt (replaced). */
export type ScrubFinding = "ok" | "missing" | "corrupt";

/** Creates the registry of a worker of `stage` in `cloud`; every outcome starts at 0 so the series exist before the first message. */
export function createWorkerMetrics(options: { stage: string; cloud: string }): WorkerMetrics {
  const registry = new Registry();
  const labels = { stage: options.stage, cloud: options.cloud };
  const messages = new Counter({
    name: "ferry_stage_messages_total",
    help: "Messages a stage finished, by outcome: one per file for ingest, per chunk for process and place, per replica for verify (orchestrator: per event).",
    labelNames: ["stage", "cloud", "outcome"],
    registers: [registry],
  });
  const bytes = new Counter({
    name: "ferry_stage_bytes_total",
    help: "Bytes of the data behind the messages a stage handled successfully: the source file for ingest, the chunk for process and place, the replica for verify.",
    labelNames: ["stage", "cloud"],
    registers: [registry],
  });
  const handling = new Histogram({
    name: "ferry_stage_handling_seconds",
    help: "Time from taking a message to acking, naking or dead-lettering it.",
    labelNames: ["stage", "cloud", "outcome"],
    buckets: HANDLING_BUCKETS,
    registers: [registry],
  });
  const redeliveries = new Counter({
    name: "ferry_stage_redeliveries_total",
    help: "Messages that arrived again (delivery count above 1): after a retry, or after a worker died holding them.",
    labelNames: ["stage", "cloud"],
    registers: [registry],
  });
  const linkBytes = new Counter({
    name: "ferry_link_bytes_total",
    help: "Chunk bytes that crossed from one cloud into another: a place worker of cloud `to` reading a chunk staged in cloud `from`. Per ingested byte the pipeline moves R-1 across links.",
    labelNames: ["from", "to"],
    registers: [registry],
  });
  const scrubbed = new Counter({
    name: "ferry_scrub_replicas_total",
    help: "Replicas a scrub checked in this cloud, by finding: ok, missing (written again from another cloud) or corrupt (deleted and written again).",
    labelNames: ["cloud", "finding"],
    registers: [registry],
  });
  for (const outcome of OUTCOMES) messages.inc({ ...labels, outcome }, 0);
  const countsBytes = options.stage !== "orchestrator";
  if (countsBytes) bytes.inc(labels, 0);
  redeliveries.inc(labels, 0);
  return {
    registry,
    countLinkBytes: (from, to, n) => linkBytes.inc({ from, to }, n),
    countScrub: (finding) => scrubbed.inc({ cloud: options.cloud, finding }),
    onOutcome(outcome, msg, durationMs) {
      messages.inc({ ...labels, outcome });
      handling.observe({ ...labels, outcome }, durationMs / 1000);
      if (msg.info.deliveryCount > 1) redeliveries.inc(labels);
      if (outcome !== "ok" || !countsBytes) return;
      void bytesOf(options.stage, msg.data).then((n) => n > 0 && bytes.inc(labels, n));
    },
  };
}

/**
 * The size of the data a message stands for: chunk events carry `size`; an ingest request (what a
 * stage taking requests reads) names a file, whose size is read back after it was ingested. 0 when
 * it cannot be told.
 */
async function bytesOf(stage: string, data: Uint8Array): Promise<number> {
  let body: { size?: unknown; path?: unknown } | null;
  try {
    body = JSON.parse(new TextDecoder().decode(data)) as typeof body;
  } catch {
    return 0;
  }
  if (typeof body !== "object" || body === null) return 0;
  if (!takesIngestRequests(stage)) return typeof body.size === "number" ? body.size : 0;
  if (typeof body.path !== "string") return 0;
  return stat(body.path).then(
    (s) => s.size,
    () => 0,
  );
}
