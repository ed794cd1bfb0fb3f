import { createHash, randomUUID } from "node:crypto";
import type { Dirent } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { link, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import {
  ChecksumMismatchError,
  ConfigError,
  FerryError,
  InputError,
  ObjectExistsError,
  ObjectNotFoundError,
  StoreUnavailableError,
} from "../../errors.ts";
import { chunksOf } from "../body.ts";
import { checkedSha256 } from "../hashing-body.ts";
import { assertValidKey, assertValidPrefix, isValidKey } from "../keys.ts";
import type { BlobStore, ObjectInfo, PutOptions, PutResult } from "../types.ts";
import { throttle } from "./throttle.ts";

export interface FsStoreOptions {
  cloud: string;
  /** Folder holding the objects; a key is a path below it. */
  root: string;
  /** @default the cloud name */
  bucket?: string;
  /** Chaos tests only: slow every put down to this many bytes per second. */
  throttleBytesPerSec?: number;
}

/** Writers stage bytes here; it lives under root so link/rename into place never crosses a filesystem. */
const TEMP_DIR = ".tmp";

type Signal = { signal?: AbortSignal | undefined } | undefined;

/** A BlobStore on a local folder: temp file + fsync + link/rename, so a put is all or nothing. */
export class FsStore implements BlobStore {
  readonly kind = "fs" as const;
  readonly cloud: string;
  readonly bucket: string;
  readonly root: string;
  readonly #throttle: ReturnType<typeof throttle> | undefined;

  constructor(options: FsStoreOptions) {
    if (!options.cloud) throw new ConfigError(`fs store: cloud must be a non-empty name`);
    if (!options.root) throw new ConfigError(`fs store [cloud=${options.cloud}]: root must be a folder path`);
    const rate = options.throttleBytesPerSec;
    if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
      throw new ConfigError(`fs store [cloud=${options.cloud}]: throttleBytesPerSec ${rate} is not a positive number`);
    }
    this.cloud = options.cloud;
    this.bucket = options.bucket || options.cloud;
    this.root = resolve(options.root);
    this.#throttle = rate === undefined ? undefined : throttle(rate);
  }

  async put(key: string, body: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<PutResult> {
    const final = this.#path(key);
    const { signal } = options;
    const expected = checkedSha256(options.expectedSha256, `fs store put ${this.#where(key)}`);
    signal?.throwIfAborted();
    const tempDir = join(this.root, TEMP_DIR);
    await this.#ensureDir("put", key, tempDir, false);
    const temp = join(tempDir, `${randomUUID()}.part`);
    let tempExists = false;
    try {
      const fh = await open(temp, "wx").catch((err: unknown) => this.#fail("put", key, err));
      tempExists = true;
      let written: PutResult;
      try {
        written = await this.#writeAll(fh, key, body, signal);
        await fh.sync().catch((err: unknown) => this.#fail("put", key, err));
      } catch (err) {
        await fh.close().catch(() => {});
        throw err;
      }
      await fh.close().catch((err: unknown) => this.#fail("put", key, err));
      if (expected !== undefined && expected !== written.sha256) {
        throw new ChecksumMismatchError(`fs store put rejected ${this.#where(key)}`, expected, written.sha256);
      }
      // Last chance to honour an abort: after this point the object is visible.
      signal?.throwIfAborted();
      const parent = dirname(final);
      await this.#ensureDir("put", key, parent, true);
      if (options.overwrite) {
        await rename(temp, final).catch((err: unknown) => this.#failPublish(key, final, err));
        tempExists = false;
      } else {
        // link() fails with EEXIST instead of replacing, which rename() would do silently.
        await link(temp, final).catch((err: unknown) => this.#failPublish(key, final, err));
        tempExists = false;
        // A leftover second name for the object's bytes is harmless; sweepTemp removes it later.
        await unlink(temp).catch(() => {});
      }
      // If this fails the object is already visible; a retried create-only put then reports
      // ObjectExistsError, which callers treat as "compare and accept".
      await this.#fsyncDir("put", key, parent);
      return written;
    } catch (err) {
      // Timers and stream helpers wrap an abort in their own AbortError; callers expect the reason.
      if (signal?.aborted && !(err instanceof FerryError)) throw signal.reason;
      throw err;
    } finally {
      if (tempExists) await unlink(temp).catch(() => {});
    }
  }

  async get(key: string, options?: Signal): Promise<Readable> {
    const path = this.#path(key);
    options?.signal?.throwIfAborted();
    // Open first so a missing object fails here, and a concurrent delete cannot cut the read short.
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if (isMissing(err)) throw this.#notFound(key);
      throw this.#fail("get", key, err);
    }
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw this.#notFound(key);
    } catch (err) {
      await fh.close().catch(() => {});
      if (err instanceof FerryError) throw err;
      throw this.#fail("get", key, err);
    }
    return fh.createReadStream({ signal: options?.signal });
  }

  async head(key: string, options?: Signal): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    options?.signal?.throwIfAborted();
    try {
      const info = await stat(path);
      return info.isFile() ? { key, size: info.size } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#fail("head", key, err);
    }
  }

  async delete(key: string, options?: Signal): Promise<void> {
    const path = this.#path(key);
    options?.signal?.throwIfAborted();
    // Empty parent folders are left in place: removing them would race a concurrent put that has
    // just created the folder and is about to link its object into it.
    await unlink(path).catch((err: unknown) => {
      if (!isMissing(err) && codeOf(err) !== "EISDIR") throw this.#fail("delete", key, err);
    });
  }

  async *list(prefix: string, options?: Signal): AsyncGenerator<ObjectInfo> {
    assertValidPrefix(prefix);
    yield* this.#walk(this.root, "", prefix, options?.signal);
  }

  /** Removes temp files older than `olderThanMs` (by mtime) left by crashed writers; returns how many. */
  async sweepTemp(olderThanMs: number): Promise<number> {
    if (!(Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
      throw new InputError(
        `fs store sweepTemp [cloud=${this.cloud}, bucket=${this.bucket}]: olderThanMs ${olderThanMs} is not a non-negative number`,
      );
    }
    const dir = join(this.root, TEMP_DIR);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw this.#fail("sweepTemp", TEMP_DIR, err);
    }
    // A live writer touches its file on every write, so only stalled or orphaned files age out.
    // Should a stalled writer resume, its link() finds no file and it fails retryably: nothing partial shows.
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of names) {
      const path = join(dir, name);
      try {
        const info = await stat(path);
        if (!info.isFile() || info.mtimeMs > cutoff) continue;
        await unlink(path);
        removed++;
      } catch (err) {
        if (!isMissing(err)) throw this.#fail("sweepTemp", `${TEMP_DIR}/${name}`, err);
      }
    }
    return removed;
  }

  /** Nothing to release: every operation opens and closes its own files. */
  async close(): Promise<void> {}

  /** Streams the body into `fh`, hashing as it goes; memory stays at one chunk. */
  async #writeAll(fh: FileHandle, key: string, body: AsyncIterable<unknown>, signal?: AbortSignal): Promise<PutResult> {
    const hash = createHash("sha256");
    let size = 0;
    let chunks = chunksOf(body, signal, `fs store put ${this.#where(key)}`);
    if (this.#throttle) chunks = this.#throttle(chunks, { signal });
    for await (const chunk of chunks) {
      hash.update(chunk);
      for (let at = 0; at < chunk.length; ) {
        // write() may write less than asked; loop until the whole chunk is down.
        const { bytesWritten } = await fh
          .write(chunk, at, chunk.length - at)
          .catch((err: unknown) => this.#fail("put", key, err));
        at += bytesWritten;
      }
      size += chunk.length;
      signal?.throwIfAborted();
    }
    return { size, sha256: hash.digest("hex") };
  }

  async *#walk(dir: string, dirKey: string, prefix: string, signal?: AbortSignal): AsyncGenerator<ObjectInfo> {
    signal?.throwIfAborted();
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return; // no object written yet, or removed while we walked
      throw this.#fail("list", dirKey || prefix, err);
    }
    // Sort a folder as "name/" so the walk yields keys in plain string order: "a-b" and "a.b"
    // sort before "a/x" because "-" and "." sort before "/".
    const ordered = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && isValidKey(e.name) && !(dirKey === "" && e.name === TEMP_DIR))
      .map((e) => ({ entry: e, sortName: e.isDirectory() ? `${e.name}/` : e.name }))
      .sort((a, b) => (a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0));
    for (const { entry } of ordered) {
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        const sub = `${key}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub))
          yield* this.#walk(join(dir, entry.name), sub, prefix, signal);
      } else if (key.startsWith(prefix)) {
        try {
          yield { key, size: (await stat(join(dir, entry.name))).size };
        } catch (err) {
          if (!isMissing(err)) throw this.#fail("list", key, err);
        }
      }
    }
  }

  /** Validates `key` and maps it to a path; the temp folder is not part of the key space. */
  #path(key: string): string {
    assertValidKey(key);
    if (key === TEMP_DIR || key.startsWith(`${TEMP_DIR}/`)) {
      throw new InputError(`invalid store key ${JSON.stringify(key)}: "${TEMP_DIR}" is reserved by the fs store`);
    }
    return join(this.root, key);
  }

  /**
   * mkdir -p, then fsyncs the parents of every folder it created so the new path survives a crash.
   * `forKey`: the folder comes from the key, so a file in the way is the key's fault, not the store's.
   */
  async #ensureDir(op: string, key: string, dir: string, forKey: boolean): Promise<void> {
    let created: string | undefined;
    try {
      created = await mkdir(dir, { recursive: true });
    } catch (err) {
      const code = codeOf(err);
      if (forKey && (code === "ENOTDIR" || code === "EEXIST")) throw this.#collision(key, err);
      throw this.#fail(op, key, err);
    }
    if (created === undefined) return;
    for (let d = dirname(dir); ; d = dirname(d)) {
      await this.#fsyncDir(op, key, d);
      if (d === dirname(created) || d === dirname(d)) break;
    }
  }

  async #fsyncDir(op: string, key: string, dir: string): Promise<void> {
    try {
      const fh = await open(dir, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw this.#fail(op, key, err);
    }
  }

  async #failPublish(key: string, final: string, err: unknown): Promise<never> {
    const code = codeOf(err);
    // A folder of other objects at the path also gives EEXIST, but head() calls that "no object".
    const isFolder = code === "EEXIST" && (await stat(final).catch(() => undefined))?.isDirectory();
    if (code === "EEXIST" && !isFolder) {
      throw new ObjectExistsError(`fs store put refused ${this.#where(key)}: an object already exists (create-only)`);
    }
    if (isFolder || code === "EISDIR" || code === "ENOTDIR") throw this.#collision(key, err);
    throw this.#fail("put", key, err);
  }

  /** A key whose path runs through an object, or names a folder of other objects: never retryable. */
  #collision(key: string, cause: unknown): InputError {
    return new InputError(
      `fs store put refused ${this.#where(key)}: the key collides with another object's path (${codeOf(cause)}); on fs, "a" and "a/b" cannot both exist`,
      { cause },
    );
  }

  #notFound(key: string): ObjectNotFoundError {
    return new ObjectNotFoundError(`fs store has no object ${this.#where(key)}`);
  }

  /** Any fs failure we did not plan for (EIO, ENOSPC, EACCES...) may pass: retryable. */
  #fail(op: string, key: string, cause: unknown): never {
    if (cause instanceof FerryError) throw cause;
    const reason = codeOf(cause) ?? (cause instanceof Error ? cause.message : String(cause));
    throw new StoreUnavailableError(`fs store ${op} failed ${this.#where(key)}: ${reason}`, { cause });
  }

  #where(key: string): string {
    return `[cloud=${this.cloud}, bucket=${this.bucket}, key=${key}]`;
  }
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** ENOTDIR too: a path component is a file, so nothing can be at the path. */
function isMissing(err: unknown): boolean {
  const code = codeOf(err);
  return code === "ENOENT" || code === "ENOTDIR";
}
