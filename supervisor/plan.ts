import { localServerFor } from "../shared/stores/registry.ts";
import type { Topology } from "../shared/topology/config.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { layoutDeployment, type PortPlan } from "../shared/topology/layout.ts";
import { freePorts } from "./ports.ts";

/** Ports to pin instead of picking free ones (e.g. for docs or a fixed dashboard link). */
export interface PinnedPorts {
  hub?: number;
  hubLeaf?: number;
  hubMonitor?: number;
}

/**
 * Places a topology on this machine: absolute folders, a free loopback port for every server (local
 * store servers included), and how each cloud's store is opened.
 */
export async function planDeployment(
  topology: Topology,
  dataDir: string,
  ports: PinnedPorts = {},
): Promise<Deployment> {
  return layoutDeployment(topology, dataDir, await loopbackPorts(topology, ports));
}

/** A free loopback port for every server; the pinned ones are the first hub node's (the URL people are told). */
export async function loopbackPorts(topology: Topology, ports: PinnedPorts = {}): Promise<PortPlan> {
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
  const host = "127.0.0.1";
  const hubNodes = Array.from({ length: nodes }, (_, i) => {
    const pin = (p: number | undefined): number => (i === 0 ? p : undefined) ?? take();
    const port = pin(ports.hub);
    const monitorPort = pin(ports.hubMonitor);
    const leafPort = pin(ports.hubLeaf);
    return { host, port, monitorPort, leafPort, ...(nodes > 1 ? { clusterPort: take() } : {}) };
  });
  const leaves: PortPlan["leaves"] = {};
  const localStores: PortPlan["localStores"] = {};
  for (const cloud of topology.clouds) {
    leaves[cloud.name] = { host, port: take(), monitorPort: take() };
    if (localServerFor(cloud.store)) localStores[cloud.name] = take();
  }
  return { hubNodes, leaves, localStores };
}
