import { resolve } from "node:path";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError, InputError } from "../shared/errors.ts";
import { type ManifestReader, openManifest } from "../shared/manifest.ts";
import {
  connectReliably,
  DEFAULT_SERVER_TIMEOUT_MS,
  type ReliableConnection,
  reliableManifest,
} from "../shared/nats/reliable.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { openStores } from "../shared/stores/open-store.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { readDeployment } from "../shared/topology/deployment.ts";
import { parseDuration } from "../shared/units.ts";
import { isOurProcess, readRunState, SUPERVISOR_MARKER } from "../supervisor/run-state.ts";

/** The folder a deployment lives in: `--home`, else FERRY_HOME, else `.ferry` in the repository. */
export function resolveHome(flag?: string): string {
  return resolve(flag ?? process.env.FERRY_HOME ?? resolve(REPO_ROOT, ".ferry"));
}

/** The topology config: `--topology`, else FERRY_TOPOLOGY, else `topology.json` in the repository. */
export function resolveTopologyPath(flag?: string): string {
  return resolve(flag ?? process.env.FERRY_TOPOLOGY ?? resolve(REPO_ROOT, "topology.json"));
}

/** The options of every command that talks to the deployment's servers. */
export const SERVER_OPTIONS = {
  timeout: { type: "string" },
  home: { type: "string" },
} as const;

/** Their lines in a command's --help. */
export const SERVER_OPTIONS_HELP = `  --timeout <d>  how long to wait for a server that is silent or unreachable before giving up
                 and saying which, e.g. 30s (default 10s); restarts shorter than this are ridden out
  --home <dir>   the deployment's folder (default: FERRY_HOME or .ferry)`;

/** Where a command finds the deployment and how long it waits for its servers. */
export interface SessionOptions {
  home: string;
  timeoutMs: number;
}

/** SERVER_OPTIONS as parsed by parseCommand, checked and with defaults filled in. */
export function sessionOptions(values: { timeout?: string | undefined; home?: string | undefined }): SessionOptions {
  const timeoutMs =
    values.timeout === undefined ? DEFAULT_SERVER_TIMEOUT_MS : parseDuration("--timeout", values.timeout);
  if (timeoutMs <= 0) throw new InputError(`--timeout: "${values.timeout}" must be longer than 0`);
  return { home: resolveHome(values.home), timeoutMs };
}

/** A client's view of a running deployment: the hub connection, the manifest, every store. */
export interface Session {
  deployment: Deployment;
  /** The hub connection; requests whose answer matters go through `rc.run`. */
  rc: ReliableConnection;
  nc: NatsConnection;
  hubJs: JetStreamClient;
  /** The manifest, read through `rc.run`. */
  kv: ManifestReader;
  stores: Map<string, BlobStore>;
  close(): Promise<void>;
}

/** Connects to the deployment in `home`; a clear error when nothing is running there or the hub does not answer. */
export async function openSession(options: SessionOptions): Promise<Session> {
  const { home, timeoutMs } = options;
  const run = readRunState(home);
  if (!run || !isOurProcess(run.supervisorPid, SUPERVISOR_MARKER)) {
    throw new ConfigError(`ferry is not running in ${home}: start it with ./ferry up --detach (or pass --home)`);
  }
  const deployment = readDeployment(home);
  const rc = await connectReliably([deployment.hub.url], {
    name: "ferry-cli",
    role: "the hub",
    timeoutMs,
    hint: `see ${home}/logs/hub.log, or restart with ./ferry down && ./ferry up --detach`,
  });
  const stores = openStores(deployment);
  const close = async () => {
    await rc.close();
    await Promise.all([...stores.values()].map((s) => s.close()));
  };
  try {
    const hubJs = jetstream(rc.nc, { domain: deployment.topology.hubDomain });
    const kv = await rc.run("opening the manifest", () => openManifest(hubJs));
    return { deployment, rc, nc: rc.nc, hubJs, kv: reliableManifest(rc, kv), stores, close };
  } catch (err) {
    await close();
    throw err;
  }
}
