import { createHash } from "node:crypto";
import { stagingKey } from "../../shared/chunk-keys.ts";
import {
  ciphertextSize,
  DEFAULT_SEGMENT_SIZE,
  type FileEncryption,
  sealedOffset,
  TAG_BYTES,
} from "../../shared/crypto/file-encryption.ts";
import { InputError } from "../../shared/errors.ts";
import { tap } from "../../shared/hashing.ts";
import type { CloudObjects } from "../../shared/object-urls/gateway-objects.ts";
import { openOwnFile } from "../../shared/sources/local-file.ts";
import { MAX_UPLOADED_CHUNKS, type UploadedFile } from "../../shared/sources/uploaded.ts";
import { newFileKeys, plaintextMac } from "./envelope.ts";
import type { EncryptionKey } from "./key-file.ts";
import { sealSegments } from "./segments.ts";

/** What an encrypted upload staged: the request's `uploaded` (all of it ciphertext) and its `encryption`. */
export interface EncryptedUpload {
  uploaded: UploadedFile;
  encryption: FileEncryption;
}

/** Whole segments per chunk: the largest count whose ciphertext fits `chunkSize`, at least one. */
export const segmentsPerChunk = (chunkSize: number, segmentSize: number): number =>
  Math.max(1, Math.floor(chunkSize / (segmentSize + TAG_BYTES)));

/** The size of an encrypted file's chunks (but its last) when `chunkSize` is asked for. */
export const sealedChunkSize = (chunkSize: number, segmentSize = DEFAULT_SEGMENT_SIZE): number =>
  segmentsPerChunk(chunkSize, segmentSize) * (segmentSize + TAG_BYTES);

/**
 * Encrypts a file on this machine and writes the ciphertext into a cloud's staging
 * (`staging/<fileId>/<index>`), so no byte of plaintext leaves it: each chunk holds whole sealed
 * segments (client/encryption/segments.ts) under a new random data key wrapped by `key`. Chunk
 * hashes and the file's SHA-256 are of the ciphertext; the plaintext is only HMACed under the data
 * key. Memory: a segment and a put's buffers. A file that changes while it is read fails.
 */
export async function uploadEncrypted(
  staging: Pick<CloudObjects, "put">,
  fileId: string,
  path: string,
  chunkSize: number,
  key: EncryptionKey,
  signal?: AbortSignal,
): Promise<EncryptedUpload> {
  const source = await openOwnFile(path);
  try {
    const keys = newFileKeys(key, fileId, source.size);
    const { segmentSize, total } = keys.segments;
    const perChunk = segmentsPerChunk(chunkSize, segmentSize);
    const chunkCount = Math.ceil(total / perChunk);
    if (chunkCount > MAX_UPLOADED_CHUNKS)
      throw new InputError(
        `${path}: ${source.size} bytes would be more than ${MAX_UPLOADED_CHUNKS} chunks; upload with a larger --chunk-size`,
      );
    const mac = plaintextMac(keys);
    const whole = createHash("sha256");
    const chunks: UploadedFile["chunks"] = [];
    for (let k = 0; k < chunkCount; k++) {
      const first = k * perChunk;
      const end = Math.min(total, first + perChunk);
      const plain = source.range(first * segmentSize, Math.min(source.size, end * segmentSize), signal);
      const offset = sealedOffset(first, segmentSize);
      const size = Math.min(ciphertextSize(keys.header), sealedOffset(end, segmentSize)) - offset;
      const body = tap(sealSegments(keys.segments, first, tap(plain, mac)), whole);
      const put = await staging.put(stagingKey(fileId, k), body, {
        overwrite: true,
        size,
        ...(signal ? { signal } : {}),
      });
      chunks.push({ offset, size: put.size, sha256: put.sha256 });
    }
    await source.assertUnchanged();
    const uploaded = { size: ciphertextSize(keys.header), sha256: whole.digest("hex"), chunks };
    return { uploaded, encryption: { ...keys.header, plaintextMac: mac.digest("hex") } };
  } finally {
    await source.close();
  }
}
