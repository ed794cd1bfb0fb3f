/**
 * The hub's part of the topology: its JetStream domain, how many nats-servers form it (1, or a
 * 3-node cluster), where the clouds reach each node and on which ports.
 */
import { ConfigError } from "../errors.ts";

/** Ports every hub node listens on when it has a host of its own (bundles); locally ferry picks free ones. */
export interface HubPorts {
  /** Clients: the orchestrator, the CLI, the dashboard. @default 4222 */
  client: number;
  /** Leaf links from the clouds. @default 7422 */
  leaf: number;
  /** Routes between the hub nodes. @default 6222 */
  cluster: number;
  /** HTTP monitoring (/healthz, /leafz), kept on loopback. @default 8222 */
  monitor: number;
}

export interface HubSpec {
  /** JetStream domain of the hub. @default "hub" */
  domain: string;
  /** nats-servers forming the hub: 1, or 3 for a cluster with R3 streams. @default 1 */
  nodes: 1 | 3;
  /** Host of each node as the clouds and clients reach it (bundles). @default hub-1, hub-2, hub-3 */
  addresses: string[];
  ports: HubPorts;
}

export const DEFAULT_HUB_PORTS: HubPorts = { client: 4222, leaf: 7422, cluster: 6222, monitor: 8222 };

const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** Compiles `hub` of topology.json; `domainName` checks the domain as every other name is checked. */
export function compileHub(raw: Record<string, unknown>, domainName: (key: string, v: unknown) => string): HubSpec {
  const domain = raw.domain === undefined ? "hub" : domainName("hub.domain", raw.domain);
  const nodes = raw.nodes === undefined ? 1 : raw.nodes;
  if (nodes !== 1 && nodes !== 3) throw new ConfigError(`hub.nodes: ${JSON.stringify(nodes)} is not 1 or 3`);
  const addresses = compileAddresses(raw.addresses, nodes);
  return { domain, nodes, addresses, ports: compilePorts(raw.ports) };
}

/** Stream and bucket replicas on the hub: R3 on a 3-node hub, else 1. Every hub stream and bucket uses it. */
export function hubReplicas(t: { hub: HubSpec }): number {
  return t.hub.nodes;
}

function compileAddresses(raw: unknown, nodes: number): string[] {
  if (raw === undefined) return nodes === 1 ? ["hub"] : Array.from({ length: nodes }, (_, i) => `hub-${i + 1}`);
  if (!Array.isArray(raw) || raw.length !== nodes)
    throw new ConfigError(`hub.addresses: expected a list of ${nodes} host name(s), one per hub node`);
  return raw.map((a, i) => {
    if (typeof a !== "string" || !HOST.test(a))
      throw new ConfigError(`hub.addresses[${i}]: ${JSON.stringify(a)} is not a host name or IP address`);
    return a;
  });
}

function compilePorts(raw: unknown): HubPorts {
  if (raw === undefined) return { ...DEFAULT_HUB_PORTS };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(`hub.ports: expected an object such as {"client":4222,"leaf":7422}`);
  const out = { ...DEFAULT_HUB_PORTS };
  for (const [key, v] of Object.entries(raw)) {
    if (!(key in out))
      throw new ConfigError(`hub.ports.${key}: unknown port (expected ${Object.keys(out).join(", ")})`);
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535)
      throw new ConfigError(`hub.ports.${key}: ${JSON.stringify(v)} is not a port number`);
    out[key as keyof HubPorts] = v;
  }
  return out;
}
