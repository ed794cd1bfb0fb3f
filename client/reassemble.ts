import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import type { KV } from "@nats-io/kv";
import { ChecksumMismatchError, describeError, FerryError, InputError } from "../shared/errors.ts";
import { type ChunkRecord, type ReplicaRecord, readChunkRecords, readFileRecord } from "../shared/manifest.ts";
import type { BlobStore } from "../shared/stores/types.ts";

/** The file could not be rebuilt exactly; nothing was left at the output path. */
export class ReassemblyError extends FerryError {}

export interface ReassembleOptions {
  /** Read only this cloud's replicas. */
  from?: string;
  /** Cloud names, nearest first; replicas are tried in this order. */
  preference: string[];
  onChunk?: (done: number, total: number) => void;
}

/**
 * Rebuilds a file from verified replicas into `outPath`. Every chunk is hashed as it is read and
 * another replica is tried when one is bad; the whole file's SHA-256 is checked at the end. The bytes
 * go to a temporary file renamed into place only when everything matched, so a wrong byte is never
 * left at `outPath`.
 */
export async function reassemble(
  kv: KV,
  stores: Map<string, BlobStore>,
  fileId: string,
  outPath: string,
  options: ReassembleOptions,
): Promise<{ size: number; sha256: string; chunks: number }> {
  const file = await readFileRecord(kv, fileId);
  if (!file) throw new InputError(`no file with id ${fileId}: list files with ./ferry status`);
  if (file.chunkCount === undefined)
    throw new ReassemblyError(`file ${fileId} is still being ingested (${file.state})`);
  if (options.from && !stores.has(options.from))
    throw new InputError(`--from ${options.from}: no such cloud (clouds: ${[...stores.keys()].join(", ")})`);
  const chunks = await readChunkRecords(kv, file);
  if (chunks.length !== file.chunkCount)
    throw new ReassemblyError(`file ${fileId} has ${chunks.length} of ${file.chunkCount} chunk records`);
  for (const c of chunks) {
    if (candidates(c, options).length === 0) {
      throw new ReassemblyError(
        `chunk ${c.index} of file ${fileId} has no verified replica${options.from ? ` on ${options.from}` : ""} yet (file is ${file.state})`,
      );
    }
  }
  const tmp = `${outPath}.ferry-partial-${process.pid}`;
  const out = await open(tmp, "w");
  const whole = createHash("sha256");
  try {
    for (const c of chunks) {
      const bytes = await readChunk(stores, c, options);
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
  if (file.sha256 && sha256 !== file.sha256) {
    await rm(tmp, { force: true });
    throw new ChecksumMismatchError(`reassembled file ${fileId} does not match what was ingested`, file.sha256, sha256);
  }
  await rename(tmp, outPath);
  return { size: file.size, sha256, chunks: chunks.length };
}

function candidates(c: ChunkRecord, options: ReassembleOptions): ReplicaRecord[] {
  const rank = (cloud: string) => {
    const i = options.preference.indexOf(cloud);
    return i < 0 ? options.preference.length : i;
  };
  return c.replicas
    .filter((r) => r.verified && (!options.from || r.cloud === options.from))
    .sort((a, b) => rank(a.cloud) - rank(b.cloud));
}

/** One chunk's bytes from the first replica that hashes right. Memory: one chunk. */
async function readChunk(stores: Map<string, BlobStore>, c: ChunkRecord, options: ReassembleOptions): Promise<Buffer> {
  const problems: string[] = [];
  for (const r of candidates(c, options)) {
    const store = stores.get(r.cloud);
    if (!store) continue;
    try {
      const parts: Buffer[] = [];
      const h = createHash("sha256");
      for await (const piece of await store.get(r.key)) {
        h.update(piece as Buffer);
        parts.push(piece as Buffer);
      }
      const actual = h.digest("hex");
      if (actual === c.sha256) return Buffer.concat(parts);
      problems.push(`${r.cloud}: sha256 ${actual} instead of ${c.sha256}`);
    } catch (err) {
      problems.push(`${r.cloud}: ${describeError(err)}`);
    }
  }
  throw new ReassemblyError(
    `chunk ${c.index} of file ${c.fileId} could not be read from any replica (${problems.join("; ")})`,
  );
}
