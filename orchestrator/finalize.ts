import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/log.ts";
import { publishTraced } from "../observability/message-spans.ts";
import { encodeEvent, type FileCompleted, type StagingCollect } from "../shared/events.ts";
import { type FileRecord, fileKey, readFileRecord } from "../shared/manifest.ts";
import { collectSubject, FILES_COMPLETED, msgId } from "../shared/subjects.ts";
import { updateJson } from "./kv-update.ts";
import { isReady } from "./projection.ts";

export interface Finalizer {
  kv: KV;
  hubJs: JetStreamClient;
  log: Logger;
  /** Throws unless this orchestrator may still act (it holds the lease); called before every side effect. */
  assertActive?: (what: string) => void;
}

/**
 * Finishes a file whose chunks all have their replicas: asks each cloud that staged it to delete
 * its staging (`files.collect.<cloud>`: only that cloud's workers hold its store's credentials),
 * marks it complete, announces `files.completed`. Safe to repeat: each step checks before it acts.
 */
export async function finalizeFile(finalizer: Finalizer, fileId: string): Promise<void> {
  const file = await readFileRecord(finalizer.kv, fileId);
  if (!file || !isReady(file)) return;
  finalizer.assertActive?.(`finishing file ${fileId}`);
  const at = new Date().toISOString();
  // Asked first, as the staging was once deleted first: a crash before the file is marked complete repeats it all.
  for (const cloud of file.stagingClouds) await askToCollect(finalizer, cloud, { fileId, at });
  const stored = await updateJson<FileRecord>(finalizer.kv, fileKey(fileId), (cur) => {
    if (!cur || !isReady(cur)) return undefined;
    const { heldBy: _shortOfClouds, ...rest } = cur;
    return { ...rest, state: "complete", completedAt: at, updatedAt: at };
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
        stagingClouds: file.stagingClouds,
      },
      "file complete",
    );
  }
}

/** Asks `cloud` to delete a finished file's staging there, or the one stale object `req.key`. */
export async function askToCollect(finalizer: Finalizer, cloud: string, req: StagingCollect): Promise<void> {
  finalizer.assertActive?.(`asking ${cloud} to collect the staging of file ${req.fileId}`);
  const id = msgId(req.fileId, "collect", cloud, ...(req.key ? [req.key] : []));
  await publishTraced(finalizer.hubJs, collectSubject(cloud), encodeEvent(req), { msgID: id });
}
