import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { StoreUnavailableError } from "../../shared/errors.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { requestObjectUrl } from "../../shared/object-urls/request.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { type Deployment, hubUrls, writeDeployment } from "../../shared/topology/deployment.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { gatewayName } from "../../shared/topology/processes.ts";
import { startLocalStores } from "../../supervisor/local-stores.ts";
import { startNatsTopology } from "../../supervisor/nats-topology.ts";
import { planDeployment } from "../../supervisor/plan.ts";
import { WorkerProcess } from "../../supervisor/worker-process.ts";
import { REPO_ROOT } from "./cli.ts";
import { eventually } from "./files.ts";

/** A hub, a leaf per cloud, the clouds' local store servers and one gateway process per cloud; nothing else. */
export interface Gateways {
  deployment: Deployment;
  /** A client on the hub, as a process outside every cloud has. */
  nc: NatsConnection;
  /** Each cloud's store, opened with its credentials, to look behind the gateway's back. */
  stores: Map<string, BlobStore>;
  logFile(cloud: string): string;
  stop(): Promise<void>;
}

/** Starts the servers and the gateways of `clouds` and waits until every gateway answers. */
export async function startGateways(clouds: Array<Record<string, unknown>>): Promise<Gateways> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-gateway-"));
  const d = await planDeployment(compileTopology({ clouds }), join(dir, "deploy"));
  writeDeployment(d);
  const logDir = join(dir, "logs");
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nats = await startNatsTopology(d, { logDir });
    stops.push(() => nats.stop());
    const servers = await startLocalStores(d, logDir);
    stops.push(() => Promise.all([...servers.values()].map((s) => s.stop())));
    const logFile = (cloud: string) => join(logDir, `${gatewayName(cloud)}.log`);
    for (const c of d.topology.clouds) {
      const w = new WorkerProcess({
        name: gatewayName(c.name),
        args: [join(REPO_ROOT, "gateway/main.ts"), c.name, d.dataDir],
        logFile: logFile(c.name),
        restart: false,
      });
      w.start();
      stops.push(() => w.stop());
    }
    const nc = await connectNats(hubUrls(d), "test-gateway-client", cliOf(d));
    stops.push(() => nc.close());
    const stores = openStores(d);
    stops.push(() => Promise.all([...stores.values()].map((s) => s.close())));
    for (const c of d.topology.clouds) {
      await eventually(
        () =>
          requestObjectUrl(nc, c.name, "get", "staging/ready/0", { timeoutMs: 1000 }).catch((err: unknown) => {
            if (err instanceof StoreUnavailableError) return undefined;
            throw err;
          }),
        30_000,
        `gateway of ${c.name} answers`,
      );
    }
    return { deployment: d, nc, stores, logFile, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
