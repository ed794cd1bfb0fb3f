import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { JsMsg } from "@nats-io/jetstream";
import { cloudNames, meta, publishEvent, storeOf, type WorkerContext } from "../../runtime/context.ts";
import { ChecksumMismatchError, ObjectNotFoundError, PoisonMessageError } from "../../shared/errors.ts";
import { checkChunkOptions, checkStaging } from "../../shared/event-checks.ts";
import { type ChunkIngested, type ChunkProcessed, chunkRefOf, parseChunkEvent } from "../../shared/events.ts";
import { chunkSubject, msgId } from "../../shared/subjects.ts";
import { assertKnownChunk, isLateDelivery } from "../finished-file.ts";
import { JsonlValidator } from "./validate-jsonl.ts";

/**
 * Handles `chunks.ingested.<cloud>`: re-reads the staged chunk, checks its SHA-256 against the event,
 * runs the chunk's transforms (validation), and announces it on `chunks.processed.<cloud>`.
 * Transforms here only validate, so the staged bytes are the processed bytes.
 */
export function createProcessHandler(ctx: WorkerContext) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<void> => {
    const started = Date.now();
    const what = "chunks.ingested event";
    const ev = parseChunkEvent<ChunkIngested>(msg.data, what, ["staging"]);
    // Ingest stages into its own cloud, so a chunk this cloud's process takes is staged here.
    checkStaging(ev, what, [ctx.cloud]);
    checkChunkOptions(ev as never, what, cloudNames(ctx));
    const body = await readStaged(ctx, ev, signal);
    if (!body) return;
    const hash = createHash("sha256");
    const validator = ev.transforms?.includes("validate-jsonl") ? new JsonlValidator(ev.index) : undefined;
    for await (const piece of body as AsyncIterable<Uint8Array>) {
      hash.update(piece);
      validator?.update(piece);
    }
    validator?.end();
    const actual = hash.digest("hex");
    if (actual !== ev.sha256) {
      throw new PoisonMessageError(
        new ChecksumMismatchError(`staged chunk ${ev.index} of file ${ev.fileId} is corrupt`, ev.sha256, actual)
          .message,
      );
    }
    const out: ChunkProcessed = {
      ...meta(ctx, started),
      ...chunkRefOf(ev),
      staging: ev.staging,
      replicas: ev.replicas,
      repairs: 0,
    };
    await publishEvent(
      ctx,
      chunkSubject("processed", ctx.cloud),
      out,
      msgId(ev.fileId, ev.index, "processed", ctx.cloud),
    );
    ctx.log
      .child({ fileId: ev.fileId, index: ev.index })
      .debug({ bytes: ev.size, durationMs: out.durationMs }, "chunk processed");
  };
}

/**
 * The staged chunk's bytes, or undefined when they are gone because the file already completed (a
 * late redelivery). Gone from a file still in flight is poison: nothing can bring the bytes back.
 */
async function readStaged(ctx: WorkerContext, ev: ChunkIngested, signal: AbortSignal): Promise<Readable | undefined> {
  try {
    return await storeOf(ctx, ev.staging.cloud).get(ev.staging.key, { signal });
  } catch (err) {
    if (!(err instanceof ObjectNotFoundError)) throw err;
    if (await isLateDelivery(ctx, ev)) return undefined;
    await assertKnownChunk(ctx, ev, "chunks.ingested event");
    throw new PoisonMessageError(
      `staged chunk ${ev.index} of file ${ev.fileId} is gone (${ev.staging.cloud}:${ev.staging.key})`,
    );
  }
}
