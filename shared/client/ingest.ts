import { basename } from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Transform } from "../events.ts";
import { newFileId } from "../ids.ts";
import { readFileRecord, type FileRecord } from "../manifest.ts";
import { INGEST_REQUESTS } from "../subjects.ts";
import type { CheckedSource } from "./preflight.ts";

export interface IngestOptions {
  chunkSize?: number;
  recordBoundaries?: boolean;
  transforms?: Transform[];
}

/** Publishes one ingest request to the hub and returns the new file's id once JetStream has stored it. */
export async function submitIngest(hubJs: JetStreamClient, src: CheckedSource, o: IngestOptions = {}): Promise<string> {
  const fileId = newFileId();
  const request = {
    fileId,
    path: src.path,
    name: basename(src.path),
    ...(o.chunkSize === undefined ? {} : { chunkSize: o.chunkSize }),
    ...(o.recordBoundaries === undefined ? {} : { recordBoundaries: o.recordBoundaries }),
    ...(o.transforms?.length ? { transforms: o.transforms } : {}),
  };
  await hubJs.publish(INGEST_REQUESTS, JSON.stringify(request), { msgID: `ingest:${fileId}` });
  return fileId;
}

/** Whether a file has reached a state it will not leave by itself. */
export const isFinished = (f: FileRecord | undefined): boolean => f?.state === "complete" || f?.state === "failed";

/**
 * Polls the manifest until every file is complete or failed, calling `onUpdate` with the latest
 * records. Throws when `timeoutMs` passes first.
 */
export async function waitForFiles(kv: KV, fileIds: string[], onUpdate: (files: Map<string, FileRecord | undefined>) => void, timeoutMs = Infinity): Promise<Map<string, FileRecord>> {
  const deadline = Date.now() + timeoutMs;
  const latest = new Map<string, FileRecord | undefined>();
  for (;;) {
    for (const id of fileIds) if (!isFinished(latest.get(id))) latest.set(id, await readFileRecord(kv, id));
    onUpdate(latest);
    if (fileIds.every((id) => isFinished(latest.get(id)))) return latest as Map<string, FileRecord>;
    if (Date.now() > deadline) {
      const pending = fileIds.filter((id) => !isFinished(latest.get(id)));
      throw new Error(`timed out waiting for ${pending.length} file(s): ${pending.join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
