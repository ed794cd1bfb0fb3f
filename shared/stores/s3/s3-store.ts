import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ConfigError, FerryError, InputError, ObjectNotFoundError, StoreUnavailableError } from "../../errors.ts";
import { checkedSha256, hashingBody } from "../hashing-body.ts";
import { assertValidKey, assertValidPrefix, isValidKey } from "../keys.ts";
import { type FailedRequest, storeError, where } from "../store-errors.ts";
import type { BlobStore, ObjectInfo, PutOptions, PutResult, SignedUrl, SignedUrlOptions } from "../types.ts";
import { s3EncryptionParams } from "./encryption.ts";
import type { S3OpenSpec } from "./kind.ts";
import { LOCAL_S3_CREDENTIALS } from "./local-server.ts";
import { presignS3 } from "./signed-url.ts";

export type S3StoreOptions = Omit<S3OpenSpec, "kind">;

const MIB = 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * MIB;
/** S3's limits for every part but the last. */
export const MIN_PART_SIZE = 5 * MIB;
const MAX_PART_SIZE = 5 * 1024 * MIB;
/** Parts in flight per put; memory stays near partSize x (QUEUE_SIZE + 1) whatever the object size. */
const QUEUE_SIZE = 3;
/** SDK attempts per request, with the standard mode's exponential backoff and full jitter. */
const MAX_ATTEMPTS = 3;
const CONNECT_TIMEOUT_MS = 5_000;
/** A request whose socket stays silent this long fails (and is retried): a hung server cannot hang a put. */
const SOCKET_IDLE_TIMEOUT_MS = 30_000;

/** An S3 bucket through the AWS SDK; uploads stream through the SDK's multipart Upload helper. */
export class S3Store implements BlobStore {
  readonly kind = "s3" as const;
  readonly cloud: string;
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #partSize: number;
  readonly #options: S3StoreOptions;
  /** Made at the first signedUrl: a client that signs no flexible checksum into PUT URLs. */
  #signer: S3Client | undefined;
  #bucketSeen = false;
  #closed = false;

  constructor(options: S3StoreOptions) {
    const { cloud, bucket, region, endpoint, local } = options;
    if (!cloud) throw new ConfigError(`s3 store: cloud must be a non-empty name`);
    const at = `s3 store [cloud=${cloud}]`;
    if (!bucket) throw new ConfigError(`${at}: bucket must be a non-empty bucket name`);
    if (!region) throw new ConfigError(`${at}: region must be set (e.g. "us-east-1")`);
    if (endpoint !== undefined && !URL.canParse(endpoint)) {
      throw new ConfigError(`${at}: endpoint ${JSON.stringify(endpoint)} is not a URL (e.g. "http://127.0.0.1:7070")`);
    }
    if (local && endpoint === undefined) throw new ConfigError(`${at}: local: true needs the local server's endpoint`);
    const partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
    if (!(Number.isInteger(partSize) && partSize >= MIN_PART_SIZE && partSize <= MAX_PART_SIZE)) {
      throw new ConfigError(`${at}: partSizeBytes ${partSize} must be a whole number of bytes from 5 MiB to 5 GiB`);
    }
    this.cloud = cloud;
    this.bucket = bucket;
    this.#partSize = partSize;
    this.#client = s3Client(options);
    this.#options = options;
  }

  /** A presigned URL for one GET or PUT of `key`, signed with this store's credentials. */
  async signedUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl> {
    this.#signer ??= s3Client(this.#options, { requestChecksumCalculation: "WHEN_REQUIRED" });
    try {
      return await presignS3(this.#signer, this.bucket, key, options, this.#options);
    } catch (err) {
      // Presigning is local: what fails is finding credentials, which storeError names with the fix.
      throw this.#failure("sign", key, err);
    }
  }

  /**
   * Streams `body` in parts (one PutObject when it fits in one part). Create-only by the service's
   * own condition, `If-None-Match: *` on PutObject and CompleteMultipartUpload; each part and
   * PutObject carries a SHA-256 the service verifies.
   */
  async put(key: string, body: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    const { signal } = options;
    const at = `put ${where(this, key)}`;
    const expectedSha256 = checkedSha256(options.expectedSha256, at);
    signal?.throwIfAborted();
    const hashed = hashingBody(body, { expectedSha256, signal, at });
    const upload = new Upload({
      client: withSignal(this.#client, signal),
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: Readable.from(hashed.chunks, { objectMode: true, highWaterMark: 1 }),
        ChecksumAlgorithm: "SHA256",
        ...s3EncryptionParams(this.#options),
        ...(options.overwrite ? {} : { IfNoneMatch: "*" }),
      },
      partSize: this.#partSize,
      queueSize: QUEUE_SIZE,
    });
    try {
      // A failing body (mismatch, abort, the caller's own error) makes Upload abort the multipart
      // upload before it rejects, so nothing is published and nothing is left unfinished.
      await upload.done();
    } catch (err) {
      if (err instanceof FerryError || hashed.isBodyError(err)) throw err;
      throw this.#failure("put", key, err, signal);
    }
    return hashed.result();
  }

  async get(key: string, options?: { signal?: AbortSignal }): Promise<Readable> {
    assertValidKey(key);
    const signal = options?.signal;
    signal?.throwIfAborted();
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      if (!(out.Body instanceof Readable))
        throw new StoreUnavailableError(`get ${where(this, key)}: the SDK returned no Node stream`);
      return out.Body;
    } catch (err) {
      throw this.#failure("get", key, err, signal);
    }
  }

  async head(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    const signal = options?.signal;
    signal?.throwIfAborted();
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      return { key, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (failureOf(err).status !== 404) throw this.#failure("head", key, err, signal);
    }
    // A HEAD response has no body, so a missing object and a missing bucket look alike: ask once.
    await this.#assertBucket(key, signal);
    return undefined;
  }

  async delete(key: string, options?: { signal?: AbortSignal }): Promise<void> {
    assertValidKey(key);
    const signal = options?.signal;
    signal?.throwIfAborted();
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
    } catch (err) {
      const failure = this.#failure("delete", key, err, signal);
      if (!(failure instanceof ObjectNotFoundError)) throw failure;
    }
  }

  async *list(prefix: string, options?: { signal?: AbortSignal }): AsyncGenerator<ObjectInfo> {
    assertValidPrefix(prefix);
    const signal = options?.signal;
    let token: string | undefined;
    do {
      signal?.throwIfAborted();
      const command = new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix || undefined,
        ContinuationToken: token,
      });
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(command, { abortSignal: signal });
      } catch (err) {
        throw this.#failure("list", prefix || undefined, err, signal);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined && isValidKey(object.Key)) yield { key: object.Key, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Aborts multipart uploads initiated more than `olderThanMs` ago (writers that died mid-put); returns how many. */
  async sweepTemp(olderThanMs: number): Promise<number> {
    if (!(Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
      throw new InputError(`sweepTemp ${where(this)}: olderThanMs ${olderThanMs} is not a non-negative number`);
    }
    // S3 keeps only an upload's start time, so a live put older than the limit is swept too;
    // it then fails retryably (NoSuchUpload) and publishes nothing.
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page: ListMultipartUploadsCommandOutput;
      try {
        page = await this.#client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
      } catch (err) {
        throw this.#failure("sweepTemp", undefined, err);
      }
      for (const { Key, UploadId, Initiated } of page.Uploads ?? []) {
        if (Key === undefined || UploadId === undefined || Initiated === undefined || Initiated.getTime() > cutoff)
          continue;
        try {
          await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }));
          removed++;
        } catch (err) {
          if (failureOf(err).code !== "NoSuchUpload") throw this.#failure("sweepTemp", Key, err);
        }
      }
      if (!page.IsTruncated) return removed;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** Closes the SDK's connections; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
    this.#signer?.destroy();
  }

  /** Throws StoreAccessError when the bucket is missing; remembers a bucket it has seen. */
  async #assertBucket(key: string, signal: AbortSignal | undefined): Promise<void> {
    if (this.#bucketSeen) return;
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (err) {
      const failure = failureOf(err);
      if (failure.status !== 404) throw this.#failure("head", key, err, signal);
      throw storeError(this, "head", key, { ...failure, code: "NoSuchBucket" }, err);
    }
    this.#bucketSeen = true;
  }

  /** The typed error for a failed request: the abort reason when `signal` ended it, else by status and code. */
  #failure(op: string, key: string | undefined, err: unknown, signal?: AbortSignal): unknown {
    if (err instanceof FerryError) return err;
    if (signal?.aborted) return signal.reason;
    const failure = failureOf(err);
    if (op === "put" && (failure.code === "ObjectParentIsFile" || failure.code === "ExistingObjectIsDirectory")) {
      // Servers on a file system (versitygw's posix backend) cannot hold both "a" and "a/b".
      return new InputError(
        `put ${where(this, key)}: the key collides with another object's path (${failure.code}); on this server "a" and "a/b" cannot both exist`,
        { cause: err },
      );
    }
    if (op === "put" && failure.code === "NoSuchUpload") {
      return new StoreUnavailableError(
        `put ${where(this, key)}: the unfinished upload was swept before it completed; retry the put`,
        { cause: err },
      );
    }
    return storeError(this, op, key, failure, err);
  }
}

/**
 * The SDK client for a spec (checked by the caller): region, endpoint, path style, retries and
 * timeouts, and the local server's development credentials when `local`. Also what s3:// sources use.
 */
export function s3Client(spec: S3StoreOptions, extra: S3ClientConfig = {}): S3Client {
  const { region, endpoint, local } = spec;
  return new S3Client({
    ...extra,
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    forcePathStyle: spec.forcePathStyle ?? endpoint !== undefined,
    // Without `local`, the SDK's default chain (environment, profiles, instance roles).
    ...(local ? { credentials: LOCAL_S3_CREDENTIALS } : {}),
    maxAttempts: MAX_ATTEMPTS,
    retryMode: "standard",
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_TIMEOUT_MS },
  });
}

/** Status and code of an SDK error: service errors carry `$metadata` and a code, socket errors a `code` like ECONNREFUSED. */
export function failureOf(err: unknown): FailedRequest {
  const e = (err ?? {}) as {
    $metadata?: { httpStatusCode?: unknown };
    Code?: unknown;
    code?: unknown;
    name?: unknown;
    message?: unknown;
  };
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const code = [e.Code, e.code, e.name].find((c): c is string => typeof c === "string" && c !== "" && c !== "Error");
  const message = typeof e.message === "string" ? e.message : String(err);
  return { ...(status === undefined ? {} : { status }), ...(code === undefined ? {} : { code }), message };
}

/**
 * The client as the Upload helper sees it, with `signal` on each of its requests: Upload sends none
 * of its own, so an abort would otherwise wait for the parts in flight. The AbortMultipartUpload it
 * sends to clean up goes out without it, so an abort still leaves no unfinished upload behind.
 */
function withSignal(client: S3Client, signal: AbortSignal | undefined): S3Client {
  if (signal === undefined) return client;
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return (command: Parameters<S3Client["send"]>[0]) =>
        target.send(command, command instanceof AbortMultipartUploadCommand ? {} : { abortSignal: signal });
    },
  });
}
