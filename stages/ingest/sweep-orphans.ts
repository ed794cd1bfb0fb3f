import type { WorkerContext } from "../../runtime/context.ts";
import { describeError } from "../../shared/errors.ts";

/**
 * One worker per cloud (its ingest worker) removes what writers killed mid-put left in the cloud's
 * store, once it has sat untouched for `orphanAge`: at start and then periodically.
 */
export function sweepOrphans(ctx: WorkerContext, stopping: AbortSignal): void {
  const store = ctx.stores.get(ctx.cloud);
  if (!store?.sweepTemp) return;
  const sweep = () => {
    store
      .sweepTemp?.(ctx.topology.orphanAgeMs)
      .then((n) => n > 0 && ctx.log.info({ removed: n }, "removed temp objects of dead writers"))
      .catch((err: unknown) => ctx.log.warn({ err: describeError(err) }, "orphan sweep failed"));
  };
  sweep();
  const timer = setInterval(sweep, Math.max(1000, ctx.topology.orphanAgeMs / 2));
  timer.unref();
  stopping.addEventListener("abort", () => clearInterval(timer), { once: true });
}
