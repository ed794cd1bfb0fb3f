/**
 * The names of the streams, consumers and KV bucket every process refers to. Their configurations
 * live in streams/definitions.ts; the names live here so that any layer can name them.
 */

/** Hub: ingest requests and completions. */
export const FILES_STREAM = "FILES";
/** Hub: sources every cloud's stream. */
export const EVENTS_STREAM = "EVENTS";
/** Hub: the file manifest (NATS KV). */
export const MANIFEST_BUCKET = "ferry_manifest";
export const INGEST_CONSUMER = "ingest";
export const ORCHESTRATOR_CONSUMER = "orchestrator";

/** The stream on a cloud's leaf holding everything that cloud publishes. */
export const cloudStream = (cloud: string): string => `CLOUD_${cloud.toUpperCase()}`;

/** The stages that consume their cloud's stream, and the event kind each one takes. */
export const LEAF_CONSUMERS = [
  { stage: "process", takes: "ingested" },
  { stage: "place", takes: "processed" },
  { stage: "verify", takes: "placed" },
] as const;
