/**
 * The stage chain, declared once. Each row is what is the same for every stage: it runs as one
 * worker per cloud, pulls from one durable consumer named after it, and announces each piece of
 * work it finishes with one chunk event, which the next stage consumes. The stage types, consumers
 * and their filters, dead-letter subjects, manifest stage times, the monitor's mapping, metrics
 * labels, worker processes and compose services all follow from this table. What differs between
 * stages stays code: place and verify work per replica, each in the replica's own cloud, completion keys on verify, and the
 * handlers live in stages/<stage>/ (typed map: stages/handlers.ts).
 */

/** What ingest consumes: ingest requests on the hub's FILES stream, one consumer shared by every cloud. */
export const INGEST_REQUESTS_KIND = "request";

export interface StageRow {
  /** The stage's name: its worker, consumer, metrics label and dead-letter subject token. */
  stage: string;
  /** `INGEST_REQUESTS_KIND`, or the kind of its own cloud's chunk events it takes (`chunks.<kind>.<cloud>`). */
  consumes: string;
  /** The chunk event kind it publishes per finished piece of work (`chunks.<kind>.<cloud>`). */
  emits: string;
  /**
   * Whose chunk events it takes: its own cloud's (`own`), or every cloud's (`every`: place runs in
   * the cloud each replica goes to, so every cloud's place workers see every cloud's processed
   * chunks, through their cloud's WORK stream, and place those meant for their own store).
   */
  from: "own" | "every";
  /** Messages a worker handles at once unless the topology's `concurrency` says otherwise. */
  concurrency: number;
}

/** In pipeline order: each stage consumes what the one before it emits. */
export const STAGE_CHAIN = [
  { stage: "ingest", consumes: INGEST_REQUESTS_KIND, emits: "ingested", from: "own", concurrency: 1 },
  { stage: "process", consumes: "ingested", emits: "processed", from: "own", concurrency: 2 },
  { stage: "place", consumes: "processed", emits: "placed", from: "every", concurrency: 2 },
  { stage: "verify", consumes: "placed", emits: "verified", from: "own", concurrency: 4 },
] as const satisfies readonly StageRow[];

type Row = (typeof STAGE_CHAIN)[number];
export type Stage = Row["stage"];
/** The kind word of a chunk event: `chunks.<kind>.<cloud>`. */
export type ChunkEventKind = Row["emits"];
/** The stages that take their own cloud's chunk events (every one but those taking ingest requests). */
export type LeafStage = Exclude<Row, { consumes: typeof INGEST_REQUESTS_KIND }>["stage"];

/** The stages that run as workers in every cloud, in pipeline order. */
export const STAGES: readonly Stage[] = STAGE_CHAIN.map((r) => r.stage);

export const isStage = (name: string): name is Stage => (STAGES as readonly string[]).includes(name);

/** A record with one value per stage, made by `make`, its keys in pipeline order. */
export function perStage<T>(make: (stage: Stage) => T): Record<Stage, T> {
  return Object.fromEntries(STAGES.map((s) => [s, make(s)])) as Record<Stage, T>;
}

export function stageRow(stage: Stage): Row {
  const row = STAGE_CHAIN.find((r) => r.stage === stage);
  if (!row) throw new Error(`"${stage}" is not a stage (stages: ${STAGES.join(", ")})`);
  return row;
}

/** Whether `stage` takes ingest requests on the hub rather than its cloud's chunk events. */
export const takesIngestRequests = (stage: string): boolean =>
  STAGE_CHAIN.some((r) => r.stage === stage && r.consumes === INGEST_REQUESTS_KIND);

/** The chunk event kind `stage` takes from its own cloud's stream. */
export function takesOf(stage: LeafStage): ChunkEventKind {
  const { consumes } = stageRow(stage);
  if (consumes === INGEST_REQUESTS_KIND) throw new Error(`stage "${stage}" takes ingest requests, not chunk events`);
  return consumes;
}

/** The stage whose finished work a chunk event of `kind` announces; undefined for a kind no stage emits. */
export const stageOfEvent = (kind: string): Stage | undefined => STAGE_CHAIN.find((r) => r.emits === kind)?.stage;
