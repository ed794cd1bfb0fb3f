import { type JsMsg, jetstream } from "@nats-io/jetstream";
import { runConsumeLoop } from "../../runtime/consume-loop.ts";
import { publishDeadLetter, type WorkerContext } from "../../runtime/context.ts";
import { stagingPrefix } from "../../shared/chunk-keys.ts";
import { describeError, UntrustedEventError } from "../../shared/errors.ts";
import { parseJsonObject, type StagingCollect } from "../../shared/events.ts";
import { isFileId } from "../../shared/ids.ts";
import { readFileRecord } from "../../shared/manifest.ts";
import { collectConsumerName, FILES_STREAM } from "../../shared/stream-names.ts";
import { hubManifest } from "../hub-manifest.ts";

/** What follows `staging/<fileId>/` in a staged chunk's key: its index. */
const STAGED_INDEX = /^(0|[1-9][0-9]{0,6})$/;

/**
 * A cloud's ingest workers delete their own staging: once a file is complete the orchestrator asks
 * on `files.collect.<cloud>` (hub FILES stream), and they remove the one stale object named or every
 * object the file staged in this cloud's store. Deleting what is already gone is not an error, so
 * a repeated request changes nothing. Runs beside the ingest loop until `stopping` aborts.
 */
export function collectStaging(ctx: WorkerContext, stopping: AbortSignal): void {
  const hubJs = jetstream(ctx.nc, { domain: ctx.topology.hubDomain });
  const log = ctx.log.child({ task: "collect-staging" });
  runConsumeLoop({
    getConsumer: () => hubJs.consumers.get(FILES_STREAM, collectConsumerName(ctx.cloud)),
    concurrency: 1,
    maxAttempts: ctx.topology.maxAttempts,
    ackWaitMs: ctx.topology.ackWaitMs,
    handle: (msg, signal) => collectOne(ctx, msg, signal),
    deadLetter: (msg, err) => publishDeadLetter(ctx, msg, err),
    log,
    signal: stopping,
  }).catch((err: unknown) => log.error({ err: describeError(err) }, "staging collection stopped"));
}

/**
 * The request, once it names a file id, at most one of that file's own staging keys, and a file the
 * hub's manifest says has all its replicas (only then does the orchestrator ask): anything else is refused
 * as untrusted, so no request can delete the staging of a file still in flight, or anything else.
 */
async function checkedRequest(ctx: WorkerContext, msg: JsMsg): Promise<StagingCollect> {
  const what = `${msg.subject} request`;
  let req: Partial<StagingCollect>;
  try {
    req = parseJsonObject(msg.data, what) as Partial<StagingCollect>;
  } catch (err) {
    throw new UntrustedEventError((err as Error).message);
  }
  const shown = (v: unknown) => JSON.stringify(v)?.slice(0, 80);
  if (!isFileId(req.fileId))
    throw new UntrustedEventError(`${what} field "fileId" must be a file id, got ${shown(req.fileId)}`);
  const fileId = req.fileId;
  if (
    req.key !== undefined &&
    !(
      typeof req.key === "string" &&
      STAGED_INDEX.test(req.key.slice(stagingPrefix(fileId).length)) &&
      req.key.startsWith(stagingPrefix(fileId))
    )
  )
    throw new UntrustedEventError(`${what}: key ${shown(req.key)} is not staging of file ${fileId}`);
  // The orchestrator asks once every chunk has its replicas, just before it marks the file complete.
  const f = await readFileRecord(await hubManifest(ctx), fileId);
  const finished = f?.state === "complete" || (f?.chunkCount !== undefined && f.chunksComplete >= f.chunkCount);
  if (!finished)
    throw new UntrustedEventError(
      `${what}: file ${fileId} is ${f ? `${f.state}, ${f.chunksComplete} of ${f.chunkCount ?? "?"} chunks complete` : "unknown"}: its staging stays`,
    );
  return req as StagingCollect;
}

async function collectOne(ctx: WorkerContext, msg: JsMsg, signal: AbortSignal): Promise<void> {
  const req = await checkedRequest(ctx, msg);
  const store = ctx.stores.get(ctx.cloud);
  if (!store) return;
  const keys: string[] = [];
  if (typeof req.key === "string") keys.push(req.key);
  else for await (const obj of store.list(stagingPrefix(req.fileId), { signal })) keys.push(obj.key);
  for (const key of keys) await store.delete(key, { signal });
  ctx.log.child({ fileId: req.fileId }).info({ removed: keys.length, cloud: ctx.cloud }, "staging collected");
}
