import { join } from "node:path";
import { type LocalServerKind, localServerOf } from "../shared/stores/registry.ts";
import type { LocalServerOptions } from "../shared/stores/store-kind.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { ServerProcess } from "./server-process.ts";
import { startAll } from "./start-all.ts";

export interface LocalStoreServerOptions extends LocalServerOptions {
  /** Buckets (or containers) to create when missing. */
  buckets: string[];
}

/**
 * Starts the local server of a store kind (versitygw for s3, fake-gcs-server for gcs, Azurite for
 * azblob) on 127.0.0.1:`port`, waits until it answers, creates the missing `buckets`, and returns it
 * running. Its data persists in `dataDir`, so `restart()` keeps every object.
 */
export async function startLocalStoreServer(
  kind: LocalServerKind,
  options: LocalStoreServerOptions,
): Promise<ServerProcess> {
  const local = localServerOf(kind);
  const server = new ServerProcess(await local.process(options));
  await server.start();
  try {
    await local.createBuckets(local.endpoint(options.port), options.buckets);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/**
 * Starts the store server of every cloud whose store is `"local": true` (in parallel), each with its
 * buckets made; if one fails, those already started are stopped and the first error is rethrown.
 * Keyed by cloud name. `only`: the cloud(s) whose server this host runs (`ferry up --role`).
 */
export async function startLocalStores(
  d: Deployment,
  logDir: string,
  only?: string | string[],
): Promise<Map<string, ServerProcess>> {
  const wanted = only === undefined ? undefined : [only].flat();
  const ours = Object.entries(d.localStores).filter(([cloud]) => wanted === undefined || wanted.includes(cloud));
  const starts = ours.map(
    ([cloud, s]) =>
      [
        cloud,
        () =>
          startLocalStoreServer(s.kind, {
            port: s.port,
            dataDir: s.dataDir,
            logFile: join(logDir, `store-${cloud}.log`),
            buckets: s.buckets,
          }),
      ] as const,
  );
  return startAll(starts, (server) => server.stop());
}
