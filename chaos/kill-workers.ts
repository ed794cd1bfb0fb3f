/**
 * The kill-workers drill (the failure model in the README's "What survives what"): while files are in flight, SIGKILL a random set
 * of up to 20 % of all worker processes at once (the orchestrator included), let the launcher restart
 * them, repeat; then, once the pipeline has drained, check every invariant. Choices come from a seeded
 * PRNG, so `seed` replays the same victims and intervals (timing on the machine still varies).
 */
import { readdir, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { listDeadLetters } from "../client/dead-letters.ts";
import { isFinished, submitIngest } from "../client/ingest.ts";
import { checkIngestFile } from "../client/preflight.ts";
import { ConfigError, describeError } from "../shared/errors.ts";
import { type FileRecord, openManifest, readFileRecord } from "../shared/manifest.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { becomesTrue } from "../shared/retry.ts";
import { isFsOpenSpec } from "../shared/stores/fs/kind.ts";
import { openStores } from "../shared/stores/open-store.ts";
import { localServerOf } from "../shared/stores/registry.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { cloudStream, EVENTS_STREAM, LEAF_CONSUMERS, ORCHESTRATOR_CONSUMER } from "../shared/stream-names.ts";
import type { Topology } from "../shared/topology/config.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { type Pipeline, startPipeline } from "../supervisor/pipeline.ts";
import {
  type DrillFile,
  type FileRecords,
  filesComplete,
  noDeadLetters,
  type PipelineState,
  pipelineDrained,
  readBackIdentical,
  readPipelineState,
  replicasIntact,
  stagingEmpty,
} from "./invariants.ts";
import { mulberry32, randomSeed, sample } from "./random.ts";

export interface KillWorkersOptions {
  /** Folder for the private deployment (servers, stores, logs under `logs/`). */
  dataDir: string;
  topology: Topology;
  /** Local files to ingest. */
  files: string[];
  /** Longest time to keep killing; files still in flight then get the drain time without faults. @default 120000 */
  durationMs?: number;
  /** Time allowed, after the kills stop, for files to finish and every consumer to drain. @default max(60 s, 4 × ackWait) */
  drainTimeoutMs?: number;
  /** Largest share of all workers killed in one round (at least one is). @default 0.2 */
  maxFraction?: number;
  /** Mean pause between rounds; each pause is drawn from 0.5×..1.5× of it. @default 1500 */
  intervalMs?: number;
  /** @default a random seed, reported */
  seed?: number;
  /** Slows every store write in the workers (FERRY_FS_THROTTLE_BPS) so kills land mid-chunk. */
  throttleBytesPerSec?: number;
  /**
   * Also kill the local store servers (`store-<cloud>`), which the deployment restarts within about a
   * second. Azurite is stopped with SIGTERM instead: it saves its metadata every 5 s, so a SIGKILL loses
   * writes it had acknowledged, which real Azure never does. @default false
   */
  killStores?: boolean;
  log: (line: string) => void;
}

/**
 * One SIGKILL (of a worker, or of a store server `store-<cloud>`). `busy`: the worker had work in flight
 * (unacknowledged messages or a chunk's file open); always false for a store server.
 */
export interface Kill {
  round: number;
  atMs: number;
  worker: string;
  pid: number;
  busy: boolean;
}

export interface InvariantResult {
  name: string;
  violations: string[];
}

export interface KillWorkersReport {
  seed: number;
  /** Every invariant held. */
  passed: boolean;
  rounds: number;
  kills: Kill[];
  killsPerWorker: Record<string, number>;
  /** Times each worker process was started (1 + restarts). */
  startsPerWorker: Record<string, number>;
  files: Array<{ fileId: string; name: string; size: number; state: string; chunks: number | undefined }>;
  bytes: number;
  /** From the first ingest request to the last kill round. */
  chaosMs: number;
  /** The whole drill, servers' start and invariant checks included. */
  wallMs: number;
  invariants: InvariantResult[];
  /** Every process the drill started (servers and each worker incarnation), all stopped when it returns. */
  pids: number[];
  logDir: string;
}

/** Runs the drill on a private deployment and returns its report; everything it started is stopped. */
export async function runKillWorkersDrill(options: KillWorkersOptions): Promise<KillWorkersReport> {
  const compiled = compileOptions(options);
  const started = Date.now();
  const log = options.log;
  const pids: number[] = [];
  const seenNames = new Set<string>();
  log(`starting a private deployment in ${options.dataDir} (seed ${compiled.seed})`);
  const pipeline = await startPipeline({
    topology: options.topology,
    dataDir: options.dataDir,
    workerEnv: options.throttleBytesPerSec ? { FERRY_FS_THROTTLE_BPS: String(options.throttleBytesPerSec) } : {},
    // Brings killed store servers back (and nats-servers, which this drill never kills).
    restartServers: options.killStores ?? false,
    onServerRestart: (name, pid) => {
      pids.push(pid);
      log(`  ${name} restarted as pid ${pid}`);
    },
    onWorkerStart: (name, pid) => {
      pids.push(pid);
      if (seenNames.has(name)) log(`  ${name} restarted as pid ${pid}`);
      seenNames.add(name);
    },
  });
  let client: DrillClient | undefined;
  try {
    pids.push(
      ...[pipeline.nats.hub, ...Object.values(pipeline.nats.leaves), ...pipeline.localStores.values()].flatMap((s) =>
        s.pid === undefined ? [] : [s.pid],
      ),
    );
    client = await openClient(pipeline.deployment);
    const files: Array<DrillFile & { size: number }> = [];
    for (const path of options.files) {
      const src = await checkIngestFile(path);
      files.push({ fileId: (await submitIngest(client.hubJs, src)).fileId, path: src.path, size: src.size });
    }
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const targets = victimsOf(pipeline, options.killStores ?? false);
    log(
      `submitted ${files.length} file(s), ${bytes} bytes; killing up to ${perRound(compiled, pipeline)} of ${targets.size} workers${options.killStores ? " and store servers" : ""} every ~${compiled.intervalMs} ms`,
    );
    const chaosStarted = Date.now();
    const kills: Kill[] = [];
    const rounds = await killWhileInFlight(pipeline, targets, client, files, compiled, kills, log);
    const chaosMs = Date.now() - chaosStarted;
    log(`kills stopped after ${rounds} round(s), ${kills.length} kill(s); waiting for the pipeline to drain`);
    const { records, invariants } = await settleAndCheck(pipeline, client, files, compiled, log);
    return {
      seed: compiled.seed,
      passed: invariants.every((i) => i.violations.length === 0),
      rounds,
      kills,
      killsPerWorker: countBy(kills.map((k) => k.worker)),
      startsPerWorker: Object.fromEntries([...pipeline.workers].map(([name, w]) => [name, w.starts])),
      files: files.map((f) => {
        const r = records.get(f.fileId);
        return {
          fileId: f.fileId,
          name: basename(f.path),
          size: f.size,
          state: r?.state ?? "unknown",
          chunks: r?.chunkCount,
        };
      }),
      bytes,
      chaosMs,
      wallMs: Date.now() - started,
      invariants,
      pids,
      logDir: join(pipeline.deployment.dataDir, "logs"),
    };
  } finally {
    await client?.close();
    await pipeline.stop();
  }
}

type CompiledOptions = Required<
  Pick<KillWorkersOptions, "durationMs" | "drainTimeoutMs" | "maxFraction" | "intervalMs" | "seed">
>;

function compileOptions(options: KillWorkersOptions): CompiledOptions {
  if (options.files.length === 0) throw new ConfigError("kill-workers drill: files: give at least one file to ingest");
  const positive = (key: string, v: number) => {
    if (!(Number.isFinite(v) && v > 0))
      throw new ConfigError(`kill-workers drill: ${key}: ${v} is not a positive number`);
    return v;
  };
  const maxFraction = options.maxFraction ?? 0.2;
  if (!(maxFraction > 0 && maxFraction <= 1))
    throw new ConfigError(`kill-workers drill: maxFraction: ${maxFraction} is not in (0, 1]`);
  return {
    durationMs: positive("durationMs", options.durationMs ?? 120_000),
    drainTimeoutMs: positive(
      "drainTimeoutMs",
      options.drainTimeoutMs ?? Math.max(60_000, 4 * options.topology.ackWaitMs),
    ),
    maxFraction,
    intervalMs: positive("intervalMs", options.intervalMs ?? 1500),
    seed: options.seed ?? randomSeed(),
  };
}

/** How many workers one round may kill: the share of all of them, at least one. */
const perRound = (options: CompiledOptions, p: Pipeline): number =>
  Math.max(1, Math.floor(options.maxFraction * p.workers.size));

/** What a round can kill: a worker process, or a local store server. */
interface Victim {
  readonly pid: number | undefined;
  kill(): Promise<void>;
}

/** Every worker by name, and with `stores` every local store server as `store-<cloud>`. */
function victimsOf(p: Pipeline, stores: boolean): Map<string, Victim> {
  const victims = new Map<string, Victim>(p.workers);
  if (!stores) return victims;
  for (const [cloud, server] of p.localStores) {
    const kind = p.deployment.localStores[cloud]?.kind;
    const losesWritesOnKill = kind !== undefined && localServerOf(kind).losesWritesOnKill;
    victims.set(`store-${cloud}`, {
      get pid() {
        return server.pid;
      },
      kill: () => (losesWritesOnKill ? server.stop() : server.kill()),
    });
  }
  return victims;
}

/** Kill rounds until every file is finished or `durationMs` has passed; returns the number of rounds. */
async function killWhileInFlight(
  p: Pipeline,
  targets: Map<string, Victim>,
  c: DrillClient,
  files: DrillFile[],
  options: CompiledOptions,
  kills: Kill[],
  log: (l: string) => void,
): Promise<number> {
  const rand = mulberry32(options.seed);
  const names = [...targets.keys()].sort();
  const started = Date.now();
  const deadline = started + options.durationMs;
  let latest: FileRecords = new Map();
  const done = async () => {
    latest = await readRecords(c.kv, files);
    return allFinished(latest);
  };
  for (let round = 1; ; round++) {
    // Draw every choice before waiting, so the sequence depends on the seed alone, not on timing.
    const pause = options.intervalMs * (0.5 + rand());
    const victims = sample(rand, names, 1 + Math.floor(rand() * perRound(options, p)));
    if (await becomesTrue(done, { timeoutMs: Math.min(deadline - Date.now(), pause), intervalMs: 200 }))
      return round - 1;
    if (Date.now() >= deadline || serversDown(p).length > 0) return round - 1;
    const alive = victims.flatMap((name) => {
      const target = targets.get(name);
      return target?.pid === undefined ? [] : [{ name, pid: target.pid, target }];
    });
    const busy = await Promise.all(
      alive.map((v) => !v.name.startsWith("store-") && isBusy(c, p.deployment, v.name, v.pid, files)),
    );
    await Promise.all(alive.map((v) => v.target.kill()));
    const atMs = Date.now() - started;
    for (const [i, v] of alive.entries())
      kills.push({ round, atMs, worker: v.name, pid: v.pid, busy: busy[i] === true });
    const skipped = victims.filter((n) => !alive.some((v) => v.name === n));
    log(
      `round ${round} +${(atMs / 1000).toFixed(1)}s [${progress(latest)}]: killed ${alive.map((v, i) => `${v.name} (pid ${v.pid}${busy[i] ? ", busy" : ""})`).join(", ") || "nobody"}${skipped.length ? `; ${skipped.join(", ")} already down` : ""}`,
    );
  }
}

/** Waits, without faults, for the files to finish and every consumer to drain; then checks every invariant. */
async function settleAndCheck(
  p: Pipeline,
  c: DrillClient,
  files: DrillFile[],
  options: CompiledOptions,
  log: (l: string) => void,
): Promise<{ records: FileRecords; invariants: InvariantResult[] }> {
  const down = serversDown(p);
  if (down.length > 0) {
    // Nothing drains without its servers, and every check would only time out.
    log(`nats-server ${down.join(", ")} died, and this drill kills only workers: something outside it killed them`);
    const violations = down.map((s) => `nats-server ${s} is not running; the other invariants were not checked`);
    return {
      records: new Map(),
      invariants: [{ name: "nats servers stayed up (this drill kills only workers)", violations }],
    };
  }
  const deadline = Date.now() + options.drainTimeoutMs;
  await becomesTrue(async () => allFinished(await readRecords(c.kv, files)), {
    timeoutMs: deadline - Date.now(),
    intervalMs: 200,
  });
  const state = await waitForDrain(c, deadline);
  log("checking the invariants");
  const records = await readRecords(c.kv, files).catch((err: unknown): FileRecords => {
    log(`cannot read the manifest: ${describeError(err)}`);
    return new Map();
  });
  const invariants = await checkInvariants(c, p.deployment, files, records, state);
  // Killed writers' temp files are swept once they sit untouched for orphanAge (then a sweep tick).
  const sweptBy = Date.now() + 2 * p.deployment.topology.orphanAgeMs + 5000;
  await becomesTrue(async () => (await tempLeftovers(p.deployment)).length === 0, {
    timeoutMs: sweptBy - Date.now(),
    intervalMs: 200,
  });
  invariants.push({ name: "temp files of killed writers swept", violations: await tempLeftovers(p.deployment) });
  return { records, invariants };
}

/**
 * Whether a worker has work in flight right now. The orchestrator, and a process, place or verify
 * worker (the only one of its stage in its cloud), is busy while its durable consumer has
 * unacknowledged messages. An ingest worker (all clouds share the hub's consumer) or a worker on fs
 * stores is busy while it has a file open that belongs to the work: the source, a staged object, a
 * replica, or the temp file it is writing (Linux /proc; elsewhere it reads as idle).
 */
async function isBusy(c: DrillClient, d: Deployment, name: string, pid: number, files: DrillFile[]): Promise<boolean> {
  try {
    if (name === "orchestrator")
      return (await c.hubJsm.consumers.info(EVENTS_STREAM, ORCHESTRATOR_CONSUMER)).num_ack_pending > 0;
    const [stage, cloud] = name.split("-");
    const leaf = cloud === undefined ? undefined : c.leaves.get(cloud);
    if (leaf && cloud !== undefined && stage !== undefined && LEAF_CONSUMERS.some((lc) => lc.stage === stage)) {
      if ((await leaf.consumers.info(cloudStream(cloud), stage)).num_ack_pending > 0) return true;
    }
    const sources = new Set(files.map((f) => f.path));
    const roots = Object.values(d.stores).flatMap((s) => (isFsOpenSpec(s) ? [`${s.root}/`] : []));
    return await hasOpen(pid, (path) => sources.has(path) || roots.some((r) => path.startsWith(r)));
  } catch {
    return false;
  }
}

/** Whether process `pid` has a file open that `wanted` accepts. */
async function hasOpen(pid: number, wanted: (path: string) => boolean): Promise<boolean> {
  const dir = `/proc/${pid}/fd`;
  for (const fd of await readdir(dir).catch(() => [] as string[])) {
    if (wanted(await readlink(join(dir, fd)).catch(() => ""))) return true;
  }
  return false;
}

/** Polls the consumers until they are drained twice in a row a second apart, or the deadline passes. */
async function waitForDrain(c: DrillClient, deadline: number): Promise<PipelineState | Error> {
  let last: PipelineState | Error = new Error("never read");
  let calm = 0;
  await becomesTrue(
    async () => {
      try {
        last = await readPipelineState({ domain: c.hubDomain, jsm: c.hubJsm }, c.leaves);
        calm = pipelineDrained(last).length === 0 ? calm + 1 : 0;
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        calm = 0;
      }
      return calm >= 2;
    },
    { timeoutMs: deadline - Date.now(), intervalMs: 1000 },
  );
  return last;
}

async function checkInvariants(
  c: DrillClient,
  d: Deployment,
  files: DrillFile[],
  records: FileRecords,
  drain: PipelineState | Error,
): Promise<InvariantResult[]> {
  const ids = files.map((f) => f.fileId);
  const known = [...records.values()].filter((r): r is FileRecord => r !== undefined);
  const check = async (name: string, run: () => Promise<string[]> | string[]): Promise<InvariantResult> => {
    try {
      return { name, violations: await run() };
    } catch (err) {
      return { name, violations: [`the check itself failed: ${describeError(err)}`] };
    }
  };
  return [
    await check("every file complete", () => filesComplete(files, records)),
    await check("every file reads back byte-identical", () =>
      readBackIdentical(
        c.kv,
        c.stores,
        files,
        join(d.dataDir, "readback"),
        d.topology.clouds.map((x) => x.name),
      ),
    ),
    await check("one intact replica per chunk in every store", () => replicasIntact(c.kv, c.stores, known)),
    await check("every staging area empty", () => stagingEmpty(c.stores, ids)),
    await check("no dead letters", async () => noDeadLetters(files, records, await listDeadLetters(c.hubJs, Infinity))),
    await check("pipeline drained (no stuck consumer)", () =>
      drain instanceof Error ? [`cannot read the consumers: ${describeError(drain)}`] : pipelineDrained(drain),
    ),
  ];
}

/** The nats servers of the deployment that are no longer running. */
/** The nats-servers that are not running (store servers the drill kills come back by themselves). */
function serversDown(p: Pipeline): string[] {
  return [p.nats.hub, ...Object.values(p.nats.leaves)].filter((s) => !s.isRunning).map((s) => s.endpoint.name);
}

/** Temp files a killed writer left in an fs store (never visible as objects; swept after orphanAge). */
async function tempLeftovers(d: Deployment): Promise<string[]> {
  const out: string[] = [];
  for (const [cloud, spec] of Object.entries(d.stores)) {
    if (!isFsOpenSpec(spec)) continue;
    const names = await readdir(join(spec.root, ".tmp")).catch(() => [] as string[]);
    if (names.length > 0)
      out.push(`${cloud}: ${names.length} temp file(s) of interrupted writes still in the store's .tmp folder`);
  }
  return out;
}

interface DrillClient {
  hubDomain: string;
  hubJs: JetStreamClient;
  hubJsm: JetStreamManager;
  kv: KV;
  /** A manager per cloud, connected straight to its leaf. */
  leaves: Map<string, JetStreamManager>;
  stores: Map<string, BlobStore>;
  close(): Promise<void>;
}

async function openClient(d: Deployment): Promise<DrillClient> {
  const conns: NatsConnection[] = [];
  try {
    const hub = await connectNats(d.hub.url, "ferry-chaos");
    conns.push(hub);
    const hubJs = jetstream(hub, { domain: d.topology.hubDomain });
    const leaves = new Map<string, JetStreamManager>();
    for (const [cloud, leaf] of Object.entries(d.leaves)) {
      const nc = await connectNats(leaf.url, `ferry-chaos-${cloud}`);
      conns.push(nc);
      leaves.set(cloud, await jetstreamManager(nc, { domain: cloud }));
    }
    const stores = openStores(d);
    return {
      hubDomain: d.topology.hubDomain,
      hubJs,
      hubJsm: await hubJs.jetstreamManager(),
      kv: await openManifest(hubJs),
      leaves,
      stores,
      async close() {
        await Promise.all(conns.map((nc) => nc.close()));
        await Promise.all([...stores.values()].map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(conns.map((nc) => nc.close()));
    throw err;
  }
}

async function readRecords(kv: KV, files: DrillFile[]): Promise<FileRecords> {
  const out: FileRecords = new Map();
  for (const f of files) out.set(f.fileId, await readFileRecord(kv, f.fileId));
  return out;
}

const allFinished = (records: FileRecords): boolean => [...records.values()].every((r) => isFinished(r));

function progress(records: FileRecords): string {
  const rs = [...records.values()];
  const done = rs.filter((r) => r?.state === "complete").length;
  const chunks = rs.reduce((n, r) => n + (r?.chunksComplete ?? 0), 0);
  const total = rs.every((r) => r?.chunkCount !== undefined)
    ? String(rs.reduce((n, r) => n + (r?.chunkCount ?? 0), 0))
    : "?";
  return `${done}/${rs.length} files, ${chunks}/${total} chunks complete`;
}

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}
