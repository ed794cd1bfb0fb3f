import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { writeJsonAtomic } from "../json-file.ts";
import { trustDeploymentCa } from "../nats/tls-options.ts";
import { isFsOpenSpec } from "../stores/fs/kind.ts";
import type { LocalServerKind, StoreOpenSpec } from "../stores/registry.ts";
import type { DeploymentTls } from "../tls/deployment-tls.ts";
import type { Topology } from "./config.ts";

/** One nats-server of a running deployment, all on loopback. */
export interface ServerEndpoint {
  /** `hub` or the cloud's name; also the server_name. */
  name: string;
  /** JetStream domain of this server. */
  domain: string;
  port: number;
  /** HTTP monitoring port (/healthz, /varz, /leafz). */
  monitorPort: number;
  /** nats://127.0.0.1:<port> */
  url: string;
  /** JetStream store folder. */
  storeDir: string;
  /** Where its generated config file is written. */
  configFile: string;
  /**
   * A leaf only: the ports it dials for each hub node instead of the node's `leafPort`, when a proxy
   * stands between them (the partition drill cuts the link there).
   */
  hubLinkPorts?: number[];
}

/** One nats-server of the hub: a single hub, or one node of its cluster. */
export interface HubNode extends ServerEndpoint {
  /** Where the clouds' leaves connect. */
  leafPort: number;
  /** Routes to the other nodes; only when the hub is a cluster. */
  clusterPort?: number;
}

/** A topology placed on this machine: ports, folders and store roots resolved. Written as deployment.json. */
export interface Deployment {
  topology: Topology;
  /** Folder holding everything the deployment writes (server stores, fs stores, logs). */
  dataDir: string;
  /** The hub's first node (the only one unless `hub.nodes` is 3). */
  hub: HubNode;
  /** Every node of the hub, in order; `hub` is the first. */
  hubNodes: HubNode[];
  /** One leaf per cloud, keyed by cloud name. */
  leaves: Record<string, ServerEndpoint>;
  /** How every process opens each cloud's store, keyed by cloud name (no secrets: credentials come from the environment). */
  stores: Record<string, StoreOpenSpec>;
  /** The store servers ferry runs on loopback for clouds whose store says `"local": true`, keyed by cloud name. */
  localStores: Record<string, LocalStoreServer>;
  /** Where the servers' certificates and the CA every client trusts are (paths only). */
  tls: DeploymentTls;
  /** The Jaeger the processes export traces to (OTLP/HTTP base URL) and people open traces in (query/UI URL). */
  jaeger?: { otlpUrl: string; queryUrl: string };
}

/** A store server ferry starts itself (its kind's `localServer`: versitygw for s3, fake-gcs-server for gcs, Azurite for azblob). */
export interface LocalStoreServer {
  kind: LocalServerKind;
  port: number;
  /** Where it keeps its objects, so a restart finds them again. */
  dataDir: string;
  /** The buckets (or the container) it must have. */
  buckets: string[];
}

/** The folder of a cloud's `fs` store; throws when that cloud uses another kind. */
export function fsRoot(d: Deployment, cloud: string): string {
  const spec = d.stores[cloud];
  if (!spec || !isFsOpenSpec(spec))
    throw new Error(`cloud "${cloud}" does not use an fs store (it uses ${spec?.kind ?? "nothing"})`);
  return spec.root;
}

/** The hub's server name, store folder and config file stem (a cluster's nodes are `hub-1`, `hub-2`, `hub-3`). */
export const HUB_NAME = "hub";

/** `hub-1`, `hub-2`, `hub-3`: a cluster node's server name, store folder and config file stem. */
export const hubNodeName = (index: number): string => `${HUB_NAME}-${index + 1}`;

/** Every hub node's client URL: hub clients list them all, so losing one node only moves the connection. */
export function hubUrls(d: Deployment): string[] {
  return d.hubNodes.map((n) => n.url);
}

const DEPLOYMENT_FILE = "deployment.json";

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
  trustDeploymentCa(d.tls.caFile);
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
    Array.isArray(d.hubNodes) &&
    typeof d.leaves === "object" &&
    d.leaves !== null &&
    typeof d.stores === "object" &&
    d.stores !== null &&
    typeof d.localStores === "object" &&
    d.localStores !== null &&
    // Written before every link was TLS: started again (or planned again), it gets its certificates.
    typeof (d.tls as Record<string, unknown> | undefined)?.caFile === "string"
  );
}
