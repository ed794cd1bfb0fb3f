import { addAbortSignal, PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type ApiError,
  type Bucket,
  IdempotencyStrategy,
  RETRYABLE_ERR_FN_DEFAULT,
  Storage,
  type StorageOptions,
} from "@google-cloud/storage";
import { ConfigError, FerryError, ObjectNotFoundError, StoreAccessError, StoreUnavailableError } from "../../errors.ts";
import { abortable } from "../abortable.ts";
import { checkedSha256, hashingBody } from "../hashing-body.ts";
import { assertValidKey, assertValidPrefix, isValidKey } from "../keys.ts";
import { type FailedRequest, storeError, where } from "../store-errors.ts";
import type { BlobStore, ObjectInfo, PutOptions, PutResult, SignedUrl, SignedUrlOptions } from "../types.ts";
import type { GcsOpenSpec } from "./kind.ts";
import { LOCAL_GCS_PROJECT_ID } from "./local-server.ts";
import { signGcs, signingBucket } from "./signed-url.ts";

/** Tuning for tests; production uses the defaults. */
export interface GcsStoreTuning {
  /**
   * Limit for one upload request. Other requests go through teeny-request, which drops the SDK's
   * timeout (googleapis/google-cloud-node#7998), so each of those calls, retries included, gets twice this.
   * @default 30000
   */
  requestTimeoutMs?: number;
  /** Objects per list request. @default 1000 */
  listPageSize?: number;
}

/**
 * Bytes per resumable-upload request: the SDK holds one chunk in memory, so this bounds a put's
 * memory, and a failed request is retried from the chunk, not from the start. GCS wants multiples of 256 KiB.
 */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

/** About three attempts in all, with the SDK's exponential backoff and 0-1 s of jitter, within a minute. */
const RETRY_OPTIONS = {
  autoRetry: true,
  maxRetries: 2,
  retryDelayMultiplier: 2,
  maxRetryDelay: 4,
  totalTimeout: 60,
  // Every write either carries ifGenerationMatch or replaces the whole object from one resumable
  // session, and a repeated delete finds nothing (fine): a retry cannot do what one request would not.
  idempotencyStrategy: IdempotencyStrategy.RetryAlways,
  retryableErrorFn: isTransient,
};

/** Socket codes the SDK's own rule leaves out although waiting fixes them. */
const TRANSIENT_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/i;

type Interceptor = NonNullable<StorageOptions["interceptors_"]>[number];
type Signal = { signal?: AbortSignal | undefined } | undefined;

/**
 * A BlobStore on a Google Cloud Storage bucket (or fake-gcs-server) through @google-cloud/storage.
 * Puts are resumable uploads in UPLOAD_CHUNK_BYTES requests, create-only by `ifGenerationMatch: 0`;
 * an unfinished upload is never an object, so nothing needs sweeping.
 */
export class GcsStore implements BlobStore {
  readonly kind = "gcs" as const;
  readonly cloud: string;
  readonly bucket: string;
  readonly #bucket: Bucket;
  readonly #listPageSize: number;
  readonly #callTimeoutMs: number;
  /** Set once the bucket was seen to exist: a 404 after that means "no such object". */
  #bucketSeen = false;
  /** Made at the first signedUrl (see signingBucket). */
  #signer: (() => Bucket) | Bucket;
  /** The CMEK key objects are written with (`kmsKeyName` on each upload); undefined: the bucket's default. */
  readonly #kmsKeyName: string | undefined;

  constructor(spec: Omit<GcsOpenSpec, "kind">, tuning: GcsStoreTuning = {}) {
    if (!spec.cloud) throw new ConfigError(`gcs store: cloud must be a non-empty name`);
    if (!spec.bucket) throw new ConfigError(`gcs store [cloud=${spec.cloud}]: bucket must be a bucket name`);
    this.cloud = spec.cloud;
    this.bucket = spec.bucket;
    const requestTimeoutMs = tuning.requestTimeoutMs ?? 30_000;
    this.#listPageSize = tuning.listPageSize ?? 1000;
    this.#kmsKeyName = spec.kmsKeyName;
    this.#callTimeoutMs = 2 * requestTimeoutMs;
    const options = storageOptions(spec, requestTimeoutMs);
    this.#bucket = new Storage(options).bucket(spec.bucket);
    this.#signer = () => signingBucket(spec, options, this.#bucket);
  }

  /** A V4 signed URL for one GET or PUT of `key` (see signingBucket for who signs it). */
  async signedUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl> {
    if (typeof this.#signer === "function") this.#signer = this.#signer();
    try {
      return await signGcs(this.#signer, key, options, this.#kmsKeyName);
    } catch (err) {
      if (err instanceof FerryError) throw err;
      const failure = failureOf(err);
      if (failure.status !== undefined) throw storeError(this, "sign", key, failure, err);
      // No request failed: the credentials cannot sign (a user account, no client_email).
      throw new StoreAccessError(
        `sign ${where(this, key)}: ${failure.message}. Fix: sign as a service account (GOOGLE_APPLICATION_CREDENTIALS naming its key file, or an identity allowed iam.serviceAccounts.signBlob)`,
        { cause: err },
      );
    }
  }

  async put(key: string, body: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    const at = `put ${where(this, key)}`;
    const expectedSha256 = checkedSha256(options.expectedSha256, at);
    const { signal } = options;
    signal?.throwIfAborted();
    const hashed = hashingBody(body, { expectedSha256, signal, at });
    const file = this.#bucket.file(key, this.#kmsKeyName ? { kmsKeyName: this.#kmsKeyName } : {});
    const upload = file.createWriteStream({
      resumable: true,
      chunkSize: UPLOAD_CHUNK_BYTES,
      // The SDK compares its CRC32C of the bytes it sent with the one the service computed.
      validation: "crc32c",
      // Fixed, so the SDK does not guess a type from the key's extension.
      metadata: { contentType: "application/octet-stream" },
      ...(options.overwrite ? {} : { preconditionOpts: { ifGenerationMatch: 0 } }),
    });
    try {
      // The last request, the one that publishes, goes out only after the body has ended, i.e.
      // after every byte matched expectedSha256; a failing body destroys the upload before that.
      // An abort fails the body, so it is honoured until then and not after: like a rename on fs.
      await pipeline(hashed.chunks, upload);
    } catch (err) {
      if (hashed.isBodyError(err) || err instanceof FerryError) throw err;
      if (signal?.aborted) throw signal.reason;
      return this.#fail("put", key, err);
    }
    this.#bucketSeen = true;
    return hashed.result();
  }

  async get(key: string, options?: Signal): Promise<Readable> {
    assertValidKey(key);
    const signal = options?.signal;
    // Ask first so a missing object fails here; then read exactly that generation, so an
    // overwrite meanwhile cannot switch objects under the reader.
    const [metadata] = await this.#call("get", key, signal, () => this.#bucket.file(key).getMetadata());
    const file = this.#bucket.file(
      key,
      metadata.generation === undefined ? {} : { generation: Number(metadata.generation) },
    );
    const source = file.createReadStream({ validation: "crc32c" });
    const out = new PassThrough();
    source.once("error", (err) => out.destroy(this.#error("get", key, err)));
    out.once("close", () => source.destroy());
    source.pipe(out);
    return signal ? addAbortSignal(signal, out) : out;
  }

  async head(key: string, options?: Signal): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const [metadata] = await this.#call("head", key, options?.signal, () => this.#bucket.file(key).getMetadata());
      return { key, size: Number(metadata.size) };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  async delete(key: string, options?: Signal): Promise<void> {
    assertValidKey(key);
    try {
      await this.#call("delete", key, options?.signal, () => this.#bucket.file(key).delete());
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  }

  async *list(prefix: string, options?: Signal): AsyncGenerator<ObjectInfo> {
    assertValidPrefix(prefix);
    let pageToken: string | undefined;
    do {
      const query = {
        prefix,
        autoPaginate: false,
        maxResults: this.#listPageSize,
        ...(pageToken ? { pageToken } : {}),
      };
      const [files, next] = await this.#call("list", prefix || undefined, options?.signal, () =>
        this.#bucket.getFiles(query),
      );
      // GCS lists in byte order of the names, which for keys (ASCII) is plain string order.
      for (const file of files) {
        if (isValidKey(file.name)) yield { key: file.name, size: Number(file.metadata.size) };
      }
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
  }

  /** Nothing to release: the SDK pools its sockets process-wide and holds nothing per client. */
  async close(): Promise<void> {}

  /**
   * Runs one SDK call (retries included) within #callTimeoutMs; failures become typed errors. On an
   * abort or at the deadline it rejects at once, and the request is left to finish or fail on its own.
   */
  async #call<T>(
    op: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    request: () => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    const deadline = AbortSignal.timeout(this.#callTimeoutMs);
    try {
      return await abortable(request, signal ? AbortSignal.any([signal, deadline]) : deadline);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (deadline.aborted) {
        throw new StoreUnavailableError(
          `${op} ${where(this, key)}: store unavailable (no answer within ${this.#callTimeoutMs} ms)`,
          { cause: err },
        );
      }
      return this.#fail(op, key, err);
    }
  }

  /**
   * A failed SDK request as a typed error. fake-gcs-server answers a bare 404 for a missing bucket
   * and a missing object alike (GCS says which), so a 404 is checked against the bucket once.
   */
  async #fail(op: string, key: string | undefined, err: unknown): Promise<never> {
    if (err instanceof FerryError) throw err;
    const failure = failureOf(err);
    if (failure.status === 404 && !this.#bucketSeen) {
      const [exists] = await this.#call(op, key, undefined, () => this.#bucket.exists());
      if (!exists) throw storeError(this, op, key, { ...failure, message: `bucket ${this.bucket} not found` }, err);
      this.#bucketSeen = true;
    }
    if (failure.status === 404 && op === "put") {
      // The bucket is there, so the resumable session is gone (it expired, or an emulator restarted).
      throw new StoreUnavailableError(
        `${op} ${where(this, key)}: the upload session was lost (404); the put can start again`,
        { cause: err },
      );
    }
    throw storeError(this, op, key, failure, err);
  }

  #error(op: string, key: string | undefined, err: unknown): FerryError {
    return err instanceof FerryError ? err : storeError(this, op, key, failureOf(err), err);
  }
}

/** The SDK's options: the emulator without auth, else Application Default Credentials; timeouts and retries for both. */
export function storageOptions(spec: Omit<GcsOpenSpec, "kind">, timeoutMs: number): StorageOptions {
  // The SDK lets this variable override apiEndpoint for some requests but not others (googleapis/nodejs-storage#2069).
  if (process.env.STORAGE_EMULATOR_HOST !== undefined) {
    throw new ConfigError(
      `gcs store [cloud=${spec.cloud}]: STORAGE_EMULATOR_HOST is set; unset it and give the endpoint in topology.json instead`,
    );
  }
  const common: StorageOptions = {
    retryOptions: RETRY_OPTIONS,
    timeout: timeoutMs,
    // Resumable uploads ignore `timeout`, but interceptors' options reach their requests too.
    interceptors_: [
      { request: (reqOpts) => ({ ...reqOpts, timeout: timeoutMs }) as ReturnType<Interceptor["request"]> },
    ],
  };
  if (spec.local) {
    if (!spec.endpoint)
      throw new ConfigError(
        `gcs store [cloud=${spec.cloud}]: "local": true needs the emulator's endpoint (http://127.0.0.1:<port>)`,
      );
    return {
      ...common,
      apiEndpoint: spec.endpoint,
      projectId: spec.projectId ?? LOCAL_GCS_PROJECT_ID,
      useAuthWithCustomEndpoint: false,
    };
  }
  return {
    ...common,
    ...(spec.projectId ? { projectId: spec.projectId } : {}),
    ...(spec.endpoint ? { apiEndpoint: spec.endpoint, useAuthWithCustomEndpoint: true } : {}),
  };
}

/** The SDK's retry rule, plus refused connections and timeouts, which it leaves out. */
function isTransient(err: ApiError): boolean {
  if (RETRYABLE_ERR_FN_DEFAULT(err)) return true;
  const codes: unknown[] = [err.code, err.name, ...(err.errors ?? []).map((e) => e.reason)];
  return codes.some((c) => typeof c === "string" && TRANSIENT_CODES.test(c));
}

/**
 * What the SDK's many error shapes (ApiError, GaxiosError, a bare `{ code, message }` from a
 * resumable upload, socket errors) say about a failed request.
 */
export function failureOf(err: unknown): FailedRequest {
  type Shape = {
    code?: unknown;
    status?: unknown;
    name?: unknown;
    message?: unknown;
    errors?: { reason?: unknown }[];
    response?: { status?: unknown };
    cause?: { name?: unknown };
  };
  const e = (err ?? {}) as Shape;
  const status = [e.code, e.status, e.response?.status].find((s): s is number => typeof s === "number");
  const reason = Array.isArray(e.errors) ? e.errors.find((x) => typeof x?.reason === "string")?.reason : undefined;
  // The caller's own aborts are handled before this, so an aborted request is one that timed out.
  const timedOut = [e.name, e.cause?.name].some((n) => n === "AbortError" || n === "TimeoutError");
  const code =
    typeof e.code === "string" ? e.code : typeof reason === "string" ? reason : timedOut ? "TimeoutError" : undefined;
  return {
    ...(status === undefined ? {} : { status }),
    ...(code === undefined ? {} : { code }),
    message: typeof e.message === "string" ? e.message : String(err),
  };
}
