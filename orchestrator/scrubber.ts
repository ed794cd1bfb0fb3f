/**
 * The orchestrator's scrubbing: a background pass every `scrubEvery` (the next one's time is kept
 * in the manifest under `scrub-next`, so a restart does not put it off), and a pass for each request
 * on `ferry.scrub.requests` (`ferry scrub`, or `get` after it met a bad replica). Only the active
 * orchestrator runs either. A pass's tally is kept under `scrub.<pass>` (orchestrator/scrub-tally.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/log.ts";
import { describeError, InputError } from "../shared/errors.ts";
import { isFileId } from "../shared/ids.ts";
import { readJson } from "../shared/manifest.ts";
import { newScrubPass, type ScrubRecord, type ScrubReply, type ScrubRequest, scrubKey } from "../shared/scrub.ts";
import { SCRUB_REQUESTS } from "../shared/subjects.ts";
import type { Topology } from "../shared/topology/config.ts";
import { updateJson } from "./kv-update.ts";
import { publishScrub, type ScrubItem, scrubItems } from "./scrub-pass.ts";

export interface ScrubberOptions {
  kv: KV;
  hubJs: JetStreamClient;
  nc: NatsConnection;
  topology: Topology;
  workerId: string;
  log: Logger;
  signal: AbortSignal;
  assertActive: (what: string) => void;
}

const NEXT_KEY = "scrub-next";
const NEXT_POLL_MS = 5000;
const MAX_FILE_IDS = 10_000;

export class Scrubber {
  readonly #o: ScrubberOptions;

  constructor(options: ScrubberOptions) {
    this.#o = options;
  }

  /** Answers scrub requests until the signal aborts. */
  serve(): void {
    const sub = this.#o.nc.subscribe(SCRUB_REQUESTS, { callback: (_err, msg) => void this.#answer(msg) });
    this.#o.signal.addEventListener("abort", () => sub.unsubscribe(), { once: true });
  }

  /** Runs the background passes until the signal aborts; never rejects. */
  async run(): Promise<void> {
    const { topology, signal, log } = this.#o;
    if (topology.scrubEveryMs === 0) return;
    while (!signal.aborted) {
      try {
        const due = await this.#nextDue();
        // Looked at again every few seconds: an operator may move `scrub-next` to now.
        if (due > Date.now()) await sleep(Math.min(due - Date.now(), NEXT_POLL_MS), undefined, { signal });
        else await this.#backgroundPass();
      } catch (err) {
        if (!signal.aborted) log.warn({ err: describeError(err) }, "background scrub failed; trying again in a minute");
        await sleep(60_000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #nextDue(): Promise<number> {
    const next = (await readJson<{ at: string }>(this.#o.kv, NEXT_KEY))?.value;
    if (next) return Date.parse(next.at);
    const at = new Date(Date.now() + this.#o.topology.scrubEveryMs).toISOString();
    await updateJson(this.#o.kv, NEXT_KEY, (cur) => cur ?? { at });
    return Date.parse(at);
  }

  async #backgroundPass(): Promise<void> {
    const { kv, topology, log } = this.#o;
    const pass = newScrubPass();
    const startedAt = Date.now();
    await this.#startRecord(pass, "background", null, 0);
    log.info({ pass, rateBytesPerSec: topology.scrubRateBytesPerSec }, "background scrub started");
    const done = await this.#publish(pass, scrubItems(kv, {}), topology.scrubRateBytesPerSec);
    await updateJson<ScrubRecord>(kv, scrubKey(pass), (cur) =>
      cur
        ? {
            ...cur,
            asked: done.replicas,
            bytes: done.bytes,
            ...(cur.checked >= done.replicas ? { finishedAt: new Date().toISOString() } : {}),
          }
        : undefined,
    );
    await kv.put(NEXT_KEY, JSON.stringify({ at: new Date(startedAt + topology.scrubEveryMs).toISOString() }));
    log.info(
      { pass, replicas: done.replicas, bytes: done.bytes },
      "background scrub asked every cloud to check its replicas",
    );
  }

  async #answer(msg: Msg): Promise<void> {
    let answered = false;
    try {
      const req = parseScrubRequest(msg.data, this.#o.topology);
      const items: ScrubItem[] = [];
      for await (const item of scrubItems(this.#o.kv, req)) items.push(item);
      const pass = newScrubPass();
      const bytes = items.reduce((n, i) => n + i.chunk.size, 0);
      await this.#startRecord(pass, "request", items.length, bytes);
      msg.respond(JSON.stringify({ pass, replicas: items.length, bytes } satisfies ScrubReply));
      answered = true;
      this.#o.log.info({ pass, replicas: items.length, bytes }, "scrub requested");
      await this.#publish(pass, items, req.rateBytesPerSec ?? this.#o.topology.scrubRateBytesPerSec);
    } catch (err) {
      this.#o.log.warn({ err: describeError(err) }, "scrub request failed");
      if (!answered) msg.respond(JSON.stringify({ error: describeError(err) } satisfies ScrubReply));
    }
  }

  #publish(pass: string, items: AsyncIterable<ScrubItem> | ScrubItem[], rateBytesPerSec: number) {
    const { hubJs, workerId, signal, assertActive } = this.#o;
    return publishScrub({ hubJs, workerId, pass, rateBytesPerSec, signal, assertActive }, items);
  }

  async #startRecord(pass: string, by: ScrubRecord["by"], asked: number | null, bytes: number): Promise<void> {
    this.#o.assertActive(`starting scrub pass ${pass}`);
    const at = new Date().toISOString();
    const record: ScrubRecord = { pass, by, startedAt: at, asked, bytes, checked: 0, repairedCount: 0, repaired: [] };
    if (asked === 0) record.finishedAt = at;
    await this.#o.kv.create(scrubKey(pass), JSON.stringify(record));
  }
}

/** A scrub request's body, checked: file ids, one replica, a rate. InputError names what is wrong. */
export function parseScrubRequest(data: Uint8Array, topology: Topology): ScrubRequest {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new InputError("a scrub request must be a JSON object");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new InputError("a scrub request must be a JSON object");
  const req: ScrubRequest = {};
  const { fileIds, replica, rateBytesPerSec } = raw;
  if (fileIds !== undefined) {
    if (!Array.isArray(fileIds) || fileIds.length > MAX_FILE_IDS || !fileIds.every(isFileId))
      throw new InputError(`fileIds: expected a list of at most ${MAX_FILE_IDS} file ids`);
    req.fileIds = fileIds as string[];
  }
  if (replica !== undefined) {
    const r = replica as Record<string, unknown>;
    const clouds = topology.clouds.map((c) => c.name);
    if (
      !isFileId(r?.fileId) ||
      !Number.isInteger(r.index) ||
      (r.index as number) < 0 ||
      !clouds.includes(r.cloud as string)
    )
      throw new InputError(
        `replica: expected {fileId, index, cloud} with a cloud of the topology (${clouds.join(", ")})`,
      );
    req.replica = { fileId: r.fileId as string, index: r.index as number, cloud: r.cloud as string };
  }
  if (rateBytesPerSec !== undefined) {
    if (typeof rateBytesPerSec !== "number" || !(rateBytesPerSec >= 1) || rateBytesPerSec > 1e12)
      throw new InputError("rateBytesPerSec: expected a number of bytes per second, at least 1");
    req.rateBytesPerSec = rateBytesPerSec;
  }
  return req;
}
