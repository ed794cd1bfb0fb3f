import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { matchesFileDigest } from "../shared/chunk-digest.ts";
import { ChecksumMismatchError } from "../shared/errors.ts";
import type { ManifestReader } from "../shared/manifest.ts";
import { findReadableFile } from "./readable-file.ts";
import { type ReplicaChoice, type ReplicaSource, readVerifiedChunk } from "./replica-read.ts";

export { ReassemblyError } from "./replica-read.ts";

export interface ReassembleOptions extends ReplicaChoice {
  onChunk?: (done: number, total: number) => void;
}

/**
 * Rebuilds a file from verified replicas into `outPath`. Every chunk is hashed as it is read and
 * another replica is tried when one is bad; the whole file's digest is checked at the end (its SHA-256,
 * or for a resumed ingest its chunk-list digest over the chunks just checked: shared/chunk-digest.ts). The bytes
 * go to a temporary file renamed into place only when everything matched, so a wrong byte is never
 * left at `outPath`.
 */
export async function reassemble(
  kv: ManifestReader,
  stores: Map<string, ReplicaSource>,
  fileId: string,
  outPath: string,
  options: ReassembleOptions,
): Promise<{ size: number; sha256: string; chunks: number }> {
  const { file, chunks } = await findReadableFile(kv, stores, fileId, options);
  const tmp = `${outPath}.ferry-partial-${process.pid}`;
  const out = await open(tmp, "w");
  const whole = createHash("sha256");
  try {
    for (const c of chunks) {
      const bytes = await readVerifiedChunk(stores, c, options);
      await out.write(bytes, 0, bytes.length, c.offset);
      whole.update(bytes);
      options.onChunk?.(c.index + 1, chunks.length);
    }
    await out.sync();
  } catch (err) {
    await out.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await out.close();
  const sha256 = whole.digest("hex");
  if (file.sha256 && !matchesFileDigest(file.sha256, sha256, chunks)) {
    await rm(tmp, { force: true });
    throw new ChecksumMismatchError(`reassembled file ${fileId} does not match what was ingested`, file.sha256, sha256);
  }
  await rename(tmp, outPath);
  return { size: file.size, sha256, chunks: chunks.length };
}
