import { hostname } from "node:os";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/log.ts";
import { publishTraced } from "../observability/message-spans.ts";
import type { ScrubFinding } from "../observability/metrics.ts";
import { describeError, UntrustedEventError } from "../shared/errors.ts";
import { type DeadLetter, type EventMeta, encodeEvent, peekIds } from "../shared/events.ts";
import { isFileId } from "../shared/ids.ts";
import type { Stage } from "../shared/stages.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { deadLetterSubject, msgId, REPLAY_OF_HEADER } from "../shared/subjects.ts";
import type { Topology } from "../shared/topology/config.ts";
import type { Deployment } from "../shared/topology/deployment.ts";

/** Everything a stage handler may use: its identity, its cloud's connection, the stores. */
export interface WorkerContext {
  stage: Stage;
  cloud: string;
  /** Unique per process: `<stage>-<cloud>-<host>-<pid>`. */
  workerId: string;
  topology: Topology;
  /** The deployment this worker belongs to (its folder, every cloud's store spec). */
  deployment: Deployment;
  nc: NatsConnection;
  /** Publishes into this cloud's leaf (its stream captures the cloud's subjects). */
  js: JetStreamClient;
  /** The store of every cloud, by name. */
  stores: Map<string, BlobStore>;
  log: Logger;
  /** Counts chunk bytes this worker pulled from cloud `from` into cloud `to` (ferry_link_bytes_total). */
  countLinkBytes(from: string, to: string, bytes: number): void;
  /** Counts a replica a scrub checked here (ferry_scrub_replicas_total). */
  countScrub(finding: ScrubFinding): void;
}

export const makeWorkerId = (stage: string, cloud: string): string => `${stage}-${cloud}-${hostname()}-${process.pid}`;

/** Common fields of an event published by this worker. */
export function meta(ctx: WorkerContext, startedAt: number): EventMeta {
  return { cloud: ctx.cloud, worker: ctx.workerId, at: new Date().toISOString(), durationMs: Date.now() - startedAt };
}

/**
 * Publishes an event with a deterministic message id; a repeat inside the duplicate window is dropped.
 * The publish is a PRODUCER span and the message carries its trace context to the next stage.
 */
export async function publishEvent(ctx: WorkerContext, subject: string, event: object, id: string): Promise<void> {
  await publishTraced(ctx.js, subject, encodeEvent(event), { msgID: id });
}

/** The clouds of the topology, in its order. */
export const cloudNames = (ctx: WorkerContext): string[] => ctx.topology.clouds.map((c) => c.name);

/** The store of `cloud`, or a clear error when the topology has none. */
export function storeOf(ctx: WorkerContext, cloud: string): BlobStore {
  const s = ctx.stores.get(cloud);
  if (!s) throw new Error(`no store configured for cloud "${cloud}"`);
  return s;
}

const MAX_PAYLOAD_IN_DEAD_LETTER = 4096;

/** Records a message that can never pass, with its reason, in this cloud's stream. */
export async function publishDeadLetter(ctx: WorkerContext, msg: JsMsg, err: unknown): Promise<void> {
  const payload = new TextDecoder().decode(msg.data.subarray(0, MAX_PAYLOAD_IN_DEAD_LETTER));
  // From the whole message: a request longer than the excerpt still names its file. A file id
  // that is not one (`../x`, `a.*`) is left out: it must never become a manifest key.
  // An untrusted event (malformed, or naming what is not its own) keeps no file id: a forged event
  // must not fail the real file it names.
  const { fileId, index } = err instanceof UntrustedEventError ? {} : peekIds(msg.data);
  const ids = { ...(isFileId(fileId) ? { fileId } : {}), ...(index === undefined ? {} : { index }) };
  const replayOf = Number(msg.headers?.get(REPLAY_OF_HEADER) || Number.NaN);
  const dl: DeadLetter = {
    cloud: ctx.cloud,
    worker: ctx.workerId,
    at: new Date().toISOString(),
    durationMs: 0,
    stage: ctx.stage,
    reason: err instanceof Error ? err.message : String(err),
    error: describeError(err),
    subject: msg.subject,
    stream: msg.info.stream,
    streamSeq: msg.info.streamSequence,
    deliveryCount: msg.info.deliveryCount,
    ...ids,
    payload,
    payloadBytes: msg.data.length,
    ...(Number.isSafeInteger(replayOf) && replayOf > 0 ? { replayOf } : {}),
  };
  await publishEvent(
    ctx,
    deadLetterSubject(ctx.stage, ctx.cloud),
    dl,
    msgId("dead", msg.info.stream, msg.info.streamSequence),
  );
}
