/**
 * A file's data key and how the deployment key wraps it. Each encrypted file gets a random 32-byte
 * data key and a random nonce; the data key is sealed with AES-256-GCM under the deployment key,
 * with the file's id and its encryption header as additional data, so a header edited in the
 * manifest (size, nonce, segment size) or copied to another file id no longer unwraps.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import {
  CIPHER,
  DEFAULT_SEGMENT_SIZE,
  type FileEncryption,
  NONCE_BYTES,
  segmentCount,
  TAG_BYTES,
} from "../../shared/crypto/file-encryption.ts";
import { InputError } from "../../shared/errors.ts";
import type { EncryptionKey } from "./key-file.ts";
import { DecryptionError, type SegmentKey } from "./segments.ts";

/** A file's encryption before its plaintext MAC is known: the header and the unwrapped keys. */
export interface FileKeys {
  header: Omit<FileEncryption, "plaintextMac">;
  segments: SegmentKey;
  /** The key of the plaintext's HMAC (FileEncryption.plaintextMac). */
  macKey: Buffer;
}

const derive = (dataKey: Buffer, label: string): Buffer =>
  Buffer.from(hkdfSync("sha256", dataKey, Buffer.alloc(0), label, 32));

function keysOf(header: FileKeys["header"], dataKey: Buffer): FileKeys {
  const segments = {
    key: derive(dataKey, "ferry segments v1"),
    nonce: Buffer.from(header.nonce, "base64"),
    total: segmentCount(header.plaintextSize, header.segmentSize),
    segmentSize: header.segmentSize,
  };
  return { header, segments, macKey: derive(dataKey, "ferry plaintext mac v1") };
}

/** What the wrap authenticates besides the key: the file's id and every header field. */
function wrapAad(fileId: string, h: Omit<FileKeys["header"], "wrappedKey">): Buffer {
  return Buffer.from(["ferry-wrap-v1", fileId, h.cipher, h.segmentSize, h.keyId, h.nonce, h.plaintextSize].join("\n"));
}

/** A new random data key and nonce for file `fileId` of `plaintextSize` bytes, wrapped by `master`. */
export function newFileKeys(master: EncryptionKey, fileId: string, plaintextSize: number): FileKeys {
  const dataKey = randomBytes(32);
  const partial = {
    cipher: CIPHER,
    segmentSize: DEFAULT_SEGMENT_SIZE,
    keyId: master.keyId,
    nonce: randomBytes(NONCE_BYTES).toString("base64"),
    plaintextSize,
  } as const;
  const iv = randomBytes(NONCE_BYTES);
  const c = createCipheriv("aes-256-gcm", master.key, iv);
  c.setAAD(wrapAad(fileId, partial));
  const wrapped = Buffer.concat([iv, c.update(dataKey), c.final(), c.getAuthTag()]);
  return keysOf({ ...partial, wrappedKey: wrapped.toString("base64") }, dataKey);
}

/**
 * Unwraps file `fileId`'s data key with `master`. A key with another id is an InputError naming
 * both ids; the right key that does not unwrap means the header was changed: DecryptionError.
 */
export function openFileKeys(master: EncryptionKey, fileId: string, e: FileEncryption): FileKeys {
  if (master.keyId !== e.keyId)
    throw new InputError(
      `the key in ${master.path} (key id ${master.keyId}) does not match key id ${e.keyId} that file ${fileId} was encrypted with: give that key's file`,
    );
  const wrapped = Buffer.from(e.wrappedKey, "base64");
  const d = createDecipheriv("aes-256-gcm", master.key, wrapped.subarray(0, NONCE_BYTES));
  d.setAAD(wrapAad(fileId, e));
  d.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
  try {
    const dataKey = Buffer.concat([d.update(wrapped.subarray(NONCE_BYTES, wrapped.length - TAG_BYTES)), d.final()]);
    return keysOf(e, dataKey);
  } catch (err) {
    throw new DecryptionError(
      `file ${fileId}'s encryption header failed authentication under key ${e.keyId}: it was changed in the manifest or belongs to another file`,
      { cause: err },
    );
  }
}

/** A running HMAC of the plaintext, as FileEncryption.plaintextMac records it. */
export const plaintextMac = (keys: FileKeys) => createHmac("sha256", keys.macKey);
