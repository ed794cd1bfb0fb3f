/**
 * What the ingest stage reads a file from: a local file under its cloud's source roots, or an object
 * in the cloud's own object storage (`s3://`, `gs://`, `az://`). Every kind reads ranges on demand,
 * so memory stays bounded whatever the size, and every kind fails clearly when the source changes
 * while it is read (a local file's size or mtime, an object's ETag or generation).
 */
export interface IngestSource {
  /** The path or URL, for messages and logs. */
  readonly name: string;
  readonly size: number;
  /**
   * What names exactly the bytes opened: a local file's device, inode, size and mtime; an object's
   * ETag (S3, Azure) or generation (GCS). Equal versions, same bytes (as far as the source can tell).
   */
  readonly version: string;
  /**
   * Reads up to `length` bytes at `position` into `buffer` at `offset`, like FileHandle.read (so the
   * chunk planner can scan any source for record boundaries).
   */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** The bytes in [start, end) as a stream of pieces; throws SourceChangedError when the source moved. */
  range(start: number, end: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  /** Throws SourceChangedError when the source is no longer what was opened. */
  assertUnchanged(): Promise<void>;
  /** Releases the file or connections; idempotent. */
  close(): Promise<void>;
}

/** Bytes per piece a source yields: bounds what one read holds in memory. */
export const READ_PIECE_BYTES = 1024 * 1024;
