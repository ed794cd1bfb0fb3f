/**
 * Each host's bundle, pointed at the network between the hosts. `ferry plan --loopback` writes every
 * host's bundle on this machine (free loopback ports); here every address by which one host reaches
 * another (a leaf's remotes to the hub nodes, a store server of another cloud) is replaced by the
 * address of its proxy, and the bundle is written again with plan's own writer. On separate machines
 * the same addresses come from the topology (hub.addresses, hub.ports, store endpoints) instead.
 */

import { type Deployment, hubNodeName, readDeployment } from "../../shared/topology/deployment.ts";
import { LOCAL_RENDER } from "../../shared/topology/nats-config.ts";
import type { Role } from "../../shared/topology/processes.ts";
import { writeBundle } from "../../supervisor/bundle.ts";
import { storeSpecAtPort } from "../drill-links.ts";
import type { LinkSpec, Region, Wan } from "./wan-links.ts";

/** Where the hub's host (and the client) sit. */
export const HUB_REGION: Region = "aws";

/** The region of a cloud named aws, gcp or azure. */
export function regionOf(cloud: string): Region {
  if (cloud === "aws" || cloud === "gcp" || cloud === "azure") return cloud;
  throw new Error(`hosts: cloud "${cloud}" has no region here (name the clouds aws, gcp and azure)`);
}

/** The link from a cloud's leaf to hub node `i`'s leaf port. */
export const leafLink = (cloud: string, i: number): string => `leaf-${cloud}-${hubNodeName(i)}`;
/** The link from the client to hub node `i`'s client port. */
export const clientLink = (i: number): string => `client-${hubNodeName(i)}`;
/** The link from host `from` (`hub` or a cloud) to cloud `to`'s store server. */
export const storeLink = (from: string, to: string): string => `store-${from}-${to}`;

/**
 * Every link between the hosts of the planned deployment `d`: each leaf to each hub node, the client
 * to each hub node, the hub and every cloud to each other cloud's store server.
 */
export function wanLinks(d: Deployment): LinkSpec[] {
  const clouds = Object.keys(d.leaves);
  const links: LinkSpec[] = [];
  for (const [i, node] of d.hubNodes.entries()) {
    links.push({ name: clientLink(i), from: HUB_REGION, to: HUB_REGION, upstreamPort: node.port });
    for (const c of clouds)
      links.push({ name: leafLink(c, i), from: regionOf(c), to: HUB_REGION, upstreamPort: node.leafPort });
  }
  for (const to of clouds) {
    const port = d.localStores[to]?.port;
    if (port === undefined) throw new Error(`hosts: cloud "${to}" runs no local store server`);
    for (const from of ["hub", ...clouds].filter((f) => f !== to)) {
      const region = from === "hub" ? HUB_REGION : regionOf(from);
      links.push({ name: storeLink(from, to), from: region, to: regionOf(to), upstreamPort: port });
    }
  }
  return links;
}

/** Every port the planned deployment `d`'s servers will listen on. */
export function plannedPorts(d: Deployment): number[] {
  return [
    ...d.hubNodes.flatMap((n) => [n.port, n.monitorPort, n.leafPort, n.clusterPort ?? 0]),
    ...Object.values(d.leaves).flatMap((l) => [l.port, l.monitorPort]),
    ...Object.values(d.localStores).map((s) => s.port),
  ].filter((p) => p > 0);
}

/** The hub's client URLs as the client dials them: through its links. */
export function clientHubUrls(d: Deployment, wan: Wan): string[] {
  return d.hubNodes.map((_, i) => `nats://127.0.0.1:${wan.port(clientLink(i))}`);
}

/**
 * Rewrites the bundle in `dir` (planned for `role`) so that everything it reaches on another host
 * goes through `wan`. Hub nodes stop advertising their listen addresses, so a leaf or a client never
 * learns a way around its proxy.
 */
export async function pointBundleAtWan(dir: string, role: Role, wan: Wan): Promise<Deployment> {
  const d = readDeployment(dir);
  const self = role.role === "hub" ? "hub" : role.cloud;
  if (role.role === "cloud") {
    d.hubNodes = d.hubNodes.map((n, i) => ({ ...n, leafPort: wan.port(leafLink(role.cloud, i)) }));
    d.hub = d.hubNodes[0] ?? d.hub;
  }
  for (const [cloud, spec] of Object.entries(d.stores)) {
    if (cloud === self || !("endpoint" in spec) || typeof spec.endpoint !== "string") continue;
    d.stores[cloud] = storeSpecAtPort(spec, wan.port(storeLink(self, cloud)));
  }
  await writeBundle(d, role, { ...LOCAL_RENDER, advertise: false });
  return d;
}
