/**
 * What a chunk event must look like before a worker or the orchestrator acts on it. Events come from
 * streams anyone with publish rights can write to, so every field is checked at the edge: numbers
 * are whole and in range, hashes are hex, and the object keys an event names must be the ones its
 * own chunk has (a staged chunk's `staging/<fileId>/<index>`, a replica's content-derived
 * `chunks/<fileId>/<index>-<sha256>`), in a cloud of the topology. A failing check throws
 * UntrustedEventError, whose reason names the field and what it must be.
 */
import { replicaKey, stagingKey } from "./chunk-keys.ts";
import { UntrustedEventError } from "./errors.ts";
import type { ChunkRef } from "./events.ts";
import { isFileId } from "./ids.ts";
import type { ObjectLocation } from "./stores/types.ts";
import { TRANSFORMS } from "./transforms.ts";

/** Most chunks a file may have (a request that would need more is refused: stages/ingest/request-limits.ts). */
export const MAX_CHUNKS = 1_048_576;
/** Largest chunk: the largest chunk size a request may ask for, 1 GiB. */
export const MAX_CHUNK_BYTES = 1024 ** 3;
/** Largest file: MAX_CHUNKS chunks of MAX_CHUNK_BYTES. */
const MAX_FILE_BYTES = MAX_CHUNKS * MAX_CHUNK_BYTES;
/** Bad replicas of one chunk sent back to placement before the chunk is dead-lettered. */
export const MAX_REPAIRS = 3;
/** Most replicas a chunk may ask for. */
const MAX_REPLICAS = 64;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** How much of a bad value a reason quotes. */
const QUOTED = 80;

const shown = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, QUOTED);

function untrusted(what: string, field: string, rule: string, v: unknown): never {
  throw new UntrustedEventError(`${what} field "${field}" must be ${rule}, got ${shown(v)}`);
}

/** A whole number from `min` to `max`, or an UntrustedEventError naming the field. */
export function wholeNumber(o: Record<string, unknown>, what: string, field: string, min: number, max: number): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max)
    untrusted(what, field, `a whole number from ${min} to ${max}`, v);
  return v;
}

/** Checks the fields every chunk event has (fileId, index, offset, size, sha256). */
export function checkChunkRef(o: Record<string, unknown>, what: string): ChunkRef {
  if (!isFileId(o.fileId)) untrusted(what, "fileId", "6-64 lower-case letters, digits or dashes", o.fileId);
  wholeNumber(o, what, "index", 0, MAX_CHUNKS - 1);
  wholeNumber(o, what, "offset", 0, MAX_FILE_BYTES);
  wholeNumber(o, what, "size", 0, MAX_CHUNK_BYTES);
  if (typeof o.sha256 !== "string" || !SHA256_HEX.test(o.sha256))
    untrusted(what, "sha256", "64 lower-case hex digits", o.sha256);
  return o as unknown as ChunkRef;
}

/** `o[field]` as the location of an object `key` in one of `clouds`. */
function checkLocation(
  o: Record<string, unknown>,
  what: string,
  field: string,
  key: string,
  clouds: readonly string[],
) {
  const loc = o[field] as Partial<ObjectLocation> | undefined;
  if (typeof loc !== "object" || loc === null || Array.isArray(loc))
    untrusted(what, field, "an object location {cloud, store, bucket, key}", loc);
  if (typeof loc.cloud !== "string" || !clouds.includes(loc.cloud))
    untrusted(what, `${field}.cloud`, `a cloud of the topology (${clouds.join(", ")})`, loc.cloud);
  if (loc.key !== key) untrusted(what, `${field}.key`, `this chunk's own key ${key}`, loc.key);
}

/** The chunk's staging location: its own staging key, in a cloud of the topology. */
export function checkStaging(ev: ChunkRef, what: string, clouds: readonly string[]): void {
  checkLocation(ev as never, what, "staging", stagingKey(ev.fileId, ev.index), clouds);
}

/** The chunk's replica location: its content-derived key, in `cloud` (the cloud that placed it). */
export function checkReplica(ev: ChunkRef, what: string, cloud: string): void {
  checkLocation(ev as never, what, "replica", replicaKey(ev.fileId, ev.index, ev.sha256), [cloud]);
}

/** A scrub pass id as orchestrator/scrub-pass.ts makes them. */
export const SCRUB_PASS = /^[a-z0-9-]{1,48}$/;

/**
 * A scrub mark, when the event has one: a pass id, and sources that are this chunk's replicas
 * (content-derived key) in clouds of the topology other than `cloud`, each at most once.
 */
export function checkScrubMark(
  o: Record<string, unknown>,
  what: string,
  clouds: readonly string[],
  cloud: string | undefined,
): void {
  const mark = o.scrub as Record<string, unknown> | undefined;
  if (mark === undefined) return;
  if (cloud === undefined) untrusted(what, "targets", "the one cloud a scrub checks", o.targets);
  if (typeof mark !== "object" || mark === null) untrusted(what, "scrub", "a scrub mark {pass, sources}", mark);
  if (typeof mark.pass !== "string" || !SCRUB_PASS.test(mark.pass))
    untrusted(what, "scrub.pass", "a scrub pass id (a-z, 0-9, -)", mark.pass);
  const sources = mark.sources;
  if (!Array.isArray(sources) || sources.length > MAX_REPLICAS)
    untrusted(what, "scrub.sources", `a list of at most ${MAX_REPLICAS} replica locations`, sources);
  const others = clouds.filter((c) => c !== cloud);
  const ref = o as unknown as ChunkRef;
  const key = replicaKey(ref.fileId, ref.index, ref.sha256);
  for (const source of sources) checkLocation({ "scrub.sources[]": source }, what, "scrub.sources[]", key, others);
  if (new Set(sources.map((s: { cloud: string }) => s.cloud)).size !== sources.length)
    untrusted(what, "scrub.sources", "replicas in distinct clouds", sources);
}

/** The optional counts and lists a chunk event carries on to the next stage. */
export function checkChunkOptions(o: Record<string, unknown>, what: string, clouds: readonly string[]): void {
  if (o.replicas !== undefined) wholeNumber(o, what, "replicas", 1, MAX_REPLICAS);
  if (o.repairs !== undefined) wholeNumber(o, what, "repairs", 0, MAX_REPAIRS);
  const { targets, transforms } = o;
  if (
    targets !== undefined &&
    !(Array.isArray(targets) && targets.length > 0 && targets.every((t) => clouds.includes(t as string)))
  )
    untrusted(what, "targets", `a non-empty list of clouds of the topology (${clouds.join(", ")})`, targets);
  if (
    transforms !== undefined &&
    !(Array.isArray(transforms) && transforms.every((t) => (TRANSFORMS as readonly unknown[]).includes(t)))
  )
    untrusted(what, "transforms", `a list of transforms (${TRANSFORMS.join(", ")})`, transforms);
}
