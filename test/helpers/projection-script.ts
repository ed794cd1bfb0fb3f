/**
 * The events of one file's run, built the way the stage workers build them, to feed the projection
 * (orchestrator/projection.ts) directly, in any order and as often as a test likes.
 */
import type { KV } from "@nats-io/kv";
import * as project from "../../orchestrator/projection.ts";
import type {
  ChunkIngested,
  ChunkPlaced,
  ChunkProcessed,
  ChunkVerified,
  DeadLetter,
  FileAccepted,
  FileIngested,
} from "../../shared/events.ts";
import { type ChunkRecord, type FileRecord, readJson, type StageTimes } from "../../shared/manifest.ts";
import type { ObjectLocation } from "../../shared/stores/types.ts";

export type ScriptEvent =
  | { kind: "files.accepted"; e: FileAccepted }
  | { kind: "files.ingested"; e: FileIngested }
  | { kind: "chunks.ingested"; e: ChunkIngested }
  | { kind: "chunks.processed"; e: ChunkProcessed }
  | { kind: "chunks.placed"; e: ChunkPlaced }
  | { kind: "chunks.verified"; e: ChunkVerified }
  | { kind: "deadletter"; e: DeadLetter };

/** Applies one event as the orchestrator's dispatch does. */
export function applyEvent(p: project.Projection, s: ScriptEvent): Promise<project.NextStep> {
  switch (s.kind) {
    case "files.accepted":
      return project.onFileAccepted(p, s.e);
    case "files.ingested":
      return project.onFileIngested(p, s.e);
    case "chunks.ingested":
      return project.onChunkIngested(p, s.e);
    case "chunks.processed":
      return project.onChunkProcessed(p, s.e);
    case "chunks.placed":
      return project.onChunkPlaced(p, s.e);
    case "chunks.verified":
      return project.onChunkVerified(p, s.e);
    case "deadletter":
      return project.onDeadLetter(p, s.e);
  }
}

/** Applies events one after the other and returns what each asked for. */
export async function applyAll(p: project.Projection, events: ScriptEvent[]): Promise<project.NextStep[]> {
  const out: project.NextStep[] = [];
  for (const s of events) out.push(await applyEvent(p, s));
  return out;
}

export interface FileScript {
  fileId: string;
  /** Every event of a clean run, in the order the home cloud publishes them. */
  events: ScriptEvent[];
  /** The events of chunk i alone, in their order (ingested, processed, placed..., verified...). */
  chunkEvents: ScriptEvent[][];
  /** What the manifest's stage times must add up to: per chunk the longest replica, summed. */
  stageMs: StageTimes;
  staging(index: number, cloud?: string): ObjectLocation;
}

const BASE = Date.parse("2030-01-01T00:00:00.000Z");

/**
 * A clean run of a file of `chunks` chunks, ingested by `home` and placed on the first `replicas` of
 * `clouds` (home first). Each event has its own distinct duration, so sums can be checked exactly.
 */
export function fileScript(o: { fileId: string; chunks: number; clouds: string[]; replicas: number }): FileScript {
  const [home = "aws"] = o.clouds;
  const size = 1000;
  let clock = 0;
  const meta = (cloud: string, durationMs: number) => ({
    cloud,
    worker: `w-${cloud}`,
    at: new Date(BASE + ++clock * 1000).toISOString(),
    durationMs,
  });
  const staging = (index: number, cloud = home): ObjectLocation => ({
    cloud,
    store: "fs",
    bucket: cloud,
    key: `staging/${o.fileId}/${index}`,
  });
  const ref = (index: number) => ({ fileId: o.fileId, index, offset: index * size, size, sha256: `sha-${index}` });
  const targets = o.clouds.slice(0, o.replicas);
  const replica = (index: number, cloud: string): ObjectLocation => ({
    cloud,
    store: "fs",
    bucket: cloud,
    key: `chunks/${o.fileId}/${index}-sha-${index}`,
  });
  const accepted: ScriptEvent = {
    kind: "files.accepted",
    e: {
      ...meta(home, 1),
      fileId: o.fileId,
      name: "train.jsonl",
      size: o.chunks * size,
      chunkSize: size,
      replicas: o.replicas,
    },
  };
  const ingested = Array.from({ length: o.chunks }, (_, i): ScriptEvent => {
    const e = { ...meta(home, 10 + i), ...ref(i), staging: staging(i), transforms: [], replicas: o.replicas };
    return { kind: "chunks.ingested", e };
  });
  const fileIngested: ScriptEvent = {
    kind: "files.ingested",
    e: {
      ...meta(home, 99),
      fileId: o.fileId,
      name: "train.jsonl",
      size: o.chunks * size,
      sha256: "whole",
      chunkCount: o.chunks,
    },
  };
  const rest = Array.from({ length: o.chunks }, (_, i): ScriptEvent[] => [
    {
      kind: "chunks.processed",
      e: { ...meta(home, 20 + i), ...ref(i), staging: staging(i), replicas: o.replicas, repairs: 0 },
    },
    ...targets.map((c, r): ScriptEvent => {
      const e = {
        ...meta(home, 30 + 10 * r + i),
        ...ref(i),
        replica: replica(i, c),
        staging: staging(i),
        replicas: o.replicas,
        repairs: 0,
      };
      return { kind: "chunks.placed", e };
    }),
    ...targets.map((c, r): ScriptEvent => {
      return { kind: "chunks.verified", e: { ...meta(home, 40 + 5 * r + i), ...ref(i), replica: replica(i, c) } };
    }),
  ]);
  const last = targets.length - 1;
  const stageMs: StageTimes = { ingest: 0, process: 0, place: 0, verify: 0 };
  for (let i = 0; i < o.chunks; i++) {
    stageMs.ingest += 10 + i;
    stageMs.process += 20 + i;
    stageMs.place += 30 + 10 * last + i;
    stageMs.verify += 40 + 5 * last + i;
  }
  return {
    fileId: o.fileId,
    events: [accepted, ...ingested, fileIngested, ...rest.flat()],
    chunkEvents: rest.map((r, i) => [ingested[i] as ScriptEvent, ...r]),
    stageMs,
    staging,
  };
}

/** A dead letter of `stage` on `cloud` for the file (and chunk), as a worker publishes it. */
export function deadLetter(o: {
  fileId?: string;
  index?: number;
  stage: string;
  cloud: string;
  reason: string;
}): ScriptEvent {
  const e: DeadLetter = {
    cloud: o.cloud,
    worker: `w-${o.cloud}`,
    at: new Date(BASE + 999_000).toISOString(),
    durationMs: 0,
    stage: o.stage,
    reason: o.reason,
    error: `PoisonMessageError: ${o.reason}`,
    subject: `chunks.ingested.${o.cloud}`,
    stream: `CLOUD_${o.cloud.toUpperCase()}`,
    streamSeq: 7,
    deliveryCount: 1,
    ...(o.fileId === undefined ? {} : { fileId: o.fileId }),
    ...(o.index === undefined ? {} : { index: o.index }),
    payload: "{}",
  };
  return { kind: "deadletter", e };
}

/** Every manifest key of a file with its value and revision. */
export interface Snapshot {
  file: FileRecord | undefined;
  chunks: ChunkRecord[];
  revisions: Record<string, number>;
}

export async function snapshot(kv: KV, fileId: string): Promise<Snapshot> {
  const keys: string[] = [];
  for await (const k of await kv.keys([`file.${fileId}`, `chunk.${fileId}.*`])) keys.push(k);
  const revisions: Record<string, number> = {};
  let file: FileRecord | undefined;
  const chunks: ChunkRecord[] = [];
  for (const key of keys.sort()) {
    const r = await readJson<FileRecord & ChunkRecord>(kv, key);
    if (!r) continue;
    revisions[key] = r.revision;
    if (key.startsWith("file.")) file = r.value;
    else chunks.push(r.value);
  }
  chunks.sort((a, b) => a.index - b.index);
  return { file, chunks, revisions };
}

/**
 * The records without what legitimately depends on arrival order: when the record was created (the
 * first event seen) and the order of lists that are sets (replicas, staging clouds).
 */
export function normalised(s: Snapshot): unknown {
  const byCloud = <T extends { cloud: string }>(l: T[]) => [...l].sort((a, b) => a.cloud.localeCompare(b.cloud));
  const { createdAt: _created, ...file } = s.file ?? ({} as FileRecord);
  return {
    file: { ...file, stagingClouds: [...(file.stagingClouds ?? [])].sort() },
    chunks: s.chunks.map((c) => ({ ...c, replicas: byCloud(c.replicas), staging: byCloud(c.staging) })),
  };
}
