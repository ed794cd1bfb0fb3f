import { chunkListDigest, FILE_DIGEST_KINDS, type FileDigestKind } from "../chunk-digest.ts";
import { PoisonMessageError } from "../errors.ts";

/**
 * A file a client has already cut and written into a cloud's staging area itself (`ferry ingest
 * --upload`): the ingest request carries what it wrote, chunk by chunk, and the cloud's ingest
 * worker checks the staged objects and announces them without reading any client's disk. Chunk
 * `i` is the object `staging/<fileId>/<i>`.
 */
export interface UploadedFile {
  size: number;
  /** SHA-256 of the whole file as the client read it, or its chunk-list digest when `digest` says so. */
  sha256: string;
  chunks: Array<{ offset: number; size: number; sha256: string }>;
  /** "chunk-list" when the client resumed an interrupted upload (shared/chunk-digest.ts). @default "sha256" */
  digest?: FileDigestKind;
}

/** Chunks one request may list (about 120 bytes each, within NATS's 1 MiB payload): 40 GiB at 8 MiB chunks. */
export const MAX_UPLOADED_CHUNKS = 5000;

const SHA256 = /^[0-9a-f]{64}$/;

/** Checks the `uploaded` field of an ingest request: contiguous chunks that add up to the file. */
export function parseUploaded(v: unknown): UploadedFile {
  const bad = (why: string) => new PoisonMessageError(`ingest request field "uploaded": ${why}`);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad("expected an object");
  const o = v as Record<string, unknown>;
  const extra = unknownField(o, ["size", "sha256", "chunks", "digest"]);
  if (extra) throw bad(`unknown field ${extra}: the fields are size, sha256, chunks, digest`);
  if (!isSize(o.size)) throw bad(`"size" must be a whole number of bytes`);
  if (typeof o.sha256 !== "string" || !SHA256.test(o.sha256)) throw bad(`"sha256" must be 64 lower-case hex digits`);
  if (!Array.isArray(o.chunks)) throw bad(`"chunks" must be a list`);
  if (o.chunks.length > MAX_UPLOADED_CHUNKS)
    throw bad(`${o.chunks.length} chunks is more than ${MAX_UPLOADED_CHUNKS}: upload with a larger chunk size`);
  let offset = 0;
  const chunks = o.chunks.map((c: unknown, i) => {
    const x = (c ?? {}) as Record<string, unknown>;
    const extraInChunk = unknownField(x, ["offset", "size", "sha256"]);
    if (extraInChunk) throw bad(`chunk ${i} has unknown field ${extraInChunk}: a chunk has offset, size, sha256`);
    if (x.offset !== offset) throw bad(`chunk ${i} must start at byte ${offset}`);
    if (!isSize(x.size) || x.size === 0) throw bad(`chunk ${i} must have a size of at least 1 byte`);
    if (typeof x.sha256 !== "string" || !SHA256.test(x.sha256)) throw bad(`chunk ${i} needs its sha256`);
    offset += x.size;
    return { offset: x.offset, size: x.size, sha256: x.sha256 };
  });
  if (offset !== o.size) throw bad(`the chunks add up to ${offset} bytes, not the file's ${o.size}`);
  if (o.digest === undefined || o.digest === "sha256") return { size: o.size, sha256: o.sha256, chunks };
  if (!FILE_DIGEST_KINDS.includes(o.digest as FileDigestKind))
    throw bad(`"digest" must be one of ${JSON.stringify(FILE_DIGEST_KINDS)}, got ${JSON.stringify(o.digest)}`);
  // A chunk-list digest can be checked here and now, from the list itself.
  if (o.sha256 !== chunkListDigest(chunks)) throw bad(`"sha256" is not the chunk-list digest of the chunks listed`);
  return { size: o.size, sha256: o.sha256, chunks, digest: "chunk-list" };
}

const isSize = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The first key of `o` not in `known`, quoted and cut short for a message; undefined when there is none. */
function unknownField(o: Record<string, unknown>, known: string[]): string | undefined {
  const k = Object.keys(o).find((key) => !known.includes(key));
  return k === undefined ? undefined : JSON.stringify(k.slice(0, 64));
}
