import type { JsMsg } from "@nats-io/jetstream";
import { ATTR_CHUNK_INDEX, ATTR_FILE_ID, SPAN_PLACE_REPLICA } from "../../observability/semconv.ts";
import { withSpan } from "../../observability/spans.ts";
import { objectAttributes } from "../../observability/traced-store.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import { ObjectExistsError, StoreUnavailableError } from "../../shared/errors.ts";
import { parseChunkEvent, type ChunkPlaced, type ChunkProcessed } from "../../shared/events.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { chunkSubject, msgId } from "../../shared/subjects.ts";
import { meta, publishEvent, storeOf, type WorkerContext } from "../../shared/worker/context.ts";
import { chooseTargets } from "./targets.ts";

/**
 * Handles `chunks.processed.<cloud>`: copies the chunk into each target cloud's store under a
 * content-derived key, create-only and checked against the chunk's SHA-256, then announces each
 * replica on `chunks.placed.<cloud>`. A replica already there is not written again.
 */
export function createPlaceHandler(ctx: WorkerContext) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<void> => {
    const ev = parseChunkEvent<ChunkProcessed>(msg.data, "chunks.processed event", ["staging"]);
    const clouds = ctx.topology.clouds.map((c) => c.name);
    const targets = chooseTargets(clouds, ctx.cloud, ev.replicas ?? ctx.topology.replicas);
    const results = await Promise.allSettled(targets.map((t) => placeReplica(ctx, ev, t, signal)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  };
}

/** One span per replica, naming the target cloud's store and key. */
async function placeReplica(ctx: WorkerContext, ev: ChunkProcessed, target: string, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const store = storeOf(ctx, target);
  const key = replicaKey(ev.fileId, ev.index, ev.sha256);
  const attributes = { ...objectAttributes(store, key), [ATTR_FILE_ID]: ev.fileId, [ATTR_CHUNK_INDEX]: ev.index };
  await withSpan(SPAN_PLACE_REPLICA, attributes, async () => {
    const log = ctx.log.child({ fileId: ev.fileId, index: ev.index, target });
    if (await ensureCopied(ctx, ev, store, key, signal)) log.info({ bytes: ev.size, durationMs: Date.now() - started, to: `${target}:${key}` }, "replica written");
    else log.debug({ to: `${target}:${key}` }, "replica already there");
    const placed: ChunkPlaced = {
      ...meta(ctx, started),
      fileId: ev.fileId, index: ev.index, offset: ev.offset, size: ev.size, sha256: ev.sha256,
      replica: { cloud: target, store: store.kind, bucket: store.bucket, key },
      staging: ev.staging, replicas: ev.replicas, repairs: ev.repairs ?? 0,
    };
    await publishEvent(ctx, chunkSubject("placed", ctx.cloud), placed, msgId(ev.fileId, ev.index, "placed", target, ctx.cloud, placed.repairs));
  });
}

/**
 * Writes the replica unless an object of the right size is already there (verify checks its bytes).
 * True when this call wrote it.
 */
async function ensureCopied(ctx: WorkerContext, ev: ChunkProcessed, store: BlobStore, key: string, signal: AbortSignal): Promise<boolean> {
  const existing = await store.head(key, { signal });
  if (existing && existing.size === ev.size) return false;
  if (existing) {
    // A wrong-sized object under a content-derived key can only be damage: remove it and copy again.
    await store.delete(key, { signal });
    throw new StoreUnavailableError(`replica ${store.cloud}:${key} had ${existing.size} bytes instead of ${ev.size}; removed, will copy again`);
  }
  const source = await storeOf(ctx, ev.staging.cloud).get(ev.staging.key, { signal });
  try {
    await store.put(key, source, { expectedSha256: ev.sha256, signal });
    return true;
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err; // a racing writer got there first: same content-derived key
    return false;
  }
}
