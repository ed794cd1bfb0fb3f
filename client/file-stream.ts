import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { matchesFileDigest } from "../shared/chunk-digest.ts";
import { ChecksumMismatchError } from "../shared/errors.ts";
import type { ChunkRecord, FileRecord, ManifestReader } from "../shared/manifest.ts";
import { type ByteRange, type ByteRangeSpec, resolveByteRange } from "./byte-range.ts";
import { findReadableFile } from "./readable-file.ts";
import { type ReplicaChoice, type ReplicaSource, readVerifiedChunk } from "./replica-read.ts";

export interface FileStreamOptions extends ReplicaChoice {
  /** Only these bytes (see parseByteRange). @default the whole file */
  range?: ByteRangeSpec;
  /** Stops reading; the stream is destroyed with the abort reason. */
  signal?: AbortSignal;
}

/** An open read of a file: what it is, which bytes come, and the bytes. */
export interface FileStream {
  file: FileRecord;
  range: ByteRange;
  /**
   * The bytes of `range`, in order. Each chunk is checked against its SHA-256 before any of its bytes
   * are pushed, and another replica is tried when one is missing or corrupt; when no replica of a
   * chunk is good the stream errors (ReassemblyError) after the chunks before it. A whole-file read
   * also checks the file's SHA-256 at the end. At most two chunks are held: the one being written and
   * the next, fetched meanwhile.
   */
  stream: Readable;
}

/**
 * Opens a file (or a byte range of it) for reading from its verified replicas, nearest cloud first:
 * what `ferry cat` writes to stdout, for Node code that reads training data in place. Fails before
 * the first byte when the file is unknown, not yet ingested, has a chunk without a usable replica,
 * or the range does not fit the file.
 */
export async function openFileStream(
  kv: ManifestReader,
  stores: Map<string, ReplicaSource>,
  fileId: string,
  options: FileStreamOptions,
): Promise<FileStream> {
  const { file, chunks } = await findReadableFile(kv, stores, fileId, options);
  const range = resolveByteRange(options.range, file.size);
  const stream = Readable.from(verifiedBytes(stores, file, chunks, range, options), {
    objectMode: false,
    // One chunk waits in the stream at most; the generator fetches the next meanwhile.
    highWaterMark: 1,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { file, range, stream };
}

/** The chunks that hold any byte of `range`. */
export function chunksInRange(chunks: ChunkRecord[], range: ByteRange): ChunkRecord[] {
  return chunks.filter((c) => c.offset <= range.end && c.offset + c.size > range.start);
}

async function* verifiedBytes(
  stores: Map<string, ReplicaSource>,
  file: FileRecord,
  chunks: ChunkRecord[],
  range: ByteRange,
  options: FileStreamOptions,
): AsyncGenerator<Buffer> {
  const wanted = chunksInRange(chunks, range);
  const whole = range.length === file.size ? createHash("sha256") : undefined;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([stop.signal, options.signal]) : stop.signal;
  const fetch = (c: ChunkRecord | undefined) => {
    if (!c) return undefined;
    const p = readVerifiedChunk(stores, c, options, signal);
    p.catch(() => undefined); // awaited below; a reader that stops early must not leave it unhandled
    return p;
  };
  try {
    let next = fetch(wanted[0]);
    for (let i = 0; i < wanted.length; i++) {
      const c = wanted[i] as ChunkRecord;
      const bytes = (await next) as Buffer;
      next = fetch(wanted[i + 1]);
      whole?.update(bytes);
      const from = Math.max(range.start, c.offset) - c.offset;
      const to = Math.min(range.end + 1, c.offset + c.size) - c.offset;
      yield from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to);
    }
    const sha256 = whole?.digest("hex");
    if (sha256 !== undefined && file.sha256 && !matchesFileDigest(file.sha256, sha256, wanted))
      throw new ChecksumMismatchError(
        `file ${file.fileId} read back does not match what was ingested`,
        file.sha256,
        sha256,
      );
  } finally {
    stop.abort(new Error("the reader stopped"));
  }
}
