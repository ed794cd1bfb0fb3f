/**
 * The segment format: a file's plaintext is cut into `segmentSize` pieces, and segment i is sealed
 * as AES-256-GCM(ciphertext || 16-byte tag) with
 * - nonce: the file's random 96-bit nonce with i XORed into its last 64 bits (unique per segment),
 * - additional data: `ferry-segment-v1`, i as 64 bits, and a byte that is 1 on the last segment only.
 * So a segment moved to another index fails (its nonce and AAD differ), a file cut short fails (its
 * new last segment was not sealed as last), and a segment from another file fails (another data key).
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { TAG_BYTES } from "../../shared/crypto/file-encryption.ts";
import { FerryError } from "../../shared/errors.ts";

/** A segment's bytes do not authenticate: changed, moved, cut short, or sealed under another key. */
export class DecryptionError extends FerryError {}

const AAD_LABEL = Buffer.from("ferry-segment-v1");

/** What seals or opens one file's segments. */
export interface SegmentKey {
  /** The file's 32-byte segment key (derived from its data key). */
  key: Buffer;
  /** The file's 12-byte nonce. */
  nonce: Buffer;
  /** Segments in the whole file: the one at `total - 1` is sealed as last. */
  total: number;
  segmentSize: number;
}

function segmentNonce(fileNonce: Buffer, index: number): Buffer {
  const n = Buffer.from(fileNonce);
  n.writeBigUInt64BE(n.readBigUInt64BE(4) ^ BigInt(index), 4);
  return n;
}

function segmentAad(index: number, last: boolean): Buffer {
  const a = Buffer.alloc(AAD_LABEL.length + 9);
  AAD_LABEL.copy(a);
  a.writeBigUInt64BE(BigInt(index), AAD_LABEL.length);
  a[AAD_LABEL.length + 8] = last ? 1 : 0;
  return a;
}

/** Seals segment `index` of a file: its ciphertext followed by its tag. */
export function sealSegment(k: SegmentKey, index: number, plain: Uint8Array): Buffer {
  const c = createCipheriv("aes-256-gcm", k.key, segmentNonce(k.nonce, index));
  c.setAAD(segmentAad(index, index === k.total - 1));
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** Opens segment `index`; throws DecryptionError (message from `where`) when it does not authenticate. */
export function openSegment(k: SegmentKey, index: number, sealed: Buffer, where: string): Buffer {
  if (sealed.length < TAG_BYTES) throw new DecryptionError(`segment ${index} of ${where} is cut short`);
  const body = sealed.subarray(0, sealed.length - TAG_BYTES);
  const d = createDecipheriv("aes-256-gcm", k.key, segmentNonce(k.nonce, index));
  d.setAAD(segmentAad(index, index === k.total - 1));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(body), d.final()]);
  } catch (err) {
    throw new DecryptionError(
      `segment ${index} of ${where} failed authentication: its bytes were changed, moved or cut short after encryption; no byte of it is given out`,
      { cause: err },
    );
  }
}

/**
 * Seals a stream of plaintext as segments `first`, `first + 1`, ...: yields one sealed segment at a
 * time (memory: one segment). The stream must hold exactly the plaintext of those segments.
 */
export async function* sealSegments(
  k: SegmentKey,
  first: number,
  plain: AsyncIterable<Uint8Array>,
): AsyncGenerator<Buffer> {
  const pending = Buffer.allocUnsafe(k.segmentSize);
  let filled = 0;
  let index = first;
  for await (const piece of plain) {
    let at = 0;
    while (at < piece.length) {
      const n = Math.min(piece.length - at, k.segmentSize - filled);
      pending.set(piece.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === k.segmentSize) {
        yield sealSegment(k, index++, pending);
        filled = 0;
      }
    }
  }
  // The short last segment, or the one empty segment of an empty file.
  if (filled > 0 || index === 0) yield sealSegment(k, index, pending.subarray(0, filled));
}

/**
 * Opens a stream of sealed segments `first` to `last` (inclusive), yielding each one's plaintext
 * only once it authenticated. Throws DecryptionError when the stream ends early or runs long.
 */
export async function* openSegments(
  k: SegmentKey,
  span: { first: number; last: number },
  sealed: AsyncIterable<Uint8Array>,
  where: string,
): AsyncGenerator<{ index: number; plain: Buffer }> {
  const full = k.segmentSize + TAG_BYTES;
  const pending = Buffer.allocUnsafe(full);
  let filled = 0;
  let index = span.first;
  for await (const piece of sealed) {
    let at = 0;
    while (at < piece.length) {
      if (index > span.last) throw new DecryptionError(`${where} holds bytes past its last segment (${span.last})`);
      const n = Math.min(piece.length - at, full - filled);
      pending.set(piece.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === full) {
        yield { index, plain: openSegment(k, index, pending, where) };
        index++;
        filled = 0;
      }
    }
  }
  if (filled > 0) yield { index, plain: openSegment(k, index, pending.subarray(0, filled), where) };
  else if (index <= span.last)
    throw new DecryptionError(`segment ${index} of ${where} is missing: the file is cut short`);
}
