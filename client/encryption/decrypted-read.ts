import { timingSafeEqual } from "node:crypto";
import { Readable } from "node:stream";
import {
  ciphertextSize,
  type FileEncryption,
  parseFileEncryption,
  sealedOffset,
  segmentCount,
} from "../../shared/crypto/file-encryption.ts";
import { InputError } from "../../shared/errors.ts";
import { type FileRecord, type ManifestReader, readFileRecord } from "../../shared/manifest.ts";
import { type ByteRange, resolveByteRange } from "../byte-range.ts";
import { type FileStream, type FileStreamOptions, openFileStream } from "../file-stream.ts";
import type { ReplicaSource } from "../replica-read.ts";
import { type FileKeys, openFileKeys, plaintextMac } from "./envelope.ts";
import { type EncryptionKey, KEY_FILE_ENV, loadKeyFile } from "./key-file.ts";
import { DecryptionError, openSegments } from "./segments.ts";

export interface PlainStreamOptions extends FileStreamOptions {
  /** The deployment key's file, for an encrypted file (`--key-file`, FERRY_ENCRYPTION_KEY_FILE). */
  keyFile?: string;
}

/**
 * Opens a file, or a byte range of it, as its plaintext: what openFileStream gives for a file
 * ingested in the clear; for an encrypted one (`ferry ingest --encrypt`) the ciphertext segments
 * covering the range, each chunk verified as usual, each segment authenticated before any of its
 * bytes are pushed, and for a whole-file read the plaintext's HMAC checked at the end. `range` is in
 * plaintext bytes. A missing or wrong key fails before the first byte.
 */
export async function openPlainStream(
  kv: ManifestReader,
  stores: Map<string, ReplicaSource>,
  fileId: string,
  options: PlainStreamOptions,
): Promise<FileStream> {
  const record = await readFileRecord(kv, fileId);
  if (!record?.encryption) return openFileStream(kv, stores, fileId, options);
  const { encryption, keys } = await unlock(record, options.keyFile);
  const range = resolveByteRange(options.range, encryption.plaintextSize);
  const span = segmentSpan(range, encryption);
  const sealedEnd = Math.min(ciphertextSize(encryption), sealedOffset(span.last + 1, encryption.segmentSize)) - 1;
  const sealed = await openFileStream(kv, stores, fileId, {
    ...options,
    range: { start: sealedOffset(span.first, encryption.segmentSize), end: sealedEnd },
  });
  const where = `file ${fileId}`;
  const whole = range.length === encryption.plaintextSize;
  const plain = plainBytes(keys, span, sealed.stream, range, whole ? encryption.plaintextMac : undefined, where);
  const stream = Readable.from(plain, { objectMode: false, highWaterMark: 1 });
  return { file: sealed.file, range, stream };
}

/** The file's encryption header checked, and its keys unwrapped with the key in `keyFile`. */
async function unlock(
  record: FileRecord,
  keyFile: string | undefined,
): Promise<{ encryption: FileEncryption; keys: FileKeys }> {
  const encryption = parseFileEncryption(
    record.encryption,
    (why) => new DecryptionError(`file ${record.fileId}'s encryption header in the manifest is malformed: ${why}`),
  );
  if (keyFile === undefined)
    throw new InputError(
      `file ${record.fileId} is encrypted (key id ${encryption.keyId}): give its key with --key-file or ${KEY_FILE_ENV}`,
    );
  const key: EncryptionKey = await loadKeyFile(keyFile);
  const keys = openFileKeys(key, record.fileId, encryption);
  if (record.size !== ciphertextSize(encryption))
    throw new DecryptionError(
      `file ${record.fileId} is ${record.size} bytes in the manifest, not the ${ciphertextSize(encryption)} its encryption header makes it`,
    );
  return { encryption, keys };
}

/** The segments holding the range's bytes (the one segment of an empty file for an empty range). */
function segmentSpan(range: ByteRange, e: FileEncryption): { first: number; last: number } {
  if (range.length === 0) {
    const last = segmentCount(e.plaintextSize, e.segmentSize) - 1;
    return { first: last, last };
  }
  return { first: Math.floor(range.start / e.segmentSize), last: Math.floor(range.end / e.segmentSize) };
}

async function* plainBytes(
  keys: FileKeys,
  span: { first: number; last: number },
  sealed: Readable,
  range: ByteRange,
  expectedMac: string | undefined,
  where: string,
): AsyncGenerator<Buffer> {
  const mac = expectedMac === undefined ? undefined : plaintextMac(keys);
  const size = keys.segments.segmentSize;
  try {
    for await (const { index, plain } of openSegments(keys.segments, span, sealed, where)) {
      mac?.update(plain);
      const from = Math.max(range.start - index * size, 0);
      const to = Math.min(range.end + 1 - index * size, plain.length);
      if (to > from) yield plain.subarray(from, to);
    }
  } finally {
    sealed.destroy();
  }
  if (mac && expectedMac && !timingSafeEqual(mac.digest(), Buffer.from(expectedMac, "hex")))
    throw new DecryptionError(`${where} decrypted to bytes whose HMAC does not match the one recorded at encryption`);
}
