/**
 * Subject names and message ids. Subjects carry the publishing cloud as their last token and are
 * built only from ids and fixed words, never from a user's file name.
 */
import type { ChunkEventKind, Stage } from "./stages.ts";

export type FileEventKind = "accepted" | "ingested";

/**
 * Ingest requests from the CLI or any NATS client (captured by the hub's FILES stream). A request
 * on this bare subject goes to the default cloud (the topology's first); see ingestSubject.
 */
export const INGEST_REQUESTS = "files.ingest";
/** Ingest requests for one cloud's ingest workers: a local path on that cloud's hosts, or an object in its store. */
export const ingestSubject = (cloud: string): string => `${INGEST_REQUESTS}.${cloud}`;
/** Every ingest request, whichever cloud it names. */
export const ALL_INGEST_REQUESTS = [INGEST_REQUESTS, `${INGEST_REQUESTS}.*`];
/** Published by the orchestrator when a file has all its replicas verified. */
export const FILES_COMPLETED = "files.completed";
/**
 * Published by the orchestrator on the hub for the cloud holding a finished file's staging: that
 * cloud's own ingest workers delete it (no other process holds that store's credentials).
 */
export const collectSubject = (cloud: string): string => `files.collect.${cloud}`;
/** Every cloud's staging collections. */
export const ALL_COLLECT = "files.collect.*";
/** Core-NATS request that every worker answers with who it is (for `ferry status`). */
export const WORKER_PING = "ferry.workers.ping";
/** Core-NATS requests to the active orchestrator to scrub replicas (shared/scrub.ts). */
export const SCRUB_REQUESTS = "ferry.scrub.requests";
/** Core-NATS request that every worker answers with who it is and its metrics registry as JSON (for /metrics). */
export const WORKER_METRICS = "ferry.workers.metrics";

/**
 * Core-NATS requests to `cloud`'s gateway for a short-lived URL to one object in that cloud's store
 * (see shared/object-urls/). Answered only by that cloud's gateway, wherever the asker is.
 */
export const objectUrlSubject = (cloud: string): string => `ferry.objects.${cloud}.url`;

/**
 * Where sourced messages are delivered, one prefix per cloud and direction, so that a cloud's leaf
 * link may carry its own and no other (nats-permissions.ts): the hub's EVENTS receives `cloud`'s
 * stream under `sourcedEventsPrefix(cloud)`, and `cloud`'s WORK stream receives the hub's EVENTS
 * under `sourcedWorkPrefix(cloud)`. Without them every source delivers under `$JS.S`, and a leaf that
 * learned another cloud's delivery subject could publish into it.
 */
export const sourcedEventsPrefix = (cloud: string): string => `ferry.sourced.events.${cloud}`;
export const sourcedWorkPrefix = (cloud: string): string => `ferry.sourced.work.${cloud}`;

/** A chunk event's type, as `eventType` returns it: `chunks.<kind>`. */
export const chunkEventType = (kind: ChunkEventKind): string => `chunks.${kind}`;
export const chunkSubject = (kind: ChunkEventKind, cloud: string): string => `${chunkEventType(kind)}.${cloud}`;
export const fileSubject = (kind: FileEventKind, cloud: string): string => `files.${kind}.${cloud}`;
/** A dead letter's type, as `eventType` returns it: `deadletter.<stage>`. */
export const deadLetterType = (stage: Stage | "orchestrator"): string => `deadletter.${stage}`;
export const deadLetterSubject = (stage: Stage | "orchestrator", cloud: string): string =>
  `${deadLetterType(stage)}.${cloud}`;

/**
 * A dead letter replayed (`ferry dead-letters replay`), as `eventType` returns it. Published by the
 * admin identity only (shared/topology/nats-permissions.ts) into the letter's cloud's stream, so it
 * reaches the hub's EVENTS beside the letter; the orchestrator takes the letter's file back in flight.
 */
export const REPLAYED_TYPE = "files.replayed";
export const replayedSubject = (cloud: string): string => `${REPLAYED_TYPE}.${cloud}`;
/** Header of a republished message: the EVENTS sequence of the dead letter it replays. */
export const REPLAY_OF_HEADER = "Ferry-Replay-Of";
/** A republished message's id: new for each replay, so the duplicate window does not drop it. */
export const replayMsgId = (letterSeq: number, attempt: number): string => `replay-${letterSeq}-${attempt}`;

/**
 * Every subject a cloud's own event stream captures. Its file events are named one by one: ingest
 * requests and staging collections for the cloud (`files.ingest.<cloud>`, `files.collect.<cloud>`)
 * belong to the hub's FILES alone, and are never copied into the cloud's stream and across its link.
 */
export const cloudStreamSubjects = (cloud: string): string[] => [
  `chunks.*.${cloud}`,
  fileSubject("accepted", cloud),
  fileSubject("ingested", cloud),
  replayedSubject(cloud),
  `deadletter.*.${cloud}`,
];

/** The kind word of an event subject: `chunks.placed.aws` -> `chunks.placed`. */
export function eventType(subject: string): string {
  const parts = subject.split(".");
  return parts.length >= 3 ? `${parts[0]}.${parts[1]}` : subject;
}

/** Deterministic Nats-Msg-Id: a retried publish of the same fact is dropped by the stream. */
export const msgId = (...parts: Array<string | number>): string => parts.join(":");
