import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { type Dashboard, startDashboard } from "../../dashboard/server.ts";
import { ConfigError } from "../../shared/errors.ts";
import { REPO_ROOT } from "../../shared/repo-root.ts";
import { becomesTrue } from "../../shared/retry.ts";
import { STAGES } from "../../shared/stages.ts";
import { storeKindOf } from "../../shared/stores/registry.ts";
import { applyStoresOption, loadTopology, STORES_OPTION_HELP } from "../../shared/topology/config.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { NODE_FLAGS } from "../../supervisor/node-flags.ts";
import { type Pipeline, startPipeline } from "../../supervisor/pipeline.ts";
import {
  isOurProcess,
  type RunState,
  readRunState,
  removeRunState,
  SUPERVISOR_MARKER,
  writeRunState,
} from "../../supervisor/run-state.ts";
import { parseCommand } from "../args.ts";
import { resolveHome, resolveTopologyPath } from "../home.ts";

export const UP_HELP = `Usage: ferry up [--detach] [options]

Starts the local deployment described by topology.json: a hub nats-server, one leaf nats-server per
cloud, the streams, the orchestrator and the stage workers of every cloud (restarted if they die).
A nats-server that dies is started again on the same ports and store. Prints where everything is.
Without --detach it runs until Ctrl-C and then stops everything.

Options:
  --detach           start in the background and return; stop it with ./ferry down
  --port <n>         the hub's client port (default 4222; 0 picks a free port)
  --dashboard-port <n>  the live dashboard's port (default 4280, or any free port when 4280 is taken)
  ${STORES_OPTION_HELP}
  --topology <file>  the topology config (default: FERRY_TOPOLOGY or topology.json)
  --home <dir>       where servers, stores and logs live (default: FERRY_HOME or .ferry)`;

/** `ferry up`: run the deployment in the foreground, or hand it to a background supervisor. */
export async function upCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      detach: { type: "boolean" },
      port: { type: "string" },
      topology: { type: "string" },
      home: { type: "string" },
      stores: { type: "string" },
      "dashboard-port": { type: "string" },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${UP_HELP}\n`);
    return 0;
  }
  const home = resolveHome(values.home);
  const running = readRunState(home);
  if (running && isOurProcess(running.supervisorPid, SUPERVISOR_MARKER)) {
    throw new ConfigError(
      `already up in ${home} (supervisor pid ${running.supervisorPid}): use it, or stop it with ./ferry down`,
    );
  }
  const port = values.port === undefined ? 4222 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port: "${values.port}" is not a port number`);
  if (port !== 0 && !(await isPortFree(port))) {
    throw new ConfigError(
      `port ${port} is already in use (another ferry or nats-server?): pass --port <n>, or --port 0 for any free port`,
    );
  }
  const topologyPath = resolveTopologyPath(values.topology);
  applyStoresOption(loadTopology(topologyPath), values.stores); // fail here, in the foreground, on a bad config
  const stores = values.stores ?? "config";
  const dashboardPort = await chooseDashboardPort(values["dashboard-port"]);
  if (values.detach) return detach(home, topologyPath, port, stores, dashboardPort);
  return runForeground(home, topologyPath, port, stores, dashboardPort);
}

async function runForeground(
  home: string,
  topologyPath: string,
  port: number,
  stores: string,
  dashboardPort: number,
): Promise<number> {
  mkdirSync(home, { recursive: true });
  const state: RunState = { supervisorPid: process.pid, startedAt: new Date().toISOString(), ready: false, pids: {} };
  writeRunState(home, state);
  // The children run in their own process groups (so Ctrl-C reaches only us and we stop them in
  // order); if we die some other way, they must not outlive us. A closed terminal or pipe must not
  // kill us halfway through stopping them.
  process.once("exit", () => terminateAll(state.pids, home));
  for (const out of [process.stdout, process.stderr]) out.on("error", () => undefined);
  let pipeline: Pipeline;
  try {
    pipeline = await startPipeline({
      topology: applyStoresOption(loadTopology(topologyPath), stores),
      dataDir: home,
      ...(port === 0 ? {} : { ports: { hub: port } }),
      onWorkerStart: (name, pid) => {
        state.pids[name] = pid;
        writeRunState(home, state);
      },
      restartServers: true,
      tracing: true,
      onServerRestart: (name, pid) => {
        process.stderr.write(`ferry: nats-server ${name} had died; started again (pid ${pid})\n`);
        state.pids[name] = pid;
        writeRunState(home, state);
      },
    });
  } catch (err) {
    removeRunState(home);
    throw err;
  }
  state.pids.hub = pipeline.nats.hub.pid ?? 0;
  for (const [cloud, s] of Object.entries(pipeline.nats.leaves)) state.pids[cloud] = s.pid ?? 0;
  for (const [cloud, s] of pipeline.localStores) state.pids[`store-${cloud}`] = s.pid ?? 0;
  if (pipeline.jaeger) state.pids.jaeger = pipeline.jaeger.process.pid ?? 0;
  let dashboard: Dashboard;
  try {
    dashboard = await startDashboard({ deployment: pipeline.deployment, port: dashboardPort });
  } catch (err) {
    await pipeline.stop();
    removeRunState(home);
    throw err;
  }
  state.dashboardUrl = dashboard.url;
  state.ready = true;
  writeRunState(home, state);
  process.stdout.write(describe(pipeline, dashboard));
  await stopOnSignal(home, pipeline, dashboard);
  return 0;
}

/** Waits for Ctrl-C or SIGTERM, then stops the dashboard before the deployment it reads from. */
async function stopOnSignal(home: string, pipeline: Pipeline, dashboard: Dashboard): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stderr.write("ferry: stopping…\n");
  await dashboard.close();
  await pipeline.stop();
  removeRunState(home);
  process.stderr.write("ferry: stopped\n");
}

/** Starts `ferry up` as a background supervisor and returns once it is ready (or has failed). */
async function detach(
  home: string,
  topologyPath: string,
  port: number,
  stores: string,
  dashboardPort: number,
): Promise<number> {
  mkdirSync(join(home, "logs"), { recursive: true });
  const logPath = join(home, "logs", "supervisor.log");
  const log = openSync(logPath, "a");
  const child = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      join(REPO_ROOT, "cli/main.ts"),
      "up",
      "--home",
      home,
      "--topology",
      topologyPath,
      "--port",
      String(port),
      "--stores",
      stores,
      "--dashboard-port",
      String(dashboardPort),
    ],
    {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: REPO_ROOT,
    },
  );
  closeSync(log);
  child.unref();
  let exited = false;
  child.once("exit", () => (exited = true));
  let ready = false;
  // A supervisor that exited will never be ready: stop waiting for it at once.
  await becomesTrue(
    async () => {
      if (exited) return true;
      const s = readRunState(home);
      ready = s?.ready === true && s.supervisorPid === child.pid;
      return ready;
    },
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  if (ready) {
    process.stdout.write(
      readFileSync(logPath, "utf8").split("ferry is up").pop()?.replace(/^/, "ferry is up") ?? "ferry is up\n",
    );
    return 0;
  }
  const tail = readFileSync(logPath, "utf8").split("\n").slice(-20).join("\n");
  throw new ConfigError(`ferry up did not become ready; the supervisor's log ${logPath} ends with:\n${tail}`);
}

/** Last resort, synchronous (it runs in an 'exit' handler): SIGTERM every recorded child still alive. */
function terminateAll(pids: Record<string, number>, home: string): void {
  for (const pid of Object.values(pids)) {
    if (!isOurProcess(pid, home)) continue;
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

const DEFAULT_DASHBOARD_PORT = 4280;

/** `--dashboard-port` as given (it must be free), else 4280 when free, else 0 (any free port). */
async function chooseDashboardPort(value: string | undefined): Promise<number> {
  if (value === undefined) return (await isPortFree(DEFAULT_DASHBOARD_PORT)) ? DEFAULT_DASHBOARD_PORT : 0;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--dashboard-port: "${value}" is not a port number`);
  if (port !== 0 && !(await isPortFree(port)))
    throw new ConfigError(`--dashboard-port: port ${port} is already in use: pass another, or 0 for any free port`);
  return port;
}

function describe(p: Pipeline, dashboard: Dashboard): string {
  const d = p.deployment;
  const lines = [
    `ferry is up (supervisor pid ${process.pid})`,
    `  dashboard  ${dashboard.url}  (Prometheus metrics: ${dashboard.url}metrics)`,
    `  hub        ${d.hub.url}  (JetStream domain ${d.topology.hubDomain}, monitoring http://127.0.0.1:${d.hub.monitorPort})`,
    ...Object.values(d.leaves).map(
      (l) => `  leaf ${l.name.padEnd(6)}${l.url}  (JetStream domain ${l.domain}, store ${describeStore(d, l.name)})`,
    ),
    p.jaeger
      ? `  traces     ${p.jaeger.queryUrl}  (Jaeger; ./ferry status <fileId> prints a file's trace link)`
      : `  traces     off: ${tracesOffReason()}`,
    `  workers    ${p.workers.size} processes (orchestrator + ${d.topology.clouds.length} clouds x ${STAGES.length} stages), logs in ${join(d.dataDir, "logs")}`,
    `  ingest     ./ferry ingest <file> --wait    or    nats --server ${d.hub.url} pub files.ingest.${d.topology.clouds[0]?.name ?? "<cloud>"} '{"path":"/abs/file"}'`,
    `  watch      ./ferry status`,
    `  stop       ./ferry down`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Why this run has no Jaeger, and how to get traces. */
function tracesOffReason(): string {
  // Set by scripts/bootstrap.sh when it left Jaeger building in the background for this run.
  const buildLog = process.env.FERRY_JAEGER_BUILDING;
  if (buildLog)
    return `Jaeger is being built in the background (log: ${buildLog}); once it is, ./ferry down and ./ferry up again for traces`;
  return "Jaeger is not installed (./ferry up builds it with Go in the background, ./ferry test in the foreground)";
}

/** `s3 bucket ferry-aws at http://127.0.0.1:4567 (local versitygw)`, or the fs folder. */
function describeStore(d: Deployment, cloud: string): string {
  const s = d.stores[cloud];
  return s ? storeKindOf(s).describe(s) : "none";
}
