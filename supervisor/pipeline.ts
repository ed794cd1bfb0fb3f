import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pingWorkers } from "../runtime/ping.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { toolBinary } from "../shared/process/binaries.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { pollUntil } from "../shared/retry.ts";
import type { Stage } from "../shared/stages.ts";
import type { Topology } from "../shared/topology/config.ts";
import { type Deployment, hubUrls, writeDeployment } from "../shared/topology/deployment.ts";
import { SUPERVISOR_IDENTITY } from "../shared/topology/nats-identities.ts";
import { deploymentProcesses, type Role, stageWorkerName } from "../shared/topology/processes.ts";
import { applyRoleStreams } from "../streams/apply.ts";
import { type LocalJaeger, startLocalJaeger } from "./jaeger-server.ts";
import { startLocalStores } from "./local-stores.ts";
import { type NatsTopology, startNatsTopology } from "./nats-topology.ts";
import { type PinnedPorts, planDeployment } from "./plan.ts";
import { freePorts } from "./ports.ts";
import type { ServerProcess } from "./server-process.ts";
import { WorkerProcess } from "./worker-process.ts";

export interface PipelineOptions {
  topology: Topology;
  dataDir: string;
  /** Run only this role's processes (`ferry up --role`); every role when undefined. */
  role?: Role;
  /** A deployment already planned (a host's bundle from `ferry plan`) instead of planning one here on free ports. */
  deployment?: Deployment;
  ports?: PinnedPorts;
  /** Extra environment for the worker processes (e.g. FERRY_FS_THROTTLE_BPS for chaos drills). */
  workerEnv?: NodeJS.ProcessEnv;
  /** Restart a worker that dies. @default true */
  restartWorkers?: boolean;
  /** How long to wait for every worker to answer a ping. @default 30000 */
  readyTimeoutMs?: number;
  /** Called with each worker's pid at every (re)start. */
  onWorkerStart?: (name: string, pid: number) => void;
  /** Start a nats-server or a local store server again when it dies (what `ferry up` does). @default false */
  restartServers?: boolean;
  /**
   * Start a local Jaeger and have every process export its traces there, when the set-up built it
   * (what `ferry up` does). @default false
   */
  tracing?: boolean;
  /** Called with a server's name (`hub`, the cloud, or `store-<cloud>`), new pid and why, after it was started again. */
  onServerRestart?: (name: string, pid: number, reason: string) => void;
  /**
   * Changes the planned deployment before anything is written or started (a chaos drill puts proxies
   * between its servers here). Not called for a `deployment` given ready-made.
   */
  adjust?: (d: Deployment) => Promise<void>;
}

/** A whole local deployment: the nats servers, the streams, the orchestrator and every stage worker. */
export interface Pipeline {
  deployment: Deployment;
  nats: NatsTopology;
  /** The store servers ferry runs for clouds whose store is `"local": true`, keyed by cloud. */
  localStores: Map<string, ServerProcess>;
  /** The local Jaeger every process exports to, when tracing was asked for and Jaeger is installed. */
  jaeger: LocalJaeger | undefined;
  /** Keyed `orchestrator` or `<stage>-<cloud>`. */
  workers: Map<string, WorkerProcess>;
  worker(stage: Stage, cloud: string): WorkerProcess;
  /** Stops workers (orderly), then servers. Idempotent. */
  stop(): Promise<void>;
}

export const workerName = (stage: Stage, cloud: string): string => stageWorkerName(stage, cloud);

/**
 * Starts everything a deployment needs and waits until every worker answers.
 * On any failure, whatever was started is stopped before the error is rethrown.
 */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const d = options.deployment ?? (await planDeployment(options.topology, options.dataDir, options.ports ?? {}));
  if (!options.deployment) await options.adjust?.(d);
  const role = options.role;
  const logDir = join(d.dataDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const jaegerPorts = await planJaeger(d, options);
  writeDeployment(d);
  const nats = await startNatsTopology(d, {
    logDir,
    keepConfigs: options.deployment !== undefined,
    ...(role ? { role } : {}),
  });
  let localStores = new Map<string, ServerProcess>();
  let jaeger: LocalJaeger | undefined;
  const workers = new Map<string, WorkerProcess>();
  let guardian: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      clearInterval(guardian);
      await Promise.all([...workers.values()].map((w) => w.stop()));
      await Promise.all([...localStores.values(), ...(jaeger ? [jaeger.process] : [])].map((s) => s.stop()));
      await nats.stop();
    })());
  try {
    localStores = await startLocalStores(d, logDir, role?.role === "cloud" ? role.cloud : role ? [] : undefined);
    if (jaegerPorts) {
      jaeger = await startLocalJaeger({
        otlpPort: jaegerPorts.otlp,
        queryPort: jaegerPorts.query,
        dataDir: join(d.dataDir, "jaeger"),
        logFile: join(logDir, "jaeger.log"),
      });
    }
    if (options.restartServers) guardian = guardServers(serversOf(nats, localStores, jaeger), options.onServerRestart);
    await applyRoleStreams(d, role);
    startWorkers(d, logDir, options, workers);
    const pingUrl = role?.role === "cloud" ? (d.leaves[role.cloud]?.url ?? "") : hubUrls(d);
    await waitForWorkers(d, pingUrl, workers.size, options.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    deployment: d,
    nats,
    localStores,
    jaeger,
    workers,
    stop,
    worker(stage, cloud) {
      const w = workers.get(workerName(stage, cloud));
      if (!w) throw new Error(`no worker ${workerName(stage, cloud)}`);
      return w;
    },
  };
}

/** Ports for the local Jaeger, recorded in the deployment, when tracing is asked for, this host runs the hub and Jaeger is built. */
async function planJaeger(
  d: Deployment,
  options: PipelineOptions,
): Promise<{ otlp: number; query: number } | undefined> {
  if (!options.tracing || options.role?.role === "cloud" || !existsSync(toolBinary("jaeger"))) return undefined;
  const [otlp = 0, query = 0] = await freePorts(2);
  d.jaeger = { otlpUrl: `http://127.0.0.1:${otlp}`, queryUrl: `http://127.0.0.1:${query}` };
  return { otlp, query };
}

/**
 * The Node processes of a deployment (or of one role), by name: an orchestrator per hub node, then in
 * each cloud `workers` processes per stage of the chain.
 */
export function workerArgs(d: Deployment, role?: Role): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of deploymentProcesses(d.topology, role)) {
    // The dashboard runs inside the supervisor; the bundles give it a unit of its own.
    if (p.script && p.kind !== "dashboard")
      out.set(p.name, [join(REPO_ROOT, p.script.file), ...p.script.args, d.dataDir]);
  }
  return out;
}

function startWorkers(
  d: Deployment,
  logDir: string,
  options: PipelineOptions,
  workers: Map<string, WorkerProcess>,
): void {
  for (const [name, args] of workerArgs(d, options.role)) {
    const w = new WorkerProcess({
      name,
      args,
      logFile: join(logDir, `${name}.log`),
      env: options.workerEnv ?? {},
      restart: options.restartWorkers ?? true,
      ...(options.onWorkerStart ? { onStart: (pid: number) => options.onWorkerStart?.(name, pid) } : {}),
    });
    workers.set(name, w);
    w.start();
  }
}

const SERVER_CHECK_MS = 1000;
/** A running server found in trouble (its JetStream disabled) this many checks in a row is restarted. */
const TROUBLED_CHECKS = 3;

interface GuardedServer {
  readonly isRunning: boolean;
  readonly pid: number | undefined;
  restart(): Promise<void>;
  /** Why the running server is of no use, or undefined; servers without it are judged by their process alone. */
  trouble?(): Promise<string | undefined>;
}

/** The servers a deployment runs, by the name `ferry up` reports: `hub`, each cloud's leaf, `store-<cloud>`, `jaeger`. */
function serversOf(
  nats: NatsTopology,
  localStores: Map<string, ServerProcess>,
  jaeger: LocalJaeger | undefined,
): Map<string, GuardedServer> {
  const servers = new Map<string, GuardedServer>(nats.hubNodes.map((n) => [n.endpoint.name, n]));
  for (const leaf of Object.values(nats.leaves)) servers.set(leaf.endpoint.name, leaf);
  for (const [cloud, store] of localStores) servers.set(`store-${cloud}`, store);
  if (jaeger) servers.set("jaeger", jaeger.process);
  return servers;
}

/**
 * Every second, starts again any server that has died (same config, ports and data), and restarts a
 * running one whose JetStream has been disabled for TROUBLED_CHECKS checks (a full disk: it stays
 * off until the server restarts, nats-server #7654).
 */
function guardServers(
  servers: Map<string, GuardedServer>,
  onRestart?: (name: string, pid: number, reason: string) => void,
): NodeJS.Timeout {
  const restarting = new Set<string>();
  const troubled = new Map<string, number>();
  const restart = (name: string, server: GuardedServer, reason: string) => {
    restarting.add(name);
    troubled.delete(name);
    server
      .restart()
      .then(() => server.pid !== undefined && onRestart?.(name, server.pid, reason))
      .catch(() => undefined) // tried again on the next tick
      .finally(() => restarting.delete(name));
  };
  const judge = async (name: string, server: GuardedServer) => {
    const trouble = await server.trouble?.();
    const count = trouble === undefined ? 0 : (troubled.get(name) ?? 0) + 1;
    troubled.set(name, count);
    if (trouble && count >= TROUBLED_CHECKS && server.isRunning && !restarting.has(name))
      restart(name, server, trouble);
  };
  const timer = setInterval(() => {
    for (const [name, server] of servers) {
      if (restarting.has(name)) continue;
      if (!server.isRunning) restart(name, server, "it exited");
      else if (server.trouble) void judge(name, server);
    }
  }, SERVER_CHECK_MS);
  timer.unref();
  return timer;
}

/** Pings through `url` (the hub, or on a cloud's host its leaf) until `expected` workers answer. */
async function waitForWorkers(
  d: Deployment,
  url: string | string[],
  expected: number,
  timeoutMs: number,
): Promise<void> {
  const nc = await connectNats(url, "ferry-ready-check", { name: SUPERVISOR_IDENTITY, home: d.dataDir });
  try {
    // No pause between checks: each ping already waits 500 ms for the answers.
    await pollUntil(
      `all ${expected} workers answering (their logs are in ${join(d.dataDir, "logs")})`,
      async () => {
        const seen = (await pingWorkers(nc, 500)).length;
        return seen >= expected || `${seen} of ${expected} answered`;
      },
      { timeoutMs, intervalMs: 0 },
    );
  } finally {
    await nc.close();
  }
}
