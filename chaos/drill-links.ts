/**
 * Proxies a drill puts between a private deployment's servers, so it can cut, flap and slow the links a
 * real deployment crosses between clouds: each leaf's link to every hub node, and every process's link
 * to a local store server. Set up on the planned deployment before anything starts (the leaves dial
 * the proxies, the workers open the stores through them), through one toxiproxy.
 */
import { join } from "node:path";
import type { StoreOpenSpec } from "../shared/stores/registry.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { freePorts } from "../supervisor/ports.ts";
import { startToxiproxy, type Toxiproxy } from "../supervisor/toxiproxy.ts";

export interface DrillLinks {
  toxiproxy: Toxiproxy;
  /** The names of `cloud`'s leaf links, one per hub node; empty when the leaves were not proxied. */
  leafLinks(cloud: string): string[];
  /** The name of the link to `cloud`'s local store server; undefined when it has none or stores were not proxied. */
  storeLink(cloud: string): string | undefined;
  stop(): Promise<void>;
}

export interface DrillLinkOptions {
  /** Each leaf's link to each hub node. */
  leaves?: boolean;
  /** Every link to a local store server (S3, GCS and Azure servers; fs stores have none). */
  stores?: boolean;
}

const leafLinkName = (cloud: string, node: number): string => `leaf-${cloud}-${node + 1}`;
const storeLinkName = (cloud: string): string => `store-${cloud}`;

/** Starts toxiproxy and points the planned deployment `d` at one proxy per link asked for. */
export async function proxyDrillLinks(d: Deployment, options: DrillLinkOptions): Promise<DrillLinks> {
  const clouds = Object.keys(d.leaves);
  const leafCount = options.leaves ? clouds.length * d.hubNodes.length : 0;
  const storeClouds = options.stores ? Object.keys(d.localStores) : [];
  const ports = await portsBesides(d, 1 + leafCount + storeClouds.length);
  const toxiproxy = await startToxiproxy({
    apiPort: ports.shift() as number,
    logFile: join(d.dataDir, "logs", "toxiproxy.log"),
  });
  try {
    if (options.leaves) {
      for (const cloud of clouds) {
        const leaf = d.leaves[cloud];
        if (!leaf) continue;
        leaf.hubLinkPorts = [];
        for (const [i, node] of d.hubNodes.entries()) {
          const port = ports.shift() as number;
          await toxiproxy.link(leafLinkName(cloud, i), port, `127.0.0.1:${node.leafPort}`);
          leaf.hubLinkPorts.push(port);
        }
      }
    }
    for (const cloud of storeClouds) {
      const port = ports.shift() as number;
      await toxiproxy.link(storeLinkName(cloud), port, `127.0.0.1:${d.localStores[cloud]?.port}`);
      pointStoreAt(d, cloud, port);
    }
  } catch (err) {
    await toxiproxy.stop();
    throw err;
  }
  return {
    toxiproxy,
    leafLinks: (cloud) => (options.leaves && d.leaves[cloud] ? d.hubNodes.map((_, i) => leafLinkName(cloud, i)) : []),
    storeLink: (cloud) => (storeClouds.includes(cloud) ? storeLinkName(cloud) : undefined),
    stop: () => toxiproxy.stop(),
  };
}

/** Free ports that none of the planned servers (not listening yet) will take. */
async function portsBesides(d: Deployment, n: number): Promise<number[]> {
  const planned = new Set([
    ...d.hubNodes.flatMap((h) => [h.port, h.monitorPort, h.leafPort, h.clusterPort ?? 0]),
    ...Object.values(d.leaves).flatMap((l) => [l.port, l.monitorPort]),
    ...Object.values(d.localStores).map((s) => s.port),
  ]);
  const ports = (await freePorts(n + planned.size)).filter((p) => !planned.has(p));
  return ports.slice(0, n);
}

/** Has every process open `cloud`'s store at 127.0.0.1:`port` instead of its server's own port. */
function pointStoreAt(d: Deployment, cloud: string, port: number): void {
  const spec = d.stores[cloud];
  if (spec) d.stores[cloud] = storeSpecAtPort(spec, port);
}

/** `spec` with its endpoint's port replaced by `port`; a spec without an endpoint as it is. */
export function storeSpecAtPort(spec: StoreOpenSpec, port: number): StoreOpenSpec {
  if (!("endpoint" in spec) || typeof spec.endpoint !== "string") return spec;
  const url = new URL(spec.endpoint);
  url.port = String(port);
  const text = url.toString();
  // URL adds a trailing slash to a bare origin; keep the endpoint as it was written.
  return { ...spec, endpoint: spec.endpoint.endsWith("/") ? text : text.replace(/\/$/, "") };
}
