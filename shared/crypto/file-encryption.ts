/**
 * What the manifest says about a file a client encrypted before upload (`ferry ingest --encrypt`):
 * enough for a holder of the deployment key to decrypt it, nothing that reveals the key or the
 * plaintext. The segment format itself is client/encryption/segments.ts; the layout arithmetic is
 * here, so the ingest worker can check a request's sizes without any key.
 */

/** AES-256-GCM over fixed-size segments, each with its own nonce and its index bound in (format 1). */
export const CIPHER = "aes-256-gcm-segments-v1";
/** Plaintext bytes per segment, as rclone crypt: a range read decrypts at most two partial segments. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
/** The GCM tag each sealed segment ends with. */
export const TAG_BYTES = 16;
/** Bytes of the random per-file nonce (GCM's 96-bit IV). */
export const NONCE_BYTES = 12;
/** Bytes of a wrapped data key: its own nonce, the 32 encrypted key bytes, the tag. */
export const WRAPPED_KEY_BYTES = NONCE_BYTES + 32 + TAG_BYTES;

export interface FileEncryption {
  cipher: typeof CIPHER;
  /** Plaintext bytes per segment; the last segment may be shorter (an empty file has one empty segment). */
  segmentSize: number;
  /** Fingerprint of the deployment key that wraps the data key (HMAC of a fixed label: reveals nothing of it). */
  keyId: string;
  /** The random per-file data key, AES-256-GCM-wrapped by the deployment key (base64). */
  wrappedKey: string;
  /** The random per-file nonce each segment's nonce is derived from (base64). */
  nonce: string;
  plaintextSize: number;
  /** HMAC-SHA256 of the whole plaintext under a key derived from the data key: checked after decryption, meaningless without the key. */
  plaintextMac: string;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const FIELDS = ["cipher", "segmentSize", "keyId", "wrappedKey", "nonce", "plaintextSize", "plaintextMac"];

/** Checks an `encryption` value (from a request or the manifest); `bad` makes the error for a reason. */
export function parseFileEncryption(v: unknown, bad: (why: string) => Error): FileEncryption {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad("expected an object");
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => !FIELDS.includes(k));
  if (extra !== undefined) throw bad(`unknown field ${JSON.stringify(extra.slice(0, 64))}: the fields are ${FIELDS}`);
  if (o.cipher !== CIPHER) throw bad(`"cipher" must be "${CIPHER}" (the only format this ferry reads)`);
  const size = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  if (!size(o.segmentSize) || (o.segmentSize as number) < 1024 || (o.segmentSize as number) > 16 * 1024 * 1024)
    throw bad(`"segmentSize" must be a whole number of bytes from 1 KiB to 16 MiB`);
  if (typeof o.keyId !== "string" || !HEX32.test(o.keyId)) throw bad(`"keyId" must be 32 lower-case hex digits`);
  if (!isBase64Of(o.wrappedKey, WRAPPED_KEY_BYTES))
    throw bad(`"wrappedKey" must be ${WRAPPED_KEY_BYTES} bytes in base64`);
  if (!isBase64Of(o.nonce, NONCE_BYTES)) throw bad(`"nonce" must be ${NONCE_BYTES} bytes in base64`);
  if (!size(o.plaintextSize)) throw bad(`"plaintextSize" must be a whole number of bytes`);
  if (typeof o.plaintextMac !== "string" || !HEX64.test(o.plaintextMac))
    throw bad(`"plaintextMac" must be 64 lower-case hex digits`);
  return {
    cipher: CIPHER,
    segmentSize: o.segmentSize as number,
    keyId: o.keyId,
    wrappedKey: o.wrappedKey as string,
    nonce: o.nonce as string,
    plaintextSize: o.plaintextSize as number,
    plaintextMac: o.plaintextMac,
  };
}

function isBase64Of(v: unknown, bytes: number): boolean {
  return typeof v === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && Buffer.from(v, "base64").length === bytes;
}

/** Segments a plaintext of `plaintextSize` bytes is sealed in: at least one, so an empty file still authenticates. */
export function segmentCount(plaintextSize: number, segmentSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / segmentSize));
}

/** Bytes of the ciphertext: the plaintext plus one tag per segment. */
export function ciphertextSize(e: Pick<FileEncryption, "plaintextSize" | "segmentSize">): number {
  return e.plaintextSize + segmentCount(e.plaintextSize, e.segmentSize) * TAG_BYTES;
}

/** Where segment `index` starts in the ciphertext. */
export const sealedOffset = (index: number, segmentSize: number): number => index * (segmentSize + TAG_BYTES);
