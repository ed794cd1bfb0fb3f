import { createHash } from "node:crypto";
import { stagingKey } from "../shared/chunk-keys.ts";
import { InputError } from "../shared/errors.ts";
import { tap } from "../shared/hashing.ts";
import type { CloudObjects } from "../shared/object-urls/gateway-objects.ts";
import { planChunks } from "../shared/sources/chunk-plan.ts";
import { openOwnFile } from "../shared/sources/local-file.ts";
import { MAX_UPLOADED_CHUNKS, type UploadedFile } from "../shared/sources/uploaded.ts";

/**
 * Cuts a file on this machine into chunks and writes each into a cloud's staging area itself
 * (`staging/<fileId>/<index>`), with this user's own store credentials or through the cloud's
 * gateway, hashing while it streams:
 * no worker needs to see this disk. Memory stays at a chunk's streaming buffers whatever the size;
 * a file that changes while it is read fails (SourceChangedError) and nothing is announced.
 * Returns what the ingest request's `uploaded` field carries.
 */
export async function uploadToStaging(
  staging: Pick<CloudObjects, "put">,
  fileId: string,
  path: string,
  cut: { chunkSize: number; recordBoundaries: boolean },
  signal?: AbortSignal,
): Promise<UploadedFile> {
  const source = await openOwnFile(path);
  try {
    if (source.size > cut.chunkSize * MAX_UPLOADED_CHUNKS)
      throw new InputError(
        `${path}: ${source.size} bytes would be more than ${MAX_UPLOADED_CHUNKS} chunks of ${cut.chunkSize}; upload with a larger --chunk-size`,
      );
    const whole = createHash("sha256");
    const chunks: UploadedFile["chunks"] = [];
    for await (const span of planChunks(source, source.size, cut.chunkSize, cut.recordBoundaries)) {
      const bytes = tap(source.range(span.offset, span.offset + span.size, signal), whole);
      const put = await staging.put(stagingKey(fileId, span.index), bytes, {
        overwrite: true,
        size: span.size,
        ...(signal ? { signal } : {}),
      });
      chunks.push({ offset: span.offset, size: put.size, sha256: put.sha256 });
    }
    await source.assertUnchanged();
    return { size: source.size, sha256: whole.digest("hex"), chunks };
  } finally {
    await source.close();
  }
}
