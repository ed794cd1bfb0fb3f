import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

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
 * The journal of one upload, a small file keyed by the file's path and cloud: a first line that
 * says which file (as it was), its cuts and its file id, written atomically, then one line appended
 * per chunk staged (`{"offset", "size", "sha256"}`), so each chunk costs one short append whatever
 * the file's size. It is removed once the ingest request is published. A run killed mid-way leaves
 * it behind (a torn last line is ignored), and the next run of the same upload goes on from it.
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
    appendFileSync(this.file, `${JSON.stringify(chunk)}\n`);
  }

  /** A fresh journal for the same file under a new id, replacing this one. */
  startOver(fileId: string): UploadJournal {
    return writeNew(this.file, { ...this.entry, fileId, chunks: [] });
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
    `${createHash("sha256").update(`${upload.cloud}\n${upload.path}`).digest("hex").slice(0, 32)}.jsonl`,
  );
  const st = await stat(upload.path);
  const now = { version: 1 as const, ...upload, size: st.size, mtimeMs: st.mtimeMs };
  const previous = readEntry(file);
  if (previous?.chunks.length) {
    const changed = whatChanged(previous, now);
    if (changed === undefined) {
      const bytes = previous.chunks.reduce((n, c) => n + c.size, 0);
      const note = `resuming the upload of ${upload.path} as file ${previous.fileId}: ${previous.chunks.length} chunks (${bytes} of ${st.size} bytes) are staged already`;
      // Written again whole: a line torn by the kill must not swallow the next one appended.
      return { journal: writeNew(file, previous), note };
    }
    const journal = writeNew(file, { ...now, fileId: newFileId(), chunks: [] });
    return {
      journal,
      note: `${upload.path}: ${changed} since its interrupted upload (file ${previous.fileId}); uploading it from the start as a new file`,
      abandoned: previous.fileId,
    };
  }
  return { journal: writeNew(file, { ...now, fileId: newFileId(), chunks: [] }) };
}

/** Writes a whole journal, its first line and a line per chunk, atomically (through a temp file), and returns it. */
function writeNew(file: string, entry: UploadJournalEntry): UploadJournal {
  const { chunks, ...head } = entry;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, [head, ...chunks].map((line) => `${JSON.stringify(line)}\n`).join(""));
  renameSync(tmp, file);
  return new UploadJournal(file, entry);
}

/** Why an interrupted upload cannot go on with the file as it is now, or undefined when it can. */
function whatChanged(was: UploadJournalEntry, now: Omit<UploadJournalEntry, "fileId" | "chunks">): string | undefined {
  if (was.size !== now.size) return `its size went from ${was.size} to ${now.size} bytes`;
  if (was.mtimeMs !== now.mtimeMs) return "it was modified";
  if (was.chunkSize !== now.chunkSize || was.recordBoundaries !== now.recordBoundaries)
    return "it is cut differently (--chunk-size or --no-record-boundaries)";
  return undefined;
}

/**
 * The journal in `file`, or undefined when there is none or it is not one. Chunk lines are taken up
 * to the first that is torn or does not follow on from the one before.
 */
function readEntry(file: string): UploadJournalEntry | undefined {
  let lines: string[];
  let head: Partial<UploadJournalEntry> | null;
  try {
    lines = readFileSync(file, "utf8").split("\n");
    head = JSON.parse(lines[0] ?? "") as Partial<UploadJournalEntry> | null;
  } catch {
    return undefined;
  }
  if (head?.version !== 1 || typeof head.fileId !== "string") return undefined;
  const chunks: UploadedChunk[] = [];
  let next = 0;
  for (const line of lines.slice(1)) {
    const c = parseChunkLine(line);
    if (c?.offset !== next) break;
    chunks.push(c);
    next += c.size;
  }
  return { ...(head as UploadJournalEntry), chunks };
}

function parseChunkLine(line: string): UploadedChunk | undefined {
  try {
    const c = JSON.parse(line) as Partial<UploadedChunk> | null;
    if (typeof c?.offset === "number" && typeof c.size === "number" && typeof c.sha256 === "string")
      return { offset: c.offset, size: c.size, sha256: c.sha256 };
  } catch {
    // a line torn by a kill mid-append
  }
  return undefined;
}
