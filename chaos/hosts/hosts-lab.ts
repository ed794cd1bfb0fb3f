/**
 * Hosts that share nothing but TCP, on this machine: the hub (its three nodes on one host, in the AWS
 * region) and each cloud run `ferry up --role ... --home <own folder>` each in a namespace of its own
 * (host-namespace.ts), from bundles written by `ferry plan` and pointed at the proxies between them
 * (host-bundles.ts, wan-links.ts); a client host, whose folder no other host can see, runs the CLI
 * with --hub. The runner itself is the operator: it plans, starts, stops and reads the hosts' folders.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { natsCredentialsDir, seedFile } from "../../shared/nats/credentials.ts";
import { TLS_CA_ENV } from "../../shared/nats/tls-options.ts";
import { REPO_ROOT } from "../../shared/repo-root.ts";
import { pollUntil } from "../../shared/retry.ts";
import { TLS_DIR } from "../../shared/tls/deployment-tls.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { CLI_IDENTITY } from "../../shared/topology/nats-identities.ts";
import type { Role } from "../../shared/topology/processes.ts";
import { NODE_FLAGS } from "../../supervisor/node-flags.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { clientHubUrls, plannedPorts, pointBundleAtWan, wanLinks } from "./host-bundles.ts";
import { type HostLayout, type HostRun, mountNamespaceOf, runInHost, spawnHost, stopHost } from "./host-namespace.ts";
import { startWan, type Wan } from "./wan-links.ts";

/** A host running `ferry up --role`. */
export interface RunningHost {
  name: string;
  dir: string;
  main: ChildProcess;
  /** Its mount namespace: every process in it is this host's. */
  ns: string;
}

export interface HostsLab {
  /** The common parent hidden from every host: `hosts/<name>` and `client`. */
  lab: string;
  clientDir: string;
  /** How the client host is laid out, for one-off commands in it. */
  clientLayout: HostLayout;
  wan: Wan;
  /** The hub host's bundle, as pointed at the network. */
  hub: Deployment;
  hosts: Map<string, RunningHost>;
  /** The hub's client URLs as the client host dials them. */
  hubUrls: string[];
  /** Runs `ferry <args> --hub <urls>` on the client host. */
  client(args: string[], timeoutMs?: number): Promise<HostRun>;
  /** Stops every host (each process by pid), then the network. Idempotent. */
  stop(): Promise<void>;
}

/** Tool locations the set-up exports (no credentials): passed on to every host. */
const TOOL_VARS = ["FERRY_ROOT", "FERRY_NODE", "FERRY_NATS_SERVER", "FERRY_VERSITYGW", "FERRY_FAKE_GCS_SERVER"];
const CLI = [process.execPath, ...NODE_FLAGS, join(REPO_ROOT, "cli/main.ts")];
const READY_MS = 240_000;

/** A host's whole environment: the system PATH, its own folder as home and temp, the tool paths. */
export function hostEnv(own: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    HOME: own,
    TMPDIR: join(own, "tmp"),
    FERRY_HOME: own,
  };
  for (const v of TOOL_VARS) if (process.env[v]) env[v] = process.env[v];
  // Outside the ./ferry wrapper (which exports it), the set-up's own copy.
  const nats = join(REPO_ROOT, ".cache/bin/nats-server");
  if (!env.FERRY_NATS_SERVER && existsSync(nats)) env.FERRY_NATS_SERVER = nats;
  return env;
}

/**
 * The client host as an operator sets one up, from copies out of the hub's bundle into its own folder:
 * the CLI identity's seed (0600), found through FERRY_NATS_HOME, and the deployment's CA, trusted
 * through FERRY_TLS_CA.
 */
function clientHost(layout: HostLayout, hubBundle: string): HostLayout {
  const ca = join(layout.own, "ca.pem");
  copyFileSync(join(hubBundle, TLS_DIR, "ca.pem"), ca);
  mkdirSync(natsCredentialsDir(layout.own), { recursive: true, mode: 0o700 });
  copyFileSync(seedFile(hubBundle, CLI_IDENTITY), seedFile(layout.own, CLI_IDENTITY));
  chmodSync(seedFile(layout.own, CLI_IDENTITY), 0o600);
  return { ...layout, env: { ...layout.env, [TLS_CA_ENV]: ca, FERRY_NATS_HOME: layout.own } };
}

/** Plans the hosts of `topology` under `root`, starts the network and every host; stops all on failure. */
export async function startHostsLab(root: string, topology: object, say: (s: string) => void): Promise<HostsLab> {
  const lab = join(root, "lab");
  const hostsDir = join(lab, "hosts");
  const clientDir = join(lab, "client");
  const logs = join(root, "logs");
  for (const d of [hostsDir, join(clientDir, "tmp"), logs]) mkdirSync(d, { recursive: true });
  const topologyFile = join(root, "topology.json");
  writeFileSync(topologyFile, JSON.stringify(topology, null, 2));
  say(`planning every host's bundle: ferry plan --loopback --out ${hostsDir}`);
  // The planner's CA stays with the runner (the operator); each bundle gets its certificate only.
  const plan = ["plan", "--loopback", "--out", hostsDir, "--topology", topologyFile, "--ca-dir", join(root, "ca")];
  await runCli(plan);
  const clouds = Object.keys(JSON.parse(readFileSync(join(hostsDir, "hub", "deployment.json"), "utf8")).leaves);
  const roles: Array<{ name: string; role: Role }> = [
    { name: "hub", role: { role: "hub" } },
    ...clouds.map((c) => ({ name: c, role: { role: "cloud" as const, cloud: c } })),
  ];
  const layout = (own: string): HostLayout => ({ own, hidden: lab, stash: join(root, "stash"), env: hostEnv(own) });
  const hosts = new Map<string, RunningHost>();
  let wan: Wan | undefined;
  const stop = async (): Promise<void> => {
    // Clouds first, then the hub, as an operator takes hosts down; one that will not stop does not keep the rest up.
    const problems: string[] = [];
    for (const h of [...hosts.values()].reverse())
      await stopHost(h.main, h.ns).catch((err: Error) => problems.push(`host ${h.name}: ${err.message}`));
    hosts.clear();
    await wan?.stop();
    if (problems.length > 0) throw new Error(`stopping the hosts: ${problems.join("; ")}`);
  };
  try {
    const planned = JSON.parse(readFileSync(join(hostsDir, "hub", "deployment.json"), "utf8")) as Deployment;
    wan = await startWan(wanLinks(planned), join(logs, "toxiproxy.log"), plannedPorts(planned));
    const hub = await prepareBundles(hostsDir, roles, wan, topologyFile);
    // The hub first: the clouds' leaves dial it.
    for (const group of [roles.slice(0, 1), roles.slice(1)]) {
      await Promise.all(
        group.map(async ({ name, role }) => {
          const dir = join(hostsDir, name);
          const flags =
            role.role === "hub" ? ["--role", "hub", "--dashboard-port", "0"] : ["--role", "cloud", "--cloud", name];
          const up = [...CLI, "up", ...flags, "--home", dir, "--topology", join(dir, "topology.json")];
          say(`starting host ${name}: ferry up ${flags.join(" ")} --home ${dir}`);
          await startHost({ name, dir, main: spawnHost(layout(dir), up, logFd(logs, name)), ns: "" }, logs, hosts);
        }),
      );
    }
    const hubUrls = clientHubUrls(hub, wan);
    const clientLayout = clientHost(layout(clientDir), join(hostsDir, "hub"));
    const client = (args: string[], timeoutMs = 300_000) =>
      runInHost(clientLayout, [...CLI, ...args, "--hub", hubUrls.join(",")], timeoutMs);
    return { lab, clientDir, clientLayout, wan, hub, hosts, hubUrls, client, stop };
  } catch (err) {
    await stop().catch((e: Error) => say(e.message));
    throw err;
  }
}

/** Points every host's bundle at the network and gives it the topology and a temp folder; returns the hub's. */
async function prepareBundles(
  hostsDir: string,
  roles: Array<{ name: string; role: Role }>,
  wan: Wan,
  topologyFile: string,
): Promise<Deployment> {
  let hub: Deployment | undefined;
  for (const { name, role } of roles) {
    const dir = join(hostsDir, name);
    const d = await pointBundleAtWan(dir, role, wan);
    if (name === "hub") hub = d;
    copyFileSync(topologyFile, join(dir, "topology.json"));
    mkdirSync(join(dir, "tmp"), { recursive: true });
  }
  if (!hub) throw new Error("hosts: the plan wrote no hub bundle");
  return hub;
}

/** Where a host's `ferry up` writes: an open file the child inherits (closed here at once). */
function logFd(logs: string, name: string): number {
  const fd = openSync(join(logs, `host-${name}.log`), "a");
  setImmediate(() => closeSync(fd));
  return fd;
}

/**
 * Waits until a just-spawned host's `ferry up` says it is ready; fails with its log's end if it exits.
 * The host goes into `hosts` as soon as its namespace exists, so a failure still stops all of it.
 */
async function startHost(host: RunningHost, logs: string, hosts: Map<string, RunningHost>): Promise<void> {
  const { name, dir, main } = host;
  const logFile = join(logs, `host-${name}.log`);
  const pid = main.pid;
  if (pid === undefined) throw new Error(`host ${name}: could not start unshare`);
  // The namespace exists once unshare has run; until then the pid is still in ours.
  const ours = mountNamespaceOf(process.pid);
  let ns: string | undefined;
  let exited = false;
  main.once("exit", () => (exited = true));
  await pollUntil(
    `host ${name} is up (log: ${logFile})`,
    async () => {
      if (exited) return true;
      const now = mountNamespaceOf(pid);
      if (ns === undefined && now !== undefined && now !== ours) {
        ns = now;
        hosts.set(name, { ...host, ns });
      }
      return (ns !== undefined && readRunState(dir)?.ready === true) || "not ready yet";
    },
    { timeoutMs: READY_MS, intervalMs: 250 },
  );
  if (exited) throw new Error(`host ${name} exited: ${readFileSync(logFile, "utf8").slice(-2000)}`);
}

/** Runs the CLI here, as the operator planning the hosts. */
function runCli(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI[0] as string, [...CLI.slice(1), ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`ferry ${args.join(" ")} failed (${code}): ${stderr.trim()}`)),
    );
  });
}
