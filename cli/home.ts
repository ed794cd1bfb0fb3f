import { resolve } from "node:path";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError, InputError } from "../shared/errors.ts";
import { type ManifestReader, openManifest } from "../shared/manifest.ts";
import { identityFromEnv, type NatsIdentity } from "../shared/nats/identity.ts";
import {
  connectReliably,
  DEFAULT_SERVER_TIMEOUT_MS,
  type ReliableConnection,
  reliableManifest,
} from "../shared/nats/reliable.ts";
import { type CloudObjects, gatewayObjects } from "../shared/object-urls/gateway-objects.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { openStores } from "../shared/stores/open-store.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { DEPLOYMENT_BUCKET } from "../shared/stream-names.ts";
import { type ClientView, readClientView } from "../shared/topology/client-view.ts";
import { hubUrls, readDeployment } from "../shared/topology/deployment.ts";
import { CLI_IDENTITY } from "../shared/topology/nats-identities.ts";

/** `{ identity }` when there is one (exactOptionalPropertyTypes). */
const withIdentity = (identity: NatsIdentity | undefined): { identity?: NatsIdentity } =>
  identity ? { identity } : {};

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
  hub: { type: "string" },
  timeout: { type: "string" },
  home: { type: "string" },
} as const;

/** Their lines in a command's --help. */
export const SERVER_OPTIONS_HELP = `  --hub <url,...> the hub's client URL(s), for a machine without the deployment's folder: the
                 rest is read from the hub (default: FERRY_HUB; without either, --home)
  --timeout <d>  how long to wait for a server that is silent or unreachable before giving up
                 and saying which, e.g. 30s (default 10s); restarts shorter than this are ridden out
  --home <dir>   the deployment's folder (default: FERRY_HOME or .ferry)`;

/** The option of the commands that move objects' bytes (`get`, `cat`, `ingest --upload`). */
export const OBJECTS_OPTION = { objects: { type: "string" } } as const;

export const OBJECTS_OPTION_HELP = `  --objects <how> how this machine reaches the clouds' objects: "credentials" (its own store
                 credentials from the environment; the default) or "gateway" (a short-lived URL per
                 object from each cloud's gateway: no store credentials here). Default: FERRY_OBJECTS`;

/** How a command reaches objects: its own store credentials, or the clouds' gateways. */
export type ObjectsChoice = "credentials" | "gateway";

/** `--objects` (else FERRY_OBJECTS, else "credentials"), checked before anything connects. */
export function objectsChoice(flag: string | undefined): ObjectsChoice {
  const value = flag ?? (process.env.FERRY_OBJECTS || "credentials");
  if (value === "credentials" || value === "gateway") return value;
  throw new InputError(
    `${flag === undefined ? "FERRY_OBJECTS" : "--objects"}: "${value}" is not "credentials" or "gateway"`,
  );
}

/** Each cloud's objects as `choice` says: the session's stores, or each cloud's gateway over the hub connection. */
export function objectAccess(session: Session, choice: ObjectsChoice): Map<string, CloudObjects> {
  if (choice === "credentials") return session.stores;
  return gatewayObjects(
    session.nc,
    session.deployment.topology.clouds.map((c) => c.name),
  );
}

/** Where a command finds the deployment and how long it waits for its servers. */
export interface SessionOptions {
  /** The deployment's folder on this machine; used when `hubUrls` is not given. */
  home: string;
  /** The hub's URLs (`--hub`, FERRY_HUB): the deployment is read from the hub. */
  hubUrls?: string[];
  timeoutMs: number;
  /** The NATS identity to connect as (default `cli`; `ferry dead-letters replay` is `admin`). */
  identity?: string;
}

/** SERVER_OPTIONS as parsed by parseCommand, checked and with defaults filled in. */
export function sessionOptions(values: {
  hub?: string | undefined;
  timeout?: string | undefined;
  home?: string | undefined;
}): SessionOptions {
  const timeoutMs =
    values.timeout === undefined ? DEFAULT_SERVER_TIMEOUT_MS : parseDuration("--timeout", values.timeout);
  if (timeoutMs <= 0) throw new InputError(`--timeout: "${values.timeout}" must be longer than 0`);
  const hub = values.hub ?? (process.env.FERRY_HUB || undefined);
  const hubUrls = hub === undefined ? undefined : parseHubUrls(values.hub === undefined ? "FERRY_HUB" : "--hub", hub);
  return { home: resolveHome(values.home), timeoutMs, ...(hubUrls ? { hubUrls } : {}) };
}

function parseHubUrls(key: string, text: string): string[] {
  const urls = text
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u !== "");
  for (const u of urls) {
    if (!/^(nats|tls):\/\/[^/\s]+:\d+$/.test(u) || URL.canParse(u) === false)
      throw new InputError(`${key}: "${u}" is not a hub URL such as nats://hub.example.net:4222`);
  }
  if (urls.length === 0) throw new InputError(`${key}: give at least one hub URL such as nats://hub.example.net:4222`);
  return urls;
}

/** A client's view of a running deployment: the hub connection, the manifest, every store. */
export interface Session {
  deployment: ClientView;
  /** The deployment's folder when the session came from it; undefined when read from the hub (`--hub`). */
  home?: string;
  /** The hub connection; requests whose answer matters go through `rc.run`. */
  rc: ReliableConnection;
  nc: NatsConnection;
  hubJs: JetStreamClient;
  /** The manifest, read through `rc.run`. */
  kv: ManifestReader;
  stores: Map<string, BlobStore>;
  close(): Promise<void>;
}

/**
 * Connects to the deployment: through the hub named by `hubUrls`, or the one in `home`. A clear
 * error when nothing is running there or the hub does not answer.
 */
export async function openSession(options: SessionOptions): Promise<Session> {
  const { rc, deployment, home } = options.hubUrls
    ? await throughHub(options.hubUrls, options.timeoutMs, options.identity ?? CLI_IDENTITY)
    : await fromHome(options.home, options.timeoutMs, options.identity ?? CLI_IDENTITY);
  const stores = openStores(deployment);
  const close = async () => {
    await rc.close();
    await Promise.all([...stores.values()].map((s) => s.close()));
  };
  try {
    const hubJs = jetstream(rc.nc, { domain: deployment.topology.hubDomain });
    const kv = await rc.run("opening the manifest", () => openManifest(hubJs));
    const session = { deployment, rc, nc: rc.nc, hubJs, kv: reliableManifest(rc, kv), stores, close };
    return home === undefined ? session : { ...session, home };
  } catch (err) {
    await close();
    throw err;
  }
}

type Reached = { rc: ReliableConnection; deployment: ClientView; home?: string };

async function fromHome(home: string, timeoutMs: number, identity: string): Promise<Reached> {
  const run = readRunState(home);
  if (!run || !isOurProcess(run.supervisorPid, SUPERVISOR_MARKER)) {
    throw new ConfigError(
      `ferry is not running in ${home}: start it with ./ferry up --detach (or pass --home, or --hub <url> for a deployment on another machine)`,
    );
  }
  const deployment = readDeployment(home);
  const rc = await connectReliably(hubUrls(deployment), {
    name: "ferry-cli",
    role: "the hub",
    identity: { name: identity, home: deployment.dataDir },
    timeoutMs,
    hint: `see ${home}/logs/hub.log, or restart with ./ferry down && ./ferry up --detach`,
  });
  return { rc, deployment, home };
}

async function throughHub(hubUrls: string[], timeoutMs: number, identity: string): Promise<Reached> {
  const rc = await connectReliably(hubUrls, {
    name: "ferry-cli",
    role: "the hub",
    timeoutMs,
    ...withIdentity(identityFromEnv(process.env, identity)),
    hint: "check --hub (or FERRY_HUB) and that this machine can reach it",
  });
  try {
    // The hub's own JetStream: its domain is in the view itself.
    const deployment = await rc.run("reading the deployment from the hub", () => readClientView(jetstream(rc.nc)));
    if (!deployment) {
      throw new ConfigError(
        `the hub at ${hubUrls.join(", ")} has no deployment published (KV bucket ${DEPLOYMENT_BUCKET}): restart it with this version's ./ferry up`,
      );
    }
    return { rc, deployment };
  } catch (err) {
    await rc.close();
    throw err;
  }
}
