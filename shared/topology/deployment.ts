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
  /** Absolute root folder of each cloud's `fs` store, keyed by cloud name. */
  storeRoots: Record<string, string>;
}
