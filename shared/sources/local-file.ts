import { constants, type Stats } from "node:fs";
import { type FileHandle, open, readlink } from "node:fs/promises";
import { PoisonMessageError, SourceChangedError, SourceRefusedError } from "../errors.ts";
import { type IngestSource, READ_PIECE_BYTES } from "./source.ts";
import { sourceProblem } from "./source-problem.ts";
import { refusalOf, resolvePolicy, resolveUnderRoots, type SourceRoots } from "./source-roots.ts";

export { sourceProblem };

/**
 * Opens a local file for ingest once `policy` accepts its real path; a path outside the roots is
 * refused before anything is opened. The file is then read only through the descriptor opened
 * here (never by name again), so a path swapped for a symlink afterwards cannot redirect the read.
 */
export async function openLocalSource(path: string, policy: SourceRoots): Promise<IngestSource> {
  const resolved = await resolvePolicy(policy);
  const real = await resolveUnderRoots(path, resolved);
  // O_NOFOLLOW: the last component was resolved above, so a symlink there now is a swap.
  return openRegularFile(path, real, constants.O_NOFOLLOW, (fh) => assertStillUnder(fh, path, resolved));
}

/** Opens the user's own file, with no roots to keep to: what a client uploading from its disk reads. */
export function openOwnFile(path: string): Promise<IngestSource> {
  return openRegularFile(path, path, 0, async () => {});
}

async function openRegularFile(
  path: string,
  real: string,
  flags: number,
  check: (fh: FileHandle) => Promise<void>,
): Promise<IngestSource> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang; it is refused as not a regular file below.
    fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | flags);
  } catch (err) {
    throw new PoisonMessageError(sourceProblem(path, (err as NodeJS.ErrnoException).code), { cause: err });
  }
  try {
    await check(fh);
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new PoisonMessageError(
        st.isDirectory() ? sourceProblem(path, "EISDIR") : `source ${path} is not a regular file`,
      );
    }
    return new LocalFileSource(path, fh, st);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Where the open descriptor really points (Linux's /proc), judged again: a folder swapped meanwhile is caught. */
async function assertStillUnder(fh: FileHandle, path: string, resolved: SourceRoots): Promise<void> {
  const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
  if (opened === undefined) return;
  const reason = refusalOf(path, opened, resolved);
  if (reason !== undefined) throw new SourceRefusedError(reason);
}

class LocalFileSource implements IngestSource {
  readonly name: string;
  readonly size: number;
  readonly version: string;
  readonly #fh: FileHandle;
  readonly #opened: Stats;
  #closed = false;

  constructor(name: string, fh: FileHandle, st: Stats) {
    this.name = name;
    this.size = st.size;
    this.version = `file:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    this.#fh = fh;
    this.#opened = st;
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.#fh.read(buffer, offset, length, position);
  }

  async *range(start: number, end: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let at = start;
    while (at < end) {
      signal?.throwIfAborted();
      const piece = Buffer.allocUnsafe(Math.min(READ_PIECE_BYTES, end - at));
      const { bytesRead } = await this.#fh.read(piece, 0, piece.length, at);
      if (bytesRead === 0) throw this.#changed(`it ended at byte ${at}, before its ${this.size} bytes`);
      at += bytesRead;
      yield piece.subarray(0, bytesRead);
    }
  }

  async assertUnchanged(): Promise<void> {
    const now = await this.#fh.stat();
    if (now.size !== this.#opened.size) throw this.#changed(`its size went from ${this.#opened.size} to ${now.size}`);
    if (now.mtimeMs !== this.#opened.mtimeMs) throw this.#changed("it was modified");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close();
  }

  #changed(what: string): SourceChangedError {
    return new SourceChangedError(
      `source ${this.name} changed while it was being read (${what}): ingest it again once it is complete`,
    );
  }
}
