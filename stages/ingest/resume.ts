import { createHash } from "node:crypto";
import type { WorkerContext } from "../../runtime/context.ts";
import { SourceChangedError } from "../../shared/errors.ts";
import { type ChunkRecord, chunkKey, type FileRecord, readFileRecord, readJson } from "../../shared/manifest.ts";
import type { PlanStart } from "../../shared/sources/chunk-plan.ts";
import type { IngestSource } from "../../shared/sources/source.ts";
import { hubManifest } from "../hub-manifest.ts";
import type { IngestRequest } from "./request.ts";

/** A chunk already staged and announced: what the file's chunk-list digest needs of it. */
export interface StagedChunk {
  offset: number;
  size: number;
  sha256: string;
}

/** Where a redelivered ingest goes on from: the chunks an earlier delivery staged, and the next one's start. */
export interface ResumePoint {
  /** Chunks 0..k-1, in order, as the manifest records them. */
  staged: StagedChunk[];
  /** Chunk k: the first one no earlier delivery is known to have staged. */
  from: PlanStart;
}

/**
 * What a redelivered ingest request (its worker died, or a try failed) finds of earlier deliveries
 * in the hub's manifest: `"ingested"` when one announced the whole file, a ResumePoint when chunks
 * 0..k-1 are staged in this cloud and announced, undefined when there is nothing to go on from.
 * Chunks announced but not yet in the manifest are staged again (same keys, same message ids).
 * Before resuming it checks the source's size and version (when the manifest records it) and reads
 * the last staged chunk again to check its hash: a source that changed since throws
 * SourceChangedError, as a change during one read does.
 */
export async function findResumePoint(
  ctx: WorkerContext,
  req: IngestRequest,
  source: IngestSource,
  signal: AbortSignal,
): Promise<ResumePoint | "ingested" | undefined> {
  const kv = await hubManifest(ctx);
  const file = await readFileRecord(kv, req.fileId);
  // No record, or one a dead letter made before any delivery was accepted (a replayed request whose
  // source was missing then): nothing to go on from.
  if (!file || file.chunkSize === 0) return undefined;
  if (file.chunkCount !== undefined) return "ingested";
  if (file.size !== source.size) throw changedSince(source, `its size went from ${file.size} to ${source.size} bytes`);
  if (file.sourceVersion !== undefined && file.sourceVersion !== source.version)
    throw changedSince(source, `it was ${file.sourceVersion}, it is ${source.version} now`);
  const staged = await stagedPrefix(ctx, file);
  const last = staged.at(-1);
  if (!last) return undefined;
  const h = createHash("sha256");
  for await (const piece of source.range(last.offset, last.offset + last.size, signal)) h.update(piece);
  if (h.digest("hex") !== last.sha256)
    throw changedSince(
      source,
      `chunk ${staged.length - 1} (bytes ${last.offset}-${last.offset + last.size - 1}) differs`,
    );
  return { staged, from: { index: staged.length, offset: last.offset + last.size } };
}

/** The longest run of chunk records 0, 1, ... staged in this cloud, contiguous from byte 0. */
async function stagedPrefix(ctx: WorkerContext, file: FileRecord): Promise<StagedChunk[]> {
  const kv = await hubManifest(ctx);
  const out: StagedChunk[] = [];
  let next = 0;
  for (let i = 0; i < file.chunksIngested; i++) {
    const c = (await readJson<ChunkRecord>(kv, chunkKey(file.fileId, i)))?.value;
    if (!c || c.offset !== next || !c.staging.some((s) => s.cloud === ctx.cloud)) break;
    out.push({ offset: c.offset, size: c.size, sha256: c.sha256 });
    next += c.size;
  }
  return out;
}

function changedSince(source: IngestSource, what: string): SourceChangedError {
  return new SourceChangedError(
    `source ${source.name} changed since an interrupted ingest of it began (${what}): ingest it again as a new file`,
  );
}
