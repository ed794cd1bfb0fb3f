import { type JsMsg, jetstream } from "@nats-io/jetstream";
import { runConsumeLoop } from "../../runtime/consume-loop.ts";
import { publishDeadLetter, type WorkerContext } from "../../runtime/context.ts";
import { stagingPrefix } from "../../shared/chunk-keys.ts";
import { describeError, PoisonMessageError } from "../../shared/errors.ts";
import { parseJsonObject, type StagingCollect } from "../../shared/events.ts";
import { collectConsumerName, FILES_STREAM } from "../../shared/stream-names.ts";

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

async function collectOne(ctx: WorkerContext, msg: JsMsg, signal: AbortSignal): Promise<void> {
  const req = parseJsonObject(msg.data, `${msg.subject} request`) as Partial<StagingCollect>;
  if (typeof req.fileId !== "string") throw new PoisonMessageError(`${msg.subject} request lacks field "fileId"`);
  if (req.key !== undefined && !(typeof req.key === "string" && req.key.startsWith(stagingPrefix(req.fileId))))
    throw new PoisonMessageError(`${msg.subject}: key ${JSON.stringify(req.key)} is not staging of file ${req.fileId}`);
  const store = ctx.stores.get(ctx.cloud);
  if (!store) return;
  const keys: string[] = [];
  if (typeof req.key === "string") keys.push(req.key);
  else for await (const obj of store.list(stagingPrefix(req.fileId), { signal })) keys.push(obj.key);
  for (const key of keys) await store.delete(key, { signal });
  ctx.log.child({ fileId: req.fileId }).info({ removed: keys.length, cloud: ctx.cloud }, "staging collected");
}
