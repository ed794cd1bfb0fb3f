/**
 * Placement failover, run by the active orchestrator. A chunk's first-choice clouds are asked when
 * it is processed; one that has not verified its replica within the placement deadline (a cloud
 * gone, its store silent, its link cut) is passed over: the chunk is handed to the next cloud that
 * holds no replica of it and answers, as a `chunks.processed` event naming that one target, which
 * its place workers copy from the staging cloud like any other. The choice is in
 * shared/placement.ts; this file reads the manifest, asks which clouds answer, and acts.
 *
 * It watches the files it saw an event of (and, at start, every file not finished yet), and lets go
 * of a file once it is complete or failed. A cloud that returns later finds the chunk's replicas
 * already verified elsewhere and skips it (stages/place/handler.ts). With no cloud left to ask, a
 * file whose chunks are all as replicated as the answering clouds allow is marked durable; the
 * missing clouds' own streams still hold their work, so the file completes when they return.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/log.ts";
import { publishTraced } from "../observability/message-spans.ts";
import { type ChunkProcessed, encodeEvent } from "../shared/events.ts";
import {
  type ChunkRecord,
  chunkKey,
  type FileRecord,
  fileKey,
  listFileRecords,
  readChunkRecords,
  readFileRecord,
} from "../shared/manifest.ts";
import {
  type Assignment,
  chooseTargets,
  failoverTargets,
  isShortOfClouds,
  overdueClouds,
} from "../shared/placement.ts";
import { takesOf } from "../shared/stages.ts";
import { cloudStream } from "../shared/stream-names.ts";
import { chunkSubject, msgId } from "../shared/subjects.ts";
import type { Topology } from "../shared/topology/config.ts";
import type { CloudHealth } from "./cloud-health.ts";
import { updateJson } from "./kv-update.ts";

export interface PlacementWatchOptions {
  kv: KV;
  hubJs: JetStreamClient;
  nc: NatsConnection;
  topology: Topology;
  workerId: string;
  log: Logger;
  signal: AbortSignal;
  /** Throws unless this orchestrator still holds the lease; called before every side effect. */
  assertActive: (what: string) => void;
  /** Time between passes. @default a quarter of the deadline, between 1 and 5 s */
  intervalMs?: number;
  /** Which clouds' stores do well lately: failover prefers them, and learns here of the clouds it passes over. */
  health?: CloudHealth;
}

const UNFINISHED: ReadonlySet<FileRecord["state"]> = new Set(["ingesting", "processing", "durable"]);

/** A chunk's placement: all replicas verified; short of clouds (shared/placement.ts); or neither yet. */
type Standing = "replicated" | "short" | "waiting";

export class PlacementWatch {
  readonly #o: PlacementWatchOptions;
  readonly #files = new Set<string>();

  constructor(options: PlacementWatchOptions) {
    this.#o = options;
  }

  /** Watches `fileId` until it is finished. */
  track(fileId: string): void {
    this.#files.add(fileId);
  }

  /** Runs until the signal aborts; never rejects (a failed pass is logged and tried again). */
  async run(): Promise<void> {
    const { log, signal, topology } = this.#o;
    const intervalMs = this.#o.intervalMs ?? Math.min(5000, Math.max(1000, topology.placementDeadlineMs / 4));
    let seeded = false;
    while (!signal.aborted) {
      try {
        if (!seeded) {
          for (const f of await listFileRecords(this.#o.kv)) if (UNFINISHED.has(f.state)) this.track(f.fileId);
          seeded = true;
        }
        await this.pass();
      } catch (err) {
        if (!signal.aborted) log.warn({ err: (err as Error).message }, "placement check failed; retrying");
      }
      await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /** One look at every watched file: hands each overdue replica to another cloud; marks files durable. */
  async pass(): Promise<void> {
    const reachable = new Reachability(this.#o.nc, this.#o.topology);
    for (const fileId of [...this.#files]) {
      const file = await readFileRecord(this.#o.kv, fileId);
      if (!file || !UNFINISHED.has(file.state)) {
        this.#files.delete(fileId);
        continue;
      }
      // No chunk is processed before its file is accepted: none can be overdue yet, so read none.
      if (Date.now() - Date.parse(file.createdAt) < this.#o.topology.placementDeadlineMs) continue;
      const chunks = await readChunkRecords(this.#o.kv, file);
      const standings: Standing[] = [];
      for (const chunk of chunks) standings.push(await this.#checkChunk(file, chunk, reachable));
      if (file.state === "processing") await this.#markDurable(file, chunks, standings);
    }
  }

  async #checkChunk(file: FileRecord, chunk: ChunkRecord, reachable: Reachability): Promise<Standing> {
    const verified = [...new Set(chunk.replicas.filter((r) => r.verified).map((r) => r.cloud))];
    if (verified.length >= file.replicas) return "replicated";
    const staging = chunk.staging[0];
    if (!chunk.processedAt || !staging) return "waiting";
    const clouds = this.#o.topology.clouds.map((c) => c.name);
    const first = Date.parse(chunk.processedAt);
    const assigned: Assignment[] = [
      ...chooseTargets(clouds, staging.cloud, file.replicas).map((cloud) => ({ cloud, at: first })),
      ...(chunk.failovers ?? []).map((f) => ({ cloud: f.cloud, at: Date.parse(f.at) })),
    ];
    const now = Date.now();
    const view = {
      clouds,
      replicas: file.replicas,
      assigned,
      verified,
      now,
      deadlineMs: this.#o.topology.placementDeadlineMs,
      preference: this.#o.health?.rank(clouds),
    };
    // Asking which clouds answer costs a request each: only for a chunk that is overdue at all.
    const overdue = overdueClouds(view);
    if (overdue.length === 0) return "waiting";
    const answering = { ...view, reachable: await reachable.clouds() };
    const targets = failoverTargets(answering);
    for (const target of targets) await this.#handOver(file, chunk, staging, target, overdue);
    return targets.length === 0 && isShortOfClouds(answering) ? "short" : "waiting";
  }

  /**
   * Marks the file durable when every chunk is replicated or short of clouds and one is short:
   * `ingest --wait` returns, status shows where it is held, and it completes when the clouds return.
   */
  async #markDurable(file: FileRecord, chunks: ChunkRecord[], standings: Standing[]): Promise<void> {
    const { kv, log, assertActive, topology } = this.#o;
    if (file.chunkCount === undefined || chunks.length < file.chunkCount) return;
    if (standings.includes("waiting") || !standings.includes("short")) return;
    const heldBy = topology.clouds
      .map((c) => c.name)
      .filter((cloud) => chunks.every((ch) => ch.replicas.some((r) => r.cloud === cloud && r.verified)));
    assertActive(`marking file ${file.fileId} durable`);
    const at = new Date().toISOString();
    const stored = await updateJson<FileRecord>(kv, fileKey(file.fileId), (cur) => {
      if (cur?.state !== "processing" || cur.chunksComplete >= (cur.chunkCount ?? Infinity)) return undefined;
      return { ...cur, state: "durable", heldBy, updatedAt: at };
    });
    if (stored?.updatedAt !== at) return;
    log.warn(
      { fileId: file.fileId, heldBy, replicas: file.replicas },
      "file durable on fewer clouds than wanted: the others do not answer; it is repaired when they return",
    );
  }

  /** Records `target` as asked, then hands it the chunk as place takes it. */
  async #handOver(
    file: FileRecord,
    chunk: ChunkRecord,
    staging: ChunkProcessed["staging"],
    target: string,
    overdueClouds: string[],
  ): Promise<void> {
    const { kv, hubJs, log, assertActive, workerId, health, topology } = this.#o;
    const at = new Date().toISOString();
    assertActive(`handing chunk ${chunk.index} of file ${file.fileId} to ${target}`);
    await updateJson<ChunkRecord>(kv, chunkKey(file.fileId, chunk.index), (cur) => {
      if (!cur || cur.failovers?.some((f) => f.cloud === target)) return undefined;
      return { ...cur, failovers: [...(cur.failovers ?? []), { cloud: target, at }] };
    });
    const event: ChunkProcessed = {
      cloud: target,
      worker: workerId,
      at,
      durationMs: 0,
      fileId: chunk.fileId,
      index: chunk.index,
      offset: chunk.offset,
      size: chunk.size,
      sha256: chunk.sha256,
      staging,
      replicas: file.replicas,
      repairs: 0,
      targets: [target],
    };
    await publishTraced(hubJs, chunkSubject(takesOf("place"), target), encodeEvent(event), {
      msgID: msgId(chunk.fileId, chunk.index, "failover", target),
    });
    for (const cloud of overdueClouds) health?.failed(cloud);
    const stores = health?.standings(topology.clouds.map((c) => c.name));
    log.warn(
      { fileId: file.fileId, index: chunk.index, to: target, overdue: overdueClouds, stores },
      "replica handed to another cloud: a cloud asked did not verify it within the placement deadline",
    );
  }
}

/** Which clouds' leaves answer through the hub now, asked once per pass and only when needed. */
class Reachability {
  #answer: Promise<ReadonlySet<string>> | undefined;
  readonly nc: NatsConnection;
  readonly topology: Topology;

  constructor(nc: NatsConnection, topology: Topology) {
    this.nc = nc;
    this.topology = topology;
  }

  clouds(): Promise<ReadonlySet<string>> {
    this.#answer ??= this.#ask();
    return this.#answer;
  }

  async #ask(): Promise<ReadonlySet<string>> {
    const answers = await Promise.all(
      this.topology.clouds.map(async ({ name }) => {
        try {
          const jsm = await jetstreamManager(this.nc, { domain: name, timeout: 1500, checkAPI: false });
          await jsm.streams.info(cloudStream(name));
          return name;
        } catch {
          return undefined;
        }
      }),
    );
    return new Set(answers.filter((c): c is string => c !== undefined));
  }
}
