import { resolve } from "node:path";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError } from "../shared/errors.ts";
import { openManifest } from "../shared/manifest.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { openStores } from "../shared/stores/open-store.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { hubUrls, readDeployment } from "../shared/topology/deployment.ts";
import { isOurProcess, readRunState, SUPERVISOR_MARKER } from "../supervisor/run-state.ts";

/** The folder a deployment lives in: `--home`, else FERRY_HOME, else `.ferry` in the repository. */
export function resolveHome(flag?: string): string {
  return resolve(flag ?? process.env.FERRY_HOME ?? resolve(REPO_ROOT, ".ferry"));
}

/** The topology config: `--topology`, else FERRY_TOPOLOGY, else `topology.json` in the repository. */
export function resolveTopologyPath(flag?: string): string {
  return resolve(flag ?? process.env.FERRY_TOPOLOGY ?? resolve(REPO_ROOT, "topology.json"));
}

/** A client's view of a running deployment: the hub connection, the manifest, every store. */
export interface Session {
  deployment: Deployment;
  nc: NatsConnection;
  hubJs: JetStreamClient;
  kv: KV;
  stores: Map<string, BlobStore>;
  close(): Promise<void>;
}

/** Connects to the deployment in `home`; a clear error when nothing is running there. */
export async function openSession(home: string): Promise<Session> {
  const run = readRunState(home);
  if (!run || !isOurProcess(run.supervisorPid, SUPERVISOR_MARKER)) {
    throw new ConfigError(`ferry is not running in ${home}: start it with ./ferry up --detach (or pass --home)`);
  }
  const deployment = readDeployment(home);
  const nc = await connectNats(hubUrls(deployment), "ferry-cli").catch((err: unknown) => {
    throw new ConfigError(
      `cannot reach the hub at ${deployment.hub.url} (${(err as Error).message}): see ${home}/logs/hub.log, or restart with ./ferry down && ./ferry up --detach`,
    );
  });
  const hubJs = jetstream(nc, { domain: deployment.topology.hubDomain });
  const kv = await openManifest(hubJs);
  const stores = openStores(deployment);
  return {
    deployment,
    nc,
    hubJs,
    kv,
    stores,
    close: async () => {
      await nc.close();
      await Promise.all([...stores.values()].map((s) => s.close()));
    },
  };
}
