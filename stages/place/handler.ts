import { Readable } from "node:stream";
import type { JsMsg } from "@nats-io/jetstream";
import { ATTR_CHUNK_INDEX, ATTR_FILE_ID, SPAN_PLACE_REPLICA } from "../../observability/semconv.ts";
import { withSpan } from "../../observability/spans.ts";
import { objectAttributes } from "../../observability/traced-store.ts";
import { meta, publishEvent, storeOf, type WorkerContext } from "../../runtime/context.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import { ObjectExistsError, ObjectNotFoundError, StoreUnavailableError } from "../../shared/errors.ts";
import { type ChunkPlaced, type ChunkProcessed, parseChunkEvent } from "../../shared/events.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { chunkSubject, msgId } from "../../shared/subjects.ts";
import { isLateDelivery } from "../finished-file.ts";
import { chooseTargets } from "./targets.ts";

/** Chunks up to this size are read from staging once and written to every target from memory. */
const READ_ONCE_MAX_BYTES = 64 * 1024 * 1024;

/** The staged chunk's bytes for each target: one read shared by all targets, or a stream each for huge chunks. */
type StagedBytes = () => Promise<Readable>;

/**
 * Handles `chunks.processed.<cloud>`: copies the chunk into each target cloud's store under a
 * content-derived key, create-only and checked against the chunk's SHA-256, then announces each
 * replica on `chunks.placed.<cloud>`. A replica already there is not written again. The staged
 * chunk is read once for all targets (it is at most a chunk, 8 MiB by default).
 */
export function createPlaceHandler(ctx: WorkerContext) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<void> => {
    const ev = parseChunkEvent<ChunkProcessed>(msg.data, "chunks.processed event", ["staging"]);
    const clouds = ctx.topology.clouds.map((c) => c.name);
    const targets = chooseTargets(clouds, ctx.cloud, ev.replicas ?? ctx.topology.replicas);
    const staged = stagedBytes(ctx, ev, signal);
    const results = await Promise.allSettled(targets.map((t) => placeReplica(ctx, ev, t, staged, signal)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failed) return;
    // Only the staged chunk's read reports not-found; after the file completed that is a late delivery.
    if (failed.reason instanceof ObjectNotFoundError && (await isLateDelivery(ctx, ev))) return;
    throw failed.reason;
  };
}

/** One span per replica, naming the target cloud's store and key. */
async function placeReplica(
  ctx: WorkerContext,
  ev: ChunkProcessed,
  target: string,
  staged: StagedBytes,
  signal: AbortSignal,
): Promise<void> {
  const started = Date.now();
  const store = storeOf(ctx, target);
  const key = replicaKey(ev.fileId, ev.index, ev.sha256);
  const attributes = { ...objectAttributes(store, key), [ATTR_FILE_ID]: ev.fileId, [ATTR_CHUNK_INDEX]: ev.index };
  await withSpan(SPAN_PLACE_REPLICA, attributes, async () => {
    const log = ctx.log.child({ fileId: ev.fileId, index: ev.index, target });
    if (await ensureCopied(ev, store, key, staged, signal))
      log.info({ bytes: ev.size, durationMs: Date.now() - started, to: `${target}:${key}` }, "replica written");
    else log.debug({ to: `${target}:${key}` }, "replica already there");
    const placed: ChunkPlaced = {
      ...meta(ctx, started),
      fileId: ev.fileId,
      index: ev.index,
      offset: ev.offset,
      size: ev.size,
      sha256: ev.sha256,
      replica: { cloud: target, store: store.kind, bucket: store.bucket, key },
      staging: ev.staging,
      replicas: ev.replicas,
      repairs: ev.repairs ?? 0,
    };
    await publishEvent(
      ctx,
      chunkSubject("placed", ctx.cloud),
      placed,
      msgId(ev.fileId, ev.index, "placed", target, ctx.cloud, placed.repairs),
    );
  });
}

/**
 * Writes the replica unless an object of the right size is already there (verify checks its bytes).
 * True when this call wrote it.
 */
async function ensureCopied(
  ev: ChunkProcessed,
  store: BlobStore,
  key: string,
  staged: StagedBytes,
  signal: AbortSignal,
): Promise<boolean> {
  const existing = await store.head(key, { signal });
  if (existing && existing.size === ev.size) return false;
  if (existing) {
    // A wrong-sized object under a content-derived key can only be damage: remove it and copy again.
    await store.delete(key, { signal });
    throw new StoreUnavailableError(
      `replica ${store.cloud}:${key} had ${existing.size} bytes instead of ${ev.size}; removed, will copy again`,
    );
  }
  try {
    await store.put(key, await staged(), { expectedSha256: ev.sha256, signal });
    return true;
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err; // a racing writer got there first: same content-derived key
    return false;
  }
}

/**
 * The staged chunk for the targets that need it: read into memory on first use and shared, or, for
 * a chunk larger than READ_ONCE_MAX_BYTES, streamed afresh per target. Every put checks the bytes
 * against the chunk's SHA-256, so a bad read is never published.
 */
function stagedBytes(ctx: WorkerContext, ev: ChunkProcessed, signal: AbortSignal): StagedBytes {
  const read = () => storeOf(ctx, ev.staging.cloud).get(ev.staging.key, { signal });
  if (ev.size > READ_ONCE_MAX_BYTES) return read;
  let bytes: Promise<Buffer> | undefined;
  return async () => {
    bytes ??= read().then(async (stream) => {
      const parts: Buffer[] = [];
      for await (const part of stream) parts.push(Buffer.from(part as Uint8Array));
      return Buffer.concat(parts);
    });
    const buf = await bytes;
    return Readable.from(buf.length > 0 ? [buf] : []);
  };
}
