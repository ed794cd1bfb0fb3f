import type { Readable } from "node:stream";
import {
  FerryError,
  ObjectNotFoundError,
  PoisonMessageError,
  SourceChangedError,
  StoreAccessError,
} from "../errors.ts";
import type { ObjectUrl } from "./object-url.ts";
import type { IngestSource } from "./source.ts";

/** An object as seen at one moment: its size and the version that names exactly these bytes. */
export interface ObjectVersion {
  size: number;
  /** ETag (S3, Azure) or generation (GCS). */
  version: string;
}

/**
 * The two requests an object source needs from one kind of store, through that cloud's own SDK and
 * credentials. Each kind's module (s3-object.ts, gcs-object.ts, azblob-object.ts) implements it
 * and throws the project's typed store errors (shared/stores/store-errors.ts).
 */
export interface ObjectReader {
  /** Size and version of the object now; ObjectNotFoundError when there is none. */
  stat(signal?: AbortSignal): Promise<ObjectVersion>;
  /**
   * Bytes [start, end) of exactly `version`: SourceChangedError (or ObjectNotFoundError) when the
   * object no longer has that version.
   */
  get(start: number, end: number, version: string, signal?: AbortSignal): Promise<Readable>;
  close(): Promise<void>;
}

/** Opens an object as an ingest source: its version is fixed now, and every later read must find it unchanged. */
export async function openObjectSource(url: ObjectUrl, reader: ObjectReader, cloud: string): Promise<IngestSource> {
  let seen: ObjectVersion;
  try {
    seen = await reader.stat();
  } catch (err) {
    await reader.close();
    throw openFailure(url, cloud, err);
  }
  return new ObjectSource(url, reader, seen);
}

function openFailure(url: ObjectUrl, cloud: string, err: unknown): unknown {
  if (err instanceof ObjectNotFoundError)
    return new PoisonMessageError(`source ${url.url} does not exist (no such bucket or object): check the URL`, {
      cause: err,
    });
  if (err instanceof StoreAccessError)
    return new PoisonMessageError(
      `source ${url.url} cannot be read with cloud ${cloud}'s credentials: ${err.message}`,
      {
        cause: err,
      },
    );
  return err;
}

class ObjectSource implements IngestSource {
  readonly name: string;
  readonly size: number;
  readonly version: string;
  readonly #reader: ObjectReader;
  readonly #version: string;

  constructor(url: ObjectUrl, reader: ObjectReader, seen: ObjectVersion) {
    this.name = url.url;
    this.size = seen.size;
    this.#reader = reader;
    this.#version = seen.version;
    this.version = `object:${seen.version}`;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const end = Math.min(this.size, position + length);
    if (end <= position) return { bytesRead: 0 };
    let at = offset;
    for await (const piece of this.range(position, end)) {
      buffer.set(piece, at);
      at += piece.length;
    }
    return { bytesRead: at - offset };
  }

  async *range(start: number, end: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    if (end <= start) return;
    const body = await this.#get(start, end, signal);
    let got = 0;
    try {
      for await (const piece of body) {
        got += (piece as Uint8Array).length;
        if (got > end - start) throw this.#changed(`a read of bytes ${start}-${end - 1} returned more`);
        yield piece as Uint8Array;
      }
    } catch (err) {
      throw this.#typed(err);
    }
    if (got !== end - start) throw this.#changed(`a read of bytes ${start}-${end - 1} returned ${got} bytes`);
  }

  async assertUnchanged(): Promise<void> {
    const now = await this.#reader.stat().catch((err: unknown) => {
      throw this.#typed(err);
    });
    if (now.version !== this.#version || now.size !== this.size) throw this.#changed("its version moved");
  }

  close(): Promise<void> {
    return this.#reader.close();
  }

  async #get(start: number, end: number, signal: AbortSignal | undefined): Promise<Readable> {
    try {
      return await this.#reader.get(start, end, this.#version, signal);
    } catch (err) {
      throw this.#typed(err);
    }
  }

  /** A missing object mid-read was deleted after it was opened: that is a change too. */
  #typed(err: unknown): unknown {
    if (err instanceof ObjectNotFoundError) return this.#changed("it was deleted");
    if (err instanceof FerryError) return err;
    return err;
  }

  #changed(what: string): SourceChangedError {
    return new SourceChangedError(
      `source ${this.name} changed while it was being read (${what}; it was version ${this.#version}): ingest it again once it is complete`,
    );
  }
}
