/**
 * Finds sources of a sourcing stream that the server has stopped pulling from although their stream
 * is reachable and holds messages we have not got, and re-establishes only those, without copying
 * a message twice or skipping one.
 *
 * Why (nats-server 2.14.9 and 2.15.2): a source asks the remote domain for a consumer and waits 30 s
 * for the answer (`srcConsumerWaitTime`, not configurable: nats-io/nats-server#6454), then backs off
 * 10 s. The retry the server runs when a leaf connects skips sources whose request is still in flight.
 * So when the hub (re)starts before the leaves have linked, every source resumes ~40 s later; after a
 * leaf restart ~10-20 s. The only client-side lever that cuts that wait is removing the source from
 * the stream config and adding it back.
 *
 * How it stays exact: on re-add the server looks for the last message it holds from that source (its
 * `Nats-Stream-Source` header) and resumes right after it. When the stream holds none (all expired
 * or purged), the server would guess from time (`opt_start_time` = the stream's last message time),
 * which can skip or re-copy messages, so the re-added source carries `opt_start_seq` = the last
 * sequence we know the stream got from it + 1 (the server uses `opt_start_seq` only in that case).
 * That mark is read from the stream itself and remembered across calls in a `SourceMemory`; with no
 * mark at all the source is left to the server's own retry. Once the source is active again, the
 * `opt_start_seq` put there is removed, so the stream's config is the declared one again.
 *
 * This file reads and updates; what to read, each source's verdict and the new `sources` are decided
 * in source-verdict.ts, on plain values.
 */
import {
  type ExternalStream,
  type JetStreamManager,
  jetstreamManager,
  type StreamConfig,
  type StreamInfo,
  type StreamSource,
  type StreamSourceInfo,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { retry } from "../shared/retry.ts";
import { normalizeSource, parseSourceHeader, type SourceName, sourceHeaderId, sourceKey } from "./source-identity.ts";
import {
  idleness,
  isSilent,
  judgeMissingSource,
  judgeSource,
  missingSources,
  needsHeldRead,
  needsRemoteRead,
  type RemoteStream,
  type SourceRecord,
  type SourceReport,
  updateFailed,
  withoutInjected,
  withoutSources,
  withReAdded,
} from "./source-verdict.ts";

/** What one call learns that the next one needs, one record per source. Keep one per sourcing stream (the watchdog does). */
export class SourceMemory {
  readonly #records = new Map<string, SourceRecord>();

  /** The record of `source`, empty until a check fills it in. */
  of(source: SourceName): SourceRecord {
    const key = sourceKey(source);
    let record = this.#records.get(key);
    if (!record) {
      record = {};
      this.#records.set(key, record);
    }
    return record;
  }

  /** Sources a nudge removed whose re-add has not been confirmed. */
  removed(): StreamSource[] {
    return [...this.#records.values()].flatMap((r) => (r.removed ? [r.removed] : []));
  }
}

export interface NudgeOptions {
  /** JetStream domain of the sourcing stream (the hub's). */
  domain?: string;
  /** A source counts as stalled only after this long without a message or heartbeat (they come every 1 s). @default 3000 */
  minIdleMs?: number;
  /** Timeout of each JetStream API request. @default 2000 */
  timeoutMs?: number;
  /** Sources the stream must have (`domain` may stand for `external`); one missing from its config is added back. */
  expected?: StreamSource[];
  /** State carried between calls (marks, silence clocks). Without it every call starts blind. */
  memory?: SourceMemory;
  /** Report only; change nothing. */
  dryRun?: boolean;
}

/** Header the server puts on every sourced message: `<index name> <source seq> <filter> <dest> ...`. */
const SOURCE_HEADER = "Nats-Stream-Source";
/** A stream update is tried this often: a reconnect can drop a request. */
const UPDATE_ATTEMPTS = 3;
/** Delay before the second try of a stream update, doubling after. */
const UPDATE_RETRY_MS = 100;

/** What the checks of one call share. */
interface CheckContext {
  nc: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
  /** The stream's `sources` as this call found them. */
  configured: StreamSource[];
  memory: SourceMemory;
  now: number;
  minIdleMs: number;
  timeout: number;
  /** The stream's last sequence as this call found it. */
  streamLastSeq: number;
  dryRun: boolean;
}

interface Judged {
  source: StreamSource;
  report: SourceReport;
}

/**
 * Checks every source of `stream` and re-establishes the stalled ones: silent for more than
 * `minIdleMs`, their stream reachable over the link and holding messages past what `stream` has got.
 * Returns one report per source. Never copies a message twice or skips one: see the file header.
 */
export async function nudgeStalledSources(
  nc: NatsConnection,
  stream: string,
  options: NudgeOptions = {},
): Promise<SourceReport[]> {
  const timeout = options.timeoutMs ?? 2000;
  const memory = options.memory ?? new SourceMemory();
  const dryRun = options.dryRun === true;
  const domain = options.domain ? { domain: options.domain } : {};
  const jsm = await jetstreamManager(nc, { ...domain, timeout, checkAPI: false });
  const info = await jsm.streams.info(stream);
  const configured = info.config.sources ?? [];
  const ctx: CheckContext = {
    nc,
    jsm,
    stream,
    configured,
    memory,
    timeout,
    dryRun,
    now: Date.now(),
    minIdleMs: options.minIdleMs ?? 3000,
    streamLastSeq: info.state.last_seq,
  };
  const missing = missingSources(configured, options.expected ?? [], memory.removed()).map((source) => ({
    source,
    report: judgeMissingSource(source, memory.of(source), dryRun),
  }));
  const checked = await Promise.all(configured.map((source) => observeSource(ctx, source, findLive(info, source))));
  const all = [...missing, ...checked];
  if (dryRun) return all.map((j) => j.report);
  const failure = await reAdd(ctx, checked, missing);
  await settleInjected(ctx, checked);
  return all.map(({ report }) => (failure && isReAdded(report) ? updateFailed(report, failure.error) : report));
}

const isReAdded = (report: SourceReport): boolean =>
  report.verdict === "nudged" || report.verdict === "lagging" || report.verdict === "restored";

/** Reads what judging a configured source needs, keeps it in the source's record, and judges the source. */
async function observeSource(
  ctx: CheckContext,
  source: StreamSource,
  live: StreamSourceInfo | undefined,
): Promise<Judged> {
  const record = ctx.memory.of(source);
  const idle = idleness(live, record.silentSince, ctx.now);
  record.silentSince = idle.silentSince;
  const silent = isSilent(idle.idleMs, ctx.minIdleMs);
  const ownSubjects = !source.filter_subject && !source.subject_transforms?.length;
  let remote: RemoteStream | undefined;
  // Its subjects first: they are how its messages are found in the sourcing stream.
  if (ownSubjects && record.subjects === undefined) remote = await readRemote(ctx, source, record, ownSubjects);
  // What the sourcing stream holds from it is read before the source's own state, so that a message
  // arriving in between cannot put our mark past its end.
  if (needsHeldRead(record, silent, ctx.streamLastSeq)) await readHeld(ctx, source, record, ownSubjects);
  if (needsRemoteRead(record, silent, ctx.now)) remote = await readRemote(ctx, source, record, ownSubjects);
  const seen = { source, idleMs: idle.idleMs, held: record.held, remote, filtered: !ownSubjects };
  const { report, mark, behind } = judgeSource(seen, record, ctx);
  record.mark = mark;
  record.behind = behind;
  return { source, report };
}

/** The source's own stream; its subjects go into the record, for finding its messages. */
async function readRemote(
  ctx: CheckContext,
  source: StreamSource,
  record: SourceRecord,
  ownSubjects: boolean,
): Promise<RemoteStream> {
  try {
    const remote = await (await remoteManager(ctx, source)).streams.info(source.name);
    record.remoteReadAt = Date.now();
    if (ownSubjects) record.subjects = remote.config.subjects ?? [];
    return { lastSeq: remote.state.last_seq, messages: remote.state.messages };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** What the sourcing stream holds from the source, into the record; a failed read is tried again next call. */
async function readHeld(
  ctx: CheckContext,
  source: StreamSource,
  record: SourceRecord,
  ownSubjects: boolean,
): Promise<void> {
  try {
    record.held = await markInStream(ctx, source, record.subjects);
    // Without its subjects the read was a guess (the stream's last message): not one to rely on.
    if (!ownSubjects || record.subjects !== undefined) record.heldReadAt = ctx.streamLastSeq;
  } catch {
    // Read again next time.
  }
}

/**
 * Removes every stalled source in one update, then adds them back, with the missing ones, in a second.
 * Returns what made an update fail; the sources stay as they are then, and the next call tries again.
 */
async function reAdd(ctx: CheckContext, checked: Judged[], missing: Judged[]): Promise<{ error: unknown } | undefined> {
  const stalled = checked.filter((c) => c.report.verdict === "nudged" || c.report.verdict === "lagging");
  const readd = [...stalled, ...missing];
  if (readd.length === 0) return undefined;
  const keys = new Set(readd.map((r) => sourceKey(r.source)));
  const order = [...ctx.configured, ...missing.map((m) => m.source)].map(sourceKey);
  const back = readd.map((r) => ({ source: r.source, startSeq: r.report.startSeq }));
  try {
    if (stalled.length > 0) {
      for (const c of stalled) ctx.memory.of(c.source).removed = normalizeSource(c.source);
      await updateSources(ctx, (current) => withoutSources(current, keys));
    }
    await updateSources(ctx, (current) => withReAdded(current, back, order));
  } catch (error) {
    return { error };
  }
  const at = Date.now();
  for (const { source, startSeq } of back) {
    const record = ctx.memory.of(source);
    record.removed = undefined;
    record.nudgedAt = at;
    record.silentSince = at;
    if (startSeq !== undefined) {
      // A source nudged again still carries our earlier value: keep the declared one from the first time.
      const declared = record.injected ? record.injected.declared : source.opt_start_seq;
      record.injected = { seq: startSeq, declared };
    }
  }
  return undefined;
}

/** A re-added source that is active again no longer needs the opt_start_seq put there. */
async function settleInjected(ctx: CheckContext, checked: Judged[]): Promise<void> {
  const settled = checked.filter((c) => c.report.verdict === "healthy" && ctx.memory.of(c.source).injected);
  if (settled.length === 0) return;
  const keys = new Set(settled.map((c) => sourceKey(c.source)));
  try {
    await updateSources(ctx, (current) => withoutInjected(current, keys, (s) => ctx.memory.of(s).injected));
    for (const c of settled) ctx.memory.of(c.source).injected = undefined;
  } catch {
    // Harmless meanwhile: opt_start_seq is only read when the stream holds nothing from the source.
  }
}

/** The live state of a configured source (stream info's `sources`, which also carry `external`). */
function findLive(info: StreamInfo, source: StreamSource): StreamSourceInfo | undefined {
  const key = sourceKey(source);
  return (info.sources ?? []).find((l) => sourceKey(l as StreamSourceInfo & { external?: ExternalStream }) === key);
}

/**
 * The last sequence of `source`'s stream found in the sourcing stream: the newest message under the
 * source's subjects whose `Nats-Stream-Source` header names this source. Undefined when there is none.
 */
async function markInStream(
  ctx: CheckContext,
  source: StreamSource,
  subjects: string[] | undefined,
): Promise<number | undefined> {
  const filters = source.subject_transforms?.length
    ? source.subject_transforms.map((t) => t.dest || ">")
    : source.filter_subject
      ? [source.filter_subject]
      : (subjects ?? []);
  const candidates = filters.length > 0 ? filters : [">"];
  const id = sourceHeaderId(source);
  const sameName = ctx.configured.filter((s) => s.name === source.name).length > 1;
  let best: number | undefined;
  for (const filter of candidates) {
    const m = await ctx.jsm.streams.getMessage(ctx.stream, { last_by_subj: filter });
    const parsed = m ? parseSourceHeader(m.header?.get(SOURCE_HEADER) ?? "") : undefined;
    if (!parsed) continue;
    // The id may carry more (`:C=<consumer hash>` for durable sourcing): match on its start.
    const mine =
      parsed.id === id || parsed.id.startsWith(`${id}:`) || (!sameName && parsed.id.split(":")[0] === source.name);
    if (mine && (best === undefined || parsed.seq > best)) best = parsed.seq;
  }
  return best;
}

async function remoteManager(ctx: CheckContext, source: StreamSource): Promise<JetStreamManager> {
  const api = normalizeSource(source).external?.api;
  if (!api) return ctx.jsm;
  return jetstreamManager(ctx.nc, { apiPrefix: api, timeout: ctx.timeout, checkAPI: false });
}

/** Rewrites the stream's `sources` from a fresh read of its config, so a retry never works from a stale one. */
async function updateSources(ctx: CheckContext, change: (current: StreamSource[]) => StreamSource[]): Promise<void> {
  await retry(
    async () => {
      const current = (await ctx.jsm.streams.info(ctx.stream)).config.sources ?? [];
      await ctx.jsm.streams.update(ctx.stream, { sources: change(current) } as Partial<StreamConfig>);
    },
    { attempts: UPDATE_ATTEMPTS, baseMs: UPDATE_RETRY_MS },
  );
}
