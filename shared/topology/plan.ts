import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { writeJsonAtomic } from "../json-file.ts";
import { localStoreEndpoint } from "../launcher/local-stores.ts";
import { freePorts } from "../launcher/ports.ts";
import type { StoreOpenSpec } from "../stores/open-store.ts";
import type { CloudSpec, Topology } from "./config.ts";
import type { Deployment, LocalStoreServer, ServerEndpoint } from "./deployment.ts";

/** Ports to pin instead of picking free ones (e.g. for docs or a fixed dashboard link). */
export interface PinnedPorts {
  hub?: number;
  hubLeaf?: number;
  hubMonitor?: number;
}

/** The hub's server name, store folder and config file stem. */
export const HUB_NAME = "hub";

const DEPLOYMENT_FILE = "deployment.json";

/**
 * Places a topology on this machine: absolute folders, a port for every server (local store servers
 * included), and how each cloud's store is opened.
 */
export async function planDeployment(
  topology: Topology,
  dataDir: string,
  ports: PinnedPorts = {},
): Promise<Deployment> {
  const dir = resolve(dataDir);
  const clash = topology.clouds.find((c) => c.name === HUB_NAME);
  if (clash) {
    throw new ConfigError(`clouds: "${HUB_NAME}" is reserved for the hub server's name; rename that cloud`);
  }
  const pinned = [ports.hub, ports.hubLeaf, ports.hubMonitor].filter((p): p is number => p !== undefined);
  const localClouds = topology.clouds.filter((c) => c.store.kind !== "fs" && c.store.local);
  const wanted = 3 + 2 * topology.clouds.length + localClouds.length - pinned.length;
  // Ask for extra ports and drop pinned ones: a pinned port not yet listening could be handed out again.
  const pool = (await freePorts(wanted + pinned.length)).filter((p) => !pinned.includes(p)).slice(0, wanted);
  const take = (): number => {
    const p = pool.shift();
    if (p === undefined) throw new Error("planDeployment: ran out of free ports");
    return p;
  };

  const endpoint = (name: string, domain: string, port: number, monitorPort: number): ServerEndpoint => ({
    name,
    domain,
    port,
    monitorPort,
    url: `nats://127.0.0.1:${port}`,
    storeDir: join(dir, "nats", name),
    configFile: join(dir, "nats", `${name}.conf`),
  });

  const hub = {
    ...endpoint(HUB_NAME, topology.hubDomain, ports.hub ?? take(), ports.hubMonitor ?? take()),
    leafPort: ports.hubLeaf ?? take(),
  };
  const leaves: Record<string, ServerEndpoint> = {};
  const stores: Record<string, StoreOpenSpec> = {};
  const localStores: Record<string, LocalStoreServer> = {};
  for (const cloud of topology.clouds) {
    leaves[cloud.name] = endpoint(cloud.name, cloud.name, take(), take());
    const local =
      cloud.store.kind !== "fs" && cloud.store.local
        ? { port: take(), dataDir: join(dir, "stores", cloud.name) }
        : undefined;
    stores[cloud.name] = storeOpenSpec(cloud, dir, local?.port);
    if (local && cloud.store.kind !== "fs") {
      const kind = cloud.store.kind;
      localStores[cloud.name] = {
        kind,
        ...local,
        buckets: [cloud.store.kind === "azblob" ? cloud.store.container : cloud.store.bucket],
      };
    }
  }
  return { topology, dataDir: dir, hub, leaves, stores, localStores };
}

/** How workers open a cloud's store; a local server's endpoint is on loopback at `localPort`. */
export function storeOpenSpec(c: CloudSpec, dir: string, localPort: number | undefined): StoreOpenSpec {
  const s = c.store;
  const local =
    localPort === undefined || s.kind === "fs" ? {} : { local: true, endpoint: localStoreEndpoint(s.kind, localPort) };
  switch (s.kind) {
    case "fs":
      return { cloud: c.name, kind: "fs", root: resolve(dir, s.root ?? join("stores", c.name)) };
    case "s3":
      return {
        cloud: c.name,
        ...s,
        forcePathStyle: s.forcePathStyle ?? (s.endpoint !== undefined || localPort !== undefined),
        ...local,
      };
    case "gcs":
      return {
        cloud: c.name,
        ...s,
        ...(localPort === undefined ? {} : { projectId: s.projectId ?? "ferry-local" }),
        ...local,
      };
    case "azblob":
      return { cloud: c.name, ...s, ...local };
  }
}

/** Writes `<dataDir>/deployment.json` atomically, so readers never see half a file. */
export function writeDeployment(d: Deployment): void {
  mkdirSync(d.dataDir, { recursive: true });
  writeJsonAtomic(join(d.dataDir, DEPLOYMENT_FILE), d);
}

/** Reads the deployment written by `ferry up`; a missing file is a ConfigError telling how to start one. */
export function readDeployment(dataDir: string): Deployment {
  const dir = resolve(dataDir);
  const file = join(dir, DEPLOYMENT_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ConfigError(`no running deployment in ${dir}: start one with ./ferry up`, { cause: err });
    }
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${file} is not valid JSON (${(err as Error).message}): restart the deployment with ./ferry up`,
      { cause: err },
    );
  }
  if (!isDeployment(d))
    throw new ConfigError(`${file} is not a ferry deployment: restart the deployment with ./ferry up`);
  return d;
}

function isDeployment(v: unknown): v is Deployment {
  if (typeof v !== "object" || v === null) return false;
  const d = v as Record<string, unknown>;
  const hub = d.hub as Record<string, unknown> | undefined;
  return (
    typeof d.dataDir === "string" &&
    typeof d.topology === "object" &&
    d.topology !== null &&
    typeof hub === "object" &&
    hub !== null &&
    typeof hub.port === "number" &&
    typeof hub.leafPort === "number" &&
    typeof d.leaves === "object" &&
    d.leaves !== null &&
    typeof d.stores === "object" &&
    d.stores !== null &&
    typeof d.localStores === "object" &&
    d.localStores !== null
  );
}
