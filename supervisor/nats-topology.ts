import { join } from "node:path";
import { waitForLeafLinks } from "../shared/nats/monitoring.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { writeServerConfigs } from "../shared/topology/nats-config.ts";
import { NatsServer, type StartOptions } from "./nats-server.ts";
import { startAll } from "./start-all.ts";

/** The running hub and leaf servers of one deployment. */
export interface NatsTopology {
  /** The hub's first node. */
  hub: NatsServer;
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
}

/** Writes the server configs, starts the hub and every leaf, and waits until every leaf is linked. */
export async function startNatsTopology(d: Deployment, opts: NatsTopologyOptions = {}): Promise<NatsTopology> {
  writeServerConfigs(d);
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
    const hubStarts = d.hubNodes.map((n) => [n.name, () => NatsServer.start(n, startOpts(n.name))] as const);
    hubNodes = [...(await startAll(hubStarts, (s) => s.stop())).values()];
    const hub = hubNodes[0] as NatsServer;
    const starts = Object.entries(d.leaves).map(
      ([c, leaf]) => [c, () => NatsServer.start(leaf, startOpts(c))] as const,
    );
    const leaves = Object.fromEntries(await startAll(starts, (s) => s.stop()));
    started.push(...Object.values(leaves));
    await waitForLeafLinks(d.hubNodes, Object.keys(d.leaves), opts.linkTimeoutMs ?? 15_000);

    let stopping: Promise<void> | undefined;
    return { hub, hubNodes, leaves, stop: () => (stopping ??= stopAll()) };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
