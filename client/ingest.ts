import { basename } from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import { publishTraced } from "../observability/message-spans.ts";
import { ATTR_FILE_ID } from "../observability/semconv.ts";
import type { FileEncryption } from "../shared/crypto/file-encryption.ts";
import { encodeEvent, type Transform } from "../shared/events.ts";
import { newFileId } from "../shared/ids.ts";
import { type FileRecord, type ManifestReader, readFileRecord } from "../shared/manifest.ts";
import { pollUntil } from "../shared/retry.ts";
import type { UploadedFile } from "../shared/sources/uploaded.ts";
import { INGEST_REQUESTS, ingestSubject } from "../shared/subjects.ts";
import type { CheckedIngestFile } from "./preflight.ts";

export interface IngestOptions {
  /** The cloud whose ingest workers take the request. @default the deployment's default cloud (bare `files.ingest`) */
  cloud?: string;
  /**
   * The new file's id: a retried submit passes the same one, so the hub keeps one request; a client
   * that staged the chunks itself gives the one it staged them under. @default a new id
   */
  fileId?: string;
  chunkSize?: number;
  recordBoundaries?: boolean;
  transforms?: Transform[];
}

/** A file handed to the pipeline: its id, and its trace id when this process traces. */
export interface SubmittedFile {
  fileId: string;
  traceId?: string;
}

/**
 * Publishes one ingest request (a checked local file, or an object URL) to the hub, on the subject of
 * `options.cloud` when given, and returns the new file's id once JetStream has stored it.
 * The publish is the root span of the file's trace; the request carries its context to the workers.
 */
export async function submitIngest(
  hubJs: JetStreamClient,
  src: CheckedIngestFile | { url: string } | { uploaded: UploadedFile; name: string; encryption?: FileEncryption },
  options: IngestOptions = {},
): Promise<SubmittedFile> {
  const fileId = options.fileId ?? newFileId();
  const request = {
    fileId,
    ...("url" in src ? { url: src.url } : "uploaded" in src ? src : { path: src.path, name: basename(src.path) }),
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
    ...(options.recordBoundaries === undefined ? {} : { recordBoundaries: options.recordBoundaries }),
    ...(options.transforms?.length ? { transforms: options.transforms } : {}),
  };
  // A new root: a file's trace never hangs under whatever the caller was doing.
  const { traceId } = await publishTraced(
    hubJs,
    options.cloud === undefined ? INGEST_REQUESTS : ingestSubject(options.cloud),
    encodeEvent(request),
    { msgID: `ingest:${fileId}` },
    {
      root: true,
      attributes: { [ATTR_FILE_ID]: fileId },
    },
  );
  return traceId ? { fileId, traceId } : { fileId };
}

/** Whether a file has reached a state it will not leave by itself. */
export const isFinished = (f: FileRecord | undefined): boolean => f?.state === "complete" || f?.state === "failed";

/** Whether waiting on a file is over: finished, or durable (it completes by itself when the missing clouds return). */
export const isSettled = (f: FileRecord | undefined): boolean => isFinished(f) || f?.state === "durable";

/**
 * Polls the manifest until every file is complete, failed or durable (or what `settled` says), calling `onUpdate` with the latest
 * records. Throws when `timeoutMs` passes first.
 */
export async function waitForFiles(
  kv: ManifestReader,
  fileIds: string[],
  onUpdate: (files: Map<string, FileRecord | undefined>) => void,
  timeoutMs = Infinity,
  settled: (f: FileRecord | undefined) => boolean = isSettled,
): Promise<Map<string, FileRecord>> {
  const latest = new Map<string, FileRecord | undefined>();
  await pollUntil(
    `${fileIds.length} file(s) complete, failed or durable`,
    async () => {
      for (const id of fileIds) if (!settled(latest.get(id))) latest.set(id, await readFileRecord(kv, id));
      onUpdate(latest);
      const pending = fileIds.filter((id) => !settled(latest.get(id)));
      return pending.length === 0 || `${pending.length} still pending: ${pending.join(", ")}`;
    },
    // A manifest that cannot be read is reported at once, not waited out (`kv` may retry its reads itself).
    { timeoutMs, intervalMs: 200, retryable: () => false },
  );
  return latest as Map<string, FileRecord>;
}
