import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/log.ts";
import { publishTraced } from "../observability/message-spans.ts";
import { stagingPrefix } from "../shared/chunk-keys.ts";
import { encodeEvent, type FileCompleted } from "../shared/events.ts";
import { type FileRecord, fileKey, readFileRecord } from "../shared/manifest.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { FILES_COMPLETED, msgId } from "../shared/subjects.ts";
import { updateJson } from "./kv-update.ts";
import { isReady } from "./projection.ts";

export interface Finalizer {
  kv: KV;
  hubJs: JetStreamClient;
  stores: Map<string, BlobStore>;
  log: Logger;
  /** Throws unless this orchestrator may still act (it holds the lease); called before every side effect. */
  assertActive?: (what: string) => void;
}

/**
 * Finishes a file whose chunks all have their replicas: removes its staging objects, marks it
 * complete, announces `files.completed`. Safe to repeat: each step checks before it acts.
 * Returns the number of staging objects removed.
 */
export async function finalizeFile(finalizer: Finalizer, fileId: string, signal?: AbortSignal): Promise<number> {
  const file = await readFileRecord(finalizer.kv, fileId);
  if (!file || !isReady(file)) return 0;
  finalizer.assertActive?.(`finishing file ${fileId}`);
  const removed = await collectStaging(finalizer, file, signal);
  const at = new Date().toISOString();
  const stored = await updateJson<FileRecord>(finalizer.kv, fileKey(fileId), (cur) => {
    if (!cur || !isReady(cur)) return undefined;
    return { ...cur, state: "complete", completedAt: at, updatedAt: at };
  });
  const done: FileCompleted = { fileId, at };
  finalizer.assertActive?.(`announcing file ${fileId} complete`);
  await publishTraced(finalizer.hubJs, FILES_COMPLETED, encodeEvent(done), { msgID: msgId(fileId, "completed") });
  if (stored?.completedAt === at) {
    finalizer.log.child({ fileId }).info(
      {
        name: file.name,
        size: file.size,
        chunks: file.chunkCount,
        durationMs: Date.parse(at) - Date.parse(file.createdAt),
        stagingRemoved: removed,
      },
      "file complete",
    );
  }
  return removed;
}

async function collectStaging(finalizer: Finalizer, file: FileRecord, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  for (const cloud of file.stagingClouds) {
    const store = finalizer.stores.get(cloud);
    if (!store) continue;
    for await (const obj of store.list(stagingPrefix(file.fileId), { signal })) {
      await store.delete(obj.key, { signal });
      removed++;
    }
  }
  return removed;
}
