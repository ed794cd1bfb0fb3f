import type { JsMsg } from "@nats-io/jetstream";
import { PoisonMessageError } from "../shared/errors.ts";
import { parseJsonObject } from "../shared/events.ts";
import { eventType } from "../shared/subjects.ts";
import { type Finalizer, finalizeFile } from "./finalize.ts";
import * as project from "./projection.ts";

type Apply = (p: project.Projection, e: never) => Promise<project.NextStep>;

const HANDLERS: Record<string, Apply> = {
  "files.accepted": project.onFileAccepted,
  "files.ingested": project.onFileIngested,
  "chunks.ingested": project.onChunkIngested,
  "chunks.processed": project.onChunkProcessed,
  "chunks.placed": project.onChunkPlaced,
  "chunks.verified": project.onChunkVerified,
  "deadletter.ingest": project.onDeadLetter,
  "deadletter.process": project.onDeadLetter,
  "deadletter.place": project.onDeadLetter,
  "deadletter.verify": project.onDeadLetter,
};

/** Handles one event from the hub's EVENTS stream: project it, and finish its file when that was the last piece. */
export function createOrchestratorHandler(p: project.Projection, f: Finalizer) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<void> => {
    const apply = HANDLERS[eventType(msg.subject)];
    if (!apply) return; // an event kind this version does not project
    const e = parseJsonObject(msg.data, `${msg.subject} event`);
    if (typeof e.fileId !== "string" && !msg.subject.startsWith("deadletter."))
      throw new PoisonMessageError(`${msg.subject} event lacks field "fileId"`);
    const outcome = await apply(p, e as never);
    if (outcome?.ready) await finalizeFile(f, outcome.fileId, signal);
    if (outcome?.staleStaging)
      await f.stores.get(outcome.staleStaging.cloud)?.delete(outcome.staleStaging.key, { signal });
  };
}
