import { readFileSync } from "node:fs";
import { readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { eventually } from "./files.ts";
import type { TestPipeline } from "./pipeline.ts";

/** A worker's JSON log line (pino): its `msg`, the worker's `pid`, and the fields it logged. */
export type LogLine = Record<string, unknown>;

/** The `msg` log lines about `fileId` in a worker's log file (every life of the worker appends to it). */
export function logLines(path: string, fileId: string, msg: string): LogLine[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.includes(fileId) && l.includes(msg))
    .map((l) => JSON.parse(l) as LogLine)
    .filter((o) => o.fileId === fileId && o.msg === msg);
}

/** How many chunks of `fileId`, from 0 on, the manifest shows ingested. */
export async function recordedChunks(t: TestPipeline, fileId: string): Promise<number> {
  const f = await readFileRecord(t.kv, fileId);
  return f ? (await readChunkRecords(t.kv, f)).length : 0;
}

/**
 * Waits until at least `min` chunks of `fileId` are recorded (a resume test's point to kill the ingest
 * worker: well into the file, well before its end), and returns how many there were.
 */
export async function waitForRecordedChunks(
  t: TestPipeline,
  fileId: string,
  min: number,
  timeoutMs: number,
): Promise<number> {
  return eventually(
    async () => {
      const n = await recordedChunks(t, fileId);
      return n >= min ? n : undefined;
    },
    timeoutMs,
    `${min} chunks staged`,
  );
}
