import type { JsMsg } from "@nats-io/jetstream";
import { UntrustedEventError } from "../shared/errors.ts";
import { parseJsonObject } from "../shared/events.ts";
import { type ChunkEventKind, STAGE_CHAIN, STAGES } from "../shared/stages.ts";
import { chunkEventType, deadLetterType, eventType, REPLAYED_TYPE } from "../shared/subjects.ts";
import { checkProjectedEvent } from "./event-shapes.ts";
import { askToCollect, type Finalizer, finalizeFile } from "./finalize.ts";
import * as project from "./projection.ts";
import { NotYetProjectedError } from "./projection.ts";

/** Deliveries an event about a chunk the manifest does not know yet waits, at the least, before it is skipped. */
const NOT_YET_DELIVERIES = 5;

/**
 * How long this orchestrator keeps an event that is ahead of the one it follows before it takes it for
 * forged: longer than the event it follows can be held back, which is the longest delay between tries
 * of a failing event (30 s, e.g. while the hub elects a leader) plus an ack wait (a dead orchestrator's
 * lease on it), plus a margin.
 */
export const notYetWaitMs = (ackWaitMs: number): number => 30_000 + ackWaitMs + 5_000;

type Apply = (p: project.Projection, e: never) => Promise<project.NextStep>;

/** The chunk events that record more than their stage's time; every other stage's event only times it. */
const CHUNK_PROJECTIONS: Partial<Record<ChunkEventKind, Apply>> = {
  ingested: project.onChunkIngested,
  processed: project.onChunkProcessed,
  placed: project.onChunkPlaced,
  verified: project.onChunkVerified,
};

/** How each event type is projected, by `eventType` of its subject: every stage's chunk event and dead letter. */
export const EVENT_PROJECTIONS: Readonly<Record<string, Apply>> = {
  "files.accepted": project.onFileAccepted,
  "files.ingested": project.onFileIngested,
  [REPLAYED_TYPE]: project.onFileReplayed,
  ...Object.fromEntries(
    STAGE_CHAIN.map((r) => [chunkEventType(r.emits), CHUNK_PROJECTIONS[r.emits] ?? project.recordStageTime(r.stage)]),
  ),
  ...Object.fromEntries(STAGES.map((s) => [deadLetterType(s), project.onDeadLetter])),
};

/**
 * Handles one event from the hub's EVENTS stream: project it, and finish its file when that was the
 * last piece. An event ahead of the one it follows is tried again until `waitMs` after this process
 * first met it (and at least NOT_YET_DELIVERIES deliveries), then skipped as forged.
 */
export function createOrchestratorHandler(
  p: project.Projection,
  f: Finalizer,
  waitMs: number,
  /** Told of every event projected: the placement watch follows its file and learns from its times. */
  onProjected?: (subject: string, e: Record<string, unknown>) => void,
) {
  const waitingSince = new Map<number, number>(); // stream sequence -> first met, for events ahead
  return async (msg: JsMsg): Promise<void> => {
    const apply = EVENT_PROJECTIONS[eventType(msg.subject)];
    if (!apply) return; // an event kind this version does not project
    let e: Record<string, unknown>;
    try {
      e = parseJsonObject(msg.data, `${msg.subject} event`);
    } catch (err) {
      throw new UntrustedEventError((err as Error).message);
    }
    checkProjectedEvent(eventType(msg.subject), msg.subject.split(".").at(-1) ?? "", e);
    let outcome: project.NextStep;
    const seq = msg.info.streamSequence;
    try {
      outcome = await apply(p, e as never);
      waitingSince.delete(seq);
      onProjected?.(msg.subject, e);
    } catch (err) {
      if (!(err instanceof NotYetProjectedError)) throw err;
      // An event ahead of the one it follows waits for it; one that never comes was forged.
      const since = waitingSince.get(seq) ?? Date.now();
      waitingSince.set(seq, since);
      const waited = Date.now() - since;
      if (waited < waitMs || msg.info.deliveryCount < NOT_YET_DELIVERIES) throw err;
      waitingSince.delete(seq);
      throw new UntrustedEventError(`${err.message} after ${msg.info.deliveryCount} deliveries in ${waited} ms`);
    }
    if (outcome?.ready) await finalizeFile(f, outcome.fileId);
    const stale = outcome?.staleStaging;
    if (stale && outcome)
      await askToCollect(f, stale.cloud, { fileId: outcome.fileId, at: new Date().toISOString(), key: stale.key });
  };
}
