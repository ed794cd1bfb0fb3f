import { basename, isAbsolute } from "node:path";
import { ciphertextSize, type FileEncryption, parseFileEncryption } from "../../shared/crypto/file-encryption.ts";
import { PoisonMessageError } from "../../shared/errors.ts";
import { parseJsonObject, TRANSFORMS, type Transform } from "../../shared/events.ts";
import { assertFileId, fileIdFromSequence } from "../../shared/ids.ts";
import { defaultRecordBoundaries } from "../../shared/sources/chunk-plan.ts";
import { parseObjectUrl } from "../../shared/sources/object-url.ts";
import { parseUploaded, type UploadedFile } from "../../shared/sources/uploaded.ts";
import { parseSize } from "../../shared/units.ts";
import { boundedString, REQUEST_FIELDS, REQUEST_LIMITS, refuseUnknownFields, shown } from "./request-limits.ts";

/**
 * An ingest request, as published to `files.ingest` by the CLI or any NATS client:
 * `{"path": "/data/train.jsonl"}` or `{"url": "s3://bucket/key"}` at least; see the README for every field.
 */
export interface IngestRequest {
  fileId: string;
  /**
   * What to read: the absolute path of a file on this cloud's hosts (under its source roots), or
   * the URL of an object in this cloud's store (`s3://bucket/key`, `gs://bucket/object`, `az://container/blob`).
   */
  source: string;
  /**
   * Shown to people only, as data: it may hold any character (NUL, control characters, `/`, `..`,
   * `*`, `>`, RTL overrides) and never reaches a subject, a key, a path or raw HTML.
   * @default the path's or object's base name
   */
  name: string;
  chunkSize: number;
  /** Cut chunks after a newline so each chunk holds whole records. @default true for .jsonl/.ndjson/.csv/.tsv/.txt */
  recordBoundaries: boolean;
  transforms: Transform[];
  /** Set when a client wrote the chunks into this cloud's staging itself; `source` is then `upload:<fileId>`. */
  uploaded?: UploadedFile;
  /** Set when the client encrypted the uploaded chunks (never a key: see shared/crypto/file-encryption.ts). */
  encryption?: FileEncryption;
}

export const MAX_CHUNK_SIZE = REQUEST_LIMITS.maxChunkSize;

/**
 * Validates a raw request against the schema and its limits (request-limits.ts); every problem is a
 * PoisonMessageError that names the field and the fix.
 */
export function parseIngestRequest(data: Uint8Array, streamSeq: number, defaultChunkSize: number): IngestRequest {
  if (data.length > REQUEST_LIMITS.requestBytes)
    throw new PoisonMessageError(
      `ingest request is ${data.length} bytes, more than the ${REQUEST_LIMITS.requestBytes} allowed: list fewer chunks or shorten its fields`,
    );
  const o = parseJsonObject(data, "ingest request");
  refuseUnknownFields(o, REQUEST_FIELDS, "ingest request");
  if (o.uploaded !== undefined && o.fileId === undefined)
    throw new PoisonMessageError(`ingest request with "uploaded" needs the "fileId" its chunks were staged under`);
  const fileId = o.fileId === undefined ? fileIdFromSequence("FILES", streamSeq) : o.fileId;
  try {
    assertFileId(fileId);
  } catch (err) {
    throw new PoisonMessageError(`ingest request: ${(err as Error).message}`);
  }
  const uploaded = o.uploaded === undefined ? undefined : parseUploaded(o.uploaded);
  if (uploaded && (o.path !== undefined || o.url !== undefined))
    throw new PoisonMessageError(`ingest request has "uploaded" and a "path" or "url": give one source`);
  const source = uploaded ? `upload:${fileId}` : sourceOf(o);
  const name = boundedString("name", o.name === undefined ? basename(source) : o.name, REQUEST_LIMITS.nameBytes, true);
  return {
    fileId,
    source,
    name,
    chunkSize: chunkSizeOf(o.chunkSize, defaultChunkSize),
    recordBoundaries:
      o.recordBoundaries === undefined ? defaultRecordBoundaries(name) : bool("recordBoundaries", o.recordBoundaries),
    transforms: transformsOf(o.transforms),
    ...(uploaded ? { uploaded } : {}),
    ...encryptionOf(o.encryption, uploaded),
  };
}

/** The request's `encryption`: only with `uploaded`, and its sizes must be the ciphertext's. */
function encryptionOf(v: unknown, uploaded: UploadedFile | undefined): { encryption?: FileEncryption } {
  if (v === undefined) return {};
  const bad = (why: string) => new PoisonMessageError(`ingest request field "encryption": ${why}`);
  if (!uploaded) throw bad(`only a client that uploads its chunks encrypts them: give "uploaded" too`);
  const encryption = parseFileEncryption(v, bad);
  if (ciphertextSize(encryption) !== uploaded.size)
    throw bad(
      `${encryption.plaintextSize} plaintext bytes make ${ciphertextSize(encryption)} of ciphertext, not the ${uploaded.size} uploaded`,
    );
  return { encryption };
}

/** The request's `path` (absolute) or `url` (an object URL): exactly one of them. */
function sourceOf(o: Record<string, unknown>): string {
  if (o.path !== undefined && o.url !== undefined)
    throw new PoisonMessageError(`ingest request has both "path" and "url": give one source`);
  if (o.url !== undefined) {
    if (typeof o.url !== "string")
      throw new PoisonMessageError(`ingest request field "url" must be a string such as "s3://bucket/key"`);
    const url = boundedString("url", o.url, REQUEST_LIMITS.sourceBytes);
    try {
      return parseObjectUrl(url).url;
    } catch (err) {
      throw new PoisonMessageError(`ingest request field "url": ${(err as Error).message}`);
    }
  }
  if (o.path === undefined)
    throw new PoisonMessageError(
      `ingest request lacks field "path" (the absolute path of the file to ingest) or "url" (s3://, gs:// or az://)`,
    );
  if (typeof o.path !== "string" || !isAbsolute(o.path)) {
    throw new PoisonMessageError(`ingest request field "path" must be an absolute path, got ${shown(o.path)}`);
  }
  return boundedString("path", o.path, REQUEST_LIMITS.sourceBytes);
}

function chunkSizeOf(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  // A size is a few characters: a longer string is refused before it is parsed.
  const raw = typeof v === "string" ? boundedString("chunkSize", v, 32) : v;
  let n: number;
  try {
    n = parseSize("chunkSize", raw);
  } catch {
    throw new PoisonMessageError(
      `ingest request field "chunkSize" must be a size such as "8MiB" or 1048576, got ${shown(v)}`,
    );
  }
  if (n < REQUEST_LIMITS.minChunkSize || n > REQUEST_LIMITS.maxChunkSize)
    throw new PoisonMessageError(`ingest request field "chunkSize" must be between 1 KiB and 1 GiB, got ${n}`);
  return n;
}

function bool(field: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw new PoisonMessageError(`ingest request field "${field}" must be true or false`);
  return v;
}

function transformsOf(v: unknown): Transform[] {
  if (v === undefined) return [];
  const ok = Array.isArray(v) && v.every((t) => TRANSFORMS.includes(t as Transform)) && new Set(v).size === v.length;
  if (!ok) {
    throw new PoisonMessageError(
      `ingest request field "transforms" must be a list of ${JSON.stringify(TRANSFORMS)}, each at most once, got ${shown(v)}`,
    );
  }
  return v as Transform[];
}
