import type { Readable } from "node:stream";
import type { StoreKind } from "./registry.ts";

export type { StoreKind };

/** Where an object lives: enough to find it again from any process. */
export interface ObjectLocation {
  cloud: string;
  store: StoreKind;
  /** Bucket or container; for `fs`, the store's name. */
  bucket: string;
  key: string;
}

export interface PutOptions {
  /** When given, the store refuses (and leaves nothing visible) unless the bytes hash to it. */
  expectedSha256?: string;
  /**
   * Replace an existing object atomically instead of failing with ObjectExistsError.
   * @default false (create-only)
   */
  overwrite?: boolean;
  signal?: AbortSignal;
}

export interface PutResult {
  size: number;
  sha256: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
}

/** What a short-lived URL for one object may do, and for how long. */
export interface SignedUrlOptions {
  method: "GET" | "PUT";
  /** Seconds from now until the URL stops working. */
  expiresInSec: number;
}

/** A URL that lets its holder, with no credentials, GET or PUT one object until it expires. */
export interface SignedUrl {
  url: string;
  /** Headers the request must carry (e.g. Azure's `x-ms-blob-type` on a PUT). */
  headers: Record<string, string>;
}

/**
 * A blob store. Keys are built by the project from ids and hashes (never from user file names):
 * `[A-Za-z0-9._-]` segments separated by `/`.
 * A put is all or nothing: a reader never sees a partial object under the key.
 */
export interface BlobStore {
  readonly cloud: string;
  readonly kind: StoreKind;
  readonly bucket: string;
  /** Streams `body` into `key`; throws ObjectExistsError (create-only), ChecksumMismatchError, StoreUnavailableError. */
  put(key: string, body: Readable | AsyncIterable<Uint8Array>, options?: PutOptions): Promise<PutResult>;
  /** A stream of the object's bytes; throws ObjectNotFoundError. */
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  /** Size of the object, or undefined when there is none. */
  head(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;
  /**
   * Removes what writers that died mid-put left behind (temp files, unfinished uploads) once it has
   * not been touched for `olderThanMs`; returns how many it removed. Stores that need no sweeping omit it.
   */
  sweepTemp?(olderThanMs: number): Promise<number>;
  /**
   * A short-lived URL for one object, signed with this store's own credentials (S3 presigned URL,
   * GCS V4 signed URL, Azure SAS). Kinds with no native URL (fs) omit it: their cloud's gateway serves them.
   */
  signedUrl?(key: string, options: SignedUrlOptions): Promise<SignedUrl>;
  /** Releases connections; idempotent. */
  close(): Promise<void>;
}
