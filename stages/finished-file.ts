import type { WorkerContext } from "../runtime/context.ts";
import { UntrustedEventError } from "../shared/errors.ts";
import type { ChunkRef } from "../shared/events.ts";
import { type ChunkRecord, chunkKey, readFileRecord, readJson } from "../shared/manifest.ts";
import { hubManifest } from "./hub-manifest.ts";

/**
 * Whether a message whose staged chunk is gone is a late delivery: its file is already complete in the
 * hub's manifest (then this logs it). A file's staging objects are collected when
 * it completes, so a redelivered message that finds its staged chunk gone is late, not poison: a
 * worker did the chunk's work and died before it could ack. A manifest that cannot be read throws,
 * and the message is retried like any other transient failure.
 */
export async function isLateDelivery(ctx: WorkerContext, chunk: { fileId: string; index: number }): Promise<boolean> {
  if (!(await fileAlreadyComplete(ctx, chunk.fileId))) return false;
  ctx.log
    .child({ fileId: chunk.fileId, index: chunk.index })
    .info("late delivery: the file is complete and its staging collected; nothing to do");
  return true;
}

async function fileAlreadyComplete(ctx: WorkerContext, fileId: string): Promise<boolean> {
  const file = await readFileRecord(await hubManifest(ctx), fileId);
  return file?.state === "complete";
}

/**
 * Throws UntrustedEventError unless the hub's manifest records the event's chunk (its index with the
 * same SHA-256 and size): an event about a chunk no ingest announced describes no real work, and
 * must not fail the real file it names. Asked only when a chunk's staged bytes are missing.
 */
export async function assertKnownChunk(ctx: WorkerContext, ev: ChunkRef, what: string): Promise<void> {
  const c = (await readJson<ChunkRecord>(await hubManifest(ctx), chunkKey(ev.fileId, ev.index)))?.value;
  if (c?.sha256 === ev.sha256 && c.size === ev.size) return;
  throw new UntrustedEventError(
    `${what} names chunk ${ev.index} of file ${ev.fileId} (sha256 ${ev.sha256}, ${ev.size} bytes), which no ingest announced`,
  );
}
