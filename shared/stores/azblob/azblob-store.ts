import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { ContainerClient } from "@azure/storage-blob";
import {
  ChecksumMismatchError,
  ConfigError,
  FerryError,
  ObjectNotFoundError,
  StoreAccessError,
  StoreUnavailableError,
} from "../../errors.ts";
import { retry } from "../../retry.ts";
import { chunksOf } from "../body.ts";
import { checkedSha256 } from "../hashing-body.ts";
import { assertValidKey, assertValidPrefix, isValidKey } from "../keys.ts";
import { type FailedRequest, storeError, where } from "../store-errors.ts";
import type { BlobStore, ObjectInfo, PutOptions, PutResult, SignedUrl, SignedUrlOptions } from "../types.ts";
import { AZURE_CONTAINER_NAME, failureOf, serviceClient } from "./client.ts";
import type { AzblobOpenSpec } from "./kind.ts";
import { signAzblob } from "./signed-url.ts";
import { StagedBlocks } from "./staged-blocks.ts";

/** How a store moves bytes and how hard it tries; the defaults suit both Azure and Azurite. */
export interface AzblobTuning {
  /** Bytes per staged block; a put holds at most maxConcurrency + 1 of them. @default 4 MiB */
  blockSizeBytes?: number;
  /** Blocks of one put in flight at once. @default 4 */
  maxConcurrency?: number;
  /** How long one request may wait for the service's answer before it counts as failed. @default 30000 */
  requestTimeoutMs?: number;
  /** Tries per request, the first included, before the typed error surfaces. @default 3 */
  maxTries?: number;
  /** Delay before the first retry; it doubles per try, with jitter. @default 500 */
  retryBaseMs?: number;
}

type Tuning = Required<AzblobTuning>;
type Signal = { signal?: AbortSignal | undefined } | undefined;

const DEFAULT_TUNING: Tuning = {
  blockSizeBytes: 4 * 1024 * 1024,
  maxConcurrency: 4,
  requestTimeoutMs: 30_000,
  maxTries: 3,
  retryBaseMs: 500,
};
/** Azure accepts blocks of up to 4000 MiB; beyond 100 MiB a put would hold too much memory. */
const MAX_BLOCK_BYTES = 100 * 1024 * 1024;
const RETRY_CAP_MS = 10_000;
const LIST_PAGE_SIZE = 1000;

/**
 * A BlobStore on an Azure Blob container. A put stages blocks (each with a Content-MD5 the service
 * checks) and commits the block list in one request, with `If-None-Match: *` unless overwriting: the
 * object appears whole or not at all, and of two racing writers exactly one commits.
 *
 * No sweepTemp: blocks of a put that never committed are invisible (no get, head or list sees
 * them) and the service discards them (Azure after a week, or at the next commit to the key).
 */
export class AzblobStore implements BlobStore {
  readonly kind = "azblob" as const;
  readonly cloud: string;
  readonly bucket: string;
  readonly #container: ContainerClient;
  readonly #tuning: Tuning;
  /** `x-ms-encryption-scope` on every block and commit (and in every upload SAS); empty: the container's default. */
  readonly #scope: { encryptionScope?: string };

  constructor(spec: Omit<AzblobOpenSpec, "kind">, tuning: AzblobTuning = {}) {
    if (!spec.cloud) throw new ConfigError(`azblob store: cloud must be a non-empty name`);
    if (!AZURE_CONTAINER_NAME.pattern.test(spec.container ?? "")) {
      throw new ConfigError(
        `azblob store [cloud=${spec.cloud}]: container ${JSON.stringify(spec.container)} is not a valid Azure container name (${AZURE_CONTAINER_NAME.rule})`,
      );
    }
    this.cloud = spec.cloud;
    this.bucket = spec.container;
    this.#tuning = compileTuning(spec.cloud, tuning);
    this.#scope = spec.encryptionScope ? { encryptionScope: spec.encryptionScope } : {};
    this.#container = serviceClient(spec).getContainerClient(spec.container);
  }

  async put(key: string, body: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<PutResult> {
    const blob = this.#container.getBlockBlobClient(this.#checkKey(key));
    const { signal } = options;
    const expected = checkedSha256(options.expectedSha256, `put ${where(this, key)}`);
    signal?.throwIfAborted();
    const blocks = new StagedBlocks(
      // Not "put": a 409 on a block (a lease, an immutability policy) does not mean the object exists.
      (id, block, blockSignal) =>
        this.#request("put block", key, blockSignal, (s) =>
          blob.stageBlock(id, block, block.length, {
            abortSignal: s,
            ...this.#scope,
            transactionalContentMD5: createHash("md5").update(block).digest(),
          }),
        ),
      this.#tuning.maxConcurrency,
      signal,
    );
    try {
      const { size, sha256 } = await this.#stageBody(key, body, blocks);
      await blocks.settle();
      if (expected !== undefined && expected !== sha256) {
        throw new ChecksumMismatchError(`put rejected ${where(this, key)}; nothing was committed`, expected, sha256);
      }
      // Last chance to honour an abort: after the commit the object is visible.
      signal?.throwIfAborted();
      await this.#request("put", key, signal, (s) =>
        blob.commitBlockList(blocks.ids, {
          abortSignal: s,
          ...this.#scope,
          conditions: options.overwrite ? {} : { ifNoneMatch: "*" },
        }),
      ).catch((err: unknown) => {
        throw this.#commitFailed(key, err);
      });
      return { size, sha256 };
    } catch (err) {
      await blocks.abandon();
      // The caller's abort wins over what it cut short.
      if (signal?.aborted && !(err instanceof FerryError)) throw signal.reason;
      throw blocks.failureFor(err);
    }
  }

  /**
   * Reads the body into blocks of blockSizeBytes and stages each as it fills, hashing on the way.
   * Bytes are copied into the block as they come, so a body that reuses its buffers cannot make
   * the staged bytes differ from the hashed ones.
   */
  async #stageBody(key: string, body: AsyncIterable<unknown>, blocks: StagedBlocks): Promise<PutResult> {
    const hash = createHash("sha256");
    let size = 0;
    let block: Buffer | undefined;
    let filled = 0;
    for await (const chunk of chunksOf(body, blocks.signal, `put ${where(this, key)}`)) {
      hash.update(chunk);
      size += chunk.length;
      for (let at = 0; at < chunk.length; ) {
        block ??= Buffer.allocUnsafe(this.#tuning.blockSizeBytes);
        const n = Math.min(chunk.length - at, block.length - filled);
        block.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled < block.length) continue;
        await blocks.waitForSlot();
        blocks.stage(block);
        block = undefined;
        filled = 0;
      }
    }
    // A copy, so a small last block does not pin a whole block's buffer while it uploads.
    if (block && filled > 0) blocks.stage(Buffer.from(block.subarray(0, filled)));
    return { size, sha256: hash.digest("hex") };
  }

  async get(key: string, options?: Signal): Promise<Readable> {
    const blob = this.#container.getBlobClient(this.#checkKey(key));
    const signal = options?.signal;
    const response = await this.#request("get", key, signal, (s) =>
      blob.download(0, undefined, { abortSignal: s, maxRetryRequests: this.#tuning.maxTries - 1 }),
    );
    const body = response.readableStreamBody as Readable | undefined;
    if (!body) throw new StoreUnavailableError(`get ${where(this, key)}: the service sent no body`);
    return Readable.from(this.#typedBody(body, key, signal), { objectMode: false });
  }

  async head(key: string, options?: Signal): Promise<ObjectInfo | undefined> {
    const blob = this.#container.getBlobClient(this.#checkKey(key));
    try {
      const props = await this.#request("head", key, options?.signal, (s) => blob.getProperties({ abortSignal: s }));
      return { key, size: props.contentLength ?? 0 };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  async delete(key: string, options?: Signal): Promise<void> {
    const blob = this.#container.getBlobClient(this.#checkKey(key));
    try {
      await this.#request("delete", key, options?.signal, (s) => blob.delete({ abortSignal: s }));
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  }

  /** Pages through the listing (the service returns names in order); names that are not keys are skipped. */
  async *list(prefix: string, options?: Signal): AsyncGenerator<ObjectInfo> {
    assertValidPrefix(prefix);
    const signal = options?.signal;
    let continuationToken: string | undefined;
    do {
      const page = await this.#request("list", prefix || undefined, signal, (s) =>
        this.#container
          .listBlobsFlat({ prefix, abortSignal: s })
          .byPage({ continuationToken, maxPageSize: LIST_PAGE_SIZE })
          .next(),
      );
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        if (isValidKey(item.name)) yield { key: item.name, size: item.properties.contentLength ?? 0 };
      }
      continuationToken = page.value.continuationToken || undefined;
    } while (continuationToken);
  }

  /** A SAS URL for one GET or PUT of `key` (see signAzblob). */
  async signedUrl(key: string, options: SignedUrlOptions): Promise<SignedUrl> {
    try {
      return await signAzblob(this.#container, key, options, this.#scope.encryptionScope);
    } catch (err) {
      if (err instanceof FerryError) throw err;
      throw storeError(this, "sign", key, failureOf(err), err);
    }
  }

  /** Nothing to release: the SDK shares one HTTP agent per process, whose idle sockets do not keep it alive. */
  async close(): Promise<void> {}

  /**
   * One service request, tried up to maxTries times: each try has its own deadline for the answer,
   * and retryable failures (5xx, 429, timeouts, resets, refused connections) back off with jitter.
   * Everything that leaves here is typed by storeError, except the caller's abort reason.
   */
  async #request<T>(
    op: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    send: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const { maxTries, requestTimeoutMs, retryBaseMs } = this.#tuning;
    const once = async (): Promise<T> => {
      const deadline = new AbortController();
      // Cleared once the answer's headers arrive, so a long download is not cut off.
      const timer = setTimeout(() => deadline.abort(), requestTimeoutMs);
      try {
        return await send(signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const failure: FailedRequest = deadline.signal.aborted
          ? { code: "TimeoutError", message: `no answer within ${requestTimeoutMs} ms` }
          : failureOf(err);
        throw storeError(this, op, key, failure, err);
      } finally {
        clearTimeout(timer);
      }
    };
    return retry(once, {
      attempts: maxTries,
      baseMs: retryBaseMs,
      capMs: RETRY_CAP_MS,
      retryable: (err) => err instanceof FerryError && err.retryable,
      signal,
    });
  }

  /**
   * InvalidBlockList on a commit means another put to the same key committed first, which
   * discards every uncommitted block, ours included: worth redoing the put, not a refusal.
   * (A create-only commit gets its condition checked first, so it sees ObjectExistsError.)
   */
  #commitFailed(key: string, err: unknown): unknown {
    if (err instanceof StoreAccessError && failureOf(err.cause).code === "InvalidBlockList") {
      return new StoreUnavailableError(
        `put ${where(this, key)}: a concurrent put to the same key discarded this put's staged blocks; retry the put`,
        { cause: err.cause },
      );
    }
    return err;
  }

  /**
   * The download's bytes, with a mid-stream failure typed like any other. A body that sends nothing
   * for requestTimeoutMs while we wait on it fails retryably instead of hanging its reader.
   */
  async *#typedBody(body: Readable, key: string, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    const { requestTimeoutMs } = this.#tuning;
    const pieces = body[Symbol.asyncIterator]();
    let stalled = false;
    try {
      for (;;) {
        const watchdog = setTimeout(() => {
          stalled = true;
          body.destroy(new Error("stalled"));
        }, requestTimeoutMs);
        let next: IteratorResult<unknown>;
        try {
          next = await pieces.next();
        } finally {
          clearTimeout(watchdog);
        }
        if (next.done) return;
        yield next.value as Uint8Array;
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const failure = stalled
        ? { code: "TimeoutError", message: `no bytes for ${requestTimeoutMs} ms mid-download` }
        : failureOf(err);
      throw storeError(this, "get", key, failure, err);
    } finally {
      body.destroy();
    }
  }

  #checkKey(key: string): string {
    assertValidKey(key);
    return key;
  }
}

function compileTuning(cloud: string, tuning: AzblobTuning): Tuning {
  const compiled = { ...DEFAULT_TUNING, ...stripUndefined(tuning) };
  for (const [name, value] of Object.entries(compiled)) {
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new ConfigError(`azblob store [cloud=${cloud}]: ${name} ${value} is not a positive whole number`);
    }
  }
  if (compiled.blockSizeBytes > MAX_BLOCK_BYTES) {
    throw new ConfigError(
      `azblob store [cloud=${cloud}]: blockSizeBytes ${compiled.blockSizeBytes} is above ${MAX_BLOCK_BYTES}`,
    );
  }
  return compiled;
}

function stripUndefined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
