import { createHash } from "node:crypto";
import { chunkListDigest } from "../shared/chunk-digest.ts";
import { stagingKey } from "../shared/chunk-keys.ts";
import { InputError, ObjectNotFoundError } from "../shared/errors.ts";
import { hashStream, tap } from "../shared/hashing.ts";
import type { CloudObjects } from "../shared/object-urls/gateway-objects.ts";
import { planChunks } from "../shared/sources/chunk-plan.ts";
import { openOwnFile } from "../shared/sources/local-file.ts";
import { MAX_UPLOADED_CHUNKS, type UploadedFile } from "../shared/sources/uploaded.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import type { UploadedChunk } from "./upload-journal.ts";

/**
 * A cloud's staging as an upload reaches it: get and put always (the user's store, or the cloud's
 * gateway URLs); head, list and delete only with the user's own store credentials.
 */
export type UploadStaging = Pick<CloudObjects, "get" | "put"> &
  Partial<Pick<BlobStore, "head" | "list" | "delete">> & { readonly cloud?: string };

/** Where an upload stands: the chunks an interrupted run staged, and who hears of each new one. */
export interface UploadProgress {
  /** Chunks 0..k-1, staged by an earlier run: the upload goes on from chunk k. */
  staged?: UploadedChunk[];
  /** Called once each chunk is staged (the journal records it). */
  onStaged?: (chunk: UploadedChunk) => void;
}

/**
 * Cuts a file on this machine into chunks and writes each into a cloud's staging area itself
 * (`staging/<fileId>/<index>`), with this user's own store credentials or through the cloud's
 * gateway, hashing while it streams:
 * no worker needs to see this disk. Memory stays at a chunk's streaming buffers whatever the size;
 * a file that changes while it is read fails (SourceChangedError) and nothing is announced.
 * With `progress.staged` it goes on after those chunks, and the file's digest is then its
 * chunk-list digest (shared/chunk-digest.ts), as the bytes before them are not read again.
 * Returns what the ingest request's `uploaded` field carries.
 */
export async function uploadToStaging(
  staging: Pick<CloudObjects, "put">,
  fileId: string,
  path: string,
  cut: { chunkSize: number; recordBoundaries: boolean },
  signal?: AbortSignal,
  progress: UploadProgress = {},
): Promise<UploadedFile> {
  const source = await openOwnFile(path);
  try {
    if (source.size > cut.chunkSize * MAX_UPLOADED_CHUNKS)
      throw new InputError(
        `${path}: ${source.size} bytes would be more than ${MAX_UPLOADED_CHUNKS} chunks of ${cut.chunkSize}; upload with a larger --chunk-size`,
      );
    const chunks = [...(progress.staged ?? [])];
    const last = chunks.at(-1);
    const whole = last ? undefined : createHash("sha256");
    const from = last ? { index: chunks.length, offset: last.offset + last.size } : undefined;
    for await (const span of planChunks(source, source.size, cut.chunkSize, cut.recordBoundaries, from)) {
      const range = source.range(span.offset, span.offset + span.size, signal);
      const put = await staging.put(stagingKey(fileId, span.index), whole ? tap(range, whole) : range, {
        overwrite: true,
        size: span.size,
        ...(signal ? { signal } : {}),
      });
      const chunk = { offset: span.offset, size: put.size, sha256: put.sha256 };
      chunks.push(chunk);
      progress.onStaged?.(chunk);
    }
    await source.assertUnchanged();
    if (whole) return { size: source.size, sha256: whole.digest("hex"), chunks };
    return { size: source.size, sha256: chunkListDigest(chunks), digest: "chunk-list", chunks };
  } finally {
    await source.close();
  }
}

/**
 * Why an interrupted upload's staged chunks cannot be gone on from, or undefined when they can:
 * the last one is read again from the file (one chunk) and must hash as it did, and must still be
 * in staging with its size (through a gateway, which signs no HEAD, staging's copy is read and hashed).
 */
export async function resumeProblem(
  staging: UploadStaging,
  fileId: string,
  path: string,
  staged: UploadedChunk[],
): Promise<string | undefined> {
  const last = staged.at(-1);
  if (!last) return undefined;
  const k = staged.length - 1;
  const source = await openOwnFile(path);
  try {
    const h = createHash("sha256");
    for await (const piece of source.range(last.offset, last.offset + last.size)) h.update(piece);
    if (h.digest("hex") !== last.sha256) return `its bytes changed (chunk ${k} differs)`;
  } finally {
    await source.close();
  }
  if (!(await stillStaged(staging, stagingKey(fileId, k), last)))
    return `chunk ${k} is no longer in ${staging.cloud ?? "the cloud"}'s staging`;
  return undefined;
}

async function stillStaged(staging: UploadStaging, key: string, chunk: UploadedChunk): Promise<boolean> {
  if (staging.head) return (await staging.head(key))?.size === chunk.size;
  try {
    const { size, sha256 } = await hashStream(await staging.get(key));
    return size === chunk.size && sha256 === chunk.sha256;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return false;
    throw err;
  }
}
