import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { waitForLeafLinks } from "../shared/nats/monitoring.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { writeServerConfigs } from "../shared/topology/nats-config.ts";
import { type Role, runsHubNode } from "../shared/topology/processes.ts";
import { NatsServer, type StartOptions } from "./nats-server.ts";
import { startAll } from "./start-all.ts";

/** The running hub and leaf servers of one deployment. */
export interface NatsTopology {
  /** The hub's first node; throws on a host that runs no hub (`--role cloud`). */
  readonly hub: NatsServer;
  /** Every hub node, in the deployment's order (`hub` is the first). */
  hubNodes: NatsServer[];
  /** Keyed by cloud name. */
  leaves: Record<string, NatsServer>;
  /** Stops the leaves, then the hub. Safe to call twice. */
  stop(): Promise<void>;
}

export interface NatsTopologyOptions {
  /** Folder for `<server>.log` files. @default <dataDir>/logs */
  logDir?: string;
  /** nats-server binary. @default resolveNatsServerBinary() */
  binary?: string;
  /** Per-server readiness deadline. @default 15000 */
  readyTimeoutMs?: number;
  /** How long to wait for every leaf to link to the hub. @default 15000 */
  linkTimeoutMs?: number;
  /**
   * Only this host's servers: the hub node(s) for `hub`, that cloud's leaf for a cloud. A host of one
   * role does not wait for links: the other hosts may start later, and a leaf works on its own.
   */
  role?: Role;
  /** Start from the config files already there (a host's bundle from `ferry plan`) instead of writing them. @default false */
  keepConfigs?: boolean;
}

/** Writes the server configs, starts the hub and every leaf, and waits until every leaf is linked. */
export async function startNatsTopology(d: Deployment, opts: NatsTopologyOptions = {}): Promise<NatsTopology> {
  if (opts.keepConfigs)
    for (const ep of [...d.hubNodes, ...Object.values(d.leaves)]) mkdirSync(ep.storeDir, { recursive: true });
  else writeServerConfigs(d, opts.role);
  const logDir = opts.logDir ?? join(d.dataDir, "logs");
  const startOpts = (name: string): StartOptions => ({
    logFile: join(logDir, `${name}.log`),
    ...(opts.binary === undefined ? {} : { binary: opts.binary }),
    ...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }),
  });

  let hubNodes: NatsServer[] = [];
  const started: NatsServer[] = [];
  const stopAll = async (): Promise<void> => {
    // Leaves first, so they do not log a burst of reconnect errors against a vanished hub.
    await Promise.all(started.filter((s) => !hubNodes.includes(s)).map((s) => s.stop()));
    await Promise.all(hubNodes.map((s) => s.stop()));
  };
  try {
    // A cluster's nodes together: each one's JetStream is ready only once it has met the others.
    const role = opts.role;
    const ourHub = d.hubNodes.filter((_, i) => runsHubNode(role, i));
    const hubStarts = ourHub.map((n) => [n.name, () => NatsServer.start(n, startOpts(n.name))] as const);
    hubNodes = [...(await startAll(hubStarts, (s) => s.stop())).values()];
    const ourLeaves = Object.entries(d.leaves).filter(
      ([c]) => role === undefined || (role.role === "cloud" && role.cloud === c),
    );
    const starts = ourLeaves.map(([c, leaf]) => [c, () => NatsServer.start(leaf, startOpts(c))] as const);
    const leaves = Object.fromEntries(await startAll(starts, (s) => s.stop()));
    started.push(...Object.values(leaves));
    if (role === undefined) await waitForLeafLinks(d.hubNodes, Object.keys(d.leaves), opts.linkTimeoutMs ?? 15_000);

    let stopping: Promise<void> | undefined;
    return {
      get hub() {
        const first = hubNodes[0];
        if (!first) throw new Error("this host runs no hub node (it runs one cloud's role)");
        return first;
      },
      hubNodes,
      leaves,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
