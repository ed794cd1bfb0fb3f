/**
 * One host's bundle, what `ferry plan` writes: the folder an operator copies to one machine. It holds
 * the host's nats-server config(s), deployment.json (no secrets), credentials.env naming the
 * credentials the host's processes read (names only, commented out: the operator fills them in),
 * and one systemd unit per process of the host's role, from the same process list `ferry up` runs.
 */
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { natsCredentialsDir, seedFile } from "../shared/nats/credentials.ts";
import { toolBinary } from "../shared/process/binaries.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { localServerOf, storeKindOf } from "../shared/stores/registry.ts";
import type { CertFiles } from "../shared/tls/certificates.ts";
import { ensureServerCerts } from "../shared/tls/deployment-tls.ts";
import { type Deployment, type ServerEndpoint, writeDeployment } from "../shared/topology/deployment.ts";
import { natsAuthFor } from "../shared/topology/nats-auth-setup.ts";
import { q, type RenderOptions, renderHubConfig, renderLeafConfig } from "../shared/topology/nats-config.ts";
import { leafIdentity } from "../shared/topology/nats-identities.ts";
import { deploymentProcesses, type ProcessSpec, type Role } from "../shared/topology/processes.ts";
import { resolveNatsServerBinary } from "./nats-server.ts";
import { NODE_FLAGS } from "./node-flags.ts";

export const CREDENTIALS_FILE = "credentials.env";
export const UNITS_DIR = "systemd";

/** The unit file of a process: `ferry-<name>.service`. */
export const unitName = (processName: string): string => `ferry-${processName}.service`;

/**
 * Writes the bundle of the host running `role` into `d.dataDir` (the folder the host runs from).
 * `render` says where its servers listen and how they reach the hub. With `ca`, the host's servers get
 * certificates signed by it in `tls/`, next to a copy of its certificate (never its key); without,
 * the bundle keeps the ones it has. Returns the files written, relative.
 */
export async function writeBundle(d: Deployment, role: Role, render: RenderOptions, ca?: CertFiles): Promise<string[]> {
  const dir = d.dataDir;
  const written: string[] = [];
  const put = (rel: string, text: string): void => {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
    written.push(rel);
  };
  writeDeployment(d);
  written.push("deployment.json");
  const processes = deploymentProcesses(d.topology, role);
  const locked: RenderOptions = { ...render, auth: natsAuthFor(d.dataDir, d.topology, role, q) };
  for (const p of processes) if (p.kind === "nats-server") put(natsConfigPath(d, p), natsConfig(d, p, locked));
  if (ca) written.push(...ensureServerCerts(d, roleServers(d, processes), ca).map((f) => relative(dir, f)));
  put(CREDENTIALS_FILE, credentialsEnv(d, role));
  for (const p of processes) put(join(UNITS_DIR, unitName(p.name)), await unit(d, p));
  return written;
}

/** The nats-servers among a host's processes. */
function roleServers(d: Deployment, processes: ProcessSpec[]): ServerEndpoint[] {
  return processes.flatMap((p) => {
    if (p.kind !== "nats-server") return [];
    const ep = p.node === undefined ? d.leaves[p.name] : d.hubNodes[p.node];
    return ep ? [ep] : [];
  });
}

function natsConfigPath(d: Deployment, p: ProcessSpec): string {
  const ep = p.node === undefined ? d.leaves[p.name] : d.hubNodes[p.node];
  if (!ep) throw new Error(`bundle: no server "${p.name}" in the deployment`);
  mkdirSync(ep.storeDir, { recursive: true });
  return join("nats", `${ep.name}.conf`);
}

function natsConfig(d: Deployment, p: ProcessSpec, render: RenderOptions): string {
  return p.node === undefined ? renderLeafConfig(d, p.name, render) : renderHubConfig(d, p.node, render);
}

/**
 * The store this host's processes open, by its variables' names: a cloud host its own cloud's only
 * (other clouds' objects are reached through their gateways); a hub host none (the orchestrator
 * opens no store).
 */
function credentialsEnv(d: Deployment, role: Role): string {
  const lines = [
    "# The credentials this host's processes read from their environment: names only.",
    "# Uncomment and fill in what your credentials need (see README, Real clouds); keep this file 0600.",
    "# Local store servers and fs stores need none.",
  ];
  if (role.role === "hub") lines.push("", "# The hub's processes open no store: nothing to fill in.");
  const own = Object.entries(d.stores).filter(([cloud]) => role.role === "cloud" && cloud === role.cloud);
  for (const [cloud, spec] of own) {
    const kind = storeKindOf(spec);
    lines.push("", `# ${cloud}: ${kind.describe(spec)}`);
    if (kind.credentialEnv.length === 0) lines.push("#   (no credentials)");
    for (const name of kind.credentialEnv) lines.push(`#${name}=`);
  }
  return `${lines.join("\n")}\n`;
}

async function unit(d: Deployment, p: ProcessSpec): Promise<string> {
  const exec = await execStart(d, p);
  return `${[
    "# Generated by ./ferry plan from the topology. One process of this host's role.",
    "[Unit]",
    `Description=ferry ${p.name} (${p.kind}, ${p.role.role === "hub" ? "hub" : `cloud ${p.role.cloud}`})`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    `ExecStart=${exec.map(quoteArg).join(" ")}`,
    `WorkingDirectory=${REPO_ROOT}`,
    `EnvironmentFile=-${join(d.dataDir, CREDENTIALS_FILE)}`,
    ...(p.kind === "jaeger" ? ["Environment=JAEGER_LISTEN_HOST=127.0.0.1"] : []),
    "Restart=always",
    "RestartSec=1",
    "TimeoutStopSec=20",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ].join("\n")}\n`;
}

/** The command line of a process, as `ferry up` would run it. */
async function execStart(d: Deployment, p: ProcessSpec): Promise<string[]> {
  if (p.kind === "nats-server") {
    const ep = p.node === undefined ? d.leaves[p.name] : d.hubNodes[p.node];
    return [resolveNatsServerBinary(), "-c", ep?.configFile ?? ""];
  }
  if (p.kind === "store-server") {
    const cloud = p.role.role === "cloud" ? p.role.cloud : "";
    const local = d.localStores[cloud];
    if (!local) throw new Error(`bundle: cloud "${cloud}" runs no local store server`);
    const spec = await localServerOf(local.kind).process({ port: local.port, dataDir: local.dataDir });
    return [spec.binary, ...spec.args];
  }
  if (p.kind === "jaeger") return [toolBinary("jaeger")];
  if (!p.script) throw new Error(`bundle: process "${p.name}" has no command`);
  return [process.execPath, ...NODE_FLAGS, join(REPO_ROOT, p.script.file), ...p.script.args, d.dataDir];
}

/** systemd splits ExecStart on spaces; quote what holds one. */
function quoteArg(a: string): string {
  return /[\s"\\]/.test(a) ? `"${a.replace(/["\\]/g, (c) => `\\${c}`)}"` : a;
}

/** Copies `cloud`'s leaf-link seed from the hub's bundle into the cloud's (0600 in a 0700 folder). */
export function copyLeafSeed(hubDir: string, cloudDir: string, cloud: string): void {
  const name = leafIdentity(cloud);
  mkdirSync(natsCredentialsDir(cloudDir), { recursive: true, mode: 0o700 });
  copyFileSync(seedFile(hubDir, name), seedFile(cloudDir, name));
  chmodSync(seedFile(cloudDir, name), 0o600);
}
