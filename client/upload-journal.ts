import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeJsonAtomic } from "../shared/json-file.ts";

/** Where `ferry ingest --upload` keeps its journals: `$XDG_STATE_HOME/ferry/uploads`, else `~/.local/state/ferry/uploads`. */
export function uploadJournalDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(state, "ferry", "uploads");
}

/** A chunk an upload has written into staging: what resuming, and the chunk-list digest, need of it. */
export interface UploadedChunk {
  offset: number;
  size: number;
  sha256: string;
}

/** One upload's journal: which file, as it was when the upload began, under which id, and the chunks staged so far. */
export interface UploadJournalEntry {
  version: 1;
  path: string;
  cloud: string;
  size: number;
  mtimeMs: number;
  chunkSize: number;
  recordBoundaries: boolean;
  fileId: string;
  chunks: UploadedChunk[];
}

/** What is uploaded, to where, cut how: the journal's key and what must not have changed to resume. */
export interface UploadIdentity {
  path: string;
  cloud: string;
  chunkSize: number;
  recordBoundaries: boolean;
}

/**
 * The journal of one upload, a small JSON file keyed by the file's path and cloud, rewritten
 * (atomically) after every chunk staged and removed once the ingest request is published. A run
 * killed mid-way leaves it behind, and the next run of the same upload goes on from it.
 */
export class UploadJournal {
  readonly file: string;
  readonly entry: UploadJournalEntry;

  constructor(file: string, entry: UploadJournalEntry) {
    this.file = file;
    this.entry = entry;
  }

  /** Notes one more chunk staged. */
  record(chunk: UploadedChunk): void {
    this.entry.chunks.push(chunk);
    writeJsonAtomic(this.file, this.entry);
  }

  /** A fresh journal for the same file under a new id, replacing this one. */
  startOver(fileId: string): UploadJournal {
    const fresh = new UploadJournal(this.file, { ...this.entry, fileId, chunks: [] });
    writeJsonAtomic(fresh.file, fresh.entry);
    return fresh;
  }

  remove(): void {
    rmSync(this.file, { force: true });
  }
}

/**
 * Opens the journal of uploading `upload.path` to `upload.cloud`: the interrupted upload's, when
 * there is one for the file as it is now (same size, mtime and cuts), else a new one under
 * `newFileId()`. `note` tells the user what happened to an earlier journal, if anything did, and
 * `abandoned` is the id of an interrupted upload that will not be gone on with.
 */
export async function openUploadJournal(
  dir: string,
  upload: UploadIdentity,
  newFileId: () => string,
): Promise<{ journal: UploadJournal; note?: string; abandoned?: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(
    dir,
    `${createHash("sha256").update(`${upload.cloud}\n${upload.path}`).digest("hex").slice(0, 32)}.json`,
  );
  const st = await stat(upload.path);
  const now = { version: 1 as const, ...upload, size: st.size, mtimeMs: st.mtimeMs };
  const previous = readEntry(file);
  if (previous?.chunks.length) {
    const changed = whatChanged(previous, now);
    if (changed === undefined) {
      const bytes = previous.chunks.reduce((n, c) => n + c.size, 0);
      const note = `resuming the upload of ${upload.path} as file ${previous.fileId}: ${previous.chunks.length} chunks (${bytes} of ${st.size} bytes) are staged already`;
      return { journal: new UploadJournal(file, previous), note };
    }
    const journal = new UploadJournal(file, { ...now, fileId: newFileId(), chunks: [] });
    writeJsonAtomic(file, journal.entry);
    return {
      journal,
      note: `${upload.path}: ${changed} since its interrupted upload (file ${previous.fileId}); uploading it from the start as a new file`,
      abandoned: previous.fileId,
    };
  }
  const journal = new UploadJournal(file, { ...now, fileId: newFileId(), chunks: [] });
  writeJsonAtomic(file, journal.entry);
  return { journal };
}

/** Why an interrupted upload cannot go on with the file as it is now, or undefined when it can. */
function whatChanged(was: UploadJournalEntry, now: Omit<UploadJournalEntry, "fileId" | "chunks">): string | undefined {
  if (was.size !== now.size) return `its size went from ${was.size} to ${now.size} bytes`;
  if (was.mtimeMs !== now.mtimeMs) return "it was modified";
  if (was.chunkSize !== now.chunkSize || was.recordBoundaries !== now.recordBoundaries)
    return "it is cut differently (--chunk-size or --no-record-boundaries)";
  return undefined;
}

/** The journal in `file`, or undefined when there is none or it is not one (a torn or foreign file is ignored). */
function readEntry(file: string): UploadJournalEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  const e = v as Partial<UploadJournalEntry> | null;
  if (e?.version !== 1 || typeof e.fileId !== "string" || !Array.isArray(e.chunks)) return undefined;
  return e as UploadJournalEntry;
}
