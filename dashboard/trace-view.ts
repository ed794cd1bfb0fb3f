/**
 * One trace as the dashboard's waterfall draws it, read from Jaeger's query API
 * (`GET <query url>/api/traces/<traceId>`): the Jaeger v2 that `go install` builds serves that API
 * but no UI, so the dashboard draws the trace itself.
 */
import {
  ATTR_CHUNK_INDEX,
  ATTR_CLOUD_PROVIDER,
  ATTR_FILE_ID,
  ATTR_NATS_DELIVERY_COUNT,
  ATTR_STORE_BUCKET,
  ATTR_STORE_KEY,
  ATTR_STORE_KIND,
} from "../observability/semconv.ts";

/** A W3C trace id: 32 lowercase hex digits. */
export const TRACE_ID = /^[0-9a-f]{32}$/;

/** The attributes a row shows on expand, in this order; a span's own value wins over its process's. */
const KEY_ATTRIBUTES = [
  ATTR_CLOUD_PROVIDER,
  ATTR_STORE_KIND,
  ATTR_STORE_BUCKET,
  ATTR_STORE_KEY,
  ATTR_FILE_ID,
  ATTR_CHUNK_INDEX,
  ATTR_NATS_DELIVERY_COUNT,
];

export interface SpanRow {
  spanId: string;
  /** Undefined for a root, or when the parent is not (yet) in Jaeger. */
  parentId?: string;
  /** Nesting level under the root, 0 for a root. */
  depth: number;
  service: string;
  operation: string;
  /** From the trace's first span start, in milliseconds. */
  startMs: number;
  durationMs: number;
  error: boolean;
  /** The exception recorded on the span, else its status description. */
  errorMessage?: string;
  /** The key attributes the span (or its process) carries, as text. */
  attributes: Array<{ key: string; value: string }>;
}

export interface TraceView {
  traceId: string;
  /** Wall-clock start of the first span, ISO 8601. */
  startedAt: string;
  /** From the first span's start to the last span's end, in milliseconds. */
  durationMs: number;
  /** Depth-first, children in start order: the order of the waterfall's rows. */
  spans: SpanRow[];
}

/** What the dashboard could not answer, with the HTTP status it answers with. */
export class TraceLookupError extends Error {
  override name = "TraceLookupError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

interface JaegerKV {
  key: string;
  value: unknown;
}
interface JaegerSpan {
  spanID: string;
  operationName: string;
  processID: string;
  startTime: number;
  duration: number;
  references?: Array<{ refType: string; traceID: string; spanID: string }>;
  tags?: JaegerKV[];
  logs?: Array<{ fields?: JaegerKV[] }>;
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags?: JaegerKV[] }>;
}

/** How long Jaeger may take to answer before the dashboard gives up on it. */
const QUERY_TIMEOUT_MS = 10_000;

/** Reads a trace from Jaeger; throws a TraceLookupError (400, 404 or 502) that says what went wrong. */
export async function readTrace(queryUrl: string | undefined, traceId: string): Promise<TraceView> {
  if (!TRACE_ID.test(traceId))
    throw new TraceLookupError(
      400,
      `"${traceId.slice(0, 64)}" is not a trace id: a trace id is 32 lowercase hex digits`,
    );
  if (!queryUrl)
    throw new TraceLookupError(
      404,
      "this deployment has no Jaeger: ferry up starts one when the jaeger binary is installed, or set FERRY_JAEGER_URL to yours",
    );
  const url = `${queryUrl.replace(/\/+$/, "")}/api/traces/${traceId}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
  } catch (err) {
    throw new TraceLookupError(502, `Jaeger at ${queryUrl} did not answer (${(err as Error).message}): is it running?`);
  }
  if (res.status === 404) throw notYet(traceId);
  if (!res.ok) throw new TraceLookupError(502, `Jaeger at ${queryUrl} answered ${res.status} for trace ${traceId}`);
  const trace = ((await res.json()) as { data?: JaegerTrace[] }).data?.[0];
  if (!trace || trace.spans.length === 0) throw notYet(traceId);
  return toView(trace, traceId);
}

const notYet = (traceId: string) =>
  new TraceLookupError(404, `Jaeger has not received trace ${traceId} yet; spans arrive within a few seconds`);

function toView(trace: JaegerTrace, traceId: string): TraceView {
  const t0 = Math.min(...trace.spans.map((s) => s.startTime));
  const t1 = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const ids = new Set(trace.spans.map((s) => s.spanID));
  const children = new Map<string | undefined, JaegerSpan[]>();
  const parentOf = (s: JaegerSpan) => {
    const p = s.references?.find((r) => r.refType === "CHILD_OF" && r.traceID === traceId)?.spanID;
    return p !== undefined && ids.has(p) ? p : undefined;
  };
  for (const s of trace.spans) {
    const p = parentOf(s);
    children.set(p, [...(children.get(p) ?? []), s]);
  }
  const rows: SpanRow[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => a.startTime - b.startTime)) {
      rows.push(toRow(s, trace, t0, depth, parent));
      walk(s.spanID, depth + 1);
    }
  };
  walk(undefined, 0);
  return { traceId, startedAt: new Date(t0 / 1000).toISOString(), durationMs: (t1 - t0) / 1000, spans: rows };
}

function toRow(s: JaegerSpan, trace: JaegerTrace, t0: number, depth: number, parentId: string | undefined): SpanRow {
  const proc = trace.processes[s.processID];
  const tags = new Map((s.tags ?? []).map((x) => [x.key, x.value]));
  const resource = new Map((proc?.tags ?? []).map((x) => [x.key, x.value]));
  const error = tags.get("otel.status_code") === "ERROR" || tags.get("error") === true;
  const exception = (s.logs ?? [])
    .map((l) => new Map((l.fields ?? []).map((f) => [f.key, f.value])))
    .find((f) => f.get("event") === "exception");
  const message = exception?.get("exception.message") ?? tags.get("otel.status_description");
  const attributes = KEY_ATTRIBUTES.flatMap((key) => {
    const v = tags.get(key) ?? resource.get(key);
    return v === undefined ? [] : [{ key, value: String(v) }];
  });
  return {
    spanId: s.spanID,
    ...(parentId ? { parentId } : {}),
    depth,
    service: proc?.serviceName ?? "unknown",
    operation: s.operationName,
    startMs: (s.startTime - t0) / 1000,
    durationMs: s.duration / 1000,
    error,
    ...(error && message !== undefined ? { errorMessage: String(message) } : {}),
    attributes,
  };
}
