import type { StoreOpenSpec } from "../stores/open-store.ts";
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
}

/** A topology placed on this machine: ports, folders and store roots resolved. Written as deployment.json. */
export interface Deployment {
  topology: Topology;
  /** Folder holding everything the deployment writes (server stores, fs stores, logs). */
  dataDir: string;
  hub: ServerEndpoint & { leafPort: number };
  /** One leaf per cloud, keyed by cloud name. */
  leaves: Record<string, ServerEndpoint>;
  /** How every process opens each cloud's store, keyed by cloud name (no secrets: credentials come from the environment). */
  stores: Record<string, StoreOpenSpec>;
  /** The store servers ferry runs on loopback for clouds whose store says `"local": true`, keyed by cloud name. */
  localStores: Record<string, LocalStoreServer>;
  /** The Jaeger the processes export traces to (OTLP/HTTP base URL) and people open traces in (query/UI URL). */
  jaeger?: { otlpUrl: string; queryUrl: string };
}

/** A store server ferry starts itself: versitygw for s3, fake-gcs-server for gcs, Azurite for azblob. */
export interface LocalStoreServer {
  kind: "s3" | "gcs" | "azblob";
  port: number;
  /** Where it keeps its objects, so a restart finds them again. */
  dataDir: string;
  /** The buckets (or the container) it must have. */
  buckets: string[];
}

/** The folder of a cloud's `fs` store; throws when that cloud uses another kind. */
export function fsRoot(d: Deployment, cloud: string): string {
  const spec = d.stores[cloud];
  if (spec?.kind !== "fs")
    throw new Error(`cloud "${cloud}" does not use an fs store (it uses ${spec?.kind ?? "nothing"})`);
  return spec.root;
}
