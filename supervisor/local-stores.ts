import { join } from "node:path";
import type { Deployment } from "../shared/topology/deployment.ts";
import { startLocalAzblobServer } from "./azblob-server.ts";
import { startLocalGcsServer } from "./gcs-server.ts";
import { startLocalS3Server } from "./s3-server.ts";
import type { ServerProcess } from "./server-process.ts";
import { startAll } from "./start-all.ts";

/** Which server plays which cloud protocol on loopback. */
const STARTERS = {
  s3: startLocalS3Server,
  gcs: startLocalGcsServer,
  azblob: startLocalAzblobServer,
} as const;

/**
 * Starts the store server of every cloud whose store is `"local": true` (in parallel), each with its
 * buckets made; if one fails, those already started are stopped and the first error is rethrown.
 * Keyed by cloud name.
 */
export async function startLocalStores(d: Deployment, logDir: string): Promise<Map<string, ServerProcess>> {
  const starts = Object.entries(d.localStores).map(
    ([cloud, s]) =>
      [
        cloud,
        () =>
          STARTERS[s.kind]({
            port: s.port,
            dataDir: s.dataDir,
            logFile: join(logDir, `store-${cloud}.log`),
            buckets: s.buckets,
          }),
      ] as const,
  );
  return startAll(starts, (server) => server.stop());
}
