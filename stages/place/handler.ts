import { Readable } from "node:stream";
import type { JsMsg } from "@nats-io/jetstream";
import { ATTR_CHUNK_INDEX, ATTR_FILE_ID, SPAN_PLACE_REPLICA } from "../../observability/semconv.ts";
import { withSpan } from "../../observability/spans.ts";
import { objectAttributes } from "../../observability/traced-store.ts";
import { SKIPPED } from "../../runtime/consume-loop.ts";
import { cloudNames, meta, publishEvent, storeOf, type WorkerContext } from "../../runtime/context.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import {
  ChecksumMismatchError,
  describeError,
  ObjectExistsError,
  ObjectNotFoundError,
  PoisonMessageError,
  StoreUnavailableError,
  UntrustedEventError,
} from "../../shared/errors.ts";
import { checkChunkOptions, checkScrubMark, checkStaging } from "../../shared/event-checks.ts";
import {
  type ChunkPlaced,
  type ChunkProcessed,
  chunkRefOf,
  parseChunkEvent,
  scrubPassOf,
} from "../../shared/events.ts";
import { hashStream } from "../../shared/hashing.ts";
import { type ChunkRecord, chunkKey, readJson } from "../../shared/manifest.ts";
import { GatewayObjects } from "../../shared/object-urls/gateway-objects.ts";
import { chooseTargets } from "../../shared/placement.ts";
import type { BlobStore, ObjectLocation } from "../../shared/stores/types.ts";
import { chunkSubject, msgId } from "../../shared/subjects.ts";
import { assertKnownChunk, isLateDelivery } from "../finished-file.ts";
import { hubManifest } from "../hub-manifest.ts";

/**
 * Handles `chunks.processed.<cloud>` of every cloud (this cloud's WORK stream): when this cloud is
 * one of the chunk's targets, copies the staged chunk into this cloud's own store under a
 * content-derived key, create-only and checked against the chunk's SHA-256, then announces the
 * replica on `chunks.placed.<this cloud>`; otherwise acknowledges and does nothing. A replica
 * already there is not written again. A chunk staged in another cloud crosses that link once.
 */
export function createPlaceHandler(ctx: WorkerContext) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<typeof SKIPPED | undefined> => {
    const what = "chunks.processed event";
    const ev = parseChunkEvent<ChunkProcessed>(msg.data, what, ["staging"]);
    checkStaging(ev, what, cloudNames(ctx));
    checkChunkOptions(ev as never, what, cloudNames(ctx));
    // A scrub event names the one cloud whose replica it checks; every cloud's place workers see it.
    checkScrubMark(ev as never, what, cloudNames(ctx), ev.targets?.length === 1 ? ev.targets[0] : undefined);
    if (!targetsOf(ctx, ev).includes(ctx.cloud)) return SKIPPED;
    if (await replacedElsewhere(ctx, ev)) return SKIPPED;
    try {
      await placeReplica(ctx, ev, signal);
    } catch (err) {
      // Only the staged chunk's read reports not-found; after the file completed that is a late
      // delivery, and for a chunk no ingest announced, a forged event.
      if (!(err instanceof ObjectNotFoundError)) throw err;
      if (ev.scrub) throw new PoisonMessageError(`no good copy left to repair it from: ${describeError(err)}`);
      if (await isLateDelivery(ctx, ev)) return;
      await assertKnownChunk(ctx, ev, what);
      throw err;
    }
  };
}

/** The clouds that hold the chunk's replicas: the event's own list (a repair), else chosen from the staging cloud. */
function targetsOf(ctx: WorkerContext, ev: ChunkProcessed): string[] {
  if (ev.targets) return ev.targets;
  const clouds = ctx.topology.clouds.map((c) => c.name);
  return chooseTargets(clouds, ev.staging.cloud, ev.replicas ?? ctx.topology.replicas);
}

/**
 * Whether this cloud, a first choice that kept the chunk past the placement deadline (it was gone,
 * its store silent), finds the chunk's replicas already verified on other clouds: the orchestrator
 * handed them over (orchestrator/placement-watch.ts), and one more copy is not wanted. Only an event
 * that old pays for the manifest read.
 */
async function replacedElsewhere(ctx: WorkerContext, ev: ChunkProcessed): Promise<boolean> {
  if (ev.targets || Date.now() - Date.parse(ev.at) < ctx.topology.placementDeadlineMs) return false;
  const chunk = (await readJson<ChunkRecord>(await hubManifest(ctx), chunkKey(ev.fileId, ev.index)))?.value;
  const elsewhere = chunk?.replicas.filter((r) => r.verified && r.cloud !== ctx.cloud).length ?? 0;
  if (elsewhere < ev.replicas) return false;
  ctx.log
    .child({ fileId: ev.fileId, index: ev.index })
    .info({ elsewhere }, "chunk already has its replicas on other clouds (placement failover); not copied here");
  return true;
}

/** One span per replica, naming the target cloud's store and key. */
async function placeReplica(ctx: WorkerContext, ev: ChunkProcessed, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const target = ctx.cloud;
  const store = storeOf(ctx, target);
  const key = replicaKey(ev.fileId, ev.index, ev.sha256);
  const attributes = { ...objectAttributes(store, key), [ATTR_FILE_ID]: ev.fileId, [ATTR_CHUNK_INDEX]: ev.index };
  await withSpan(SPAN_PLACE_REPLICA, attributes, async () => {
    const log = ctx.log.child({ fileId: ev.fileId, index: ev.index, target });
    const copied = await ensureCopied(ev, store, key, readsOf(ctx, ev, signal), signal);
    const wrote = copied !== "present";
    // A scrub's first look (no repair yet) that had to write found the replica missing or damaged.
    const foundBad = wrote && ev.scrub !== undefined && !ev.repairs;
    if (foundBad) ctx.countScrub(copied === "written" ? "missing" : "corrupt");
    if (foundBad)
      log.warn(
        { to: `${target}:${key}`, scrub: ev.scrub?.pass, found: copied },
        "scrub: replica was bad; written again",
      );
    else if (wrote)
      log.info({ bytes: ev.size, durationMs: Date.now() - started, to: `${target}:${key}` }, "replica written");
    else log.debug({ to: `${target}:${key}` }, "replica already there");
    const placed: ChunkPlaced = {
      ...meta(ctx, started),
      ...chunkRefOf(ev),
      replica: { cloud: target, store: store.kind, bucket: store.bucket, key },
      staging: ev.staging,
      replicas: ev.replicas,
      repairs: (ev.repairs ?? 0) + (foundBad ? 1 : 0),
      ...(ev.scrub ? { scrub: ev.scrub } : {}),
    };
    const id = msgId(ev.fileId, ev.index, "placed", target, ctx.cloud, placed.repairs, ...scrubPassOf(ev));
    await publishEvent(ctx, chunkSubject("placed", ctx.cloud), placed, id);
  });
}

/**
 * Writes the replica unless an object of the right size is already there (verify checks its bytes),
 * from the first of `reads` that has the chunk's bytes: `present`, or `written` (there was none), or
 * `replaced` (a wrong-sized one was there, or verify found a scrubbed one corrupt). A scrub replaces
 * a bad replica in one atomic, hash-checked overwrite and never deletes it first: when no good copy
 * is left anywhere, the bad one stays, and the failure is dead-lettered with its reason.
 */
async function ensureCopied(
  ev: ChunkProcessed,
  store: BlobStore,
  key: string,
  reads: Array<() => Promise<Readable>>,
  signal: AbortSignal,
): Promise<"present" | "written" | "replaced"> {
  const existing = await store.head(key, { signal });
  const foundCorrupt = ev.scrub !== undefined && (ev.repairs ?? 0) > 0;
  if (existing && existing.size === ev.size && !foundCorrupt) return "present";
  if (existing && existing.size !== ev.size) {
    // The key names the bytes' hash: bytes that have it are the chunk, and the event's size lies.
    if ((await hashStream(await store.get(key, { signal }))).sha256 === ev.sha256)
      throw new UntrustedEventError(
        `chunks.processed event says chunk ${ev.index} of file ${ev.fileId} has ${ev.size} bytes; its replica ${store.cloud}:${key} has ${existing.size}, and their hash`,
      );
    // A wrong-sized object under a content-derived key can only be damage: a new chunk removes it and
    // copies again on its next delivery (a failed attempt); a scrub overwrites it below.
    if (!ev.scrub) {
      await store.delete(key, { signal });
      throw new StoreUnavailableError(
        `replica ${store.cloud}:${key} had ${existing.size} bytes instead of ${ev.size}; removed, will copy again`,
      );
    }
  }
  for (const [i, read] of reads.entries()) {
    try {
      await store.put(key, await read(), { expectedSha256: ev.sha256, signal, overwrite: existing !== undefined });
      return existing ? "replaced" : "written";
    } catch (err) {
      if (err instanceof ObjectExistsError) return "present"; // a racing writer got there first: same content-derived key
      // A scrub's source may be missing or rotten too: the next one may be good.
      const tryNext = err instanceof ObjectNotFoundError || err instanceof ChecksumMismatchError;
      if (!tryNext || i === reads.length - 1) throw err;
    }
  }
  return "present";
}

/** Where the bytes come from: the staged chunk, or for a scrub the verified replicas in other clouds. */
function readsOf(ctx: WorkerContext, ev: ChunkProcessed, signal: AbortSignal): Array<() => Promise<Readable>> {
  const from = ev.scrub ? ev.scrub.sources : [ev.staging];
  return from.map((loc) => () => readFrom(ctx, loc, signal));
}

/**
 * An object's bytes (the staged chunk, or a scrub's source replica): from this cloud's own store, or
 * from another cloud's through a URL its gateway issues for that one object (this worker holds no
 * other cloud's credentials); those bytes are counted as crossing the link.
 */
async function readFrom(ctx: WorkerContext, loc: ObjectLocation, signal: AbortSignal): Promise<Readable> {
  const from = loc.cloud;
  if (from === ctx.cloud) return storeOf(ctx, from).get(loc.key, { signal });
  const body = await new GatewayObjects(ctx.nc, from).get(loc.key, { signal });
  return Readable.from(
    (async function* () {
      for await (const part of body as AsyncIterable<Uint8Array>) {
        ctx.countLinkBytes(from, ctx.cloud, part.length);
        yield part;
      }
    })(),
  );
}
