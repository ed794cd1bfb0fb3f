/**
 * Projects cloud events into the manifest. Every change is idempotent: a redelivered or duplicated
 * event finds the fact already recorded and changes nothing, so the manifest can be rebuilt by replay.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/log.ts";
import { FerryError, UntrustedEventError } from "../shared/errors.ts";
import type {
  ChunkIngested,
  ChunkPlaced,
  ChunkRef,
  ChunkVerified,
  DeadLetter,
  EventMeta,
  FileAccepted,
  FileIngested,
  LetterReplayed,
} from "../shared/events.ts";
import { type ChunkRecord, chunkKey, emptyStageTimes, type FileRecord, fileKey } from "../shared/manifest.ts";
import { STAGES, type Stage } from "../shared/stages.ts";
import type { ObjectLocation } from "../shared/stores/types.ts";
import { hasBit, setBit } from "./bitmap.ts";
import { updateJson } from "./kv-update.ts";
import { tallyScrub } from "./scrub-tally.ts";

/**
 * An event about a chunk the manifest does not know yet (no `chunks.ingested` projected), or a
 * verified replica never recorded placed. Events of one chunk reach the hub in causal order, so
 * this is rare for a real event and waits a few deliveries; a forged one is skipped after them.
 */
export class NotYetProjectedError extends FerryError {}

/** Longest dead-letter reason the manifest keeps on a failed file. */
const MAX_REASON_CHARS = 2000;

export interface Projection {
  kv: KV;
  /** Where scrub repairs are reported. */
  log?: Logger;
  /** Replicas wanted when an event does not say. */
  defaultReplicas: number;
}

/**
 * What the caller must do next for the file, if anything: finish it when `ready`; delete
 * `staleStaging`, a chunk staged after the file was already complete (a late duplicate ingest).
 */
export type NextStep = { fileId: string; ready: boolean; staleStaging?: ObjectLocation } | undefined;

export async function onFileAccepted(p: Projection, e: FileAccepted): Promise<NextStep> {
  await updateFile(p, e.fileId, e.at, (f) => {
    // A complete file's facts are settled: a late or forged event does not rewrite them.
    if (f.state === "complete") return;
    f.name = e.name;
    f.size = e.size;
    f.chunkSize = e.chunkSize;
    f.replicas = e.replicas;
    if (e.sourceVersion) f.sourceVersion = e.sourceVersion;
    if (e.encryption) f.encryption = e.encryption;
    addOnce(f.stagingClouds, e.cloud);
    // The first trace wins: a request redelivered without trace headers starts a new one.
    if (e.traceId && !f.traceId) f.traceId = e.traceId;
  });
  return undefined;
}

export async function onChunkIngested(p: Projection, e: ChunkIngested): Promise<NextStep> {
  await updateChunk(p, e, { create: true }, (c) => {
    if (!c.staging.some((s) => s.cloud === e.staging.cloud && s.key === e.staging.key)) c.staging.push(e.staging);
    c.stageMs.ingest = e.durationMs;
  });
  const f = await updateFile(p, e.fileId, e.at, (f) => {
    if (f.state === "complete") return;
    f.chunksIngested = Math.max(f.chunksIngested, e.index + 1);
    addOnce(f.stagingClouds, e.staging.cloud);
  });
  return f.state === "complete" ? { fileId: e.fileId, ready: false, staleStaging: e.staging } : undefined;
}

export async function onFileIngested(p: Projection, e: FileIngested): Promise<NextStep> {
  const f = await updateFile(p, e.fileId, e.at, (f) => {
    if (f.state === "complete") return;
    f.name = e.name;
    f.size = e.size;
    f.sha256 = e.sha256;
    if (e.digest) f.digest = e.digest;
    f.chunkCount = e.chunkCount;
    f.chunksIngested = e.chunkCount;
    if (f.state === "ingesting") f.state = "processing";
  });
  return { fileId: e.fileId, ready: isReady(f) };
}

/**
 * The projection of a stage whose chunk event records nothing but the stage's work time: the
 * longest of the chunk's events for that stage. A chunk record written before the stage joined the
 * chain has no time for it yet.
 */
export function recordStageTime(stage: Stage) {
  return async (p: Projection, e: ChunkRef & EventMeta): Promise<NextStep> => {
    await updateChunk(p, e, {}, (c) => {
      c.stageMs[stage] = Math.max(c.stageMs[stage] ?? 0, e.durationMs);
    });
    return undefined;
  };
}

/** The process stage's time, and when the chunk was first processed (placement deadlines count from it). */
export async function onChunkProcessed(p: Projection, e: ChunkRef & EventMeta): Promise<NextStep> {
  await updateChunk(p, e, {}, (c) => {
    c.stageMs.process = Math.max(c.stageMs.process ?? 0, e.durationMs);
    if (!c.processedAt || e.at < c.processedAt) c.processedAt = e.at;
  });
  return undefined;
}

export async function onChunkPlaced(p: Projection, e: ChunkPlaced): Promise<NextStep> {
  await updateChunk(p, e, {}, (c) => {
    if (!c.replicas.some((r) => r.cloud === e.replica.cloud)) c.replicas.push({ ...e.replica, verified: false });
    c.stageMs.place = Math.max(c.stageMs.place, e.durationMs);
  });
  return undefined;
}

export async function onChunkVerified(p: Projection, e: ChunkVerified): Promise<NextStep> {
  const chunk = await updateChunk(p, e, {}, (c) => {
    // Verify reads back what place wrote, and place's event comes first in the cloud's stream.
    const r = c.replicas.find((x) => x.cloud === e.replica.cloud && x.key === e.replica.key);
    if (!r)
      throw new NotYetProjectedError(
        `chunks.verified names replica ${e.replica.cloud}:${e.replica.key} of chunk ${e.index} of file ${e.fileId}, never recorded placed`,
      );
    if (r.verified) return;
    Object.assign(r, e.replica, { verified: true, verifiedAt: e.at });
    c.stageMs.verify = Math.max(c.stageMs.verify, e.durationMs);
  });
  const file = await updateFile(p, e.fileId, e.at, (f) => {
    const verified = chunk.replicas.filter((r) => r.verified).length;
    if (verified < f.replicas || hasBit(f.completeBitmap, e.index)) return;
    // The bit and the stage times change in one write, so a redelivered event cannot count twice.
    f.completeBitmap = setBit(f.completeBitmap, e.index);
    f.chunksComplete++;
    for (const s of STAGES) f.stageMs[s] = (f.stageMs[s] ?? 0) + (chunk.stageMs[s] ?? 0);
  });
  if (e.scrub) await tallyScrub(p.kv, e, p.log);
  return { fileId: e.fileId, ready: isReady(file) };
}

/** A dead letter that names a file fails it, unless the file already completed (a late redelivery). */
export async function onDeadLetter(p: Projection, e: DeadLetter): Promise<NextStep> {
  if (!e.fileId) return undefined;
  await updateFile(p, e.fileId, e.at, (f) => {
    if (f.state === "complete" || f.state === "failed") return;
    f.state = "failed";
    f.reason = `${e.stage} on ${e.cloud}${e.index === undefined ? "" : ` (chunk ${e.index})`}: ${e.reason}`.slice(
      0,
      MAX_REASON_CHARS,
    );
  });
  return undefined;
}

/**
 * A replayed dead letter takes its failed file back in flight (ingesting until its chunk count is
 * known, else processing), so the replayed message can complete it; each letter counts once in
 * `replays`. A complete file stays complete. The file may be ready at once: the replayed work can
 * have finished before this event was projected.
 */
export async function onFileReplayed(p: Projection, e: LetterReplayed): Promise<NextStep> {
  if (!e.fileId) return undefined;
  const file = await updateFile(p, e.fileId, e.at, (f) => {
    const seen = f.replayedLetters ?? [];
    if (f.state === "complete" || seen.includes(e.letterSeq)) return;
    f.replayedLetters = [...seen, e.letterSeq];
    f.replays = f.replayedLetters.length;
    if (f.state !== "failed") return;
    f.state = f.chunkCount === undefined ? "ingesting" : "processing";
    delete f.reason;
  });
  return { fileId: e.fileId, ready: isReady(file) };
}

/** Every chunk has its replicas and the file is not finished yet (durable counts as unfinished). */
export function isReady(f: FileRecord): boolean {
  return (
    (f.state === "processing" || f.state === "durable") &&
    f.chunkCount !== undefined &&
    f.chunksComplete >= f.chunkCount
  );
}

function addOnce(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}

function newFile(p: Projection, fileId: string, at: string): FileRecord {
  return {
    fileId,
    name: "",
    size: 0,
    state: "ingesting",
    stagingClouds: [],
    replicas: p.defaultReplicas,
    chunkSize: 0,
    chunksIngested: 0,
    chunksComplete: 0,
    completeBitmap: "",
    stageMs: emptyStageTimes(),
    createdAt: at,
    updatedAt: at,
  };
}

async function updateFile(
  p: Projection,
  fileId: string,
  at: string,
  change: (f: FileRecord) => void,
): Promise<FileRecord> {
  const stored = await updateJson<FileRecord>(p.kv, fileKey(fileId), (cur) => {
    const f = cur ?? newFile(p, fileId, at);
    const before = JSON.stringify(f);
    change(f);
    if (cur && JSON.stringify(f) === before) return undefined;
    f.updatedAt = at > f.updatedAt ? at : f.updatedAt;
    return f;
  });
  return stored as FileRecord;
}

type AnyChunkEvent = { fileId: string; index: number; offset: number; size: number; sha256: string };

/**
 * Changes the chunk's record. Only `chunks.ingested` (`create`) makes one; every other event needs
 * it there, with the same hash and size, or it is about no chunk any ingest announced.
 */
async function updateChunk(
  p: Projection,
  e: AnyChunkEvent,
  options: { create?: boolean },
  change: (c: ChunkRecord) => void,
): Promise<ChunkRecord> {
  const stored = await updateJson<ChunkRecord>(p.kv, chunkKey(e.fileId, e.index), (cur) => {
    if (!cur && !options.create)
      throw new NotYetProjectedError(`no chunk ${e.index} of file ${e.fileId} was announced by an ingest`);
    if (cur && (cur.sha256 !== e.sha256 || cur.size !== e.size))
      throw new UntrustedEventError(
        `event names chunk ${e.index} of file ${e.fileId} with sha256 ${e.sha256} and ${e.size} bytes; it has ${cur.sha256} and ${cur.size}`,
      );
    // updateJson itself skips the write when nothing changed.
    const c = cur ?? {
      fileId: e.fileId,
      index: e.index,
      offset: e.offset,
      size: e.size,
      sha256: e.sha256,
      staging: [],
      replicas: [],
      stageMs: emptyStageTimes(),
    };
    change(c);
    return c;
  });
  return stored as ChunkRecord;
}
