/**
 * A topology laid out on hosts: given where each server is reached (host and ports), the folders under
 * a data folder, the servers' endpoints and how each cloud's store is opened. `ferry up` lays a
 * topology out on loopback with free ports; `ferry plan` on separate hosts with the topology's ports.
 */
import { join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { trustDeploymentCa } from "../nats/tls-options.ts";
import { localServerFor, type StoreOpenSpec } from "../stores/registry.ts";
import { deploymentTls } from "../tls/deployment-tls.ts";
import type { Topology } from "./config.ts";
import {
  type Deployment,
  HUB_NAME,
  type HubNode,
  hubNodeName,
  type LocalStoreServer,
  type ServerEndpoint,
} from "./deployment.ts";
import { storeOpenSpec } from "./store-config.ts";

/** Where a server is reached. */
export interface ServerPorts {
  host: string;
  port: number;
  monitorPort: number;
}

/** Where every server of a deployment is reached. */
export interface PortPlan {
  hubNodes: Array<ServerPorts & { leafPort: number; clusterPort?: number }>;
  leaves: Record<string, ServerPorts>;
  /** The port of each local store server, by cloud. */
  localStores: Record<string, number>;
}

/** Ports of a cloud's host when hosts are separate: its leaf and its local store server, for its own workers. */
export const CLOUD_HOST_PORTS = { leaf: 4222, monitor: 8222, store: 7070 } as const;

/** The servers of `t` on separate hosts: hub nodes at `hub.addresses` on `hub.ports`, each cloud's servers on loopback of its host. */
export function separateHostsPorts(t: Topology): PortPlan {
  const p = t.hub.ports;
  return {
    hubNodes: t.hub.addresses.map((host) => ({
      host,
      port: p.client,
      monitorPort: p.monitor,
      leafPort: p.leaf,
      ...(t.hub.nodes > 1 ? { clusterPort: p.cluster } : {}),
    })),
    leaves: Object.fromEntries(
      t.clouds.map((c) => [
        c.name,
        { host: "127.0.0.1", port: CLOUD_HOST_PORTS.leaf, monitorPort: CLOUD_HOST_PORTS.monitor },
      ]),
    ),
    localStores: Object.fromEntries(
      t.clouds.filter((c) => localServerFor(c.store)).map((c) => [c.name, CLOUD_HOST_PORTS.store]),
    ),
  };
}

/** The deployment of `topology` with everything under `dataDir` and every server where `ports` says. */
export function layoutDeployment(topology: Topology, dataDir: string, ports: PortPlan): Deployment {
  const dir = resolve(dataDir);
  if (topology.clouds.some((c) => c.name === HUB_NAME))
    throw new ConfigError(`clouds: "${HUB_NAME}" is reserved for the hub server's name; rename that cloud`);
  const endpoint = (name: string, domain: string, at: ServerPorts): ServerEndpoint => ({
    name,
    domain,
    port: at.port,
    monitorPort: at.monitorPort,
    url: `nats://${at.host}:${at.port}`,
    storeDir: join(dir, "nats", name),
    configFile: join(dir, "nats", `${name}.conf`),
  });
  const single = ports.hubNodes.length === 1;
  const hubNodes = ports.hubNodes.map(
    (at, i): HubNode => ({
      ...endpoint(single ? HUB_NAME : hubNodeName(i), topology.hubDomain, at),
      leafPort: at.leafPort,
      ...(at.clusterPort === undefined ? {} : { clusterPort: at.clusterPort }),
    }),
  );
  const leaves: Record<string, ServerEndpoint> = {};
  const stores: Record<string, StoreOpenSpec> = {};
  const localStores: Record<string, LocalStoreServer> = {};
  for (const cloud of topology.clouds) {
    const at = ports.leaves[cloud.name];
    if (!at) throw new Error(`layoutDeployment: no ports for cloud "${cloud.name}"`);
    leaves[cloud.name] = endpoint(cloud.name, cloud.name, at);
    const server = localServerFor(cloud.store);
    const port = ports.localStores[cloud.name];
    stores[cloud.name] = storeOpenSpec(cloud, dir, server ? port : undefined);
    if (server && port !== undefined) {
      const local = { port, dataDir: join(dir, "stores", cloud.name) };
      localStores[cloud.name] = { kind: server.kind, ...local, buckets: server.server.buckets(cloud.store) };
    }
  }
  const tls = deploymentTls(dir, topology.tls);
  trustDeploymentCa(tls.caFile);
  return { topology, dataDir: dir, hub: hubNodes[0] as HubNode, hubNodes, leaves, stores, localStores, tls };
}
