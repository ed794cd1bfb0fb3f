import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import { InputError } from "../errors.ts";
import { chunksOf } from "../stores/body.ts";
import type { PutOptions, PutResult } from "../stores/types.ts";
import { type RequestObjectUrlOptions, requestObjectUrl } from "./request.ts";
import { getByUrl, putByUrl } from "./transfer.ts";

/** Options of a put through a URL: a BlobStore's, plus the body's size, which S3 and Azure need up front. */
export interface UrlPutOptions extends PutOptions {
  size?: number;
}

/**
 * What a reader or uploader needs of a cloud's objects: a BlobStore (with this machine's own
 * credentials) and a GatewayObjects (through URLs) both are one.
 */
export interface CloudObjects {
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  put(key: string, body: Readable | AsyncIterable<Uint8Array>, options?: UrlPutOptions): Promise<PutResult>;
}

/**
 * One cloud's objects as a process outside that cloud reaches them: each get or put asks the
 * cloud's gateway for a URL to that one object, then streams through it with no credentials. It
 * has a BlobStore's get and put (so a reader or uploader can take either), nothing else: listing and
 * deleting stay with the cloud's own workers. A put replaces what is there, as a presigned PUT does.
 */
export class GatewayObjects implements CloudObjects {
  readonly cloud: string;
  readonly #nc: NatsConnection;
  readonly #ask: RequestObjectUrlOptions;

  constructor(nc: NatsConnection, cloud: string, ask: RequestObjectUrlOptions = {}) {
    this.#nc = nc;
    this.cloud = cloud;
    this.#ask = ask;
  }

  /** A stream of the object's bytes; ObjectNotFoundError when there is none. */
  async get(key: string, options?: { signal?: AbortSignal }): Promise<Readable> {
    const url = await requestObjectUrl(this.#nc, this.cloud, "get", key, this.#ask);
    return getByUrl(url, options?.signal);
  }

  /**
   * Streams `body` into `key` (only under staging/: the gateway refuses other keys) and returns the
   * size and SHA-256 of what was sent. `expectedSha256` is refused: a URL PUT cannot be held back
   * after its last byte, so the hash is the caller's to check.
   */
  async put(key: string, body: Readable | AsyncIterable<Uint8Array>, options: UrlPutOptions = {}): Promise<PutResult> {
    const { signal, size } = options;
    const at = `put ${this.cloud} key ${key} through its gateway`;
    if (options.expectedSha256 !== undefined)
      throw new InputError(`${at}: expectedSha256 cannot be enforced on a URL PUT; check the returned sha256`);
    const url = await requestObjectUrl(this.#nc, this.cloud, "put", key, this.#ask);
    const hash = createHash("sha256");
    let sent = 0;
    async function* hashed(): AsyncGenerator<Uint8Array> {
      for await (const piece of chunksOf(body, signal, at)) {
        hash.update(piece);
        sent += piece.length;
        yield piece;
      }
    }
    await putByUrl(url, hashed(), { ...(size === undefined ? {} : { size }), ...(signal ? { signal } : {}) });
    return { size: sent, sha256: hash.digest("hex") };
  }
}

/** A GatewayObjects for every cloud named, keyed by cloud: what `get`, `cat` and uploads use instead of stores. */
export function gatewayObjects(
  nc: NatsConnection,
  clouds: readonly string[],
  ask: RequestObjectUrlOptions = {},
): Map<string, GatewayObjects> {
  return new Map(clouds.map((c) => [c, new GatewayObjects(nc, c, ask)]));
}
