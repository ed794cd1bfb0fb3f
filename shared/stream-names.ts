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
  stageRow,
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
/** Hub: the orchestrator lease (NATS KV): which orchestrator is the active one. */
export const LEADER_BUCKET = "ferry_leader";

/** The stream on a cloud's leaf holding everything that cloud publishes. */
export const cloudStream = (cloud: string): string => `CLOUD_${cloud.toUpperCase()}`;

/**
 * The stream on a cloud's leaf holding the work every cloud hands to it: each cloud's events of the
 * kind a stage taking every cloud's events consumes (place: `chunks.processed.*`), sourced from its
 * own stream directly and from the hub's EVENTS for the other clouds.
 */
export const workStream = (cloud: string): string => `WORK_${cloud.toUpperCase()}`;

/** Stages taking ingest requests: one consumer per cloud each on the hub's FILES stream (see hubConsumerName). */
export const HUB_CONSUMERS: readonly Stage[] = STAGES.filter(takesIngestRequests);

/** The durable consumer on the hub's FILES stream from which `cloud`'s workers of `stage` take the requests meant for them. */
export const hubConsumerName = (stage: Stage, cloud: string): string => `${stage}-${cloud}`;

/** The durable consumer on the hub's FILES stream from which `cloud`'s ingest workers take the staging they must delete. */
export const collectConsumerName = (cloud: string): string => `collect-${cloud}`;

/** The consumer every cloud's ingest workers shared before requests named their cloud; removed once its successors exist. */
export const LEGACY_INGEST_CONSUMER = "ingest";

/** The other stages: one consumer each on every cloud's stream, for the chunk event kind the stage takes. */
export const LEAF_CONSUMERS: ReadonlyArray<{ stage: LeafStage; takes: ChunkEventKind; from: "own" | "every" }> =
  STAGE_CHAIN.flatMap((r) =>
    r.consumes === INGEST_REQUESTS_KIND ? [] : [{ stage: r.stage, takes: r.consumes, from: r.from }],
  );

/** The leaf stream holding `stage`'s consumer in `cloud`: the cloud's own stream, or its WORK stream for a stage taking every cloud's events. */
export function leafStageStream(stage: LeafStage, cloud: string): string {
  return stageRow(stage).from === "every" ? workStream(cloud) : cloudStream(cloud);
}

/** Where the workers of `stage` in `cloud` pull from: the hub (`onHub`) or their cloud's leaf. */
export function stageSource(stage: Stage, cloud: string): { onHub: boolean; stream: string; consumer: string } {
  return takesIngestRequests(stage)
    ? { onHub: true, stream: FILES_STREAM, consumer: hubConsumerName(stage, cloud) }
    : { onHub: false, stream: leafStageStream(stage as LeafStage, cloud), consumer: stage };
}
