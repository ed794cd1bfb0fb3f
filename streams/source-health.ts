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
 */
import { createHash } from "node:crypto";
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

/** What `nudgeStalledSources` found about one source, and what it did. */
export type SourceVerdict =
  /** Had a message or heartbeat within `minIdleMs`. */
  | "healthy"
  /** Nudged moments ago (less than `minIdleMs`): given time to resume. */
  | "resuming"
  /** Silent, but its stream has nothing the sourcing stream has not got. */
  | "caught-up"
  /** Silent, and its stream cannot be reached (link or remote server down): nothing to do until it returns. */
  | "unreachable"
  /** Silent with messages to fetch, but the resume point is unknown: left to the server's own retry. */
  | "no-mark"
  /** Its stream's last sequence is below what we already got: the remote stream was recreated. Left alone. */
  | "remote-behind"
  /** Stalled; `dryRun` kept it from being nudged. */
  | "stalled"
  /** Stalled; removed and added back. */
  | "nudged"
  /** Missing from the stream config (a nudge cut short between its two updates): added back. */
  | "restored"
  /** Stalled or missing, but re-establishing it failed; `detail` says why. */
  | "failed";

export interface SourceReport {
  /** The source stream's name. */
  source: string;
  /** External API prefix of the source, e.g. `$JS.aws.API`; absent for a source in the same domain. */
  api?: string;
  verdict: SourceVerdict;
  /** Time since the last message or heartbeat from the source; for one never heard from, since we first saw it so. */
  idleMs: number;
  /** Last sequence of the source stream that the sourcing stream holds, or is remembered to have got. */
  mark?: number;
  /** Last sequence of the source stream itself (read only when needed). */
  remoteLastSeq?: number;
  /** `opt_start_seq` given to a re-added source. */
  startSeq?: number;
  detail?: string;
}

/** What one call learns that the next one needs. Keep one per sourcing stream (the watchdog does). */
export class SourceMemory {
  /** Last source sequence known to have reached the sourcing stream, per source key. Outlives expiry there. */
  readonly marks = new Map<string, number>();
  /** Last source sequence the sourcing stream held at the last read; absent when it held none. */
  readonly inStream = new Map<string, number>();
  /** The sourcing stream's last sequence at that read: unchanged means nothing new to read. */
  readonly readAt = new Map<string, number>();
  /** Subjects of each source's stream, to find its messages in the sourcing stream. */
  readonly subjects = new Map<string, string[]>();
  /** When each source's own stream was last read. */
  readonly remoteAt = new Map<string, number>();
  /** When a source reporting no activity at all (`active` -1) was first seen so. */
  readonly silentSince = new Map<string, number>();
  /** `opt_start_seq` values this code put into the config (and the declared one they replaced), undone once the source is active again. */
  readonly injected = new Map<string, { seq: number; declared: number | undefined }>();
  /** Last time a source was (re-)added. */
  readonly nudgedAt = new Map<string, number>();
  /** Sources removed by a nudge whose re-add has not been confirmed: added back on the next call. */
  readonly removed = new Map<string, StreamSource>();
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
const UPDATE_ATTEMPTS = 3;
/** How often the own stream of a source we hold nothing from is read while the source is healthy. */
const REMOTE_REFRESH_MS = 10_000;

interface Checked {
  source: StreamSource;
  report: SourceReport;
  healthy: boolean;
}

/**
 * Checks every source of `stream` and re-establishes the stalled ones: silent for more than
 * `minIdleMs`, their stream reachable over the link and holding messages past what `stream` has got.
 * Returns one report per source. Never copies a message twice or skips one: see the file header.
 */
export async function nudgeStalledSources(
  nc: NatsConnection,
  stream: string,
  opts: NudgeOptions = {},
): Promise<SourceReport[]> {
  const minIdleMs = opts.minIdleMs ?? 3000;
  const timeout = opts.timeoutMs ?? 2000;
  const memory = opts.memory ?? new SourceMemory();
  const jsm = await jetstreamManager(nc, { ...(opts.domain ? { domain: opts.domain } : {}), timeout, checkAPI: false });
  const info = await jsm.streams.info(stream);
  const configured = info.config.sources ?? [];
  const now = Date.now();

  // Sources that should be there but are not: declared ones, and ones an earlier nudge removed.
  const wanted = new Map<string, StreamSource>();
  for (const s of [...(opts.expected ?? []).map(normalizeSource), ...memory.removed.values()])
    wanted.set(sourceKey(s), s);
  for (const c of configured) wanted.delete(sourceKey(c));
  const missing: Checked[] = [...wanted.values()].map((source) => {
    const mark = memory.marks.get(sourceKey(source));
    const report: SourceReport = {
      ...ident(source),
      verdict: opts.dryRun ? "stalled" : "restored",
      idleMs: -1,
      detail: "missing from the stream config",
    };
    if (mark !== undefined) {
      report.mark = mark;
      report.startSeq = mark + 1;
    }
    return { source, report, healthy: false };
  });

  const checked = await Promise.all(
    configured.map((source) =>
      checkSource(nc, jsm, stream, source, findLive(info, source), configured, memory, {
        now,
        minIdleMs,
        timeout,
        streamLastSeq: info.state.last_seq,
        dryRun: opts.dryRun === true,
      }),
    ),
  );
  const reports = [...missing.map((m) => m.report), ...checked.map((c) => c.report)];
  if (opts.dryRun) return reports;

  // Remove every stalled source in one update, then add them back (with the missing ones) in a second.
  const stalled = checked.filter((c) => c.report.verdict === "nudged");
  const readd = [...stalled, ...missing];
  if (readd.length > 0) {
    const readdKeys = new Set(readd.map((r) => sourceKey(r.source)));
    const order = [...configured, ...missing.map((m) => m.source)].map(sourceKey);
    try {
      if (stalled.length > 0) {
        for (const c of stalled) memory.removed.set(sourceKey(c.source), normalizeSource(c.source));
        await updateSources(jsm, stream, (current) => current.filter((s) => !readdKeys.has(sourceKey(s))));
      }
      await updateSources(jsm, stream, (current) =>
        [
          ...current.filter((s) => !readdKeys.has(sourceKey(s))),
          ...readd.map((r) => withStart(r.source, r.report.startSeq)),
        ].sort((a, b) => rank(order, a) - rank(order, b)),
      );
      const at = Date.now();
      for (const r of readd) {
        const key = sourceKey(r.source);
        memory.removed.delete(key);
        memory.nudgedAt.set(key, at);
        memory.silentSince.set(key, at);
        if (r.report.startSeq !== undefined) {
          // A source nudged again still carries our earlier value: keep the declared one from the first time.
          const declared = memory.injected.has(key) ? memory.injected.get(key)?.declared : r.source.opt_start_seq;
          memory.injected.set(key, { seq: r.report.startSeq, declared });
        }
      }
    } catch (err) {
      for (const r of readd) {
        r.report.verdict = "failed";
        r.report.detail = `stream update failed (${(err as Error).message}); retried on the next call`;
      }
    }
  }

  // A re-added source that is active again no longer needs the opt_start_seq put there.
  const settled = new Set(
    checked.filter((c) => c.healthy && memory.injected.has(sourceKey(c.source))).map((c) => sourceKey(c.source)),
  );
  if (settled.size > 0) {
    try {
      await updateSources(jsm, stream, (current) =>
        current.map((s) => {
          const put = memory.injected.get(sourceKey(s));
          if (!settled.has(sourceKey(s)) || !put || s.opt_start_seq !== put.seq) return s;
          const { opt_start_seq: _drop, ...rest } = s;
          return put.declared === undefined ? rest : { ...rest, opt_start_seq: put.declared };
        }),
      );
      for (const key of settled) memory.injected.delete(key);
    } catch {
      // Harmless meanwhile: opt_start_seq is only read when the stream holds nothing from the source.
    }
  }
  return reports;
}

async function checkSource(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  source: StreamSource,
  live: StreamSourceInfo | undefined,
  configured: StreamSource[],
  memory: SourceMemory,
  o: { now: number; minIdleMs: number; timeout: number; streamLastSeq: number; dryRun: boolean },
): Promise<Checked> {
  const key = sourceKey(source);
  const idleMs = idleTime(live, key, memory, o.now);
  const report: SourceReport = { ...ident(source), verdict: "healthy", idleMs };
  const done = (verdict: SourceVerdict, detail?: string): Checked => {
    report.verdict = verdict;
    if (detail) report.detail = detail;
    return { source, report, healthy: verdict === "healthy" };
  };
  const silent = !(idleMs >= 0 && idleMs < o.minIdleMs);
  const ownSubjects = !source.filter_subject && !source.subject_transforms?.length;

  let remote: StreamInfo | undefined;
  let remoteError = "";
  const fetchRemote = async (): Promise<void> => {
    try {
      remote = await (await remoteManager(nc, jsm, source, o.timeout)).streams.info(source.name);
      memory.remoteAt.set(key, Date.now());
      if (ownSubjects) memory.subjects.set(key, remote.config.subjects ?? []);
    } catch (err) {
      remote = undefined;
      remoteError = (err as Error).message;
    }
  };
  // Its subjects first: they are how its messages are found in the sourcing stream.
  if (ownSubjects && !memory.subjects.has(key)) await fetchRemote();

  // What the sourcing stream holds from it: read again only when that stream has changed. Read before
  // the source's own state, so that a message arriving in between cannot put our mark past its end.
  if (silent || memory.readAt.get(key) !== o.streamLastSeq) {
    try {
      const found = await markInStream(jsm, stream, source, configured, memory);
      if (found === undefined) memory.inStream.delete(key);
      else memory.inStream.set(key, found);
      // Without its subjects the read was a guess (the stream's last message): not one to rely on.
      if (!ownSubjects || memory.subjects.has(key)) memory.readAt.set(key, o.streamLastSeq);
    } catch {
      // Read again next time.
    }
  }

  // The source's own stream: when silent, and now and then while we hold nothing from it (to learn
  // that it is empty, which is a mark too).
  const lastRemote = memory.remoteAt.get(key) ?? 0;
  if (silent || (!memory.inStream.has(key) && o.now - lastRemote >= REMOTE_REFRESH_MS)) await fetchRemote();

  let mark = memory.inStream.get(key);
  if (mark !== undefined) memory.marks.set(key, mark);
  else mark = memory.marks.get(key);
  // An empty source stream has nothing left to send: the next message it gets is the one to start at.
  if (remote && remote.state.messages === 0 && (mark === undefined || mark < remote.state.last_seq)) {
    mark = remote.state.last_seq;
    memory.marks.set(key, mark);
  }
  if (mark !== undefined) report.mark = mark;

  if (!silent) return done("healthy");
  const nudged = memory.nudgedAt.get(key);
  if (nudged !== undefined && o.now - nudged < o.minIdleMs) return done("resuming");
  if (!remote) return done("unreachable", remoteError);
  report.remoteLastSeq = remote.state.last_seq;
  if (mark === undefined) {
    return done(
      "no-mark",
      "the stream holds no message from this source and none was seen before: left to the server's own retry",
    );
  }
  if (remote.state.last_seq === mark) return done("caught-up");
  if (remote.state.last_seq < mark) {
    return done(
      "remote-behind",
      `its last sequence ${remote.state.last_seq} is below ${mark}, already got: was the stream recreated?`,
    );
  }
  report.startSeq = mark + 1;
  return done(o.dryRun ? "stalled" : "nudged");
}

/** Identity of a source as the server sees it: its name and, for another domain or account, its API prefix. */
export function sourceKey(s: { name: string; external?: ExternalStream; domain?: string }): string {
  const api = s.external?.api ?? (s.domain ? `$JS.${s.domain}.API` : "");
  return `${s.name}@${api}`;
}

/**
 * The first field of the `Nats-Stream-Source` header for this source: its name, plus `:<hash of the API
 * prefix>` for an external source (nats-server's `getHash`: 8 base-62 digits of its SHA-256).
 */
export function sourceHeaderId(s: { name: string; external?: ExternalStream; domain?: string }): string {
  const api = normalizeSource(s as StreamSource).external?.api;
  return api ? `${s.name}:${serverHash(api)}` : s.name;
}

/** Parses `Nats-Stream-Source` into the source id and the source stream's sequence. */
export function parseSourceHeader(value: string): { id: string; seq: number } | undefined {
  const fields = value.trim().split(" ");
  if (fields.length < 2) return undefined;
  const seq = Number(fields[1]);
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { id: fields[0] as string, seq };
}

function serverHash(s: string): string {
  const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const sum = createHash("sha256").update(s).digest();
  let out = "";
  for (let i = 0; i < 8; i++) out += digits[(sum[i] as number) % 62];
  return out;
}

function normalizeSource(s: StreamSource): StreamSource {
  if (s.domain === undefined) return s;
  const { domain, ...rest } = s;
  return domain === "" ? rest : { ...rest, external: { api: `$JS.${domain}.API` } };
}

function ident(s: StreamSource): { source: string; api?: string } {
  const api = normalizeSource(s).external?.api;
  return api ? { source: s.name, api } : { source: s.name };
}

function withStart(s: StreamSource, startSeq: number | undefined): StreamSource {
  const n = normalizeSource(s);
  return startSeq === undefined ? n : { ...n, opt_start_seq: startSeq };
}

function rank(order: string[], s: StreamSource): number {
  const i = order.indexOf(sourceKey(s));
  return i < 0 ? order.length : i;
}

/** The live state of a configured source (stream info's `sources`, which also carry `external`). */
function findLive(info: StreamInfo, source: StreamSource): StreamSourceInfo | undefined {
  const key = sourceKey(source);
  return (info.sources ?? []).find((l) => sourceKey(l as StreamSourceInfo & { external?: ExternalStream }) === key);
}

/** Milliseconds since the source's last message or heartbeat; for "never" (-1) the time we have seen it so. */
function idleTime(live: StreamSourceInfo | undefined, key: string, memory: SourceMemory, now: number): number {
  if (live && live.active >= 0) {
    memory.silentSince.delete(key);
    return Math.round(live.active / 1e6);
  }
  const since = memory.silentSince.get(key) ?? now;
  memory.silentSince.set(key, since);
  return now - since;
}

/**
 * The last sequence of `source`'s stream found in `stream`: the newest message under the source's
 * subjects whose `Nats-Stream-Source` header names this source. Undefined when there is none.
 */
async function markInStream(
  jsm: JetStreamManager,
  stream: string,
  source: StreamSource,
  all: StreamSource[],
  memory: SourceMemory,
): Promise<number | undefined> {
  const filters = source.subject_transforms?.length
    ? source.subject_transforms.map((t) => t.dest || ">")
    : source.filter_subject
      ? [source.filter_subject]
      : (memory.subjects.get(sourceKey(source)) ?? []);
  const candidates = filters.length > 0 ? filters : [">"];
  const id = sourceHeaderId(source);
  const sameName = all.filter((s) => s.name === source.name).length > 1;
  let best: number | undefined;
  for (const filter of candidates) {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: filter });
    const parsed = m ? parseSourceHeader(m.header?.get(SOURCE_HEADER) ?? "") : undefined;
    if (!parsed) continue;
    // The id may carry more (`:C=<consumer hash>` for durable sourcing): match on its start.
    const mine =
      parsed.id === id || parsed.id.startsWith(`${id}:`) || (!sameName && parsed.id.split(":")[0] === source.name);
    if (mine && (best === undefined || parsed.seq > best)) best = parsed.seq;
  }
  return best;
}

async function remoteManager(
  nc: NatsConnection,
  local: JetStreamManager,
  source: StreamSource,
  timeout: number,
): Promise<JetStreamManager> {
  const api = normalizeSource(source).external?.api;
  if (!api) return local;
  return jetstreamManager(nc, { apiPrefix: api, timeout, checkAPI: false });
}

/** Rewrites the stream's `sources` from a fresh read of its config; retried because a reconnect can drop a request. */
async function updateSources(
  jsm: JetStreamManager,
  stream: string,
  change: (current: StreamSource[]) => StreamSource[],
): Promise<void> {
  let last: unknown;
  for (let attempt = 1; attempt <= UPDATE_ATTEMPTS; attempt++) {
    try {
      const current = (await jsm.streams.info(stream)).config.sources ?? [];
      const sources = change(current);
      await jsm.streams.update(stream, { sources } as Partial<StreamConfig>);
      return;
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
