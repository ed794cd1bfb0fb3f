/**
 * The network between the hosts: every link from one host to another goes through a toxiproxy proxy
 * that adds the round-trip time measured between the real clouds' regions (half each way) and caps
 * the bandwidth. Taking the toxics off leaves the same proxies on loopback speed, for comparison.
 */
import { freePorts } from "../../supervisor/ports.ts";
import { startToxiproxy, type Toxiproxy } from "../../supervisor/toxiproxy.ts";

/** The regions the hosts sit in. The hub (and the client) sit in the AWS region. */
export type Region = "aws" | "gcp" | "azure";

/**
 * Round-trip times between regions, in ms: AWS-GCP ~60 and AWS-Azure ~93 as measured between real
 * clouds (../shared/TOOLCHAIN.md); GCP-Azure ~75 chosen between them; ~2 within one region.
 */
export const RTT_MS: Record<Region, Record<Region, number>> = {
  aws: { aws: 2, gcp: 60, azure: 93 },
  gcp: { aws: 60, gcp: 2, azure: 75 },
  azure: { aws: 93, gcp: 75, azure: 2 },
};

/** A link's bandwidth cap, each way, by default: 25 MB/s (200 Mbit/s). */
export const DEFAULT_BANDWIDTH_KBPS = 25_000;

/** One link wanted: from a host in `from` to a server in `to` listening on 127.0.0.1:`upstreamPort`. */
export interface LinkSpec {
  name: string;
  from: Region;
  to: Region;
  upstreamPort: number;
}

/** A link as set up: where the host dials instead of the server. */
export interface WanLink extends LinkSpec {
  listenPort: number;
  rttMs: number;
}

export interface Wan {
  toxiproxy: Toxiproxy;
  links: Map<string, WanLink>;
  /** The proxy port standing for `name`'s server; throws on an unknown link. */
  port(name: string): number;
  /** Latency (half the RTT each way, 10 % jitter) and the bandwidth cap on every link. */
  slow(bandwidthKBps: number): Promise<void>;
  /** Takes every toxic off: the same links at loopback speed. */
  unslow(): Promise<void>;
  stop(): Promise<void>;
}

const TOXICS = ["latency-up", "latency-down", "bandwidth-up", "bandwidth-down"];

/**
 * Starts toxiproxy with one proxy per link, no toxics yet. `taken`: ports planned for servers that
 * are not listening yet, which the proxies must not take.
 */
export async function startWan(specs: LinkSpec[], logFile: string, taken: number[]): Promise<Wan> {
  const free = await freePorts(specs.length + 1 + taken.length);
  const [apiPort, ...ports] = free.filter((p) => !taken.includes(p));
  const toxiproxy = await startToxiproxy({ apiPort: apiPort as number, logFile });
  const links = new Map<string, WanLink>();
  try {
    for (const [i, spec] of specs.entries()) {
      const listenPort = ports[i] as number;
      await toxiproxy.link(spec.name, listenPort, `127.0.0.1:${spec.upstreamPort}`);
      links.set(spec.name, { ...spec, listenPort, rttMs: RTT_MS[spec.from][spec.to] });
    }
  } catch (err) {
    await toxiproxy.stop();
    throw err;
  }
  let slowed = false;
  return {
    toxiproxy,
    links,
    port(name) {
      const link = links.get(name);
      if (!link) throw new Error(`wan: no link "${name}"`);
      return link.listenPort;
    },
    async slow(bandwidthKBps) {
      for (const link of links.values()) {
        for (const stream of ["upstream", "downstream"] as const) {
          const dir = stream === "upstream" ? "up" : "down";
          // Whole milliseconds that add up to the round trip: 93 is 46 out and 47 back.
          const latency = stream === "upstream" ? Math.floor(link.rttMs / 2) : Math.ceil(link.rttMs / 2);
          await toxiproxy.addToxic(link.name, {
            name: `latency-${dir}`,
            type: "latency",
            stream,
            attributes: { latency, jitter: Math.round(latency / 10) },
          });
          await toxiproxy.addToxic(link.name, {
            name: `bandwidth-${dir}`,
            type: "bandwidth",
            stream,
            attributes: { rate: bandwidthKBps },
          });
        }
      }
      slowed = true;
    },
    async unslow() {
      if (!slowed) return;
      for (const link of links.values()) for (const t of TOXICS) await toxiproxy.removeToxic(link.name, t);
      slowed = false;
    },
    stop: () => toxiproxy.stop(),
  };
}
