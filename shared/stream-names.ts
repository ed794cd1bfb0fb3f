/**
 * The names of the streams, consumers and KV bucket every process refers to. Their configurations
 * live in streams/definitions.ts; the names live here so that any layer can name them. Every stage's
 * durable consumer is named after the stage and placed by what the stage consumes (shared/stages.ts).
 */
import {
  type ChunkEventKind,
  INGEST_REQUESTS_KIND,
  type LeafStage,
  STAGE_CHAIN,
  STAGES,
  type Stage,
  takesIngestRequests,
} from "./stages.ts";

/** Hub: ingest requests and completions. */
export const FILES_STREAM = "FILES";
/** Hub: sources every cloud's stream. */
export const EVENTS_STREAM = "EVENTS";
/** Hub: the file manifest (NATS KV). */
export const MANIFEST_BUCKET = "ferry_manifest";
/** Hub: what clients on other machines need to know of the deployment (shared/topology/client-view.ts). */
export const DEPLOYMENT_BUCKET = "ferry_deployment";
export const ORCHESTRATOR_CONSUMER = "orchestrator";

/** The stream on a cloud's leaf holding everything that cloud publishes. */
export const cloudStream = (cloud: string): string => `CLOUD_${cloud.toUpperCase()}`;

/** Stages taking ingest requests: one consumer each on the hub's FILES stream, shared by every cloud's workers. */
export const HUB_CONSUMERS: readonly Stage[] = STAGES.filter(takesIngestRequests);

/** The other stages: one consumer each on every cloud's stream, for the chunk event kind the stage takes. */
export const LEAF_CONSUMERS: ReadonlyArray<{ stage: LeafStage; takes: ChunkEventKind }> = STAGE_CHAIN.flatMap((r) =>
  r.consumes === INGEST_REQUESTS_KIND ? [] : [{ stage: r.stage, takes: r.consumes }],
);

/** Where the workers of `stage` in `cloud` pull from: the hub (`onHub`) or their cloud's leaf. */
export function stageSource(stage: Stage, cloud: string): { onHub: boolean; stream: string; consumer: string } {
  return takesIngestRequests(stage)
    ? { onHub: true, stream: FILES_STREAM, consumer: stage }
    : { onHub: false, stream: cloudStream(cloud), consumer: stage };
}
