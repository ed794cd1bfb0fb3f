/** Anything read like a FileHandle: a local file, or an object read by ranges (shared/sources). */
export interface PositionalReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

export interface ChunkSpan {
  index: number;
  offset: number;
  size: number;
}

const SCAN_BLOCK = 64 * 1024;

/** Where a plan starts: chunk 0 at byte 0, or where a resumed ingest left off. */
export interface PlanStart {
  index: number;
  offset: number;
}

/**
 * Cuts a file of `size` bytes into chunks of at most `chunkSize`. With `recordBoundaries`, each chunk
 * ends just after its last newline, so every chunk is a usable shard of whole records; a record longer
 * than a chunk is cut where it must be. Reads only the bytes it scans, never the whole file.
 * Each cut depends only on the bytes after the previous one, so a plan started `from` the end of
 * chunk k-1 cuts exactly the chunks k, k+1, ... a plan from byte 0 would.
 */
export async function* planChunks(
  fh: PositionalReader,
  size: number,
  chunkSize: number,
  recordBoundaries: boolean,
  from: PlanStart = { index: 0, offset: 0 },
): AsyncGenerator<ChunkSpan> {
  let { offset, index } = from;
  while (offset < size) {
    let end = Math.min(size, offset + chunkSize);
    if (recordBoundaries && end < size) end = (await lastNewlineBefore(fh, offset, end)) ?? end;
    yield { index, offset, size: end - offset };
    offset = end;
    index++;
  }
}

/** Position just after the last `\n` in [from, to), or undefined when there is none. */
async function lastNewlineBefore(fh: PositionalReader, from: number, to: number): Promise<number | undefined> {
  const buf = Buffer.allocUnsafe(SCAN_BLOCK);
  let hi = to;
  while (hi > from) {
    const lo = Math.max(from, hi - SCAN_BLOCK);
    const { bytesRead } = await fh.read(buf, 0, hi - lo, lo);
    const at = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (at >= 0) return lo + at + 1;
    hi = lo;
  }
  return undefined;
}

const LINE_FORMATS = /\.(jsonl|ndjson|csv|tsv|txt)$/i;

/** Whether a file named `name` is cut after newlines unless told otherwise: line formats are. */
export const defaultRecordBoundaries = (name: string): boolean => LINE_FORMATS.test(name);
