/**
 * The events that travel through the streams. They carry references to chunk bytes (claim check),
 * never the bytes: a few hundred bytes each.
 */
import type { FileDigestKind } from "./chunk-digest.ts";
import type { FileEncryption } from "./crypto/file-encryption.ts";
import { PoisonMessageError, UntrustedEventError } from "./errors.ts";
import { checkChunkRef } from "./event-checks.ts";
import type { ObjectLocation } from "./stores/types.ts";
import type { Transform } from "./transforms.ts";

/** What every chunk event says about its chunk. */
export interface ChunkRef {
  fileId: string;
  index: number;
  offset: number;
  size: number;
  /** SHA-256 (hex) of the chunk's bytes. */
  sha256: string;
}

/** The chunk a chunk event is about, copied from the event before it (nothing else of it). */
export function chunkRefOf(ev: ChunkRef): ChunkRef {
  return { fileId: ev.fileId, index: ev.index, offset: ev.offset, size: ev.size, sha256: ev.sha256 };
}

/** Fields every event carries: who published it, when, and how long the work took. */
export interface EventMeta {
  cloud: string;
  worker: string;
  at: string;
  durationMs: number;
}

export { TRANSFORMS, type Transform } from "./transforms.ts";

export interface FileAccepted extends EventMeta {
  fileId: string;
  name: string;
  size: number;
  chunkSize: number;
  replicas: number;
  /** The file's trace (W3C trace id, 32 hex digits), when the ingest worker traces. */
  traceId?: string;
  /** The source's version when a worker read it (IngestSource.version): a resumed ingest must find the same. */
  sourceVersion?: string;
  /** How the client encrypted the file (wrapped key, key id, sizes), when it did: never a key. */
  encryption?: FileEncryption;
}

export interface FileIngested extends EventMeta {
  fileId: string;
  name: string;
  size: number;
  /** The file's digest: its plain SHA-256, or its chunk-list digest when the ingest resumed (`digest`). */
  sha256: string;
  chunkCount: number;
  /** Which digest `sha256` is (shared/chunk-digest.ts). @default "sha256" */
  digest?: FileDigestKind;
}

export interface ChunkIngested extends ChunkRef, EventMeta {
  staging: ObjectLocation;
  transforms: Transform[];
  replicas: number;
}

export interface ChunkProcessed extends ChunkRef, EventMeta {
  staging: ObjectLocation;
  replicas: number;
  /** How many times a bad replica sent this chunk back to placement. */
  repairs: number;
  /**
   * The clouds whose place workers must copy this chunk into their store. Unset: the `replicas`
   * clouds chosen from the staging cloud (shared/placement.ts). A repair names the one cloud
   * whose replica was bad.
   */
  targets?: string[];
  /** Set by a scrub (orchestrator/scrub-pass.ts): checks a replica that was verified once. */
  scrub?: ScrubMark;
}

/**
 * What a scrub adds to the events of one replica's check: the pass it belongs to (in message ids,
 * so a replica checked again is not taken for a duplicate), and the verified replicas in other
 * clouds to copy from when this one is missing or corrupt (the staging copy is gone by then).
 */
export interface ScrubMark {
  pass: string;
  sources: ObjectLocation[];
}

/** The scrub pass in a message id, so a replica checked again is not taken for a duplicate. */
export const scrubPassOf = (ev: { scrub?: { pass: string } }): string[] => (ev.scrub ? [ev.scrub.pass] : []);

export interface ChunkPlaced extends ChunkRef, EventMeta {
  replica: ObjectLocation;
  /** Where the bytes were copied from, so a bad replica can be placed again. */
  staging: ObjectLocation;
  replicas: number;
  repairs: number;
  scrub?: ScrubMark;
}

export interface ChunkVerified extends ChunkRef, EventMeta {
  replica: ObjectLocation;
  /** When a scrub checked the replica: its pass, and how many times the replica had to be written again. */
  scrub?: { pass: string; repairs: number };
}

export interface DeadLetter extends EventMeta {
  stage: string;
  reason: string;
  error: string;
  subject: string;
  stream: string;
  streamSeq: number;
  deliveryCount: number;
  fileId?: string;
  index?: number;
  /** The original payload (truncated), so it can be inspected and replayed. */
  payload: string;
  /** The original payload's length in bytes: more than `payload` holds when it was truncated. */
  payloadBytes?: number;
  /** When the message was a replay (`ferry dead-letters replay`): the EVENTS sequence of the letter it replayed. */
  replayOf?: number;
}

/**
 * A dead letter replayed (`files.replayed.<cloud>`, published by the admin identity): its message
 * was published again as `msgId`. The orchestrator takes the letter's file back in flight.
 */
export interface LetterReplayed {
  /** The letter's sequence in the hub's EVENTS stream. */
  letterSeq: number;
  stage: string;
  cloud: string;
  fileId?: string;
  index?: number;
  /** The subject the message was published to again, and its new message id. */
  subject: string;
  msgId: string;
  at: string;
}

export interface FileCompleted {
  fileId: string;
  at: string;
}

/** Asks a cloud to delete a file's staging: the one object `key`, or everything the file staged there. */
export interface StagingCollect {
  fileId: string;
  at: string;
  key?: string;
}

/** Parses a JSON payload into an object or throws PoisonMessageError naming the subject. */
export function parseJsonObject(data: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new PoisonMessageError(`${what} is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new PoisonMessageError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Checks the fields every chunk event must have (shared/event-checks.ts) and that `extra` are there;
 * throws UntrustedEventError naming the field. Not JSON, or not an object: the same.
 */
export function parseChunkEvent<T extends ChunkRef>(data: Uint8Array, what: string, extra: string[] = []): T {
  let o: Record<string, unknown>;
  try {
    o = parseJsonObject(data, what);
  } catch (err) {
    throw new UntrustedEventError((err as Error).message);
  }
  checkChunkRef(o, what);
  for (const f of extra) if (o[f] === undefined) throw new UntrustedEventError(`${what} lacks field "${f}"`);
  return o as unknown as T;
}

/** Throws PoisonMessageError unless each field has the given typeof. */
export function requireFields(o: Record<string, unknown>, what: string, fields: Record<string, string>): void {
  for (const [name, type] of Object.entries(fields)) {
    if (o[name] === undefined) throw new PoisonMessageError(`${what} lacks field "${name}"`);
    if (typeof o[name] !== type)
      throw new PoisonMessageError(`${what} field "${name}" must be a ${type}, got ${JSON.stringify(o[name])}`);
  }
}

/** The file id and chunk index of a payload, when it is JSON that has them. */
export function peekIds(payload: string | Uint8Array): { fileId?: string; index?: number } {
  try {
    const o = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload)) as {
      fileId?: unknown;
      index?: unknown;
    };
    return {
      ...(typeof o?.fileId === "string" ? { fileId: o.fileId } : {}),
      ...(typeof o?.index === "number" ? { index: o.index } : {}),
    };
  } catch {
    return {};
  }
}

export const encodeEvent = (e: object): Uint8Array => new TextEncoder().encode(JSON.stringify(e));
