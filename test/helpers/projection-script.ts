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
const SIZE = 1000;

interface ScriptOptions {
  fileId: string;
  chunks: number;
  clouds: string[];
  replicas: number;
}

/**
 * Makes the events of one file as its own cloud (the first of `clouds`) publishes them, each later
 * than the one before. Durations are distinct per stage, chunk and replica, so sums can be checked exactly:
 * ingest 10+i, process 20+i, place 30+10r+i and verify 40+5r+i for chunk i and replica r.
 */
class EventMaker {
  readonly #o: ScriptOptions;
  readonly home: string;
  #clock = 0;

  constructor(o: ScriptOptions) {
    this.#o = o;
    this.home = o.clouds[0] ?? "aws";
  }

  fileAccepted(): ScriptEvent {
    const { fileId, chunks, replicas } = this.#o;
    const e = { ...this.#meta(1), fileId, name: "train.jsonl", size: chunks * SIZE, chunkSize: SIZE, replicas };
    return { kind: "files.accepted", e };
  }

  fileIngested(): ScriptEvent {
    const { fileId, chunks } = this.#o;
    const e = {
      ...this.#meta(99),
      fileId,
      name: "train.jsonl",
      size: chunks * SIZE,
      sha256: "whole",
      chunkCount: chunks,
    };
    return { kind: "files.ingested", e };
  }

  chunkIngested(i: number): ScriptEvent {
    const e = {
      ...this.#meta(10 + i),
      ...this.#ref(i),
      staging: this.staging(i),
      transforms: [],
      replicas: this.#o.replicas,
    };
    return { kind: "chunks.ingested", e };
  }

  /** Chunk i processed, then placed on each target, then verified on each. */
  chunkPlaced(i: number): ScriptEvent[] {
    const { replicas } = this.#o;
    const targets = this.#o.clouds.slice(0, replicas);
    const common = { ...this.#ref(i), staging: this.staging(i), replicas, repairs: 0 };
    return [
      { kind: "chunks.processed", e: { ...this.#meta(20 + i), ...common } },
      ...targets.map((c, r): ScriptEvent => {
        return {
          kind: "chunks.placed",
          e: { ...this.#meta(30 + 10 * r + i), ...common, replica: this.#replica(i, c) },
        };
      }),
      ...targets.map((c, r): ScriptEvent => {
        return {
          kind: "chunks.verified",
          e: { ...this.#meta(40 + 5 * r + i), ...this.#ref(i), replica: this.#replica(i, c) },
        };
      }),
    ];
  }

  staging(index: number, cloud = this.home): ObjectLocation {
    return { cloud, store: "fs", bucket: cloud, key: `staging/${this.#o.fileId}/${index}` };
  }

  #replica(index: number, cloud: string): ObjectLocation {
    return { cloud, store: "fs", bucket: cloud, key: `chunks/${this.#o.fileId}/${index}-sha-${index}` };
  }

  #ref(index: number) {
    return { fileId: this.#o.fileId, index, offset: index * SIZE, size: SIZE, sha256: `sha-${index}` };
  }

  #meta(durationMs: number) {
    const at = new Date(BASE + ++this.#clock * 1000).toISOString();
    return { cloud: this.home, worker: `w-${this.home}`, at, durationMs };
  }
}

/** The manifest's stage times for the durations EventMaker gives: per chunk the slowest replica, summed. */
function expectedStageMs(chunks: number, replicas: number): StageTimes {
  const last = replicas - 1;
  const t: StageTimes = { ingest: 0, process: 0, place: 0, verify: 0 };
  for (let i = 0; i < chunks; i++) {
    t.ingest += 10 + i;
    t.process += 20 + i;
    t.place += 30 + 10 * last + i;
    t.verify += 40 + 5 * last + i;
  }
  return t;
}

/**
 * A clean run of a file of `chunks` chunks, ingested by the first of `clouds` and placed on the first
 * `replicas` of them.
 */
export function fileScript(o: ScriptOptions): FileScript {
  const make = new EventMaker(o);
  const indexes = Array.from({ length: o.chunks }, (_, i) => i);
  const accepted = make.fileAccepted();
  const ingested = indexes.map((i) => make.chunkIngested(i));
  const fileIngested = make.fileIngested();
  const rest = indexes.map((i) => make.chunkPlaced(i));
  return {
    fileId: o.fileId,
    events: [accepted, ...ingested, fileIngested, ...rest.flat()],
    chunkEvents: rest.map((r, i) => [ingested[i] as ScriptEvent, ...r]),
    stageMs: expectedStageMs(o.chunks, Math.min(o.replicas, o.clouds.length)),
    staging: (index, cloud) => make.staging(index, cloud),
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
