/**
 * One scrub pass: for every verified replica it covers, a `chunks.processed` event naming that one
 * cloud, marked with the pass and the chunk's verified replicas elsewhere as sources. The cloud's
 * place worker finds the replica there (or writes it again from a source when it is gone), and its
 * verify worker reads it back and checks its SHA-256 (deleting and replacing a corrupt one), as for
 * a new chunk. The events go out no faster than the pass's rate in chunk bytes per second.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { publishTraced } from "../observability/message-spans.ts";
import { type ChunkProcessed, encodeEvent } from "../shared/events.ts";
import {
  type ChunkRecord,
  chunkKey,
  type FileRecord,
  listFileRecords,
  readChunkRecords,
  readFileRecord,
  readJson,
} from "../shared/manifest.ts";
import type { ScrubRequest } from "../shared/scrub.ts";
import { takesOf } from "../shared/stages.ts";
import { chunkSubject, msgId } from "../shared/subjects.ts";

/** A replica to check: the file, the chunk, and the cloud holding the replica. */
export interface ScrubItem {
  file: FileRecord;
  chunk: ChunkRecord;
  cloud: string;
}

/** Files whose replicas a pass reads: those with every chunk placed and verified somewhere. */
const SCRUBBED_STATES: ReadonlySet<FileRecord["state"]> = new Set(["complete", "durable"]);

/** The replicas `req` covers, file by file, in manifest order. */
export async function* scrubItems(kv: KV, req: ScrubRequest): AsyncGenerator<ScrubItem> {
  if (req.replica) {
    const { fileId, index, cloud } = req.replica;
    const file = await readFileRecord(kv, fileId);
    const chunk = (await readJson<ChunkRecord>(kv, chunkKey(fileId, index)))?.value;
    if (file && chunk && isVerifiedIn(chunk, cloud)) yield { file, chunk, cloud };
    return;
  }
  const files = req.fileIds
    ? (await Promise.all(req.fileIds.map((id) => readFileRecord(kv, id)))).filter((f) => f !== undefined)
    : await listFileRecords(kv);
  for (const file of files) {
    if (!SCRUBBED_STATES.has(file.state)) continue;
    for (const chunk of await readChunkRecords(kv, file))
      for (const r of chunk.replicas) if (r.verified) yield { file, chunk, cloud: r.cloud };
  }
}

const isVerifiedIn = (chunk: ChunkRecord, cloud: string): boolean =>
  chunk.replicas.some((r) => r.cloud === cloud && r.verified);

/** The event that has `item.cloud` check its replica; undefined for a chunk with no staging record to name. */
export function scrubEvent(item: ScrubItem, pass: string, workerId: string): ChunkProcessed | undefined {
  const { file, chunk, cloud } = item;
  const staging = chunk.staging[0];
  if (!staging) return undefined;
  const sources = chunk.replicas
    .filter((r) => r.verified && r.cloud !== cloud)
    .map(({ cloud: c, store, bucket, key }) => ({ cloud: c, store, bucket, key }));
  return {
    cloud,
    worker: workerId,
    at: new Date().toISOString(),
    durationMs: 0,
    fileId: chunk.fileId,
    index: chunk.index,
    offset: chunk.offset,
    size: chunk.size,
    sha256: chunk.sha256,
    staging,
    replicas: file.replicas,
    repairs: 0,
    targets: [cloud],
    scrub: { pass, sources },
  };
}

export interface PublishScrubOptions {
  hubJs: JetStreamClient;
  workerId: string;
  pass: string;
  rateBytesPerSec: number;
  signal: AbortSignal;
  /** Throws unless this orchestrator still holds the lease. */
  assertActive: (what: string) => void;
}

/** Publishes a pass's events, paced to the rate; returns how many replicas and bytes it asked for. */
export async function publishScrub(
  o: PublishScrubOptions,
  items: AsyncIterable<ScrubItem> | Iterable<ScrubItem>,
): Promise<{ replicas: number; bytes: number }> {
  const started = Date.now();
  let replicas = 0;
  let bytes = 0;
  for await (const item of items) {
    if (o.signal.aborted) break;
    const event = scrubEvent(item, o.pass, o.workerId);
    if (!event) continue;
    o.assertActive(`scrubbing chunk ${event.index} of file ${event.fileId} in ${item.cloud}`);
    await publishTraced(o.hubJs, chunkSubject(takesOf("place"), item.cloud), encodeEvent(event), {
      msgID: msgId(event.fileId, event.index, "scrub", o.pass, item.cloud),
    });
    replicas++;
    bytes += event.size;
    // Ahead of the rate: wait until the bytes asked for so far are due.
    const aheadMs = (bytes / o.rateBytesPerSec) * 1000 - (Date.now() - started);
    if (aheadMs > 0) await sleep(aheadMs, undefined, { signal: o.signal }).catch(() => undefined);
  }
  return { replicas, bytes };
}
