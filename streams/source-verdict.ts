/**
 * The decisions of the source watchdog, apart from the reads and stream updates that carry them out
 * (streams/source-health.ts): what to read about a source, what it is owed from what was read, and
 * how the stream's `sources` change. Nothing here does I/O or reads the clock, so every case can be
 * tested on plain values.
 */
import type { StreamSource } from "@nats-io/jetstream";
import { normalizeSource, sourceIdent, sourceKey } from "./source-identity.ts";

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
  | "failed"
  /**
   * Reports heartbeats, yet for `behindMs` has not delivered messages its stream held (nats-server
   * #6206, #8346: a source stopped with a lag of 0): re-established where it left off.
   */
  | "lagging";

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

/** What one check learns about a source that the next one needs. */
export interface SourceRecord {
  /** Last source sequence known to have reached the sourcing stream. Outlives its expiry there. */
  mark?: number;
  /** Last source sequence the sourcing stream held at the last read; absent when it held none. */
  held?: number;
  /** The sourcing stream's last sequence at that read: unchanged means nothing new to read. */
  heldReadAt?: number;
  /** Subjects of the source's stream, to find its messages in the sourcing stream. */
  subjects?: string[];
  /** When the source's own stream was last read. */
  remoteReadAt?: number;
  /** When the source was first seen reporting no activity at all (`active` -1). */
  silentSince?: number;
  /** The `opt_start_seq` this code put into the config, and the declared one it replaced; undone once active again. */
  injected?: { seq: number; declared: number | undefined };
  /** Last time the source was (re-)added. */
  nudgedAt?: number;
  /** Set while a nudge has removed the source and its re-add is unconfirmed: added back on the next call. */
  removed?: StreamSource;
  /** Since when the source's stream has held messages past the mark, and its last sequence then. */
  behind?: Behind;
}

export interface Behind {
  since: number;
  remoteLastSeq: number;
}

/** How long a source that claims activity may leave messages of its stream undelivered. */
export const BEHIND_MS = 60_000;

/** How often the own stream of a source we hold nothing from is read while the source is healthy. */
export const REMOTE_REFRESH_MS = 10_000;

/**
 * Milliseconds since the source's last message or heartbeat (`active` is in nanoseconds), and when it
 * was first seen silent: for a source that reports "never" (-1), idle counts from that moment.
 */
export function idleness(
  live: { active: number } | undefined,
  silentSince: number | undefined,
  now: number,
): { idleMs: number; silentSince: number | undefined } {
  if (live && live.active >= 0) return { idleMs: Math.round(live.active / 1e6), silentSince: undefined };
  const since = silentSince ?? now;
  return { idleMs: now - since, silentSince: since };
}

/** Heartbeats come every second: a source quiet for `minIdleMs` is silent. */
export function isSilent(idleMs: number, minIdleMs: number): boolean {
  return !(idleMs >= 0 && idleMs < minIdleMs);
}

/** Whether to read again what the sourcing stream holds from the source: it changed, or the source is silent. */
export function needsHeldRead(record: SourceRecord, silent: boolean, streamLastSeq: number): boolean {
  return silent || record.heldReadAt !== streamLastSeq;
}

/**
 * Whether to read the source's own stream: when silent, and every REMOTE_REFRESH_MS otherwise: to
 * learn that an empty stream is empty (a mark too), and to see that a source claiming activity
 * delivers what its stream holds (the end-to-end check).
 */
export function needsRemoteRead(record: SourceRecord, silent: boolean, now: number): boolean {
  return silent || now - (record.remoteReadAt ?? 0) >= REMOTE_REFRESH_MS;
}

/**
 * Whether messages of the source's stream are missing from the sourcing stream, and since when:
 * cleared once the mark reaches what the stream held when the gap was first seen.
 */
export function trackBehind(
  prev: Behind | undefined,
  mark: number | undefined,
  remote: RemoteStream | undefined,
  now: number,
): Behind | undefined {
  if (!remote || "error" in remote) return prev;
  if (mark === undefined || remote.lastSeq <= mark) return undefined;
  if (prev && mark < prev.remoteLastSeq) return prev;
  return { since: now, remoteLastSeq: remote.lastSeq };
}

/** The source's own stream as one check read it, or why it could not be read. */
export type RemoteStream = { lastSeq: number; messages: number } | { error: string };

/** What one check saw of a configured source. */
export interface SourceObservation {
  source: StreamSource;
  /** From `idleness`. */
  idleMs: number;
  /** Last source sequence the sourcing stream holds (the record's, after this check's read). */
  held: number | undefined;
  /** Its own stream, when this check read it. */
  remote: RemoteStream | undefined;
  /**
   * It takes only some subjects of its stream (a filter or subject transforms): its stream's last
   * sequence may be past the mark for good, so that is no sign of messages left undelivered.
   */
  filtered?: boolean;
}

export interface JudgeOptions {
  now: number;
  minIdleMs: number;
  /** @default BEHIND_MS */
  behindMs?: number;
  /** Report a stalled source as `stalled` instead of planning its nudge. */
  dryRun: boolean;
}

/**
 * The resume point: what the sourcing stream holds from the source, else what it was remembered to
 * have got. An empty source stream has nothing left to send, so the next message it gets is the one
 * to start at: its last sequence is a mark too.
 */
export function learnMark(
  held: number | undefined,
  remembered: number | undefined,
  remote: RemoteStream | undefined,
): number | undefined {
  const mark = held ?? remembered;
  if (remote && !("error" in remote) && remote.messages === 0 && (mark === undefined || mark < remote.lastSeq))
    return remote.lastSeq;
  return mark;
}

/**
 * The verdict on a configured source, and the mark to remember. A silent source is nudged (its
 * report then carries `startSeq`) only when its stream is reachable and holds messages past the mark.
 */
export function judgeSource(
  seen: SourceObservation,
  record: Readonly<SourceRecord>,
  options: JudgeOptions,
): { report: SourceReport; mark: number | undefined; behind?: Behind } {
  const mark = learnMark(seen.held, record.mark, seen.remote);
  const report: SourceReport = { ...sourceIdent(seen.source), verdict: "healthy", idleMs: seen.idleMs };
  if (mark !== undefined) report.mark = mark;
  const judged = (verdict: SourceVerdict, detail?: string) => {
    report.verdict = verdict;
    if (detail) report.detail = detail;
    return { report, mark };
  };
  if (!isSilent(seen.idleMs, options.minIdleMs)) {
    // It says it is active: believe it only as long as what its stream holds keeps arriving.
    const behind = seen.filtered ? undefined : trackBehind(record.behind, mark, seen.remote, options.now);
    if (!behind || mark === undefined || options.now - behind.since < (options.behindMs ?? BEHIND_MS))
      return behind ? { ...judged("healthy"), behind } : judged("healthy");
    report.remoteLastSeq = behind.remoteLastSeq;
    report.startSeq = mark + 1;
    const detail = `active, yet messages up to ${behind.remoteLastSeq} of its stream have not arrived in ${options.now - behind.since} ms`;
    return judged(options.dryRun ? "stalled" : "lagging", detail);
  }
  if (record.nudgedAt !== undefined && options.now - record.nudgedAt < options.minIdleMs) return judged("resuming");
  const remote = seen.remote;
  if (!remote || "error" in remote) return judged("unreachable", remote?.error);
  report.remoteLastSeq = remote.lastSeq;
  if (mark === undefined) {
    return judged(
      "no-mark",
      "the stream holds no message from this source and none was seen before: left to the server's own retry",
    );
  }
  if (remote.lastSeq === mark) return judged("caught-up");
  if (remote.lastSeq < mark) {
    return judged(
      "remote-behind",
      `its last sequence ${remote.lastSeq} is below ${mark}, already got: was the stream recreated?`,
    );
  }
  report.startSeq = mark + 1;
  return judged(options.dryRun ? "stalled" : "nudged");
}

/** Sources the stream should have but its config lacks: declared ones, and ones an earlier nudge removed. */
export function missingSources(
  configured: StreamSource[],
  expected: StreamSource[],
  removed: StreamSource[],
): StreamSource[] {
  const wanted = new Map<string, StreamSource>();
  for (const s of [...expected.map(normalizeSource), ...removed]) wanted.set(sourceKey(s), s);
  for (const c of configured) wanted.delete(sourceKey(c));
  return [...wanted.values()];
}

/** The verdict on a source missing from the config: added back where the record's mark says, if it has one. */
export function judgeMissingSource(
  source: StreamSource,
  record: Readonly<SourceRecord>,
  dryRun: boolean,
): SourceReport {
  const report: SourceReport = {
    ...sourceIdent(source),
    verdict: dryRun ? "stalled" : "restored",
    idleMs: -1,
    detail: "missing from the stream config",
  };
  if (record.mark !== undefined) {
    report.mark = record.mark;
    report.startSeq = record.mark + 1;
  }
  return report;
}

/** The report of a source whose re-add failed: it stays as it was and the next call tries again. */
export function updateFailed(report: SourceReport, err: unknown): SourceReport {
  const message = err instanceof Error ? err.message : String(err);
  return { ...report, verdict: "failed", detail: `stream update failed (${message}); retried on the next call` };
}

/** `current` without the sources whose keys are in `keys`. */
export function withoutSources(current: StreamSource[], keys: ReadonlySet<string>): StreamSource[] {
  return current.filter((s) => !keys.has(sourceKey(s)));
}

/**
 * `current` with the `readd` sources put back (with `opt_start_seq` = their `startSeq`, when known),
 * each at its place in `order` (source keys), so a nudge leaves the config as it found it.
 */
export function withReAdded(
  current: StreamSource[],
  readd: Array<{ source: StreamSource; startSeq: number | undefined }>,
  order: string[],
): StreamSource[] {
  const rank = (s: StreamSource): number => {
    const i = order.indexOf(sourceKey(s));
    return i < 0 ? order.length : i;
  };
  const keys = new Set(readd.map((r) => sourceKey(r.source)));
  return [...withoutSources(current, keys), ...readd.map((r) => withStartSeq(r.source, r.startSeq))].sort(
    (a, b) => rank(a) - rank(b),
  );
}

/**
 * `current` with the `opt_start_seq` this code injected taken out of the `settled` sources (back to the
 * declared value, if there was one). A value someone else has changed since is left alone.
 */
export function withoutInjected(
  current: StreamSource[],
  settled: ReadonlySet<string>,
  injectedOf: (source: StreamSource) => SourceRecord["injected"],
): StreamSource[] {
  return current.map((s) => {
    const put = injectedOf(s);
    if (!settled.has(sourceKey(s)) || !put || s.opt_start_seq !== put.seq) return s;
    const { opt_start_seq: _drop, ...rest } = s;
    return put.declared === undefined ? rest : { ...rest, opt_start_seq: put.declared };
  });
}

function withStartSeq(s: StreamSource, startSeq: number | undefined): StreamSource {
  const n = normalizeSource(s);
  return startSeq === undefined ? n : { ...n, opt_start_seq: startSeq };
}
