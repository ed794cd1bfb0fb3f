import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { isLoopback } from "../../dashboard/access.ts";
import { type Dashboard, startDashboard } from "../../dashboard/server.ts";
import { dashboardToken } from "../../dashboard/token.ts";
import { ConfigError } from "../../shared/errors.ts";
import { REPO_ROOT } from "../../shared/repo-root.ts";
import { becomesTrue } from "../../shared/retry.ts";
import {
  applyHubNodesOption,
  applyStoresOption,
  loadTopology,
  STORES_OPTION_HELP,
  type Topology,
} from "../../shared/topology/config.ts";
import { type Deployment, readDeployment } from "../../shared/topology/deployment.ts";
import type { Role } from "../../shared/topology/processes.ts";
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
import { parseRoleOption, ROLE_OPTION_HELP, roleFlags } from "../role-option.ts";
import { describe } from "./up-describe.ts";

export const UP_HELP = `Usage: ferry up [--detach] [--hub-nodes 1|3] [--role hub | --role cloud --cloud <name>] [options]

Starts the local deployment described by topology.json: the hub (one nats-server, or a 3-node
cluster), one leaf nats-server per cloud, the streams, an orchestrator per hub node (one active, the
others standing by) and the stage workers of every cloud (restarted if they die). A nats-server that
dies is started again on the same ports and store. Prints where everything is. Without --detach it
runs until Ctrl-C and then stops everything.

With --role it runs one host's part of a deployment planned by ./ferry plan, from that host's bundle
in --home (its deployment.json): the other roles run elsewhere, reached over TCP.

Options:
  --detach           start in the background and return; stop it with ./ferry down
  --hub-nodes <n>    1 (default: hub.nodes of the topology) or 3: a 3-node hub cluster on loopback, streams R3
  ${ROLE_OPTION_HELP}
  --port <n>         the hub's client port (default 4222; 0 picks a free port)
  --dashboard-port <n>  the live dashboard's port (default 4280, or any free port when 4280 is taken
                     or --port is 0)
  --dashboard-host <a>  where the dashboard and /metrics listen (default 127.0.0.1); any other address
                     needs a token on every request: FERRY_DASHBOARD_TOKEN, or <home>/dashboard.token
  ${STORES_OPTION_HELP}
  --topology <file>  the topology config (default: FERRY_TOPOLOGY or topology.json)
  --home <dir>       where servers, stores and logs live (default: FERRY_HOME or .ferry)`;

/** What `ferry up` was asked for, checked; the detached supervisor gets the same as flags. */
interface UpRun {
  home: string;
  topologyPath: string;
  port: number;
  stores: string;
  dashboardPort: number;
  /** Where the dashboard listens; beyond loopback it needs its token. @default "127.0.0.1" */
  dashboardHost?: string;
  hubNodes?: string;
  role?: Role;
}

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
      "dashboard-host": { type: "string" },
      "hub-nodes": { type: "string" },
      role: { type: "string" },
      cloud: { type: "string" },
      node: { type: "string" },
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
  const topologyPath = resolveTopologyPath(values.topology);
  // Fail here, in the foreground, on a bad config or option.
  const topology = applyHubNodesOption(
    applyStoresOption(loadTopology(topologyPath), values.stores),
    values["hub-nodes"],
  );
  // A host of one role checks --cloud and --node against its bundle's topology, which it runs.
  const bundled = values.role === undefined ? undefined : tryReadDeployment(home)?.topology;
  const role = parseRoleOption(values.role, values.cloud, bundled ?? topology, values.node);
  const port = role ? 0 : await choosePort(values.port);
  const run: UpRun = {
    home,
    topologyPath,
    port,
    stores: values.stores ?? "config",
    dashboardPort:
      role?.role === "cloud" ? 0 : await chooseDashboardPort(values["dashboard-port"], values.port === "0"),
    ...(values["hub-nodes"] === undefined ? {} : { hubNodes: values["hub-nodes"] }),
    ...(values["dashboard-host"] === undefined ? {} : { dashboardHost: values["dashboard-host"] }),
    ...(role ? { role } : {}),
  };
  if (role) planOfHost(home, role); // the host's bundle must be there
  if (values.detach) return detach(run);
  return runForeground(run);
}

/** `--port` as given (it must be free), else 4222. */
async function choosePort(value: string | undefined): Promise<number> {
  const port = value === undefined ? 4222 : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port: "${value}" is not a port number`);
  if (port !== 0 && !(await isPortFree(port))) {
    throw new ConfigError(
      `port ${port} is already in use (another ferry or nats-server?): pass --port <n>, or --port 0 for any free port`,
    );
  }
  return port;
}

function tryReadDeployment(home: string): Deployment | undefined {
  try {
    return readDeployment(home);
  } catch {
    return undefined;
  }
}

/** A host of one role runs the deployment its bundle (written by ./ferry plan) holds in `home`. */
function planOfHost(home: string, role: Role): Deployment {
  let d: Deployment;
  try {
    d = readDeployment(home);
  } catch (err) {
    throw new ConfigError(
      `--role needs this host's bundle in ${home}: write it with ./ferry plan ${roleFlags(role).join(" ")} --out ${home} (${(err as Error).message})`,
      { cause: err },
    );
  }
  if (resolve(d.dataDir) !== resolve(home))
    throw new ConfigError(
      `${home}/deployment.json was planned for ${d.dataDir}: pass --home ${d.dataDir}, or plan again with --data-dir`,
    );
  return d;
}

async function runForeground(run: UpRun): Promise<number> {
  const { home } = run;
  mkdirSync(home, { recursive: true });
  const state: RunState = {
    supervisorPid: process.pid,
    startedAt: new Date().toISOString(),
    ready: false,
    pids: {},
    ...(run.role ? { role: run.role } : {}),
  };
  writeRunState(home, state);
  // The children run in their own process groups (so Ctrl-C reaches only us and we stop them in
  // order); if we die some other way, they must not outlive us. A closed terminal or pipe must not
  // kill us halfway through stopping them.
  process.once("exit", () => terminateAll(state.pids, home));
  for (const out of [process.stdout, process.stderr]) out.on("error", () => undefined);
  let pipeline: Pipeline;
  try {
    const planned = run.role ? planOfHost(home, run.role) : undefined;
    pipeline = await startPipeline({
      topology: planned?.topology ?? topologyOf(run),
      dataDir: home,
      ...(planned && run.role ? { deployment: planned, role: run.role } : {}),
      ...(run.port === 0 ? {} : { ports: { hub: run.port } }),
      onWorkerStart: (name, pid) => {
        state.pids[name] = pid;
        writeRunState(home, state);
      },
      restartServers: true,
      tracing: true,
      onServerRestart: (name, pid, reason) => {
        process.stderr.write(`ferry: server ${name} restarted (pid ${pid}): ${reason}\n`);
        state.pids[name] = pid;
        writeRunState(home, state);
      },
    });
  } catch (err) {
    removeRunState(home);
    throw err;
  }
  recordServerPids(state, pipeline);
  const dashboard = await startHubDashboard(run, pipeline);
  if (dashboard) state.dashboardUrl = dashboard.url;
  state.ready = true;
  writeRunState(home, state);
  process.stdout.write(describe(pipeline, dashboard, run.role));
  await stopOnSignal(home, pipeline, dashboard);
  return 0;
}

/** The servers' pids, so that `ferry down` finds them even if the supervisor is gone. */
function recordServerPids(state: RunState, pipeline: Pipeline): void {
  for (const s of pipeline.nats.hubNodes) state.pids[s.endpoint.name] = s.pid ?? 0;
  for (const [cloud, s] of Object.entries(pipeline.nats.leaves)) state.pids[cloud] = s.pid ?? 0;
  for (const [cloud, s] of pipeline.localStores) state.pids[`store-${cloud}`] = s.pid ?? 0;
  if (pipeline.jaeger) state.pids.jaeger = pipeline.jaeger.process.pid ?? 0;
}

function topologyOf(run: UpRun): Topology {
  return applyHubNodesOption(applyStoresOption(loadTopology(run.topologyPath), run.stores), run.hubNodes);
}

/** Waits for Ctrl-C or SIGTERM, then stops the dashboard before the deployment it reads from. */
async function stopOnSignal(home: string, pipeline: Pipeline, dashboard: Dashboard | undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stderr.write("ferry: stopping…\n");
  await dashboard?.close();
  await pipeline.stop();
  removeRunState(home);
  process.stderr.write("ferry: stopped\n");
}

/** The flags that hand `run` to the background supervisor. */
function upFlags(run: UpRun): string[] {
  return [
    ...["--home", run.home, "--topology", run.topologyPath, "--stores", run.stores],
    ...(run.role ? [] : ["--port", String(run.port), "--dashboard-port", String(run.dashboardPort)]),
    ...roleFlags(run.role),
    ...(run.role?.role === "hub" ? ["--dashboard-port", String(run.dashboardPort)] : []),
    ...(run.hubNodes === undefined ? [] : ["--hub-nodes", run.hubNodes]),
    ...(run.dashboardHost === undefined ? [] : ["--dashboard-host", run.dashboardHost]),
  ];
}

/** The dashboard, on every host but a cloud's; a dashboard that cannot start stops the rest. */
async function startHubDashboard(run: UpRun, pipeline: Pipeline): Promise<Dashboard | undefined> {
  if (run.role?.role === "cloud") return undefined;
  try {
    return await startDashboard({
      deployment: pipeline.deployment,
      port: run.dashboardPort,
      ...dashboardAccess(run, pipeline.deployment),
    });
  } catch (err) {
    await pipeline.stop();
    removeRunState(run.home);
    throw err;
  }
}

/** Where the dashboard listens and, beyond loopback, its token (the file it is in goes to the terminal, never the token). */
function dashboardAccess(run: UpRun, d: Deployment): { host?: string; token?: string } {
  const host = run.dashboardHost;
  if (host === undefined || isLoopback(host)) return host === undefined ? {} : { host };
  const { token, from } = dashboardToken(d.dataDir);
  process.stderr.write(`ferry: the dashboard on ${host} needs its token (${from}): open it once with ?token=<token>\n`);
  return { host, token };
}

/** Starts `ferry up` as a background supervisor and returns once it is ready (or has failed). */
async function detach(run: UpRun): Promise<number> {
  const { home } = run;
  mkdirSync(join(home, "logs"), { recursive: true });
  const logPath = join(home, "logs", "supervisor.log");
  const log = openSync(logPath, "a");
  const child = spawn(process.execPath, [...NODE_FLAGS, join(REPO_ROOT, "cli/main.ts"), "up", ...upFlags(run)], {
    detached: true,
    stdio: ["ignore", log, log],
    cwd: REPO_ROOT,
  });
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

/**
 * `--dashboard-port` as given (it must be free), else 4280 when free, else 0 (any free port). With
 * `anyPort` (`--port 0`, a throwaway deployment, often one of several at once) the default is 0: two
 * such deployments starting together could both see 4280 free, and the second would fail to bind it.
 */
async function chooseDashboardPort(value: string | undefined, anyPort: boolean): Promise<number> {
  if (value === undefined && anyPort) return 0;
  if (value === undefined) return (await isPortFree(DEFAULT_DASHBOARD_PORT)) ? DEFAULT_DASHBOARD_PORT : 0;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--dashboard-port: "${value}" is not a port number`);
  if (port !== 0 && !(await isPortFree(port)))
    throw new ConfigError(`--dashboard-port: port ${port} is already in use: pass another, or 0 for any free port`);
  return port;
}
