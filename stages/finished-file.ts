import type { WorkerContext } from "../runtime/context.ts";
import { readFileRecord } from "../shared/manifest.ts";
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
