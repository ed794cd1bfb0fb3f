import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { tap } from "../../shared/hashing.ts";
import { type ManifestReader, readFileRecord } from "../../shared/manifest.ts";
import { type ReassembleOptions, reassemble } from "../reassemble.ts";
import type { ReplicaSource } from "../replica-read.ts";
import { openPlainStream } from "./decrypted-read.ts";

export interface PlainGetOptions extends ReassembleOptions {
  /** The deployment key's file, needed for an encrypted file. */
  keyFile?: string;
}

/**
 * `ferry get`: rebuilds a file into `outPath`. A file ingested in the clear goes through reassemble;
 * an encrypted one is decrypted segment by segment (openPlainStream: every chunk verified, every
 * segment authenticated, the plaintext's HMAC checked at the end) into a temporary file renamed into
 * place only when all of it checked out, so a wrong key or a changed byte leaves nothing at `outPath`.
 */
export async function getPlainFile(
  kv: ManifestReader,
  stores: Map<string, ReplicaSource>,
  fileId: string,
  outPath: string,
  options: PlainGetOptions,
): Promise<{ size: number; sha256: string; chunks: number; encrypted: boolean }> {
  const record = await readFileRecord(kv, fileId);
  if (!record?.encryption) return { ...(await reassemble(kv, stores, fileId, outPath, options)), encrypted: false };
  const { stream, range } = await openPlainStream(kv, stores, fileId, options);
  const tmp = `${outPath}.ferry-partial-${process.pid}`;
  const sha = createHash("sha256");
  try {
    await pipeline(tap(stream, sha), createWriteStream(tmp, { mode: 0o600 }));
    const fh = await open(tmp, "r+");
    await fh.sync().finally(() => fh.close());
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await rename(tmp, outPath);
  return { size: range.length, sha256: sha.digest("hex"), chunks: record.chunkCount ?? 0, encrypted: true };
}
