import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

/** Yields the bytes of `source` unchanged while feeding every hash (or HMAC) given. */
export async function* tap(
  source: Readable | AsyncIterable<Uint8Array>,
  ...hashes: Array<{ update(data: Uint8Array): unknown }>
): AsyncGenerator<Uint8Array> {
  for await (const piece of source) {
    for (const h of hashes) h.update(piece);
    yield piece;
  }
}

/** SHA-256 (hex) and length of a stream, read in pieces (memory stays bounded). */
export async function hashStream(
  source: Readable | AsyncIterable<Uint8Array>,
): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const piece of source) {
    h.update(piece);
    size += piece.length;
  }
  return { sha256: h.digest("hex"), size };
}
