/**
 * The stage monitor: per stage throughput, success rate and share of pipeline time, worked out from
 * the event history in the hub's EVENTS stream, and the bottleneck stage. `analyse` is pure;
 * `collectReport` reads the history of a time window or of one file and analyses it.
 */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { InputError } from "../shared/errors.ts";
import { type ManifestReader, readFileRecord } from "../shared/manifest.ts";
import { isStage, perStage, STAGES, type Stage, stageOfEvent, takesOf } from "../shared/stages.ts";
import { EVENTS_STREAM } from "../shared/stream-names.ts";

/** One event of the history as the monitor reads it: its subject and the fields it uses from the JSON body. */
export interface HistoryEvent {
  subject: string;
  body: {
    at?: string;
    durationMs?: number;
    fileId?: string;
    index?: number;
    size?: number;
    /** On `chunks.processed`: above 0 when verify sent the chunk back after finding a bad replica. */
    repairs?: number;
  };
}

/** What one stage did in the analysed history. */
export interface StageReport {
  stage: Stage;
  /** Distinct chunks the stage finished (a chunk placed or verified on three clouds counts once). */
  chunks: number;
  /** Bytes of those chunks. */
  bytes: number;
  /** Work time in ms: per chunk, its longest event for this stage (replicas run side by side), summed over chunks; the manifest's stageMs adds up the same way. */
  busyMs: number;
  /** From the start of the stage's first successful piece of work to the end of its last, in ms. */
  spanMs: number;
  /** bytes / span; 0 when the span is 0. */
  bytesPerSec: number;
  /** chunks / span; 0 when the span is 0. */
  chunksPerSec: number;
  /** Successful events: a chunk for ingest and process, a replica for place and verify. */
  succeeded: number;
  /** Dead letters of the stage, and for verify also every replica found missing or corrupt. */
  failed: number;
  /** succeeded / (succeeded + failed); null when the stage did nothing. */
  successRate: number | null;
  /** busyMs over the busyMs of all stages (0..1); 0 when nothing was timed. */
  share: number;
}

export type Severity = "minor" | "moderate" | "severe";

/** The stage taking the largest share of pipeline time, once that share is above 25 %. */
export interface Bottleneck {
  stage: Stage;
  share: number;
  /** share > 0.25 minor, > 0.35 moderate, > 0.5 severe. */
  severity: Severity;
}

/** The monitor's answer: one entry per stage in pipeline order, and the bottleneck if there is one. */
export interface PipelineReport {
  /** Start of the earliest analysed piece of work (ISO), null without events. */
  from: string | null;
  /** End of the latest one (ISO), null without events. */
  to: string | null;
  /** Set when the report covers one file. */
  fileId?: string;
  /** Events analysed. */
  events: number;
  stages: StageReport[];
  bottleneck?: Bottleneck;
}

/** Share of pipeline time above which a stage is flagged, most severe first. */
export const SEVERITY_THRESHOLDS: ReadonlyArray<{ above: number; severity: Severity }> = [
  { above: 0.5, severity: "severe" },
  { above: 0.35, severity: "moderate" },
  { above: 0.25, severity: "minor" },
];

type Classified =
  | { stage: Stage; ok: true; chunk: string; size: number; startMs: number; endMs: number; durationMs: number }
  | { stage: Stage; ok: false };

/** Which stage an event speaks for and whether it is a success; undefined for events the monitor ignores. */
function classify(e: HistoryEvent): Classified | undefined {
  const [family, kind] = e.subject.split(".");
  if (family === "deadletter") return kind !== undefined && isStage(kind) ? { stage: kind, ok: false } : undefined;
  if (family !== "chunks") return undefined;
  const b = e.body;
  // Verify sends a bad replica's chunk back to placement as the event place takes, with repairs > 0.
  if (kind === takesOf("place") && (b.repairs ?? 0) > 0) return { stage: "verify", ok: false };
  const stage = kind === undefined ? undefined : stageOfEvent(kind);
  const endMs = b.at === undefined ? NaN : Date.parse(b.at);
  if (!stage || b.fileId === undefined || b.index === undefined || Number.isNaN(endMs)) return undefined;
  const durationMs = Math.max(0, b.durationMs ?? 0);
  return {
    stage,
    ok: true,
    chunk: `${b.fileId}:${b.index}`,
    size: b.size ?? 0,
    startMs: endMs - durationMs,
    endMs,
    durationMs,
  };
}

/** Per stage figures and the bottleneck, from events in any order. */
export function analyse(events: readonly HistoryEvent[]): PipelineReport {
  const { tallies, analysed } = tally(events);
  const stages = stageReports(tallies);
  const starts = Object.values(tallies)
    .map((a) => a.start)
    .filter(Number.isFinite);
  const ends = Object.values(tallies)
    .map((a) => a.end)
    .filter(Number.isFinite);
  const bottleneck = findBottleneck(stages);
  return {
    from: starts.length ? new Date(Math.min(...starts)).toISOString() : null,
    to: ends.length ? new Date(Math.max(...ends)).toISOString() : null,
    events: analysed,
    stages,
    ...(bottleneck ? { bottleneck } : {}),
  };
}

/** One stage's events, added up. */
interface StageTally {
  /** Per distinct chunk (`fileId:index`): its size and its longest event for the stage. */
  chunks: Map<string, { size: number; ms: number }>;
  succeeded: number;
  failed: number;
  /** Start of the first successful piece of work, end of the last (ms since the epoch; ±Infinity without one). */
  start: number;
  end: number;
}

/** Every stage's tally, and how many of the events were the monitor's to analyse. */
function tally(events: readonly HistoryEvent[]): { tallies: Record<Stage, StageTally>; analysed: number } {
  const tallies = perStage(
    (): StageTally => ({ chunks: new Map(), succeeded: 0, failed: 0, start: Infinity, end: -Infinity }),
  );
  let analysed = 0;
  for (const e of events) {
    const c = classify(e);
    if (!c) continue;
    analysed++;
    const a = tallies[c.stage];
    if (!c.ok) {
      a.failed++;
      continue;
    }
    a.succeeded++;
    const seen = a.chunks.get(c.chunk);
    a.chunks.set(c.chunk, { size: c.size, ms: Math.max(seen?.ms ?? 0, c.durationMs) });
    a.start = Math.min(a.start, c.startMs);
    a.end = Math.max(a.end, c.endMs);
  }
  return { tallies, analysed };
}

/** The tallies as reports in pipeline order, each stage's share taken of the busy time of all. */
function stageReports(tallies: Record<Stage, StageTally>): StageReport[] {
  const busy = perStage((s) => [...tallies[s].chunks.values()].reduce((t, c) => t + c.ms, 0));
  const totalBusy = Object.values(busy).reduce((t, ms) => t + ms, 0);
  return STAGES.map((stage): StageReport => {
    const a = tallies[stage];
    const bytes = [...a.chunks.values()].reduce((t, c) => t + c.size, 0);
    const spanMs = a.chunks.size > 0 ? a.end - a.start : 0;
    const perSec = (n: number) => (spanMs > 0 ? n / (spanMs / 1000) : 0);
    const attempts = a.succeeded + a.failed;
    return {
      stage,
      chunks: a.chunks.size,
      bytes,
      busyMs: busy[stage],
      spanMs,
      bytesPerSec: perSec(bytes),
      chunksPerSec: perSec(a.chunks.size),
      succeeded: a.succeeded,
      failed: a.failed,
      successRate: attempts > 0 ? a.succeeded / attempts : null,
      share: totalBusy > 0 ? busy[stage] / totalBusy : 0,
    };
  });
}

function findBottleneck(stages: StageReport[]): Bottleneck | undefined {
  const top = stages.reduce((a, b) => (b.share > a.share ? b : a));
  const level = SEVERITY_THRESHOLDS.find((t) => top.share > t.above);
  return level ? { stage: top.stage, share: top.share, severity: level.severity } : undefined;
}

/** Bytes and distinct chunks per second each stage finished in the `windowMs` before `nowMs` (for a live view). */
export function recentRates(
  events: readonly HistoryEvent[],
  nowMs: number,
  windowMs: number,
): Record<Stage, { bytesPerSec: number; chunksPerSec: number }> {
  const chunks = perStage(() => new Map<string, number>());
  for (const e of events) {
    const c = classify(e);
    if (c?.ok && c.endMs > nowMs - windowMs && c.endMs <= nowMs) chunks[c.stage].set(c.chunk, c.size);
  }
  const secs = windowMs / 1000;
  return perStage((s) => ({
    bytesPerSec: [...chunks[s].values()].reduce((t, n) => t + n, 0) / secs,
    chunksPerSec: chunks[s].size / secs,
  }));
}

/** Subjects of the EVENTS stream the monitor reads. */
export const HISTORY_SUBJECTS = ["chunks.>", "deadletter.>"];

/**
 * Reads the hub's EVENTS stream from `startTime` (the hub's receive time) to its end, or until a
 * message received after `untilMs`, with an ordered consumer that acknowledges and removes nothing.
 */
export async function readHistory(
  hubJs: JetStreamClient,
  options: { startTime: Date; untilMs?: number },
): Promise<HistoryEvent[]> {
  const consumer = await hubJs.consumers.get(EVENTS_STREAM, {
    filter_subjects: HISTORY_SUBJECTS,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: options.startTime.toISOString(),
  });
  const out: HistoryEvent[] = [];
  try {
    if ((await consumer.info(true)).num_pending === 0) return out;
    const messages = await consumer.consume({ max_messages: 512 });
    try {
      for await (const m of messages) {
        if (options.untilMs !== undefined && m.info.timestampNanos / 1e6 > options.untilMs) break;
        try {
          out.push({ subject: m.subject, body: m.json<HistoryEvent["body"]>() });
        } catch {
          // not JSON: not an event of ours
        }
        if (m.info.pending === 0) break;
      }
    } finally {
      messages.stop();
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

/** How far back `ferry report` looks without `--since` or `--file`. @default 1 h */
export const DEFAULT_REPORT_WINDOW_MS = 3_600_000;
/** Slack around a file's first and last event, for clocks of different machines. */
const FILE_MARGIN_MS = 60_000;

/** Where the report reads from: the hub's JetStream and manifest, and how to retry a read (ReliableConnection.run). */
export interface HistorySource {
  hubJs: JetStreamClient;
  kv: ManifestReader;
  run<T>(what: string, op: () => Promise<T>): Promise<T>;
}

/**
 * The report of a deployment: of the last `sinceMs` (default one hour), or of the file `fileId`
 * (from its creation to its completion). Throws InputError when the file is not in the manifest.
 */
export async function collectReport(
  hub: HistorySource,
  options: { sinceMs?: number; fileId?: string },
): Promise<PipelineReport> {
  const { fileId, sinceMs } = options;
  const read = (window: { startTime: Date; untilMs?: number }) =>
    hub.run("reading the event history", () => readHistory(hub.hubJs, window));
  if (fileId === undefined) {
    return analyse(await read({ startTime: new Date(Date.now() - (sinceMs ?? DEFAULT_REPORT_WINDOW_MS)) }));
  }
  const file = await readFileRecord(hub.kv, fileId);
  if (!file) throw new InputError(`no file with id ${fileId}: ./ferry status lists the files`);
  const history = await read({
    startTime: new Date(Date.parse(file.createdAt) - FILE_MARGIN_MS),
    ...(file.completedAt ? { untilMs: Date.parse(file.completedAt) + FILE_MARGIN_MS } : {}),
  });
  return { ...analyse(history.filter((e) => e.body.fileId === fileId)), fileId };
}
