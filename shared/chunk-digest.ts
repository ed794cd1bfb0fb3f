import { createHash } from "node:crypto";

/**
 * What a file's `sha256` (in `files.ingested.<cloud>` and the manifest) is a digest of.
 * - `"sha256"`: the plain SHA-256 of the file's bytes, what `sha256sum` prints. Every ingest that
 *   reads the file front to back in one go (the usual case) records this.
 * - `"chunk-list"`: the chunk-list digest (see {@link chunkListDigest}). An ingest that resumed from
 *   its last staged chunk records this, because a SHA-256 midstate cannot be saved with node:crypto
 *   and the library that can (hash-wasm) hashes 4 to 6 times slower (README, "Resuming").
 */
export type FileDigestKind = "sha256" | "chunk-list";
export const FILE_DIGEST_KINDS: readonly FileDigestKind[] = ["sha256", "chunk-list"];

/** The first line of what a chunk-list digest hashes; a new layout would get a new version. */
const CHUNK_LIST_TAG = "ferry-chunk-list-v1\n";

/**
 * The chunk-list digest of a file: SHA-256 (hex) over the tag line `ferry-chunk-list-v1` and then
 * one line per chunk, in index order, `<offset> <size> <sha256 of the chunk>\n`. The chunks must be
 * contiguous from byte 0, so the lines pin down every byte and its place: two files with the same
 * digest have the same bytes unless SHA-256 collides. It is computed from the chunks' own hashes,
 * so an ingest that resumes at chunk k needs only chunks 0..k-1's records, not their bytes.
 */
export function chunkListDigest(chunks: ReadonlyArray<{ offset: number; size: number; sha256: string }>): string {
  const h = createHash("sha256").update(CHUNK_LIST_TAG);
  let next = 0;
  for (const [i, c] of chunks.entries()) {
    if (c.offset !== next) throw new Error(`chunk ${i} starts at byte ${c.offset}, not ${next}: the list has a gap`);
    h.update(`${c.offset} ${c.size} ${c.sha256}\n`);
    next += c.size;
  }
  return h.digest("hex");
}

/**
 * Whether bytes read back match the digest recorded at ingest: `plainSha256` is the SHA-256 of the
 * bytes read, `chunks` the chunk records each of which was checked against its own bytes. A file's
 * recorded value is one or the other kind (the manifest does not say which), and matching either is
 * as strong: both are SHA-256 over content that fixes every byte.
 */
export function matchesFileDigest(
  recorded: string,
  plainSha256: string,
  chunks: ReadonlyArray<{ offset: number; size: number; sha256: string }>,
): boolean {
  if (recorded === plainSha256) return true;
  try {
    return recorded === chunkListDigest(chunks);
  } catch {
    return false; // a list with a gap is no file's list
  }
}
