/**
 * The file manifest in NATS KV (hub domain). The orchestrator is its only writer; everything else reads.
 * Keys: `file.<fileId>` -> FileRecord, `chunk.<fileId>.<index>` -> ChunkRecord.
 */

import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import type { FileDigestKind } from "./chunk-digest.ts";
import type { FileEncryption } from "./crypto/file-encryption.ts";
import { perStage, type Stage } from "./stages.ts";
import type { ObjectLocation } from "./stores/types.ts";
import { MANIFEST_BUCKET } from "./stream-names.ts";

/**
 * `durable`: every chunk has verified replicas on every cloud that answers, but fewer than wanted
 * (clouds are gone): the file is safe where `heldBy` says, and becomes complete by itself when the
 * missing clouds return and verify their replicas.
 */
export type FileState = "ingesting" | "processing" | "durable" | "complete" | "failed";
/** Milliseconds per stage, keys in pipeline order. */
export type StageTimes = Record<Stage, number>;

export interface FileRecord {
  fileId: string;
  /** The user's file name, for display only. */
  name: string;
  size: number;
  state: FileState;
  /** Why the file failed (stage, cloud and cause). */
  reason?: string;
  /** While `durable`: the clouds holding a verified replica of every chunk. */
  heldBy?: string[];
  /** Clouds whose staging area holds chunks of this file. */
  stagingClouds: string[];
  replicas: number;
  chunkSize: number;
  sha256?: string;
  /**
   * Which digest `sha256` is (shared/chunk-digest.ts), and the source's version as the ingest read
   * it (IngestSource.version): from `files.ingested` and `files.accepted`, once the orchestrator
   * projects them; until then absent, and `sha256` may be either kind.
   */
  digest?: FileDigestKind;
  sourceVersion?: string;
  /** Known once the whole source has been read. */
  chunkCount?: number;
  chunksIngested: number;
  chunksComplete: number;
  /** Bit i set once chunk i has all its replicas verified (base64). */
  completeBitmap: string;
  /** Work time per stage summed over complete chunks, in milliseconds. */
  stageMs: StageTimes;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  /** The file's trace: open it at `<jaeger>/trace/<traceId>`. */
  traceId?: string;
  /**
   * Set when the client encrypted the file before upload (`ferry ingest --encrypt`): then `size`,
   * `sha256` and every chunk are of the ciphertext, and this says how to decrypt it with the key.
   */
  encryption?: FileEncryption;
  /** How many of its dead letters were replayed (`ferry dead-letters replay`), and which (EVENTS sequences). */
  replays?: number;
  replayedLetters?: number[];
}

export interface ReplicaRecord extends ObjectLocation {
  verified: boolean;
  verifiedAt?: string;
}

export interface ChunkRecord {
  fileId: string;
  index: number;
  offset: number;
  size: number;
  sha256: string;
  staging: ObjectLocation[];
  replicas: ReplicaRecord[];
  stageMs: StageTimes;
  /** When the chunk was first processed: its first-choice clouds were asked then (shared/placement.ts). */
  processedAt?: string;
  /** Clouds asked to hold a replica after a first choice missed the placement deadline, and when. */
  failovers?: Array<{ cloud: string; at: string }>;
}

export const fileKey = (fileId: string): string => `file.${fileId}`;
export const chunkKey = (fileId: string, index: number): string => `chunk.${fileId}.${index}`;
export const emptyStageTimes = (): StageTimes => perStage(() => 0);

/**
 * What reading the manifest takes: a KV bucket, or a wrapper around one that retries through
 * reconnects (shared/nats/reliable.ts).
 */
export interface ManifestReader {
  get(key: string): Promise<KvEntry | null>;
  keys(filter?: string): Promise<AsyncIterable<string>>;
}

/** Opens the manifest bucket through a hub-domain JetStream client. */
export function openManifest(js: JetStreamClient): Promise<KV> {
  return new Kvm(js).open(MANIFEST_BUCKET);
}

/** Reads a JSON value, or undefined when the key is absent or deleted. */
export async function readJson<T>(
  kv: ManifestReader,
  key: string,
): Promise<{ value: T; revision: number } | undefined> {
  const e = await kv.get(key);
  if (e?.operation !== "PUT" || e.length === 0) return undefined;
  return { value: e.json<T>(), revision: e.revision };
}

export async function readFileRecord(kv: ManifestReader, fileId: string): Promise<FileRecord | undefined> {
  return (await readJson<FileRecord>(kv, fileKey(fileId)))?.value;
}

/** Every chunk record of a file in index order (reads `chunkCount` keys). */
export async function readChunkRecords(kv: ManifestReader, file: FileRecord): Promise<ChunkRecord[]> {
  const count = file.chunkCount ?? file.chunksIngested;
  const out: ChunkRecord[] = [];
  for (let i = 0; i < count; i++) {
    const c = await readJson<ChunkRecord>(kv, chunkKey(file.fileId, i));
    if (c) out.push(c.value);
  }
  return out;
}

/** Every file record (for status and the demo summary). */
export async function listFileRecords(kv: ManifestReader): Promise<FileRecord[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys("file.*")) keys.push(k);
  const files: FileRecord[] = [];
  for (const k of keys.sort()) {
    const r = await readJson<FileRecord>(kv, k);
    if (r) files.push(r.value);
  }
  return files;
}
