import type { JsMsg } from "@nats-io/jetstream";
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

async function placeReplica(ctx: WorkerContext, ev: ChunkProcessed, target: string, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const store = storeOf(ctx, target);
  const key = replicaKey(ev.fileId, ev.index, ev.sha256);
  await ensureCopied(ctx, ev, store, key, signal);
  const placed: ChunkPlaced = {
    ...meta(ctx, started),
    fileId: ev.fileId, index: ev.index, offset: ev.offset, size: ev.size, sha256: ev.sha256,
    replica: { cloud: target, store: store.kind, bucket: store.bucket, key },
    staging: ev.staging, replicas: ev.replicas, repairs: ev.repairs ?? 0,
  };
  await publishEvent(ctx, chunkSubject("placed", ctx.cloud), placed, msgId(ev.fileId, ev.index, "placed", target, ctx.cloud, placed.repairs));
}

/** Writes the replica unless an object of the right size is already there (verify checks its bytes). */
async function ensureCopied(ctx: WorkerContext, ev: ChunkProcessed, store: BlobStore, key: string, signal: AbortSignal): Promise<void> {
  const existing = await store.head(key, { signal });
  if (existing && existing.size === ev.size) return;
  if (existing) {
    // A wrong-sized object under a content-derived key can only be damage: remove it and copy again.
    await store.delete(key, { signal });
    throw new StoreUnavailableError(`replica ${store.cloud}:${key} had ${existing.size} bytes instead of ${ev.size}; removed, will copy again`);
  }
  const source = await storeOf(ctx, ev.staging.cloud).get(ev.staging.key, { signal });
  try {
    await store.put(key, source, { expectedSha256: ev.sha256, signal });
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err; // a racing writer got there first: same content-derived key
  }
}
