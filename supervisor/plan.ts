import { join, resolve } from "node:path";
import { ConfigError } from "../shared/errors.ts";
import { localServerFor, type StoreOpenSpec } from "../shared/stores/registry.ts";
import type { Topology } from "../shared/topology/config.ts";
import {
  type Deployment,
  HUB_NAME,
  type HubNode,
  hubNodeName,
  type LocalStoreServer,
  type ServerEndpoint,
} from "../shared/topology/deployment.ts";
import { storeOpenSpec } from "../shared/topology/store-config.ts";
import { freePorts } from "./ports.ts";

/** Ports to pin instead of picking free ones (e.g. for docs or a fixed dashboard link). */
export interface PinnedPorts {
  hub?: number;
  hubLeaf?: number;
  hubMonitor?: number;
}

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
  const localClouds = topology.clouds.filter((c) => localServerFor(c.store));
  const nodes = topology.hub.nodes;
  // Per hub node: client, monitor, leaf (and cluster when there are several).
  const perNode = nodes > 1 ? 4 : 3;
  const wanted = perNode * nodes + 2 * topology.clouds.length + localClouds.length - pinned.length;
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

  const hubNodes = planHubNodes(topology, ports, take, endpoint);
  const hub = hubNodes[0] as HubNode;
  const leaves: Record<string, ServerEndpoint> = {};
  const stores: Record<string, StoreOpenSpec> = {};
  const localStores: Record<string, LocalStoreServer> = {};
  for (const cloud of topology.clouds) {
    leaves[cloud.name] = endpoint(cloud.name, cloud.name, take(), take());
    const server = localServerFor(cloud.store);
    const local = server ? { port: take(), dataDir: join(dir, "stores", cloud.name) } : undefined;
    stores[cloud.name] = storeOpenSpec(cloud, dir, local?.port);
    if (server && local) {
      localStores[cloud.name] = { kind: server.kind, ...local, buckets: server.server.buckets(cloud.store) };
    }
  }
  return { topology, dataDir: dir, hub, hubNodes, leaves, stores, localStores };
}

/** The hub's node(s): the pinned ports are the first node's, since that is the URL people are told to use. */
function planHubNodes(
  topology: Topology,
  ports: PinnedPorts,
  take: () => number,
  endpoint: (name: string, domain: string, port: number, monitorPort: number) => ServerEndpoint,
): HubNode[] {
  const nodes = topology.hub.nodes;
  return Array.from({ length: nodes }, (_, i): HubNode => {
    const pin = (p: number | undefined): number => (i === 0 ? p : undefined) ?? take();
    const name = nodes === 1 ? HUB_NAME : hubNodeName(i);
    return {
      ...endpoint(name, topology.hubDomain, pin(ports.hub), pin(ports.hubMonitor)),
      leafPort: pin(ports.hubLeaf),
      ...(nodes > 1 ? { clusterPort: take() } : {}),
    };
  });
}
