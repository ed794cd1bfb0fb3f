/**
 * The pipeline's invariants (README, "What survives what") as checks a drill runs once its faults
 * have stopped. Each returns human-readable violations: [] means the invariant holds. They read the
 * manifest, the streams and the stores directly, never a worker's word for it.
 */
import { createReadStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { StoredDeadLetter } from "../client/dead-letters.ts";
import { reassemble } from "../client/reassemble.ts";
import { replicaPrefix, stagingPrefix } from "../shared/chunk-keys.ts";
import { describeError } from "../shared/errors.ts";
import { hashStream } from "../shared/hashing.ts";
import { type FileRecord, readChunkRecords } from "../shared/manifest.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import {
  collectConsumerName,
  EVENTS_STREAM,
  FILES_STREAM,
  HUB_CONSUMERS,
  hubConsumerName,
  LEAF_CONSUMERS,
  leafStageStream,
  ORCHESTRATOR_CONSUMER,
} from "../shared/stream-names.ts";

/** A file a drill ingested: its id and the source it came from. */
export interface DrillFile {
  fileId: string;
  path: string;
}

export type FileRecords = Map<string, FileRecord | undefined>;

const label = (f: DrillFile): string => `${basename(f.path)} (${f.fileId})`;

/** Invariant 1: every acknowledged file ended complete. */
export function filesComplete(files: DrillFile[], records: FileRecords): string[] {
  const out: string[] = [];
  for (const f of files) {
    const r = records.get(f.fileId);
    if (!r) out.push(`${label(f)}: no file record in the manifest`);
    else if (r.state !== "complete") {
      out.push(
        `${label(f)}: ${r.state}, ${r.chunksComplete}/${r.chunkCount ?? "?"} chunks complete${r.reason ? `: ${r.reason}` : ""}`,
      );
    }
  }
  return out;
}

/** Invariant 3: each file, rebuilt from its verified replicas, has its source's exact SHA-256 and size. */
export async function readBackIdentical(
  kv: KV,
  stores: Map<string, BlobStore>,
  files: DrillFile[],
  outDir: string,
  preference: string[],
): Promise<string[]> {
  const out: string[] = [];
  await mkdir(outDir, { recursive: true });
  for (const f of files) {
    const back = join(outDir, `${f.fileId}.back`);
    try {
      const source = await hashStream(createReadStream(f.path));
      await reassemble(kv, stores, f.fileId, back, { preference });
      // Hash what landed on disk ourselves rather than trusting reassemble's own check.
      const got = await hashStream(createReadStream(back));
      if (got.sha256 !== source.sha256 || got.size !== source.size) {
        out.push(
          `${label(f)}: read back ${got.size} bytes with sha256 ${got.sha256}; the source has ${source.size} bytes with sha256 ${source.sha256}`,
        );
      }
    } catch (err) {
      out.push(`${label(f)}: cannot be read back: ${describeError(err)}`);
    } finally {
      await rm(back, { force: true });
    }
  }
  return out;
}

const REPLICA_NAME = /^(\d+)-([0-9a-f]{64})$/;

/**
 * Invariants 2 and 4: under `chunks/<fileId>/` every object's bytes hash to the SHA-256 in its key
 * (`<index>-<sha256>`), that is the manifest's hash for the chunk, no store holds a chunk twice, and
 * each chunk lives in exactly as many stores as the file wants replicas (all of them when R equals the
 * number of clouds). Every replica the manifest calls verified must be there.
 */
export async function replicasIntact(kv: KV, stores: Map<string, BlobStore>, files: FileRecord[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    if (file.chunkCount === undefined) {
      out.push(`${file.fileId}: chunk count unknown (never fully ingested); replicas not checked`);
      continue;
    }
    const chunks = await readChunkRecords(kv, file);
    if (chunks.length !== file.chunkCount)
      out.push(`${file.fileId}: the manifest has ${chunks.length} of ${file.chunkCount} chunk records`);
    const byIndex = new Map(chunks.map((c) => [c.index, c]));
    const holders = new Map<number, Set<string>>();
    for (const [cloud, store] of stores) {
      const prefix = replicaPrefix(file.fileId);
      for await (const obj of store.list(prefix)) {
        const where = `${cloud}:${obj.key}`;
        const m = REPLICA_NAME.exec(obj.key.slice(prefix.length));
        if (!m) {
          out.push(`${where}: not a <index>-<sha256> replica key`);
          continue;
        }
        const index = Number(m[1]);
        const sha = m[2] ?? "";
        const actual = (await hashStream(await store.get(obj.key))).sha256;
        if (actual !== sha)
          out.push(`${where}: its bytes hash to ${actual} (a partial or corrupt object under a final key)`);
        const chunk = byIndex.get(index);
        if (!chunk) out.push(`${where}: the file has no chunk ${index} (${file.chunkCount} chunks)`);
        else if (chunk.sha256 !== sha)
          out.push(`${where}: the manifest says chunk ${index} has sha256 ${chunk.sha256}`);
        const at = holders.get(index) ?? new Set<string>();
        if (at.has(cloud)) out.push(`${where}: a second object for chunk ${index} in the same store`);
        holders.set(index, at.add(cloud));
      }
    }
    const wanted = Math.min(file.replicas, stores.size);
    for (let i = 0; i < file.chunkCount; i++) {
      const at = holders.get(i) ?? new Set<string>();
      if (at.size !== wanted)
        out.push(
          `${file.fileId} chunk ${i}: replicas in ${at.size} store(s) [${[...at].join(", ")}], wanted ${wanted}`,
        );
      for (const r of byIndex.get(i)?.replicas ?? []) {
        if (r.verified && !at.has(r.cloud))
          out.push(
            `${file.fileId} chunk ${i}: the manifest has a verified replica ${r.cloud}:${r.key} that is not in the store`,
          );
      }
    }
  }
  return out;
}

/** Invariant 5: no staging object is left behind for these files in any store. */
export async function stagingEmpty(stores: Map<string, BlobStore>, fileIds: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const [cloud, store] of stores) {
    for (const id of fileIds) {
      for await (const obj of store.list(stagingPrefix(id)))
        out.push(`${cloud}:${obj.key}: staging object left behind (${obj.size} bytes)`);
    }
  }
  return out;
}

/**
 * Invariant 1, the other way round: none of these files failed, and no dead letter names one of them
 * (even a file that completed: a dead letter is an alarm someone must look at). Dead letters that name
 * no file are reported too, since nothing else can account for them. Read them with listDeadLetters.
 */
export function noDeadLetters(files: DrillFile[], records: FileRecords, letters: StoredDeadLetter[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const r = records.get(f.fileId);
    if (r?.state === "failed") out.push(`${label(f)}: failed: ${r.reason ?? "no reason recorded"}`);
  }
  const ids = new Set(files.map((f) => f.fileId));
  for (const d of letters) {
    if (d.fileId !== undefined && !ids.has(d.fileId)) continue;
    const what =
      d.fileId === undefined
        ? "a message naming no file"
        : `file ${d.fileId}${d.index === undefined ? "" : ` chunk ${d.index}`}`;
    out.push(`${d.stage}@${d.cloud}: ${what}, ${d.stream} #${d.streamSeq} delivery ${d.deliveryCount}: ${d.reason}`);
  }
  return out;
}

/** One durable consumer's backlog. */
export interface ConsumerState {
  /** `<domain>/<stream>/<consumer>` */
  where: string;
  pending: number;
  ackPending: number;
}

export interface PipelineState {
  consumers: ConsumerState[];
  /** How far the hub's EVENTS stream is behind each cloud stream it sources. */
  sourceLag: Array<{ source: string; lag: number }>;
}

/** Reads every consumer of the pipeline: the hub's (ingest, orchestrator) and each cloud's stages. */
export async function readPipelineState(
  hub: { domain: string; jsm: JetStreamManager },
  leaves: Map<string, JetStreamManager>,
): Promise<PipelineState> {
  const consumers: ConsumerState[] = [];
  const read = async (domain: string, jsm: JetStreamManager, stream: string, name: string) => {
    const ci = await jsm.consumers.info(stream, name);
    consumers.push({ where: `${domain}/${stream}/${name}`, pending: ci.num_pending, ackPending: ci.num_ack_pending });
  };
  for (const stage of HUB_CONSUMERS)
    for (const cloud of leaves.keys()) await read(hub.domain, hub.jsm, FILES_STREAM, hubConsumerName(stage, cloud));
  for (const cloud of leaves.keys()) await read(hub.domain, hub.jsm, FILES_STREAM, collectConsumerName(cloud));
  await read(hub.domain, hub.jsm, EVENTS_STREAM, ORCHESTRATOR_CONSUMER);
  for (const [cloud, jsm] of leaves) {
    for (const c of LEAF_CONSUMERS) await read(cloud, jsm, leafStageStream(c.stage, cloud), c.stage);
  }
  const events = await hub.jsm.streams.info(EVENTS_STREAM);
  const sourceLag = (events.sources ?? []).map((s) => ({ source: s.name, lag: s.lag }));
  return { consumers, sourceLag };
}

/** Invariant 5: every consumer has caught up and acknowledged everything; the hub has every event. */
export function pipelineDrained(s: PipelineState): string[] {
  const out: string[] = [];
  for (const c of s.consumers) {
    if (c.pending > 0 || c.ackPending > 0) out.push(`${c.where}: ${c.pending} pending, ${c.ackPending} unacknowledged`);
  }
  for (const l of s.sourceLag) if (l.lag > 0) out.push(`hub ${EVENTS_STREAM} is ${l.lag} event(s) behind ${l.source}`);
  return out;
}
