import { createHash, type Hash } from "node:crypto";
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../observability/log.ts";
import { ATTR_CHUNK_INDEX, ATTR_CHUNK_SIZE, ATTR_FILE_ID, SPAN_INGEST_CHUNK } from "../../observability/semconv.ts";
import { activeTraceId, setActiveAttributes, withSpan } from "../../observability/spans.ts";
import { storeOf, type WorkerContext } from "../../runtime/context.ts";
import { chunkListDigest, type FileDigestKind } from "../../shared/chunk-digest.ts";
import { stagingKey } from "../../shared/chunk-keys.ts";
import { PoisonMessageError } from "../../shared/errors.ts";
import { tap } from "../../shared/hashing.ts";
import { type ChunkSpan, planChunks } from "../../shared/sources/chunk-plan.ts";
import { openIngestSource } from "../../shared/sources/open-source.ts";
import type { IngestSource } from "../../shared/sources/source.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { announceAccepted, announceChunk, announceIngested } from "./announce.ts";
import { type IngestRequest, parseIngestRequest } from "./request.ts";
import { REQUEST_LIMITS } from "./request-limits.ts";
import { findResumePoint, type StagedChunk } from "./resume.ts";
import { sourceAccess } from "./source-access.ts";
import { acceptUploaded } from "./uploaded.ts";

/**
 * Handles one ingest request: reads the source once, front to back, cutting chunks; each chunk is
 * hashed while it streams into this cloud's staging area, then announced on `chunks.ingested.<cloud>`.
 * A request delivered again goes on from the first chunk the manifest does not show staged (resume.ts),
 * with the same cuts, keys and message ids a first delivery would use, so what it repeats changes nothing;
 * one whose file was ingested whole does nothing.
 */
export function createIngestHandler(ctx: WorkerContext) {
  return async (msg: JsMsg, signal: AbortSignal): Promise<void> => {
    const req = parseIngestRequest(msg.data, msg.info.streamSequence, ctx.topology.chunkSizeBytes);
    await ingestFile(ctx, req, msg, signal);
  };
}

async function ingestFile(ctx: WorkerContext, req: IngestRequest, msg: JsMsg, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const log = ctx.log.child({ fileId: req.fileId });
  setActiveAttributes({ [ATTR_FILE_ID]: req.fileId });
  const traceId = activeTraceId();
  const replicas = Math.min(ctx.topology.replicas, ctx.topology.clouds.length);
  if (req.uploaded) return acceptUploaded(ctx, req, req.uploaded, { msg, traceId, replicas, signal });
  const source = await openIngestSource(req.source, sourceAccess(ctx));
  const { size } = source;
  try {
    refuseTooManyChunks(req, Math.ceil(size / req.chunkSize));
    // Every delivery looks: a request delivered again after a consumer reset (orchestrator/consumer-audit.ts)
    // counts as a first delivery, and must find its file ingested or go on from where it stopped.
    const resume = await findResumePoint(ctx, req, source, signal);
    if (resume === "ingested") return log.info("an earlier delivery ingested the whole file; nothing to do");
    msg.working();
    await announceAccepted(ctx, req, { size, replicas, traceId, sourceVersion: source.version }, started);
    if (resume) log.info({ fromChunk: resume.from.index, fromByte: resume.from.offset, size }, "ingest resumed");
    else log.info({ size, chunkSize: req.chunkSize, source: req.source }, "ingest started");
    const file: FileInFlight = {
      ctx,
      req,
      log,
      source,
      staging: storeOf(ctx, ctx.cloud),
      whole: resume ? undefined : createHash("sha256"),
      chunks: [...(resume?.staged ?? [])],
      replicas,
    };
    for await (const span of planChunks(source, size, req.chunkSize, req.recordBoundaries, resume?.from)) {
      // Cuts after newlines can make more chunks than size / chunkSize: the bound holds for those too.
      refuseTooManyChunks(req, span.index + 1);
      // Each chunk's own span: the parent of everything later stages do with it.
      await withSpan(
        SPAN_INGEST_CHUNK,
        { [ATTR_FILE_ID]: req.fileId, [ATTR_CHUNK_INDEX]: span.index, [ATTR_CHUNK_SIZE]: span.size },
        () => stageChunk(file, span, signal),
      );
      msg.working();
    }
    // The chunks are one file only if the source stayed the same from the first byte to the last.
    await source.assertUnchanged();
    const chunkCount = file.chunks.length;
    const done = await announceIngested(ctx, req, { size, chunkCount, ...fileDigest(file) }, started);
    log.info({ chunkCount, durationMs: done.durationMs, digest: done.digest ?? "sha256" }, "ingest complete");
  } finally {
    await source.close();
  }
}

/** Throws PoisonMessageError when a file would be cut into more chunks than one file may have. */
function refuseTooManyChunks(req: IngestRequest, chunks: number): void {
  if (chunks <= REQUEST_LIMITS.maxChunks) return;
  throw new PoisonMessageError(
    `file ${req.fileId} would be cut into more than ${REQUEST_LIMITS.maxChunks} chunks of ${req.chunkSize} bytes: ingest it with a larger chunkSize`,
  );
}

/**
 * The file's digest: its plain SHA-256 when this delivery read it from byte 0; the chunk-list digest
 * when it resumed, since the hash of the bytes before the resume point cannot be had without
 * reading them again (shared/chunk-digest.ts says why, and what `get` checks).
 */
function fileDigest(file: FileInFlight): { sha256: string; digest?: FileDigestKind } {
  if (file.whole) return { sha256: file.whole.digest("hex") };
  return { sha256: chunkListDigest(file.chunks), digest: "chunk-list" };
}

/** What every chunk of the file being ingested shares. */
interface FileInFlight {
  ctx: WorkerContext;
  req: IngestRequest;
  log: Logger;
  /** Where the bytes come from: a local file or an object, read range by range. */
  source: IngestSource;
  /** This cloud's store, where chunks wait for the later stages. */
  staging: BlobStore;
  /** The whole file's SHA-256, fed chunk by chunk as they stream past; none when the ingest resumed. */
  whole: Hash | undefined;
  /** Every chunk staged so far, by this delivery or (when it resumed) an earlier one. */
  chunks: StagedChunk[];
  replicas: number;
}

/** Streams one chunk of the source into staging, hashing it on the way, then announces it. */
async function stageChunk(file: FileInFlight, span: ChunkSpan, signal: AbortSignal): Promise<void> {
  const { ctx, req, log, staging, source } = file;
  const chunkStarted = Date.now();
  const key = stagingKey(req.fileId, span.index);
  const bytes = source.range(span.offset, span.offset + span.size, signal);
  const put = await staging.put(key, file.whole ? tap(bytes, file.whole) : bytes, { overwrite: true, signal });
  file.chunks.push({ offset: span.offset, size: put.size, sha256: put.sha256 });
  log.debug(
    { index: span.index, bytes: put.size, durationMs: Date.now() - chunkStarted, to: `${staging.cloud}:${key}` },
    "chunk staged",
  );
  await announceChunk(
    ctx,
    req,
    { span: { ...span, size: put.size }, sha256: put.sha256, key, staging, replicas: file.replicas },
    chunkStarted,
  );
}
