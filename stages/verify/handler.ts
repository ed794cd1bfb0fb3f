import type { JsMsg } from "@nats-io/jetstream";
import { cloudNames, meta, publishEvent, storeOf, type WorkerContext } from "../../runtime/context.ts";
import { ObjectNotFoundError, PoisonMessageError, UntrustedEventError } from "../../shared/errors.ts";
import {
  checkChunkOptions,
  checkReplica as checkReplicaLocation,
  checkScrubMark,
  checkStaging,
  MAX_REPAIRS,
} from "../../shared/event-checks.ts";
import {
  type ChunkPlaced,
  type ChunkProcessed,
  type ChunkVerified,
  chunkRefOf,
  parseChunkEvent,
  scrubPassOf,
} from "../../shared/events.ts";
import { hashStream } from "../../shared/hashing.ts";
import { takesOf } from "../../shared/stages.ts";
import { chunkSubject, msgId } from "../../shared/subjects.ts";

/**
 * Handles `chunks.placed.<cloud>`: reads the replica back from its store and checks its SHA-256.
 * A good replica is announced on `chunks.verified.<cloud>`. A missing or corrupt one is deleted (a
 * scrubbed one is left for place to overwrite) and the chunk goes back to placement (a fresh event of the kind place takes, `chunks.processed`, with
 * `repairs + 1`, naming this replica's cloud as its one target). Place and verify of a replica both
 * run in the replica's own cloud, so the read-back never crosses a cloud boundary.
 */
export function createVerifyHandler(ctx: WorkerContext) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<void> => {
    const started = Date.now();
    const what = "chunks.placed event";
    const ev = parseChunkEvent<ChunkPlaced>(msg.data, what, ["replica", "staging"]);
    // Only this cloud's own replica, under its content-derived key: verify deletes what fails the
    // check, so an event must not be able to point it at any other object.
    checkReplicaLocation(ev, what, ctx.cloud);
    checkStaging(ev, what, cloudNames(ctx));
    checkChunkOptions(ev as never, what, cloudNames(ctx));
    checkScrubMark(ev as never, what, cloudNames(ctx), ctx.cloud);
    const store = storeOf(ctx, ev.replica.cloud);
    const problem = await checkReplica(store, ev, signal);
    // A scrub's first look (no repair yet) is its finding; what place wrote again is checked as usual.
    if (ev.scrub && !ev.repairs) ctx.countScrub(problem ? "corrupt" : "ok");
    if (!problem) {
      const ok: ChunkVerified = {
        ...meta(ctx, started),
        ...chunkRefOf(ev),
        replica: ev.replica,
        ...(ev.scrub ? { scrub: { pass: ev.scrub.pass, repairs: ev.repairs ?? 0 } } : {}),
      };
      const id = msgId(
        ev.fileId,
        ev.index,
        "verified",
        ev.replica.cloud,
        ctx.cloud,
        ev.repairs ?? 0,
        ...scrubPassOf(ev),
      );
      await publishEvent(ctx, chunkSubject("verified", ctx.cloud), ok, id);
      ctx.log
        .child({ fileId: ev.fileId, index: ev.index })
        .debug({ replica: ev.replica.cloud, bytes: ev.size, durationMs: ok.durationMs }, "replica verified");
      return;
    }
    const repairs = (ev.repairs ?? 0) + 1;
    if (repairs > MAX_REPAIRS) throw new PoisonMessageError(`${problem}; gave up after ${MAX_REPAIRS} repairs`);
    ctx.log.warn({ fileId: ev.fileId, index: ev.index, replica: ev.replica.cloud, repairs }, problem);
    // A scrub's replica is replaced by an overwrite from a good copy (stages/place): deleting it
    // first would lose the last copy, however damaged, if no good one is left anywhere.
    if (!ev.scrub) await store.delete(ev.replica.key, { signal });
    const again: ChunkProcessed = {
      ...meta(ctx, started),
      ...chunkRefOf(ev),
      staging: ev.staging,
      replicas: ev.replicas,
      repairs,
      targets: [ev.replica.cloud],
      ...(ev.scrub ? { scrub: ev.scrub } : {}),
    };
    const kind = takesOf("place");
    const id = msgId(ev.fileId, ev.index, kind, ctx.cloud, "repair", repairs, ...scrubPassOf(ev));
    await publishEvent(ctx, chunkSubject(kind, ctx.cloud), again, id);
  };
}

/** Undefined when the replica holds exactly the chunk's bytes, else what is wrong with it. */
async function checkReplica(
  store: ReturnType<typeof storeOf>,
  ev: ChunkPlaced,
  signal: AbortSignal,
): Promise<string | undefined> {
  const where = `replica ${ev.replica.cloud}:${ev.replica.key} of chunk ${ev.index} of file ${ev.fileId}`;
  try {
    const { sha256, size } = await hashStream(await store.get(ev.replica.key, { signal }));
    if (sha256 !== ev.sha256) return `${where} is corrupt (sha256 ${sha256}, ${size} bytes)`;
    // The bytes hash to what the key says: the replica is the chunk, and the event's size lies.
    if (size !== ev.size)
      throw new UntrustedEventError(
        `chunks.placed event says ${where} has ${ev.size} bytes; it has ${size}, and their hash`,
      );
    return undefined;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return `${where} is missing`;
    throw err;
  }
}
