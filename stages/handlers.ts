/**
 * The handler side of the stage chain (shared/stages.ts): what a worker of each stage runs. Keyed
 * by Stage, so a stage in the chain without an entry here, or an entry for no stage, is a type error.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { WorkerContext } from "../runtime/context.ts";
import type { Stage } from "../shared/stages.ts";
import { collectStaging } from "./ingest/collect-staging.ts";
import { createIngestHandler } from "./ingest/handler.ts";
import { sweepOrphans } from "./ingest/sweep-orphans.ts";
import { createPlaceHandler } from "./place/handler.ts";
import { createProcessHandler } from "./process/handler.ts";
import { createVerifyHandler } from "./verify/handler.ts";

/** Handles one message; resolves to `SKIPPED` (runtime/consume-loop.ts) when it was not this worker's work. */
export type Handler = (msg: JsMsg, signal: AbortSignal) => Promise<unknown>;

export interface StageWorker {
  /** Makes the handler of one message from the stage's consumer. */
  createHandler(ctx: WorkerContext): Handler;
  /** Work the worker does beside its messages, from start until `stopping` aborts. */
  background?(ctx: WorkerContext, stopping: AbortSignal): void;
}

export const STAGE_WORKERS: Record<Stage, StageWorker> = {
  ingest: {
    createHandler: createIngestHandler,
    background: (ctx, stopping) => {
      sweepOrphans(ctx, stopping);
      collectStaging(ctx, stopping);
    },
  },
  process: { createHandler: createProcessHandler },
  place: { createHandler: createPlaceHandler },
  verify: { createHandler: createVerifyHandler },
};
