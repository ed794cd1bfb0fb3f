import type { JsMsg } from "@nats-io/jetstream";
import { storeOf, type WorkerContext } from "../../runtime/context.ts";
import { stagingKey } from "../../shared/chunk-keys.ts";
import { PoisonMessageError } from "../../shared/errors.ts";
import type { UploadedFile } from "../../shared/sources/uploaded.ts";
import { announceAccepted, announceChunk, announceIngested } from "./announce.ts";
import type { IngestRequest } from "./request.ts";

/**
 * Takes a file a client uploaded into this cloud's staging itself: checks that every chunk it
 * lists is staged with its size, then announces them as if this worker had staged them. The
 * process stage re-hashes each staged chunk against the SHA-256 announced here, and `get` checks the
 * whole file, so a client's wrong hash fails the file rather than passing a wrong byte.
 */
export async function acceptUploaded(
  ctx: WorkerContext,
  req: IngestRequest,
  uploaded: UploadedFile,
  file: { msg: JsMsg; traceId: string | undefined; replicas: number; signal: AbortSignal },
): Promise<void> {
  const started = Date.now();
  const staging = storeOf(ctx, ctx.cloud);
  for (const [index, chunk] of uploaded.chunks.entries()) {
    const key = stagingKey(req.fileId, index);
    const head = await staging.head(key, { signal: file.signal });
    if (head?.size !== chunk.size) {
      throw new PoisonMessageError(
        `uploaded chunk ${index} of ${req.name} is ${head ? `${head.size} bytes, not ${chunk.size}` : "missing"} in ${ctx.cloud}'s staging (${key}): upload the file again`,
      );
    }
  }
  await announceAccepted(ctx, req, { size: uploaded.size, replicas: file.replicas, traceId: file.traceId }, started);
  for (const [index, chunk] of uploaded.chunks.entries()) {
    const key = stagingKey(req.fileId, index);
    const span = { index, offset: chunk.offset, size: chunk.size };
    await announceChunk(ctx, req, { span, sha256: chunk.sha256, key, staging, replicas: file.replicas }, started);
    file.msg.working();
  }
  const chunkCount = uploaded.chunks.length;
  const { size, sha256, digest } = uploaded;
  await announceIngested(ctx, req, { size, sha256, chunkCount, ...(digest ? { digest } : {}) }, started);
  ctx.log.child({ fileId: req.fileId }).info({ chunkCount, size: uploaded.size }, "uploaded file accepted");
}
