import { meta, publishEvent, type WorkerContext } from "../../runtime/context.ts";
import type { FileDigestKind } from "../../shared/chunk-digest.ts";
import type { ChunkIngested, FileAccepted, FileIngested } from "../../shared/events.ts";
import type { ChunkSpan } from "../../shared/sources/chunk-plan.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { chunkSubject, fileSubject, msgId } from "../../shared/subjects.ts";
import type { IngestRequest } from "./request.ts";

/**
 * The three facts an ingest publishes, whoever wrote the staged bytes (this worker reading a
 * source, or a client that uploaded them): the file is accepted, each chunk is staged, the file is
 * ingested. Message ids are deterministic, so a redelivered request repeats them harmlessly.
 */
export async function announceAccepted(
  ctx: WorkerContext,
  req: IngestRequest,
  file: { size: number; replicas: number; traceId: string | undefined; sourceVersion?: string },
  started: number,
): Promise<void> {
  const accepted: FileAccepted = {
    ...meta(ctx, started),
    fileId: req.fileId,
    name: req.name,
    size: file.size,
    chunkSize: req.chunkSize,
    replicas: file.replicas,
    ...(file.traceId ? { traceId: file.traceId } : {}),
    ...(file.sourceVersion ? { sourceVersion: file.sourceVersion } : {}),
    ...(req.encryption ? { encryption: req.encryption } : {}),
  };
  await publishEvent(ctx, fileSubject("accepted", ctx.cloud), accepted, msgId(req.fileId, "accepted"));
}

/** Announces one chunk staged under `key` in this cloud's `staging` store. */
export async function announceChunk(
  ctx: WorkerContext,
  req: IngestRequest,
  staged: { span: ChunkSpan; sha256: string; key: string; staging: BlobStore; replicas: number },
  started: number,
): Promise<void> {
  const { span, staging, key } = staged;
  const ev: ChunkIngested = {
    ...meta(ctx, started),
    fileId: req.fileId,
    index: span.index,
    offset: span.offset,
    size: span.size,
    sha256: staged.sha256,
    staging: { cloud: ctx.cloud, store: staging.kind, bucket: staging.bucket, key },
    transforms: req.transforms,
    replicas: staged.replicas,
  };
  await publishEvent(
    ctx,
    chunkSubject("ingested", ctx.cloud),
    ev,
    msgId(req.fileId, span.index, "ingested", ctx.cloud),
  );
}

/** Announces the whole file: its size, digest (plain SHA-256 unless `digest` says otherwise) and chunk count. */
export async function announceIngested(
  ctx: WorkerContext,
  req: IngestRequest,
  file: { size: number; sha256: string; chunkCount: number; digest?: FileDigestKind },
  started: number,
): Promise<FileIngested> {
  const done: FileIngested = { ...meta(ctx, started), fileId: req.fileId, name: req.name, ...file };
  await publishEvent(ctx, fileSubject("ingested", ctx.cloud), done, msgId(req.fileId, "ingested", ctx.cloud));
  return done;
}
