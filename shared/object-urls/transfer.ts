import { Readable } from "node:stream";
import { ReadableStream } from "node:stream/web";
import {
  FerryError,
  ObjectNotFoundError,
  StoreAccessError,
  StoreUnavailableError,
  UrlRefusedError,
} from "../errors.ts";
import { redact } from "../stores/store-errors.ts";

/** A URL as a gateway issued it; `expiresAt` (ISO 8601), when known, lets a 403 say whether it expired. */
export interface UrlToUse {
  url: string;
  headers: Record<string, string>;
  expiresAt?: string;
}

/** How much of an error response's body is read for its error code. */
const ERROR_BODY_BYTES = 2048;

/**
 * Streams the object behind a signed URL with a plain HTTP GET (no credentials, no SDK). Throws
 * ObjectNotFoundError (404), UrlRefusedError (403: expired or bad signature), StoreUnavailableError
 * (5xx, 408, 429, or no connection); a failure mid-stream errors the stream with StoreUnavailableError.
 */
export async function getByUrl(signed: UrlToUse, signal?: AbortSignal): Promise<Readable> {
  const at = `get ${redact(signed.url)}`;
  const res = await send(at, signal, () =>
    fetch(signed.url, { headers: signed.headers, ...(signal ? { signal } : {}) }),
  );
  if (!res.ok) throw await httpFailure(at, res, signed);
  if (!res.body) throw new StoreUnavailableError(`${at}: the response has no body`);
  const body = Readable.fromWeb(res.body as ReadableStream<Uint8Array>);
  const length = Number(res.headers.get("content-length") ?? Number.NaN);
  if (length <= READ_WHOLE_MAX_BYTES) return Readable.from([await drained(body, at, signal)]);
  return Readable.from(typedStream(body, at, signal), { objectMode: false });
}

/**
 * Bodies up to this size (every chunk at the default chunk size) are read off the socket at once:
 * Node 24's fetch (undici) crashes the process with an uncatchable `assert(!this.paused)` when a
 * server closes the connection while a slow reader has the parser paused (nodejs/undici#5360, fixed
 * in undici 8, not in the undici Node 24 bundles).
 */
const READ_WHOLE_MAX_BYTES = 64 * 1024 * 1024;

async function drained(body: Readable, at: string, signal: AbortSignal | undefined): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of typedStream(body, at, signal)) parts.push(part);
  return Buffer.concat(parts);
}

export interface PutByUrlOptions {
  /**
   * The body's length in bytes, sent as Content-Length. S3 and Azure refuse a streamed PUT without
   * it (chunked transfer encoding); give it whenever it is known.
   */
  size?: number;
  signal?: AbortSignal;
}

/**
 * Streams `body` to a signed URL with a plain HTTP PUT, never holding more than what is in flight.
 * Errors as getByUrl's; a body that fails with a FerryError fails the PUT with that error.
 */
export async function putByUrl(
  signed: UrlToUse,
  body: Readable | AsyncIterable<Uint8Array> | Uint8Array,
  options: PutByUrlOptions = {},
): Promise<void> {
  const at = `put ${redact(signed.url)}`;
  const { size, signal } = options;
  const headers = { ...signed.headers, ...(size === undefined ? {} : { "content-length": String(size) }) };
  const res = await send(at, signal, () =>
    fetch(signed.url, {
      method: "PUT",
      headers,
      // A stream goes out as it is read; `duplex: "half"` is what Node's fetch asks of a streaming body.
      body: body instanceof Uint8Array ? body : pulledStream(body),
      duplex: "half",
      ...(signal ? { signal } : {}),
    } as RequestInit),
  );
  if (!res.ok) throw await httpFailure(at, res, signed);
  await res.body?.cancel();
}

/**
 * `body` as a web stream that reads its next piece only when the socket has taken the last one.
 * Node's fetch drains an async iterable (or a Readable) as fast as it yields, whatever the peer
 * takes: a 512 MiB PUT to a slow server peaked at 627 MiB that way, and at 115 MiB this way.
 */
function pulledStream(body: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const pieces = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await pieces.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel(reason) {
        await pieces.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Runs a fetch; an abort rethrows the signal's reason, anything else that kept a response away is a StoreUnavailableError. */
async function send(at: string, signal: AbortSignal | undefined, request: () => Promise<Response>): Promise<Response> {
  signal?.throwIfAborted();
  try {
    return await request();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    // A body that failed (a file that changed while it was read, say) fails the request with its own error.
    const own = (err as { cause?: unknown }).cause;
    if (own instanceof FerryError) throw own;
    throw new StoreUnavailableError(`${at}: no response (${describeCause(err)})`, { cause: err });
  }
}

async function* typedStream(body: Readable, at: string, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk as Uint8Array;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new StoreUnavailableError(`${at}: the download broke off (${describeCause(err)})`, { cause: err });
  } finally {
    body.destroy();
  }
}

/** The typed error for an HTTP error status, with the service's error code when its body names one. */
async function httpFailure(at: string, res: Response, signed: UrlToUse): Promise<FerryError> {
  const text = (await res.text().catch(() => "")).slice(0, ERROR_BODY_BYTES);
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? /"reason"\s*:\s*"([^"]+)"/.exec(text)?.[1];
  const detail = redact([res.status, code].filter((x) => x !== undefined).join(" "));
  if (res.status === 404) return new ObjectNotFoundError(`${at}: no such object (${detail})`);
  if (res.status === 401 || res.status === 403) {
    const expiredAt = signed.expiresAt === undefined ? Number.NaN : Date.parse(signed.expiresAt);
    const why =
      Date.now() >= expiredAt
        ? `the URL expired at ${signed.expiresAt}`
        : "the URL's signature was not accepted (tampered with, for another key or method, or expired by the store's clock)";
    return new UrlRefusedError(`${at}: refused (${detail}): ${why}. Fix: ask the cloud's gateway for a new URL`);
  }
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    return new StoreUnavailableError(`${at}: store unavailable (${detail})`);
  }
  return new StoreAccessError(`${at}: refused (${detail})`);
}

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return redact(code ? `${code}: ${message}` : message);
}
